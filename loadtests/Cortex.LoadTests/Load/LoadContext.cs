using System.Globalization;
using Cortex.LoadTests.Reporting;
using Cortex.Shared.Client;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.LoadTests.Load;

/// <summary>What every scenario needs: the Redis and PostgreSQL of the run, the sender to start, the profile, and a progress writer.</summary>
internal sealed class LoadContext : IAsyncDisposable
{
    // A sender that accepts nothing for this long has stalled: the scenario fails instead of hanging.
    private static readonly TimeSpan s_noProgress = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_exitBudget = TimeSpan.FromSeconds(40);
    private readonly ConnectionMultiplexer _connection;
    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    private LoadContext(ConnectionMultiplexer connection, string redis, string postgres, string senderDll, LoadProfile profile, TextWriter progress)
    {
        _connection = connection;
        Redis = redis;
        Postgres = postgres;
        SenderDll = senderDll;
        Profile = profile;
        Progress = progress;
    }

    public string Redis { get; }

    public string Postgres { get; }

    public string SenderDll { get; }

    public LoadProfile Profile { get; }

    public TextWriter Progress { get; }

    /// <summary>The run's Redis: raw pushes through the public contract (LPUSH), and queue keys watched directly (a dead consumer's lease hash).</summary>
    public IDatabase Database => _connection.GetDatabase();

    public static async Task<LoadContext> ConnectAsync(string redis, string postgres, string senderDll, LoadProfile profile, TextWriter progress) =>
        new(await ConnectionMultiplexer.ConnectAsync(redis), redis, postgres, senderDll, profile, progress);

    /// <summary>A fresh queue for one scenario (its own keys, so runs never see each other's messages or sent markers) and a client on it.</summary>
    public (RedisMessageQueue Queue, CortexClient Client) NewQueue(string scenario)
    {
        var queue = new RedisMessageQueue(_connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = $"load-{_run}-{scenario}" }), TimeProvider.System);
        return (queue, new CortexClient(queue, TimeProvider.System));
    }

    /// <summary>
    /// A sender process ("pod") sending to <paramref name="gateway"/> through the adapter of its dialect (Evolution, or the
    /// Cloud API with <see cref="PhoneNumberId"/> of the pod), configured as a pod is: by environment.
    /// </summary>
    public SenderProcess StartSender(string pod, RedisMessageQueue queue, LoadGateway gateway, int workers, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Redis__Configuration"] = Redis,
            ["Cortex__Queue__Name"] = queue.Keys.Name,
            ["Cortex__Sender__ConsumerId"] = $"{queue.Keys.Name}-{pod}",
            ["Cortex__Sender__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
            ["Cortex__Gateway__Name"] = queue.Keys.Name,
        };
        if (gateway.Dialect == GatewayDialect.Cloud)
        {
            environment["Cortex__Gateway__Type"] = "Cloud";
            environment["Cortex__Gateway__Cloud__BaseUrl"] = gateway.BaseUrl.ToString();
            environment["Cortex__Gateway__Cloud__PhoneNumberId"] = PhoneNumberId(pod);
            environment["Cortex__Gateway__Cloud__AccessToken"] = "load-token";
        }
        else
        {
            environment["Cortex__Gateway__Type"] = "Evolution";
            environment["Cortex__Gateway__Evolution__BaseUrl"] = gateway.BaseUrl.ToString();
            environment["Cortex__Gateway__Evolution__Instance"] = pod;
            environment["Cortex__Gateway__Evolution__ApiKey"] = "load-key";
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        return SenderProcess.Start(SenderDll, pod, environment, "cortex-load");
    }

    /// <summary>
    /// The Cloud API phone number id a pod sends from, which is also the stand-in's instance for it: digits only, as Meta's
    /// ids are (the sender refuses any other), three per character of the pod's name ("k5h" is 10107053104).
    /// </summary>
    private static string PhoneNumberId(string pod) => "10" + string.Concat(pod.Select(c => ((int)c).ToString("D3", CultureInfo.InvariantCulture)));

    /// <summary>
    /// Waits until <paramref name="target"/> distinct messages of the ledger were accepted. Fails if a sender exits, or
    /// if nothing new is accepted for a minute (a stall must end the run, not hang it).
    /// </summary>
    public static async Task WaitForAcceptedAsync(MessageLedger ledger, int target, IReadOnlyList<SenderProcess> senders)
    {
        var done = ledger.WhenDistinct(target);
        var last = ledger.AcceptedTotal;
        var lastProgress = TimeProvider.System.GetTimestamp();
        // The count too, not only the task: the task is the prompt way out, the count the one that cannot be missed.
        while (!done.IsCompleted && ledger.Distinct < target)
        {
            await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(1)));
            if (senders.FirstOrDefault(s => s.HasExited) is { } gone)
            {
                throw new InvalidOperationException($"sender {gone.Name} exited with {gone.ExitCode}; its log: {gone.LogPath}");
            }

            if (ledger.AcceptedTotal != last)
            {
                (last, lastProgress) = (ledger.AcceptedTotal, TimeProvider.System.GetTimestamp());
            }
            else if (!done.IsCompleted && ledger.Distinct < target && TimeProvider.System.GetElapsedTime(lastProgress) > s_noProgress)
            {
                throw new InvalidOperationException(
                    $"no message accepted for {s_noProgress.TotalSeconds:N0} s with {ledger.Distinct:N0} of {target:N0} accepted; logs: {string.Join(", ", senders.Select(s => s.LogPath))}");
            }
        }
    }

    /// <summary>SIGTERM to every sender, as a scale-in does; the check that each exited 0 within the grace period.</summary>
    public static async Task<Check> StopAsync(IReadOnlyList<SenderProcess> senders)
    {
        foreach (var sender in senders)
        {
            await sender.TerminateAsync();
        }

        var codes = new List<string>();
        foreach (var sender in senders)
        {
            codes.Add(await sender.WaitForExitAsync(s_exitBudget) is { } exit ? exit.ExitCode.ToString(CultureInfo.InvariantCulture) : "hung");
        }

        return new Check("senders exit 0 on SIGTERM", "0", string.Join(" · ", codes), codes.All(c => c == "0"));
    }

    /// <summary>
    /// The no-loss check of a scenario: every message of [from, to) accepted exactly once, or dead-lettered, and nothing
    /// left in the queue. With <paramref name="deadAllowed"/> false a dead letter is a failure too. With
    /// <paramref name="unanswered"/> (a scenario that cuts gateway calls off: the message ids of the calls the senders
    /// named unanswered, event 2003), a message accepted again after one of those is the at-least-once cost, counted
    /// apart, at most one repeat per call of it cut off; any other repeat still fails.
    /// </summary>
    public static async Task<List<Check>> AuditAsync(
        MessageLedger ledger, int from, int to, RedisMessageQueue queue, LoadGateway gateway, bool deadAllowed = false, IReadOnlyCollection<string>? unanswered = null)
    {
        var (missing, duplicates) = ledger.Audit(from, to);
        var stats = await queue.GetStatsAsync();
        var deadIds = (await DeadLettersByIndexAsync(queue, stats.Dead)).Keys;

        var unaccounted = missing.Count(i => !deadIds.Contains(i));
        var total = to - from;
        var accounted = $"{total - missing.Count:N0} accepted · {stats.Dead:N0} dead · lost {unaccounted:N0} · duplicates {duplicates:N0}";
        var deadOk = deadAllowed || stats.Dead == 0;
        var noLoss = unanswered is null
            ? new Check("every message accepted once or dead-lettered", "lost 0 · duplicates 0", accounted, unaccounted == 0 && duplicates == 0 && deadOk)
            : UnansweredCheck(ledger, from, to, unanswered, accounted, unaccounted == 0 && deadOk);
        return
        [
            noLoss,
            new Check("nothing left in Redis", "0 ready · 0 delayed · 0 leased", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased", stats.Pending == 0),
            new Check("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0),
        ];
    }

    private static Check UnansweredCheck(MessageLedger ledger, int from, int to, IReadOnlyCollection<string> unanswered, string accounted, bool noLoss)
    {
        // Each repeat needs a call of its own that the sender cut off: a message named once explains one repeat, not five.
        var cutOffs = WorkloadIndexCounts(unanswered);

        var unexplained = 0;
        for (var i = from; i < to; i++)
        {
            unexplained += Math.Max(0, ledger.AcceptCount(i) - 1 - cutOffs.GetValueOrDefault(i));
        }

        return new Check(
            "every message accepted once or dead-lettered; a repeat only after its call was cut off",
            "lost 0 · duplicates 0 beyond the messages the sender named unanswered (event 2003)",
            $"{accounted} ({unexplained:N0} of them unexplained; {unanswered.Count:N0} gateway calls named unanswered)",
            noLoss && unexplained == 0);
    }

    /// <summary>The first <paramref name="count"/> dead letters of <paramref name="queue"/> by workload index, leaving out entries whose id is not one.</summary>
    internal static async Task<Dictionary<int, DeadLetterEntry>> DeadLettersByIndexAsync(RedisMessageQueue queue, long count)
    {
        var dead = new Dictionary<int, DeadLetterEntry>();
        foreach (var entry in await queue.GetDeadLettersAsync(0, Math.Max(1, count)))
        {
            if (WorkloadIndex(entry.MessageId) is { } index)
            {
                dead[index] = entry;
            }
        }

        return dead;
    }

    /// <summary>The workload indices of <paramref name="messageIds"/>, leaving out ids that are not one.</summary>
    internal static HashSet<int> WorkloadIndices(IEnumerable<string> messageIds) => messageIds.Select(WorkloadIndex).OfType<int>().ToHashSet();

    /// <summary>How many times each workload index occurs in <paramref name="messageIds"/> (one per event line), leaving out ids that are not one.</summary>
    internal static Dictionary<int, int> WorkloadIndexCounts(IEnumerable<string> messageIds) => messageIds.Select(WorkloadIndex).OfType<int>().CountBy(i => i).ToDictionary();

    /// <summary>The workload index at the end of a message id ("queue:123"), or null for an id that is not one.</summary>
    internal static int? WorkloadIndex(string? messageId) =>
        messageId?.LastIndexOf(':') is { } colon and >= 0 && int.TryParse(messageId.AsSpan(colon + 1), CultureInfo.InvariantCulture, out var index) ? index : null;

    public ValueTask DisposeAsync()
    {
        _connection.Dispose();
        return ValueTask.CompletedTask;
    }
}
