using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Cortex.LoadTests;
using Cortex.LoadTests.Chaos;
using Cortex.LoadTests.Load;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// How K1 and K7 tell a repeat a kill explains from a duplicate Cortex made: by which process the gateway accepted each
/// copy from, read after the run, never by a settling time after the kill. And how K5c tells a late answer's repeat from
/// one Cortex made.
/// </summary>
public class KillAccountingTests
{
    [Fact]
    public void RepeatsOutside_CopiesNoCutSendExplains_AreCounted()
    {
        var ledger = new MessageLedger(4);
        Accept(ledger, 0, times: 1);
        Accept(ledger, 1, times: 2);
        Accept(ledger, 2, times: 3);
        Accept(ledger, 3, times: 2);

        // 1 was cut at one kill, 2 at two kills: their repeats are explained; 3 was never cut, so its second copy is not.
        Assert.Equal(1, ProcessFaults.RepeatsOutside(ledger, 4, [[1, 2], [2]]));

        // Cut at one kill only, 2's third copy is a duplicate too.
        Assert.Equal(2, ProcessFaults.RepeatsOutside(ledger, 4, [[1, 2]]));
    }

    [Fact]
    public void RepeatsElsewhere_RepeatBeyondTheLateOnes_ExplainedOnlyWhenTheSenderNamedIt()
    {
        // K5c: the stand-in saw 0 and 1 taken late once. A CI run also had repeats it could not see (an answer given in
        // time that reached the starved sender after its timeout): allowed only for a message the sender named (2003).
        var ledger = new MessageLedger(5);
        Accept(ledger, 0, times: 2);
        Accept(ledger, 1, times: 1);
        Accept(ledger, 2, times: 2);
        Accept(ledger, 3, times: 2);
        Accept(ledger, 4, times: 1);
        var late = new Dictionary<int, int> { [0] = 1, [1] = 1 };

        // 1 was taken late but never resent; 3 repeated unnamed. 2 repeated named, 0 as seen, 4 once.
        Assert.Equal(2, GatewayFaults.RepeatsElsewhere(ledger, 5, late, Named(0, 1, 2)));

        // Named, 3's repeat is explained too; a message taken late must still repeat.
        Assert.Equal(1, GatewayFaults.RepeatsElsewhere(ledger, 5, late, Named(0, 1, 2, 3)));
    }

    [Fact]
    public void RepeatsElsewhere_MessageNamedOnceAndAcceptedFiveTimes_CountsIt()
    {
        // One call cut off explains one repeat. 0 was named once and accepted five times: four copies, three unexplained.
        // 1 was named twice and repeated twice; 2 was taken late once and named once (the late call), and repeated twice.
        var ledger = new MessageLedger(3);
        Accept(ledger, 0, times: 5);
        Accept(ledger, 1, times: 3);
        Accept(ledger, 2, times: 3);
        var late = new Dictionary<int, int> { [2] = 1 };

        Assert.Equal(2, GatewayFaults.RepeatsElsewhere(ledger, 3, late, Named(0, 1, 1, 2)));

        // Named as often as they repeated, all are explained.
        Assert.Equal(0, GatewayFaults.RepeatsElsewhere(ledger, 3, late, Named(0, 0, 0, 0, 1, 1, 2, 2)));
    }

    [Fact]
    public async Task LoadGateway_RecordsSenders_TellsWhichInstanceEachAcceptanceCameFrom()
    {
        var ledger = new MessageLedger(10);
        await using var gateway = await LoadGateway.StartAsync(ledger);
        gateway.RecordsSenders = true;
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        var number = Workload.BillingReminder(5, TimeProvider.System.GetUtcNow(), new Random(1)).To.TrimStart('+');

        foreach (var instance in new[] { "k1-0", "k1-1", "k1-1" })
        {
            using var response = await http.PostAsJsonAsync($"message/sendText/{instance}", new { number, text = "hello" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        Assert.Equal(3, ledger.AcceptCount(5));
        Assert.Equal(1, gateway.AcceptedBy(5, "k1-0"));
        Assert.Equal(2, gateway.AcceptedBy(5, "k1-1"));
        Assert.Equal(0, gateway.AcceptedBy(5, "k1-2"));
        Assert.Equal(0, gateway.AcceptedBy(4, "k1-0"));
    }

    /// <summary>The sender's unanswered events (2003) as <see cref="LoadContext.WorkloadIndexCounts"/> reads them: one per index given.</summary>
    private static Dictionary<int, int> Named(params int[] indices) => LoadContext.WorkloadIndexCounts(indices.Select(i => $"q:{i}"));

    private static void Accept(MessageLedger ledger, int index, int times)
    {
        for (var i = 0; i < times; i++)
        {
            ledger.Accept(index, Stopwatch.GetTimestamp());
        }
    }
}
