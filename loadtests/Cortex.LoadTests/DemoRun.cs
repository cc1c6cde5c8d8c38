using System.Diagnostics;
using System.Globalization;
using Cortex.Sender.Gateways.Fake;
using Cortex.Shared.Client;
using Cortex.Shared.Queue;
using Spectre.Console;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>
/// make demo: a morning's billing run. Enqueues reminders through the .NET client, lets "other systems" push
/// a few broken and duplicate envelopes, runs the sender against the fake gateway with transient failures,
/// numbers that are not on WhatsApp and some throttling, and shows progress and a summary.
/// </summary>
internal static class DemoRun
{
    public static async Task<int> RunAsync(string redis, int count)
    {
        const string QueueName = "cortex";
        var configuration = new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = redis,
            ["Cortex:Queue:Name"] = QueueName,
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.200",
            ["Cortex:Gateway:Type"] = "Fake",
            ["Cortex:Gateway:Fake:Latency"] = "00:00:00.005",
            ["Cortex:Gateway:Fake:RetryableFailureRate"] = "0.03",
            ["Cortex:Gateway:Fake:PermanentFailureRate"] = "0.005",
            ["Cortex:Gateway:Fake:ThrottleRate"] = "0.0002",
            ["Cortex:Sender:Workers"] = "64",
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.500",
            ["Cortex:Retry:Factor"] = "2",
            ["Cortex:Retry:MaxDelay"] = "00:00:03",
            ["Cortex:Retry:MaxAttempts"] = "3",
            ["Cortex:RateLimit:GlobalPermitsPerSecond"] = "4000",
            ["Cortex:RateLimit:GlobalBurst"] = "200",
            ["Cortex:RateLimit:ThrottlePause"] = "00:00:00.100",
        };

        AnsiConsole.MarkupLine($"[bold]Cortex demo[/]: {count:N0} billing reminders → sender → fake WhatsApp gateway (Redis {Markup.Escape(RedactedEndpoint(redis))})");
        AnsiConsole.MarkupLine("Fake gateway: 5 ms latency, 3% transient faults, 0.5% numbers not on WhatsApp, rare throttling. Global rate limit 4,000 msg/s.");

        // Per-message warnings would scroll the progress bar away; the summary below reports every dead letter.
        using var host = SenderHost.Build(configuration, LogLevel.Error);
        var queue = host.Services.GetRequiredService<IMessageQueue>();
        var client = host.Services.GetRequiredService<CortexClient>();
        var time = host.Services.GetRequiredService<TimeProvider>();
        var connection = host.Services.GetRequiredService<IConnectionMultiplexer>();
        await connection.GetDatabase().KeyDeleteAsync([queue.Keys.ReadyHigh, queue.Keys.ReadyNormal, queue.Keys.ReadyLow, queue.Keys.Delayed, queue.Keys.Dead]);

        var reminders = Workload.BillingReminders(count, time.GetUtcNow());
        var expired = reminders.Take(20).Select(r => r with { Id = "late:" + r.Id, ExpiresAt = time.GetUtcNow().AddMinutes(-1) }).ToList();
        var duplicates = reminders.Skip(100).Take(50).ToList();
        var malformed = Workload.Malformed(50).ToArray();

        var enqueueClock = Stopwatch.StartNew();
        await client.EnqueueBatchAsync(reminders);
        await client.EnqueueBatchAsync(expired);
        await client.EnqueueBatchAsync(duplicates);
        await connection.GetDatabase().ListLeftPushAsync(queue.Keys.ReadyNormal, malformed.Select(m => (RedisValue)m).ToArray());
        enqueueClock.Stop();
        var total = reminders.Count + expired.Count + duplicates.Count + malformed.Length;
        AnsiConsole.MarkupLine($"Enqueued {total:N0} messages in {enqueueClock.Elapsed.TotalMilliseconds:N0} ms ({reminders.Count:N0} reminders, {duplicates.Count} duplicate ids, {expired.Count} about to expire, {malformed.Length} malformed pushed raw).");

        using var metrics = new MetricsRecorder();
        var fake = host.Services.GetRequiredService<FakeGateway>();
        var clock = Stopwatch.StartNew();
        await host.StartAsync();
        QueueStats stats = await queue.GetStatsAsync();
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("Sending", maxValue: total);
                while (!ctx.IsFinished)
                {
                    await Task.Delay(100);
                    stats = await queue.GetStatsAsync();
                    task.Value = total - stats.Pending;
                    task.Description = $"Sending  [green]{fake.AcceptedCount,6:N0} sent[/]  [yellow]{stats.Delayed,4:N0} waiting retry[/]  [red]{stats.Dead,4:N0} dead[/]";
                    if (stats.Pending == 0)
                    {
                        task.Value = total;
                    }
                }
            });
        clock.Stop();
        await host.StopAsync();

        var deadLetters = await queue.GetDeadLettersAsync(0, 100_000);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("What").AddColumn(new TableColumn("Count").RightAligned()).AddColumn("Note");
        table.AddRow("Messages enqueued", total.ToString("N0", CultureInfo.InvariantCulture), string.Empty);
        table.AddRow("Sent (accepted by gateway)", fake.AcceptedCount.ToString("N0", CultureInfo.InvariantCulture), $"{fake.DuplicateCount()} sent twice");
        table.AddRow("Retries scheduled", metrics.Counter("cortex.sender.retries").ToString("N0", CultureInfo.InvariantCulture), "transient faults, exponential backoff with jitter");
        table.AddRow("Duplicate ids skipped", metrics.Counter("cortex.sender.duplicates_skipped").ToString("N0", CultureInfo.InvariantCulture), "send claim per id in Redis");
        table.AddRow("Throttled answers", metrics.Counter("cortex.sender.throttled").ToString("N0", CultureInfo.InvariantCulture), "paused all sending, no attempt spent");
        // Invalid envelopes are shown per distinct reason: that precision is what a producer needs to fix its side.
        foreach (var group in deadLetters.GroupBy(d => d.Reason == DeadLetterReasons.InvalidEnvelope ? d.Detail : d.Reason).OrderByDescending(g => g.Count()))
        {
            var first = group.First();
            table.AddRow($"Dead-lettered: {first.Reason}", group.Count().ToString("N0", CultureInfo.InvariantCulture), Markup.Escape(Shorten(first.Detail)));
        }

        var sent = fake.AcceptedCount;
        table.AddRow("Throughput", $"{sent / clock.Elapsed.TotalSeconds:N0} msg/s", $"{clock.Elapsed.TotalSeconds:N1} s wall clock, rate limit 4,000 msg/s");
        table.AddRow("Latency enqueue→accepted", $"p50 {Ms(metrics.LatencyQuantile(0.5))}", $"p99 {Ms(metrics.LatencyQuantile(0.99))} (includes waiting behind the backlog)");
        AnsiConsole.Write(table);

        var lost = total - sent - deadLetters.Count - (int)metrics.Counter("cortex.sender.duplicates_skipped");
        if (lost != 0 || fake.DuplicateCount() != 0 || stats.Pending != 0)
        {
            AnsiConsole.MarkupLine($"[red]Accounting does not balance: {lost} unaccounted, {fake.DuplicateCount()} duplicates, {stats.Pending} pending[/]");
            return 1;
        }

        AnsiConsole.MarkupLine("[green]Every message accounted for: sent once, skipped as a duplicate id, or dead-lettered with a reason.[/]");
        if (deadLetters.FirstOrDefault(d => d.Reason == DeadLetterReasons.Permanent) is { } sample)
        {
            // The demo's Redis is removed at exit, so show what an operator would read with LRANGE '{cortex}:dead' 0 0.
            AnsiConsole.MarkupLine("One dead letter as stored in [bold]{cortex}:dead[/] (phone digits are the demo's fake numbers):");
            AnsiConsole.WriteLine(System.Text.Encoding.UTF8.GetString(sample.ToJson()));
        }

        return 0;
    }

    private static string Ms(double? seconds) => seconds is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s * 1000:N1} ms") : "n/a";

    private static string Shorten(string text) => text.Length <= 70 ? text : text[..67] + "...";

    private static string RedactedEndpoint(string configuration) => configuration.Split(',')[0];
}
