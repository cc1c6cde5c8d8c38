using Cortex.LoadTests.Chaos;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// K7 of the fault suite on the smoke profile: a message that kills the real Cortex.Sender process sending it, among
/// normal traffic, the sender restarted after each kill. It must be dead-lettered as poison after MaxDeliveries with a
/// readable reason, and be the only dead letter: the healthy messages leased beside it must not share its fate.
/// </summary>
public class PoisonMessagesSmokeTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SmokeProfile_MessageThatKillsItsSender_IsTheOnlyDeadLetterAndNothingElseIsLost()
    {
        var senderDll = Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

        var run = await ChaosRun.RunAsync(redis.Server.Configuration, senderDll, ChaosProfile.Smoke, new HashSet<string> { "K7" }, "test", TextWriter.Null);

        var poison = Assert.Single(run.Scenarios);
        Assert.Equal("K7", poison.Id);
        Assert.Null(poison.Error);
        Assert.Empty(poison.Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Measured} (expected {c.Target})"));
        Assert.Equal("poison after 5 deliveries", poison.Checks.Single(c => c.Name == "poison message dead-lettered as poison").Measured);
        Assert.Equal("0 of 1,999", poison.Checks.Single(c => c.Name == "other messages lost").Measured);
        Assert.EndsWith("· 1 dead", poison.Checks.Single(c => c.Name == "nothing left in Redis but the one dead letter").Measured, StringComparison.Ordinal);
        Assert.Contains("leased 5 times and never acknowledged", poison.Figures.Single(f => f.Name == "dead letter").Value, StringComparison.Ordinal);
    }
}
