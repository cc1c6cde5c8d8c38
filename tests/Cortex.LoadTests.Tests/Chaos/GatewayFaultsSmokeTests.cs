using Cortex.LoadTests.Chaos;
using Cortex.Testing;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// Chaos scenario K5 on the smoke profile, as <c>make chaos SCENARIOS=K5</c> runs it but with faults of a few seconds: a
/// real Cortex.Sender process with the Evolution adapter drains a backlog through the stand-in gateway while it answers
/// 5xx, 429, too slowly, not at all, 401, or bodies that are not JSON, the same through the Cloud API adapter for the
/// faults it reads from the body (K5h–K5k), the slow answers to a pod its rate limit holds to 10 sends a second (K5l) and
/// to a pod with one worker (K5m), and three senders of one number through a 429 storm (K5g). It asserts
/// correctness only: nothing lost, no
/// duplicate except the sends the gateway accepted after the sender gave up (counted by the stand-in, and named by the
/// sender), no attempt spent while
/// the circuit is open, the alert visible on /metrics, and sending resumed after each fault. How fast leasing pauses and
/// sending resumes depends on the machine: figures here, checks in make chaos.
/// </summary>
public class GatewayFaultsSmokeTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SmokeProfile_GatewayFaults_LoseNothingSpendNoAttemptWhileOpenAndResume()
    {
        var senderDll = Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

        var run = await ChaosRun.RunAsync(redis.Server.Configuration, senderDll, ChaosProfile.Smoke, new HashSet<string> { "K5" }, "test", TextWriter.Null);

        SmokeAssert.EveryCheckPassed(run);
        Assert.Equal(["K5a", "K5b", "K5c", "K5d", "K5e", "K5f", "K5h", "K5i", "K5j", "K5k", "K5l", "K5m", "K5g"], run.Scenarios.Select(s => s.Id));

        var oneSender = run.Scenarios.Where(s => s.Id is not "K5g").ToList();
        foreach (var fault in oneSender)
        {
            // The paced pod drains a smaller backlog (it sends 10 a second), the one-worker pod a smaller one still.
            var backlog = fault.Id switch { "K5l" => "200", "K5m" => "100", _ => "1,500" };
            Assert.Equal($"0 of {backlog} (0 dead-lettered)", fault.Checks.Single(c => c.Name == "messages lost").Measured);
        }

        foreach (var fault in oneSender.Where(s => s.Id is not ("K5c" or "K5l" or "K5m")))
        {
            Assert.Equal("0", fault.Checks.Single(c => c.Name == "duplicates").Measured);
        }

        // Three senders of one number under a 429 storm, with and without the pause shared through Redis.
        var threeSenders = run.Scenarios.Single(s => s.Id == "K5g");
        foreach (var label in new[] { "without the global limit", "with the global limit" })
        {
            Assert.Equal("0 of 1,500 (0 dead-lettered)", threeSenders.Checks.Single(c => c.Name == "messages lost, " + label).Measured);
            Assert.Equal("0", threeSenders.Checks.Single(c => c.Name == "duplicates, " + label).Measured);
            Assert.Equal("0", threeSenders.Checks.Single(c => c.Name.StartsWith("attempts burned", StringComparison.Ordinal) && c.Name.EndsWith(label, StringComparison.Ordinal)).Measured);
        }

        // Slow answers: every duplicate is a send the gateway took after the sender's timeout, and there is one for each.
        // And the sender named each of those messages in its log (event 2003), so a customer's duplicate can be traced.
        foreach (var slow in run.Scenarios.Where(s => s.Id is "K5c" or "K5l" or "K5m"))
        {
            Assert.EndsWith(", 0 elsewhere", slow.Checks.Single(c => c.Name.StartsWith("duplicates: exactly", StringComparison.Ordinal)).Measured, StringComparison.Ordinal);
            Assert.Matches("^0 unnamed of [1-9]", slow.Checks.Single(c => c.Name.StartsWith("every late-accepted message named", StringComparison.Ordinal)).Measured);
        }

        // 429 and 401 never spend an attempt, in Evolution's shapes or the Cloud API's (130429, 190); the circuit faults
        // spend none while it is open.
        foreach (var id in new[] { "K5b", "K5e", "K5i", "K5j" })
        {
            Assert.Equal("0", run.Scenarios.Single(s => s.Id == id).Checks.Single(c => c.Name.StartsWith("attempts burned", StringComparison.Ordinal)).Measured.Split(',')[0]);
        }

        foreach (var id in new[] { "K5a", "K5c", "K5d", "K5h", "K5l", "K5m" })
        {
            Assert.EndsWith("0 while the circuit was open", run.Scenarios.Single(s => s.Id == id).Checks.Single(c => c.Name.StartsWith("attempts burned", StringComparison.Ordinal)).Measured, StringComparison.Ordinal);
            // Closed before the fault, open during it. The circuit may open before the fault's first reading (the streak
            // breaker opens at the 20th failure in a row, within milliseconds at 24 workers), which then shows only the 1.
            Assert.Matches("circuit_state 0 before, seen (0/)?1", run.Scenarios.Single(s => s.Id == id).Checks.Single(c => c.Name.StartsWith("alert metric", StringComparison.Ordinal)).Measured);
        }

        // A one-worker pod against a gateway that stopped answering: one message's attempts spent before the circuit
        // opens (on the streak breaker's count alone it took 20 timeouts, past the fault's end).
        Assert.StartsWith("1, ", run.Scenarios.Single(s => s.Id == "K5m").Checks.Single(c => c.Name.StartsWith("attempts burned", StringComparison.Ordinal)).Measured, StringComparison.Ordinal);

        foreach (var id in new[] { "K5e", "K5j" })
        {
            Assert.Contains("configuration_paused max 1", run.Scenarios.Single(s => s.Id == id).Checks.Single(c => c.Name.StartsWith("alert metric", StringComparison.Ordinal)).Measured, StringComparison.Ordinal);
        }
    }
}
