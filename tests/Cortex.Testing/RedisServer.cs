using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Cortex.Testing;

/// <summary>A real redis-server process on a free loopback port in a temp dir, killed and removed on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string[] _extraArgs;
    private Process? _process;

    private RedisServer(string dir, int port, string[] extraArgs)
    {
        _dir = dir;
        Port = port;
        _extraArgs = extraArgs;
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=5000";

    public static async Task<RedisServer> StartAsync(params string[] extraArgs)
    {
        var dir = Directory.CreateTempSubdirectory("cortex-redis-").FullName;
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(dir, FreePort(), extraArgs);
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // Between FreePort releasing the port and redis-server binding it, a parallel test (a Kestrel on
                // port 0, another server) can take it: redis-server then exits at once. Another port, not a failure.
                server._process?.Dispose();
            }
        }
    }

    public async Task<ConnectionMultiplexer> ConnectAsync() => await ConnectionMultiplexer.ConnectAsync(Configuration);

    /// <summary>Kills the process with SIGKILL, as a crash would (data since the last AOF fsync is lost).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
    }

    /// <summary>Starts the server again on the same port and data directory.</summary>
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
        var path = FindRedisServer();
        var args = new List<string> { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _dir, "--save", "", "--daemonize", "no" };
        if (!_extraArgs.Contains("--appendonly"))
        {
            args.AddRange(["--appendonly", "no"]);
        }

        args.AddRange(_extraArgs);
        var info = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // Readiness is this process's own "Ready to accept connections" line, never a PING on the port: when a parallel
        // test process holds the port, our server exits on the bind error while a PING would be answered by theirs,
        // and this test would then share (and see killed or restarted) another test's Redis.
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            output.Enqueue(e.Data);
            if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += onLine;
        _process.ErrorDataReceived += onLine;
        _process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server exited on port {Port}: {string.Join(" | ", output.TakeLast(3))}"));
        if (!_process.Start())
        {
            throw new InvalidOperationException("could not start redis-server");
        }

        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"redis-server on port {Port} was not ready within 10 s: {string.Join(" | ", output.TakeLast(3))}");
        }
    }

    private static string FindRedisServer()
    {
        foreach (var candidate in new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("redis-server is not installed: run 'make test' (it installs it) or 'apt-get install redis-server'");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
