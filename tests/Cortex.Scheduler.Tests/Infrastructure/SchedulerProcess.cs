using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>A real Cortex.Scheduler process (the built dll), configured through environment variables, with its output captured.</summary>
public sealed class SchedulerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private SchedulerProcess(Process process) => _process = process;

    /// <summary>Every line written so far (stdout and stderr).</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static SchedulerProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Cortex.Scheduler.dll");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_ENVIRONMENT"] = "Production";

        // Several nodes run side by side here: each takes a free port for /metrics and /health instead of 8080.
        info.Environment["Cortex__Observability__Port"] = "0";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start Cortex.Scheduler");
        var scheduler = new SchedulerProcess(process);
        process.OutputDataReceived += (_, e) => scheduler.Add(e.Data);
        process.ErrorDataReceived += (_, e) => scheduler.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return scheduler;
    }

    /// <summary>SIGKILL: a crash, no shutdown path.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod, then waits for the exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
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
