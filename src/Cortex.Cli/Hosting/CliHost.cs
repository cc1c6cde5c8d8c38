using Cortex.Scheduler.Data;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.Cli.Hosting;

/// <summary>What a verb needs: each builds a host with only those services.</summary>
[Flags]
internal enum Needs
{
    Redis = 1,
    Postgres = 2,
}

/// <summary>
/// Builds a host per invocation from the services' own configuration keys (environment, then --redis/--queue/--postgres),
/// validates it as a service start would (bad config: exit 78 naming the key) and runs one verb without starting any
/// hosted service. Unreachable servers become exit 69 with the endpoint named, never the password.
/// </summary>
internal static class CliHost
{
    public static async Task<int> RunAsync(CliContext context, Needs needs, Func<IServiceProvider, CancellationToken, Task<int>> verb, CancellationToken cancellationToken)
    {
        var console = context.Console;
        using var host = Build(context, needs);
        var code = ExitCodes.Success;
        try
        {
            var result = await CortexHost.RunCommandAsync(
                host,
                async (services, hostToken) =>
                {
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(hostToken, cancellationToken);
                    if (needs.HasFlag(Needs.Redis))
                    {
                        EnsureRedis(services);
                        await SyncClockAsync(services, linked.Token);
                    }

                    code = await verb(services, linked.Token);
                },
                console.Error);
            return result != ExitCodes.Success ? result : code;
        }
        catch (CliException ex)
        {
            await console.Error.WriteLineAsync(ex.Message);
            return ex.ExitCode;
        }
        catch (RedisServerException ex) when (RedisAcl.IsRefusal(ex))
        {
            // An ACL that lacks a command or key Cortex uses: a setup error on the Redis side, not a crash with a stack trace.
            await console.Error.WriteLineAsync($"Redis at {RedisEndpoints(host.Services)} refused a command: {ex.Message}. The Redis user Cortex authenticates as lacks a permission Cortex needs (see the ACL in k8s/redis/users.acl)");
            return ExitCodes.Configuration;
        }
        catch (RedisServerException ex) when (QueueScripts.IsMistypedKey(ex))
        {
            // A queue key written by another command than Cortex's (SET on a ready list): the scripts name it and move nothing.
            await console.Error.WriteLineAsync($"Redis at {RedisEndpoints(host.Services)} holds a queue key of the wrong type: {ex.Message}. Something other than Cortex wrote it; rename it aside as a Redis admin user, not as Cortex's (docs/operations.md, CortexQueueMetricsAbsent)");
            return ExitCodes.Partial;
        }
        catch (RedisServerException ex)
        {
            // Any other refusal Redis words itself (its text names no secret): full under noeviction, a replica, a disk it
            // cannot write, a restart still loading its data. Said in one line, not a crash with a stack trace.
            await console.Error.WriteLineAsync($"Redis at {RedisEndpoints(host.Services)} refused: {ex.Message.TrimEnd('.')}{RefusalHint(ex.Message)}");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            await console.Error.WriteLineAsync($"Redis is unreachable at {RedisEndpoints(host.Services)}: {ex.Message}");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (Inner<PostgresException>(ex) is { } postgres)
        {
            // Quartz wraps the store's errors (JobPersistenceException): the PostgreSQL error inside says what is wrong.
            if (postgres.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
            {
                await console.Error.WriteLineAsync($"PostgreSQL: {postgres.MessageText}. Is the database migrated? Run 'cortex migrate'.");
                return ExitCodes.Partial;
            }

            await console.Error.WriteLineAsync($"PostgreSQL refused: {postgres.MessageText} ({postgres.SqlState})");
            return postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
                || postgres.SqlState is PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification or PostgresErrorCodes.CannotConnectNow
                ? ExitCodes.Unavailable
                : ExitCodes.Partial;
        }
        catch (Exception ex) when (Inner<NpgsqlException>(ex) is { } npgsql)
        {
            await console.Error.WriteLineAsync($"PostgreSQL is unreachable at {PostgresEndpoint(host.Services)}: {npgsql.InnerException?.Message ?? npgsql.Message}");
            return ExitCodes.Unavailable;
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: CortexHost cancels the verb's token.
            await console.Error.WriteLineAsync("interrupted");
            return ExitCodes.Cancelled;
        }
        finally
        {
            if (host.Services.GetService<RedisConnection>() is { } redis)
            {
                await redis.CloseAsync();
            }
        }
    }

    private static string RefusalHint(string message) => message.Split(' ', 2)[0] switch
    {
        "OOM" => ". Redis is full (maxmemory, with the noeviction policy Cortex requires): let the senders drain the backlog, or raise maxmemory",
        "READONLY" => ". Cortex:Redis:Configuration points at a replica; point it at the primary",
        "MISCONF" => ". Redis cannot save its data to disk and refuses writes until it can: see its log",
        "LOADING" => ". Redis is loading its data after a restart; try again in a moment",
        _ => string.Empty,
    };

    private static T? Inner<T>(Exception? exception)
        where T : Exception
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static IHost Build(CliContext context, Needs needs)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (context.Console.Environment is { } environment)
        {
            builder.Configuration.AddInMemoryCollection(environment.Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)));
        }
        else
        {
            builder.Configuration.AddEnvironmentVariables();
        }

        builder.Configuration.AddInMemoryCollection(context.Overrides);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new TextWriterLoggerProvider(context.Console.Error));

        var services = builder.Services;
        if (needs.HasFlag(Needs.Redis) && context.Console.DateByRedis)
        {
            services.AddSingleton<TimeProvider>(sp => new RedisClock(sp.GetRequiredService<IConnectionMultiplexer>, context.Console.TimeProvider, NullLogger<RedisClock>.Instance));
        }
        else
        {
            services.AddSingleton(context.Console.TimeProvider);
        }

        // Registered before AddCortexQueue (TryAdd): the services' settings, named for this tool in CLIENT LIST. Connected
        // only when a verb resolves it, so migrate, jobs and campaign never touch Redis.
        services.AddSingleton<RedisConnection>();
        services.AddSingleton<IConnectionMultiplexer>(sp => sp.GetRequiredService<RedisConnection>().Multiplexer);
        services.AddCortexQueue();
        services.AddSingleton(sp => new DeadLetterAdmin(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IMessageQueue>().Keys));

        if (needs.HasFlag(Needs.Postgres))
        {
            services.AddCortexScheduler(builder.Configuration);
        }

        return builder.Build();
    }

    private static void EnsureRedis(IServiceProvider services)
    {
        // abortConnect=false: Connect returns after its connect timeout either way; a multiplexer still not connected then
        // means nothing will work, so say so at once instead of failing each command after its timeout.
        if (!services.GetRequiredService<IConnectionMultiplexer>().IsConnected)
        {
            throw CliException.Unavailable($"Redis is unreachable at {RedisEndpoints(services)} (Cortex:Redis:Configuration; --redis)");
        }
    }

    private static async Task SyncClockAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        if (services.GetRequiredService<TimeProvider>() is not RedisClock clock)
        {
            return;
        }

        try
        {
            await clock.SyncAsync(cancellationToken);
        }
        catch (RedisServerException ex) when (RedisAcl.IsRefusal(ex))
        {
            // A Redis user without TIME (k8s/redis/users.acl grants it): dated by this machine's clock, as before.
        }
    }

    private static string RedisEndpoints(IServiceProvider services)
    {
        try
        {
            return RedisConnectionFactory.DescribeEndpoints(ConfigurationOptions.Parse(services.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration));
        }
        catch (ArgumentException)
        {
            return "(unparsable configuration)";
        }
    }

    private static string PostgresEndpoint(IServiceProvider services)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(services.GetRequiredService<IConfiguration>()["Cortex:Postgres:ConnectionString"]);
            return PostgresSession.Endpoint(builder);
        }
        catch (ArgumentException)
        {
            return "(unparsable connection string)";
        }
    }
}

/// <summary>
/// The CLI's one Redis connection, made on first use. Closed without QUIT, behind a PING, when the verb is done: every
/// command was awaited, and StackExchange.Redis 1.2.6's graceful close sometimes waits a whole sync timeout for the QUIT
/// reply.
/// </summary>
internal sealed class RedisConnection(IOptions<RedisOptions> options)
{
    // A fence PING that has not come back by then is left behind: the connection is failing and the verb is done.
    private static readonly TimeSpan s_fenceTimeout = TimeSpan.FromSeconds(1);

    // The services' own factory: the same password, CA file and start-up refusal (exit 78 naming the key).
    private readonly Lazy<ConnectionMultiplexer> _multiplexer = new(() => RedisConnectionFactory.Connect(options.Value, "cortex-cli"));

    public IConnectionMultiplexer Multiplexer => _multiplexer.Value;

    /// <summary>
    /// Closes the connection once a PING sent after the verb's last command has come back. StackExchange.Redis 1.2.6
    /// writes through a buffered stream that closing flushes once more. When the writer thread has sent the last command
    /// but not yet emptied its buffer, as on a loaded machine, that flush sends the command again: a `cortex enqueue`
    /// pushed its message twice (1 in 1,500 with both cores busy). Behind the PING, only the PING can be sent twice.
    /// </summary>
    public async Task CloseAsync()
    {
        if (!_multiplexer.IsValueCreated)
        {
            return;
        }

        var multiplexer = _multiplexer.Value;
        if (multiplexer.IsConnected)
        {
            var ping = multiplexer.GetDatabase().PingAsync();
            try
            {
                await ping.WaitAsync(s_fenceTimeout);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Redis failed or went silent after the verb: close anyway, observing the PING's end.
                _ = ping.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }

        multiplexer.Close(allowCommandsToComplete: false);
    }
}

/// <summary>One invocation: its console and the configuration the global options override.</summary>
internal sealed record CliContext(CliConsole Console, IReadOnlyDictionary<string, string?> Overrides);
