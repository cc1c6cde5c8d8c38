using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// A PostgreSQL cluster the chaos run owns, so it can crash and restart it: initdb in a temp dir, a free loopback port,
/// the same port and data after a restart. Commits are durable as in production (<c>synchronous_commit = on</c>), so what
/// a crash may lose is only what was never committed. PostgreSQL refuses root: as root, the binaries run as postgres.
/// </summary>
internal sealed class PostgresProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_commandBudget = TimeSpan.FromSeconds(60);
    private readonly string _dir = ServerDirectory.Create("cortex-chaos-pg-");
    private readonly string _bin;

    private PostgresProcess(string bin, int port)
    {
        _bin = bin;
        Port = port;
    }

    public int Port { get; private set; }

    /// <summary>For the scheduler processes: pooled, as in production, with a short connect timeout so an outage fails fast.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres;Timeout=5";

    private string DataDir => Path.Combine(_dir, "data");

    private string LogPath => Path.Combine(_dir, "log");

    public static async Task<PostgresProcess> StartAsync()
    {
        var server = new PostgresProcess(FindBinDir(), LoopbackServer.FreePort());
        try
        {
            if (Environment.IsPrivilegedProcess)
            {
                await RunAsync("chown", ["-R", "postgres", server._dir], server._dir);
            }

            await server.RunPgAsync("initdb", ["-D", server.DataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await server.StartProcessAsync();
                    return server;
                }
                catch (InvalidOperationException) when (attempt < 3 && server.LogSays("Address already in use"))
                {
                    // Between the probe releasing the port and the postmaster binding it, another process can take it
                    // (a connection's ephemeral port comes from the same range). Another port; restarts keep this one.
                    server.Port = LoopbackServer.FreePort();
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A crash: <c>pg_ctl stop -m immediate</c> makes every PostgreSQL process quit at once, without a checkpoint; open
    /// transactions are lost and the restart runs crash recovery from the WAL.
    /// </summary>
    public Task KillAsync() => RunPgAsync("pg_ctl", ["-D", DataDir, "stop", "-m", "immediate", "-w"]);

    /// <summary>Starts it again on the same port and data directory (crash recovery first after <see cref="KillAsync"/>).</summary>
    public Task RestartAsync() => StartProcessAsync();

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDir, "postmaster.pid")))
        {
            try
            {
                await KillAsync();
            }
            catch (InvalidOperationException)
            {
                // Not running: nothing to stop.
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

    private bool LogSays(string text) => File.Exists(LogPath) && File.ReadAllText(LogPath).Contains(text, StringComparison.Ordinal);

    private async Task StartProcessAsync()
    {
        // -k '': TCP only. A Unix socket in the server's directory failed the start once TMPDIR and the run's directory
        // made its path longer than the 107 bytes a socket path may have; nothing here connects by socket.
        var options = string.Join(' ', [
            "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", "''", "-c", "listen_addresses=127.0.0.1",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB"]);
        await RunPgAsync("pg_ctl", ["-D", DataDir, "-o", options, "-l", LogPath, "-w", "-t", "60", "start"]);

        // pg_ctl -w returns once the server accepts connections; one real connection proves it.
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
                await connection.OpenAsync();
                return;
            }
            catch (NpgsqlException) when (deadline.Elapsed < s_commandBudget)
            {
                await Task.Delay(50);
            }
        }
    }

    private Task RunPgAsync(string binary, IReadOnlyList<string> args)
    {
        var path = Path.Combine(_bin, binary);
        return Environment.IsPrivilegedProcess ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args], _dir) : RunAsync(path, args, _dir);
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, string workingDirectory)
    {
        // The working directory must be one the postgres user can enter (initdb and pg_ctl chdir back to it).
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(s_commandBudget);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' exited with {process.ExitCode}: {await stdout}{await stderr}");
        }
    }

    /// <summary>Debian's layout, as scripts/postgres.sh finds it: /usr/lib/postgresql/15/bin, else the highest installed version.</summary>
    private static string FindBinDir()
    {
        const string Root = "/usr/lib/postgresql";
        var found = Directory.Exists(Root)
            ? Directory.GetDirectories(Root)
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                .OrderByDescending(d => Path.GetFileName(d) == "15" ? int.MaxValue : int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1)
                .FirstOrDefault()
            : null;
        return found is not null
            ? Path.Combine(found, "bin")
            : throw new InvalidOperationException("PostgreSQL server binaries are not installed: run scripts/ensure-tools.sh or 'apt-get install postgresql'");
    }
}
