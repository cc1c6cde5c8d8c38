using System.Diagnostics;
using System.Globalization;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// A redis-server the chaos run owns, so it can crash and restart it: AOF on with <c>appendfsync everysec</c> (the
/// production setting), its own temp dir and loopback port, the same port and data after a restart.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_readyBudget = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_stopBudget = TimeSpan.FromSeconds(30);
    private readonly string _dir = ServerDirectory.Create("cortex-chaos-redis-");
    private Process? _process;

    private RedisProcess(int port) => Port = port;

    public int Port { get; }

    /// <summary>For clients that must ride out the outages: they keep retrying instead of failing the first connect.</summary>
    public string Configuration => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)},abortConnect=false,connectTimeout=2000,syncTimeout=5000";

    public static async Task<RedisProcess> StartAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var redis = new RedisProcess(LoopbackServer.FreePort());
            try
            {
                await redis.StartProcessAsync();
                return redis;
            }
            catch (Exception e)
            {
                // A failed attempt takes its process and dir with it, a process still running but not ready in time too.
                await redis.DisposeAsync();

                // Between the probe releasing the port and redis-server binding it, another process can take it (a
                // connection's ephemeral port comes from the same range): redis-server exits at once. Another port.
                if (e is not InvalidOperationException || attempt == 3)
                {
                    throw;
                }
            }
        }
    }

    /// <summary>SIGKILL, as a crash or an OOM kill: writes since the last fsync (at most about a second) are gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitAfterKillAsync();
        }
    }

    /// <summary>SHUTDOWN by signal (SIGTERM): redis-server fsyncs the AOF and exits, as on a planned restart.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            await p.SignalAsync("TERM");
            try
            {
                await p.WaitForExitAsync().WaitAsync(s_stopBudget);
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"redis-server on port {Port} still running {s_stopBudget.TotalSeconds:N0} s after SIGTERM; data in {_dir}", e);
            }
        }
    }

    /// <summary>
    /// SIGSTOP, or SIGCONT to end it: Redis silent, not gone. Its connections stay open and no call fails; they are
    /// answered when it resumes, as after a network partition that heals or a host that hung.
    /// </summary>
    public Task SignalAsync(string signal) => (_process ?? throw new InvalidOperationException("redis-server is not running")).SignalAsync(signal);

    /// <summary>Starts it again on the same port with the same data directory, so it replays the AOF.</summary>
    public Task RestartAsync() => StartProcessAsync();

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A temp dir left behind is harmless.
        }
    }

    private async Task StartProcessAsync()
    {
        _process?.Dispose();
        var info = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _dir, "--save", string.Empty,
            "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server exited on port {Port}; data in {_dir}"));
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start redis-server");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await ready.Task.WaitAsync(s_readyBudget);
    }
}
