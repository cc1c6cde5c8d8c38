using System.Diagnostics;
using Cortex.LoadTests;
using Cortex.Shared.Hosting;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Tests.Hosting;

/// <summary>
/// A Redis connection that stops answering without failing. StackExchange.Redis 1.2.6 has no timeout on async commands,
/// so without the watchdog every call of the process would wait until the kernel gave up on the socket (about 15 minutes;
/// through this proxy, never).
/// </summary>
public sealed class RedisConnectionWatchdogTests
{
    private static readonly TimeSpan s_deadConnectionTimeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task RunAsync_ConnectionSilentWhileRedisAnswersANewOne_StopsWithExitCode75SayingWhy()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var proxy = new LoopbackProxy(redis.Port);
        // A long syncTimeout: disposing a connection waits that long for the answers to its calls still open.
        var configuration = $"127.0.0.1:{proxy.Port},abortConnect=false,connectTimeout=2000,syncTimeout=60000";
        using var logs = new CapturedLogs();
        using var host = await BuildAsync(configuration, logs);
        var db = host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var run = CortexHost.RunAsync(host, TextWriter.Null);
        await db.PingAsync();

        // The Redis host is lost without a reset and Redis is back elsewhere under the same address: the open
        // connection is silent for good, a new one is answered.
        var silencedAt = Stopwatch.GetTimestamp();
        proxy.SilenceOpenConnections();
        var exitCode = await run.WaitAsync(TimeSpan.FromMinutes(2));
        var exitAfter = Stopwatch.GetElapsedTime(silencedAt);

        Assert.Equal(CortexHost.RedisConnectionDeadExitCode, exitCode);

        // The watchdog's unanswered PINGs did not hold the exit for the syncTimeout: the dead connection was closed
        // without waiting for them.
        Assert.True(exitAfter < TimeSpan.FromSeconds(30), $"exited {exitAfter.TotalSeconds:N1} s after the silence: disposing the dead connection waited for its calls");
        Assert.Contains(logs.Lines, line => line.Contains("[3301]", StringComparison.Ordinal) && line.Contains($"answers a new one at 127.0.0.1:{proxy.Port}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_RedisSilentForEveryone_WaitsForItInsteadOfStopping()
    {
        await using var redis = await RedisServer.StartAsync();
        using var logs = new CapturedLogs();
        using var host = await BuildAsync(redis.Configuration, logs);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var db = host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var run = CortexHost.RunAsync(host, TextWriter.Null);
        await db.PingAsync();

        // Redis hangs (or a partition cuts everyone off): a new connection is not answered either.
        await redis.SignalAsync("STOP");
        try
        {
            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                while (!logs.Lines.Any(line => line.Contains("[3302]", StringComparison.Ordinal)))
                {
                    await Task.Delay(20, deadline.Token); // the watchdog deciding to wait
                }
            }

            Assert.False(run.IsCompleted, "the process must not stop while Redis is silent for everyone");
            Assert.False(lifetime.ApplicationStopping.IsCancellationRequested);
        }
        finally
        {
            await redis.SignalAsync("CONT");
        }

        lifetime.StopApplication();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.DoesNotContain(logs.Lines, line => line.Contains("[3301]", StringComparison.Ordinal));
    }

    private static async Task<IHost> BuildAsync(string configuration, CapturedLogs logs)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var options = new RedisOptions { Configuration = configuration, DeadConnectionTimeout = s_deadConnectionTimeout };
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton(Options.Create(options));
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => connection); // owned by the host, which disposes it
        builder.Services.AddSingleton(sp => new RedisConnectionWatchdog(
            sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<IOptions<RedisOptions>>(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<ILogger<RedisConnectionWatchdog>>())
        {
            ProbeDeadline = TimeSpan.FromSeconds(2),
        });
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisConnectionWatchdog>());
        builder.Services.AddHostedService<RedisConnectionCloser>(); // as AddCortexQueue registers it
        return builder.Build();
    }
}
