using Cortex.LoadTests.Load;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Load;

/// <summary>
/// The load harness's smoke profile, as <c>make loadtest</c> runs it but tiny: real Cortex.Sender processes, a real
/// redis-server and PostgreSQL, every scenario. It asserts correctness only (nothing lost, nothing sent twice, clean
/// exits, the scheduler's exact count), never speed: the speed targets are measured by <c>make loadtest</c>.
/// </summary>
public class LoadSmokeTests(RedisFixture redis, PostgresFixture postgres) : IClassFixture<RedisFixture>, IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task SmokeProfile_EveryScenario_LosesNothingAndSendsNothingTwice()
    {
        var database = await postgres.CreateDatabaseAsync();
        var senderDll = Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

        var run = await LoadRun.RunAsync(redis.Server.Configuration, database, senderDll, LoadProfile.Smoke, new HashSet<int> { 1, 2, 3, 4, 5, 6, 7 }, "test", TextWriter.Null);

        SmokeAssert.EveryCheckPassed(run, "scenario ");
        Assert.Equal(["1", "2", "3", "4", "5", "6", "7"], run.Scenarios.Select(s => s.Id));
        foreach (var sending in run.Scenarios.Where(s => s.Id is "1" or "2" or "3" or "4"))
        {
            Assert.Contains(sending.Checks, c => c.Name.StartsWith("every message accepted once or dead-lettered", StringComparison.Ordinal));
            Assert.Contains(sending.Checks, c => c.Name == "senders exit 0 on SIGTERM");
        }

        // Gateway faults: a repeat is allowed only for a message whose call the sender cut off and named (event 2003),
        // and scenario 4's injected timeouts make some.
        var faults = run.Scenarios.Single(s => s.Id == "4").Checks.Single(c => c.Name.StartsWith("every message accepted once", StringComparison.Ordinal));
        Assert.Matches("0 of them unexplained; [1-9][0-9,]* gateway calls named unanswered", faults.Measured);

        // Ceilings: a drain timed to an empty queue counts only if the stand-in got each message once.
        var ceilings = run.Scenarios.Single(s => s.Id == "6");
        foreach (var setting in new[] { "instant stand-in", "stand-in answering after 20 ms" })
        {
            Assert.Contains(ceilings.Checks, c => c.Name == $"each message sent to the stand-in exactly once, {setting} (warm-up included)");
        }

        // Bad input: every malformed payload matched to its dead letter with a precise detail, every valid one sent once.
        var badInput = run.Scenarios.Single(s => s.Id == "7");
        foreach (var setting in new[] { " (instant stand-in)", " (stand-in answering after 20 ms)" })
        {
            Assert.Contains(badInput.Checks, c => c.Name == "every valid message sent exactly once (duplicate ids included)" + setting);
            Assert.Contains(badInput.Checks, c => c.Name == "every malformed payload dead-lettered once as invalid_envelope, its detail naming the problem" + setting);
            Assert.Contains(badInput.Checks, c => c.Name == "senders exit 0 on SIGTERM" + setting);
            Assert.Contains(badInput.Figures, f => f.Name.StartsWith("good traffic throughput with bad input against without" + setting, StringComparison.Ordinal));
        }

        // Speed is never a check on a shared test machine: the targets appear as figures only.
        Assert.DoesNotContain(run.Scenarios.SelectMany(s => s.Checks), c => c.Target.Contains("msg/s", StringComparison.Ordinal) || c.Target.EndsWith(" ms", StringComparison.Ordinal));
        Assert.Contains(run.Scenarios.Single(s => s.Id == "2").Figures, f => f.Name.StartsWith("p99 enqueue→accepted", StringComparison.Ordinal));
    }
}
