using Cortex.LoadTests.Load;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Load;

/// <summary>The sampler behind scenario 1's RSS checks: a run that read no RSS must show none, not a peak of 0 MB that passes any ceiling.</summary>
public class SamplerTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task PeakRss_NoSenderSampled_IsNoneRatherThanZero()
    {
        await using var context = await LoadContext.ConnectAsync(redis.Server.Configuration, string.Empty, string.Empty, LoadProfile.Smoke, TextWriter.Null);
        var (queue, _) = context.NewQueue("sampler");
        var sampler = new Sampler(queue, () => []);

        // Disposing waits for the sampling loop, which takes its first sample before it waits for a tick.
        await sampler.DisposeAsync();

        Assert.NotEmpty(sampler.Samples(new MessageLedger(1), 0, 0));
        Assert.Null(sampler.PeakRssMb);
        Assert.Empty(sampler.RssBetween(0, long.MaxValue));
    }
}
