using System.Diagnostics;
using Cortex.LoadTests.Load;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Load;

/// <summary>The harness's own accounting: a run that lost or duplicated a message must fail, and dead letters are matched to their messages.</summary>
public class LoadContextTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Audit_OneLostAndOneDuplicated_FailsNamingBoth()
    {
        await using var context = await LoadContext.ConnectAsync(redis.Server.Configuration, string.Empty, string.Empty, LoadProfile.Smoke, TextWriter.Null);
        var (queue, _) = context.NewQueue("audit");
        var ledger = new MessageLedger(3);
        await using var gateway = await LoadGateway.StartAsync(ledger);
        ledger.Accept(0, Stopwatch.GetTimestamp());
        ledger.Accept(0, Stopwatch.GetTimestamp());
        ledger.Accept(2, Stopwatch.GetTimestamp());

        var checks = await LoadContext.AuditAsync(ledger, 0, 3, queue, gateway);

        var delivery = checks.Single(c => c.Name == "every message accepted once or dead-lettered");
        Assert.False(delivery.Passed);
        Assert.Contains("lost 1 · duplicates 1", delivery.Measured, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_RepeatsWithUnansweredCalls_PassOnlyWhenEveryRepeatedMessageWasNamed()
    {
        // Load scenario 4 cuts gateway calls off: a message the stand-in took but answered after the timeout is sent
        // again. That repeat is allowed for a message whose call the sender named unanswered, and for no other.
        await using var context = await LoadContext.ConnectAsync(redis.Server.Configuration, string.Empty, string.Empty, LoadProfile.Smoke, TextWriter.Null);
        var (queue, _) = context.NewQueue("unanswered");
        var ledger = new MessageLedger(3);
        await using var gateway = await LoadGateway.StartAsync(ledger);
        foreach (var index in new[] { 0, 0, 1, 2, 2 })
        {
            ledger.Accept(index, Stopwatch.GetTimestamp());
        }

        const string Name = "every message accepted once or dead-lettered; a repeat only after its call was cut off";
        var oneNamed = (await LoadContext.AuditAsync(ledger, 0, 3, queue, gateway, unanswered: ["q:0", "q:1"])).Single(c => c.Name == Name);
        var bothNamed = (await LoadContext.AuditAsync(ledger, 0, 3, queue, gateway, unanswered: ["q:0", "q:2", "q:2"])).Single(c => c.Name == Name);
        var strict = (await LoadContext.AuditAsync(ledger, 0, 3, queue, gateway)).Single(c => c.Name == "every message accepted once or dead-lettered");

        Assert.False(oneNamed.Passed);
        Assert.Contains("duplicates 2 (1 of them unexplained; 2 gateway calls named unanswered)", oneNamed.Measured, StringComparison.Ordinal);
        Assert.True(bothNamed.Passed, bothNamed.Measured);
        Assert.Contains("lost 0 · duplicates 2 (0 of them unexplained; 3 gateway calls named unanswered)", bothNamed.Measured, StringComparison.Ordinal);
        Assert.False(strict.Passed);
    }

    [Fact]
    public async Task Audit_MessageCutOffOnceAndAcceptedFiveTimes_Fails()
    {
        // Each repeat needs a call of its own that the sender cut off: one named call explains one repeat, not four.
        await using var context = await LoadContext.ConnectAsync(redis.Server.Configuration, string.Empty, string.Empty, LoadProfile.Smoke, TextWriter.Null);
        var (queue, _) = context.NewQueue("cutonce");
        var ledger = new MessageLedger(2);
        await using var gateway = await LoadGateway.StartAsync(ledger);
        foreach (var index in new[] { 0, 0, 0, 0, 0, 1 })
        {
            ledger.Accept(index, Stopwatch.GetTimestamp());
        }

        const string Name = "every message accepted once or dead-lettered; a repeat only after its call was cut off";
        var namedOnce = (await LoadContext.AuditAsync(ledger, 0, 2, queue, gateway, unanswered: ["q:0"])).Single(c => c.Name == Name);
        var namedFourTimes = (await LoadContext.AuditAsync(ledger, 0, 2, queue, gateway, unanswered: ["q:0", "q:0", "q:0", "q:0"])).Single(c => c.Name == Name);

        Assert.False(namedOnce.Passed, namedOnce.Measured);
        Assert.Contains("duplicates 4 (3 of them unexplained; 1 gateway calls named unanswered)", namedOnce.Measured, StringComparison.Ordinal);
        Assert.True(namedFourTimes.Passed, namedFourTimes.Measured);
    }

    [Fact]
    public async Task Audit_MissingMessageInTheDeadLetterList_IsAccountedForOnlyWhenDeadLettersAreAllowed()
    {
        await using var context = await LoadContext.ConnectAsync(redis.Server.Configuration, string.Empty, string.Empty, LoadProfile.Smoke, TextWriter.Null);
        var (queue, client) = context.NewQueue("dead");
        var ledger = new MessageLedger(2);
        await using var gateway = await LoadGateway.StartAsync(ledger);
        var envelope = Workload.BillingReminder(1, TimeProvider.System.GetUtcNow(), new Random(1), queue.Keys.Name + ":1");
        await client.EnqueueAsync(envelope);
        var leased = await queue.LeaseAsync("c1", 1);
        await queue.DeadLetterAsync("c1", leased[0], DeadLetterEntry.Create(DeadLetterReasons.RetriesExhausted, "gave up", leased[0].Payload.Span, TimeProvider.System.GetUtcNow()) with { MessageId = envelope.Id });
        ledger.Accept(0, Stopwatch.GetTimestamp());

        var strict = await LoadContext.AuditAsync(ledger, 0, 2, queue, gateway);
        var lenient = await LoadContext.AuditAsync(ledger, 0, 2, queue, gateway, deadAllowed: true);

        Assert.False(strict.Single(c => c.Name == "every message accepted once or dead-lettered").Passed);
        var accounted = lenient.Single(c => c.Name == "every message accepted once or dead-lettered");
        Assert.True(accounted.Passed, accounted.Measured);
        Assert.Contains("1 dead · lost 0", accounted.Measured, StringComparison.Ordinal);
    }

    [Fact]
    public void IndexOfNumber_WorkloadNumber_GivesItsIndexBack()
    {
        var now = TimeProvider.System.GetUtcNow();
        foreach (var i in new[] { 0, 7, 999_999, Workload.MaxIndex })
        {
            var digits = Workload.BillingReminder(i, now, new Random(1)).To.TrimStart('+');
            Assert.Equal(i, Workload.IndexOfNumber(digits));
        }

        Assert.Equal(-1, Workload.IndexOfNumber("5511987"));
    }
}
