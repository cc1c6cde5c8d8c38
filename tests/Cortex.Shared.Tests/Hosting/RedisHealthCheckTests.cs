using System.Globalization;
using Cortex.Shared.Hosting;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Tests.Hosting;

/// <summary>/health/ready while the service's own connection is down: the refusal probe's connections to a real redis-server.</summary>
public sealed class RedisHealthCheckTests
{
    private const string Password = "health-probe-pass-51c2";

    [Fact]
    public async Task Ready_ManyRequestsDuringAnOutage_OneProbeConnectionPerFewSeconds_NotOnePerRequest()
    {
        // Redis asks for a password the service does not send: each probe is a connection Redis refuses with NOAUTH.
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });
        using var down = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200");
        var time = new FakeTimeProvider();
        await using var services = new ServiceCollection()
            .AddSingleton<IConnectionMultiplexer>(down)
            .AddSingleton(Options.Create(new RedisOptions { Configuration = $"127.0.0.1:{server.Port}" }))
            .AddSingleton<TimeProvider>(time)
            .BuildServiceProvider();
        var check = ActivatorUtilities.CreateInstance<RedisHealthCheck>(services);
        var before = await ConnectionsReceivedAsync(server);

        // Concurrent requests share the probe running; requests right after it get its verdict.
        var results = (await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => check.CheckHealthAsync(new HealthCheckContext())))).ToList();
        for (var i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(400));
            results.Add(await check.CheckHealthAsync(new HealthCheckContext()));
        }

        var afterBurst = await ConnectionsReceivedAsync(server);

        // Once the verdict is old, the next request asks Redis again.
        time.Advance(TimeSpan.FromSeconds(5));
        results.Add(await check.CheckHealthAsync(new HealthCheckContext()));
        var afterExpiry = await ConnectionsReceivedAsync(server);

        Assert.All(results, r => Assert.Equal(HealthStatus.Unhealthy, r.Status));
        Assert.All(results, r => Assert.StartsWith("Redis refuses this service: Cortex:Redis:Password is required", r.Description, StringComparison.Ordinal));
        // Each count is itself a redis-cli connection: one of the difference is the count's own.
        Assert.Equal(1, afterBurst - before - 1);
        Assert.Equal(1, afterExpiry - afterBurst - 1);
    }

    private static async Task<long> ConnectionsReceivedAsync(RedisServer server)
    {
        var result = await ExternalTool.RunAsync(
            "redis-cli",
            ["-p", server.Port.ToString(CultureInfo.InvariantCulture), "--no-auth-warning", "-a", Password, "INFO", "stats"],
            "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0, result.ToString());
        var line = result.Output.Split('\n').Single(l => l.StartsWith("total_connections_received:", StringComparison.Ordinal));
        return long.Parse(line["total_connections_received:".Length..].Trim(), CultureInfo.InvariantCulture);
    }
}
