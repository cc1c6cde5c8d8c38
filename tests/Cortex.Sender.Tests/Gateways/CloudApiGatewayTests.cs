using System.Text.Json;
using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Cloud;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Cortex.Sender.Tests.Gateways.GatewayTestData;

namespace Cortex.Sender.Tests.Gateways;

public sealed class CloudApiGatewayTests : IClassFixture<GatewayStubFixture>, IDisposable
{
    private const string Success = """{"messaging_product":"whatsapp","contacts":[{"input":"5511999999999","wa_id":"5511999999999"}],"messages":[{"id":"wamid.HBgNNTUxMTk5OTk5OTk5ORUCABEYEjQ0"}]}""";

    private readonly GatewayStub _stub;
    private readonly HttpClient _http = new();

    public CloudApiGatewayTests(GatewayStubFixture fixture)
    {
        _stub = fixture.Stub;
        _stub.Reset();
        _stub.Default = StubAnswer.Json(200, Success);
    }

    public void Dispose() => _http.Dispose();

    public static TheoryData<string, int, string?, string, GatewayOutcome, string?> Answers => new()
    {
        // scenario, HTTP status, body, content type, expected outcome, expected provider id (Accepted) or a fragment of the error
        { "200 success", 200, Success, "application/json", GatewayOutcome.Accepted, "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABEYEjQ0" },
        { "130429 throughput", 400, Error(130429, "Rate limit hit"), "application/json", GatewayOutcome.Throttled, "code 130429" },
        { "131056 pair rate limit", 400, Error(131056, "(Business Account, Consumer Account) pair rate limit hit"), "application/json", GatewayOutcome.RecipientThrottled, "pair rate limit" },
        { "4 app call rate", 400, Error(4, "(#4) Application request limit reached"), "application/json", GatewayOutcome.Throttled, "code 4" },
        { "80007 account rate", 400, Error(80007, "Rate limit issues"), "application/json", GatewayOutcome.Throttled, "code 80007" },
        { "131057 upgrading", 400, Error(131057, "Account in maintenance mode"), "application/json", GatewayOutcome.Retryable, "code 131057" },
        { "131016 overloaded", 503, Error(131016, "Service unavailable"), "application/json", GatewayOutcome.Retryable, "code 131016" },
        { "131000 unknown", 500, Error(131000, "Something went wrong"), "application/json", GatewayOutcome.Retryable, "code 131000" },
        { "2 downtime", 503, Error(2, "Service temporarily unavailable"), "application/json", GatewayOutcome.Retryable, "code 2" },
        { "131048 spam", 400, Error(131048, "Spam rate limit hit"), "application/json", GatewayOutcome.ConfigurationError, "stop sending" },
        { "368 policy", 400, Error(368, "Temporarily blocked for policies violations"), "application/json", GatewayOutcome.Permanent, "policy block" },
        { "131026 undeliverable", 400, Error(131026, "Message Undeliverable."), "application/json", GatewayOutcome.Permanent, "not on WhatsApp" },
        { "131047 24 h window", 400, Error(131047, "Re-engagement message"), "application/json", GatewayOutcome.Permanent, "outside the 24 h window: send a template" },
        { "100 bad parameter", 400, Error(100, "Invalid parameter"), "application/json", GatewayOutcome.Permanent, "invalid parameter" },
        {
            // A phone number id mistyped, or one the token's system user is not assigned to: every message gets it.
            "100/33 unknown phone number id", 400,
            """{"error":{"message":"Unsupported post request. Object with ID '106540352242922' does not exist, cannot be loaded due to missing permissions, or does not support this operation.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbCdEf"}}""",
            "application/json", GatewayOutcome.ConfigurationError, "phone number id"
        },
        { "132000 param count", 400, Error(132000, "Number of parameters does not match the expected number of params"), "application/json", GatewayOutcome.Permanent, "template mismatch" },
        { "132001 template missing", 404, Error(132001, "Template name does not exist in the translation"), "application/json", GatewayOutcome.Permanent, "template mismatch" },
        { "132999 template edge", 400, Error(132999, "Template"), "application/json", GatewayOutcome.Permanent, "template mismatch" },
        { "190 token expired", 401, Error(190, "Error validating access token: Session has expired"), "application/json", GatewayOutcome.ConfigurationError, "access token" },
        { "10 permission", 403, Error(10, "Application does not have permission for this action"), "application/json", GatewayOutcome.ConfigurationError, "access token" },
        { "unknown code on 400", 400, Error(131009, "Parameter value is not valid"), "application/json", GatewayOutcome.Permanent, "code 131009" },
        { "unknown code on 500", 500, Error(1, "An unknown error occurred"), "application/json", GatewayOutcome.Retryable, "HTTP 500" },
        { "613 call rate on 429", 429, Error(613, "Calls to this api have exceeded the rate limit"), "application/json", GatewayOutcome.Throttled, "code 613" },
        { "429 without body", 429, null, "application/json", GatewayOutcome.Throttled, "HTTP 429" },
        { "500 without body", 500, null, "application/json", GatewayOutcome.Retryable, "HTTP 500" },
        { "503 JSON without error", 503, """{"status":"down"}""", "application/json", GatewayOutcome.Retryable, "HTTP 503" },
        { "502 HTML", 502, "<html><body>502 Bad Gateway</body></html>", "text/html", GatewayOutcome.Retryable, "HTTP 502: an HTML page" },
        { "401 without body", 401, null, "application/json", GatewayOutcome.ConfigurationError, "HTTP 401" },
        { "403 without body", 403, null, "application/json", GatewayOutcome.ConfigurationError, "HTTP 403" },
        { "404 without body", 404, null, "application/json", GatewayOutcome.ConfigurationError, "HTTP 404" },
        { "200 not JSON", 200, "ok", "text/plain", GatewayOutcome.Accepted, null },
        { "200 HTML page from a proxy in front", 200, "<html><body>Please log in</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "200 HTML page saved with a byte order mark", 200, "\uFEFF<!DOCTYPE html><html><body>Welcome</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "200 web page without markup first", 200, "Service moved", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },

        // Whatever answers in the Graph API's place answers every message the same: pause and alert, do not dead-letter.
        { "400 HTML from plain HTTP to an HTTPS port", 400, "<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head></html>", "text/html", GatewayOutcome.ConfigurationError, "HTTP 400 with an HTML page, not the Cloud API's JSON" },
        { "405 HTML from a web server", 405, "<html><body>405 Not Allowed</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "407 proxy wants authentication", 407, "Proxy Authentication Required", "text/plain", GatewayOutcome.ConfigurationError, "not JSON" },
        { "400 without body", 400, null, "application/json", GatewayOutcome.ConfigurationError, "empty body" },
        { "131031 account locked", 400, Error(131031, "Business Account locked"), "application/json", GatewayOutcome.ConfigurationError, "account locked" },
        { "131042 payment problem", 400, Error(131042, "Business eligibility payment issue"), "application/json", GatewayOutcome.ConfigurationError, "payment" },
        { "133010 number not registered", 400, Error(133010, "Phone number Not Registered"), "application/json", GatewayOutcome.ConfigurationError, "not registered" },
        { "3 capability, on a 500", 500, Error(3, "Capability or permissions issue"), "application/json", GatewayOutcome.ConfigurationError, "access token" },
        { "200 without messages", 200, """{"messaging_product":"whatsapp"}""", "application/json", GatewayOutcome.Accepted, null },
        { "200 with an error object", 200, Error(131047, "Re-engagement message"), "application/json", GatewayOutcome.Permanent, "24 h window" },

        // JSON without the Graph API's error object is not Meta judging the message: a framework or a proxy in its place.
        { "415 ASP.NET problem details", 415, """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.16","title":"Unsupported Media Type","status":415}""", "application/problem+json", GatewayOutcome.ConfigurationError, "HTTP 415 with JSON of another shape, not the Cloud API's JSON" },
        { "400 JSON block page of a firewall", 400, """{"message":"Request blocked"}""", "application/json", GatewayOutcome.ConfigurationError, "JSON of another shape" },
        { "200 JSON of another shape", 200, """{"status":"ok"}""", "application/json", GatewayOutcome.ConfigurationError, "JSON of another shape" },
        // A field of a type the docs do not give made the whole error unreadable: a false "check BaseUrl" pause.
        { "131026 with error_subcode as a string", 400, """{"error":{"message":"Message Undeliverable.","type":"OAuthException","code":131026,"error_subcode":"2494010","fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Permanent, "not on WhatsApp" },
        { "131026 with error_data as a string", 400, """{"error":{"message":"Message Undeliverable.","type":"OAuthException","code":131026,"error_data":"undeliverable","fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Permanent, "not on WhatsApp" },
        { "unknown code marked transient", 400, """{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Retryable, "transient" },
    };

    [Fact]
    public async Task SendAsync_Text_PostsMessagesWithBearerAndTextBody()
    {
        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayResult.Accepted("wamid.HBgNNTUxMTk5OTk5OTk5ORUCABEYEjQ0"), result);
        var request = Assert.Single(_stub.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v21.0/106540352242922/messages", request.Path);
        Assert.Equal("Bearer " + CloudToken, request.Headers["Authorization"]);
        Assert.Equal("application/json", request.ContentType);
        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        Assert.Equal(["messaging_product", "to", "type", "text"], Names(root));
        Assert.Equal("whatsapp", root.GetProperty("messaging_product").GetString());
        Assert.Equal(PhoneDigits, root.GetProperty("to").GetString());
        Assert.Equal("text", root.GetProperty("type").GetString());
        Assert.Equal(["body"], Names(root.GetProperty("text")));
        Assert.Equal("Olá, sua fatura vence amanhã", root.GetProperty("text").GetProperty("body").GetString());
    }

    [Fact]
    public async Task SendAsync_Template_PostsTemplateWithLanguageCodeAndBodyParameters()
    {
        await Gateway().SendAsync(Template("m-2", "Ana", "R$ 129,90"), CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(_stub.Requests).Body);
        var root = body.RootElement;
        Assert.Equal(["messaging_product", "to", "type", "template"], Names(root));
        Assert.Equal("template", root.GetProperty("type").GetString());
        var template = root.GetProperty("template");
        Assert.Equal(["name", "language", "components"], Names(template));
        Assert.Equal("fatura_vencendo", template.GetProperty("name").GetString());
        Assert.Equal(["code"], Names(template.GetProperty("language")));
        Assert.Equal("pt_BR", template.GetProperty("language").GetProperty("code").GetString());
        var component = Assert.Single(template.GetProperty("components").EnumerateArray());
        Assert.Equal("body", component.GetProperty("type").GetString());
        var parameters = component.GetProperty("parameters").EnumerateArray().ToArray();
        Assert.All(parameters, p => Assert.Equal(["type", "text"], Names(p)));
        Assert.All(parameters, p => Assert.Equal("text", p.GetProperty("type").GetString()));
        Assert.Equal(["Ana", "R$ 129,90"], parameters.Select(p => p.GetProperty("text").GetString()));
    }

    [Fact]
    public async Task SendAsync_TemplateWithoutParameters_OmitsComponents()
    {
        await Gateway().SendAsync(Template("m-3"), CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(_stub.Requests).Body);
        Assert.Equal(["name", "language"], Names(body.RootElement.GetProperty("template")));
    }

    [Fact]
    public async Task SendAsync_TemplateLanguageWithAHyphen_SentWithWhatsAppsUnderscore()
    {
        await Gateway().SendAsync(new Cortex.Shared.Contract.Envelope { Id = "m-4", To = Phone, Template = new("fatura_vencendo", "en-US", []) }, CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(_stub.Requests).Body);
        Assert.Equal("en_US", body.RootElement.GetProperty("template").GetProperty("language").GetProperty("code").GetString());
    }

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task SendAsync_ScriptedAnswer_ClassifiedPerReference(string scenario, int status, string? body, string contentType, GatewayOutcome expected, string? idOrError)
    {
        _stub.Answer(new StubAnswer(status, body, contentType));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.True(expected == result.Outcome, $"{scenario}: expected {expected}, got {result.Outcome} ({result.Error})");
        if (expected == GatewayOutcome.Accepted)
        {
            Assert.Equal(idOrError, result.ProviderMessageId);
            if (idOrError is null)
            {
                Assert.StartsWith("accepted;", result.Error, StringComparison.Ordinal);
            }
        }
        else
        {
            Assert.Null(result.ProviderMessageId);
            Assert.Contains(idOrError!, result.Error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task SendAsync_AnyAnswer_ErrorNeverHoldsTokenOrFullPhone(string scenario, int status, string? body, string contentType, GatewayOutcome expected, string? idOrError)
    {
        _ = expected;
        _ = idOrError;

        // A variant whose message echoes the token and the recipient, as Graph API debug messages sometimes do.
        var echoing = (body ?? "{}")
            .Replace("\"message\":\"", $"\"message\":\"token {CloudToken} to {PhoneDigits}: ", StringComparison.Ordinal)
            .Replace("\"details\":\"", $"\"details\":\"token {CloudToken} to {PhoneDigits}: ", StringComparison.Ordinal);
        _stub.Answer(new StubAnswer(status, body, contentType), new StubAnswer(status, echoing, contentType));
        var gateway = Gateway();

        foreach (var result in new[] { await gateway.SendAsync(Text(), CancellationToken.None), await gateway.SendAsync(Text(), CancellationToken.None) })
        {
            Assert.DoesNotContain(CloudToken, result.Error ?? string.Empty, StringComparison.Ordinal);
            Assert.False((result.Error ?? string.Empty).Contains(PhoneDigits, StringComparison.Ordinal), $"{scenario}: {result.Error}");
        }
    }

    [Fact]
    public async Task SendAsync_OutsideWindow_ErrorIsShortAndReadable()
    {
        _stub.Answer(StubAnswer.Json(400, Error(131047, "Message failed to send because more than 24 hours have passed since the customer last replied to this number.")));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Permanent, result.Outcome);
        Assert.StartsWith("outside the 24 h window: send a template (code 131047: Message failed to send", result.Error, StringComparison.Ordinal);
        Assert.InRange(result.Error!.Length, 1, 220);
    }

    [Fact]
    public async Task SendAsync_429WithRetryAfter_ThrottledWithRetryAfter()
    {
        _stub.Answer(new StubAnswer(429, Error(130429, "Rate limit hit"), Headers: new Dictionary<string, string> { ["Retry-After"] = "12" }));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Throttled, result.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(12), result.RetryAfter);
    }

    [Fact]
    public async Task SendAsync_ConnectionRefused_RetryableNamingTheSocketError()
    {
        var result = await Gateway(ClosedPort()).SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.Equal("connection failed: ConnectionRefused", result.Error);
    }

    [Fact]
    public async Task SendAsync_TokenCancelledWhileWaiting_ThrowsOperationCanceled()
    {
        _stub.Answer(new StubAnswer(200, Hang: true));
        using var cts = new CancellationTokenSource();
        var send = Gateway().SendAsync(Text(), cts.Token);

        await _stub.FirstRequest;
        Assert.False(send.IsCompleted);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
    }

    [Fact]
    public void Name_IsCloudPlusConfiguredName()
    {
        Assert.Equal("cloud:main", Gateway().Name);
    }

    private static string Error(int code, string message) =>
        $$$"""{"error":{"message":"{{{message}}}","type":"OAuthException","code":{{{code}}},"error_data":{"messaging_product":"whatsapp","details":"{{{message}}}"},"fbtrace_id":"AbCdEf"}}""";

    private CloudApiGateway Gateway(Uri? baseUrl = null) =>
        new(_http, Options.Create(Cloud(baseUrl ?? _stub.BaseUrl)), TimeProvider.System, NullLogger<CloudApiGateway>.Instance);
}
