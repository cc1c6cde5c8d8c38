using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Cortex.LoadTests.Load;

/// <summary>
/// What the stand-in does to each request while the plan is in force: answer 500, hold it past the sender's timeout, or
/// answer 429 with Retry-After to all of them. Shares are drawn per request.
/// </summary>
internal sealed record FaultPlan(double ServerErrorShare = 0, double TimeoutShare = 0, bool Throttle = false)
{
    public static readonly FaultPlan None = new();

    /// <summary>How long a "timeout" is held: longer than the sender's gateway timeout in these runs (1 s).</summary>
    public static readonly TimeSpan TimeoutHold = TimeSpan.FromSeconds(3);
}

/// <summary>
/// An Evolution API stand-in on loopback for the load scenarios. It reads each body, finds the workload index in the
/// number (<see cref="Workload.IndexOfNumber"/>) and records the acceptance in a <see cref="MessageLedger"/>, so a run of
/// a million messages is counted exactly (lost, duplicated, enqueue→accepted latency) in two arrays. Faults are injected
/// by swapping its <see cref="Faults"/> plan mid-run. Only a 201 counts as accepted.
/// </summary>
internal sealed class LoadGateway : IAsyncDisposable
{
    private WebApplication _app = null!;
    private readonly TimeSpan _latency;
    private readonly ConcurrentDictionary<string, int> _byInstance = new(StringComparer.Ordinal);
    private long _requests;
    private long _serverErrors;
    private long _timeouts;
    private long _throttled;
    private long _unknown;

    private LoadGateway(MessageLedger ledger, TimeSpan latency)
    {
        Ledger = ledger;
        _latency = latency;
    }

    public Uri BaseUrl { get; private set; } = null!;

    public MessageLedger Ledger { get; }

    /// <summary>The fault plan for requests from now on; <see cref="FaultPlan.None"/> answers every request 201.</summary>
    public FaultPlan Faults { get; set; } = FaultPlan.None;

    public long Requests => Interlocked.Read(ref _requests);

    public long ServerErrors => Interlocked.Read(ref _serverErrors);

    public long Timeouts => Interlocked.Read(ref _timeouts);

    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>Requests whose number is not one of the ledger's messages: always a failure of the run.</summary>
    public long Unknown => Interlocked.Read(ref _unknown);

    /// <summary>Messages accepted from each instance (the path segment: one per sender process).</summary>
    public IReadOnlyDictionary<string, int> AcceptedByInstance => _byInstance;

    public static async Task<LoadGateway> StartAsync(MessageLedger ledger, TimeSpan latency = default)
    {
        var gateway = new LoadGateway(ledger, latency);
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
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var id = Interlocked.Increment(ref _requests);
        var plan = Faults;
        if (plan.Throttle)
        {
            Interlocked.Increment(ref _throttled);
            context.Response.StatusCode = (int)HttpStatusCode.TooManyRequests;
            context.Response.Headers.RetryAfter = "1";
            return;
        }

        var draw = Random.Shared.NextDouble();
        if (draw < plan.ServerErrorShare)
        {
            Interlocked.Increment(ref _serverErrors);
            context.Response.StatusCode = (int)HttpStatusCode.InternalServerError;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"status":500,"error":"Internal Server Error","response":{"message":["injected fault"]}}""", context.RequestAborted);
            return;
        }

        if (draw < plan.ServerErrorShare + plan.TimeoutShare)
        {
            // Held past the sender's timeout: it gives up and the message was not delivered.
            Interlocked.Increment(ref _timeouts);
            try
            {
                await Task.Delay(FaultPlan.TimeoutHold, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            context.Abort();
            return;
        }

        if (_latency > TimeSpan.Zero)
        {
            await Task.Delay(_latency, context.RequestAborted);
        }

        if (!Ledger.Accept(NumberIndex(body), Stopwatch.GetTimestamp()))
        {
            Interlocked.Increment(ref _unknown);
        }

        _byInstance.AddOrUpdate(instance, 1, static (_, n) => n + 1);
        context.Response.StatusCode = (int)HttpStatusCode.Created;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"key":{"remoteJid":"x@s.whatsapp.net","fromMe":true,"id":"LOAD{{id}}"},"status":"PENDING"}""", context.RequestAborted);
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
