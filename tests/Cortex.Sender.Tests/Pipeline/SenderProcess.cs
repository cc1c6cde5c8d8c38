using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>A real Cortex.Sender process (the built dll), configured through environment variables, with its output captured.</summary>
internal sealed class SenderProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private SenderProcess(Process process) => _process = process;

    /// <summary>Every line written so far (stdout and stderr).</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static SenderProcess Start(IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll"));
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";

        // Several senders run side by side: each takes a free port for /metrics and /health instead of 8080.
        info.Environment["Cortex__Observability__Port"] = "0";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start Cortex.Sender");
        var sender = new SenderProcess(process);
        process.OutputDataReceived += (_, e) => sender.Add(e.Data);
        process.ErrorDataReceived += (_, e) => sender.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sender;
    }

    /// <summary>True once a line with this text was written.</summary>
    public bool Wrote(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>SIGTERM, as Kubernetes stops a pod on scale-in; does not wait.</summary>
    public async Task TerminateAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync().WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

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
