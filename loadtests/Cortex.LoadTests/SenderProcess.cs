using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Cortex.LoadTests;

/// <summary>
/// One real Cortex.Sender process, a "pod": <c>dotnet Cortex.Sender.dll</c> configured by <c>Cortex__...</c> environment
/// variables, its output in a log file, stopped with SIGTERM as Kubernetes does on scale-in.
/// </summary>
internal sealed partial class SenderProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly TaskCompletionSource _hostStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> _unanswered = [];
    private readonly List<string> _redelivered = [];
    private readonly List<string> _notSentTaken = [];
    private TimeSpan _lastCpu;
    private (int Returned, int Cancelled)? _stopped;
    private bool _closed;
    private long _exitedAt;

    private SenderProcess(string name, Process process, string logPath, StreamWriter log)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _log = log;
        StartedAt = Stopwatch.GetTimestamp();
    }

    public string Name { get; }

    public string LogPath { get; }

    /// <summary>When the process was launched (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long StartedAt { get; }

    /// <summary>When SIGTERM was sent, if it was.</summary>
    public long? TerminatedAt { get; private set; }

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts the sender; its output goes to /tmp/{logPrefix}-{name}-{pid}.log (<see cref="ProcessLogs"/>).</summary>
    public static SenderProcess Start(string senderDll, string name, IReadOnlyDictionary<string, string> environment, string logPrefix = "cortex-scaleout")
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(senderDll);
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["Cortex__Observability__Port"] = "0";
        info.Environment["Logging__LogLevel__Default"] = "Warning";

        // HostStarted waits for the host's "Application started." line. It is Information, and nothing else turns it on
        // when the working directory has no appsettings.json (make chaos runs from the repository's root).
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";

        // The engine's start, stopping and stopped lines (with how many messages it returned) are Information.
        info.Environment["Logging__LogLevel__Cortex.Sender.Pipeline"] = "Information";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the sender");
        var logPath = Path.Combine(Path.GetTempPath(), $"{logPrefix}-{name}-{process.Id}.log");
        var sender = new SenderProcess(name, process, logPath, new StreamWriter(logPath) { AutoFlush = true });
        ProcessLogs.Add(logPath);
        process.Exited += (_, _) =>
        {
            Interlocked.CompareExchange(ref sender._exitedAt, Stopwatch.GetTimestamp(), 0);
            sender._hostStarted.TrySetResult();
        };
        process.EnableRaisingEvents = true;
        process.OutputDataReceived += (_, e) => sender.Add(e.Data);
        process.ErrorDataReceived += (_, e) => sender.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sender;
    }

    /// <summary>CPU time used so far; after the exit, the last reading taken while it ran.</summary>
    public TimeSpan Cpu() => _lastCpu = ReadCpu(_process, _lastCpu);

    /// <summary>
    /// The CPU time of <paramref name="process"/>, or <paramref name="last"/> once it has exited: the chaos runs read it
    /// while they kill and stop senders, so the exit can come at any point of the read.
    /// </summary>
    internal static TimeSpan ReadCpu(Process process, TimeSpan last)
    {
        try
        {
            process.Refresh();
            return process.HasExited ? last : process.TotalProcessorTime;
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // Exited between the check and the read: InvalidOperationException once .NET has seen the exit,
            // Win32Exception when the exit was reaped (its /proc/<pid>/stat gone) before .NET recorded it.
            return last;
        }
    }

    /// <summary>
    /// SIGTERM, as Kubernetes stops a pod; does not wait for the exit. It is sent once the host is up (<see cref="HostStarted"/>):
    /// a process signalled before its host handles SIGTERM dies of the signal (exit 143) with nothing done, and the checks
    /// are about stopping a running service. A replacement started just before the work ran out is still starting.
    /// </summary>
    public async Task TerminateAsync()
    {
        await HostStarted.WaitAsync(TimeSpan.FromSeconds(60));
        Cpu();
        TerminatedAt = Stopwatch.GetTimestamp();
        await SignalAsync("TERM");
    }

    /// <summary>SIGSTOP: the process stands still, mid-run, until <see cref="ContinueAsync"/>; it notices nothing.</summary>
    public Task FreezeAsync() => _process.FreezeAsync();

    /// <summary>SIGCONT after <see cref="FreezeAsync"/>.</summary>
    public Task ContinueAsync() => SignalAsync("CONT");

    private Task SignalAsync(string signal) => _process.SignalAsync(signal);

    /// <summary>
    /// SIGKILL, as the OOM killer or a node failure ends a pod: no shutdown path runs, leases and unwritten acks stay
    /// behind. Waits until the process is gone.
    /// </summary>
    public async Task KillAsync()
    {
        Cpu();
        _process.Kill(entireProcessTree: false);
        await _process.WaitAfterKillAsync();
    }

    /// <summary>Waits for the exit; the exit code and how long after SIGTERM it came, or null on a hang (the process is then killed).</summary>
    public async Task<(int ExitCode, TimeSpan AfterTerm)?> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitAfterKillAsync();
            return null;
        }

        // The exit time from the Exited event: the caller may wait long after the process went.
        var exitedAt = Interlocked.Read(ref _exitedAt) is > 0 and var at ? at : Stopwatch.GetTimestamp();
        var after = TerminatedAt is { } t ? Stopwatch.GetElapsedTime(t, exitedAt) : TimeSpan.Zero;
        return (_process.ExitCode, after);
    }

    /// <summary>
    /// Completes once the .NET host logged "Application started" (Microsoft.Hosting.Lifetime at Information; its SIGTERM
    /// handling is in place from then on), or the process exited.
    /// </summary>
    public Task HostStarted => _hostStarted.Task;

    /// <summary>From the engine's "stopped" line, once written: messages returned to ready unsent, and sends cancelled at the deadline.</summary>
    public (int Returned, int Cancelled)? Stopped
    {
        get
        {
            lock (_log)
            {
                return _stopped;
            }
        }
    }

    /// <summary>
    /// The ids of the messages whose gateway call this sender cut off before an answer (event 2003), once per call: the
    /// only sends, with a hard kill, that may reach the gateway twice.
    /// </summary>
    public IReadOnlyList<string> Unanswered => Snapshot(_unanswered);

    /// <summary>
    /// The ids of the messages this sender sent again after the consumer that held them died (event 1018), once per
    /// send: with <see cref="Unanswered"/>, every send that may repeat one the customer already got.
    /// </summary>
    public IReadOnlyList<string> Redelivered => Snapshot(_redelivered);

    /// <summary>
    /// The ids of the messages this sender did not send because another consumer had recovered their leases while Redis
    /// did not hear from this one (event 1023).
    /// </summary>
    public IReadOnlyList<string> NotSentTaken => Snapshot(_notSentTaken);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitAfterKillAsync();
        }

        _process.Dispose();
        lock (_log)
        {
            _closed = true;
            _log.Dispose();
        }
    }

    /// <summary>A copy of ids the output reader is still adding to.</summary>
    private List<string> Snapshot(List<string> ids)
    {
        lock (_log)
        {
            return [.. ids];
        }
    }

    private void Add(string? line)
    {
        lock (_log)
        {
            if (line is null || _closed)
            {
                return;
            }

            _log.WriteLine(line);
            if (line.Contains("Application started.", StringComparison.Ordinal))
            {
                _hostStarted.TrySetResult();
            }

            if (StoppedLine().Match(line) is { Success: true } match)
            {
                _stopped = (int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
            }
            else if (UnansweredLine().Match(line) is { Success: true } unanswered)
            {
                _unanswered.Add(unanswered.Groups[1].Value);
            }
            else if (RedeliveredLine().Match(line) is { Success: true } redelivered)
            {
                _redelivered.Add(redelivered.Groups[1].Value);
            }
            else if (NotSentTakenLine().Match(line) is { Success: true } taken)
            {
                _notSentTaken.Add(taken.Groups[1].Value);
            }
        }
    }

    [GeneratedRegex(@"stopped: (\d+) unsent messages returned to ready, (\d+) sends cancelled")]
    private static partial Regex StoppedLine();

    [GeneratedRegex(@"\[2003\] .* gave no answer for message (\S+) \(")]
    private static partial Regex UnansweredLine();

    // A message without a traceId is logged without the "(trace …)" clause, under the same event id.
    [GeneratedRegex(@"\[1018\] Sending message (\S+) (?:\(trace \S+\) )?again")]
    internal static partial Regex RedeliveredLine();

    [GeneratedRegex(@"\[1023\] Message (\S+) (?:\(trace \S+\) )?not sent here")]
    internal static partial Regex NotSentTakenLine();
}
