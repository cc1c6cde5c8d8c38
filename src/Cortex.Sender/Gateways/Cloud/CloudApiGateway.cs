using System.Net.Http.Headers;
using System.Text.Json;
using Cortex.Shared.Contract;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Gateways.Cloud;

/// <summary>Sends through the WhatsApp Cloud API: <c>POST {BaseUrl}/{ApiVersion}/{PhoneNumberId}/messages</c> with a bearer token.</summary>
/// <remarks>A 2xx means accepted for delivery only; the delivery status arrives later by webhook, keyed by the returned wamid.</remarks>
public sealed class CloudApiGateway : IWhatsAppGateway
{
    private readonly HttpClient _http;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly string _accessToken;
    private readonly Uri _messages;

    public CloudApiGateway(HttpClient http, IOptions<GatewayOptions> options, TimeProvider timeProvider, ILogger<CloudApiGateway> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var gateway = options.Value;
        var cloud = gateway.Cloud;
        if (cloud.BaseUrl is not { IsAbsoluteUri: true } baseUrl)
        {
            throw new InvalidOperationException($"{GatewayOptions.Section}:Cloud:BaseUrl must be an absolute URL when {GatewayOptions.Section}:Type is Cloud");
        }

        _http = http;
        _timeProvider = timeProvider;
        _logger = logger;
        _accessToken = cloud.AccessToken;
        Name = "cloud:" + gateway.Name;
        var root = baseUrl.GetLeftPart(UriPartial.Path).TrimEnd('/');
        _messages = new Uri($"{root}/{Uri.EscapeDataString(cloud.ApiVersion)}/{Uri.EscapeDataString(cloud.PhoneNumberId)}/messages");
    }

    public string Name { get; }

    public async Task<GatewayResult> SendAsync(Envelope message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        CloudMessageRequest body;
        if (message.Template is { } template)
        {
            body = new CloudMessageRequest
            {
                To = message.ToDigits,
                Type = "template",
                Template = new CloudTemplate
                {
                    Name = template.Name,
                    Language = new CloudLanguage { Code = TemplateComponent.LanguageCode(template.Language) },
                    Components = TemplateComponent.BodyFor(template.Parameters),
                },
            };
        }
        else if (message.Text is { } text)
        {
            body = new CloudMessageRequest { To = message.ToDigits, Type = "text", Text = new CloudText { Body = text } };
        }
        else
        {
            return GatewayResult.Permanent("message has neither text nor template");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _messages)
        {
            Content = GatewayHttp.JsonBody(body, GatewayJsonContext.Default.CloudMessageRequest),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _accessToken);
        return await GatewayHttp.ExchangeAsync(
            _http, request, _timeProvider, _logger, Name, message.Id, answer => Classify(answer, _accessToken), cancellationToken);
    }

    /// <summary>Classifies one Cloud API answer by its error code first, then by HTTP status; <paramref name="secret"/> is cut out of any text.</summary>
    private static GatewayResult Classify(GatewayAnswer answer, string? secret)
    {
        using var document = GatewayHttp.TryParse(answer);
        JsonElement? root = document?.RootElement is { ValueKind: JsonValueKind.Object } r ? r : null;
        JsonElement? error = root is { } o && o.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? e : null;
        if (error is { } graphError && MetaErrors.Read(graphError) is { } meta)
        {
            return MetaErrors.Classify(meta, answer.Status, secret);
        }

        if (answer.IsSuccess)
        {
            if (root is not { } success)
            {
                // An HTML page is a proxy or web server answering in the Graph API's place: nothing was sent.
                // Without a readable body the message was still taken; resending could deliver it twice.
                return GatewayHttp.IsHtml(answer)
                    ? GatewayHttp.NotTheApi(answer, Api)
                    : new GatewayResult(GatewayOutcome.Accepted, null, "accepted; unreadable body");
            }

            // JSON that is not the Graph API's answer ({"status":"ok"} from whatever a wrong BaseUrl reaches) took nothing:
            // acked, the message was lost. Pause and alert, as for a page.
            if (!success.TryGetProperty("messages", out var messages) && !success.TryGetProperty("messaging_product", out _))
            {
                return GatewayHttp.NotTheApi(answer, Api);
            }

            return messages.ValueKind == JsonValueKind.Array && messages.GetArrayLength() > 0
                && messages[0].ValueKind == JsonValueKind.Object && messages[0].TryGetProperty("id", out var id)
                && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } wamid
                ? GatewayResult.Accepted(wamid)
                : new GatewayResult(GatewayOutcome.Accepted, null, "accepted; no message id in body");
        }

        // An error without the Graph API's error object (a framework's or a proxy's JSON) is not Meta judging the message.
        return error is { } withoutCode
            ? GatewayHttp.ByStatus(answer.Status, GatewayText.Clean(withoutCode.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null, secret))
            : GatewayHttp.WithoutJson(answer, Api);
    }

    private const string Api = "the Cloud API's";
}
