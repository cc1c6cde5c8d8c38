using Cortex.Sender.Tests.Gateways;
using Cortex.Shared.Contract;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

public sealed class SecretsInLogsTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const string ApiKey = "evo-key-7c1f9a2e5b";
    private const string Phone = "+5511987651234";

    [Fact]
    public async Task Send_GatewayEchoesKeyAndPhoneInErrors_NeitherReachesAnyLogLine()
    {
        await using var stub = await GatewayStub.StartAsync();
        // The worst case: a gateway whose error bodies quote our key and the full number back.
        stub.Answer(
            StubAnswer.Json(400, $$$"""{"status":400,"error":"Bad Request","response":{"message":["invalid apikey {{{ApiKey}}} for number 5511987651234"]}}"""),
            StubAnswer.Json(500, $$$"""{"status":500,"error":"Internal","response":{"message":"instance for 5511987651234 failed with key {{{ApiKey}}}"}}"""),
            StubAnswer.Json(401, $$$"""{"status":401,"error":"Unauthorized","response":{"message":"apikey {{{ApiKey}}} rejected"}}"""));
        var logs = new CapturedLogs();
        await using var host = SenderTestHost.Create(redis, overrides: new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Type"] = "Evolution",
            ["Cortex:Gateway:Evolution:BaseUrl"] = stub.BaseUrl.ToString(),
            ["Cortex:Gateway:Evolution:Instance"] = "billing",
            ["Cortex:Gateway:Evolution:ApiKey"] = ApiKey,
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "1",
        }, logs: logs);
        await host.Client.EnqueueBatchAsync(Enumerable.Range(0, 3).Select(i => new Envelope { Id = $"s{i}", To = Phone, Text = "Olá, sua fatura vence amanhã" }));

        await host.StartAsync();
        await SenderTestHost.WaitForAsync(() => Task.FromResult(stub.Requests.Count >= 3 && host.Gate.Pause.Until > TimeProvider.System.GetUtcNow()), "three answers, the last a 401 pausing sending");
        await host.StopAsync();

        // The refusals were logged with the provider's error text (event 2002), and the 401 as critical (1006).
        Assert.Equal(3, logs.Lines.Count(l => l.Contains("[2002]", StringComparison.Ordinal)));
        Assert.Contains(logs.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal) && l.Contains("[1006]", StringComparison.Ordinal));
        Assert.All(stub.Requests, r => Assert.Equal(ApiKey, r.Headers["apikey"]));
        Assert.DoesNotContain(ApiKey, logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("5511987651234", logs.All, StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.Contains("+55*******1234", StringComparison.Ordinal));

        // And nothing the operator reads later holds them either.
        var dead = await host.Queue.GetDeadLettersAsync();
        Assert.All(dead, d => Assert.DoesNotContain(ApiKey, d.LastError ?? string.Empty, StringComparison.Ordinal));
    }
}
