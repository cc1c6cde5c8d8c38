using System.Text;
using BenchmarkDotNet.Attributes;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Benchmarks;

/// <summary>
/// What the sender builds to dead-letter one payload: the JSON form, the payload decoded and escaped inside the entry
/// (what the sender wrote before 2026-12-05, still what <c>ToJson</c> writes), against the stored form, a header line and
/// the payload's bytes as they are (<c>ToStored</c>, what it writes now). The payloads are the bad input's: an envelope
/// with a bad recipient, one whose text is 16,000 characters (load scenario 7's huge strings average 16 KB), and
/// 60,000 control characters (each one escaped as six bytes in JSON).
/// </summary>
[MemoryDiagnoser]
public class DeadLetterEntryBenchmarks
{
    private static readonly DateTimeOffset s_deadAt = DateTimeOffset.Parse("2026-11-22T09:00:01+00:00", System.Globalization.CultureInfo.InvariantCulture);

    private byte[] _payload = [];
    private DeadLetterEntry _header = null!;

    [Params("envelope", "16k text", "60k control")]
    public string Payload { get; set; } = "envelope";

    [GlobalSetup]
    public void Setup()
    {
        _payload = Payload switch
        {
            "envelope" => Samples.Invalid(),
            "16k text" => EnvelopeCodec.Serialize(Samples.Text("billing:4711:D-3:2026-11-25") with { Text = new string('a', 16_000) }),
            _ => Encoding.UTF8.GetBytes(new string('\u0001', 60_000)),
        };
        _header = new DeadLetterEntry { Reason = DeadLetterReasons.InvalidEnvelope, Detail = "to: must be an E.164 number", DeadAt = s_deadAt, Deliveries = 1 };
    }

    [Benchmark(Baseline = true)]
    public byte[] JsonForm() => (DeadLetterEntry.Create(_header.Reason, _header.Detail, _payload, s_deadAt) with { Deliveries = 1 }).ToJson();

    [Benchmark]
    public byte[] StoredForm() => _header.ToStored(_payload);
}
