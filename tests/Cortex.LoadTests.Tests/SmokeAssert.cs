using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Tests;

/// <summary>The assertion every smoke test of a harness run starts with.</summary>
internal static class SmokeAssert
{
    /// <summary>
    /// No scenario threw and every check passed; otherwise fails listing each failed check in full, with its measure and
    /// target (xUnit shortens a collection's items, and the measured figure is what explains a failure), and each scenario
    /// that threw by its title and error (its report carries the id it was run under, "K6" for any of K6a to K6f). Call it
    /// before asserting the scenario ids, or a scenario that threw shows only as an id out of place.
    /// </summary>
    public static void EveryCheckPassed(RunReport run, string idPrefix = "")
    {
        var failures = run.Scenarios.SelectMany(s => s.Error is { } error
            ? [$"{idPrefix}{s.Id} ({s.Title}) threw: {error}"]
            : s.Checks.Where(c => !c.Passed).Select(c => $"{idPrefix}{s.Id}: {c.Name}: {c.Measured} (expected {c.Target})")).ToList();
        Assert.True(failures.Count == 0, "failed checks:" + Environment.NewLine + string.Join(Environment.NewLine, failures));
    }
}
