using System.Net;
using System.Text.Json;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cortex.Shared.Tests.Hosting;

public class OperationsEndpointsTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset s_oldest = new(2026, 11, 20, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Metrics_EmptyQueue_ExportsZeroForEveryStateAndNoOldestTimestamp()
    {
        await using var app = await StartAsync(redis.Server);
        using var client = new OperationsClient(app);
        var queue = app.Services.GetRequiredService<IMessageQueue>().Keys.Name;

        var samples = await client.ScrapeAsync();

        foreach (var priority in new[] { "high", "normal", "low" })
        {
            Assert.Equal(0, samples.Value("cortex_queue_depth", ("queue", queue), ("state", "ready"), ("priority", priority)));
        }

        foreach (var state in new[] { "delayed", "leased", "dead" })
        {
            Assert.Equal(0, samples.Value("cortex_queue_depth", ("queue", queue), ("state", state)));
        }

        Assert.Equal(0, samples.Value("cortex_queue_consumers", ("queue", queue)));
        Assert.Empty(samples.Find("cortex_queue_oldest_ready_timestamp_seconds"));
    }

    [Fact]
    public async Task Metrics_AfterRealQueueOperations_ReportEachStateThePriorityAndTheOldestEnqueueTime()
    {
        await using var app = await StartAsync(redis.Server);
        using var client = new OperationsClient(app);
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var producer = app.Services.GetRequiredService<CortexClient>();

        // Oldest first: the first one pushed to a list is the next one leased from it.
        await producer.EnqueueAsync(Text("n-1", Priority.Normal, s_oldest));
        await producer.EnqueueAsync(Text("n-2", Priority.Normal, s_oldest.AddMinutes(5)));
        await producer.EnqueueAsync(Text("h-1", Priority.High, s_oldest.AddMinutes(1)));
        await producer.EnqueueAsync(Text("l-1", Priority.Low, s_oldest.AddMinutes(2)));
        await producer.EnqueueAsync(Text("d-1", Priority.Normal, s_oldest) with { NotBefore = TimeProvider.System.GetUtcNow().AddHours(1) });
        var leased = await queue.LeaseAsync("consumer-a", 1); // h-1: high goes first
        await queue.HeartbeatAsync("consumer-a");
        await queue.HeartbeatAsync("consumer-b");
        var dead = await queue.LeaseAsync("consumer-b", 1);
        await queue.DeadLetterAsync("consumer-b", dead[0], DeadLetterEntry.Create(DeadLetterReasons.Permanent, "test", dead[0].Payload.Span, s_oldest));

        // A consumer that stopped heartbeating a minute ago is not a consumer, whether or not a sweep removed it yet.
        await redis.Connection.GetDatabase().SortedSetAddAsync(queue.Keys.Consumers, "crashed", TimeProvider.System.GetUtcNow().AddMinutes(-1).ToUnixTimeMilliseconds());

        var samples = await client.ScrapeAsync();

        var name = queue.Keys.Name;
        Assert.Equal("h-1", EnvelopeCodec.Parse(leased[0].Payload.Span).Envelope!.Id);
        Assert.Equal(0, samples.Value("cortex_queue_depth", ("queue", name), ("state", "ready"), ("priority", "high")));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", name), ("state", "ready"), ("priority", "normal")));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", name), ("state", "ready"), ("priority", "low")));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", name), ("state", "delayed")));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", name), ("state", "leased")));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", name), ("state", "dead")));
        Assert.Equal(2, samples.Value("cortex_queue_consumers", ("queue", name)));

        // n-1 went to the dead list, so the oldest still ready is l-1 (n-2 is younger).
        Assert.Equal(s_oldest.AddMinutes(2).ToUnixTimeSeconds(), samples.Value("cortex_queue_oldest_ready_timestamp_seconds", ("queue", name)));
    }

    [Fact]
    public async Task Health_RedisUp_LiveAndReadyAnswer200WithTheRedisCheck()
    {
        await using var app = await StartAsync(redis.Server);
        using var client = new OperationsClient(app);

        var (liveStatus, _) = await client.HealthAsync("/health/live");
        var (readyStatus, ready) = await client.HealthAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
    }

    [Fact]
    public async Task RedisDown_ReadyIs503AndTheScrapeStillAnswersWithoutQueueSeries()
    {
        await using var server = await RedisServer.StartAsync();
        await using var app = await StartAsync(server);
        using var client = new OperationsClient(app);
        Assert.NotEmpty((await client.ScrapeAsync()).Find("cortex_queue_depth"));

        await server.KillAsync();

        var (readyStatus, ready) = await client.HealthAsync("/health/ready");
        var (liveStatus, _) = await client.HealthAsync("/health/live");
        var samples = await client.ScrapeAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyStatus);
        Assert.StartsWith("Redis unreachable", ready.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ready.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, liveStatus); // a Redis outage must not make Kubernetes restart the pods
        Assert.Empty(samples.Find("cortex_queue_depth")); // absent, not a stale or zero depth: CortexQueueMetricsAbsent fires
    }

    [Fact]
    public async Task RedisSilent_ReadyIs503NamingTheHealthCheckTimeout()
    {
        // Redis frozen: nothing answers, nothing fails. The check is cut by Cortex:Observability:HealthCheckTimeout, and
        // the probe's body and the log line said only "A timeout occurred while running check.", naming neither the
        // key nor how long it waited.
        await using var server = await RedisServer.StartAsync();
        using var logs = new CapturedLogs();
        await using var app = Build(server, logs, ("Cortex:Observability:HealthCheckTimeout", "00:00:01"));
        await app.StartAsync();
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);

        await server.SignalAsync("STOP");
        try
        {
            var (status, ready) = await client.HealthAsync("/health/ready");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            const string Expected = "no answer within 00:00:01 (Cortex:Observability:HealthCheckTimeout)";
            Assert.Equal(Expected, ready.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString());
            Assert.Contains(logs.Lines, l => l.Contains("[1301] Health check redis is Unhealthy: " + Expected, StringComparison.Ordinal));
        }
        finally
        {
            await server.SignalAsync("CONT");
        }
    }

    [Fact]
    public async Task RedisAnswersPingWithAnError_ReadyIs503WithRedisOwnReason()
    {
        // A script past busy-reply-threshold makes Redis answer every other command BUSY (LOADING after a restart is the
        // same kind): Redis is there and says why, and "unreachable" sent the operator to the network.
        await using var server = await RedisServer.StartAsync("--busy-reply-threshold", "50");
        await using var app = await StartAsync(server);
        using var client = new OperationsClient(app);
        using var blocker = await server.ConnectAsync();
        var endless = blocker.GetDatabase().ScriptEvaluateAsync("local n = 0 while true do n = n + 1 end", []);

        HttpStatusCode status;
        JsonElement ready;
        var probes = 0;
        do
        {
            (status, ready) = await client.HealthAsync("/health/ready");
        }
        while (status == HttpStatusCode.OK && ++probes < 1000); // until the script has started

        await RedisCliAsync(["-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "SCRIPT", "KILL"]);
        Assert.NotNull(await Record.ExceptionAsync(() => endless)); // killed (or timed out by the client first)
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.StartsWith("Redis answered PING with an error: BUSY", ready.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisAway_ReadinessChangeIsLoggedOnceEachWay_NotOncePerProbe()
    {
        await using var server = await RedisServer.StartAsync();
        var logs = new CapturedLogs();
        await using var app = Build(server, logs);
        await app.StartAsync();
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);

        await server.KillAsync();
        for (var probe = 0; probe < 3; probe++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.HealthAsync("/health/ready")).Status);
        }

        await server.RestartAsync();
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        while ((await client.HealthAsync("/health/ready")).Status != HttpStatusCode.OK)
        {
            Assert.True(waiting.Elapsed < TimeSpan.FromSeconds(30), "the sender did not reconnect to the restarted Redis within 30 s");
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        var health = logs.Lines.Where(l => !l.StartsWith("scope ", StringComparison.Ordinal) && l.Contains("Health", StringComparison.Ordinal)).ToList();
        Assert.Single(health, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("Health check redis is Unhealthy: Redis unreachable", StringComparison.Ordinal));
        Assert.Single(health, l => l.StartsWith("Information", StringComparison.Ordinal) && l.Contains("Health check redis passes again (was Unhealthy)", StringComparison.Ordinal));
        Assert.True(health.Count == 2, string.Join("\n", health)); // the health-check service's own line per failing probe is off
    }

    [Fact]
    public async Task RedisPasswordRotatedWhileRunning_ReadySaysThePasswordIsRefused_NotThatRedisIsAway()
    {
        const string Before = "before-rotation-4c1e9a";
        const string After = "after-rotation-7b20d5";
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Before });
        var logs = new CapturedLogs();
        await using var app = Build(server, logs, ("Cortex:Redis:Password", Before));
        await app.StartAsync();
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);

        // The password changed in Redis and the service not restarted: its open connections keep working until they are
        // cut, and then every reconnect is refused.
        string[] admin = ["-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", "-a", Before];
        await RedisCliAsync([.. admin, "CONFIG", "SET", "requirepass", After]);
        await RedisCliAsync([.. admin[..^2], "-a", After, "CLIENT", "KILL", "TYPE", "normal"]);
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        (HttpStatusCode Status, System.Text.Json.JsonElement Body) ready;
        while ((ready = await client.HealthAsync("/health/ready")).Status == HttpStatusCode.OK)
        {
            Assert.True(waiting.Elapsed < TimeSpan.FromSeconds(30), "readiness still 200 30 s after the connections were cut");
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Status);
        Assert.Equal(
            $"Redis refuses this service: Cortex:Redis:Password was refused by Redis at 127.0.0.1:{server.Port} (wrong password, or its user is disabled); restart it with the configuration Redis takes",
            ready.Body.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString());
        Assert.Single(logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("Health check redis is Unhealthy: Redis refuses this service", StringComparison.Ordinal));
        Assert.DoesNotContain(Before, logs.All + ready.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(After, logs.All + ready.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_PortOutOfRange_ExitsWithConfigurationErrorNamingTheKey()
    {
        await using var app = Build(redis.Server, ("Cortex:Observability:Port", "70000"));
        using var error = new StringWriter();

        var exit = await CortexHost.RunAsync(app, error);

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("Cortex:Observability:Port must be 0 to 65535 (was 70000)", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void LoggingDefaults_InAContainer_JsonLinesWithScopes_ElsewherePlainText()
    {
        var container = OperationsEndpoints.LoggingDefaults(inContainer: true);
        var local = OperationsEndpoints.LoggingDefaults(inContainer: false);

        Assert.Equal("json", container["Logging:Console:FormatterName"]);
        Assert.Equal("true", container["Logging:Console:FormatterOptions:IncludeScopes"]);
        Assert.False(local.ContainsKey("Logging:Console:FormatterName"));
    }

    private static Envelope Text(string id, Priority priority, DateTimeOffset enqueuedAt) =>
        new() { Id = id, To = "+5511987654321", Text = "hello", Priority = priority, EnqueuedAt = enqueuedAt };

    private static async Task RedisCliAsync(string[] arguments)
    {
        var result = await ExternalTool.RunAsync("redis-cli", arguments, "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0 && !result.Output.Contains("ERR", StringComparison.Ordinal), result.ToString());
    }

    private static async Task<WebApplication> StartAsync(RedisServer server)
    {
        var app = Build(server);
        await app.StartAsync();
        return app;
    }

    private static WebApplication Build(RedisServer server, params (string Key, string Value)[] overrides) => Build(server, null, overrides);

    private static WebApplication Build(RedisServer server, CapturedLogs? logs, params (string Key, string Value)[] overrides)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = server.Configuration,
            ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex:Observability:Port"] = "0",
        });
        builder.Configuration.AddInMemoryCollection(overrides.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)));
        builder.AddCortexOperations();
        var app = builder.Build();
        app.MapCortexOperations();
        return app;
    }
}
