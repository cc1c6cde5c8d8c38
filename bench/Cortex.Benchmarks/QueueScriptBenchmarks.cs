using BenchmarkDotNet.Attributes;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Benchmarks;

/// <summary>
/// The queue's hot scripts against a real redis-server, per message: Lease (ready list to lease hash), Claim (the send
/// claim on each id) and Ack (lease released, id marked sent), in batches of <see cref="BatchSize"/>.
/// </summary>
/// <remarks>
/// Every invocation moves <see cref="MessagesPerInvoke"/> messages in calls of BatchSize, so every row reads per
/// message. An iteration is a fixed <see cref="InvocationsPerIteration"/> invocations, and the [IterationSetup] before
/// it, which is not timed and whose allocations are not counted, puts the queue in the state the script expects:
/// exactly enough ready messages to lease, or leased (and claimed) messages to claim (or ack). Refilling inside the
/// benchmark would time LPUSH instead of the script, and a huge backlog set up once would let the lease hash and the
/// sent keys grow across iterations.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(InvocationsPerIteration)]
public class QueueScriptBenchmarks
{
    public const int MessagesPerInvoke = 100;
    public const int InvocationsPerIteration = 50;
    public const int MessagesPerIteration = MessagesPerInvoke * InvocationsPerIteration;

    private const string Consumer = "bench-consumer";

    private ConnectionMultiplexer? _redis;
    private RedisMessageQueue? _queue;
    private AckItem[][] _batches = [];
    private int _nextBatch;
    private int _nextId;
    private RedisKey[] _sentKeys = [];

    [Params(1, 10, 100)]
    public int BatchSize { get; set; } = 100;

    /// <summary>Overrides CORTEX_BENCH_REDIS (the wiring test's own server).</summary>
    internal string? RedisAddress { get; set; }

    internal RedisMessageQueue Queue => _queue ?? throw new InvalidOperationException("GlobalSetup has not run");

    internal static string ConsumerId => Consumer;

    [GlobalSetup]
    public void GlobalSetup()
    {
        _redis = BenchRedis.Connect(RedisAddress);
        var options = Options.Create(new QueueOptions { Name = BenchRedis.UniqueName("bench") });
        _queue = new RedisMessageQueue(_redis, options, TimeProvider.System);
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        if (_redis is null)
        {
            return;
        }

        ResetQueue();
        _redis.Dispose();
    }

    [IterationSetup(Target = nameof(Lease))]
    public void FillReady()
    {
        ResetQueue();
        EnqueueAsync(MessagesPerIteration).GetAwaiter().GetResult();
    }

    [IterationSetup(Target = nameof(Claim))]
    public void LeaseForClaim()
    {
        ResetQueue();
        EnqueueAsync(MessagesPerIteration).GetAwaiter().GetResult();
        _batches = LeaseAllAsync().GetAwaiter().GetResult();
    }

    [IterationSetup(Target = nameof(Ack))]
    public void LeaseAndClaimForAck()
    {
        LeaseForClaim();
        foreach (var batch in _batches)
        {
            Queue.ClaimAsync(Consumer, batch).GetAwaiter().GetResult();
        }
    }

    /// <summary>One Lease script per batch; returns how many messages were leased (MessagesPerInvoke when wired right).</summary>
    [Benchmark(OperationsPerInvoke = MessagesPerInvoke)]
    public async Task<int> Lease()
    {
        var leased = 0;
        for (var i = 0; i < MessagesPerInvoke / BatchSize; i++)
        {
            leased += (await Queue.LeaseAsync(Consumer, BatchSize)).Count;
        }

        return leased;
    }

    /// <summary>One Claim script per batch of leased ids; returns how many ids this lease now holds.</summary>
    [Benchmark(OperationsPerInvoke = MessagesPerInvoke)]
    public async Task<int> Claim()
    {
        var claimed = 0;
        for (var i = 0; i < MessagesPerInvoke / BatchSize; i++)
        {
            foreach (var result in await Queue.ClaimAsync(Consumer, _batches[_nextBatch++]))
            {
                claimed += result == ClaimResult.Claimed ? 1 : 0;
            }
        }

        return claimed;
    }

    /// <summary>One Ack script per batch of claimed leases; returns how many leases were already gone (0 when wired right).</summary>
    [Benchmark(OperationsPerInvoke = MessagesPerInvoke)]
    public async Task<int> Ack()
    {
        var lost = 0;
        for (var i = 0; i < MessagesPerInvoke / BatchSize; i++)
        {
            lost += await Queue.AckAsync(Consumer, _batches[_nextBatch++]);
        }

        return lost;
    }

    /// <summary>Deletes every key the previous iteration wrote, so each iteration starts from an empty queue.</summary>
    private void ResetQueue()
    {
        var keys = Queue.Keys;
        RedisKey[] fixedKeys =
        [
            keys.ReadyHigh, keys.ReadyNormal, keys.ReadyLow, keys.Delayed, keys.Dead, keys.Consumers, keys.LeaseSequence,
            keys.Leases(Consumer), keys.LastLease(Consumer),
        ];
        var db = _redis!.GetDatabase();
        db.KeyDelete(fixedKeys);
        if (_sentKeys.Length > 0)
        {
            db.KeyDelete(_sentKeys);
        }

        _sentKeys = [];
        _batches = [];
        _nextBatch = 0;
    }

    private async Task EnqueueAsync(int count)
    {
        var messages = new QueueMessage[count];
        _sentKeys = new RedisKey[count];
        for (var i = 0; i < count; i++)
        {
            var id = "billing:" + _nextId++ + ":D-3:2026-11-25";
            _sentKeys[i] = Queue.Keys.Sent(id);
            messages[i] = new QueueMessage(EnvelopeCodec.Serialize(Samples.Text(id)), Priority.Normal);
        }

        await Queue.EnqueueAsync(messages);
    }

    // Leases everything ready and cuts it into the batches the measured calls take, in lease order.
    private async Task<AckItem[][]> LeaseAllAsync()
    {
        var items = new List<AckItem>(MessagesPerIteration);
        while (items.Count < MessagesPerIteration)
        {
            var leased = await Queue.LeaseAsync(Consumer, 1000);
            if (leased.Count == 0)
            {
                throw new InvalidOperationException($"only {items.Count} of {MessagesPerIteration} messages could be leased");
            }

            foreach (var message in leased)
            {
                var envelope = EnvelopeCodec.Parse(message.Payload.Span).Envelope
                    ?? throw new InvalidOperationException("the benchmark's own envelope did not parse");
                items.Add(new AckItem(message.LeaseId, envelope.Id));
            }
        }

        return [.. items.Chunk(BatchSize)];
    }
}
