using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Cortex.LoadTests;
using StackExchange.Redis;

namespace Cortex.Testing;

/// <summary>A real redis-server process on a free loopback port in a temp dir, killed and removed on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string[] _extraArgs;
    private readonly RedisSecurity _security;
    private Process? _process;

    private RedisServer(string dir, int port, string[] extraArgs, RedisSecurity security)
    {
        _dir = dir;
        Port = port;
        _extraArgs = extraArgs;
        _security = security;
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration string for this server: with ssl=true when it speaks TLS, never with the password.</summary>
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=5000{(_security.Tls ? ",ssl=true" : string.Empty)}";

    /// <summary>The PEM file of the throwaway CA that signed this server's TLS certificate; null without TLS.</summary>
    public string? TlsCaCertificateFile => _security.Tls ? Path.Combine(_dir, "tls", "ca.crt") : null;

    public static Task<RedisServer> StartAsync(params string[] extraArgs) => StartAsync(new RedisSecurity(), extraArgs);

    /// <summary>A server that asks for a password, loads an ACL file, or speaks TLS only (a throwaway CA made in its dir).</summary>
    public static async Task<RedisServer> StartAsync(RedisSecurity security, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(security);
        var dir = ServerDirectory.Create("cortex-redis-");
        try
        {
            if (security.Tls)
            {
                TestCertificates.WriteServerCertificate(Path.Combine(dir, "tls"), "localhost", IPAddress.Loopback);
            }

            for (var attempt = 1; ; attempt++)
            {
                var server = new RedisServer(dir, FreePort(), extraArgs, security);
                try
                {
                    await server.StartProcessAsync();
                    return server;
                }
                catch (Exception e)
                {
                    // An attempt that failed takes its process with it: one that exited, or one still running that was
                    // not ready in time, which would otherwise outlive the test run.
                    await server.StopProcessAsync();

                    // Between FreePort releasing the port and redis-server binding it, a parallel test (a Kestrel on
                    // port 0, another server) can take it: redis-server then exits at once. Another port, not a failure.
                    if (e is not InvalidOperationException || attempt == 3)
                    {
                        throw;
                    }
                }
            }
        }
        catch
        {
            DeleteDirectory(dir);
            throw;
        }
    }

    /// <summary>A connection as the test's own admin: with the password and, for TLS, trusting the server's CA.</summary>
    public async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var options = ConfigurationOptions.Parse(Configuration);
        options.Password = _security.Password;
        if (TlsCaCertificateFile is { } ca)
        {
            var authority = X509Certificate2.CreateFromPemFile(ca);
            options.CertificateValidation += (_, certificate, _, errors) => TestCertificates.ChainsTo(certificate, authority, errors);
        }

        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>Kills the process with SIGKILL, as a crash would (data since the last AOF fsync is lost).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitAfterKillAsync();
        }
    }

    /// <summary>
    /// Stops the process with SIGSTOP (or resumes it with SIGCONT): its connections stay open and the kernel keeps
    /// accepting bytes, but nothing answers, as when a Redis host hangs or a network drops packets without a reset.
    /// </summary>
    public Task SignalAsync(string signal) => (_process ?? throw new InvalidOperationException("redis-server is not running")).SignalAsync(signal);

    /// <summary>Starts the server again on the same port and data directory.</summary>
    public Task RestartAsync() => StartProcessAsync();

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync();
        DeleteDirectory(_dir);
    }

    private async Task StopProcessAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _process = null;
    }

    private static void DeleteDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // A temp dir left behind is harmless.
        }
    }

    private async Task StartProcessAsync()
    {
        var path = FindRedisServer();
        var port = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var args = new List<string> { "--bind", "127.0.0.1", "--dir", _dir, "--save", "", "--daemonize", "no" };
        if (_security.Tls)
        {
            var tls = Path.Combine(_dir, "tls");
            args.AddRange(["--port", "0", "--tls-port", port, "--tls-cert-file", Path.Combine(tls, "server.crt"), "--tls-key-file", Path.Combine(tls, "server.key"), "--tls-auth-clients", "no"]);
        }
        else
        {
            args.AddRange(["--port", port]);
        }

        if (_security.AclFile is { } aclFile)
        {
            args.AddRange(["--aclfile", aclFile]);
        }
        else if (_security.Password is { } password)
        {
            args.AddRange(["--requirepass", password]);
        }

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
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server exited on port {Port}: {string.Join(" | ", output.TakeLast(3))}"));
        if (!process.Start())
        {
            process.Dispose();
            throw new InvalidOperationException("could not start redis-server");
        }

        // Kept only once started: a Process never started throws on HasExited, which the stop reads.
        _process?.Dispose();
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
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

/// <summary>What a redis-server asks of its clients. The defaults are the plain, open server most tests use.</summary>
public sealed record RedisSecurity
{
    /// <summary>The default user's password: --requirepass unless <see cref="AclFile"/> defines the users; <see cref="RedisServer.ConnectAsync"/> uses it.</summary>
    public string? Password { get; init; }

    /// <summary>An ACL file loaded with --aclfile.</summary>
    public string? AclFile { get; init; }

    /// <summary>TLS only (--port 0 --tls-port): a certificate for localhost and 127.0.0.1 signed by a throwaway CA.</summary>
    public bool Tls { get; init; }
}
