using Cortex.LoadTests.Load;
using Cortex.Shared.Contract;

namespace Cortex.LoadTests.Tests.Load;

/// <summary>The bad-input generator against the real codec: every payload refused with the detail the scenario expects.</summary>
public class MalformedEnvelopesTests
{
    [Fact]
    public void Generate_TenThousand_EveryPayloadRefusedWithItsExpectedDetail()
    {
        var generated = MalformedEnvelopes.Generate(10_000, 5, seed: 11);

        var wrong = generated
            .Select(m => (m, Error: EnvelopeCodec.Parse(m.Payload).Error?.ToString()))
            .Where(x => x.Error is null || !x.Error.Contains(x.m.ExpectedDetail, StringComparison.Ordinal))
            .Select(x => $"#{x.m.Number} {x.m.Category}: expected '{x.m.ExpectedDetail}', got '{x.Error ?? "accepted"}'")
            .Take(20)
            .ToList();
        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
        Assert.Equal(MalformedEnvelopes.Categories.Order(), generated.Select(m => m.Category).Distinct().Order());
        Assert.Equal(5, generated.Count(m => m.Category == MalformedEnvelopes.MegabytePayloads));
        Assert.All(generated.Where(m => m.Category == MalformedEnvelopes.MegabytePayloads), m => Assert.InRange(m.Payload.Length, 1_000_000, 1_100_000));
    }

    [Fact]
    public void Generate_SameSeed_SameBytesAndEachPayloadNamesItsNumber()
    {
        var first = MalformedEnvelopes.Generate(500, 1, seed: 3);
        var second = MalformedEnvelopes.Generate(500, 1, seed: 3);

        Assert.Equal(first.Select(m => m.Payload), second.Select(m => m.Payload));
        Assert.All(first, m => Assert.Equal(m.Number, MalformedEnvelopes.NumberOf(m.Payload)));
    }
}
