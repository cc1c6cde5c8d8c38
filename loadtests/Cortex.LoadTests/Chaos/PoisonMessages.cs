using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Cortex.LoadTests.Load;
using Cortex.LoadTests.Reporting;
using Cortex.Shared.Queue;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// K7, poison messages of issue #7, in a real Cortex.Sender process among normal traffic: one message whose handling
/// kills the process every time. The stand-in gateway SIGKILLs the sender that sends it, standing in for a native
/// crash or an OOM that message triggers; the harness starts a new sender each time, as Kubernetes restarts a pod. After
/// Cortex:Queue:MaxDeliveries deliveries it must be dead-lettered as poison with a readable reason, and every other
/// message sent exactly once but for the sends the kills cut between the gateway's acceptance and the ack.
/// </summary>
/// <remarks>
/// A message that makes a worker throw inside the process is not reachable through a real gateway: GatewayHttp turns
/// every network fault and every answer into a result, and SenderEngine turns anything else the gateway call throws
/// (but a cancellation) into a retryable "unexpected error". The worker's own fault path is covered by
/// SenderEngineTests.Send_GatewayThrowsUnexpectedly_WorkersSurviveAndTheMessageIsRetriedThenDeadLettered.
/// </remarks>
internal static class PoisonMessages
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_budget = TimeSpan.FromMinutes(4);

    /// <summary>Normal traffic around the poison message: a minute of sending in the short profile.</summary>
    public static int Messages(ChaosProfile profile) => profile == ChaosProfile.Smoke ? 2_000 : 100_000;

    public static async Task<ScenarioReport> CrashingMessageAsync(LoadContext context, ChaosProfile profile)
    {
        var n = Messages(profile);
        var poison = n / 10;
        var maxDeliveries = new QueueOptions().MaxDeliveries;
        var ledger = new MessageLedger(n);
        await using var gateway = await CrashingGateway.StartAsync(ledger, poison, profile.GatewayLatency);
        var (queue, client) = context.NewQueue("poison");
        var producer = new Producer(client, ledger, queue.Keys.Name + ":");
        context.Progress.WriteLine($"  pushing {n:N0} messages, #{poison:N0} kills the sender that sends it");
        await producer.BurstAsync(0, n);

        var senders = new List<SenderProcess>();
        var kills = new List<(string Instance, List<int> Leased, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        List<Sample> samples;
        Check exit;
        DeadLetterEntry? dead = null;
        TimeSpan? deadAfter = null;
        try
        {
            await using var sampler = new Sampler(queue, () => Live(senders));
            var current = Start(context, profile, queue, gateway, senders, "k7-0");
            while (dead is null || ledger.Distinct < n - 1)
            {
                if (current.HasExited)
                {
                    // Killed by the stand-in: what it held and had sent but not acked may be sent again (counted after the run).
                    var consumer = $"{queue.Keys.Name}-{current.Name}";
                    var leased = ProcessFaults.LeasedIndices(await context.Database.HashValuesAsync(queue.Keys.Leases(consumer)), queue.Keys.Name + ":");
                    kills.Add((current.Name, leased, clock.Elapsed));
                    context.Progress.WriteLine($"  [{clock.Elapsed:mm\\:ss}] kill {kills.Count}: {current.Name} died sending #{poison:N0}, holding {leased.Count:N0} leases; {ledger.Distinct:N0} of {n:N0} accepted");
                    current = Start(context, profile, queue, gateway, senders, $"k7-{kills.Count}");
                }

                if (dead is null && (await queue.GetStatsAsync()).Dead > 0)
                {
                    dead = (await queue.GetDeadLettersAsync(0, 10)).FirstOrDefault(d => d.MessageId == $"{queue.Keys.Name}:{poison}");
                    deadAfter = dead is null ? null : clock.Elapsed;
                }

                if (clock.Elapsed > s_budget)
                {
                    throw new TimeoutException($"after {s_budget.TotalMinutes:N0} min: {kills.Count} kills, poison dead-lettered: {dead is not null}, {ledger.Distinct:N0} of {n - 1:N0} others accepted; logs: {string.Join(", ", senders.Select(s => s.LogPath))}");
                }

                await Task.Delay(s_poll);
            }

            samples = sampler.Samples(ledger, 0, n);
            exit = await LoadContext.StopAsync([current]);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        var (missing, duplicates) = ledger.Audit(0, n);
        var lost = missing.Count(i => i != poison);
        // As in K1: the killed process's leases that the stand-in accepted from it, read after the run, may repeat.
        var sentNotAcked = kills.ConvertAll(k => k.Leased.Where(i => i != poison && gateway.AcceptedBy(i, k.Instance) > 0).ToList());
        var outside = ProcessFaults.RepeatsOutside(ledger, n, sentNotAcked);
        var stats = await queue.GetStatsAsync();
        var cutSends = sentNotAcked.Sum(s => s.Count);
        List<Check> checks =
        [
            new("poison message dead-lettered as poison", $"reason poison after {maxDeliveries} deliveries", dead is null ? "not dead-lettered" : $"{dead.Reason} after {dead.Deliveries} deliveries", dead is { Reason: DeadLetterReasons.Poison } && dead.Deliveries == maxDeliveries),
            new("sender processes it killed", $"{maxDeliveries} (Cortex:Queue:MaxDeliveries)", $"{kills.Count} (the stand-in saw it {gateway.PoisonDeliveries} times)", kills.Count == maxDeliveries && gateway.PoisonDeliveries == maxDeliveries),
            new("other messages lost", "0", $"{lost:N0} of {n - 1:N0}", lost == 0),
            // Per kill, not per message: a send cut at one kill, recovered, sent again and cut again at the next repeats twice.
            new("duplicates: only sends accepted and not yet acked at a kill", $"≤ {cutSends:N0} (summed over the kills), none outside them", $"{duplicates:N0}, {outside:N0} outside", duplicates <= cutSends && outside == 0),
            new("nothing left in Redis but the one dead letter", "0 ready · 0 delayed · 0 leased · 1 dead", $"{stats.Ready:N0} ready · {stats.Delayed:N0} delayed · {stats.Leased:N0} leased · {stats.Dead:N0} dead", stats.Pending == 0 && stats.Dead == 1),
            new("gateway saw only this run's messages", "0 unknown", $"{gateway.Unknown:N0} unknown", gateway.Unknown == 0),
            exit,
        ];
        List<Figure> figures =
        [
            new("load", $"{n:N0} messages backlog, {profile.Workers} workers, gateway answering after {profile.GatewayLatency.TotalMilliseconds:N0} ms; message #{poison:N0} kills its sender"),
            new("faults injected", $"{kills.Count} × SIGKILL by the stand-in on receiving the poison message; a new sender (new consumer id) after each"),
            new("kills at (mm:ss)", string.Join(" · ", kills.Select(k => k.At.ToString(@"mm\:ss", CultureInfo.InvariantCulture)))),
            new("leases held at each kill", string.Join(" · ", kills.Select(k => k.Leased.Count.ToString("N0", CultureInfo.InvariantCulture)))),
            new("of them sent by the killed process, ack not yet written (may repeat)", string.Join(" · ", sentNotAcked.Select(s => s.Count.ToString("N0", CultureInfo.InvariantCulture)))),
            new("duplicates", $"{duplicates:N0}"),
            new("dead letter", dead is null ? "none" : $"{dead.Reason}: {dead.Detail} (deliveries {dead.Deliveries})"),
            new("start → poison dead-lettered", deadAfter is { } t ? $"{t.TotalSeconds:N0} s" : "never"),
            new("consumer timeout", profile.EffectiveConsumerTimeout.TotalSeconds.ToString("N0", CultureInfo.InvariantCulture) + " s"),
            new("a worker that throws in-process", "not reachable through a gateway answer (every answer and fault becomes a result); covered by SenderEngineTests.Send_GatewayThrowsUnexpectedly_WorkersSurviveAndTheMessageIsRetriedThenDeadLettered"),
        ];
        return new ScenarioReport(
            "K7",
            $"Poison message: one that kills its sender, among {n:N0}",
            "closed (backlog)",
            $"{n:N0} billing reminders are pushed; one of them (#{poison:N0}) stands for a message whose handling crashes the process (a native crash, an OOM): whenever the stand-in gateway receives it, it SIGKILLs the sender that sent it and leaves the request unanswered. The harness starts a new sender each time, as Kubernetes restarts the pod. The dead consumer's leases come back after the consumer timeout with their delivery count; at Cortex:Queue:MaxDeliveries ({maxDeliveries}) the message is dead-lettered as poison instead of killing pods forever. Every other message must be sent; a repeat is allowed only for a send the gateway accepted from the killed sender (each sender is its own instance) and that sender had not acked, read from its lease hash right after each kill.",
            figures, checks, samples);
    }

    /// <summary>A sender configured as <see cref="LoadContext.StartSender"/> does, pointed at the crashing stand-in.</summary>
    private static SenderProcess Start(LoadContext context, ChaosProfile profile, RedisMessageQueue queue, CrashingGateway gateway, List<SenderProcess> senders, string pod)
    {
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Redis__Configuration"] = context.Redis,
            ["Cortex__Queue__Name"] = queue.Keys.Name,
            ["Cortex__Sender__ConsumerId"] = $"{queue.Keys.Name}-{pod}",
            ["Cortex__Sender__Workers"] = profile.Workers.ToString(CultureInfo.InvariantCulture),
            ["Cortex__Gateway__Type"] = "Evolution",
            ["Cortex__Gateway__Name"] = queue.Keys.Name,
            ["Cortex__Gateway__Evolution__BaseUrl"] = gateway.BaseUrl.ToString(),
            ["Cortex__Gateway__Evolution__Instance"] = pod,
            ["Cortex__Gateway__Evolution__ApiKey"] = "load-key",
        };
        foreach (var (key, value) in profile.SenderTimings())
        {
            environment[key] = value;
        }

        var sender = SenderProcess.Start(context.SenderDll, pod, environment, "cortex-load");
        gateway.Register(pod, sender);
        lock (senders)
        {
            senders.Add(sender);
        }

        return sender;
    }

    private static List<SenderProcess> Live(List<SenderProcess> senders)
    {
        lock (senders)
        {
            return senders.Where(s => !s.HasExited).ToList();
        }
    }

    /// <summary>
    /// An Evolution API stand-in that accepts and counts every message like <see cref="LoadGateway"/>, except one: on
    /// receiving it, it SIGKILLs the sender process of that instance (path segment) and drops the request.
    /// </summary>
    private sealed class CrashingGateway : IAsyncDisposable
    {
        private readonly MessageLedger _ledger;
        private readonly int _poison;
        private readonly TimeSpan _latency;
        private readonly ConcurrentDictionary<string, SenderProcess> _senders = new(StringComparer.Ordinal);
        private WebApplication _app = null!;
        private readonly ConcurrentDictionary<(int Index, string Instance), int> _byIndexAndInstance = new();
        private int _poisonDeliveries;
        private long _unknown;

        private CrashingGateway(MessageLedger ledger, int poison, TimeSpan latency)
        {
            (_ledger, _poison, _latency) = (ledger, poison, latency);
        }

        public int PoisonDeliveries => Volatile.Read(ref _poisonDeliveries);

        public long Unknown => Interlocked.Read(ref _unknown);

        public Uri BaseUrl { get; private set; } = null!;

        /// <summary>How many times the message at <paramref name="index"/> was accepted from <paramref name="instance"/> (one per sender process).</summary>
        public int AcceptedBy(int index, string instance) => _byIndexAndInstance.GetValueOrDefault((index, instance));

        public static async Task<CrashingGateway> StartAsync(MessageLedger ledger, int poison, TimeSpan latency)
        {
            var gateway = new CrashingGateway(ledger, poison, latency);
            (gateway._app, gateway.BaseUrl) = await LoopbackServer.StartAsync(app =>
            {
                app.MapPost("/message/sendText/{instance}", gateway.AnswerAsync);
                app.MapPost("/message/sendTemplate/{instance}", gateway.AnswerAsync);
            });
            return gateway;
        }

        public void Register(string instance, SenderProcess sender) => _senders[instance] = sender;

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        private async Task AnswerAsync(HttpContext context, string instance)
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            var index = NumberIndex(body);
            if (index == _poison)
            {
                Interlocked.Increment(ref _poisonDeliveries);
                if (_senders.TryGetValue(instance, out var sender))
                {
                    await sender.KillAsync();
                }

                context.Abort();
                return;
            }

            if (_latency > TimeSpan.Zero)
            {
                await Task.Delay(_latency, context.RequestAborted);
            }

            if (!_ledger.Accept(index, Stopwatch.GetTimestamp()))
            {
                Interlocked.Increment(ref _unknown);
            }

            _byIndexAndInstance.AddOrUpdate((index, instance), 1, static (_, n) => n + 1);

            context.Response.StatusCode = (int)HttpStatusCode.Created;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"key":{"remoteJid":"x@s.whatsapp.net","fromMe":true,"id":"POISON-RUN"},"status":"PENDING"}""", context.RequestAborted);
        }

        private static int NumberIndex(MemoryStream body)
        {
            var reader = new Utf8JsonReader(body.GetBuffer().AsSpan(0, (int)body.Length));
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("number"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    return Workload.IndexOfNumber(reader.GetString());
                }
            }

            return -1;
        }
    }
}
