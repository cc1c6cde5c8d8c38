using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Cortex.Testing;

/// <summary>
/// A real Cortex service process (a built dll next to the test binaries, run with <c>dotnet</c>), configured through
/// environment variables as a container is, with everything it writes captured. Killed on dispose.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private ServiceProcess(Process process) => _process = process;

    /// <summary>Every line written so far (stdout and stderr).</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>Everything it wrote, for failure messages.</summary>
    public string Output => string.Join('\n', _lines);

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <paramref name="dll"/> (e.g. Cortex.Sender.dll) with <paramref name="environment"/> and <paramref name="args"/>.</summary>
    public static ServiceProcess Start(string dll, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_ENVIRONMENT"] = "Production";

        // Several processes run side by side (and other test assemblies at the same time): each takes a free port for
        // /metrics and /health instead of 8080.
        info.Environment["Cortex__Observability__Port"] = "0";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + dll);
        var service = new ServiceProcess(process);
        process.OutputDataReceived += (_, e) => service.Add(e.Data);
        process.ErrorDataReceived += (_, e) => service.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>True once a line with this text was written.</summary>
    public bool Wrote(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>SIGKILL: a crash, no shutdown path.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod; does not wait for the exit.</summary>
    public async Task TerminateAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, then waits for the exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        await TerminateAsync();
        await WaitForExitAsync(timeout);
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync().WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
        }
    }
}
