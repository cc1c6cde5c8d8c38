using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Cortex.LoadTests;

/// <summary>
/// An Evolution API stand-in on loopback: reads each sendText body and answers 201 with a message key, at once or after
/// a fixed latency (a real provider's round trip, which bounds a pod at Workers / latency). When asked to, it records
/// every number it accepted, which instance (the path segment) sent it, and when it arrived, so a run can count losses
/// and duplicates exactly, split the work by process and measure the rate the provider saw.
/// </summary>
internal sealed class FakeHttpGateway : IAsyncDisposable
{
    private WebApplication _app = null!;
    private readonly TimeSpan _latency;
    private readonly bool _record;
    private readonly ConcurrentDictionary<string, int> _acceptedByNumber = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _acceptedByInstance = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<long> _arrivals = new();
    private readonly int[]? _byIndex;
    private long _requests;
    private long _otherNumbers;

    private FakeHttpGateway(TimeSpan latency, bool record, int countIndices)
    {
        _latency = latency;
        _record = record;
        _byIndex = countIndices > 0 ? new int[countIndices] : null;
    }

    public Uri BaseUrl { get; private set; } = null!;

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>How many times each number was accepted (recording runs only): a duplicate shows as 2.</summary>
    public IReadOnlyDictionary<string, int> AcceptedByNumber => _acceptedByNumber;

    public int AcceptedFrom(string instance) => _acceptedByInstance.GetValueOrDefault(instance);

    /// <summary>
    /// How many times the workload message of index i (<see cref="Workload.IndexOfNumber"/>) was accepted, for indices
    /// below the count asked for at start (none otherwise): each must be 1 for a run to have sent every message once.
    /// </summary>
    public int AcceptedIndex(int index) => _byIndex is { } counts && (uint)index < (uint)counts.Length ? Volatile.Read(ref counts[index]) : 0;

    /// <summary>Requests whose number is no workload index below the count asked for (the bare loop's fixed number), when counting.</summary>
    public long OtherNumbers => Interlocked.Read(ref _otherNumbers);

    /// <summary>Arrival times (<see cref="Stopwatch.GetTimestamp"/>) of every accepted request so far, in order (recording runs only).</summary>
    public long[] Arrivals()
    {
        var arrivals = _arrivals.ToArray();
        Array.Sort(arrivals);
        return arrivals;
    }

    /// <param name="latency">Time between reading a request and answering it; zero answers at once.</param>
    /// <param name="record">Keep every accepted number, its instance and its arrival time (costs memory per message).</param>
    /// <param name="countIndices">
    /// Count acceptances per workload index below this (<see cref="AcceptedIndex"/>): a flat array and one interlocked
    /// increment, and a parse of every request's body, whoever sent it, so a bare loop against the same stand-in pays it too.
    /// </param>
    public static async Task<FakeHttpGateway> StartAsync(TimeSpan latency = default, bool record = false, int countIndices = 0)
    {
        var gateway = new FakeHttpGateway(latency, record, countIndices);
        (gateway._app, gateway.BaseUrl) = await LoopbackServer.StartAsync(app =>
        {
            app.MapPost("/message/sendText/{instance}", gateway.AnswerAsync);
            app.MapPost("/message/sendTemplate/{instance}", gateway.AnswerAsync);
        });
        return gateway;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task AnswerAsync(HttpContext context, string instance)
    {
        // Read the whole body as a real gateway must, then answer like Evolution v2 does.
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        if (_record)
        {
            // A message counts as accepted once its request arrived in full, as with a real provider: a client that
            // gives up while waiting for the answer has not un-sent it.
            _arrivals.Enqueue(Stopwatch.GetTimestamp());
            using var json = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
            var number = json.RootElement.GetProperty("number").GetString() ?? string.Empty;
            _acceptedByNumber.AddOrUpdate(number, 1, (_, n) => n + 1);
            _acceptedByInstance.AddOrUpdate(instance, 1, (_, n) => n + 1);
        }

        if (_byIndex is { } counts)
        {
            using var json = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
            var index = Workload.IndexOfNumber(json.RootElement.GetProperty("number").GetString());
            if ((uint)index < (uint)counts.Length)
            {
                Interlocked.Increment(ref counts[index]);
            }
            else
            {
                Interlocked.Increment(ref _otherNumbers);
            }
        }

        var id = Interlocked.Increment(ref _requests);
        if (_latency > TimeSpan.Zero)
        {
            await Task.Delay(_latency, context.RequestAborted);
        }

        context.Response.StatusCode = (int)HttpStatusCode.Created;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"key":{"remoteJid":"x@s.whatsapp.net","fromMe":true,"id":"FAKE{{id}}"},"status":"PENDING"}""", context.RequestAborted);
    }
}
