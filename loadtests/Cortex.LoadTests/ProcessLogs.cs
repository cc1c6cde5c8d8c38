using System.Collections.Concurrent;

namespace Cortex.LoadTests;

/// <summary>
/// The log files of the sender and scheduler processes one scenario starts (<see cref="SenderProcess"/> writes each to
/// the temp dir): deleted once the scenario passed, kept when it failed, where its error names them. Every run of
/// `make test`, `make chaos` and `make loadtest` left some twenty of them behind.
/// </summary>
internal sealed class ProcessLogs
{
    private static readonly AsyncLocal<ProcessLogs?> s_current = new();
    private readonly ConcurrentQueue<string> _paths = new();

    /// <summary>Collects the logs of the processes the calling flow starts from now on (its awaits and the tasks it starts).</summary>
    public static ProcessLogs Collect()
    {
        var logs = new ProcessLogs();
        s_current.Value = logs;
        return logs;
    }

    /// <summary>Called by <see cref="SenderProcess.Start"/>.</summary>
    public static void Add(string path) => s_current.Value?._paths.Enqueue(path);

    public IReadOnlyCollection<string> Paths => _paths;

    /// <summary>
    /// After the scenario: when it passed, deletes the logs and returns null; when it failed, keeps them and returns the
    /// line that names them for its progress (null if it started no process).
    /// </summary>
    public string? Settle(bool passed)
    {
        if (passed)
        {
            Delete();
            return null;
        }

        return _paths.IsEmpty ? null : "its processes' logs are kept: " + string.Join(", ", _paths);
    }

    /// <summary>Deletes every log collected: they hold nothing anyone needs.</summary>
    public void Delete()
    {
        while (_paths.TryDequeue(out var path))
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort, as a temp file is: a log still written by a process that outlived its scenario stays.
            }
        }
    }
}
