using System.Text.Json;
using Cortex.Shared.Configuration;
using Cortex.Shared.Metrics;
using Cortex.Shared.Queue;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>
/// What an operator needs from every Cortex process: GET /metrics (Prometheus text), /health/live, /health/ready,
/// and logs as JSON lines in containers.
/// </summary>
public static partial class OperationsEndpoints
{
    /// <summary>Health checks with this tag decide /health/ready.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Registers the exporter, the queue figures, the Redis readiness check and connection watchdog, the Kestrel port from
    /// Cortex:Observability and the logging defaults. The caller adds its own <see cref="IMetricsSource"/>s and health checks.
    /// </summary>
    public static WebApplicationBuilder AddCortexOperations(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults(Environment.GetEnvironmentVariable("DOTNET_RUNNING_IN_CONTAINER") == "true") });

        var services = builder.Services;
        services.AddCortexQueue();
        Redis.RedisAccessCheck.Register(services);
        services.AddMetrics();
        services.AddCortexOptions<ObservabilityOptions, ObservabilityOptionsValidator>(ObservabilityOptions.Section);
        services.TryAddSingleton(sp => new PrometheusExporter(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<QueueMetrics>();
        services.TryAddSingleton(sp => new DeadLetterAdmin(sp.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(), sp.GetRequiredService<IMessageQueue>().Keys));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IMetricsSource, QueueMetrics>(sp => sp.GetRequiredService<QueueMetrics>()));
        // One instance for the process (AddCheck<T> takes it from the container): it keeps the refusal probe's verdict.
        services.TryAddSingleton<RedisHealthCheck>();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [ReadyTag]);
        services.TryAddSingleton<RedisConnectionWatchdog>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisConnectionWatchdog>());
        services.TryAddSingleton<HealthTransitions>();
        // After every AddCheck, whose registrations are Configure actions too: the caller adds its own checks after this
        // (the scheduler's PostgreSQL check), and a Configure here ran before them and left them without a timeout.
        services.AddOptions<HealthCheckServiceOptions>().PostConfigure<IOptions<ObservabilityOptions>>((health, observability) =>
        {
            if (ValidOrNull(observability) is { } valid)
            {
                foreach (var registration in health.Registrations)
                {
                    registration.Timeout = valid.HealthCheckTimeout;
                }
            }
        });

        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ObservabilityOptions>>((kestrel, observability) =>
        {
            if (ValidOrNull(observability) is { } valid)
            {
                // Loopback unless configured otherwise: the admin endpoints change the queue, and /metrics names it.
                if (!ObservabilityOptions.TryParseBindAddress(valid.BindAddress, out var address) || address is null)
                {
                    kestrel.ListenAnyIP(valid.Port);
                }
                else
                {
                    kestrel.Listen(address, valid.Port);
                }
            }
        });
        return builder;
    }

    // Kestrel and the health checks read their options inside Build() and MapHealthChecks(), before start-up validation:
    // a bad value must not throw there, or it escapes Program.cs as a crash instead of exit 78 naming the key, which
    // validation at start then reports (failed options are not cached, so it sees the same error).
    private static ObservabilityOptions? ValidOrNull(IOptions<ObservabilityOptions> options)
    {
        try
        {
            return options.Value;
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            // InvalidOperationException: the binder's, for a value of the wrong type ("Port=abc").
            return null;
        }
    }

    /// <summary>
    /// Maps GET /metrics, /health/live (the process serves requests), /health/ready (every "ready" check passes) and the
    /// dead-letter admin endpoints, POST /admin/dead-letters/requeue and /purge, which need Cortex:Observability:AdminToken.
    /// </summary>
    public static WebApplication MapCortexOperations(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Created now, not at the first scrape: its listener only sees what is recorded after it starts.
        app.Services.GetRequiredService<PrometheusExporter>();
        app.MapGet("/metrics", ScrapeAsync);
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealthAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteHealthAsync });
        app.MapAdminEndpoints();
        return app;
    }

    // Plain text locally; in a container (the official images set DOTNET_RUNNING_IN_CONTAINER) one JSON object per line
    // with scopes, which carry each message's id and traceId. Logging__Console__FormatterName overrides either way.
    internal static Dictionary<string, string?> LoggingDefaults(bool inContainer)
    {
        var defaults = new Dictionary<string, string?>
        {
            // A scrape every 15 s must not log two lines each.
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",

            // It logs every failing probe (one error line every few seconds through a Redis outage); HealthTransitions
            // logs each check once when its status changes instead.
            ["Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Critical",
        };
        if (inContainer)
        {
            defaults["Logging:Console:FormatterName"] = "json";
            defaults["Logging:Console:FormatterOptions:IncludeScopes"] = "true";
            defaults["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "true";
            defaults["Logging:Console:FormatterOptions:TimestampFormat"] = "yyyy-MM-ddTHH:mm:ss.fffZ";
        }

        return defaults;
    }

    private static async Task ScrapeAsync(
        HttpContext context,
        PrometheusExporter exporter,
        IEnumerable<IMetricsSource> sources,
        IOptions<ObservabilityOptions> options,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory)
    {
        using (var timeout = new CancellationTokenSource(options.Value.ScrapeTimeout, timeProvider))
        using (var collect = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.RequestAborted))
        {
            var logger = loggerFactory.CreateLogger(typeof(OperationsEndpoints).FullName!);
            await Task.WhenAll(sources.Select(source => CollectAsync(source, logger, collect.Token)));
        }

        context.Response.ContentType = PrometheusExporter.ContentType;
        await exporter.WriteAsync(context.Response.Body, context.RequestAborted);
    }

    private static async Task CollectAsync(IMetricsSource source, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await source.CollectAsync(cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested || ex is OperationCanceledException)
        {
            // The scrape still answers with everything else; the source's series are absent, which the
            // CortexQueueMetricsAbsent alert watches. The type only: Redis and Npgsql messages can carry endpoints.
            Log.SourceFailed(logger, source.GetType().Name, ex.GetType().Name);
        }
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        var transitions = context.RequestServices.GetRequiredService<HealthTransitions>();
        transitions.Observe(report);
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new HealthBody(
            report.Status.ToString(),
            report.Entries.ToDictionary(e => e.Key, e => new HealthEntry(e.Value.Status.ToString(), transitions.Describe(e.Value), e.Value.Duration.TotalMilliseconds)));
        return JsonSerializer.SerializeAsync(context.Response.Body, body, HealthJsonContext.Default.HealthBody, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(3001, LogLevel.Warning, "Metrics source {Source} failed during a scrape ({Error}); its series are absent from this scrape")]
        public static partial void SourceFailed(ILogger logger, string source, string error);
    }
}

internal sealed record HealthBody(string Status, Dictionary<string, HealthEntry> Checks);

internal sealed record HealthEntry(string Status, string? Description, double DurationMs);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthBody))]
internal sealed partial class HealthJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
