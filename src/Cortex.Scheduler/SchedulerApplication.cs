using Cortex.Scheduler.Data;
using Cortex.Shared.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Cortex.Scheduler;

/// <summary>The scheduler process: the jobs plus the operations endpoint (/metrics, /health/live, /health/ready).</summary>
public static class SchedulerApplication
{
    /// <summary>Builds the application as Program.cs runs it; <paramref name="configure"/> lets tests add configuration.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);

        // Defaults below every other source: Npgsql logs each command and Quartz each firing at Information.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Npgsql"] = "Warning", ["Logging:LogLevel:Quartz"] = "Warning" },
        });
        configure?.Invoke(builder);
        builder.AddCortexOperations();
        builder.Services.AddCortexScheduler(builder.Configuration);
        builder.Services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: [OperationsEndpoints.ReadyTag]);
        var app = builder.Build();
        app.MapCortexOperations();
        return app;
    }

    /// <summary>Exit code of <see cref="MigrateAsync"/> when PostgreSQL cannot be reached or refuses us (EX_UNAVAILABLE).</summary>
    public const int UnavailableExitCode = 69;

    /// <summary>
    /// <c>Cortex.Scheduler migrate</c>: applies pending migrations and says which. 0; 69 with one line naming the
    /// endpoint (never the password) when PostgreSQL is unreachable, so a Job or init container retries; 78 for bad
    /// configuration.
    /// </summary>
    public static async Task<int> MigrateAsync(WebApplication app, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(app);
        var unavailable = false;
        var exitCode = await CortexHost.RunCommandAsync(
            app,
            async (services, ct) =>
            {
                try
                {
                    var applied = await services.GetRequiredService<Migrator>().MigrateAsync(ct);
                    await output.WriteLineAsync(applied.Count == 0 ? "database is up to date" : $"applied {string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}"))}");
                }
                catch (NpgsqlException ex)
                {
                    var endpoint = new NpgsqlConnectionStringBuilder(services.GetRequiredService<IOptions<PostgresOptions>>().Value.ConnectionString);
                    var reason = ex is PostgresException pg ? $"{pg.MessageText} ({pg.SqlState})" : ex.InnerException?.Message ?? ex.Message;
                    await error.WriteLineAsync($"PostgreSQL is unreachable at {endpoint.Host}:{endpoint.Port}/{endpoint.Database} (Cortex:Postgres:ConnectionString): {reason}");
                    unavailable = true;
                }
            },
            error);
        return exitCode == 0 && unavailable ? UnavailableExitCode : exitCode;
    }

    /// <summary>Ready only while PostgreSQL answers: every job and Quartz's cluster state live there.</summary>
    private sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var command = dataSource.CreateCommand("SELECT 1");
                await command.ExecuteScalarAsync(cancellationToken);
                return HealthCheckResult.Healthy("SELECT 1 answered");
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The type and SQL state only: Npgsql messages can carry the host and user.
                return HealthCheckResult.Unhealthy("PostgreSQL unreachable: " + ex.GetType().Name + (ex is PostgresException pg ? " " + pg.SqlState : string.Empty));
            }
        }
    }
}
