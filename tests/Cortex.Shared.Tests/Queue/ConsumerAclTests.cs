using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Tests.Queue;

/// <summary>
/// What a sender asks Redis about at start (<see cref="RedisMessageQueue.ConsumerNeeds"/>) is what the queue runs: a
/// Redis user granted those commands on those keys and nothing else goes through every step a consumer takes, and one
/// lacking any of them is named before anything moves.
/// </summary>
public sealed class ConsumerAclTests : IAsyncLifetime
{
    private const string Password = "consumer-acl-test";
    private static readonly string[] s_admin = ["--user", "admin", "--pass", "admin-pass"];
    private readonly FakeTimeProvider _time = new();
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });
        _connection = await _server.ConnectAsync();
        // An administrator that outlives the restriction of the default user, the only user StackExchange.Redis 1.2.6 can be.
        await Cli(["--user", "default", "--pass", Password], "ACL", "SETUSER", "admin", "on", ">admin-pass", "~*", "&*", "+@all");
    }

    public async Task DisposeAsync()
    {
        _connection.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task ConsumerNeeds_AsAUsersOnlyGrants_RunEveryStepAConsumerTakes()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([.. Enumerable.Range(1, 6).Select(i => Message("m" + i)), Message("h1", Priority.High), Message("l1", Priority.Low)]);
        await queue.EnqueueAsync([Message("d1", Priority.Normal, _time.GetUtcNow().AddMinutes(1))]);
        await _connection.GetDatabase().ListLeftPushAsync(queue.Keys.ReadyNormal, new string('x', EnvelopeLimits.MaxEnvelopeBytes + 1));
        await RestrictToAsync(queue.ConsumerNeeds(), queue.Keys);

        Assert.Empty(await queue.RefusedConsumerCommandsAsync() ?? ["this Redis cannot check"]);
        await queue.HeartbeatAsync("a");
        var leased = await queue.LeaseAsync("a", 20, "request-1");
        Assert.Equal(8, leased.Count);
        Assert.Single(leased.Oversized);
        // The same request again (its reply lost) replays the batch.
        Assert.Equal(leased.Select(l => l.LeaseId), (await queue.LeaseAsync("a", 20, "request-1")).Select(l => l.LeaseId));
        Assert.Equal(new QueueStats(0, 0, 0, 1, 8, 1, 1), await queue.GetStatsAsync());
        var byText = leased.ToDictionary(Text);
        Assert.All(await queue.ClaimAsync("a", [Ack(byText["m1"]), Ack(byText["m2"])]), r => Assert.Equal(ClaimResult.Claimed, r));
        Assert.Equal([ClaimResult.InFlightElsewhere], await queue.ClaimAsync("b", [new AckItem(999, "m1")]));
        Assert.Equal(0, await queue.AckAsync("a", [Ack(byText["m1"]), Ack(byText["m2"])]));
        Assert.True(await queue.ScheduleRetryAsync("a", byText["m3"], Encoding.UTF8.GetBytes("m3"), _time.GetUtcNow().AddMinutes(1)));
        Assert.Equal(1, await queue.DeadLetterAsync("a", [new DeadLetterItem(byText["m4"], DeadLetterEntry.Create("invalid_envelope", "test", byText["m4"].Payload.Span, _time.GetUtcNow()))]));
        Assert.Equal(1, await queue.ReturnAsync("a", [byText["m5"].LeaseId]));
        Assert.True(await queue.ReturnToBackAsync("a", byText["m6"].LeaseId));

        // Consumer b leases the returned message and dies; a recovers it after the consumer timeout.
        Assert.Equal("m5", Text(Assert.Single(await queue.LeaseAsync("b", 1))));
        _time.Advance(TimeSpan.FromMinutes(1));
        await queue.HeartbeatAsync("a");
        Assert.Equal(new RecoveryResult(1, 0, 1), await queue.RecoverAsync());
        Assert.Equal(2, await queue.PromoteDueAsync());
        Assert.Null(await queue.GetOldestReadyAsync()); // read, not refused; these payloads carry no enqueue time
        Assert.Equal(2, await queue.RemoveConsumerAsync("a"));

        // m1 and m2 sent; m4 and the oversized one dead; h1, l1 and m6 (returned by a), m3 (retried), d1 and m5 (recovered) ready.
        Assert.Equal(new QueueStats(1, 4, 1, 0, 0, 2, 0), await queue.GetStatsAsync());
    }

    [Fact]
    public async Task ProducerNeeds_AsAUsersOnlyGrants_PushAndReadTheQueueMetrics()
    {
        // The scheduler checks these at start; a user granted them and no more must still serve every queue series.
        var queue = CreateQueue();
        await RestrictToAsync(queue.ProducerNeeds(), queue.Keys);

        Assert.Empty(await queue.RefusedProducerCommandsAsync() ?? ["this Redis cannot check"]);
        await queue.EnqueueAsync([Message("m1"), Message("d1", Priority.Normal, _time.GetUtcNow().AddMinutes(1))]);
        Assert.Equal(new QueueStats(0, 1, 0, 1, 0, 0, 0), await queue.GetStatsAsync());
        Assert.Null(await queue.GetOldestReadyAsync()); // read, not refused; this payload carries no enqueue time
        Assert.Null(await queue.GetPausedAsync());
    }

    [Fact]
    public async Task RefusedConsumerCommands_AUserWithoutOneOfThem_NamesItWithoutRunningAnything()
    {
        var queue = CreateQueue();
        await queue.EnqueueAsync([Message("m1")]);
        await RestrictToAsync(queue.ConsumerNeeds().Where(n => n.Command != "INCRBY"), queue.Keys);

        Assert.Equal([$"INCRBY {queue.Keys.LeaseSequence}"], await queue.RefusedConsumerCommandsAsync());
        Assert.Equal(1, await _connection.GetDatabase().ListLengthAsync(queue.Keys.ReadyNormal));
    }

    [Fact]
    public async Task Scripts_RefusedByAnAclNarrowedAfterTheStart_LeaveEveryMessageWhereItWas()
    {
        var queue = CreateQueue();
        var needs = queue.ConsumerNeeds().ToList();
        await queue.EnqueueAsync([Message("m1"), Message("m2"), Message("m3")]);

        // Without INCRBY the lease would have popped the messages, then been refused: they stay ready.
        await RestrictToAsync(needs.Where(n => n.Command != "INCRBY"), queue.Keys);
        Assert.True(RedisAcl.IsRefusal(await Assert.ThrowsAsync<RedisServerException>(() => queue.LeaseAsync("a", 10))));
        Assert.Equal(new QueueStats(0, 3, 0, 0, 0, 0, 1), await queue.GetStatsAsync());

        await RestrictToAsync(needs, queue.Keys);
        var leased = (await queue.LeaseAsync("a", 10)).ToList();
        Assert.Equal(3, leased.Count);

        // Each of these removes the lease and writes the message elsewhere; refused the write, the lease stays.
        await RestrictToAsync(needs.Where(n => !(n.Command == "ZADD" && n.Key == queue.Keys.Delayed)), queue.Keys);
        await Assert.ThrowsAsync<RedisServerException>(() => queue.ScheduleRetryAsync("a", leased[0], leased[0].Payload, _time.GetUtcNow().AddMinutes(1)));
        await RestrictToAsync(needs.Where(n => !(n.Command == "LPUSH" && n.Key == queue.Keys.Dead)), queue.Keys);
        await Assert.ThrowsAsync<RedisServerException>(() => queue.DeadLetterAsync("a", [new DeadLetterItem(leased[1], DeadLetterEntry.Create("invalid_envelope", "test", leased[1].Payload.Span, _time.GetUtcNow()))]));
        await RestrictToAsync(needs.Where(n => n.Command != "RPUSH"), queue.Keys);
        await Assert.ThrowsAsync<RedisServerException>(() => queue.ReturnAsync("a"));
        Assert.Equal(new QueueStats(0, 0, 0, 0, 3, 0, 1), await queue.GetStatsAsync());

        await RestrictToAsync(needs, queue.Keys);
        Assert.Equal(3, await queue.RemoveConsumerAsync("a"));
        Assert.Equal(["m1", "m2", "m3"], (await queue.LeaseAsync("b", 10)).Select(Text));
    }

    [Fact]
    public async Task MaintenanceRefusedByAnAclNarrowedAfterTheStart_MovesNothingAndRunsOnceRestored()
    {
        var queue = CreateQueue();
        var needs = queue.ConsumerNeeds().ToList();
        await queue.EnqueueAsync([Message("d1", Priority.Normal, _time.GetUtcNow().AddSeconds(1))]);
        await queue.EnqueueAsync([Message("m1")]);
        Assert.Equal("m1", Text(Assert.Single(await queue.LeaseAsync("b", 10))));
        _time.Advance(TimeSpan.FromMinutes(1)); // d1 is due and b is dead

        // A promotion that pushed before its refused ZREM would leave d1 both ready and delayed, pushed again each sweep;
        // a recovery refused its DEL, the same for b's lease.
        await RestrictToAsync(needs.Where(n => !(n.Command == "ZREM" && n.Key == queue.Keys.Delayed)), queue.Keys);
        for (var sweep = 0; sweep < 2; sweep++)
        {
            Assert.True(RedisAcl.IsRefusal(await Assert.ThrowsAsync<RedisServerException>(() => queue.PromoteDueAsync())));
        }

        await RestrictToAsync(needs.Where(n => !(n.Command == "DEL" && n.Key == queue.Keys.Leases("*"))), queue.Keys);
        for (var sweep = 0; sweep < 2; sweep++)
        {
            Assert.True(RedisAcl.IsRefusal(await Assert.ThrowsAsync<RedisServerException>(() => queue.RecoverAsync())));
        }

        Assert.Equal(new QueueStats(0, 0, 0, 1, 1, 0, 0), await queue.GetStatsAsync());

        await RestrictToAsync(needs, queue.Keys);
        Assert.Equal(1, await queue.PromoteDueAsync());
        Assert.Equal(new RecoveryResult(1, 0, 1), await queue.RecoverAsync());
        Assert.Equal(["d1", "m1"], (await queue.LeaseAsync("a", 10)).Select(Text).Order());
        Assert.Equal(new QueueStats(0, 0, 0, 0, 2, 0, 1), await queue.GetStatsAsync());
    }

    // The default user keeps its password and the client's handshake; its commands are exactly the needs, each on its key.
    private Task RestrictToAsync(IEnumerable<RedisCommandNeed> needs, QueueKeys keys)
    {
        var selectors = needs.GroupBy(n => (string)n.Key!).Select(g => $"({string.Join(' ', g.Select(n => "+" + n.Command.ToLowerInvariant()))} ~{g.Key})");
        // Scripts are checked against their declared keys first, then each call inside against the selectors.
        string[] user = ["default", "reset", "on", ">" + Password, "resetchannels", "&__Booksleeve_MasterChanged", "~" + keys.Prefix + "*"];
        string[] client = ["+auth", "+ping", "+echo", "+info", "+client|setname", "+subscribe", "+unsubscribe", "+evalsha", "+script|load"];
        return Cli(s_admin, ["ACL", "SETUSER", .. user, .. client, .. selectors]);
    }

    private RedisMessageQueue CreateQueue() =>
        new(_connection, Options.Create(new QueueOptions { Name = RedisFixture.UniqueQueueName(), ConsumerTimeout = TimeSpan.FromSeconds(10) }), _time);

    private async Task Cli(string[] user, params string[] command)
    {
        var result = await ExternalTool.RunAsync(
            "redis-cli",
            ["-p", _server.Port.ToString(CultureInfo.InvariantCulture), "--no-auth-warning", .. user, .. command],
            "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0 && result.Output.Trim() == "OK", result.ToString());
    }

    private static QueueMessage Message(string payload, Priority priority = Priority.Normal, DateTimeOffset? notBefore = null) =>
        new(Encoding.UTF8.GetBytes(payload), priority, notBefore);

    private static AckItem Ack(LeasedMessage message) => new(message.LeaseId, Text(message));

    private static string Text(LeasedMessage message) => Encoding.UTF8.GetString(message.Payload.Span);
}
