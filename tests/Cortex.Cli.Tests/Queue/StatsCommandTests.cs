using System.Text.Json;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Cortex.Cli.Tests.Queue;

[Collection(QueueCollection.Name)]
public sealed class StatsCommandTests(CliFixture fixture)
{
    [Fact]
    public async Task StatsJson_AfterRealOperations_CountsEveryStateAndTheOldestReadyAge()
    {
        // A producer enqueues through the test's own connection: stats is what is tested here, and `cortex enqueue` has
        // tests of its own (EnqueueCommandTests, its close behind a PING included).
        var cli = fixture.Queue();
        var sender = Queues.Sender(fixture.Connection, cli);
        var producer = new CortexClient(sender, cli.Time);
        await producer.EnqueueBatchAsync(
        [
            Message("h1", Priority.High),
            Message("h2", Priority.High),
            Message("n1", Priority.Normal),
            Message("l1", Priority.Low),
            Message("d1", Priority.Normal) with { NotBefore = cli.Time.GetUtcNow().AddHours(1) },
        ]);
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("x1"), cli.Time.GetUtcNow(), "x1");
        cli.Time.Advance(TimeSpan.FromSeconds(90));

        // A sender leases one message (high goes first) and stays alive.
        var leased = Assert.Single(await sender.LeaseAsync("pod-a", 1));

        var result = await cli.RunAsync("stats", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Out);
        var root = json.RootElement;
        Assert.Equal(cli.QueueName, root.GetProperty("queue").GetString());
        var ready = root.GetProperty("ready");
        var counts = (ready.GetProperty("high").GetInt64(), ready.GetProperty("normal").GetInt64(), ready.GetProperty("low").GetInt64(), ready.GetProperty("total").GetInt64());

        // On a mismatch, say which messages each list holds.
        if (counts != (1, 1, 1, 3))
        {
            var lists = new List<string>();
            foreach (var priority in new[] { Priority.High, Priority.Normal, Priority.Low })
            {
                lists.Add($"{priority}: {string.Join(", ", (await fixture.Connection.ReadyAsync(cli.Keys, priority)).Select(e => e.Id))}");
            }

            Assert.Fail($"ready {counts}, expected (1, 1, 1, 3); leased {EnvelopeCodec.Parse(leased.Payload.Span).Envelope?.Id} ({leased.Priority}); {string.Join("; ", lists)}; stats: {result.Out}");
        }
        Assert.Equal(1, root.GetProperty("delayed").GetInt64());
        Assert.Equal(1, root.GetProperty("leased").GetInt64());
        Assert.Equal(1, root.GetProperty("dead").GetInt64());
        Assert.Equal(5, root.GetProperty("pending").GetInt64());
        Assert.Equal(1, root.GetProperty("consumers").GetInt64());
        Assert.Equal(90.0, root.GetProperty("oldestReadyAgeSeconds").GetDouble());
        Assert.Equal(cli.Time.GetUtcNow().AddSeconds(-90), root.GetProperty("oldestReadyEnqueuedAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Stats_ThisMachinesClockMinutesAhead_CountsLiveSendersAndAgesByRedisClock()
    {
        // Senders date their heartbeats, retries and dead letters by Redis's clock. An operator's laptop whose clock ran
        // ahead by more than the consumer timeout (30 s) saw every live sender as dead, and every age as too old.
        var redisClock = new RedisClock(fixture.Connection, TimeProvider.System, NullLogger<RedisClock>.Instance);
        await redisClock.SyncAsync();
        var laptop = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(3));
        var cli = new CliDriver(laptop) { Redis = fixture.Redis.Configuration, QueueName = RedisFixture.UniqueQueueName(), DateByRedis = true };
        var sender = new RedisMessageQueue(fixture.Connection, Options.Create(new QueueOptions { Name = cli.QueueName! }), redisClock);
        await new CortexClient(sender, redisClock).EnqueueBatchAsync([Message("n1", Priority.Normal), Message("n2", Priority.Normal)]);
        Assert.Single(await sender.LeaseAsync("pod-a", 1));
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("x1"), redisClock.GetUtcNow(), "x1");

        var stats = await cli.RunAsync("stats", "--json");
        var older = await cli.RunAsync("dlq", "list", "--json", "--older-than", "1m");

        Assert.True(stats.ExitCode == 0, stats.ToString());
        using var json = JsonDocument.Parse(stats.Out);
        Assert.Equal(1, json.RootElement.GetProperty("consumers").GetInt64());
        Assert.InRange(json.RootElement.GetProperty("oldestReadyAgeSeconds").GetDouble(), 0, 60);
        Assert.True(older.ExitCode == 0, older.ToString());
        Assert.Equal("[]", older.Out.Trim());
    }

    [Fact]
    public async Task StatsJson_EmptyQueue_ZeroesAndNullAge()
    {
        var result = await fixture.Queue().RunAsync("stats", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        Assert.Equal(0, json.RootElement.GetProperty("ready").GetProperty("total").GetInt64());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("oldestReadyAgeSeconds").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("oldestReadyEnqueuedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("paused").ValueKind);
    }

    [Fact]
    public async Task Stats_QueuePausedByAnOperator_ShowsItAndTheReasonInTheTableAndJson()
    {
        // The runbook's first look: a paused queue has live consumers, a growing backlog and nothing leased. The pause
        // showed only in cortex_queue_paused and the Redis key, so on-call read the counts as a stuck sender.
        var cli = fixture.Queue();
        await Enqueue(cli, "n1", "normal");
        var queue = Queues.Sender(fixture.Connection, cli);
        await queue.HeartbeatAsync("pod-a");
        await queue.SetPausedAsync("gateway incident INC-4471, customer +5511987654321 complained");

        var table = await cli.RunAsync("stats");
        var json = await cli.RunAsync("stats", "--json");

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Matches(@"paused by an operator\s*│\s*yes", table.Out);
        Assert.Contains(
            "paused by an operator: gateway incident INC-4471, customer +55*******4321 complained; senders lease nothing until POST /admin/resume",
            table.Out,
            StringComparison.Ordinal);
        Assert.True(json.ExitCode == 0, json.ToString());
        using (var document = JsonDocument.Parse(json.Out))
        {
            Assert.Equal("gateway incident INC-4471, customer +55*******4321 complained", document.RootElement.GetProperty("paused").GetString());
            Assert.Equal(1, document.RootElement.GetProperty("consumers").GetInt64());
        }

        Assert.DoesNotContain("5511987654321", table.Out + json.Out, StringComparison.Ordinal);

        // Resumed: the table says so, and the JSON field is null again.
        await queue.SetPausedAsync(null);
        var resumed = await cli.RunAsync("stats");
        var resumedJson = await cli.RunAsync("stats", "--json");

        Assert.Matches(@"paused by an operator\s*│\s*no", resumed.Out);
        Assert.DoesNotContain("POST /admin/resume", resumed.Out, StringComparison.Ordinal);
        using var after = JsonDocument.Parse(resumedJson.Out);
        Assert.Equal(JsonValueKind.Null, after.RootElement.GetProperty("paused").ValueKind);
    }

    [Fact]
    public async Task Stats_APauseReasonSetByHandWithControlCharacters_ShowsThemEscaped()
    {
        // The admin endpoint refuses control characters; redis-cli does not. The reason went to the terminal as it was:
        // an escape sequence cleared the screen, a line break printed a line stats never wrote.
        var cli = fixture.Queue();
        await fixture.Connection.GetDatabase().StringSetAsync(cli.Keys.Paused, "incident\u001B[2J\r\nqueue resumed\u009B\u0007");

        var table = await cli.RunAsync("stats");
        var json = await cli.RunAsync("stats", "--json");

        Assert.True(table.ExitCode == 0, table.ToString());
        var line = Assert.Single(table.Out.Split('\n'), l => l.StartsWith("paused by an operator: ", StringComparison.Ordinal));
        Assert.Equal("paused by an operator: incident\\u001B[2J\\r\\nqueue resumed\\u009B\\u0007; senders lease nothing until POST /admin/resume", line.TrimEnd('\r'));
        Assert.DoesNotContain(table.Out, c => char.IsControl(c) && c is not '\n' and not '\r');
        using var document = JsonDocument.Parse(json.Out);
        Assert.Equal("incident\u001B[2J\r\nqueue resumed\u009B\u0007", document.RootElement.GetProperty("paused").GetString());
    }

    [Fact]
    public async Task Stats_APauseKeyOfTheWrongType_NamesTheKeyWithoutAStackTrace()
    {
        // The senders' maintenance fails on it as well; Redis's own WRONGTYPE text names no key.
        var cli = fixture.Queue();
        await fixture.Connection.GetDatabase().ListLeftPushAsync(cli.Keys.Paused, "pushed by mistake");

        var result = await cli.RunAsync("stats");

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Contains($"holds a queue key of the wrong type: WRONGTYPE {cli.Keys.Paused} is not a string", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_Table_ShowsEachStateAndNoPhoneNumber()
    {
        var cli = fixture.Queue();
        await Enqueue(cli, "n1", "normal");
        cli.Time.Advance(TimeSpan.FromMinutes(3) + TimeSpan.FromSeconds(20));

        var result = await cli.RunAsync("stats");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("ready: normal", result.Out, StringComparison.Ordinal);
        Assert.Contains("consumers (live)", result.Out, StringComparison.Ordinal);
        Assert.Contains("3m 20s", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("5511987654321", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_AReadyListOfTheWrongType_NamesTheKeyWithoutAStackTrace()
    {
        // The runbook's first look when senders lease nothing because a producer wrote a ready list with SET.
        var cli = fixture.Queue();
        await fixture.Connection.GetDatabase().StringSetAsync(cli.Keys.ReadyLow, "set by mistake");

        var result = await cli.RunAsync("stats");

        Assert.True(result.ExitCode == ExitCodes.Partial, result.ToString());
        Assert.Contains($"holds a queue key of the wrong type: WRONGTYPE {cli.Keys.ReadyLow} is not a list. Something other than Cortex wrote it", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("user_script", result.Error, StringComparison.Ordinal);
    }

    private static Envelope Message(string id, Priority priority) => new() { Id = id, To = "+5511987654321", Text = "x", Priority = priority };

    private static async Task Enqueue(CliDriver cli, string id, string priority, params string[] more)
    {
        var result = await cli.RunAsync(["enqueue", "--to", "+5511987654321", "--text", "x", "--id", id, "--priority", priority, .. more]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
