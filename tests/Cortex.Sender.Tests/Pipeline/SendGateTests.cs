using Cortex.Sender.Pipeline;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// The gate's wait before each send after a throttled answer: every pause ends with one probe, and the other workers go
/// only once the gateway has taken a send again. A fake clock ends the pauses.
/// </summary>
public sealed class SendGateTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public async Task WaitToSendAsync_NeverThrottled_LetsEveryWorkerGoAtOnceAndNoneProbes()
    {
        var gate = new SendGate(_clock);

        var waits = Enumerable.Range(0, 8).Select(_ => gate.WaitToSendAsync(CancellationToken.None)).ToArray();

        Assert.All(await Task.WhenAll(waits).WaitAsync(s_timeout), probe => Assert.False(probe));
    }

    [Fact]
    public async Task WaitToSendAsync_ThrottlePauseEnds_OneWorkerProbesAndTheOthersGoWhenItIsAccepted()
    {
        var gate = new SendGate(_clock);
        gate.Throttled(TimeSpan.FromSeconds(1));
        var waits = Enumerable.Range(0, 4).Select(_ => gate.WaitToSendAsync(CancellationToken.None)).ToList();

        _clock.Advance(TimeSpan.FromSeconds(1));

        var probe = await Task.WhenAny(waits).WaitAsync(s_timeout);
        Assert.True(await probe);
        waits.Remove(probe);
        Assert.All(waits, w => Assert.False(w.IsCompleted));

        gate.ThrottleProbeDone(throttleOver: true);

        Assert.All(await Task.WhenAll(waits).WaitAsync(s_timeout), p => Assert.False(p));
        Assert.False(await gate.WaitToSendAsync(CancellationToken.None).WaitAsync(s_timeout));
    }

    [Fact]
    public async Task WaitToSendAsync_ProbeThrottledAgain_TheNextPauseEndsWithAnotherSingleProbe()
    {
        var gate = new SendGate(_clock);
        gate.Throttled(TimeSpan.FromSeconds(1));
        var first = gate.WaitToSendAsync(CancellationToken.None);
        var second = gate.WaitToSendAsync(CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var probe = await Task.WhenAny(first, second).WaitAsync(s_timeout);
        var waiting = probe == first ? second : first;
        Assert.True(await probe);

        // The probe's answer is another 429: the engine pauses, then reports.
        gate.Throttled(TimeSpan.FromSeconds(2));
        gate.ThrottleProbeDone(throttleOver: false);
        var third = gate.WaitToSendAsync(CancellationToken.None);

        _clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        Assert.False(waiting.IsCompleted);
        Assert.False(third.IsCompleted);

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var next = await Task.WhenAny(waiting, third).WaitAsync(s_timeout);
        Assert.True(await next);
        Assert.False((next == waiting ? third : waiting).IsCompleted);
    }

    [Fact]
    public async Task WaitToSendAsync_ProbeEndsWithoutAnAnswer_AnotherWorkerProbesAtOnce()
    {
        var gate = new SendGate(_clock);
        gate.Throttled(TimeSpan.FromSeconds(1));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await gate.WaitToSendAsync(CancellationToken.None).WaitAsync(s_timeout));
        var waiting = gate.WaitToSendAsync(CancellationToken.None);

        // A timeout, a 5xx or a shutdown: nothing says the provider sends again, and nothing pauses.
        gate.ThrottleProbeDone(throttleOver: false);

        Assert.True(await waiting.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task WaitToSendAsync_CancelledWhileWaitingForTheProbe_Throws()
    {
        var gate = new SendGate(_clock);
        gate.Throttled(TimeSpan.FromSeconds(1));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await gate.WaitToSendAsync(CancellationToken.None).WaitAsync(s_timeout));
        using var cts = new CancellationTokenSource();
        var waiting = gate.WaitToSendAsync(cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(s_timeout));
    }
}
