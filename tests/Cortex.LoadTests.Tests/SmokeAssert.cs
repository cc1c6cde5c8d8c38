using Cortex.LoadTests.Reporting;

namespace Cortex.LoadTests.Tests;

/// <summary>The assertion every smoke test of a harness run starts with.</summary>
internal static class SmokeAssert
{
    /// <summary>
    /// No scenario threw and every check passed; otherwise fails listing each failed check in full, with its measure and
    /// target (xUnit shortens a collection's items, and the measured figure is what explains a failure).
    /// </summary>
    public static void EveryCheckPassed(RunReport run, string idPrefix = "")
    {
        var failures = run.Scenarios.SelectMany(s => s.Error is { } error
            ? [$"{idPrefix}{s.Id} threw: {error}"]
            : s.Checks.Where(c => !c.Passed).Select(c => $"{idPrefix}{s.Id}: {c.Name}: {c.Measured} (expected {c.Target})")).ToList();
        Assert.True(failures.Count == 0, "failed checks:" + Environment.NewLine + string.Join(Environment.NewLine, failures));
    }
}
