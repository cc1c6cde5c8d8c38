using System.Globalization;
using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Fake;
using Cortex.Shared.Contract;
using Cortex.Testing;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Gateways;

public sealed class FakeGatewayTests
{
    [Fact]
    public async Task SendAsync_NoFaultsConfigured_AcceptsWithProviderId()
    {
        var gateway = Create();

        var result = await gateway.SendAsync(Message("a"), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        Assert.NotNull(result.ProviderMessageId);
        Assert.Equal("fake:main", gateway.Name);
    }

    [Fact]
    public async Task SendAsync_SameNumberAgain_PermanentFailureIsStable()
    {
        var gateway = Create(f => f.PermanentFailureRate = 0.5);
        var numbers = Enumerable.Range(0, 500).Select(Number).ToArray();

        var first = new List<GatewayOutcome>();
        foreach (var number in numbers)
        {
            first.Add((await gateway.SendAsync(Message("first-" + number, number), CancellationToken.None)).Outcome);
        }

        // A second gateway (as after a restart) and other message ids: the same numbers fail.
        var again = Create(f => f.PermanentFailureRate = 0.5);
        for (var i = 0; i < numbers.Length; i++)
        {
            var outcome = (await again.SendAsync(Message("again-" + i, numbers[i]), CancellationToken.None)).Outcome;
            Assert.Equal(first[i], outcome);
        }

        Assert.Contains(GatewayOutcome.Permanent, first);
        Assert.Contains(GatewayOutcome.Accepted, first);
    }

    [Fact]
    public async Task SendAsync_TenThousandNumbers_PermanentShareMatchesRate()
    {
        // Binomial(n = 10,000, p = 0.1): mean 1,000, sd = sqrt(n p (1 - p)) = 30. The hash is deterministic, so this cannot
        // flake; ±150 (5 sd) still catches a biased hash or a rate applied per call instead of per number.
        var gateway = Create(f => f.PermanentFailureRate = 0.1);
        var permanent = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var result = await gateway.SendAsync(Message("m" + i, Number(i)), CancellationToken.None);
            permanent += result.Outcome == GatewayOutcome.Permanent ? 1 : 0;
        }

        Assert.InRange(permanent, 850, 1150);
    }

    [Fact]
    public async Task SendAsync_TenThousandCalls_RetryableAndThrottleSharesMatchRates()
    {
        // Per call, one number: retryable ~ Binomial(10,000, 0.2) sd 40, throttled ~ Binomial(10,000, 0.1) sd 30; ±5 sd.
        var gateway = Create(f =>
        {
            f.RetryableFailureRate = 0.2;
            f.ThrottleRate = 0.1;
        });
        var counts = new Dictionary<GatewayOutcome, int>();
        for (var i = 0; i < 10_000; i++)
        {
            var outcome = (await gateway.SendAsync(Message("m" + i), CancellationToken.None)).Outcome;
            counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
        }

        Assert.InRange(counts.GetValueOrDefault(GatewayOutcome.Retryable), 1800, 2200);
        Assert.InRange(counts.GetValueOrDefault(GatewayOutcome.Throttled), 850, 1150);
        Assert.Equal(counts.GetValueOrDefault(GatewayOutcome.Accepted), gateway.AcceptedCount);
        Assert.Equal(10_000, gateway.Calls);
    }

    [Fact]
    public async Task SendAsync_SameSeed_RepeatsTheSameFaultSequence()
    {
        static async Task<string> RunAsync(int seed)
        {
            var gateway = Create(f =>
            {
                f.RetryableFailureRate = 0.3;
                f.ThrottleRate = 0.2;
                f.Seed = seed;
            });
            var outcomes = new List<char>();
            for (var i = 0; i < 200; i++)
            {
                outcomes.Add((await gateway.SendAsync(Message("m" + i), CancellationToken.None)).Outcome.ToString()[0]);
            }

            return new string([.. outcomes]);
        }

        Assert.Equal(await RunAsync(7), await RunAsync(7));
        Assert.NotEqual(await RunAsync(7), await RunAsync(8));
    }

    [Fact]
    public async Task SendAsync_SameIdTwice_CountedAsDuplicate()
    {
        var gateway = Create();

        foreach (var id in new[] { "a", "b", "a", "c" })
        {
            await gateway.SendAsync(Message(id), CancellationToken.None);
        }

        Assert.Equal(4, gateway.Calls);
        Assert.Equal(4, gateway.AcceptedCount);
        Assert.Equal(2, gateway.AcceptedById["a"]);
        Assert.Equal(1, gateway.AcceptedById["b"]);
        Assert.Equal(3, gateway.AcceptedById.Count);
        Assert.Equal(1, gateway.DuplicateCount());
    }

    [Fact]
    public async Task SendAsync_ManyThreads_EveryIdAcceptedExactlyOnce()
    {
        var gateway = Create();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                await gateway.SendAsync(Message($"{worker}-{i}"), CancellationToken.None);
            }
        })));

        Assert.Equal(80_000, gateway.Calls);
        Assert.Equal(80_000, gateway.AcceptedCount);
        Assert.Equal(80_000, gateway.AcceptedById.Count);
        Assert.Equal(0, gateway.DuplicateCount());
    }

    [Fact]
    public async Task SendAsync_Override_ScriptsAnswerPerMessageAndFallsBackOnNull()
    {
        var gateway = Create();
        gateway.Override = m => m.Id == "flaky" ? GatewayResult.Retryable("scripted") : null;

        var flaky = await gateway.SendAsync(Message("flaky"), CancellationToken.None);
        var normal = await gateway.SendAsync(Message("normal"), CancellationToken.None);

        Assert.Equal(GatewayResult.Retryable("scripted"), flaky);
        Assert.Equal(GatewayOutcome.Accepted, normal.Outcome);
        Assert.Equal(2, gateway.Calls);
        Assert.Equal(1, gateway.AcceptedCount);
        Assert.False(gateway.AcceptedById.ContainsKey("flaky"));
    }

    [Fact]
    public async Task SendAsync_OverrideAccepts_CountedLikeAnyAcceptance()
    {
        var gateway = Create(f => f.PermanentFailureRate = 1);
        gateway.Override = _ => GatewayResult.Accepted("scripted-id");

        var result = await gateway.SendAsync(Message("x"), CancellationToken.None);

        Assert.Equal("scripted-id", result.ProviderMessageId);
        Assert.Equal(1, gateway.AcceptedById["x"]);
    }

    [Fact]
    public async Task SendAsync_Latency_CompletesOnlyWhenTheFakeClockAdvances()
    {
        var clock = new FakeTimeProvider();
        var gateway = Create(f => f.Latency = TimeSpan.FromMilliseconds(250), clock);

        var send = gateway.SendAsync(Message("slow"), CancellationToken.None);
        Assert.False(send.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(249));
        Assert.False(send.IsCompleted);
        Assert.Equal(0, gateway.Calls);
        clock.Advance(TimeSpan.FromMilliseconds(1));

        var result = await send;
        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        Assert.Equal(1, gateway.AcceptedCount);
    }

    [Fact]
    public async Task SendAsync_CancelledDuringLatency_ThrowsAndCountsNothing()
    {
        var clock = new FakeTimeProvider();
        var gateway = Create(f => f.Latency = TimeSpan.FromSeconds(1), clock);
        using var cts = new CancellationTokenSource();

        var send = gateway.SendAsync(Message("slow"), cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        Assert.Equal(0, gateway.Calls);
        Assert.Equal(0, gateway.AcceptedCount);
    }

    [Fact]
    public async Task SendAsync_ZeroLatency_CompletesSynchronously()
    {
        var gateway = Create(clock: new FakeTimeProvider());

        var send = gateway.SendAsync(Message("fast"), CancellationToken.None);

        Assert.True(send.IsCompletedSuccessfully);
        Assert.Equal(GatewayOutcome.Accepted, (await send).Outcome);
    }

    [Fact]
    public async Task SendAsync_TrackingOff_CountsWithoutRememberingIds()
    {
        var gateway = Create();
        gateway.TrackAcceptedIds = false;

        await gateway.SendAsync(Message("a"), CancellationToken.None);

        Assert.Equal(1, gateway.AcceptedCount);
        Assert.Empty(gateway.AcceptedById);
    }

    private static FakeGateway Create(Action<FakeGatewayOptions>? configure = null, TimeProvider? clock = null)
    {
        var options = new GatewayOptions();
        configure?.Invoke(options.Fake);
        return new FakeGateway(Options.Create(options), clock ?? TimeProvider.System);
    }

    private static string Number(int i) => "+55119" + (10_000_000 + i).ToString(CultureInfo.InvariantCulture);

    private static Envelope Message(string id, string to = "+5511999999999") => new() { Id = id, To = to, Text = "oi" };
}
