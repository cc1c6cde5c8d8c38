using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Xunit.Sdk;

namespace Cortex.Testing;

/// <summary>
/// Runs a command-line tool the tests rely on (promtool, node, kubectl). Fails the test, never skips it, when the tool
/// is missing: what it checks would otherwise go unchecked. <c>make test</c> installs each of them.
/// </summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit code {ExitCode}\n{Output}\n{Error}".Trim();
    }

    public static async Task<Result> RunAsync(
        string tool,
        IReadOnlyList<string> arguments,
        string installHint,
        string? workingDirectory = null,
        string? standardInput = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, tool))
            .FirstOrDefault(File.Exists)
            ?? throw new XunitException($"{tool} is not on PATH. {installHint}");

        var start = new ProcessStartInfo(path)
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
            throw new XunitException($"could not start {path}: {e.Message}");
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();

        // A guard against a hung process only; the tools take seconds here.
        using var hang = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(hang.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new XunitException($"{tool} {string.Join(' ', arguments)} did not finish within 2 minutes:\n{await stdout}\n{await stderr}");
        }

        return new Result(process.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }
}
