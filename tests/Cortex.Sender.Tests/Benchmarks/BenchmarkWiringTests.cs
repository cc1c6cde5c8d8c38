using System.Reflection;
using BenchmarkDotNet.Attributes;
using Cortex.Benchmarks;
using Cortex.Sender.RateLimiting;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Benchmarks;

/// <summary>
/// bench/Cortex.Benchmarks measures what its names say: each benchmark's setup and one invocation, against a real
/// redis-server, did the work it claims (so a table row never times an empty queue or a failed parse). Nothing is timed.
/// Setups block on Redis calls, as BenchmarkDotNet's synchronous [GlobalSetup]/[IterationSetup] must; they run on the
/// thread pool here, as in BenchmarkDotNet, not on xunit's synchronization context, where blocking on StackExchange.Redis
/// 1.2.6's continuations deadlocks.
/// </summary>
public sealed class BenchmarkWiringTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private string Address => "127.0.0.1:" + redis.Server.Port;

    [Fact]
    public void EveryBenchmarkClass_ReportsAllocations()
    {
        var classes = typeof(EnvelopeBenchmarks).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            .ToList();

        Assert.Equal(7, classes.Count);
        Assert.All(classes, c => Assert.NotNull(c.GetCustomAttribute<MemoryDiagnoserAttribute>()));
    }

    [Fact]
    public void EnvelopeBenchmarks_ParseAcceptsTheGoodEnvelopesAndRejectsTheBadOnes()
    {
        var bench = new EnvelopeBenchmarks();

        Assert.Equal("billing_reminder", bench.ParseText().Envelope?.Kind);
        Assert.Equal("black_friday_2026", bench.ParseTemplate().Envelope?.Template?.Name);
        var malformed = bench.ParseMalformed();
        Assert.Null(malformed.Envelope);
        Assert.StartsWith("invalid JSON", malformed.Error?.Message, StringComparison.Ordinal);
        var invalid = bench.ParseInvalid();
        Assert.Null(invalid.Envelope);
        Assert.Equal("to", invalid.Error?.Field);
        Assert.Equal(new EnvelopeError("version", "must be a whole number"), bench.ParseWrongType().Error);
        Assert.Equal(new EnvelopeError("to", "invalid JSON: a property appears twice"), bench.ParseDuplicate().Error);
        Assert.Contains("is invalid within a JSON string", bench.ParseSyntaxError().Error?.Message, StringComparison.Ordinal);
        Assert.Equal("billing:4711:D-3:2026-11-25", EnvelopeCodec.Parse(bench.SerializeText()).Envelope?.Id);
        Assert.Equal("pt_BR", EnvelopeCodec.Parse(bench.SerializeTemplate()).Envelope?.Template?.Language);
    }

    [Theory]
    [InlineData("envelope")]
    [InlineData("16k text")]
    [InlineData("60k control")]
    public void DeadLetterEntryBenchmarks_BothFormsHoldTheSameEntryAndPayload(string payload)
    {
        var bench = new DeadLetterEntryBenchmarks { Payload = payload };
        bench.Setup();

        var json = DeadLetterEntry.FromJson(bench.JsonForm());
        var stored = DeadLetterEntry.FromJson(bench.StoredForm());

        Assert.NotNull(json);
        Assert.Equal(json, stored);
        Assert.Equal(DeadLetterReasons.InvalidEnvelope, stored!.Reason);
        Assert.True(stored.PayloadBytes().Length >= 100, "the benchmark dead-letters a real payload");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(100)]
    public async Task QueueScriptBenchmarks_OneInvocation_LeasesClaimsAndAcksOneHundredMessages(int batchSize)
    {
        var bench = new QueueScriptBenchmarks { BatchSize = batchSize, RedisAddress = Address };
        await Task.Run(bench.GlobalSetup);
        var db = redis.Connection.GetDatabase();
        var keys = bench.Queue.Keys;
        var leases = keys.Leases(QueueScriptBenchmarks.ConsumerId);
        const int perInvoke = QueueScriptBenchmarks.MessagesPerInvoke;
        const int perIteration = QueueScriptBenchmarks.MessagesPerIteration;

        await Task.Run(bench.FillReady);
        Assert.Equal(perIteration, await db.ListLengthAsync(keys.ReadyNormal));
        Assert.Equal(perInvoke, await bench.Lease());
        Assert.Equal(perInvoke, await db.HashLengthAsync(leases));
        Assert.Equal(perIteration - perInvoke, await db.ListLengthAsync(keys.ReadyNormal));

        // Each setup starts from an empty queue: the previous iteration's leases are gone, the new messages all leased.
        await Task.Run(bench.LeaseForClaim);
        Assert.Equal(0, await db.ListLengthAsync(keys.ReadyNormal));
        Assert.Equal(perIteration, await db.HashLengthAsync(leases));
        Assert.Equal(perInvoke, await bench.Claim());

        await Task.Run(bench.LeaseAndClaimForAck);
        Assert.Equal(0, await bench.Ack());
        Assert.Equal(perIteration - perInvoke, await db.HashLengthAsync(leases));
        // Ids are numbered across setups (5,000 each): the Ack setup's first message, the first one acked, is now sent.
        var firstAcked = "billing:" + (2 * perIteration) + ":D-3:2026-11-25";
        Assert.Equal(ClaimResult.AlreadySent, (await bench.Queue.ClaimAsync("someone-else", [new AckItem(1, firstAcked)]))[0]);

        await Task.Run(bench.GlobalCleanup);
        Assert.Empty(await redis.Connection.MatchingAsync("{" + keys.Name + "}*"));
    }

    [Fact]
    public async Task RateLimiterBenchmarks_GlobalRows_TakeTheirPermitsFromAFreshRedisBucket()
    {
        var bench = new RateLimiterBenchmarks { RedisAddress = Address };
        await Task.Run(bench.GlobalSetup);
        await Task.Run(bench.FreshLimiters);
        var first = bench.CurrentGateways;
        await Task.Run(bench.FreshLimiters);
        var names = bench.CurrentGateways;
        var db = redis.Connection.GetDatabase();

        await bench.NoLimit();
        await bench.PodBucket();
        await bench.GlobalReserved250();
        await bench.PodAndGlobalChained();

        // In order: none, pod, global 25,000/s, pod + global. Only the last two have a bucket in Redis, each started
        // full for this iteration and gave one reservation of 250 permits.
        Assert.Empty(first.Intersect(names));
        Assert.False(await db.KeyExistsAsync(RedisTokenBucketRateLimiter.KeyFor(names[0])));
        Assert.False(await db.KeyExistsAsync(RedisTokenBucketRateLimiter.KeyFor(names[1])));
        Assert.Equal(1_000_000 - 250, Tokens(names[2]));
        Assert.Equal(1_000_000 - 250, Tokens(names[3]));

        await Task.Run(bench.GlobalCleanup);
        Assert.False(await db.KeyExistsAsync(RedisTokenBucketRateLimiter.KeyFor(names[2])));

        double Tokens(string gateway) => Math.Floor((double)db.HashGet(RedisTokenBucketRateLimiter.KeyFor(gateway), "tokens"));
    }

    [Fact]
    public async Task GlobalRoundTripBenchmarks_EachAcquire_SpendsOnePermitOfTheRedisBucket()
    {
        var bench = new GlobalRoundTripBenchmarks { RedisAddress = Address };
        await Task.Run(bench.GlobalSetup);
        var db = redis.Connection.GetDatabase();

        await bench.GlobalRoundTripPerPermit();
        await bench.GlobalRoundTripPerPermit();

        Assert.Equal(1_000_000 - 2, Math.Floor((double)db.HashGet(RedisTokenBucketRateLimiter.KeyFor(bench.Gateway), "tokens")));
        await Task.Run(bench.GlobalCleanup);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    public async Task ChannelHandOffBenchmarks_OneInvocation_ReturnsOnlyOnceTheReadersTookEveryItem(int readers)
    {
        var bench = new ChannelHandOffBenchmarks { Readers = readers };
        bench.GlobalSetup();

        // The invocation's task completes when the reader that takes item 1,000 signals it; twice shows it resets.
        Assert.Equal(1, await bench.WriteAndRead().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, await bench.WriteAndRead().WaitAsync(TimeSpan.FromSeconds(30)));

        // Held with every item written and taken but the last not yet counted: an invocation that returned once its
        // writes were done (the channel holds 256, so the writer is done well before the readers) would return 2 here.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bench.LastItemGate = gate;
        var held = bench.WriteAndRead();
        await bench.LastItemTaken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        gate.SetResult();
        Assert.Equal(3, await held.WaitAsync(TimeSpan.FromSeconds(30)));

        bench.GlobalCleanup();
    }

    [Fact]
    public async Task PrometheusScrapeBenchmarks_Scrape_HoldsTheSenderQueueAndRuntimeSeries()
    {
        var bench = new PrometheusScrapeBenchmarks { RedisAddress = Address };
        await Task.Run(bench.GlobalSetup);

        var samples = PrometheusText.Parse(bench.Scrape());

        foreach (var kind in new[] { "billing_reminder", "conversation_follow_up", "campaign", "other" })
        {
            Assert.Equal(1_000, samples.Value("cortex_sender_sent_total", ("kind", kind)));
        }

        Assert.Equal(1_000, samples.Value("cortex_sender_send_duration_seconds_count", ("outcome", "accepted")));
        Assert.Equal(1, samples.Find("cortex_queue_depth").Single(s => s.Labels.GetValueOrDefault("priority") == "normal").Value);
        Assert.Contains(samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));
        await Task.Run(bench.GlobalCleanup);
    }
}
