using System.Collections.Concurrent;
using System.Diagnostics;
using Cortex.LoadTests;

namespace Cortex.Testing;

/// <summary>
/// A real process the tests drive: a Cortex service (a built dll next to the test binaries, run with <c>dotnet</c>,
/// configured through environment variables as a container is), or any command. Everything it writes is captured;
/// it is killed on dispose.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

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
        var info = new ProcessStartInfo("dotnet");
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

        return Start(info);
    }

    /// <summary>Starts <paramref name="info"/> as given, with its standard output and error captured.</summary>
    public static ServiceProcess Start(ProcessStartInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var service = new ServiceProcess(new Process { StartInfo = info });
        service._process.OutputDataReceived += (_, e) => service.Add(e.Data);
        service._process.ErrorDataReceived += (_, e) => service.Add(e.Data);
        service._process.Start();
        service._process.BeginOutputReadLine();
        service._process.BeginErrorReadLine();
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
            await _process.WaitAfterKillAsync();
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod; does not wait for the exit.</summary>
    public Task TerminateAsync() => _process.SignalAsync("TERM");

    /// <summary>SIGSTOP: the process stands still (a VM frozen by its host, a long pause) until <see cref="ContinueAsync"/>; it notices nothing.</summary>
    public Task FreezeAsync() => _process.FreezeAsync();

    /// <summary>SIGCONT after <see cref="FreezeAsync"/>.</summary>
    public Task ContinueAsync() => _process.SignalAsync("CONT");

    /// <summary>SIGTERM, then waits for the exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        await TerminateAsync();
        await WaitForExitAsync(timeout);
    }

    /// <summary>The exit code, once the process has exited and its last line has been read.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{_process.StartInfo.FileName} {string.Join(' ', _process.StartInfo.ArgumentList)} did not exit within {timeout}:\n{string.Join('\n', _lines.TakeLast(60))}");
        }

        await _outputClosed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return _process.ExitCode;
    }

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
        else if (Interlocked.Decrement(ref _openStreams) == 0)
        {
            _outputClosed.TrySetResult();
        }
    }
}
