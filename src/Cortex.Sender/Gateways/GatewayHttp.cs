using System.Buffers;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Cortex.Sender.Gateways;

/// <summary>What came back from one HTTP exchange: an answer, or a transport failure already classified.</summary>
internal readonly record struct HttpExchange(GatewayAnswer Answer, TimeSpan? RetryAfter, GatewayResult? Failure);

/// <summary>
/// A gateway's HTTP answer as the adapters classify it. <see cref="Body"/> is null when it could not be read; of a body
/// longer than <see cref="GatewayHttp.MaxBody"/> it holds the first bytes only (<see cref="Truncated"/>), never read as JSON.
/// </summary>
internal readonly record struct GatewayAnswer(int Status, byte[]? Body, string? ContentType = null, bool Truncated = false)
{
    public bool IsSuccess => Status is >= 200 and <= 299;

    /// <summary>The body to read as JSON: null when there is none, or only its first bytes.</summary>
    public byte[]? Json => Body is { Length: > 0 } && !Truncated ? Body : null;
}

/// <summary>The transport half shared by the HTTP gateways: send, read, turn network faults into results.</summary>
internal static class GatewayHttp
{
    public static ByteArrayContent JsonBody<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        // Serialized up front so the request carries a Content-Length rather than a chunked body.
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>
    /// One gateway call from request to classified result, logged the same way for every adapter: transport faults
    /// and refusals at their level, an acceptance without a provider id as a warning. Nothing here logs a body or a phone.
    /// </summary>
    public static async Task<GatewayResult> ExchangeAsync(
        HttpClient http,
        HttpRequestMessage request,
        TimeProvider timeProvider,
        ILogger logger,
        string gateway,
        string messageId,
        Func<GatewayAnswer, GatewayResult> classify,
        CancellationToken cancellationToken)
    {
        var answer = await SendAsync(http, request, timeProvider, cancellationToken);
        if (answer.Failure is { } failure)
        {
            GatewayLog.TransportFailed(logger, gateway, messageId, failure.Error);
            return failure;
        }

        var result = WithRetryAfter(classify(answer.Answer), answer.RetryAfter);
        if (result.Outcome != GatewayOutcome.Accepted)
        {
            GatewayLog.Refused(logger, gateway, messageId, answer.Answer.Status, answer.Answer.ContentType, result.Outcome, result.Error);
        }
        else if (result.ProviderMessageId is null)
        {
            GatewayLog.AcceptedWithoutProviderId(logger, gateway, messageId, answer.Answer.Status, result.Error);
        }

        return result;
    }

    /// <summary>
    /// Sends and buffers the answer. A cancelled <paramref name="cancellationToken"/> propagates, unless a 2xx status had
    /// arrived (the message was taken; its body is given up); a network fault or
    /// the HttpClient's own timeout comes back as <see cref="HttpExchange.Failure"/>. Never holds the URL, headers or body in a text.
    /// </summary>
    private static async Task<HttpExchange> SendAsync(HttpClient http, HttpRequestMessage request, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            var error = ConnectionFailure(ex);
            return new HttpExchange(default, null, NeverSent(ex) ? GatewayResult.Retryable(error) : GatewayResult.NoAnswer(error));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient.Timeout, a backstop behind the caller's per-attempt timeout: not our cancellation, so a transient fault.
            return new HttpExchange(default, null, GatewayResult.NoAnswer("timeout: no answer within the HTTP client timeout"));
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var retryAfter = RetryAfter(response.Headers.RetryAfter, timeProvider);
            var contentType = response.Content.Headers.ContentType?.MediaType;
            byte[]? body;
            bool truncated;
            try
            {
                (body, truncated) = await ReadBodyAsync(response.Content, cancellationToken);
            }
            catch (Exception ex) when ((ex is IOException or HttpRequestException || ex is OperationCanceledException)
                && (!cancellationToken.IsCancellationRequested || response.IsSuccessStatusCode))
            {
                // The status line arrived but the body did not: the caller classifies by status (a 2xx stays accepted). So
                // does a 2xx whose body the caller stopped waiting for (the attempt's timeout, the shutdown deadline): the
                // gateway took the message, and a cancellation would have it sent again.
                body = null;
                truncated = false;
            }

            return new HttpExchange(new GatewayAnswer(status, body, contentType, truncated), retryAfter, null);
        }
    }

    /// <summary>
    /// The most of an answer's body that is read: a gateway's answers are a few hundred bytes. Something else answering
    /// in its place (a misrouted BaseUrl, a proxy) can send megabytes, which 64 workers buffering at once would take
    /// past the pod's memory limit.
    /// </summary>
    public const int MaxBody = 64 * 1024;

    /// <summary>The body, or its first <see cref="MaxBody"/> bytes and true when it is longer; the rest is never read.</summary>
    private static async Task<(byte[] Body, bool Truncated)> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxBody + 1);
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellationToken);
            var length = 0;
            int read;
            while (length <= MaxBody && (read = await stream.ReadAsync(buffer.AsMemory(length, MaxBody + 1 - length), cancellationToken)) > 0)
            {
                length += read;
            }

            return length > MaxBody ? (buffer.AsSpan(0, MaxBody).ToArray(), true) : (buffer.AsSpan(0, length).ToArray(), false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Whether the request cannot have left: no name, no TLS session or no connection (the socket error comes straight
    /// from connecting). A fault once connected (reset, closed before the answer) may come after the gateway took it.
    /// </summary>
    private static bool NeverSent(HttpRequestException exception) =>
        exception.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError
        || exception.InnerException is SocketException;

    /// <summary>"connection failed: ConnectionRefused": the socket error name, never the URL or exception text.</summary>
    public static string ConnectionFailure(HttpRequestException exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return "connection failed: " + socket.SocketErrorCode;
            }
        }

        return "connection failed: " + exception.HttpRequestError;
    }

    /// <summary>
    /// The longest Retry-After honoured. A throttle pauses every pod for as long as the gateway asks; a proxy's mistake or a
    /// date years ahead would stop sending for good (beyond 49 days Task.Delay throws, in every worker and the fetch loop).
    /// After this long the next send asks the gateway again, and another 429 pauses again; no attempt is spent either way.
    /// </summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(10);

    /// <summary>Retry-After as a delay: seconds, or an HTTP date measured against the injected clock; 0 to <see cref="MaxRetryAfter"/>.</summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, TimeProvider timeProvider)
    {
        var wait = header switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - timeProvider.GetUtcNow(),
            _ => (TimeSpan?)null,
        };
        return wait is { } w ? TimeSpan.FromTicks(Math.Clamp(w.Ticks, 0, MaxRetryAfter.Ticks)) : null;
    }

    /// <summary>Classification from the status code alone, for answers whose body says nothing Cortex understands.</summary>
    public static GatewayResult ByStatus(int status, string detail)
    {
        var suffix = detail.Length == 0 ? string.Empty : ": " + detail;
        return status switch
        {
            401 or 403 => GatewayResult.ConfigurationError($"HTTP {status}: credentials rejected{suffix}"),
            404 => GatewayResult.ConfigurationError($"HTTP 404: endpoint or instance not found{suffix}"),
            408 => GatewayResult.Retryable($"HTTP 408: request timeout{suffix}"),
            429 => GatewayResult.Throttled($"HTTP 429: too many requests{suffix}"),
            >= 500 => GatewayResult.Retryable($"HTTP {status}{suffix}"),
            >= 300 and < 400 => GatewayResult.ConfigurationError($"HTTP {status}: unexpected redirect, check the base URL{suffix}"),
            _ => GatewayResult.Permanent($"HTTP {status}{suffix}"),
        };
    }

    /// <summary>Adds the server's Retry-After to an answer that will be tried again.</summary>
    public static GatewayResult WithRetryAfter(GatewayResult result, TimeSpan? retryAfter) =>
        retryAfter is not null && result.RetryAfter is null && result.Outcome is GatewayOutcome.Retryable or GatewayOutcome.Throttled
            ? result with { RetryAfter = retryAfter }
            : result;

    /// <summary>
    /// An answer whose body is not <paramref name="api"/>'s JSON, classified: by its status where that says it all (408,
    /// 429, 5xx, redirects, a rejected key, not found), and any other error status as whatever answers in the API's place
    /// (a web server or proxy in front, an HTTPS port spoken to in plain HTTP, a firewall's page, a framework's JSON error
    /// such as Spring's or ASP.NET's: both APIs answer every error in JSON of their own shape). That answer comes to every message, so it pauses sending like a rejected key instead of
    /// dead-lettering the queue one message at a time. A body cut off on its way says nothing of who sent it: retried.
    /// </summary>
    public static GatewayResult WithoutJson(GatewayAnswer answer, string api)
    {
        var byStatus = ByStatus(answer.Status, answer.Body is { Length: 0 } ? string.Empty : Describe(answer));
        return byStatus.Outcome != GatewayOutcome.Permanent ? byStatus
            : answer.Body is null ? GatewayResult.Retryable($"HTTP {answer.Status}: {Describe(answer)}")
            : NotTheApi(answer, api);
    }

    /// <summary>Configuration error for an answer that is not <paramref name="api"/>'s: nothing was sent.</summary>
    public static GatewayResult NotTheApi(GatewayAnswer answer, string api) =>
        GatewayResult.ConfigurationError($"HTTP {answer.Status} with {Describe(answer)}, not {api} JSON: check BaseUrl and any proxy in front");

    private static bool IsJson(GatewayAnswer answer)
    {
        using var document = TryParse(answer);
        return document is not null;
    }

    /// <summary>What came instead of the API's JSON: "an HTML page", "an empty body", "a body over 64 KiB"…</summary>
    private static string Describe(GatewayAnswer answer) => answer switch
    {
        { Body: null } => "an unreadable body",
        { Body.Length: 0 } => "an empty body",
        _ when IsHtml(answer) => "an HTML page",
        { Truncated: true } => $"a body over {MaxBody / 1024} KiB",
        _ when IsJson(answer) => "JSON of another shape",
        _ => "a body that is not JSON",
    };

    /// <summary>
    /// True when the answer is an HTML page (said by its content type, or its first character other than blanks and a
    /// byte order mark is '&lt;'): a web server's answer, never an API's.
    /// </summary>
    public static bool IsHtml(GatewayAnswer answer)
    {
        if (answer.ContentType is { } type
            && (type.Equals("text/html", StringComparison.OrdinalIgnoreCase) || type.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        var text = answer.Body.AsSpan();
        if (text.StartsWith("\uFEFF"u8))
        {
            text = text[3..];
        }

        text = text.TrimStart(" \t\r\n"u8);
        return !text.IsEmpty && text[0] == (byte)'<';
    }

    public static JsonDocument? TryParse(GatewayAnswer answer)
    {
        if (answer.Json is not { } body)
        {
            return null;
        }

        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
