using Cortex.LoadTests.Chaos;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// K6 of the fault suite on the smoke profile, as <c>make chaos SCENARIOS=K6</c> runs it but small: real Cortex.Scheduler
/// processes on a PostgreSQL and a redis-server the scenario owns. PostgreSQL crashed mid billing run, three schedulers
/// racing on the same firings, a scheduler SIGKILLed mid-campaign and mid billing run, one SIGTERMed mid billing run,
/// Redis crashed mid billing run: every reminder ends up in Redis, and only a batch whose commit (or push) a fault cut
/// may be there twice. Correctness only, never speed.
/// </summary>
public class SchedulerFaultsSmokeTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SmokeProfile_PostgresCrashRaceAndKills_EveryReminderInRedis()
    {
        var senderDll = Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

        var run = await ChaosRun.RunAsync(redis.Server.Configuration, senderDll, ChaosProfile.Smoke, new HashSet<string> { "K6" }, "test", TextWriter.Null);

        SmokeAssert.EveryCheckPassed(run);
        Assert.Equal(["K6a", "K6b", "K6c", "K6d", "K6e", "K6f"], run.Scenarios.Select(s => s.Id));

        var crash = run.Scenarios.Single(s => s.Id == "K6a");
        Assert.Equal("0 of 10,000", crash.Checks.Single(c => c.Name == "reminders missing from Redis after recovery").Measured);
        Assert.Equal("no restart", crash.Checks.Single(c => c.Name == "the scheduler process rode out the outage").Measured);

        // The fault must land mid-run, or the scenario proves nothing.
        Assert.DoesNotContain("10,000 of 10,000 in Redis", crash.Figures.Single(f => f.Name == "faults injected").Value, StringComparison.Ordinal);

        var race = run.Scenarios.Single(s => s.Id == "K6b");
        Assert.Equal("0", race.Checks.Single(c => c.Name == "reminders pushed twice").Measured);
        Assert.NotEqual("0", race.Checks.Single(c => c.Name == "firings raced by the other instance").Measured);

        var kill = run.Scenarios.Single(s => s.Id == "K6c");
        Assert.Equal("0 of 10,000", kill.Checks.Single(c => c.Name == "campaign messages missing from Redis").Measured);
        Assert.DoesNotContain("never", kill.Figures.Single(f => f.Name == "kill → pushing resumed").Value, StringComparison.Ordinal);

        // The daily billing run cut by a SIGKILL is run again by the new node: no second firing comes today.
        var billingKill = run.Scenarios.Single(s => s.Id == "K6d");
        Assert.Equal("0 of 10,000", billingKill.Checks.Single(c => c.Name == "reminders missing from Redis").Measured);
        Assert.DoesNotContain("10,000 of 10,000 in Redis", billingKill.Figures.Single(f => f.Name == "faults injected").Value, StringComparison.Ordinal);
        Assert.DoesNotContain("never", billingKill.Figures.Single(f => f.Name == "kill → pushing resumed").Value, StringComparison.Ordinal);

        // A rolling update mid billing run: Quartz forgets a gracefully stopped firing, the owed day brings the rest.
        var billingStop = run.Scenarios.Single(s => s.Id == "K6e");
        Assert.Equal("0 of 10,000", billingStop.Checks.Single(c => c.Name == "reminders missing from Redis").Measured);
        Assert.Equal("0", billingStop.Checks.Single(c => c.Name == "duplicate pushes").Measured);
        Assert.DoesNotContain("10,000 of 10,000 in Redis", billingStop.Figures.Single(f => f.Name == "faults injected").Value, StringComparison.Ordinal);
        Assert.DoesNotContain("never", billingStop.Figures.Single(f => f.Name == "SIGTERM → the new node runs the owed day").Value, StringComparison.Ordinal);

        // Redis SIGKILLed mid billing run: an acknowledged push is never pushed again, so one the crash lost stays missing.
        var redisCrash = run.Scenarios.Single(s => s.Id == "K6f");
        Assert.Equal("0 of 10,000", redisCrash.Checks.Single(c => c.Name == "reminders missing from Redis after recovery").Measured);
        Assert.Equal("no restart", redisCrash.Checks.Single(c => c.Name == "the scheduler process rode out the outage").Measured);
        Assert.DoesNotContain("10,000 of 10,000 in Redis", redisCrash.Figures.Single(f => f.Name == "faults injected").Value, StringComparison.Ordinal);
    }
}
