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

        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start redis-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        // Readiness: the server accepts a TCP connection and answers PING. Bounded, not a fixed sleep.
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[16];
                var read = await stream.ReadAsync(buffer);
                // "-NOAUTH": a server whose default user needs a password (an ACL file) is up too.
                if (read > 0 && (buffer[0] == (byte)'+' || buffer.AsSpan(0, read).StartsWith("-NOAUTH"u8)))
                {
                    return;
                }
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10) && !_process.HasExited)
            {
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} on port {Port}");
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException($"redis-server did not answer PING on port {Port} within 10 s");
            }

            await Task.Delay(20);
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
