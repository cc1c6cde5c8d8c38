using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Retry;

internal sealed class RetryOptionsValidator : IValidateOptions<RetryOptions>
{
    public ValidateOptionsResult Validate(string? name, RetryOptions options) =>
        new OptionsCheck(RetryOptions.Section)
            .Range(nameof(options.BaseDelay), options.BaseDelay, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1))
            .Range(nameof(options.Factor), options.Factor, 1, 100)
            .Range(nameof(options.MaxDelay), options.MaxDelay, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(7))
            .Require(options.MaxDelay >= options.BaseDelay, nameof(options.MaxDelay), $"must not be shorter than {RetryOptions.Section}:BaseDelay")
            .Range(nameof(options.MaxAttempts), options.MaxAttempts, 1, 100)
            .Range(nameof(options.Jitter), options.Jitter, 0, 0.9)
            .ToResult();
}
