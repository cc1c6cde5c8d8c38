using Cortex.LoadTests.Chaos;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// K7 of the fault suite on the smoke profile, both rows in one run. K7: a message that kills the real Cortex.Sender
/// process sending it, among normal traffic, the sender restarted after each kill. It must be dead-lettered as poison
/// after MaxDeliveries with a readable reason, and be the only dead letter: the healthy messages leased beside it must
/// not share its fate. K7b: messages the gateway answers 500 every time, among a backlog, then one and then two alone on
/// the idle pod. Each must spend all its attempts and be dead-lettered, with the circuit closed while anything else gets
/// through, and no attempt spent while it is open.
/// </summary>
public class PoisonMessagesSmokeTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SmokeProfile_MessageThatKillsItsSenderIsTheOnlyDeadLetter_MessagesTheGatewayAlwaysFailsSpendTheirAttempts()
    {
        var senderDll = Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

        var run = await ChaosRun.RunAsync(redis.Server.Configuration, senderDll, ChaosProfile.Smoke, new HashSet<string> { "K7" }, "test", TextWriter.Null);

        Assert.Equal(["K7", "K7b"], run.Scenarios.Select(s => s.Id));
        var poison = run.Scenarios[0];
        Assert.Null(poison.Error);
        Assert.Empty(poison.Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Measured} (expected {c.Target})"));
        Assert.Equal("poison after 5 deliveries", poison.Checks.Single(c => c.Name == "poison message dead-lettered as poison").Measured);
        Assert.Equal("0 of 1,999", poison.Checks.Single(c => c.Name == "other messages lost").Measured);
        Assert.EndsWith("· 1 dead", poison.Checks.Single(c => c.Name == "nothing left in Redis but the one dead letter").Measured, StringComparison.Ordinal);
        Assert.Contains("leased 5 times and never acknowledged", poison.Figures.Single(f => f.Name == "dead letter").Value, StringComparison.Ordinal);

        var refused = run.Scenarios[1];
        Assert.Null(refused.Error);
        Assert.Empty(refused.Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Measured} (expected {c.Target})"));
        Assert.Equal("5 × retries_exhausted after 4 attempts", refused.Checks.Single(c => c.Name.StartsWith("the 5 among the backlog", StringComparison.Ordinal)).Measured);
        Assert.Equal("retries_exhausted after 4 attempts", refused.Checks.Single(c => c.Name.StartsWith("one alone on the idle pod", StringComparison.Ordinal)).Measured);
        Assert.Equal("6 × 12", refused.Checks.Single(c => c.Name == "gateway calls for each of them").Measured);
        Assert.Equal("2 × retries_exhausted after 4 attempts", refused.Checks.Single(c => c.Name.StartsWith("two alone: dead-lettered", StringComparison.Ordinal)).Measured);
        Assert.Equal("lost 0 · duplicates 0", refused.Checks.Single(c => c.Name == "every other message sent once").Measured.Split(" of ")[0]);
    }
}
