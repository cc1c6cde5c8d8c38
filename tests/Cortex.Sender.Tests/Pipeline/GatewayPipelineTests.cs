using Cortex.Sender.Gateways;
using Cortex.Sender.Resilience;
using Cortex.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>The gateway pipeline as the sender builds it: its short retries, and the caller's say over them.</summary>
public sealed class GatewayPipelineTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SendAsync_CallerNoLongerMayRepeatTheSend_FailureReturnedWithoutAShortRetry()
    {
        // A send cut off by its timeout after the pod stood still past the consumer timeout: the gateway may have taken it,
        // and another pod may be sending it now. The sender's own retry schedule asks Redis first; a short retry would not.
        var gateway = new ScriptedGateway(_ => GatewayResult.Retryable("HTTP 503"));
        await using var host = SenderTestHost.Create(redis, gateway, new Dictionary<string, string?>
        {
            ["Cortex:Resilience:ShortRetries"] = "2",
            ["Cortex:Resilience:ShortRetryDelay"] = "00:00:00",
        });
        var pipeline = host.Host.Services.GetRequiredService<GatewayPipeline>();

        var refused = await pipeline.SendAsync(SenderTestHost.Message("in-doubt"), () => false, CancellationToken.None);
        var allowed = await pipeline.SendAsync(SenderTestHost.Message("held"), () => true, CancellationToken.None);
        var unasked = await pipeline.SendAsync(SenderTestHost.Message("plain"), null, CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, refused.Outcome);
        Assert.Equal(1, gateway.CallsFor("in-doubt"));
        Assert.Equal(GatewayOutcome.Retryable, allowed.Outcome);
        Assert.Equal(3, gateway.CallsFor("held"));
        Assert.Equal(GatewayOutcome.Retryable, unasked.Outcome);
        Assert.Equal(3, gateway.CallsFor("plain"));
    }
}
