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

    /// <summary>Exit code of <see cref="MigrateAsync"/> and <see cref="RunAsync"/> when PostgreSQL cannot be reached or refuses us (EX_UNAVAILABLE).</summary>
    public const int UnavailableExitCode = 69;

    /// <summary>
    /// <c>Cortex.Scheduler migrate</c>: applies pending migrations and says which. 0; 69 with one line naming the
    /// endpoint (never the password) when PostgreSQL is unreachable, refuses the login or refuses the role a right a
    /// migration needs, so a Job or init container retries; 78 for bad configuration.
    /// </summary>
    public static Task<int> MigrateAsync(WebApplication app, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        return WithPostgresAsync(
            app,
            async (services, ct) =>
            {
                var applied = await services.GetRequiredService<Migrator>().MigrateAsync(ct);
                await output.WriteLineAsync(applied.Count == 0 ? "database is up to date" : $"applied {string.Join(", ", applied.Select(m => $"{m.Version:D4}_{m.Name}"))}");
            },
            error);
    }

    /// <summary>
    /// Runs the scheduler until shutdown (<see cref="CortexHost.RunAsync"/>): 0; 78 for bad configuration; 69 with the
    /// line <see cref="MigrateAsync"/> writes when PostgreSQL is unreachable or refuses the login at start.
    /// </summary>
    /// <remarks>
    /// Every hosted service needs PostgreSQL at start (migrations, the job schedule, Quartz). Without the check first,
    /// a wrong password was an unhandled exception: exit 134 and the same stack trace three times (Npgsql's trace, the
    /// host's "Hosting failed to start", the runtime's), none of it saying which setting to fix.
    /// </remarks>
    public static async Task<int> RunAsync(WebApplication app, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        error ??= Console.Error;
        var checkExitCode = await WithPostgresAsync(
            app,
            async (services, ct) =>
            {
                await using var connection = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync(ct);
            },
            error);
        if (checkExitCode != 0)
        {
            return checkExitCode;
        }

        var started = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted;
        try
        {
            return await CortexHost.RunAsync(app, error);
        }
        catch (NpgsqlException ex) when (!started.IsCancellationRequested)
        {
            // PostgreSQL went away (or the password was rotated) between the check and the start.
            await error.WriteLineAsync(Unavailable(app.Services, ex));
            return UnavailableExitCode;
        }
    }

    // A one-shot command against PostgreSQL: 0, 78 for bad configuration, 69 with one line when PostgreSQL fails us.
    private static async Task<int> WithPostgresAsync(WebApplication app, Func<IServiceProvider, CancellationToken, Task> command, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(error);
        var unavailable = false;
        var exitCode = await CortexHost.RunCommandAsync(
            app,
            async (services, ct) =>
            {
                try
                {
                    await command(services, ct);
                }
                catch (NpgsqlException ex)
                {
                    await error.WriteLineAsync(Unavailable(services, ex));
                    unavailable = true;
                }
            },
            error);
        return exitCode == 0 && unavailable ? UnavailableExitCode : exitCode;
    }

    // The endpoint and PostgreSQL's own reason, never the connection string: it holds the password.
    private static string Unavailable(IServiceProvider services, NpgsqlException ex)
    {
        var endpoint = new NpgsqlConnectionStringBuilder(services.GetRequiredService<IOptions<PostgresOptions>>().Value.ConnectionString);
        var at = PostgresSession.Endpoint(endpoint);
        var reason = ex is PostgresException pg ? $"{pg.MessageText} ({pg.SqlState})" : ex.InnerException?.Message ?? ex.Message;

        // SQLSTATE class 28 (invalid authorization): the server answered, the secret is what to fix. 42501: the login
        // worked, and the role lacks a right: one a migration needs (the usual case at start), or one on a table.
        return ex switch
        {
            PostgresException { SqlState: ['2', '8', ..] } => $"PostgreSQL at {at} refused the login (Cortex:Postgres:ConnectionString): {reason}",
            PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } =>
                $"PostgreSQL at {at} refused the role of Cortex:Postgres:ConnectionString a right it needs: {reason}. Grant it; migrations can also be applied by a role that has the rights (Cortex.Scheduler migrate), with Cortex:Scheduler:ApplyMigrations=false here",
            _ => $"PostgreSQL is unreachable at {at} (Cortex:Postgres:ConnectionString): {reason}",
        };
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
            catch (PostgresException ex) when (ex.SqlState.StartsWith("28", StringComparison.Ordinal))
            {
                // Invalid authorization: PostgreSQL answers and refuses the login, as after a password rotated while this
                // service ran (its pooled connections worked until they were closed). Waiting will not fix it.
                return HealthCheckResult.Unhealthy($"PostgreSQL refuses this service's login ({ex.SqlState}): the user or password of Cortex:Postgres:ConnectionString; restart it with the ones PostgreSQL takes");
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The type and SQL state only: Npgsql messages can carry the host and user.
                return HealthCheckResult.Unhealthy("PostgreSQL unreachable: " + ex.GetType().Name + (ex is PostgresException pg ? " " + pg.SqlState : string.Empty));
            }
        }
    }
}
