using System.Diagnostics;
using System.Globalization;
using Cortex.LoadTests.Reporting;
using Cortex.Shared.Client;
using Cortex.Shared.Queue;
using StackExchange.Redis;

namespace Cortex.LoadTests;

/// <summary>
/// make perf: throughput of a separate Cortex.Sender process draining a backlog, (1) with the instant in-process
/// fake gateway — the engine's own overhead — and (2) over HTTP against an instant Evolution stand-in, next to a
/// bare HttpClient loop with the same concurrency against the same stand-in, in the same run.
/// </summary>
internal static class PerfRun
{
    private const int Concurrency = 64;

    public static async Task<int> EngineAsync(string redis, int count, string senderDll)
    {
        var result = await EngineDrainAsync(redis, count, senderDll);
        Console.WriteLine($"| engine, instant in-process gateway | {count:N0} | {result.Throughput:N0} msg/s | {result.PeakRssMb:N0} MB | {result.SenderCpuUs:N1} µs + {result.RedisCpuUs:N1} µs |");
        return 0;
    }

    public static async Task<int> HttpAsync(string redis, int count, string senderDll, int workers = Concurrency)
    {
        var (bare, bareAgain, cortex) = await HttpCeilingAsync(redis, count, senderDll, workers, TimeSpan.Zero);
        var ceiling = Math.Max(bare, bareAgain);
        Console.WriteLine($"| bare HttpClient loop, {workers} concurrent (before / after) | {count:N0} | {bare:N0} / {bareAgain:N0} msg/s | | |");
        Console.WriteLine($"| Cortex sender over HTTP (Evolution adapter), {workers} workers | {count:N0} | {cortex.Throughput:N0} msg/s = {cortex.Throughput / ceiling:P0} of the best bare run | {cortex.PeakRssMb:N0} MB | {cortex.SenderCpuUs:N1} µs + {cortex.RedisCpuUs:N1} µs |");
        if (cortex.Delivery is { Passed: false } delivery)
        {
            // A sender that acked without sending would drain faster: its figure means nothing.
            Console.Error.WriteLine($"FAILED: {delivery.Name}: {delivery.Measured} (expected {delivery.Target})");
            return 1;
        }

        return 0;
    }

    /// <summary>
    /// A separate sender process with the built-in instant gateway drains <paramref name="count"/> messages: the engine's
    /// own ceiling. With <paramref name="warmUp"/> it first drains that many, and the measured backlog finds it warm.
    /// </summary>
    public static Task<DrainResult> EngineDrainAsync(string redis, int count, string senderDll, int warmUp = 0) =>
        DrainWithSenderAsync(redis, count, senderDll, new Dictionary<string, string>
        {
            ["Cortex__Gateway__Type"] = "Fake",
            ["Cortex__Gateway__Fake__TrackAcceptedIds"] = "false",
            ["Cortex__Sender__Workers"] = Concurrency.ToString(CultureInfo.InvariantCulture),
        }, warmUp);

    /// <summary>
    /// Against one Evolution stand-in answering after <paramref name="latency"/>: a bare HttpClient loop with as many
    /// concurrent requests as the sender has workers (one unmeasured warm-up run, then one before and one after), and the
    /// sender draining <paramref name="count"/> messages with <paramref name="workers"/> workers, after
    /// <paramref name="warmUp"/> unmeasured ones in the same process. The stand-in counts each message it accepted, and
    /// the result's <see cref="DrainResult.Delivery"/> checks that the sender sent each one exactly once.
    /// </summary>
    public static async Task<(double Bare, double BareAgain, DrainResult Cortex)> HttpCeilingAsync(string redis, int count, string senderDll, int workers, TimeSpan latency, int warmUp = 0)
    {
        await using var gateway = await FakeHttpGateway.StartAsync(latency, countIndices: warmUp + count);
        // Tiered JIT with PGO and the thread pool's ramp-up need seconds of load: one full unmeasured run.
        await BareHttpClientAsync(gateway.BaseUrl, count, workers);
        var bare = await BareHttpClientAsync(gateway.BaseUrl, count, workers);
        var cortex = await DrainWithSenderAsync(redis, count, senderDll, new Dictionary<string, string>
        {
            ["Cortex__Gateway__Type"] = "Evolution",
            ["Cortex__Gateway__Evolution__BaseUrl"] = gateway.BaseUrl.ToString(),
            ["Cortex__Gateway__Evolution__Instance"] = "perf",
            ["Cortex__Gateway__Evolution__ApiKey"] = "perf-key",
            ["Cortex__Sender__Workers"] = workers.ToString(CultureInfo.InvariantCulture),
        }, warmUp, gateway);
        var bareAgain = await BareHttpClientAsync(gateway.BaseUrl, count, workers);
        return (bare, bareAgain, cortex);
    }

    private static async Task<double> BareHttpClientAsync(Uri baseUrl, int count, int concurrency)
    {
        using var client = new HttpClient { BaseAddress = baseUrl };
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                var body = new { number = "5511987654321", text = "Olá Ana, sua fatura de R$ 129,90 vence em 25/11/2026. Pague pelo link https://pay.example/f/1" };
                using var request = new HttpRequestMessage(HttpMethod.Post, "message/sendText/perf") { Content = JsonContent.Create(body) };
                request.Headers.Add("apikey", "perf-key");
                using var response = await client.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                response.EnsureSuccessStatusCode();
            }
        }));
        return count / clock.Elapsed.TotalSeconds;
    }

    private static async Task<DrainResult> DrainWithSenderAsync(string redis, int count, string senderDll, Dictionary<string, string> environment, int warmUp, FakeHttpGateway? gateway = null)
    {
        var queueName = "perf" + Guid.NewGuid().ToString("N")[..8];
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        var queue = new RedisMessageQueue(connection, Microsoft.Extensions.Options.Options.Create(new QueueOptions { Name = queueName }), TimeProvider.System);
        var client = new CortexClient(queue, TimeProvider.System);
        var now = TimeProvider.System.GetUtcNow();
        var random = new Random(7);
        async Task EnqueueAsync(int first, int n, string idPrefix)
        {
            // Ids of their own: a warm-up id sent already would make the measured copy a skipped duplicate. Numbers of
            // their own too (workload indices [first, first + n)), so the stand-in counts each message apart.
            for (var start = first; start < first + n; start += 10_000)
            {
                await client.EnqueueBatchAsync(Enumerable.Range(start, Math.Min(10_000, first + n - start))
                    .Select(i => Workload.BillingReminder(i, now, random, idPrefix + i.ToString(CultureInfo.InvariantCulture))).ToList());
            }
        }

        var requestsBefore = gateway?.Requests ?? 0;
        await EnqueueAsync(0, warmUp > 0 ? warmUp : count, warmUp > 0 ? "warm:" : "run:");
        var settings = new Dictionary<string, string>(environment)
        {
            ["Cortex__Redis__Configuration"] = redis,
            ["Cortex__Queue__Name"] = queueName,
        };
        await using var sender = SenderProcess.Start(senderDll, "perf", settings, "cortex-perf-sender");
        var logPath = sender.LogPath;
        if (warmUp > 0)
        {
            // A warm process: the warm-up backlog drained, its JIT tiers settled, then the measured backlog at once.
            var lastLeft = long.MaxValue;
            var stalled = Stopwatch.StartNew();
            while ((await queue.GetStatsAsync()).Pending is var left and > 0)
            {
                if (left < lastLeft)
                {
                    lastLeft = left;
                    stalled.Restart();
                }

                if (sender.HasExited || stalled.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new InvalidOperationException($"the warm-up drain stopped with {left} pending; sender log: {logPath}");
                }

                await Task.Delay(50);
            }

            await EnqueueAsync(warmUp, count, "run:");
        }

        // A cold process is timed from the moment 10% of the backlog is done to the last ack, so start-up is not counted;
        // a warm one from the moment the whole backlog is in Redis. The bare loop's warm-up run is not counted either.
        Stopwatch? clock = null;
        long startPending = 0;
        double peakRss = 0;
        var lastPending = long.MaxValue;
        TimeSpan senderCpuStart = default, senderCpu = default;
        double redisCpuStart = 0, redisCpu = 0;
        var lastProgress = Stopwatch.StartNew();
        while (true)
        {
            await Task.Delay(50);
            if (sender.HasExited)
            {
                throw new InvalidOperationException($"sender exited with {sender.ExitCode}; its log: {logPath}");
            }

            peakRss = Math.Max(peakRss, CpuProbes.RssMb(sender.Id));
            var stats = await queue.GetStatsAsync();
            if (stats.Pending < lastPending)
            {
                lastPending = stats.Pending;
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"no progress for 30 s with {stats.Pending} pending ({stats.Ready} ready, {stats.Leased} leased, {stats.Delayed} delayed); sender log: {logPath}");
            }

            if (clock is null && (warmUp > 0 || stats.Pending <= count * 9 / 10))
            {
                clock = Stopwatch.StartNew();
                startPending = stats.Pending;
                senderCpuStart = sender.Cpu();
                redisCpuStart = await CpuProbes.RedisCpuSecondsAsync(connection.GetDatabase());
            }

            if (clock is not null && stats.Pending == 0)
            {
                clock.Stop();
                senderCpu = sender.Cpu() - senderCpuStart;
                redisCpu = await CpuProbes.RedisCpuSecondsAsync(connection.GetDatabase()) - redisCpuStart;
                break;
            }
        }

        var dead = (await queue.GetStatsAsync()).Dead;
        await connection.GetDatabase().KeyDeleteAsync([queue.Keys.ReadyHigh, queue.Keys.ReadyNormal, queue.Keys.ReadyLow, queue.Keys.Dead, queue.Keys.Delayed]);
        if (dead != 0)
        {
            throw new InvalidOperationException($"{dead} messages were dead-lettered during a clean perf run");
        }

        // Time to an empty queue is only a throughput if every message was sent: one acked without its request would
        // drain faster. The stand-in's count per message, warm-up included, is the check.
        var delivery = gateway is null ? null : Delivery(gateway, warmUp + count, gateway.Requests - requestsBefore);
        return new DrainResult(startPending / clock.Elapsed.TotalSeconds, peakRss, senderCpu.TotalMicroseconds / startPending, redisCpu * 1e6 / startPending, delivery);
    }

    /// <summary>
    /// The check that the stand-in accepted each of the <paramref name="total"/> messages (workload indices [0, total))
    /// exactly once, and took no other request from the sender.
    /// </summary>
    internal static Check Delivery(FakeHttpGateway gateway, int total, long requests)
    {
        var (never, repeats) = (0, 0);
        for (var i = 0; i < total; i++)
        {
            var accepted = gateway.AcceptedIndex(i);
            never += accepted == 0 ? 1 : 0;
            repeats += Math.Max(0, accepted - 1);
        }

        return new Check(
            "each message sent to the stand-in exactly once",
            $"{total:N0} requests · 0 never sent · 0 sent twice",
            $"{requests:N0} requests · {never:N0} never sent · {repeats:N0} repeats",
            requests == total && never == 0 && repeats == 0);
    }
}

/// <summary>
/// A timed drain by one sender process: msg/s from 10% done to the last ack, peak RSS, CPU per message of the sender and
/// Redis, and, against an HTTP stand-in, the check that it sent each message exactly once (null with the in-process
/// gateway, which only the sender itself sees).
/// </summary>
internal sealed record DrainResult(double Throughput, double PeakRssMb, double SenderCpuUs, double RedisCpuUs, Check? Delivery);
