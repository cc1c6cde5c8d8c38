using Cortex.Sender.Gateways;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Gateways;

public sealed class GatewayLogTests : IDisposable
{
    private readonly CapturedLogs _logs = new();

    [Fact]
    public void Refused_AnAnswerWithoutAContentType_SaysSoInsteadOfPrintingNull()
    {
        // A proxy's bare 502 has no body and no Content-Type: the line read "answered HTTP 502 ((null)) for message …".
        var logger = _logs.CreateLogger("Cortex.Sender.Gateways.EvolutionGateway");

        GatewayLog.Refused(logger, "evolution", "charge-8812", 502, null, GatewayOutcome.Retryable, "http 502");
        GatewayLog.Refused(logger, "evolution", "charge-8813", 400, "application/json", GatewayOutcome.Permanent, "not on WhatsApp");

        var lines = _logs.Lines.ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Contains("[2002] ", l, StringComparison.Ordinal));
        Assert.Contains("[2002] evolution answered HTTP 502 without a Content-Type for message charge-8812: Retryable http 502 | ", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("(null)", lines[0], StringComparison.Ordinal);
        Assert.Contains("[2002] evolution answered HTTP 400 (application/json) for message charge-8813: Permanent not on WhatsApp | ", lines[1], StringComparison.Ordinal);
        Assert.Contains("ContentType=application/json", lines[1], StringComparison.Ordinal);
    }

    public void Dispose() => _logs.Dispose();
}
