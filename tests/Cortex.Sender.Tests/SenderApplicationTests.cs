using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Cortex.Sender.Pipeline;
using Cortex.Sender.Tests.Pipeline;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests;

/// <summary>The sender as Program.cs runs it: engine plus /metrics and /health, against a real Redis.</summary>
public class SenderApplicationTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Metrics_AfterRealSends_CountSentByKindLatencyDeadLettersAndEngineGauges_AndPassPromtool()
    {
        var gateway = "g" + Guid.NewGuid().ToString("N")[..8];
        await using var app = await StartAsync(("Cortex:Gateway:Name", gateway));
        using var client = new OperationsClient(app);
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var producer = app.Services.GetRequiredService<CortexClient>();

        for (var i = 0; i < 5; i++)
        {
            await producer.EnqueueAsync(new Envelope { Id = $"b-{i}", To = "+5511987654321", Text = "fatura", Kind = "billing_reminder" });
        }

        await producer.EnqueueAsync(new Envelope { Id = "n-1", To = "+5511987654321", Text = "oi" });
        await redis.Connection.GetDatabase().ListLeftPushAsync(queue.Keys.ReadyNormal, "{not json");
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0, Dead: 1 }, "sent and dead-lettered");

        var scrape = await client.ScrapeTextAsync();
        var samples = PrometheusText.Parse(scrape);
        var lint = await Promtool.CheckMetricsAsync(scrape);

        Assert.True(lint.ExitCode == 0 && lint.Output.Length == 0, $"promtool check metrics on a real sender scrape: {lint}");
        Assert.Equal(5, samples.Value("cortex_sender_sent_total", ("kind", "billing_reminder")));
        Assert.Equal(1, samples.Value("cortex_sender_sent_total", ("kind", "none")));
        Assert.Equal(5, samples.Value("cortex_sender_end_to_end_duration_seconds_count", ("kind", "billing_reminder")));
        Assert.Equal(5, samples.Value("cortex_sender_end_to_end_duration_seconds_bucket", ("kind", "billing_reminder"), ("le", "+Inf")));
        Assert.Equal(6, samples.Value("cortex_sender_send_duration_seconds_count", ("outcome", "accepted")));
        Assert.Equal(1, samples.Value("cortex_sender_dead_lettered_total", ("kind", "none"), ("reason", DeadLetterReasons.InvalidEnvelope)));
        Assert.Equal(1, samples.Value("cortex_queue_depth", ("queue", queue.Keys.Name), ("state", "dead")));
        Assert.Equal(1, samples.Value("cortex_queue_consumers", ("queue", queue.Keys.Name)));
        Assert.Equal(0, samples.Value("cortex_sender_circuit_state", ("gateway", "fake:" + gateway)));
        Assert.Equal(4, samples.Value("cortex_sender_workers"));
        Assert.Equal(16, samples.Value("cortex_sender_channel_capacity"));
        Assert.NotNull(samples.Value("cortex_sender_workers_busy"));
        Assert.NotNull(samples.Value("cortex_sender_channel_items"));
        Assert.NotEmpty(samples.Find("dotnet_process_memory_working_set_bytes"));
    }

    [Fact]
    public async Task Metrics_BeforeAnySend_ShowTheCountersWithoutTagsAtZero()
    {
        // An alert's rate() over a series that appears with its first event misses that event: a new pod's first
        // unanswered send, throttle or recovered lease must have a 0 sample before it.
        await using var app = await StartAsync();
        using var client = new OperationsClient(app);

        var samples = PrometheusText.Parse(await client.ScrapeTextAsync());

        foreach (var name in (string[])["duplicates_skipped", "withdrawn_skipped", "redelivered_sends", "unanswered_sends", "throttled", "returned", "deferred"])
        {
            Assert.Equal(0, samples.Value($"cortex_sender_{name}_total"));
        }

        Assert.Equal(0, samples.Value("cortex_queue_leases_recovered_total"));
    }

    [Fact]
    public async Task Start_AsProgramBuildsIt_DatesByRedisClock()
    {
        // The operations endpoints register the queue, and with it the system clock, before the sender: the sender's own
        // Redis clock was then never used, and a pod on a node whose clock ran a consumer timeout behind looked dead to the
        // others while it sent (ClockSkewTests shows what that costs).
        await using var app = await StartAsync();
        var clock = Assert.IsType<Cortex.Shared.Redis.RedisClock>(app.Services.GetRequiredService<TimeProvider>());
        var queue = app.Services.GetRequiredService<IMessageQueue>();

        await SenderTestHost.WaitForAsync(async () => (await queue.GetStatsAsync()).Consumers == 1, "the first heartbeat");

        Assert.NotNull(clock.Offset);
    }

    [Fact]
    public async Task GatewayDown_CircuitOpens_ReadyIs503AndTheGaugeSaysOpen()
    {
        var gateway = "g" + Guid.NewGuid().ToString("N")[..8];
        await using var app = await StartAsync(
            ("Cortex:Gateway:Name", gateway),
            ("Cortex:Gateway:Fake:RetryableFailureRate", "1"),
            ("Cortex:Resilience:MinimumThroughput", "2"),
            ("Cortex:Resilience:BreakDuration", "00:10:00"));
        using var client = new OperationsClient(app);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/ready")).Status);
        var producer = app.Services.GetRequiredService<CortexClient>();
        var gate = app.Services.GetRequiredService<SendGate>();

        for (var i = 0; i < 4; i++)
        {
            await producer.EnqueueAsync(new Envelope { Id = $"m-{i}", To = "+5511987654321", Text = "oi", Kind = "support_followup" });
        }

        await SenderTestHost.WaitForAsync(() => Task.FromResult(gate.IsCircuitOpen), "circuit open");

        var (status, body) = await client.HealthAsync("/health/ready");
        var samples = await client.ScrapeAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.StartsWith("circuit open", body.GetProperty("checks").GetProperty("gateway-circuit").GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.HealthAsync("/health/live")).Status);
        Assert.Equal(1, samples.Value("cortex_sender_circuit_state", ("gateway", "fake:" + gateway)));
        Assert.True(samples.Value("cortex_sender_failed_total", ("kind", "support_followup"), ("reason", "retryable")) >= 2);
    }

    [Fact]
    public async Task ContainerLogs_AreJsonLinesCarryingTheTraceIdAndAMaskedPhone()
    {
        var queueName = RedisFixture.UniqueQueueName();
        var lines = new ConcurrentQueue<string>();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll"));
        info.Environment["DOTNET_RUNNING_IN_CONTAINER"] = "true";
        info.Environment["Cortex__Redis__Configuration"] = redis.Server.Configuration;
        info.Environment["Cortex__Queue__Name"] = queueName;
        info.Environment["Cortex__Observability__Port"] = "0";
        info.Environment["Cortex__Gateway__Fake__PermanentFailureRate"] = "1";
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => lines.Enqueue(e.Data ?? string.Empty);
        process.ErrorDataReceived += (_, e) => lines.Enqueue(e.Data ?? string.Empty);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var queue = new Cortex.Shared.Queue.RedisMessageQueue(redis.Connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
            await new CortexClient(queue, TimeProvider.System).EnqueueAsync(new Envelope { Id = "inv-77", To = "+5511987654321", Text = "oi", TraceId = "trace-4bf92f35" });
            try
            {
                await SenderTestHost.WaitForAsync(() => Task.FromResult(lines.Any(l => l.Contains("\"EventId\":1004", StringComparison.Ordinal))), "the dead-letter log line");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException(ex.Message + "; the process wrote:" + Environment.NewLine + string.Join(Environment.NewLine, lines), ex);
            }


            var nonEmpty = lines.Where(l => l.Length > 0).ToList();
            Assert.All(nonEmpty, line => JsonDocument.Parse(line).Dispose()); // every line is one JSON object
            using var deadLettered = JsonDocument.Parse(nonEmpty.First(l => l.Contains("\"EventId\":1004", StringComparison.Ordinal)));
            var state = deadLettered.RootElement.GetProperty("State");
            Assert.Equal("trace-4bf92f35", state.GetProperty("TraceId").GetString());
            Assert.Equal("inv-77", state.GetProperty("MessageId").GetString());
            Assert.DoesNotContain(nonEmpty, line => line.Contains("5511987654321", StringComparison.Ordinal));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private async Task<WebApplication> StartAsync(params (string Key, string Value)[] overrides)
    {
        var app = SenderApplication.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cortex:Redis:Configuration"] = redis.Server.Configuration,
                ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
                ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.050",
                ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.100",
                ["Cortex:Observability:Port"] = "0",
                ["Cortex:Gateway:Type"] = "Fake",
                ["Cortex:Sender:Workers"] = "4",
                ["Cortex:Sender:Prefetch"] = "16",
                ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
                ["Cortex:Resilience:ShortRetries"] = "0",
                ["Cortex:Retry:BaseDelay"] = "00:00:00.050",
                ["Cortex:Retry:MaxDelay"] = "00:00:00.050",
            });
            builder.Configuration.AddInMemoryCollection(overrides.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)));
        });
        await app.StartAsync();
        return app;
    }
}
