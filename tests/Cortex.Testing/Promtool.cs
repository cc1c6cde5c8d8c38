namespace Cortex.Testing;

/// <summary>
/// Runs Prometheus's promtool (Debian's `prometheus` package; `make test` installs it). Fails the test, never skips it,
/// when promtool is missing: the exposition format and the alert rules would otherwise go unchecked.
/// </summary>
public static class Promtool
{
    public sealed record Result(int ExitCode, string Output)
    {
        public override string ToString() => $"exit code {ExitCode}\n{Output}";
    }

    /// <summary>`promtool check metrics` on a scrape: exit 0 and no output when promtool has nothing to say.</summary>
    public static Task<Result> CheckMetricsAsync(string scrape) => RunAsync(["check", "metrics"], standardInput: scrape);

    public static async Task<Result> RunAsync(IReadOnlyList<string> arguments, string? workingDirectory = null, string? standardInput = null)
    {
        var result = await ExternalTool.RunAsync(
            "promtool",
            arguments,
            "Install it with `apt-get install prometheus` (`make test` does, through scripts/ensure-tools.sh promtool).",
            workingDirectory,
            standardInput);
        return new Result(result.ExitCode, (result.Output + "\n" + result.Error).Trim());
    }
}
