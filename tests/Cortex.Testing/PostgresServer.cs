using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Cortex.LoadTests;
using Npgsql;

namespace Cortex.Testing;

/// <summary>
/// A real PostgreSQL server (initdb + pg_ctl) on a free loopback port with its data in a temp dir, stopped and
/// removed on dispose. Tuned for tests (fsync off), so its data does not survive an OS crash.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_commandTimeout = TimeSpan.FromSeconds(60);

    private readonly string _dir;
    private readonly string _binDir;
    private readonly string? _password;

    private PostgresServer(string dir, string binDir, int port, string? password)
    {
        _dir = dir;
        _binDir = binDir;
        _password = password;
        Port = port;
    }

    public int Port { get; private set; }

    private string DataDir => Path.Combine(_dir, "data");

    /// <summary>
    /// Creates a cluster in a fresh temp dir and starts it; returns once a connection succeeds. Without a
    /// <paramref name="password"/> every connection is trusted; with one, the postgres user has it and every connection
    /// (TCP and socket) must give it (scram-sha-256), as a production server asks.
    /// </summary>
    public static async Task<PostgresServer> StartAsync(string? password = null)
    {
        if (password is not null && (password.Length == 0 || password.IndexOfAny([';', '\'', '"', '\n', '\r']) >= 0))
        {
            throw new ArgumentException("a test password is non-empty, with no ';', quote or line break (it goes into a connection string as is)", nameof(password));
        }

        var binDir = FindBinDir();
        var dir = ServerDirectory.Create("cortex-pg-");
        var server = new PostgresServer(dir, binDir, FreePort(), password);
        try
        {
            string[] auth = ["-A", "trust"];
            if (password is not null)
            {
                // initdb reads the superuser's password from a file: never on a command line, where ps would show it.
                var passwordFile = Path.Combine(dir, "pwfile");
                await File.WriteAllTextAsync(passwordFile, password + "\n");
                auth = ["-A", "scram-sha-256", "--pwfile=" + passwordFile];
            }

            if (Environment.IsPrivilegedProcess)
            {
                // PostgreSQL refuses to run as root: the cluster (and the password file initdb reads) belong to the postgres user.
                await RunAsync("chown", ["-R", "postgres", dir], dir);
            }

            await server.RunPgAsync("initdb", ["-D", server.DataDir, .. auth, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
            File.Delete(Path.Combine(dir, "pwfile"));
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await server.StartProcessAsync();
                    return server;
                }
                catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains("Address already in use", StringComparison.Ordinal))
                {
                    // Between FreePort releasing the port and the postmaster binding it, another process can take it (a
                    // parallel test's server, or a connection's ephemeral port: they come from the same range). Another
                    // port, not a failure; a restart (StartAgainAsync) keeps the port the server got here.
                    server.Port = FreePort();
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Npgsql connection string for <paramref name="database"/> on this server, with the password when it asks for one.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database={database};Include Error Detail=true"
        + (_password is null ? string.Empty : ";Password=" + _password);

    /// <summary>
    /// Creates a database (a unique name when <paramref name="name"/> is null), empty or as a copy of <paramref name="template"/>
    /// (which must have no open connection), and returns its connection string.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string? name = null, string? template = null)
    {
        name ??= "t" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(AdminConnectionString());
        await connection.OpenAsync();
        var sql = $"CREATE DATABASE {Quote(name)}" + (template is null ? string.Empty : $" TEMPLATE {Quote(template)}");
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// Changes the postgres user's password on the server <paramref name="connectionString"/> points to and cuts every
    /// other client connection, as a rotation under a running service does: its pooled connections are gone, and every new
    /// login with the old password is refused (28P01). Returns the connection string with the new password.
    /// </summary>
    public static async Task<string> RotatePasswordAsync(string connectionString, string password)
    {
        await using (var admin = new NpgsqlConnection(connectionString))
        {
            await admin.OpenAsync();
            await using var rotate = new NpgsqlCommand($"ALTER USER postgres PASSWORD '{password}'; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'", admin);
            await rotate.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(connectionString) { Password = password }.ConnectionString;
    }

    /// <summary>Stops the server cleanly (pg_ctl stop -m fast), as "PostgreSQL is down"; <see cref="StartAgainAsync"/> brings it back.</summary>
    public Task StopAsync() => RunPgAsync("pg_ctl", ["-D", DataDir, "stop", "-m", "fast", "-w"]);

    /// <summary>Starts the server again on the same port and data directory.</summary>
    public Task StartAgainAsync() => StartProcessAsync();

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDir, "postmaster.pid")))
        {
            try
            {
                await RunPgAsync("pg_ctl", ["-D", DataDir, "stop", "-m", "immediate", "-w"]);
            }
            catch (InvalidOperationException)
            {
                // Already stopped (or never started): nothing to stop.
            }
        }

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
        // -k '': TCP only. A Unix socket in the server's directory failed the start once TMPDIR and the run's directory
        // made its path longer than the 107 bytes a socket path may have; nothing here connects by socket.
        var options = string.Join(' ', [
            "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", "''", "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB"]);
        var log = Path.Combine(_dir, "log");

        // pg_ctl -w notices at once a postmaster that dies (port taken, bad setting); the poll below then proves a
        // real connection works. Each wait is bounded by 30 s.
        try
        {
            await RunPgAsync("pg_ctl", ["-D", DataDir, "-o", options, "-l", log, "-w", "-t", ((int)s_readyTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture), "start"]);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"PostgreSQL did not start on port {Port}; log {log}:\n{ReadLog(log)}", e);
        }

        var connectionString = AdminConnectionString() + ";Timeout=2";
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                return;
            }
            catch (NpgsqlException) when (deadline.Elapsed < s_readyTimeout)
            {
                // Not listening yet, or "the database system is starting up".
            }
            catch (NpgsqlException e)
            {
                throw new TimeoutException($"PostgreSQL did not accept a connection on port {Port} within {s_readyTimeout.TotalSeconds} s; log {log}:\n{ReadLog(log)}", e);
            }

            await Task.Delay(20);
        }
    }

    /// <summary>The test's own connections bypass the pool: pooled ones would be dead after a stop/start.</summary>
    private string AdminConnectionString() => ConnectionString() + ";Pooling=false";

    /// <summary>Runs a PostgreSQL binary, as the postgres user when this process is root.</summary>
    private Task RunPgAsync(string binary, IReadOnlyList<string> args)
    {
        var path = Path.Combine(_binDir, binary);
        return Environment.IsPrivilegedProcess
            ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args], _dir)
            : RunAsync(path, args, _dir);
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, string workingDirectory)
    {
        // The working directory must be one the postgres user can enter (initdb and pg_ctl chdir back to it).
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var commandLine = $"{file} {string.Join(' ', args)}";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {commandLine}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(s_commandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{commandLine}' did not finish within {s_commandTimeout.TotalSeconds} s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{commandLine}' exited with code {process.ExitCode}:\n{await stdout}{await stderr}");
        }
    }

    private static string ReadLog(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    /// <summary>Debian's layout: /usr/lib/postgresql/15/bin, else the highest installed version.</summary>
    private static string FindBinDir()
    {
        const string Root = "/usr/lib/postgresql";
        var preferred = Path.Combine(Root, "15", "bin");
        if (File.Exists(Path.Combine(preferred, "initdb")))
        {
            return preferred;
        }

        var highest = Directory.Exists(Root)
            ? Directory.GetDirectories(Root)
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1))
                .OrderByDescending(x => x.Version)
                .Select(x => x.Dir)
                .FirstOrDefault()
            : null;
        return highest is not null
            ? Path.Combine(highest, "bin")
            : throw new InvalidOperationException("PostgreSQL server binaries are not installed: run 'make test' (it installs them) or 'apt-get install postgresql'");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
