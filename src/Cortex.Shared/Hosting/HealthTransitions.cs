using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>
/// Logs a readiness check when its status changes, not on every probe: Kubernetes probes every few seconds, and a
/// Redis outage of a minute used to write an error line per probe. The health-check service's own per-probe lines are
/// turned off in <see cref="OperationsEndpoints.LoggingDefaults"/>.
/// </summary>
internal sealed partial class HealthTransitions(ILogger<HealthTransitions> logger, IOptions<ObservabilityOptions> options)
{
    private readonly Dictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public void Observe(HealthReport report)
    {
        foreach (var (name, entry) in report.Entries)
        {
            HealthStatus previous;
            lock (_gate)
            {
                // A first probe that finds the check healthy says nothing; one that finds it failing does.
                previous = _last.GetValueOrDefault(name, HealthStatus.Healthy);
                _last[name] = entry.Status;
            }

            if (entry.Status == previous)
            {
                continue;
            }

            if (entry.Status == HealthStatus.Healthy)
            {
                Recovered(logger, name, previous);
            }
            else
            {
                Failing(logger, name, entry.Status, Describe(entry));
            }
        }
    }

    /// <summary>
    /// What a check's entry says, in the probe's body and in the log: a check cut by the timeout has only the framework's
    /// "A timeout occurred while running check.", which names neither the key nor how long it waited.
    /// </summary>
    public string? Describe(HealthReportEntry entry) =>
        entry.Status != HealthStatus.Healthy && entry.Exception is OperationCanceledException
            ? $"no answer within {options.Value.HealthCheckTimeout:c} ({ObservabilityOptions.Section}:{nameof(ObservabilityOptions.HealthCheckTimeout)})"
            : entry.Description;

    [LoggerMessage(1301, LogLevel.Warning, "Health check {Check} is {Status}: {Description}")]
    private static partial void Failing(ILogger logger, string check, HealthStatus status, string? description);

    [LoggerMessage(1302, LogLevel.Information, "Health check {Check} passes again (was {Previous})")]
    private static partial void Recovered(ILogger logger, string check, HealthStatus previous);
}
