using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Sender;

internal sealed class SenderOptionsValidator : IValidateOptions<SenderOptions>
{
    public ValidateOptionsResult Validate(string? name, SenderOptions options) =>
        new OptionsCheck(SenderOptions.Section)
            .Range(nameof(options.Workers), options.Workers, 1, 4096)
            .Range(nameof(options.Prefetch), options.Prefetch, 1, 100_000)
            .Require(options.Prefetch < 1 || options.Prefetch >= options.Workers, nameof(options.Prefetch), $"must be at least {SenderOptions.Section}:Workers ({options.Workers}), or some workers never get a message")
            .Range(nameof(options.LeaseBatchSize), options.LeaseBatchSize, 1, 1000)
            .Range(nameof(options.AckBatchSize), options.AckBatchSize, 1, 5000)
            .Range(nameof(options.IdlePollMin), options.IdlePollMin, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10))
            .Range(nameof(options.IdlePollMax), options.IdlePollMax, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1))
            .Require(options.IdlePollMax >= options.IdlePollMin, nameof(options.IdlePollMax), $"must not be shorter than {SenderOptions.Section}:IdlePollMin")
            .Range(nameof(options.ShutdownTimeout), options.ShutdownTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(10))
            .Range(nameof(options.ConfigurationErrorPause), options.ConfigurationErrorPause, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1))
            .Range(nameof(options.MaxThrottleRetries), options.MaxThrottleRetries, 0, 100)
            .Range(nameof(options.DeadLetterLogLimit), options.DeadLetterLogLimit, 1, 100_000)
            .Require(
                options.ConsumerId is null || (options.ConsumerId.Length is > 0 and <= 128 && !options.ConsumerId.Any(c => char.IsWhiteSpace(c) || c == '|')),
                nameof(options.ConsumerId),
                "must be 1 to 128 characters without spaces or '|'")
            .ToResult();
}
