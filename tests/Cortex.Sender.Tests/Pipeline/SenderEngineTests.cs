using System.Globalization;
using System.Text;
using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Fake;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Cortex.Sender.Tests.Pipeline;

public sealed class SenderEngineTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    // 32 template parameters of 200 emoji each: 25.6 KB as a producer writes them in UTF-8, 76.8 KB as Cortex writes them
    // escaped (\uD83D\uDE00, 12 bytes for 4).
    private static readonly string s_emojiParameters = string.Join(',', Enumerable.Repeat("\"" + string.Concat(Enumerable.Repeat("😀", 200)) + "\"", 32));

    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task Send_ThousandsWithFaultMix_EveryMessageSentExactlyOnceOrDeadLettered()
    {
        await using var host = SenderTestHost.Create(redis, overrides: new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Fake:RetryableFailureRate"] = "0.1",
            ["Cortex:Gateway:Fake:PermanentFailureRate"] = "0.02",
            ["Cortex:Retry:MaxAttempts"] = "10",
        });
        var fake = host.Host.Services.GetRequiredService<FakeGateway>();
        var messages = Enumerable.Range(0, 3000).Select(i => SenderTestHost.Message($"m{i}") with { To = "+55119" + (80_000_000 + i) }).ToList();
        await host.Client.EnqueueBatchAsync(messages);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();
        await host.StopAsync();

        var dead = await host.Queue.GetDeadLettersAsync(0, 10_000);
        Assert.Equal(0, fake.DuplicateCount());
        Assert.Equal(messages.Count, fake.AcceptedCount + dead.Count);
        Assert.All(dead, d => Assert.Equal(DeadLetterReasons.Permanent, d.Reason));
        Assert.InRange(dead.Count, 20, 120); // ~2% of numbers are "not on WhatsApp"; none lost to the 10% transient faults
        var ids = fake.AcceptedById.Keys.Concat(dead.Select(d => d.MessageId!)).ToHashSet();
        Assert.Equal(messages.Select(m => m.Id).ToHashSet(), ids);
        Assert.True(host.Counter("cortex.sender.retries") > 0, "transient faults should have been retried");
    }

    [Fact]
    public async Task Send_Accepted_TheProviderIdIsLoggedWithTheMessageIdForItsStatusWebhooks()
    {
        // A delivery failure reported later by webhook (Meta's 131026, Evolution's ERROR) names the provider's id only:
        // it was thrown away, and the failure could not be traced to a message or a customer.
        var gateway = new ScriptedGateway(envelope => GatewayResult.Accepted("wamid." + envelope.Id));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        await host.Client.EnqueueAsync(SenderTestHost.Message("pid-1"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        // The message has no traceId, as most producers' do not: the line leaves the trace out (it read "(trace (null))").
        Assert.Single(logs.Lines, l => l.Contains("[1033] Message pid-1 accepted by the gateway as wamid.pid-1 | ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_AcceptedAnswerThatCompletesAsTheAttemptTimesOut_IsSentAndNotSentAgain()
    {
        // The gateway adapter returns a 2xx whose body was still on its way when the attempt's timeout fired (GatewayHttp):
        // the pipeline must keep that answer, not turn the timeout into a failure to retry.
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            return GatewayResult.Accepted("late");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Gateway:Timeout"] = "00:00:01" });
        await host.Client.EnqueueAsync(SenderTestHost.Message("late-1"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.CallsFor("late-1"));
        Assert.Equal(1, host.Counter("cortex.sender.sent"));
        Assert.Equal(new QueueStats(0, 0, 0, 0, 0, 0, 1), await host.Queue.GetStatsAsync());
    }

    [Fact]
    public async Task Send_MalformedEnvelopesPushedRaw_DeadLetteredWithPreciseReasonAndGoodOnesSent()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        string[] bad =
        [
            """{"version":1,"id":"a","to":"+55 11 9999","text":"oi"}""",
            """{"version":1,"id":"b","to":"+5511999990000","txt":"oi"}""",
            """{"version":1,"id":"c","to":"+5511999990000"}""",
            """{"version":1,"id":"d","to":""",

            // Over the size limit: dead-lettered inside Redis by the lease, never carried to the sender, still counted and logged.
            "{\"version\":1,\"id\":\"e\",\"to\":\"+5511999990000\",\"text\":\"" + new string('e', EnvelopeLimits.MaxEnvelopeBytes) + "\"}",
        ];
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, bad.Select(b => (RedisValue)b).ToArray());
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, Encoding.UTF8.GetBytes("""{"version":1,"id":"good","to":"5511999990000","text":"oi"}"""));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = (await host.Queue.GetDeadLettersAsync(0, 100)).ToDictionary(d => d.Payload!);
        Assert.Equal(5, dead.Count);
        Assert.All(dead.Values, d => Assert.Equal(DeadLetterReasons.InvalidEnvelope, d.Reason));
        Assert.StartsWith("to: must be an E.164 number", dead[bad[0]].Detail, StringComparison.Ordinal);
        Assert.StartsWith("txt: unknown field", dead[bad[1]].Detail, StringComparison.Ordinal);
        Assert.Equal("text: set either text or template", dead[bad[2]].Detail);
        Assert.Contains("invalid JSON", dead[bad[3]].Detail, StringComparison.Ordinal);
        var oversized = $"envelope is {bad[4].Length} bytes, over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit";
        Assert.Equal(oversized, dead[bad[4]].Detail);
        Assert.Equal(5, host.Counter("cortex.sender.dead_lettered"));
        Assert.Contains(logs.Lines, l => l.Contains(oversized, StringComparison.Ordinal));
        Assert.Equal(1, gateway.AcceptedFor("good"));
        Assert.Equal(1, gateway.TotalCalls);
    }

    // A producer told "look your message up with cortex dlq show <id>" found nothing for an invalid envelope: its entry had
    // no messageId even when the id was there and valid, and the log line said it had no readable id.
    [Fact]
    public async Task Send_MalformedEnvelopesWithAValidId_DeadLetteredUnderThatIdAndLoggedWithIt()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        string[] named =
        [
            """{"version":1,"id":"named:typo","to":"+5511999990000","txt":"oi"}""",
            """{"version":1,"id":"named:cut","to":"+55119""",
            """{"version":1,"id":"named:twice","to":"+5511999990000","text":"oi"}{"version":1,"id":"named:twice"}""",
            """{"extra":{"id":"inner"},"id":"named:late","version":"1","to":"+5511999990000","text":"oi"}""",
        ];
        string[] unnamed =
        [
            """{"version":1,"id":"has space","to":"+5511999990000","txt":"oi"}""",
            """{"version":1,"id":"a","id":"b","to":"+5511999990000","text":"oi"}""",
            """{"version":1,"id":7,"to":"+5511999990000","text":"oi"}""",
            """["named:not-an-object"]""",
        ];
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, [.. named.Concat(unnamed).Select(b => (RedisValue)b)]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = (await host.Queue.GetDeadLettersAsync(0, 100)).ToDictionary(d => d.Payload!);
        Assert.Equal(8, dead.Count);
        Assert.All(dead.Values, d => Assert.Equal(DeadLetterReasons.InvalidEnvelope, d.Reason));
        Assert.Equal(["named:typo", "named:cut", "named:twice", "named:late"], named.Select(p => dead[p].MessageId));
        Assert.All(unnamed, p => Assert.Null(dead[p].MessageId));
        Assert.Contains(logs.Lines, l => l.Contains("[1004] Dead-lettered payload named:typo (not a valid envelope: no trace or number to show): invalid_envelope: txt: unknown field", StringComparison.Ordinal));
        Assert.Equal(0, gateway.TotalCalls);
    }

    [Fact]
    public async Task Send_FloodOfMalformedEnvelopes_LogsAtMostTheLimitAndSumsUpTheRestWhileTheListKeepsEveryOne()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:DeadLetterLogLimit"] = "5" }, logs);
        var bad = Enumerable.Range(0, 30).Select(i => (RedisValue)$$"""{"version":1,"id":"flood-{{i}}","to":"+55119","text":"oi"}""").ToArray();
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, bad);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();
        await host.StopAsync();

        // One leased batch: its 30 dead letters come within the same second, so 5 get a line and the stop sums up the rest.
        Assert.Equal(30, (await host.Queue.GetStatsAsync()).Dead);
        Assert.Equal(30, host.Counter("cortex.sender.dead_lettered"));
        var lines = logs.Lines.Where(l => l.Contains("[1004]", StringComparison.Ordinal)).ToList();
        var summed = logs.Lines.Where(l => l.Contains("[1015]", StringComparison.Ordinal))
            .Sum(l => int.Parse(l[(l.IndexOf("Count=", StringComparison.Ordinal) + 6)..].Split(',')[0], CultureInfo.InvariantCulture));
        Assert.Equal(5, lines.Count);
        Assert.Equal(25, summed);
        Assert.All(lines, l => Assert.Contains("to: must be an E.164 number", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_AReadyListOfTheWrongType_LeasesNothingNamesTheKeyAndSendsOnceItIsMovedAside()
    {
        // A producer's SET where LPUSH belongs: the lease used to fail after its pops, losing what it took on every retry.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 5).Select(i => SenderTestHost.Message($"typed-{i}")));
        await Db.StringSetAsync(host.Queue.Keys.ReadyLow, "set by mistake");

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(
            () => Task.FromResult(logs.Lines.Any(l => l.Contains($"[1027] Redis refused lease: WRONGTYPE {host.Queue.Keys.ReadyLow} is a string, not a list", StringComparison.Ordinal))),
            "the mistyped key named");
        Assert.Equal(0, gateway.TotalCalls);
        Assert.Equal(5, await Db.ListLengthAsync(host.Queue.Keys.ReadyNormal));

        await Db.KeyRenameAsync(host.Queue.Keys.ReadyLow, $"{host.Queue.Keys.ReadyLow}:aside");
        await host.WaitUntilDrainedAsync();

        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(1, gateway.AcceptedFor($"typed-{i}")));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("[1003]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_DeadLetterWriteHeld_GoodMessageLeasedWithTheBadOneIsSentMeanwhile()
    {
        // The dead-letter write of the batch waits until the good message reaches the gateway: on a sender that hands its
        // workers nothing before that write is done, neither ever happens and the drain times out.
        var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(_ =>
        {
            sent.TrySetResult();
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, decorateQueue: inner => new DeadLettersAfter(inner, sent.Task));
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, "{\"id\":\"broken\",\"version\":1,");
        await host.Client.EnqueueAsync(SenderTestHost.Message("good"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.AcceptedFor("good"));
        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal(DeadLetterReasons.InvalidEnvelope, dead.Reason);
        Assert.StartsWith("{\"id\":\"broken\"", dead.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_MessageRecoveredAndLeasedAgainBeforeItsAckIsWritten_NotSentTwice()
    {
        // A pod that stood still with an ack unwritten: another pod took it for dead and put its lease back in ready, and
        // the pod leases the message again before its own ack lands. The claim cannot tell (the lease it names is gone, so
        // the claim is taken over); the pod itself knows it sent the message.
        var acks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway, decorateQueue: inner => new AcksAfter(inner, acks.Task));
        await host.Client.EnqueueAsync(SenderTestHost.Message("m1"));
        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.AcceptedFor("m1") == 1), "m1 sent, its ack held");

        // Another pod's recovery, its clock a minute ahead: this pod's heartbeat is older than the consumer timeout there.
        var ahead = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var other = new RedisMessageQueue(redis.Connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = host.Queue.Keys.Name }), ahead);
        Assert.Equal(1, (await other.RecoverAsync()).Recovered);

        await SenderTestHost.WaitForAsync(
            () => Task.FromResult(host.Counter("cortex.sender.duplicates_skipped") == 1 || gateway.AcceptedFor("m1") > 1), "m1 leased again and settled");
        acks.SetResult();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.AcceptedFor("m1"));
        Assert.True(Assert.Single(await host.Queue.AreSentAsync(["m1"])));
    }

    [Fact]
    public async Task Start_UnderTheIdOfAProcessThatCrashedHoldingLeases_SendsThemWithoutWaitingForAHeartbeatToAge()
    {
        // A StatefulSet's pod restarted after a crash keeps its name, and a fixed ConsumerId is that name: the new
        // process's heartbeat kept the dead one's leases alive, and nobody recovered them until it stopped.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:ConsumerId"] = "pod-0" }, logs);
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 5).Select(i => SenderTestHost.Message($"held-{i}")));
        Assert.Equal(5, (await host.Queue.LeaseAsync("pod-0", 10)).Count); // the crashed process's last lease, its heartbeat fresh

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(1, gateway.AcceptedFor($"held-{i}")));
        Assert.Single(logs.Lines, l => l.Contains("[1029] Consumer id pod-0 held leases before this process started", StringComparison.Ordinal)
            && l.Contains(": 5 returned to the queue, 0 dead-lettered as poison |", StringComparison.Ordinal));
        Assert.Equal(5, host.Counter("cortex.queue.leases_recovered"));
    }

    [Fact]
    public async Task Send_ExpiredMessage_DeadLetteredAsExpiredAndNeverSent()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.Client.EnqueueAsync(SenderTestHost.Message("late") with { ExpiresAt = DateTimeOffset.UnixEpoch.AddYears(50) });
        await host.Client.EnqueueAsync(SenderTestHost.Message("on-time") with { ExpiresAt = DateTimeOffset.MaxValue.AddYears(-1) });

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal(DeadLetterReasons.Expired, dead.Reason);
        Assert.Equal("late", dead.MessageId);
        Assert.Equal(0, gateway.CallsFor("late"));
        Assert.Equal(1, gateway.AcceptedFor("on-time"));
    }

    [Fact]
    public async Task Send_MessageExpiringAfterTheIdempotencyWindow_StaysMarkedSentUntilItExpires()
    {
        // A copy of a sent id (a push repeated after a lost reply, or the scheduler's after a crash before its commit) can
        // wait longer than the window: behind a queue paused over a weekend, a day-long gateway outage. Once the marker
        // had lapsed, the copy was sent again though it had not expired (ExpireAfter may be up to 7 days). Redis's clock
        // cannot be moved, so the marker's lifetime is what is checked.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Queue:IdempotencyWindow"] = "01:00:00" });
        var expiresAt = TimeProvider.System.GetUtcNow().AddDays(3);
        await host.Client.EnqueueAsync(SenderTestHost.Message("week-long") with { ExpiresAt = expiresAt });
        await host.Client.EnqueueAsync(SenderTestHost.Message("no-expiry"));
        await host.Client.EnqueueAsync(SenderTestHost.Message("short") with { ExpiresAt = TimeProvider.System.GetUtcNow().AddMinutes(30) });

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();
        await host.StopAsync();

        var longLived = await Db.KeyTimeToLiveAsync(host.Queue.Keys.Sent("week-long"));
        Assert.InRange(longLived!.Value, expiresAt - TimeProvider.System.GetUtcNow(), TimeSpan.FromDays(3) + TimeSpan.FromMinutes(1));
        Assert.InRange((await Db.KeyTimeToLiveAsync(host.Queue.Keys.Sent("no-expiry")))!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.InRange((await Db.KeyTimeToLiveAsync(host.Queue.Keys.Sent("short")))!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.Equal(1, gateway.AcceptedFor("week-long"));
    }

    [Fact]
    public async Task Send_NotBeforeAheadInRawPush_WaitsInDelayedSetAndIsSentAfterIt()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        var notBefore = TimeProvider.System.GetUtcNow().AddSeconds(1.5);
        var payload = EnvelopeCodec.Serialize(SenderTestHost.Message("later") with { NotBefore = notBefore });

        // Another system LPUSHes it straight into ready: the sender must hold it back itself.
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, payload);
        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 1, "deferred to the delayed set");
        Assert.Equal(0, gateway.CallsFor("later"));

        await host.WaitUntilDrainedAsync();
        var sent = Assert.Single(gateway.Log);
        Assert.True(sent.At >= notBefore, $"sent at {sent.At:O}, before notBefore {notBefore:O}");
    }

    [Fact]
    public async Task Send_QuietHoursBeganWhileWaiting_WaitsForTheirEndOrIsDeadLetteredWhenItExpiresFirst()
    {
        // Quiet hours from an hour ago to an hour ahead, in UTC, to the minute: the sender's clock is the system's here.
        var now = TimeProvider.System.GetUtcNow();
        var end = new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero).AddHours(1);
        var utc = TimeZoneInfo.FindSystemTimeZoneById("Etc/UTC");
        var quiet = new QuietHoursWindow(TimeOnly.FromDateTime(end.UtcDateTime.AddHours(-2)), TimeOnly.FromDateTime(end.UtcDateTime), utc);
        var later = new QuietHoursWindow(TimeOnly.FromDateTime(end.UtcDateTime.AddHours(1)), TimeOnly.FromDateTime(end.UtcDateTime.AddHours(2)), utc);
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.Client.EnqueueBatchAsync(
        [
            SenderTestHost.Message("campaign-tail") with { QuietHours = quiet },
            SenderTestHost.Message("expires-first") with { QuietHours = quiet, ExpiresAt = end.AddMinutes(-1) },
            SenderTestHost.Message("outside-them") with { QuietHours = later },
        ]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(
            async () => gateway.AcceptedFor("outside-them") == 1 && (await host.Queue.GetStatsAsync()) is { Delayed: 1, Dead: 1 },
            "one sent, one deferred, one dead-lettered");

        // Due when they end, and its notBefore says so: its queue age counts from then.
        var deferred = Assert.Single(await Db.SortedSetRangeByRankWithScoresAsync(host.Queue.Keys.Delayed));
        Assert.Equal(end.ToUnixTimeMilliseconds(), (long)deferred.Score);
        var held = EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(((string)deferred.Element!)[1..])).Envelope!;
        Assert.Equal(("campaign-tail", end, quiet), (held.Id, held.NotBefore, held.QuietHours));
        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Expired, "expires-first"), (dead.Reason, dead.MessageId));
        Assert.Equal(
            string.Create(CultureInfo.InvariantCulture, $"expires at {end.AddMinutes(-1):O}, before its quiet hours ({quiet}) end at {end:O}"),
            dead.Detail);
        Assert.Equal(0, gateway.CallsFor("campaign-tail") + gateway.CallsFor("expires-first"));
    }

    [Fact]
    public async Task Send_ThrottlePauseEndsInsideTheQuietHours_HeldUntilTheyEndNotSent()
    {
        // Throttled at 20:59:50 with a 30 s pause: the send's next turn comes at 21:00:20, inside its quiet hours.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 20, 59, 50, TimeSpan.Zero));
        var quiet = new QuietHoursWindow(new TimeOnly(21, 0), new TimeOnly(8, 0), TimeZoneInfo.FindSystemTimeZoneById("Etc/UTC"));
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(call == 1 ? GatewayResult.Throttled("130429", TimeSpan.FromSeconds(30)) : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, time: clock);
        await host.Client.EnqueueAsync(SenderTestHost.Message("late-evening") with { QuietHours = quiet });

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.CallsFor("late-evening") == 1), "the throttled call");

        await AdvanceUntilSettledAsync(clock, async () => gateway.CallsFor("late-evening") > 1 || (await host.Queue.GetStatsAsync()).Delayed == 1);

        var morning = new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero);
        Assert.Equal(1, gateway.CallsFor("late-evening"));
        var deferred = Assert.Single(await Db.SortedSetRangeByRankWithScoresAsync(host.Queue.Keys.Delayed));
        Assert.Equal(morning.ToUnixTimeMilliseconds(), (long)deferred.Score);
        Assert.Equal(morning, EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(((string)deferred.Element!)[1..])).Envelope!.NotBefore);
    }

    [Fact]
    public async Task Send_ExpiresWhileAThrottlePauseHoldsIt_DeadLetteredAsExpiredNotSentLate()
    {
        // A one-time code valid for 30 s, throttled with a 60 s pause: it was sent when the pause ended, 30 s too late.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero));
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(call == 1 ? GatewayResult.Throttled("130429", TimeSpan.FromSeconds(60)) : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, time: clock);
        await host.Client.EnqueueAsync(SenderTestHost.Message("otp") with { ExpiresAt = clock.GetUtcNow().AddSeconds(30) });

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.CallsFor("otp") == 1), "the throttled call");

        await AdvanceUntilSettledAsync(clock, async () => gateway.CallsFor("otp") > 1 || (await host.Queue.GetStatsAsync()).Dead == 1);

        Assert.Equal(1, gateway.CallsFor("otp"));
        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Expired, "otp", 0), (dead.Reason, dead.MessageId, dead.Attempts));
        Assert.StartsWith("expired at 2026-11-22T12:00:30", dead.Detail, StringComparison.Ordinal);
        Assert.Contains("while it waited for its turn to send", dead.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, "HTTP 500")]
    [InlineData(true, "gateway timed out")]
    public async Task Send_ExpiresBetweenAFailedCallAndItsShortRetry_DeadLetteredWithThatAttemptAndItsError(bool timesOut, string error)
    {
        // The call failed (a 500, or no answer within the gateway's timeout) and the code expired before the short
        // retry's turn: the failed attempt counts, and its error is the dead letter's.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero));
        var gateway = new ScriptedGateway(async (e, call, ct) =>
        {
            if (call > 1)
            {
                return GatewayResult.Accepted("ok");
            }

            clock.Advance(TimeSpan.FromSeconds(31));
            if (timesOut)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            return GatewayResult.Retryable("HTTP 500");
        });
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?> { ["Cortex:Resilience:ShortRetries"] = "1", ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00" },
            time: clock);
        await host.Client.EnqueueAsync(SenderTestHost.Message("otp-2") with { ExpiresAt = clock.GetUtcNow().AddSeconds(30) });

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Dead == 1 || gateway.CallsFor("otp-2") > 1, "the short retry's turn");

        Assert.Equal(1, gateway.CallsFor("otp-2"));
        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Expired, 1, error), (dead.Reason, dead.Attempts, dead.LastError));
        Assert.Contains("while it waited for its turn to send", dead.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_PermanentFailure_DeadLetteredAtOnceWithTheGatewayError()
    {
        var gateway = new ScriptedGateway(e => e.Id == "nope" ? GatewayResult.Permanent("number not on WhatsApp") : GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("nope"), SenderTestHost.Message("fine")]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Permanent, "nope", 1, "number not on WhatsApp"), (dead.Reason, dead.MessageId, dead.Attempts, dead.LastError));
        Assert.Equal(1, gateway.CallsFor("nope"));
        Assert.Equal(1, gateway.AcceptedFor("fine"));
    }

    [Fact]
    public async Task Send_TransientFailureEveryTime_DeadLetteredAfterMaxAttemptsWithLastError()
    {
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(GatewayResult.Retryable($"HTTP 503 on call {call}")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Retry:MaxAttempts"] = "3" });
        await host.Client.EnqueueAsync(SenderTestHost.Message("flaky"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal(DeadLetterReasons.RetriesExhausted, dead.Reason);
        Assert.Equal(3, dead.Attempts);
        Assert.Equal("HTTP 503 on call 3", dead.LastError);
        Assert.Equal([0, 1, 2], gateway.Log.Select(l => l.Attempt));
        Assert.Equal(2, host.Counter("cortex.sender.retries"));
    }

    [Fact]
    public async Task Send_RetryOfAnEnvelopeThatOutgrowsTheLimitOnceRewritten_DeadLetteredSayingWhyWithItsAttempt()
    {
        // A producer wrote 6,400 emoji as UTF-8 (25.6 KB); the retry's rewrite escapes each (76.8 KB). The lease refused
        // that as an oversized envelope: "invalid_envelope" with 0 attempts, the gateway's error lost.
        var raw = Encoding.UTF8.GetBytes($$$"""{"version":1,"id":"emoji","to":"+5511987654321","template":{"name":"promo","language":"pt_BR","parameters":[{{{s_emojiParameters}}}]}}""");
        Assert.InRange(raw.Length, 20_000, 30_000);
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(call == 1 ? GatewayResult.Retryable("HTTP 500") : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Retry:BaseDelay"] = "00:00:00.100", ["Cortex:Retry:MaxDelay"] = "00:00:00.100" });
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, raw);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.InvalidEnvelope, "emoji", 1, "HTTP 500"), (dead.Reason, dead.MessageId, dead.Attempts, dead.LastError));
        Assert.StartsWith("cannot be retried: written for its retry it is ", dead.Detail, StringComparison.Ordinal);
        Assert.Equal(1, gateway.CallsFor("emoji"));
    }

    [Fact]
    public async Task Send_HeldForQuietHoursWhereItsRewriteWouldOutgrowTheLimit_WaitsAsItsProducerWroteIt()
    {
        // Leased at 21:30 inside its quiet hours. Rewritten with its new notBefore, its emoji came back escaped (76.8 KB), and
        // the lease refused it in the morning as an oversized envelope.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 21, 30, 0, TimeSpan.Zero));
        var raw = Encoding.UTF8.GetBytes($$$"""{"version":2,"id":"night","to":"+5511987654321","quietHours":"21:00-08:00 Etc/UTC","template":{"name":"promo","language":"pt_BR","parameters":[{{{s_emojiParameters}}}]}}""");
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway, time: clock);
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, raw);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 1, "the message held");

        var held = Assert.Single(await Db.SortedSetRangeByRankWithScoresAsync(host.Queue.Keys.Delayed));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), (long)held.Score);
        Assert.Equal(raw, ((byte[])held.Element!)[1..]);
        Assert.Equal(0, gateway.TotalCalls);
    }

    [Fact]
    public async Task Send_TransientFailureThenSuccess_RetriedThroughDelayedSetAndSentOnce()
    {
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(call == 1 ? GatewayResult.Retryable("HTTP 500") : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Retry:BaseDelay"] = "00:00:00.300", ["Cortex:Retry:MaxDelay"] = "00:00:00.300" });
        await host.Client.EnqueueAsync(SenderTestHost.Message("second-time-lucky"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.AcceptedFor("second-time-lucky"));
        var log = gateway.Log.ToArray();
        Assert.Equal(2, log.Length);
        Assert.Equal(1, log[1].Attempt);
        Assert.True(log[1].At - log[0].At >= TimeSpan.FromMilliseconds(300), "the retry must wait for its backoff delay");
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    [Theory]
    [InlineData(120, 120)]
    [InlineData(5, 10)]
    public async Task Send_RetryableAnswerWithRetryAfter_NoShortRetryAndTheRetryIsNotDueSooner(int retryAfterSeconds, int dueSeconds)
    {
        // A gateway in maintenance answers 503 with Retry-After. The header was read and dropped: the short retries went
        // 200 and 400 ms later, and the long retry at its schedule, however long the gateway had said it would be away.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 503", TimeSpan.FromSeconds(retryAfterSeconds)));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Retry:BaseDelay"] = "00:00:10",
            ["Cortex:Retry:MaxDelay"] = "00:00:10",
            ["Cortex:Retry:Jitter"] = "0",
        }, time: clock);
        await host.Client.EnqueueAsync(SenderTestHost.Message("maintenance"));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 1, "the retry scheduled");

        var retry = Assert.Single(await Db.SortedSetRangeByRankWithScoresAsync(host.Queue.Keys.Delayed));
        Assert.Equal(clock.GetUtcNow().AddSeconds(dueSeconds).ToUnixTimeMilliseconds(), (long)retry.Score);
        Assert.Equal(1, gateway.CallsFor("maintenance"));
    }

    [Fact]
    public async Task Send_RetryBackInReady_ItsQueueAgeCountsFromWhenItWasDueNotFromItsFirstPush()
    {
        // After a gateway outage its retries come back to ready in a wave. Read from their first push, they looked as late
        // as the outage was long, and CortexOldestMessageTooOld paged while the queue drained normally.
        var failedAt = DateTimeOffset.MinValue;
        var gateway = new ScriptedGateway(_ =>
        {
            failedAt = TimeProvider.System.GetUtcNow();
            return GatewayResult.Retryable("HTTP 503");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Retry:BaseDelay"] = "00:00:03",
            ["Cortex:Retry:MaxDelay"] = "00:00:03",
        });
        var firstPush = TimeProvider.System.GetUtcNow().AddHours(-2);
        await host.Client.EnqueueAsync(SenderTestHost.Message("retried") with { EnqueuedAt = firstPush });

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Delayed == 1, "the retry scheduled");

        // Paused, so that the retry, once due, waits in ready where its age is read.
        await host.Queue.SetPausedAsync("hold the retry in ready");
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Ready == 1, "the retry due and back in ready");

        var oldest = await host.Queue.GetOldestReadyAsync();
        Assert.NotNull(oldest);
        Assert.Equal(firstPush.ToUnixTimeMilliseconds(), oldest.EnqueuedAt.ToUnixTimeMilliseconds());
        Assert.InRange(oldest.WaitingSince, failedAt, TimeProvider.System.GetUtcNow());
        Assert.Equal(1, gateway.TotalCalls);
    }

    [Fact]
    public async Task Send_TransientFailureWhoseRetryWouldComeAfterItsExpiry_DeadLetteredAsExpiredWithThatAttempt()
    {
        // A one-time code valid for minutes, and a first retry 5 minutes out: written with its notBefore at the retry,
        // the envelope could not be read back (expiresAt must be later than notBefore) and died as invalid, blaming its
        // producer. It expires instead, now, with the attempt and its error.
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 503"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Retry:BaseDelay"] = "00:05:00", ["Cortex:Retry:MaxDelay"] = "00:05:00" });
        var expires = TimeProvider.System.GetUtcNow().AddMinutes(2);
        await host.Client.EnqueueAsync(SenderTestHost.Message("otp") with { ExpiresAt = expires });

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetDeadLettersAsync()).Count == 1, "dead-lettered");

        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.Expired, "otp", 1, "HTTP 503"), (dead.Reason, dead.MessageId, dead.Attempts, dead.LastError));
        Assert.StartsWith("expires at " + expires.ToString("O", CultureInfo.InvariantCulture) + ", before its retry at ", dead.Detail, StringComparison.Ordinal);
        Assert.Equal(1, gateway.TotalCalls);
        Assert.Equal(0, (await host.Queue.GetStatsAsync()).Delayed);
    }

    [Fact]
    public async Task Send_Throttled_ResentWithoutSpendingAnAttempt()
    {
        // MaxAttempts 1: a single spent attempt would dead-letter the message.
        var gateway = new ScriptedGateway((e, call, _) => Task.FromResult(call <= 2 ? GatewayResult.Throttled("130429", TimeSpan.FromMilliseconds(50)) : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Retry:MaxAttempts"] = "1" });
        await host.Client.EnqueueAsync(SenderTestHost.Message("busy"));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.AcceptedFor("busy"));
        Assert.Equal(3, gateway.CallsFor("busy"));
        Assert.All(gateway.Log, l => Assert.Equal(0, l.Attempt));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
        Assert.Equal(2, host.Counter("cortex.sender.throttled"));
    }

    [Fact]
    public async Task Send_RecipientPairRateLimited_ParkedWithoutAnAttemptWhileTheOthersGoOnAndTheCircuitStaysClosed()
    {
        // Ten bills for one customer at once, among 30 messages to others: the provider takes one message to that recipient,
        // then answers the pair rate limit (Meta 131056) until 300 ms have passed. Before, each such answer was a transient
        // fault: three calls, an attempt spent (with MaxAttempts 1 here, the bill dead-lettered), and every one counted
        // by the circuit breakers, whose threshold here is 5 failures.
        var sync = new Lock();
        var lastAccepted = DateTimeOffset.MinValue;
        var gateway = new ScriptedGateway(e =>
        {
            if (!e.Id.StartsWith("bill", StringComparison.Ordinal))
            {
                return GatewayResult.Accepted("ok");
            }

            lock (sync)
            {
                var now = TimeProvider.System.GetUtcNow();
                if (now - lastAccepted < TimeSpan.FromMilliseconds(300))
                {
                    return GatewayResult.RecipientThrottled("pair rate limit (code 131056)", TimeSpan.FromMilliseconds(300));
                }

                lastAccepted = now;
                return GatewayResult.Accepted("ok");
            }
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
            ["Cortex:Resilience:MinimumThroughput"] = "5",
            ["Cortex:Retry:MaxAttempts"] = "1",
            ["Cortex:Sender:Workers"] = "4",
        });
        await host.Client.EnqueueBatchAsync([.. Enumerable.Range(0, 10).Select(i => SenderTestHost.Message($"bill{i}")), .. Enumerable.Range(0, 30).Select(i => SenderTestHost.Message($"other{i}"))]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(40, gateway.TotalAccepted);
        Assert.All(gateway.Log, call => Assert.Equal(0, call.Attempt));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
        var limited = gateway.TotalCalls - 40;
        Assert.InRange(limited, 1, 1_000);
        Assert.Equal(limited, host.Counter("cortex.sender.deferred"));
        Assert.Equal(0, host.Counter("cortex.sender.returned"));
        Assert.False(host.Gate.IsProbing);
    }

    [Fact]
    public async Task Send_ThrottledUnderEightWorkers_EachPauseEndsWithOneProbeAndTheRestFollowItsAcceptance()
    {
        // The first 11 calls are throttled (Retry-After 300 ms), the rest accepted. Every call that starts after the first
        // 429 and before the first acceptance is a probe: it must be alone at the gateway, where all 8 workers used to go
        // at each pause's end and meet 8 more 429s.
        const int ThrottledCalls = 11;
        var sync = new Lock();
        int calls = 0, probes = 0, probesInFlight = 0, mostProbesAtOnce = 0;
        bool throttled = false, accepted = false;
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            int call;
            bool probe;
            lock (sync)
            {
                call = ++calls;
                probe = throttled && !accepted;
                if (probe)
                {
                    probes++;
                    mostProbesAtOnce = Math.Max(mostProbesAtOnce, ++probesInFlight);
                }
            }

            try
            {
                // A provider's round trip, so sends that go together overlap at the gateway.
                await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
                lock (sync)
                {
                    throttled |= call <= ThrottledCalls;
                    accepted |= call > ThrottledCalls;
                }

                return call <= ThrottledCalls ? GatewayResult.Throttled("130429", TimeSpan.FromMilliseconds(300)) : GatewayResult.Accepted("ok");
            }
            finally
            {
                if (probe)
                {
                    lock (sync)
                    {
                        probesInFlight--;
                    }
                }
            }
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "8" });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 8).Select(i => SenderTestHost.Message($"storm-{i}")));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.All(Enumerable.Range(0, 8), i => Assert.Equal(1, gateway.AcceptedFor($"storm-{i}")));
        Assert.True(probes >= 4, $"the throttled calls after the first wave and the accepted one are probes; saw {probes}");
        Assert.Equal(1, mostProbesAtOnce);
        Assert.Equal(ThrottledCalls, host.Counter("cortex.sender.throttled"));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    [Fact]
    public async Task Send_ShortRetryDueDuringAnotherWorkersThrottlePause_WaitsForThePauseToEnd()
    {
        // "failing" is still at the gateway when "throttled" gets a 429 that pauses the pod for a second; its 503 comes
        // after. Its short retry is due 10 ms later, inside the pause: it used to go then, to a provider that had just
        // asked us to wait.
        var pause = TimeSpan.FromSeconds(1);
        var pauseEnds = DateTimeOffset.MaxValue;
        SenderTestHost? host = null;
        var gateway = new ScriptedGateway(async (e, call, _) =>
        {
            switch (e.Id, call)
            {
                case ("throttled", 1):
                    // Noted before the answer: the pod's pause, counted from when the answer arrives, ends later.
                    pauseEnds = TimeProvider.System.GetUtcNow() + pause;
                    return GatewayResult.Throttled("130429", pause);
                case ("failing", 1):
                    await SenderTestHost.WaitForAsync(() => Task.FromResult(host!.Gate.Pause.Reason is not null), "the other worker's throttle pause");
                    return GatewayResult.Retryable("HTTP 503");
                default:
                    return GatewayResult.Accepted("ok");
            }
        });
        // The pod's clock is the one the gateway notes times by (not Redis's, a fraction of a millisecond off it).
        await using var created = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "2",
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
        }, time: new ShiftedClock(TimeSpan.Zero));
        host = created;
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("failing"), SenderTestHost.Message("throttled")]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var failing = gateway.Log.Where(c => c.Id == "failing").ToArray();
        Assert.Equal(2, failing.Length);
        var retry = failing[1];
        Assert.True(retry.At >= pauseEnds, $"the short retry went {pauseEnds - retry.At:c} before the pause ended");
        Assert.Equal(0, retry.Attempt);
        Assert.Equal(1, gateway.AcceptedFor("failing"));
        Assert.Equal(1, gateway.AcceptedFor("throttled"));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    [Fact]
    public async Task Send_ShortRetriesUnderAPodRateLimit_EachCallTakesAPermit()
    {
        // 5 permits a second, a burst of 1; every message's first call fails and its short retry is accepted. The 12 calls
        // need 11 permits after the first, one every 200 ms: at least 2 s from the first call to the last, where the 6
        // permits of the first calls alone let all 12 through in about 1 s.
        var gateway = new ScriptedGateway((_, call, _) => Task.FromResult(call == 1 ? GatewayResult.Retryable("HTTP 503") : GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:RateLimit:PodPermitsPerSecond"] = "5",
            ["Cortex:RateLimit:PodBurst"] = "1",
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 6).Select(i => SenderTestHost.Message($"r{i}")));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        var calls = gateway.Log.Select(c => c.At).Order().ToList();
        Assert.Equal(12, calls.Count);
        Assert.All(Enumerable.Range(0, 6), i => Assert.Equal(1, gateway.AcceptedFor($"r{i}")));

        // The replenishment timer's ticks may come a little early or late: 10% off the 2 s.
        Assert.True(calls[^1] - calls[0] >= TimeSpan.FromSeconds(1.8), $"12 calls in {(calls[^1] - calls[0]).TotalSeconds:0.00} s at 5 a second");
    }

    [Fact]
    public async Task Send_ConfigurationError_PausesSendingAndLeavesMessagesQueuedUntouched()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.ConfigurationError("401 unauthorized: check the API key"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "1" });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 10).Select(i => SenderTestHost.Message($"k{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.Pause.Until > TimeProvider.System.GetUtcNow()), "sending paused");
        await host.StopAsync();

        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((10, 0, 0, 0), (stats.Ready, stats.Leased, stats.Delayed, stats.Dead));
        Assert.Equal(1, gateway.TotalCalls);
        var waiting = await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal);
        Assert.All(waiting, raw => Assert.Equal(0, EnvelopeCodec.Parse((byte[])raw!).Envelope!.Attempt));
    }

    [Fact]
    public async Task Send_QueuePausedByAnOperator_WhatThePodHadLeasedGoesBackUnsentAndIsSentOnceResumed()
    {
        // An operator pauses in an incident (a campaign with the wrong text): the Lease script hands out nothing more, and
        // what a pod had leased before (up to Prefetch, 256 by default, on every pod) must not go out either.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, _) =>
        {
            await release.Task;
            return GatewayResult.Accepted("ok");
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "2", ["Cortex:Sender:Prefetch"] = "20" }, logs);
        var ids = Enumerable.Range(0, 50).Select(i => $"pz{i:00}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(
            async () => gateway.TotalCalls == 2 && host.Engine.Buffered > 0 && (await host.Queue.GetStatsAsync()).Leased == 2 + host.Engine.Buffered,
            "two sends in flight and more buffered");
        // The reason is free text, and set by hand with redis-cli it may hold a line break: a number it quotes is masked
        // in the log line, and the break escaped, so that the line stays one.
        await host.Queue.SetPausedAsync("wrong campaign text,\nreported by +5511987654321");
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1031] Queue " + host.Queue.Keys.Name + " paused by an operator (wrong campaign text,\\nreported by +55*******4321)", StringComparison.Ordinal))), "the pause seen");
        Assert.DoesNotContain(logs.Lines, l => l.Contains("987654321", StringComparison.Ordinal));
        release.SetResult();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "the sends under way over and the rest handed back");

        // The two sends under way finished; nothing else reached the gateway, and no attempt was spent on the rest.
        Assert.Equal(2, gateway.TotalCalls);
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((48L, 0L, 0L), (stats.Ready, stats.Delayed, stats.Dead));
        var waiting = await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal);
        Assert.All(waiting, raw => Assert.Equal(0, EnvelopeCodec.Parse((byte[])raw!).Envelope!.Attempt));

        // Resumed: what is leased from then on is sent, not handed back until the next read of the flag.
        var returned = host.Counter("cortex.sender.returned");
        await host.Queue.SetPausedAsync(null);
        await host.WaitUntilDrainedAsync();
        Assert.Equal(50, ids.Count(id => gateway.AcceptedFor(id) == 1));
        Assert.Equal(returned, host.Counter("cortex.sender.returned"));
        Assert.Single(logs.Lines, l => l.Contains("[1032] Queue " + host.Queue.Keys.Name + " resumed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_QueuePausedWithMessagesBuffered_TheyGoBackInFrontInTheOrderTheyWerePushed()
    {
        // Handed back one at a time, each to the front of ready, a pod's buffer went back reversed, one round trip per
        // message. One worker here: with more, one that took a message as the pause was read returns it on its own.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, _) =>
        {
            await release.Task;
            return GatewayResult.Accepted("ok");
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "1", ["Cortex:Sender:Prefetch"] = "20" }, logs);
        var ids = Enumerable.Range(0, 40).Select(i => $"po{i:00}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 1 && host.Engine.Buffered > 1), "one send in flight and more buffered");
        await host.Queue.SetPausedAsync("wrong campaign text");
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1031]", StringComparison.Ordinal))), "the pause seen");
        var returned = host.Counter("cortex.sender.returned");
        release.SetResult();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "the send under way over and the rest handed back");

        var waiting = (await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal)).Select(raw => EnvelopeCodec.Parse((byte[])raw!).Envelope!.Id).Reverse();
        Assert.Equal(ids.Skip(1), waiting);
        Assert.True(host.Counter("cortex.sender.returned") - returned > 1, "several messages returned");
    }

    [Fact]
    public async Task Send_QueuePausedWhileSendsWaitOutAThrottle_TheyGoBackUnsentWhenTheirTurnComes()
    {
        // Sends waiting for their turn (a 429's pause, the rate limit) are not under way: the pause must stop them too.
        IMessageQueue? queue = null;
        var gateway = new ScriptedGateway(async (_, _, _) =>
        {
            await queue!.SetPausedAsync("wrong campaign text");
            return GatewayResult.Throttled("130429", TimeSpan.FromSeconds(3));
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "4", ["Cortex:Sender:Prefetch"] = "4" }, logs);
        queue = host.Queue;
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 8).Select(i => SenderTestHost.Message($"tw{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1031]", StringComparison.Ordinal))), "the pause seen");
        var callsAtPause = gateway.TotalCalls; // the workers' first calls, all throttled
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "everything handed back once the throttle is over");

        // Each throttled send waited out the pause, then found the queue paused: no call after the pause was seen.
        Assert.InRange(callsAtPause, 1, 4);
        Assert.Equal(callsAtPause, gateway.TotalCalls);
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((8L, 0L, 0L), (stats.Ready, stats.Delayed, stats.Dead));
        var waiting = await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal);
        Assert.All(waiting, raw => Assert.Equal(0, EnvelopeCodec.Parse((byte[])raw!).Envelope!.Attempt));
    }

    [Fact]
    public async Task Send_FailsAsTheQueueIsPaused_ItsShortRetryIsNotTakenAndNoAttemptIsSpent()
    {
        // The pause holds back a send's short retries; the failure before them is no reason to spend an attempt (on the
        // last one, it was dead-lettered as retries_exhausted without them).
        SenderTestHost? host = null;
        var gateway = new ScriptedGateway(async (_, _, _) =>
        {
            await host!.Queue.SetPausedAsync("wrong campaign text");
            await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.OperatorPause is not null), "the pause seen");
            return GatewayResult.Retryable("HTTP 503");
        });
        await using (host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Retry:MaxAttempts"] = "1",
            ["Cortex:Sender:Workers"] = "1",
        }))
        {
            await host.Client.EnqueueAsync(SenderTestHost.Message("last-attempt"));

            await host.StartAsync();
            await SenderTestHost.WaitForAsync(async () => gateway.TotalCalls == 1 && (await host.Queue.GetStatsAsync()).Leased == 0, "the message handed back");

            var stats = await host.Queue.GetStatsAsync();
            Assert.Equal((1L, 0L, 0L), (stats.Ready, stats.Delayed, stats.Dead));
            Assert.Equal(0, EnvelopeCodec.Parse((byte[])(await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal))[0]!).Envelope!.Attempt);
            Assert.Equal(1, gateway.TotalCalls);
        }
    }

    [Fact]
    public async Task Send_FailsAsTheQueueIsPausedWithALongShortRetryDelay_HandedBackAtOnceNotAfterTheDelay()
    {
        // The short retries' delay may be set to a minute, doubling for each of up to 10 retries. A send that failed as the
        // queue was paused waited it out, holding its lease and its worker, only to find the pause at the retry's turn. It
        // goes back at once: the bound below is the only one, far under the delay (Polly's jitter puts a first delay of a
        // minute under 10 s about once in 70).
        SenderTestHost? host = null;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (_, _, _) =>
        {
            await host!.Queue.SetPausedAsync("wrong campaign text");
            await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.OperatorPause is not null), "the pause seen");
            answered.TrySetResult();
            return GatewayResult.Retryable("HTTP 503");
        });
        await using (host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:01:00",
            ["Cortex:Sender:Workers"] = "1",
        }))
        {
            await host.Client.EnqueueAsync(SenderTestHost.Message("long-delay"));

            await host.StartAsync();
            await answered.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "the message handed back", timeoutSeconds: 10);

            var stats = await host.Queue.GetStatsAsync();
            Assert.Equal((1L, 0L, 0L), (stats.Ready, stats.Delayed, stats.Dead));
            Assert.Equal(0, EnvelopeCodec.Parse((byte[])(await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal))[0]!).Envelope!.Attempt);
            Assert.Equal(1, gateway.TotalCalls);
            Assert.Equal(1, host.Counter("cortex.sender.returned")); // handed back by the pod, not recovered by a sweep
        }
    }

    [Fact]
    public async Task Send_QueuePausedWhileRedisIsAskedAboutALeaseInDoubt_GoesBackUnsent()
    {
        // A lease in doubt (this pod's heartbeat unwritten long enough for another pod to take it for dead) is asked about
        // in Redis before its send, which can take seconds while Redis fails. The pause was checked before that question:
        // one that came in meanwhile let the send go.
        var clock = new JumpingClock();
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (e, _, _) =>
        {
            if (e.Id == "first")
            {
                await release.Task;
            }

            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(
            redis,
            gateway,
            new Dictionary<string, string?>
            {
                ["Cortex:Sender:Workers"] = "1",
                // Heartbeats far apart: the clock's jump below puts what was leased before it in doubt, while the heartbeat
                // Redis holds stays younger than the consumer timeout, so no sweep takes this pod's own leases back.
                ["Cortex:Queue:ConsumerTimeout"] = "00:30:00",
                ["Cortex:Queue:HeartbeatInterval"] = "00:10:00",
            },
            decorateQueue: inner => new LeaseChecksHeld(inner, asked, answer.Task),
            time: clock);
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("first"), SenderTestHost.Message("in-doubt")]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(
            async () => gateway.CallsFor("first") == 1 && (await host.Queue.GetStatsAsync()).Leased == 2, "first at the gateway, in-doubt leased behind it");

        // The pod stood still for 25 minutes in its own eyes, its heartbeat unwritten past the consumer timeout less a
        // heartbeat interval (20 minutes): in-doubt's turn asks Redis whether its lease is still this pod's.
        clock.Jump(TimeSpan.FromMinutes(25));
        release.SetResult();
        await asked.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await host.Queue.SetPausedAsync("wrong campaign text");
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.OperatorPause is not null), "the pause seen");
        answer.SetResult();
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.GetStatsAsync()).Leased == 0, "the lease check answered and in-doubt settled");

        Assert.Equal(0, gateway.CallsFor("in-doubt"));
        Assert.Equal(1, gateway.AcceptedFor("first"));
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((1L, 0L, 0L), (stats.Ready, stats.Delayed, stats.Dead));
        var waiting = EnvelopeCodec.Parse((byte[])(await Db.ListRangeAsync(host.Queue.Keys.ReadyNormal))[0]!).Envelope!;
        Assert.Equal(("in-doubt", 0), (waiting.Id, waiting.Attempt));
        Assert.Equal(1, host.Counter("cortex.sender.returned")); // handed back by the pod, not recovered by a sweep
    }

    [Fact]
    public async Task Send_GatewayDown_CircuitOpensLeasingStopsAndFewAttemptsAreSpent()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 502"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:MinimumThroughput"] = "5",
            ["Cortex:Resilience:BreakDuration"] = "00:01:00",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "01:00:00",
            ["Cortex:Retry:MaxDelay"] = "01:00:00",
            ["Cortex:Sender:Workers"] = "2",
            ["Cortex:Sender:Prefetch"] = "4",
            ["Cortex:Sender:LeaseBatchSize"] = "2",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 200).Select(i => SenderTestHost.Message($"o{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open");
        await host.StopAsync();

        // Only failures before the circuit opened spent an attempt; the one that opened it went back unspent, and
        // everything else waits in ready, untouched. The outage breaker opens after a failure for each of the 2 workers,
        // the ratio breaker after 5.
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal(200, stats.Ready + stats.Delayed);
        Assert.InRange(stats.Delayed, 0, 9);
        Assert.InRange(gateway.TotalCalls, stats.Delayed + 1, 10);
        Assert.Equal((0, 0), (stats.Leased, stats.Dead));
    }

    [Fact]
    public async Task Send_GatewayBackAfterOutage_OneProbeAtATimeThenEverythingSent()
    {
        // A real outage is slow: each failing call hangs 200 ms, so a probe keeps the circuit half-open for a while.
        var down = 1;
        var gateway = new ScriptedGateway(async (_, _, ct) =>
        {
            if (Volatile.Read(ref down) == 0)
            {
                return GatewayResult.Accepted("ok");
            }

            await Task.Delay(200, ct);
            return GatewayResult.Retryable("HTTP 504");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:MinimumThroughput"] = "5",
            ["Cortex:Resilience:BreakDuration"] = "00:00:00.500",
            ["Cortex:Retry:MaxAttempts"] = "50",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.100",
            ["Cortex:Retry:MaxDelay"] = "00:00:00.100",
            ["Cortex:Sender:Workers"] = "4",
            ["Cortex:Sender:Prefetch"] = "8",
        });
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 100).Select(i => SenderTestHost.Message($"p{i}")));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Gate.IsCircuitOpen), "circuit open");
        var callsAtOpen = gateway.TotalCalls;

        // Three failed probes, each after a 500 ms break: the gateway is still down.
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls >= callsAtOpen + 3), "three probes");
        var returnedWhileOpen = host.Counter("cortex.sender.returned");
        Volatile.Write(ref down, 0);
        await host.WaitUntilDrainedAsync();

        // Only what was buffered when the circuit opened, plus a few per probe, went back to Redis: no lease/return churn.
        Assert.InRange(returnedWhileOpen, 0, 8 + 4 + 3 * 4);
        Assert.Equal(100, Enumerable.Range(0, 100).Count(i => gateway.AcceptedFor($"p{i}") == 1));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    [Fact]
    public async Task Send_GatewayThrowsUnexpectedly_WorkersSurviveAndTheMessageIsRetriedThenDeadLettered()
    {
        var gateway = new ScriptedGateway((e, _, _) => e.Id == "poison"
            ? throw new OperationCanceledException("a bug that looks like a cancellation")
            : Task.FromResult(GatewayResult.Accepted("ok")));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "1",
            ["Cortex:Retry:MaxAttempts"] = "3",
        });
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("poison"), .. Enumerable.Range(0, 20).Select(i => SenderTestHost.Message($"fine{i}"))]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        // A single worker: had the fault killed it, nothing after the poison message would have been sent.
        Assert.Equal(20, Enumerable.Range(0, 20).Count(i => gateway.AcceptedFor($"fine{i}") == 1));
        var dead = Assert.Single(await host.Queue.GetDeadLettersAsync());
        Assert.Equal((DeadLetterReasons.RetriesExhausted, "poison", 3), (dead.Reason, dead.MessageId, dead.Attempts));
        Assert.Equal("worker fault: OperationCanceledException", dead.LastError);
    }

    [Fact]
    public async Task Stop_WithSendsInFlight_FinishesThemAndReturnsUnstartedWorkInOrder()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var gateway = new ScriptedGateway(async (e, _, _) =>
        {
            Interlocked.Increment(ref started);
            await release.Task;
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "2", ["Cortex:Sender:Prefetch"] = "6" });
        var ids = Enumerable.Range(0, 20).Select(i => $"s{i:00}").ToList();
        await host.Client.EnqueueBatchAsync(ids.Select(id => SenderTestHost.Message(id)));

        await host.StartAsync();
        // Everything leased is either in flight or buffered (no lease on its way), and some of it was not started.
        await SenderTestHost.WaitForAsync(
            async () => Volatile.Read(ref started) == 2 && host.Engine.Buffered > 0 && (await host.Queue.GetStatsAsync()).Leased == 2 + host.Engine.Buffered,
            "two sends in flight and unstarted work buffered");
        var stopping = host.StopAsync();
        release.SetResult();
        await stopping;

        Assert.Equal(2, gateway.TotalAccepted);
        Assert.Equal(2, gateway.TotalCalls);
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((18L, 0L, 0L), (stats.Ready, stats.Leased, stats.Consumers));

        // The returned messages are next in line, in their original order.
        var next = await host.Queue.LeaseAsync("check", 18);
        var sentIds = gateway.Log.Select(l => l.Id).ToHashSet();
        Assert.Equal(ids.Where(id => !sentIds.Contains(id)), next.Select(m => EnvelopeCodec.Parse(m.Payload.Span).Envelope!.Id));
        Assert.All(next, m => Assert.False(m.IsRedelivery));
    }

    [Fact]
    public async Task Stop_SendOutlivesShutdownBudget_CancelledAndReturnedToReady()
    {
        var gateway = new ScriptedGateway(async (e, _, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return GatewayResult.Accepted("never");
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:ShutdownTimeout"] = "00:00:00.200",
            ["Cortex:Gateway:Timeout"] = "00:05:00",
        }, logs);
        await host.Client.EnqueueAsync(SenderTestHost.Message("stuck"));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 1), "send started");
        await host.StopAsync();

        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((1L, 0L, 0L), (stats.Ready, stats.Leased, stats.Dead));

        // The gateway may have it, and the next pod sends it again: named, so a duplicate can be traced to it.
        Assert.Equal(1, host.Counter("cortex.sender.unanswered_sends"));
        Assert.Single(logs.Lines, l => l.Contains("[2003]", StringComparison.Ordinal) && l.Contains("message stuck (cancelled at the shutdown deadline)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_WorkFaultsAtTheDeadline_AcksAreWrittenAndEveryLeaseReturned()
    {
        // "slow" is answered only once the deadline cuts it, and its dead-letter write then faults with something other
        // than a cancellation: the worker ended with that fault, and the stop skipped its final acks and the return of
        // every lease, leaving them to another pod's recovery (and "fast" to be sent twice).
        var gateway = new ScriptedGateway(async (e, _, ct) =>
        {
            if (e.Id == "slow")
            {
                await Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                return GatewayResult.Permanent("refused after the deadline");
            }

            return GatewayResult.Accepted("ok");
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "2",
            ["Cortex:Sender:ShutdownTimeout"] = "00:00:00.200",
            ["Cortex:Gateway:Timeout"] = "00:05:00",
        }, logs, decorateQueue: inner => new FaultingWrites(inner, deadLetter: true));
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("slow"), SenderTestHost.Message("fast")]);

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.CallsFor("slow") == 1 && gateway.AcceptedFor("fast") == 1), "both sends started");
        await host.StopAsync();

        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((1L, 0L, 0L, 0L), (stats.Ready, stats.Leased, stats.Dead, stats.Consumers));
        var sent = await host.Queue.AreSentAsync(["fast", "slow"]);
        Assert.Equal([true, false], sent);
        Assert.Contains(logs.Lines, l => l.Contains("[1002]", StringComparison.Ordinal) && l.Contains("1 unsent messages returned", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_RecordingAFaultFaultsToo_TheWorkerGoesOnAndTheStopReturnsTheMessage()
    {
        // One worker. "bad"'s retry write faults, and so does the retry of its fault: the worker ended, and "good",
        // behind it, was never sent while the pod looked healthy.
        var gateway = new ScriptedGateway(e => e.Id == "bad" ? GatewayResult.Retryable("HTTP 503") : GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Resilience:ShortRetries"] = "0",
        }, logs, decorateQueue: inner => new FaultingWrites(inner, retry: true));
        await host.Client.EnqueueAsync(SenderTestHost.Message("bad"));
        await host.Client.EnqueueAsync(SenderTestHost.Message("good"));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.AcceptedFor("good") == 1), "the message behind the faulting one sent");
        await host.StopAsync();

        Assert.Single(logs.Lines, l => l.Contains("[1028] Worker fault on message bad", StringComparison.Ordinal));
        var stats = await host.Queue.GetStatsAsync();
        Assert.Equal((1L, 0L, 0L), (stats.Ready, stats.Leased, stats.Dead));
    }

    [Fact]
    public async Task Send_GatewayHoldsTheAnswerPastTheTimeout_ResendLoggedAndCountedAsAPossibleDuplicate()
    {
        // "late" is held until the attempt's timeout cuts it (the gateway may have delivered it), then taken on the short
        // retry; "prompt" is answered at once. Only the cut call may make a duplicate, and only it is named.
        var gateway = new ScriptedGateway(async (e, call, ct) =>
        {
            if (e.Id == "late" && call == 1)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            return GatewayResult.Accepted("ok");
        });
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Timeout"] = "00:00:00.200",
            ["Cortex:Resilience:ShortRetries"] = "1",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00.010",
        }, logs);
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("late"), SenderTestHost.Message("prompt")]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal((2, 1, 1), (gateway.CallsFor("late"), gateway.AcceptedFor("late"), gateway.CallsFor("prompt")));
        Assert.Equal(1, host.Counter("cortex.sender.unanswered_sends"));
        var unanswered = Assert.Single(logs.Lines, l => l.Contains("[2003]", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", unanswered, StringComparison.Ordinal);
        Assert.Contains("gave no answer for message late (timeout: no answer within 0.2 s)", unanswered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_RedisAnswering_TheConnectionIsClosedWithoutWaitingItsSyncTimeout()
    {
        // StackExchange.Redis 1.2.6's Dispose sends QUIT and waits up to syncTimeout for the replies, all of it on a healthy
        // connection too: every stop of a sender (and every test host) was held that long after its work was done.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = $"127.0.0.1:{redis.Server.Port},abortConnect=false,connectTimeout=2000,syncTimeout=60000",
        });
        var connection = host.Host.Services.GetRequiredService<IConnectionMultiplexer>();
        await host.Client.EnqueueAsync(SenderTestHost.Message("last-before-stop"));
        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        await host.StopAsync();
        var closedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        await host.DisposeAsync();
        var disposedAfter = System.Diagnostics.Stopwatch.GetElapsedTime(closedAt);

        Assert.Equal(1, gateway.AcceptedFor("last-before-stop"));
        Assert.False(connection.IsConnected);
        Assert.True(disposedAfter < TimeSpan.FromSeconds(30), $"the host took {disposedAfter.TotalSeconds:N1} s to dispose: the connection waited its syncTimeout");
    }

    [Fact]
    public async Task Send_IdAlreadySent_SkippedWhenPushedAgain()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.StartAsync();
        await host.Client.EnqueueAsync(SenderTestHost.Message("once"));
        await SenderTestHost.WaitForAsync(async () => (await host.Queue.AreSentAsync(["once"]))[0], "first copy acked");

        await host.Client.EnqueueAsync(SenderTestHost.Message("once", "a second push of the same id"));
        await host.WaitUntilDrainedAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Counter("cortex.sender.duplicates_skipped") == 1), "duplicate counted");

        Assert.Equal(1, gateway.CallsFor("once"));
    }

    [Fact]
    public async Task Send_MessageWithdrawnWhileWaitingInReady_IsNotSentAndLeavesNothingLeased()
    {
        // The scheduler withdraws a held message whose reason went away (an opt-out in the night) after its promotion:
        // it waits in ready, and the sender must drop it at its claim.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        var unwanted = SenderTestHost.Message("unwanted");
        await host.Client.EnqueueBatchAsync([unwanted, SenderTestHost.Message("wanted")]);
        Assert.True(Assert.Single(await host.Queue.WithdrawAsync([new WithdrawItem("unwanted", new QueueMessage(EnvelopeCodec.Serialize(unwanted), Priority.Normal))])));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal((0, 1), (gateway.CallsFor("unwanted"), gateway.AcceptedFor("wanted")));
        Assert.Equal(1, host.Counter("cortex.sender.withdrawn_skipped"));
        Assert.Equal(0, (await host.Queue.GetStatsAsync()).Leased);
        Assert.Contains(logs.Lines, l => l.StartsWith("Information ", StringComparison.Ordinal) && l.Contains("[1030] Message unwanted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_SameIdTwiceInOneBatch_ReachesGatewayOnce()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.Client.EnqueueBatchAsync([SenderTestHost.Message("twin"), SenderTestHost.Message("twin", "copy")]);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.CallsFor("twin"));
    }

    [Fact]
    public async Task Send_SameIdOnTwoPodsAtOnce_ReachesGatewayOnce()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = new ScriptedGateway(async (e, _, _) =>
        {
            await release.Task;
            return GatewayResult.Accepted("ok");
        });
        var shared = new Dictionary<string, string?> { ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName() };
        await using var podA = SenderTestHost.Create(redis, gateway, shared);
        await using var podB = SenderTestHost.Create(redis, gateway, shared);

        // Pod A is sending copy one when pod B leases copy two of the same id.
        await podA.Client.EnqueueAsync(SenderTestHost.Message("twin-pods"));
        await podA.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.TotalCalls == 1), "pod A sending");
        await podB.Client.EnqueueAsync(SenderTestHost.Message("twin-pods", "copy"));
        await podB.StartAsync();
        await SenderTestHost.WaitForAsync(async () => (await podB.Queue.GetStatsAsync()).Delayed == 1, "pod B holding its copy back");

        release.SetResult();
        await podA.WaitUntilDrainedAsync();

        Assert.Equal(1, gateway.CallsFor("twin-pods"));
        Assert.Equal(1, podB.Counter("cortex.sender.duplicates_skipped") + podA.Counter("cortex.sender.duplicates_skipped"));
    }

    [Fact]
    public async Task Recover_ConsumerDiedHoldingLeases_LiveSenderSendsEachOnceAndCountsAndNamesThem()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 5).Select(i => SenderTestHost.Message($"r{i}")));
        await host.Client.EnqueueAsync(SenderTestHost.Message("fresh"));

        // A pod leased these and was killed: its heartbeat stops, its leases stay in Redis.
        var orphaned = await host.Queue.LeaseAsync("killed-pod", 5);
        Assert.Equal(5, orphaned.Count);

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(1, gateway.AcceptedFor($"r{i}")));
        await SenderTestHost.WaitForAsync(() => Task.FromResult(host.Counter("cortex.sender.redelivered_sends") == 5), "redelivered sends counted");
        Assert.Equal(5, host.Counter("cortex.queue.leases_recovered"));

        // Each possible duplicate is named, so a customer's complaint can be traced to the crash; a first send is not.
        var named = logs.Lines.Where(l => l.Contains("[1018]", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"r{i}"), named.Select(l => l.Split("Sending message ")[1].Split(' ')[0]).Order());
        Assert.All(named, l => Assert.Contains("(deliveries before this one: 1)", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_RedisScriptCacheFlushed_SenderKeepsWorking()
    {
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        await using var host = SenderTestHost.Create(redis, gateway);
        await host.StartAsync();
        await host.Client.EnqueueAsync(SenderTestHost.Message("before"));
        await host.WaitUntilDrainedAsync();

        using (var admin = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration + ",allowAdmin=true"))
        {
            await admin.GetServer(admin.GetEndPoints()[0]).ScriptFlushAsync();
        }

        await host.Client.EnqueueAsync(SenderTestHost.Message("after"));
        await host.WaitUntilDrainedAsync();
        Assert.Equal(1, gateway.AcceptedFor("after"));
    }

    [Fact]
    public async Task Lease_MessageWhoseHoldersDiedTwice_IsSentAloneAndTheMessagesLeasedWithItStillGoOut()
    {
        // Issue #7, K7: a message that kills its process came back from every crash with the messages leased beside it,
        // and all of them reached MaxDeliveries together: 60 healthy messages were dead-lettered as poison with it.
        var inFlight = 0;
        var suspectInFlight = 0;
        var overlapping = 0;
        var gateway = new ScriptedGateway(async (e, _, ct) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            if (e.Id == "suspect")
            {
                Volatile.Write(ref suspectInFlight, 1);
                if (now > 1)
                {
                    Interlocked.Increment(ref overlapping);
                }
            }
            else if (Volatile.Read(ref suspectInFlight) == 1)
            {
                Interlocked.Increment(ref overlapping);
            }

            await Task.Delay(30, ct);
            if (e.Id == "suspect")
            {
                Volatile.Write(ref suspectInFlight, 0);
            }

            Interlocked.Decrement(ref inFlight);
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "4" });

        // As the Recover script leaves it: two deliveries, each to a consumer that died. Oldest in the list, so the
        // first lease takes it together with the twenty behind it.
        var suspect = EnvelopeCodec.Serialize(SenderTestHost.Message("suspect"));
        byte[] recovered = [.. "\u001e2\u001e"u8, .. suspect];
        await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, recovered);
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 20).Select(i => SenderTestHost.Message($"beside{i}")));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(0, Volatile.Read(ref overlapping));
        Assert.Equal(1, gateway.AcceptedFor("suspect"));
        Assert.All(Enumerable.Range(0, 20), i => Assert.Equal(1, gateway.AcceptedFor($"beside{i}")));
        Assert.Empty(await host.Queue.GetDeadLettersAsync());
    }

    [Fact]
    public async Task Lease_PayloadsThatAreNoEnvelopeBehindARedeliveryHeader_DeadLetteredWithoutBeingSentAlone()
    {
        // Anyone who can LPUSH can write the header the recovery puts in front of a message whose holders died. Behind it,
        // each malformed payload was handled alone: the rest of its batch went back to ready and the pod waited until
        // nothing was in flight, for a message with nothing to send.
        var gateway = new ScriptedGateway(_ => GatewayResult.Accepted("ok"));
        using var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, gateway, logs: logs);
        for (var i = 0; i < 10; i++)
        {
            byte[] forged = [.. "\u001e2\u001e"u8, .. Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"junk{i}\"")];
            await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, forged);
            await host.Client.EnqueueAsync(SenderTestHost.Message($"good{i}"));
        }

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(10, (await host.Queue.GetDeadLettersAsync()).Count(d => d.Reason == DeadLetterReasons.InvalidEnvelope));
        Assert.All(Enumerable.Range(0, 10), i => Assert.Equal(1, gateway.AcceptedFor($"good{i}")));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("[1014]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lease_SeveralMessagesWhoseHoldersDiedTwice_GoOutOneAfterAnotherAsEachSendEnds()
    {
        // A crash loop leaves many messages recovered twice, each sent alone. The next one must follow as soon as the
        // last send ends, not on a timer's tick: with a clock that never moves, a timed wait would never end.
        var clock = new FakeTimeProvider();
        var inFlight = 0;
        var suspectInFlight = 0;
        var overlapping = 0;
        var gateway = new ScriptedGateway(async (e, _, ct) =>
        {
            var suspect = e.Id.StartsWith("suspect", StringComparison.Ordinal);
            if ((Interlocked.Increment(ref inFlight) > 1 && suspect) || Volatile.Read(ref suspectInFlight) == 1)
            {
                Interlocked.Increment(ref overlapping);
            }

            if (suspect)
            {
                Volatile.Write(ref suspectInFlight, 1);
            }

            await Task.Delay(5, ct);
            if (suspect)
            {
                Volatile.Write(ref suspectInFlight, 0);
            }

            Interlocked.Decrement(ref inFlight);
            return GatewayResult.Accepted("ok");
        });
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?> { ["Cortex:Sender:Workers"] = "4" }, time: clock);
        var suspects = Enumerable.Range(0, 5).Select(i => $"suspect{i}").ToArray();
        foreach (var id in suspects)
        {
            byte[] recovered = [.. "\u001e2\u001e"u8, .. EnvelopeCodec.Serialize(SenderTestHost.Message(id))];
            await Db.ListLeftPushAsync(host.Queue.Keys.ReadyNormal, recovered);
        }

        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 10).Select(i => SenderTestHost.Message($"beside{i}")));

        await host.StartAsync();
        await host.WaitUntilDrainedAsync();

        Assert.Equal(0, Volatile.Read(ref overlapping));
        Assert.All(suspects, id => Assert.Equal(1, gateway.AcceptedFor(id)));
        Assert.All(Enumerable.Range(0, 10), i => Assert.Equal(1, gateway.AcceptedFor($"beside{i}")));
    }

    // A throttle pause waited out a second at a time, under the consumer timeout, until the message is settled.
    private static Task AdvanceUntilSettledAsync(FakeTimeProvider clock, Func<Task<bool>> settled) =>
        SenderTestHost.WaitForAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                return await settled();
            },
            "the send's next turn");

    private sealed class AcksAfter(IMessageQueue inner, Task release) : DelegatingMessageQueue(inner)
    {
        public override async Task<int> AckAsync(string consumerId, IReadOnlyList<AckItem> items)
        {
            await release;
            return await base.AckAsync(consumerId, items);
        }
    }

    // A write of the queue that faults with something other than Redis's errors or a cancellation: a bug, an unforeseen fault.
    private sealed class FaultingWrites(IMessageQueue inner, bool deadLetter = false, bool retry = false) : DelegatingMessageQueue(inner)
    {
        public override Task<bool> DeadLetterAsync(string consumerId, LeasedMessage message, DeadLetterEntry entry) =>
            deadLetter ? throw new InvalidOperationException("dead-letter write fault") : base.DeadLetterAsync(consumerId, message, entry);

        public override Task<bool> ScheduleRetryAsync(string consumerId, LeasedMessage message, ReadOnlyMemory<byte> payload, DateTimeOffset dueAt) =>
            retry ? throw new InvalidOperationException("retry write fault") : base.ScheduleRetryAsync(consumerId, message, payload, dueAt);
    }

    /// <summary>The real queue, whose dead-letter writes start only once <paramref name="release"/> completes.</summary>
    private sealed class DeadLettersAfter(IMessageQueue inner, Task release) : DelegatingMessageQueue(inner)
    {
        public override async Task<int> DeadLetterAsync(string consumerId, IReadOnlyList<DeadLetterItem> items)
        {
            await release;
            return await base.DeadLetterAsync(consumerId, items);
        }
    }

    /// <summary>The real queue, whose answers to lease checks wait for <paramref name="answer"/>: Redis slow to say, as while it fails.</summary>
    private sealed class LeaseChecksHeld(IMessageQueue inner, TaskCompletionSource asked, Task answer) : DelegatingMessageQueue(inner)
    {
        public override async Task<bool> HoldsLeaseAsync(string consumerId, long leaseId)
        {
            asked.TrySetResult();
            await answer;
            return await base.HoldsLeaseAsync(consumerId, leaseId);
        }
    }

    /// <summary>The system clock, moved forward when told: a pod frozen by its host sees its clock jump. Timers and elapsed time are the system's.</summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _aheadTicks;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _aheadTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _aheadTicks));
    }
}
