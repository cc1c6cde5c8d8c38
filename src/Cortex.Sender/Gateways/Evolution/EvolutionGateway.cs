using System.Text.Json;
using Cortex.Sender.Gateways.Cloud;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Gateways.Evolution;

/// <summary>Sends through Evolution API v2: <c>POST {BaseUrl}/message/sendText/{Instance}</c> (or sendTemplate) with the <c>apikey</c> header.</summary>
/// <remarks>
/// Templates go to <c>/message/sendTemplate/{Instance}</c>, which exists only for instances on Evolution's WhatsApp Cloud API
/// channel; a Baileys (WhatsApp Web) instance refuses it with a 400, which is classified as permanent for that message.
/// Evolution has no 429 of its own: WhatsApp throttling surfaces as "rate-overlimit" in a 400/500 body, and Meta errors
/// of the Cloud API channel can come back in a 2xx body, so the body is read before the status is trusted.
/// </remarks>
public sealed class EvolutionGateway : IWhatsAppGateway
{
    private static readonly string[] s_disconnected = ["Connection Closed", "Connection Terminated", "Connection Lost", "Timed Out"];

    // Evolution's own faults, which it answers as a 400 with the error's text: its Cloud-API channel, when the call to Meta
    // got no answer (a reset, a timeout), reads a field of the missing answer and throws a TypeError. Nothing was judged.
    private static readonly string[] s_instanceFaults = ["TypeError", "Cannot read properties of undefined", "ECONNRESET", "ETIMEDOUT", "socket hang up"];

    private readonly HttpClient _http;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly string _apiKey;
    private readonly Uri _sendText;
    private readonly Uri _sendTemplate;

    public EvolutionGateway(HttpClient http, IOptions<GatewayOptions> options, TimeProvider timeProvider, ILogger<EvolutionGateway> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var gateway = options.Value;
        var evolution = gateway.Evolution;
        if (evolution.BaseUrl is not { IsAbsoluteUri: true } baseUrl)
        {
            throw new InvalidOperationException($"{GatewayOptions.Section}:Evolution:BaseUrl is required when {GatewayOptions.Section}:Type is Evolution");
        }

        _http = http;
        _timeProvider = timeProvider;
        _logger = logger;
        _apiKey = evolution.ApiKey;
        Name = "evolution:" + gateway.Name;
        var root = baseUrl.GetLeftPart(UriPartial.Path).TrimEnd('/');
        var instance = Uri.EscapeDataString(evolution.Instance);
        _sendText = new Uri($"{root}/message/sendText/{instance}");
        _sendTemplate = new Uri($"{root}/message/sendTemplate/{instance}");
    }

    public string Name { get; }

    public async Task<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ByteArrayContent content;
        Uri uri;
        if (message.Template is { } template)
        {
            uri = _sendTemplate;
            content = GatewayHttp.JsonBody(
                new EvolutionTemplateRequest
                {
                    Number = message.ToDigits,
                    Name = template.Name,
                    Language = TemplateComponent.LanguageCode(template.Language),
                    Components = TemplateComponent.BodyFor(template.Parameters),
                },
                GatewayJsonContext.Default.EvolutionTemplateRequest);
        }
        else if (message.Text is { } text)
        {
            uri = _sendText;
            content = GatewayHttp.JsonBody(new EvolutionTextRequest { Number = message.ToDigits, Text = text }, GatewayJsonContext.Default.EvolutionTextRequest);
        }
        else
        {
            return GatewayResult.Permanent("message has neither text nor template");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Headers.TryAddWithoutValidation("apikey", _apiKey);
        return await GatewayHttp.ExchangeAsync(
            _http, request, _timeProvider, _logger, Name, message.Id, answer => Classify(answer, _apiKey), cancellationToken);
    }

    /// <summary>Classifies one Evolution answer; <paramref name="secret"/> is cut out of any text.</summary>
    /// <remarks>
    /// 2xx with key.id: accepted. 2xx with an error in the body (Meta error object, status ERROR): classified from the body.
    /// 2xx that is not JSON: accepted without id (resending could duplicate), unless it is an HTML page: configuration. 401/403/404: configuration (key, instance).
    /// "rate-overlimit" anywhere in an error body, or 429: throttled. 400 with exists:false: permanent (not on WhatsApp).
    /// "Connection Closed" and friends, 408, any 5xx: retryable. Other 4xx: permanent. Non-JSON error bodies: by status,
    /// and another 4xx as configuration (not Evolution answering).
    /// </remarks>
    private static GatewayResult Classify(GatewayAnswer answer, string? secret)
    {
        var (status, body) = (answer.Status, answer.Body);
        using var document = GatewayHttp.TryParse(answer);
        var root = document?.RootElement;
        if (answer.IsSuccess)
        {
            if (root is not { ValueKind: JsonValueKind.Object } success)
            {
                // An HTML page is a web server or proxy answering in Evolution's place (a wrong BaseUrl, an SPA fallback,
                // a login page): nothing was sent, and acking it would lose the message. Stop and alert, keep it queued.
                if (GatewayHttp.IsHtml(answer))
                {
                    return GatewayHttp.NotTheApi(answer, Api);
                }

                // The provider took the message; resending could deliver it twice, so accept without an id.
                return new GatewayResult(GatewayOutcome.Accepted, null, "accepted; unreadable body");
            }

            if (!LooksLikeError(success))
            {
                // JSON that is not a message record ({"status":"ok"} from whatever a wrong BaseUrl reaches) took nothing:
                // acked, the message was lost. Pause and alert, as for a page.
                if (!IsMessageRecord(success))
                {
                    return GatewayHttp.NotTheApi(answer, Api);
                }

                return success.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.Object
                    && key.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } providerId
                    ? GatewayResult.Accepted(providerId)
                    : new GatewayResult(GatewayOutcome.Accepted, null, "accepted; no key.id in body");
            }

            return FromErrorBody(status, success, body!, secret);
        }

        var detail = root is { ValueKind: JsonValueKind.Object } obj ? GatewayText.Clean(Detail(obj), secret) : string.Empty;
        switch (status)
        {
            case 401 or 403:
                return GatewayResult.ConfigurationError($"HTTP {status}: apikey rejected" + Suffix(detail));
            case 404:
                return GatewayResult.ConfigurationError("HTTP 404: unknown instance or endpoint" + Suffix(detail));
        }

        if (IsRateOverlimit(body))
        {
            return RateOverlimit(status);
        }

        return root is { ValueKind: JsonValueKind.Object } error
            ? FromErrorBody(status, error, body!, secret)
            : GatewayHttp.WithoutJson(answer, Api);
    }

    private const string Api = "Evolution API's";

    private static GatewayResult FromErrorBody(int status, JsonElement root, byte[] body, string? secret)
    {
        if (IsRateOverlimit(body))
        {
            return RateOverlimit(status);
        }

        if (MetaErrorIn(root) is { } meta)
        {
            return MetaErrors.Classify(meta, status, secret);
        }

        if (IsNotOnWhatsApp(root))
        {
            return GatewayResult.Permanent("number not on WhatsApp");
        }

        var raw = Detail(root);
        var detail = GatewayText.Clean(raw, secret);
        foreach (var marker in s_disconnected)
        {
            if (raw.Contains(marker, StringComparison.OrdinalIgnoreCase))
            {
                return GatewayResult.Retryable($"HTTP {status}: instance disconnected" + Suffix(detail));
            }
        }

        foreach (var marker in s_instanceFaults)
        {
            if (raw.Contains(marker, StringComparison.Ordinal))
            {
                return GatewayResult.Retryable($"HTTP {status}: Evolution's own fault" + Suffix(detail));
            }
        }

        // An error without Evolution's envelope ({"status", "error", "response"}) is a framework's or a proxy's answering in
        // its place (Spring's 405, a gateway's JSON block page): it comes to every message, so it pauses, as a page does.
        if (status is < 200 or > 299 && !root.TryGetProperty("response", out _) && GatewayHttp.ByStatus(status, detail).Outcome == GatewayOutcome.Permanent)
        {
            return GatewayHttp.NotTheApi(new GatewayAnswer(status, body, "application/json"), Api);
        }

        // A 2xx that carries an unrecognised error: the message was not taken, and nothing says it never will be.
        return status is >= 200 and <= 299
            ? GatewayResult.Retryable($"HTTP {status} with an error body" + Suffix(detail))
            : GatewayHttp.ByStatus(status, detail);
    }

    // Evolution's message record: its key, or at least a field of one (status PENDING with the key cut away by a proxy).
    private static bool IsMessageRecord(JsonElement root) =>
        root.TryGetProperty("key", out _) || root.TryGetProperty("message", out _) || root.TryGetProperty("messageTimestamp", out _)
        || (root.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String
            && status.GetString() is "PENDING" or "SERVER_ACK" or "DELIVERY_ACK" or "READ" or "PLAYED");

    private static GatewayResult RateOverlimit(int status) =>
        GatewayResult.Throttled($"HTTP {status}: WhatsApp rate-overlimit");

    private static bool IsRateOverlimit(byte[]? body) => body is not null && body.AsSpan().IndexOf("rate-overlimit"u8) >= 0;

    /// <summary>True for a 2xx body that is not a message record: Meta's error passed through, or an Evolution error envelope.</summary>
    private static bool LooksLikeError(JsonElement root)
    {
        if (root.TryGetProperty("error", out var error)
            && (error.ValueKind == JsonValueKind.Object || (error.ValueKind == JsonValueKind.String && error.GetString() is { Length: > 0 })))
        {
            return true;
        }

        if (root.TryGetProperty("status", out var status)
            && ((status.ValueKind == JsonValueKind.String && string.Equals(status.GetString(), "ERROR", StringComparison.OrdinalIgnoreCase))
                || (status.ValueKind == JsonValueKind.Number && status.TryGetInt32(out var code) && code >= 400)))
        {
            return true;
        }

        var hasKey = root.TryGetProperty("key", out _);
        return root.TryGetProperty("error_data", out _)
            || (!hasKey && root.TryGetProperty("code", out var metaCode) && metaCode.ValueKind == JsonValueKind.Number)
            || (!hasKey && root.TryGetProperty("response", out var response) && response.ValueKind == JsonValueKind.Object);
    }

    /// <summary>Meta's error object: under "error", or the whole body, which is how Evolution's Cloud API channel returns it.</summary>
    private static MetaError? MetaErrorIn(JsonElement root)
    {
        JsonElement candidate;
        if (root.TryGetProperty("error", out var wrapped) && wrapped.ValueKind == JsonValueKind.Object && HasNumericCode(wrapped))
        {
            candidate = wrapped;
        }
        else if (HasNumericCode(root) && !root.TryGetProperty("key", out _))
        {
            candidate = root;
        }
        else
        {
            return null;
        }

        return MetaErrors.Read(candidate);

        static bool HasNumericCode(JsonElement e) => e.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.Number;
    }

    /// <summary>400 with response.message = [{"jid", "exists": false, "number"}]: the number has no WhatsApp account.</summary>
    private static bool IsNotOnWhatsApp(JsonElement root)
    {
        if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object
            || !response.TryGetProperty("message", out var message))
        {
            return false;
        }

        if (message.ValueKind == JsonValueKind.Object)
        {
            return ExistsFalse(message);
        }

        if (message.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in message.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Object && ExistsFalse(item))
                {
                    return true;
                }
            }
        }

        return false;

        static bool ExistsFalse(JsonElement e) => e.TryGetProperty("exists", out var exists) && exists.ValueKind == JsonValueKind.False;
    }

    /// <summary>The readable part of an error body: response.message (string or strings), else error, else message. Raw: clean before use.</summary>
    private static string Detail(JsonElement root)
    {
        if (root.TryGetProperty("response", out var response) && response.ValueKind == JsonValueKind.Object
            && response.TryGetProperty("message", out var message))
        {
            if (message.ValueKind == JsonValueKind.String)
            {
                return message.GetString() ?? string.Empty;
            }

            if (message.ValueKind == JsonValueKind.Array)
            {
                var parts = new List<string>();
                foreach (var item in message.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.String && item.GetString() is { Length: > 0 } s)
                    {
                        parts.Add(s);
                    }
                }

                if (parts.Count > 0)
                {
                    return string.Join("; ", parts);
                }
            }
        }

        if (root.TryGetProperty("error", out var error))
        {
            if (error.ValueKind == JsonValueKind.String)
            {
                return error.GetString() ?? string.Empty;
            }

            if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var inner) && inner.ValueKind == JsonValueKind.String)
            {
                return inner.GetString() ?? string.Empty;
            }
        }

        if (root.TryGetProperty("message", out var top) && top.ValueKind == JsonValueKind.String)
        {
            return top.GetString() ?? string.Empty;
        }

        return root.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String
            ? "status " + status.GetString()
            : string.Empty;
    }

    private static string Suffix(string detail) => detail.Length == 0 ? string.Empty : ": " + detail;
}
