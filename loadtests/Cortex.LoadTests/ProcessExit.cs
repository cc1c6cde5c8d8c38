using System.Diagnostics;
using System.Globalization;

namespace Cortex.LoadTests;

/// <summary>
/// Signals for the processes the harness runs, and bounded waits for one it ended. Also compiled into Cortex.Testing
/// (linked), whose redis-server and service processes are signalled and killed the same way.
/// </summary>
internal static class ProcessExit
{
    private static readonly TimeSpan s_afterKill = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends <paramref name="signal"/> (TERM, STOP, CONT…) with kill(1), which .NET has no API for. A process that has
    /// already exited is left alone; a kill that fails on a running one is an error naming it.
    /// </summary>
    public static async Task SignalAsync(this Process process, string signal)
    {
        if (process.HasExited)
        {
            return;
        }

        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(CultureInfo.InvariantCulture)]) ?? throw new InvalidOperationException("could not start kill");
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0 && !process.HasExited)
        {
            throw new InvalidOperationException($"kill -{signal} of {process.StartInfo.FileName} (pid {process.Id}) exited {kill.ExitCode}");
        }
    }

    /// <summary>
    /// SIGSTOP, then waits, at most 10 s, until every thread of the process has stopped. kill(1) returns once the signal
    /// is sent, while the process's other threads stop only when the kernel gets round to it: a sender went on to send
    /// one more message after a test had read its count "at the freeze". A process that is gone is left alone.
    /// </summary>
    public static async Task FreezeAsync(this Process process)
    {
        await process.SignalAsync("STOP");
        var tasks = $"/proc/{process.Id.ToString(CultureInfo.InvariantCulture)}/task";
        var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (!process.HasExited && !AllStopped(tasks))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{process.StartInfo.FileName} (pid {process.Id}) not stopped 10 s after SIGSTOP");
            }

            await Task.Delay(5);
        }
    }

    // Each thread's state is the field after the command's closing parenthesis in its stat: T when stopped by a signal.
    private static bool AllStopped(string tasks)
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories(tasks))
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var state = stat[(stat.LastIndexOf(')') + 2)..];
                if (state.Length == 0 || state[0] is not ('T' or 't'))
                {
                    return false;
                }
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A thread that ended between the listing and the read; the next look sees the rest.
            return false;
        }
    }

    /// <summary>
    /// Waits, at most 30 s, for <paramref name="process"/> to be gone after a SIGKILL. .NET's WaitForExitAsync also waits
    /// for the end of redirected output, which a child the process forked (redis-server's AOF rewrite) can hold open after
    /// the process itself is gone: then the wait ends at the exit, not at the end of the output. A process still running
    /// then is an error naming it, never a wait without end.
    /// </summary>
    public static async Task WaitAfterKillAsync(this Process process)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(s_afterKill);
        }
        catch (TimeoutException) when (process.HasExited)
        {
            // Gone; only its output pipe is still open.
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{process.StartInfo.FileName} (pid {process.Id}) still running {s_afterKill.TotalSeconds:N0} s after SIGKILL", e);
        }
    }
}
