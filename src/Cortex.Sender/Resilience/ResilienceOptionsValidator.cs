using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Resilience;

internal sealed class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>
{
    // Polly's own bounds, so a bad value fails at start naming our key instead of deep inside the builder.
    public ValidateOptionsResult Validate(string? name, ResilienceOptions options) =>
        new OptionsCheck(ResilienceOptions.Section)
            .Range(nameof(options.ShortRetries), options.ShortRetries, 0, 10)
            .Range(nameof(options.ShortRetryDelay), options.ShortRetryDelay, TimeSpan.Zero, TimeSpan.FromMinutes(1))
            .Range(nameof(options.FailureRatio), options.FailureRatio, 0.01, 1)
            .Range(nameof(options.SamplingDuration), options.SamplingDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1))
            .Range(nameof(options.MinimumThroughput), options.MinimumThroughput, 2, 100_000)
            .Range(nameof(options.OutageSamplingDuration), options.OutageSamplingDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1))
            .Range(nameof(options.BreakDuration), options.BreakDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1))
            .ToResult();
}
