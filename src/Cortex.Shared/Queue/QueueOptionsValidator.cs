using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Queue;

internal sealed class QueueOptionsValidator : IValidateOptions<QueueOptions>
{
    private static readonly System.Buffers.SearchValues<char> s_forbidden = System.Buffers.SearchValues.Create("{} \t\r\n");

    public ValidateOptionsResult Validate(string? name, QueueOptions options) =>
        new OptionsCheck(QueueOptions.Section)
            .Require(
                !string.IsNullOrWhiteSpace(options.Name) && !options.Name.AsSpan().ContainsAny(s_forbidden),
                nameof(options.Name),
                "must be a non-empty name without braces or spaces (it becomes the Redis hash tag)")
            .Range(nameof(options.ConsumerTimeout), options.ConsumerTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1))
            .Range(nameof(options.HeartbeatInterval), options.HeartbeatInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10))
            .Require(
                options.HeartbeatInterval * 3 <= options.ConsumerTimeout,
                nameof(options.HeartbeatInterval),
                $"must be at most a third of {QueueOptions.Section}:ConsumerTimeout, or a live consumer may be taken for dead")
            .Range(nameof(options.MaintenanceInterval), options.MaintenanceInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(1))
            .Range(nameof(options.MaxDeliveries), options.MaxDeliveries, 1, 100)
            .Range(nameof(options.IdempotencyWindow), options.IdempotencyWindow, TimeSpan.FromMinutes(1), TimeSpan.FromDays(30))
            .Range(nameof(options.HighWeight), options.HighWeight, 1, 100)
            .Range(nameof(options.NormalWeight), options.NormalWeight, 1, 100)
            .Range(nameof(options.LowWeight), options.LowWeight, 1, 100)
            .ToResult();
}
