using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>The operations endpoint: GET /metrics, /health/live and /health/ready (section Cortex:Observability).</summary>
public sealed class ObservabilityOptions
{
    public const string Section = "Cortex:Observability";

    /// <summary>TCP port of the operations endpoint on every interface; 0 picks a free one (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>How long a scrape waits for Redis and PostgreSQL figures before answering without them.</summary>
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a readiness probe waits for Redis or PostgreSQL to answer.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(3);
}

internal sealed class ObservabilityOptionsValidator : IValidateOptions<ObservabilityOptions>
{
    public ValidateOptionsResult Validate(string? name, ObservabilityOptions options) =>
        new OptionsCheck(ObservabilityOptions.Section)
            .Range(nameof(options.Port), options.Port, 0, 65535)
            .Range(nameof(options.ScrapeTimeout), options.ScrapeTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1))
            .Range(nameof(options.HealthCheckTimeout), options.HealthCheckTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1))
            .ToResult();
}
