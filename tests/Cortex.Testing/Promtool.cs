using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Xunit.Sdk;

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
        ArgumentNullException.ThrowIfNull(arguments);
        var promtool = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "promtool"))
            .FirstOrDefault(File.Exists)
            ?? throw new XunitException("promtool is not on PATH. Install it with `apt-get install prometheus` (`make test` does, through scripts/ensure-tools.sh promtool).");

        var start = new ProcessStartInfo(promtool)
        {
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new XunitException($"could not start {promtool}: {e.Message}");
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();

        // A guard against a hung process only; promtool takes well under a second here.
        using var hang = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(hang.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new XunitException($"promtool {string.Join(' ', arguments)} did not finish within 2 minutes:\n{await stdout}\n{await stderr}");
        }

        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString().Trim();
        return new Result(process.ExitCode, output);
    }
}
