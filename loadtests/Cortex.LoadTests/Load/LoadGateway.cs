using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Cortex.LoadTests.Load;

/// <summary>
/// What the stand-in does to each request while the plan is in force: answer 500, hold it past the sender's timeout, or
/// answer 429 with Retry-After to all of them. Shares are drawn per request. A <see cref="Mode"/> other than
/// <see cref="GatewayFault.None"/> answers every request that way instead (the outages of chaos scenario K5).
/// <see cref="Refused"/>: workload indices answered 500 every time, whatever else is in force (the messages of chaos
/// scenario K7b, which the gateway cannot take).
/// </summary>
internal sealed record FaultPlan(
    double ServerErrorShare = 0, double TimeoutShare = 0, bool Throttle = false, GatewayFault Mode = GatewayFault.None, TimeSpan? Hold = null, IReadOnlySet<int>? Refused = null)
{
    public static readonly FaultPlan None = new();

    /// <summary>How long a "timeout" is held: longer than the sender's gateway timeout in these runs (1 s).</summary>
    public static readonly TimeSpan TimeoutHold = TimeSpan.FromSeconds(3);

    /// <summary>How long <see cref="GatewayFault.Slow"/> holds each answer unless <see cref="Hold"/> says otherwise: three times the 2 s timeout K5 gives the sender for it.</summary>
    public static readonly TimeSpan SlowHold = TimeSpan.FromSeconds(6);
}

/// <summary>A whole-gateway fault: every request gets it while it is in force.</summary>
internal enum GatewayFault
{
    None,

    /// <summary>500 with Evolution's JSON error body: the gateway is down.</summary>
    ServerError,

    /// <summary>401 with Evolution's body: the apikey was revoked or is wrong.</summary>
    Unauthorized,

    /// <summary>
    /// Bodies that are not the API's JSON, in turn: 200 with an HTML page (a proxy or web server in front answered; the
    /// message never reached the gateway), 502 with nginx's HTML page (not taken), and 201 whose JSON is cut short
    /// (taken: the ledger counts it).
    /// </summary>
    NotJson,

    /// <summary>
    /// Every answer held past the sender's timeout, in turn: accepted first and answered late (the sender gives up on a
    /// message the gateway has: a resend is a duplicate, counted in <see cref="LoadGateway.LateAccepted"/>), or never
    /// accepted.
    /// </summary>
    Slow,
}

/// <summary>Which provider's API the stand-in speaks: the paths, the success body and the error bodies.</summary>
internal enum GatewayDialect
{
    /// <summary>Evolution API v2: POST /message/sendText/{instance}; 201 with the message record; errors as {"status","error","response"}.</summary>
    Evolution,

    /// <summary>The WhatsApp Cloud API: POST /{version}/{phone-number-id}/messages; 200 with messages[0].id; errors as {"error":{"code"}}.</summary>
    Cloud,
}

/// <summary>
/// An Evolution API stand-in (or, in <see cref="GatewayDialect.Cloud"/>, a WhatsApp Cloud API one) on loopback for the
/// load scenarios. It reads each body, finds the workload index in the number (<see cref="Workload.IndexOfNumber"/>) and
/// records the acceptance in a <see cref="MessageLedger"/>, so a run of a million messages is counted exactly (lost,
/// duplicated, enqueue→accepted latency) in two arrays. Faults are injected by swapping its <see cref="Faults"/> plan
/// mid-run. Only the success answer (Evolution's 201, the Cloud API's 200) counts as accepted.
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
    private long _unauthorized;
    private long _htmlOk;
    private long _htmlBadGateway;
    private long _truncated;
    private long _lateAccepted;
    private long _dropped;
    private long _inFlight;
    private volatile bool _closing;
    private readonly ConcurrentDictionary<int, int> _lateByIndex = new();
    private readonly ConcurrentDictionary<int, int> _refusedByIndex = new();
    private readonly ConcurrentDictionary<(int Index, string Instance), int> _byIndexAndInstance = new();

    private LoadGateway(MessageLedger ledger, TimeSpan latency, GatewayDialect dialect)
    {
        Ledger = ledger;
        _latency = latency;
        Dialect = dialect;
    }

    public GatewayDialect Dialect { get; }

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

    public long Unauthorized => Interlocked.Read(ref _unauthorized);

    /// <summary>200 answers with an HTML page: the message was not taken.</summary>
    public long HtmlOk => Interlocked.Read(ref _htmlOk);

    /// <summary>502 answers with an HTML page: the message was not taken.</summary>
    public long HtmlBadGateway => Interlocked.Read(ref _htmlBadGateway);

    /// <summary>201 answers with JSON cut short: the message was taken.</summary>
    public long Truncated => Interlocked.Read(ref _truncated);

    /// <summary>Slow answers the gateway had accepted when the sender gave up on them: each one may be sent again.</summary>
    public long LateAccepted => Interlocked.Read(ref _lateAccepted);

    /// <summary>Slow answers held and dropped without accepting the message.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Workload indices accepted at least once by an answer the sender gave up on, and how many times.</summary>
    public IReadOnlyDictionary<int, int> LateByIndex => _lateByIndex;

    /// <summary>How many requests for the message at <paramref name="index"/> were answered 500 because the plan refuses it.</summary>
    public int RefusedCalls(int index) => _refusedByIndex.GetValueOrDefault(index);

    /// <summary>
    /// Whether each acceptance is also recorded with its instance, for <see cref="AcceptedBy"/>. Off by default: a
    /// million-message run would keep an entry per message, in the process that measures the others.
    /// </summary>
    public bool RecordsSenders { get; set; }

    /// <summary>How many times the message at <paramref name="index"/> was accepted from <paramref name="instance"/> (one per sender process); needs <see cref="RecordsSenders"/>.</summary>
    public int AcceptedBy(int index, string instance)
    {
        if (!RecordsSenders)
        {
            throw new InvalidOperationException("acceptances are recorded by instance only with RecordsSenders set");
        }

        return _byIndexAndInstance.GetValueOrDefault((index, instance));
    }

    /// <summary>True while the listener is closed (<see cref="CloseAsync"/>): connections are refused.</summary>
    public bool IsClosed { get; private set; }

    /// <summary>Messages accepted from each instance (the path segment: one per sender process).</summary>
    public IReadOnlyDictionary<string, int> AcceptedByInstance => _byInstance;

    public static async Task<LoadGateway> StartAsync(MessageLedger ledger, TimeSpan latency = default, GatewayDialect dialect = GatewayDialect.Evolution)
    {
        var gateway = new LoadGateway(ledger, latency, dialect);
        (gateway._app, gateway.BaseUrl) = await LoopbackServer.StartAsync(gateway.Map);
        return gateway;
    }

    /// <summary>
    /// Stops listening: from now on connections to <see cref="BaseUrl"/> are refused, as when the gateway's process is down.
    /// Requests already being answered finish first and new ones are cut unanswered and untaken, so the fault is a
    /// refusal only: a gateway dying mid-answer is the kill of K1, whose at-least-once cost is measured there.
    /// </summary>
    public async Task CloseAsync()
    {
        _closing = true;
        var deadline = Stopwatch.GetTimestamp() + (5 * Stopwatch.Frequency);
        while (Interlocked.Read(ref _inFlight) > 0 && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5));
        }

        IsClosed = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Listens again on the same port after <see cref="CloseAsync"/>.</summary>
    public async Task OpenAsync()
    {
        // The port was ours a moment ago; a bind can still fail briefly while the old listener's socket closes.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                (_app, _) = await LoopbackServer.StartAsync(Map, BaseUrl);
                IsClosed = false;
                _closing = false;
                return;
            }
            catch (IOException) when (attempt < 50)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!IsClosed)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private void Map(WebApplication app)
    {
        if (Dialect == GatewayDialect.Cloud)
        {
            // The phone number id stands in for Evolution's instance: one per sender.
            app.MapPost("/{version}/{instance}/messages", AnswerAsync);
            return;
        }

        app.MapPost("/message/sendText/{instance}", AnswerAsync);
        app.MapPost("/message/sendTemplate/{instance}", AnswerAsync);
    }

    private async Task AnswerAsync(HttpContext context, string instance)
    {
        if (_closing)
        {
            context.Abort();
            return;
        }

        Interlocked.Increment(ref _inFlight);
        try
        {
            await AnswerInFlightAsync(context, instance);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task AnswerInFlightAsync(HttpContext context, string instance)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var id = Interlocked.Increment(ref _requests);
        var plan = Faults;
        if (plan.Refused is { Count: > 0 } refused && NumberIndex(body) is var refusedIndex && refused.Contains(refusedIndex))
        {
            Interlocked.Increment(ref _serverErrors);
            _refusedByIndex.AddOrUpdate(refusedIndex, 1, static (_, n) => n + 1);
            await WriteServerErrorAsync(context);
            return;
        }

        if (plan.Mode != GatewayFault.None)
        {
            await AnswerFaultAsync(context, instance, plan, id, body);
            return;
        }

        if (plan.Throttle)
        {
            Interlocked.Increment(ref _throttled);
            context.Response.Headers.RetryAfter = "1";
            await WriteJsonAsync(context, HttpStatusCode.TooManyRequests, Dialect == GatewayDialect.Cloud ? CloudError(130429, "Rate limit hit") : null);
            return;
        }

        var draw = Random.Shared.NextDouble();
        if (draw < plan.ServerErrorShare)
        {
            Interlocked.Increment(ref _serverErrors);
            await WriteServerErrorAsync(context);
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

        Record(instance, body);
        await WriteAcceptedAsync(context, id);
    }

    private async Task AnswerFaultAsync(HttpContext context, string instance, FaultPlan plan, long id, MemoryStream body)
    {
        var response = context.Response;
        switch (plan.Mode)
        {
            case GatewayFault.ServerError:
                Interlocked.Increment(ref _serverErrors);
                await WriteServerErrorAsync(context);
                return;

            case GatewayFault.Unauthorized:
                Interlocked.Increment(ref _unauthorized);
                await WriteJsonAsync(
                    context,
                    HttpStatusCode.Unauthorized,
                    Dialect == GatewayDialect.Cloud ? CloudError(190, "Invalid OAuth access token") : """{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}""");
                return;

            case GatewayFault.NotJson:
                switch (id % 3)
                {
                    case 0:
                        Interlocked.Increment(ref _htmlOk);
                        response.StatusCode = (int)HttpStatusCode.OK;
                        response.ContentType = "text/html";
                        await response.WriteAsync("<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>", context.RequestAborted);
                        return;
                    case 1:
                        Interlocked.Increment(ref _htmlBadGateway);
                        response.StatusCode = (int)HttpStatusCode.BadGateway;
                        response.ContentType = "text/html";
                        await response.WriteAsync("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>", context.RequestAborted);
                        return;
                    default:
                        Interlocked.Increment(ref _truncated);
                        Record(instance, body);
                        await WriteAcceptedAsync(context, id, cutShort: true);
                        return;
                }

            case GatewayFault.Slow:
                var accepted = id % 2 == 0;
                var index = accepted ? Record(instance, body) : -1;
                try
                {
                    await Task.Delay(plan.Hold ?? FaultPlan.SlowHold, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The sender gave up first.
                    if (accepted)
                    {
                        Interlocked.Increment(ref _lateAccepted);
                        _lateByIndex.AddOrUpdate(index, 1, static (_, n) => n + 1);
                    }
                    else
                    {
                        Interlocked.Increment(ref _dropped);
                    }

                    return;
                }

                if (!accepted)
                {
                    Interlocked.Increment(ref _dropped);
                    context.Abort();
                    return;
                }

                await WriteAcceptedAsync(context, id);
                return;
        }
    }

    /// <summary>The provider's success answer: Evolution's 201 with the message record, the Cloud API's 200 with the message id; <paramref name="cutShort"/> ends the JSON halfway.</summary>
    private Task WriteAcceptedAsync(HttpContext context, long id, bool cutShort = false)
    {
        var (status, json) = Dialect == GatewayDialect.Cloud
            ? (HttpStatusCode.OK, $$"""{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.LOAD{{id}}"}]}""")
            : (HttpStatusCode.Created, $$"""{"key":{"remoteJid":"x@s.whatsapp.net","fromMe":true,"id":"LOAD{{id}}"},"status":"PENDING"}""");
        return WriteJsonAsync(context, status, cutShort ? json[..(json.Length / 2)] : json);
    }

    private Task WriteServerErrorAsync(HttpContext context) => WriteJsonAsync(
        context,
        HttpStatusCode.InternalServerError,
        Dialect == GatewayDialect.Cloud ? CloudError(131000, "Something went wrong") : """{"status":500,"error":"Internal Server Error","response":{"message":["injected fault"]}}""");

    /// <summary>A status with a JSON body (none when <paramref name="json"/> is null).</summary>
    private static async Task WriteJsonAsync(HttpContext context, HttpStatusCode status, string? json)
    {
        context.Response.StatusCode = (int)status;
        if (json is not null)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(json, context.RequestAborted);
        }
    }

    /// <summary>The Graph API's error body: the code is what the Cloud adapter classifies by.</summary>
    private static string CloudError(int code, string message) =>
        $$$"""{"error":{"message":"(#{{{code}}}) {{{message}}}","type":"OAuthException","code":{{{code}}},"fbtrace_id":"LOAD"}}""";

    /// <summary>Counts an acceptance in the ledger; the workload index, or -1 for a number not in it.</summary>
    private int Record(string instance, MemoryStream body)
    {
        var index = NumberIndex(body);
        if (!Ledger.Accept(index, Stopwatch.GetTimestamp()))
        {
            Interlocked.Increment(ref _unknown);
        }

        _byInstance.AddOrUpdate(instance, 1, static (_, n) => n + 1);
        if (RecordsSenders && index >= 0)
        {
            _byIndexAndInstance.AddOrUpdate((index, instance), 1, static (_, n) => n + 1);
        }

        return index;
    }

    private static int NumberIndex(MemoryStream body)
    {
        var reader = new Utf8JsonReader(body.GetBuffer().AsSpan(0, (int)body.Length));
        while (reader.Read())
        {
            // Evolution's "number", the Cloud API's "to".
            if (reader.TokenType == JsonTokenType.PropertyName && (reader.ValueTextEquals("number"u8) || reader.ValueTextEquals("to"u8)) && reader.Read() && reader.TokenType == JsonTokenType.String)
            {
                return Workload.IndexOfNumber(reader.GetString());
            }
        }

        return -1;
    }
}
