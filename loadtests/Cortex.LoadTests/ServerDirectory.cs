namespace Cortex.LoadTests;

/// <summary>
/// The temp dir of a throwaway redis-server or PostgreSQL. Also compiled into Cortex.Testing (linked), whose servers
/// live the same way.
/// </summary>
internal static class ServerDirectory
{
    /// <summary>
    /// Set by scripts/test.sh and scripts/harness.sh to a directory of their own run. A postmaster that pg_ctl started
    /// is in a session of its own, and a redis-server outlives a test host that is killed: neither goes when the run is
    /// interrupted (Ctrl+C, a hang killed by --blame-hang, a cancelled CI job) before its dispose. So every server keeps
    /// its data under this directory, and the script stops whatever is still running there and removes it on exit
    /// (scripts/sweep-servers.sh), touching no other run's servers.
    /// </summary>
    public const string RunDirectoryVariable = "CORTEX_RUN_DIR";

    /// <summary>A new directory named <paramref name="prefix"/> and a random suffix, under the run's directory when there is one, else in the temp dir.</summary>
    public static string Create(string prefix)
    {
        var run = Environment.GetEnvironmentVariable(RunDirectoryVariable);
        if (string.IsNullOrEmpty(run) || !Directory.Exists(run))
        {
            return Directory.CreateTempSubdirectory(prefix).FullName;
        }

        // As CreateTempSubdirectory does: a name nobody else has, readable by its owner only.
        var dir = Path.Combine(run, prefix + Guid.NewGuid().ToString("N")[..12]);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dir);
        }
        else
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return dir;
    }
}
