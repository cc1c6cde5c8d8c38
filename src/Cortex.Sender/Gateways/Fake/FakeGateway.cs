using System.Collections.Concurrent;
using System.Globalization;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Gateways.Fake;

/// <summary>The built-in in-process gateway for the demo, tests and load tests: configurable latency and failure mix, and counters of what it accepted.</summary>
/// <remarks>
/// Built for the 25,000 msg/s path: one interlocked increment numbers each call and also seeds its fault dice (SplitMix64 of
/// seed and call number), so there is no lock and no shared <see cref="Random"/>. Permanent failures hash the recipient's digits,
/// so the same number always fails, like a number that is not on WhatsApp.
/// </remarks>
public sealed class FakeGateway : IWhatsAppGateway
{
    private const ulong Golden = 0x9E3779B97F4A7C15;

    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _latency;
    private readonly double _permanentRate;
    private readonly double _retryableRate;
    private readonly double _throttleRate;
    private readonly ulong _seed;
    private readonly ConcurrentDictionary<string, int> _acceptedById = new(Environment.ProcessorCount * 4, 1024, StringComparer.Ordinal);
    private long _calls;
    private int _accepted;
    private volatile Func<Envelope, GatewayResult?>? _override;

    public FakeGateway(IOptions<GatewayOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var gateway = options.Value;
        var fake = gateway.Fake;
        _timeProvider = timeProvider;
        _latency = fake.Latency;
        _permanentRate = fake.PermanentFailureRate;
        _retryableRate = fake.RetryableFailureRate;
        _throttleRate = fake.ThrottleRate;
        _seed = Mix(unchecked((ulong)fake.Seed));
        Name = "fake:" + gateway.Name;
        TrackAcceptedIds = fake.TrackAcceptedIds;
    }

    public string Name { get; }

    /// <summary>Calls answered so far, whatever the answer (a call cancelled during its latency is not counted).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Answers that were Accepted, duplicates included.</summary>
    public int AcceptedCount => Volatile.Read(ref _accepted);

    /// <summary>How many times each message id was accepted: exactly once each is the engine's promise.</summary>
    public IReadOnlyDictionary<string, int> AcceptedById => _acceptedById;

    /// <summary>
    /// Whether accepted ids are remembered (default true). Every id stays in memory, so a long load test that only needs
    /// <see cref="AcceptedCount"/> can turn this off.
    /// </summary>
    public bool TrackAcceptedIds { get; set; } = true;

    /// <summary>Scripts the answer per message for tests: a non-null result is returned as is (and counted); null falls back to the configured behaviour.</summary>
    public Func<Envelope, GatewayResult?>? Override
    {
        get => _override;
        set => _override = value;
    }

    /// <summary>Sends that were accepted more than once for the same id: the sum over ids of (count - 1).</summary>
    public int DuplicateCount()
    {
        var duplicates = 0;
        foreach (var pair in _acceptedById)
        {
            duplicates += pair.Value - 1;
        }

        return duplicates;
    }

    public Task<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();

        // No await when there is no latency: an instant gateway costs an increment and a completed task.
        return _latency > TimeSpan.Zero ? SendAfterLatencyAsync(message, cancellationToken) : Task.FromResult(Answer(message));
    }

    private async Task<GatewayResult> SendAfterLatencyAsync(Envelope message, CancellationToken cancellationToken)
    {
        await Task.Delay(_latency, _timeProvider, cancellationToken);
        return Answer(message);
    }

    private GatewayResult Answer(Envelope message)
    {
        var call = Interlocked.Increment(ref _calls);
        var result = _override?.Invoke(message) ?? Decide(message, call);
        if (result.Outcome == GatewayOutcome.Accepted)
        {
            Interlocked.Increment(ref _accepted);
            if (TrackAcceptedIds)
            {
                _acceptedById.AddOrUpdate(message.Id, 1, static (_, count) => count + 1);
            }
        }

        return result;
    }

    private GatewayResult Decide(Envelope message, long call)
    {
        if (_permanentRate > 0 && Unit(Mix(_seed ^ HashDigits(message.To))) < _permanentRate)
        {
            return GatewayResult.Permanent("number not on WhatsApp (simulated)");
        }

        if (_throttleRate > 0 || _retryableRate > 0)
        {
            // One draw per call split into bands: [0, throttle) throttled, [throttle, throttle + retryable) retryable.
            var dice = Unit(Mix(_seed + (unchecked((ulong)call) * Golden)));
            if (dice < _throttleRate)
            {
                return GatewayResult.Throttled("throttled (simulated)");
            }

            if (dice < _throttleRate + _retryableRate)
            {
                return GatewayResult.Retryable("transient fault (simulated)");
            }
        }

        return GatewayResult.Accepted("fake-" + call.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>FNV-1a over the digits of an E.164 number, ignoring the '+': stable across calls, processes and runs.</summary>
    private static ulong HashDigits(string phone)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in phone)
        {
            if (c != '+')
            {
                hash = unchecked((hash ^ c) * 1099511628211UL);
            }
        }

        return hash;
    }

    /// <summary>SplitMix64's finaliser: spreads any input over all 64 bits.</summary>
    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z += Golden;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>The top 53 bits as a double in [0, 1).</summary>
    private static double Unit(ulong x) => (x >> 11) * (1.0 / (1UL << 53));
}
