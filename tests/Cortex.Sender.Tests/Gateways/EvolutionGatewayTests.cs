using System.Globalization;
using System.Text.Json;
using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Evolution;
using Cortex.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Cortex.Sender.Tests.Gateways.GatewayTestData;

namespace Cortex.Sender.Tests.Gateways;

public sealed class EvolutionGatewayTests : IClassFixture<GatewayStubFixture>, IDisposable
{
    private readonly GatewayStub _stub;
    private readonly HttpClient _http = new();

    public EvolutionGatewayTests(GatewayStubFixture fixture)
    {
        _stub = fixture.Stub;
        _stub.Reset();
    }

    public void Dispose() => _http.Dispose();

    // Bodies as Evolution API v2.3 writes them (shared/reference/gateways.md).
    private const string Record = """{"key":{"remoteJid":"5511999999999@s.whatsapp.net","fromMe":true,"id":"3EB0C431C26A1916E07E"},"pushName":"","status":"PENDING","message":{"conversation":"Olá"},"messageType":"conversation","messageTimestamp":1717689097,"instanceId":"a1b2"}""";
    private const string NotOnWhatsApp = """{"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511999999999@s.whatsapp.net","exists":false,"number":"5511999999999"}]}}""";
    private const string ConnectionClosed400 = """{"status":400,"error":"Bad Request","response":{"message":["Error: Connection Closed"]}}""";
    private const string ConnectionClosed500 = """{"status":500,"error":"Internal Server Error","response":{"message":"Connection Closed"}}""";
    private const string NotLoaded500 = """{"status":500,"error":"Internal Server Error","response":{"message":["Cannot read properties of undefined (reading 'sendMessage')"]}}""";
    private const string RateOverlimit400 = """{"status":400,"error":"Bad Request","response":{"message":["Error: rate-overlimit"]}}""";
    private const string RateOverlimit500 = """{"status":500,"error":"Internal Server Error","response":{"message":"rate-overlimit"}}""";
    private const string Unauthorized = """{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}""";
    private const string Forbidden = """{"status":403,"error":"Forbidden","response":{"message":"Missing global api key"}}""";
    private const string UnknownInstance = """{"status":404,"error":"Not Found","response":{"message":["The \"loja-01\" instance does not exist"]}}""";
    private const string Validation = """{"status":400,"error":"Bad Request","response":{"message":["instance requires property \"text\""]}}""";
    private const string MetaWrapped131047 = """{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbCd"}}""";
    private const string MetaPassthrough131026 = """{"message":"(#131026) Message Undeliverable.","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Message Undeliverable."},"fbtrace_id":"AbCd"}""";
    private const string MetaPassthrough130429 = """{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"AbCd"}""";
    private const string MetaPassthrough131048 = """{"message":"(#131048) Spam rate limit hit","type":"OAuthException","code":131048,"fbtrace_id":"AbCd"}""";
    private const string StatusError = """{"key":{"remoteJid":"5511999999999@s.whatsapp.net","fromMe":true,"id":"3EB0FAILED"},"status":"ERROR"}""";

    public static TheoryData<string, int, string?, string, GatewayOutcome, string?> Answers => new()
    {
        // scenario, HTTP status, body, content type, expected outcome, expected provider id (Accepted) or a fragment of the error
        { "201 message record", 201, Record, "application/json", GatewayOutcome.Accepted, "3EB0C431C26A1916E07E" },
        { "200 message record", 200, Record, "application/json", GatewayOutcome.Accepted, "3EB0C431C26A1916E07E" },
        { "201 Meta error under error", 201, MetaWrapped131047, "application/json", GatewayOutcome.Permanent, "24 h window" },
        { "201 Meta error passed through", 201, MetaPassthrough131026, "application/json", GatewayOutcome.Permanent, "not on WhatsApp" },
        { "201 Meta throughput error", 201, MetaPassthrough130429, "application/json", GatewayOutcome.Throttled, "130429" },
        { "201 Meta spam limit", 201, MetaPassthrough131048, "application/json", GatewayOutcome.ConfigurationError, "spam" },
        { "201 status ERROR", 201, StatusError, "application/json", GatewayOutcome.Retryable, "ERROR" },
        { "201 record whose text mentions rate-overlimit", 201, Record.Replace("Olá", "rate-overlimit?", StringComparison.Ordinal), "application/json", GatewayOutcome.Accepted, "3EB0C431C26A1916E07E" },
        { "201 JSON without key", 201, """{"status":"PENDING"}""", "application/json", GatewayOutcome.Accepted, null },
        { "201 not JSON", 201, "OK", "text/plain", GatewayOutcome.Accepted, null },
        { "201 JSON cut short", 201, Record[..60], "application/json", GatewayOutcome.Accepted, null },

        // A web server or proxy answering in Evolution's place never sent anything: acking it would lose the message.
        { "200 HTML page from a web server in front", 200, "\n<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "400 exists false", 400, NotOnWhatsApp, "application/json", GatewayOutcome.Permanent, "number not on WhatsApp" },
        { "400 Connection Closed", 400, ConnectionClosed400, "application/json", GatewayOutcome.Retryable, "disconnected" },
        { "500 Connection Closed", 500, ConnectionClosed500, "application/json", GatewayOutcome.Retryable, "disconnected" },
        { "500 instance not loaded", 500, NotLoaded500, "application/json", GatewayOutcome.Retryable, "HTTP 500" },
        { "400 rate-overlimit", 400, RateOverlimit400, "application/json", GatewayOutcome.Throttled, "rate-overlimit" },
        { "500 rate-overlimit", 500, RateOverlimit500, "application/json", GatewayOutcome.Throttled, "rate-overlimit" },
        { "401 bad key", 401, Unauthorized, "application/json", GatewayOutcome.ConfigurationError, "apikey rejected" },
        { "403 forbidden", 403, Forbidden, "application/json", GatewayOutcome.ConfigurationError, "HTTP 403" },
        { "404 unknown instance", 404, UnknownInstance, "application/json", GatewayOutcome.ConfigurationError, "unknown instance" },
        { "429 without body", 429, null, "application/json", GatewayOutcome.Throttled, "HTTP 429" },
        { "408 without body", 408, null, "application/json", GatewayOutcome.Retryable, "HTTP 408" },
        { "400 validation", 400, Validation, "application/json", GatewayOutcome.Permanent, "requires property \"text\"" },
        { "200 HTML page saved with a byte order mark", 200, "\uFEFF\n<!DOCTYPE html><html><body>It works!</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },

        // Evolution answers every error in JSON: another body is whatever answers in its place, and answers every message
        // so. Pause and alert; dead-lettering it emptied the queue.
        { "400 HTML from plain HTTP to an HTTPS port", 400, "<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head></html>", "text/html", GatewayOutcome.ConfigurationError, "HTTP 400 with an HTML page, not Evolution API's JSON" },
        { "405 HTML from the manager's static site", 405, "<!DOCTYPE html><html><body>Cannot POST</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "407 proxy wants authentication", 407, "<html><body>Proxy Authentication Required</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "422 plain text", 422, "Unprocessable", "text/plain", GatewayOutcome.ConfigurationError, "HTTP 422 with a body that is not JSON" },
        { "502 HTML from a proxy", 502, "<html><body>Bad Gateway</body></html>", "text/html", GatewayOutcome.Retryable, "HTTP 502" },
        { "503 without body", 503, null, "application/json", GatewayOutcome.Retryable, "HTTP 503" },

        // A framework's JSON is not Evolution's envelope: Spring Boot's own 405 at a wrong path was dead-lettered as
        // permanent, message after message, and a 2xx of another shape was acked: the message was lost.
        { "405 Spring Boot's JSON error", 405, """{"timestamp":"2026-12-07T10:00:00.000+00:00","status":405,"error":"Method Not Allowed","path":"/message/sendText/loja-01"}""", "application/json", GatewayOutcome.ConfigurationError, "HTTP 405 with JSON of another shape, not Evolution API's JSON" },
        { "201 JSON that is not a message record", 201, """{"ok":true}""", "application/json", GatewayOutcome.ConfigurationError, "JSON of another shape" },

        // Its Cloud-API channel, when Meta's answer never came, throws reading it and answers 400 with the TypeError.
        { "400 TypeError of the Cloud-API channel", 400, """{"status":400,"error":"Bad Request","response":{"message":["TypeError: Cannot read properties of undefined (reading 'message')"]}}""", "application/json", GatewayOutcome.Retryable, "Evolution's own fault" },

        // Meta's errors passed through in a 201 carry no HTTP status of their own: is_transient and the rate-limit code say it.
        { "201 Meta error marked transient", 201, """{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Retryable, "transient" },
        { "201 Meta error with error_subcode as a string", 201, """{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_subcode":"2388001","fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Permanent, "24 h window" },
        { "201 Meta 613 call rate", 201, """{"error":{"message":"Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Throttled, "call rate limit" },
        { "201 Meta 80007 account rate", 201, """{"error":{"message":"(#80007) Rate limit issues","type":"OAuthException","code":80007,"fbtrace_id":"AbCd"}}""", "application/json", GatewayOutcome.Throttled, "code 80007" },
    };

    [Fact]
    public async Task SendAsync_Text_PostsSendTextWithApiKeyAndV2Body()
    {
        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        var request = Assert.Single(_stub.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/message/sendText/loja-01", request.Path);
        Assert.Equal(EvolutionKey, request.Headers["apikey"]);
        Assert.Equal("application/json", request.ContentType);
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal(["number", "text"], Names(body.RootElement));
        Assert.Equal(PhoneDigits, body.RootElement.GetProperty("number").GetString());
        Assert.Equal("Olá, sua fatura vence amanhã", body.RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public async Task SendAsync_Template_PostsSendTemplateWithBodyParameters()
    {
        await Gateway().SendAsync(Template("m-2", "Ana", "R$ 129,90"), CancellationToken.None);

        var request = Assert.Single(_stub.Requests);
        Assert.Equal("/message/sendTemplate/loja-01", request.Path);
        Assert.Equal(EvolutionKey, request.Headers["apikey"]);
        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        Assert.Equal(["number", "name", "language", "components"], Names(root));
        Assert.Equal(PhoneDigits, root.GetProperty("number").GetString());
        Assert.Equal("fatura_vencendo", root.GetProperty("name").GetString());
        Assert.Equal("pt_BR", root.GetProperty("language").GetString());
        var component = Assert.Single(root.GetProperty("components").EnumerateArray());
        Assert.Equal("body", component.GetProperty("type").GetString());
        var parameters = component.GetProperty("parameters").EnumerateArray().ToArray();
        Assert.Equal(2, parameters.Length);
        Assert.All(parameters, p => Assert.Equal("text", p.GetProperty("type").GetString()));
        Assert.Equal(["Ana", "R$ 129,90"], parameters.Select(p => p.GetProperty("text").GetString()));
    }

    [Fact]
    public async Task SendAsync_TemplateWithoutParameters_OmitsComponents()
    {
        await Gateway().SendAsync(Template("m-3"), CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(_stub.Requests).Body);
        Assert.Equal(["number", "name", "language"], Names(body.RootElement));
    }

    [Fact]
    public async Task SendAsync_TemplateLanguageWithAHyphen_SentWithWhatsAppsUnderscore()
    {
        // The envelope takes a BCP 47 tag; WhatsApp names the template's language pt_BR, and pt-BR found no template.
        await Gateway().SendAsync(new Cortex.Shared.Contract.Envelope { Id = "m-4", To = Phone, Template = new("fatura_vencendo", "pt-BR", []) }, CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(_stub.Requests).Body);
        Assert.Equal("pt_BR", body.RootElement.GetProperty("language").GetString());
    }

    public static TheoryData<string, int, string, string, GatewayOutcome, string> OversizedAnswers => new()
    {
        // Past 64 KiB the rest of a body is never read: a record that long is not Evolution's, and a page that long is still a page.
        { "500 of 8 MB", 500, new string('x', 8 << 20), "text/plain", GatewayOutcome.Retryable, "HTTP 500: a body over 64 KiB" },
        { "201 record padded past the limit", 201, Record.Replace("\"pushName\":\"\"", $"\"pushName\":\"{new string('a', 70_000)}\"", StringComparison.Ordinal), "application/json", GatewayOutcome.Accepted, "accepted; unreadable body" },
        { "200 HTML page of 1 MB", 200, "<!DOCTYPE html><html><body>" + new string('p', 1 << 20) + "</body></html>", "text/html", GatewayOutcome.ConfigurationError, "HTML page" },
        { "400 of 1 MB of text", 400, new string('y', 1 << 20), "text/plain", GatewayOutcome.ConfigurationError, "a body over 64 KiB" },
    };

    [Theory]
    [MemberData(nameof(OversizedAnswers))]
    public async Task SendAsync_AnswerOverTheBodyLimit_ClassifiedFromItsStatusAndFirstBytes(string scenario, int status, string body, string contentType, GatewayOutcome expected, string error)
    {
        _stub.Answer(new StubAnswer(status, body, contentType));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.True(expected == result.Outcome, $"{scenario}: expected {expected}, got {result.Outcome} ({result.Error})");
        Assert.Contains(error, result.Error, StringComparison.Ordinal);
        Assert.Null(result.ProviderMessageId);
    }

    [Fact]
    public async Task SendAsync_BaseUrlWithPathAndInstanceToEscape_KeepsPathAndEscapesInstance()
    {
        var gateway = Gateway(new Uri(_stub.BaseUrl, "evolution/"), instance: "loja 01");

        await gateway.SendAsync(Text(), CancellationToken.None);

        Assert.Equal("/evolution/message/sendText/loja%2001", Assert.Single(_stub.Requests).Path);
    }

    [Fact]
    public async Task SendAsync_NeitherTextNorTemplate_PermanentWithoutCallingTheGateway()
    {
        var result = await Gateway().SendAsync(new Cortex.Shared.Contract.Envelope { Id = "m-9", To = Phone }, CancellationToken.None);

        Assert.Equal(GatewayOutcome.Permanent, result.Outcome);
        Assert.Empty(_stub.Requests);
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
    public async Task SendAsync_AnyAnswer_ErrorNeverHoldsApiKeyOrFullPhone(string scenario, int status, string? body, string contentType, GatewayOutcome expected, string? idOrError)
    {
        _ = expected;
        _ = idOrError;

        // The same answer, and a variant that echoes the key and the number back, as a misbehaving proxy might.
        var echoing = (body ?? "{}").Replace("Unauthorized", $"apikey {EvolutionKey} for {PhoneDigits}", StringComparison.Ordinal)
            .Replace("Bad Request", $"Bad Request ({EvolutionKey})", StringComparison.Ordinal)
            .Replace("Rate limit hit", $"Rate limit hit for {EvolutionKey}", StringComparison.Ordinal);
        _stub.Answer(new StubAnswer(status, body, contentType), new StubAnswer(status, echoing, contentType));
        var gateway = Gateway();

        foreach (var result in new[] { await gateway.SendAsync(Text(), CancellationToken.None), await gateway.SendAsync(Text(), CancellationToken.None) })
        {
            Assert.DoesNotContain(EvolutionKey, result.Error ?? string.Empty, StringComparison.Ordinal);
            Assert.False((result.Error ?? string.Empty).Contains(PhoneDigits, StringComparison.Ordinal), $"{scenario}: {result.Error}");
        }
    }

    [Fact]
    public async Task SendAsync_ErrorEchoingKeyAndJid_RedactsBoth()
    {
        _stub.Answer(StubAnswer.Json(400, $$$"""{"status":400,"error":"Bad Request","response":{"message":["apikey {{{EvolutionKey}}} cannot send to 5511999999999@s.whatsapp.net"]}}"""));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Permanent, result.Outcome);
        Assert.Equal("HTTP 400: apikey [redacted] cannot send to +55*******9999@s.whatsapp.net", result.Error);
    }

    [Fact]
    public async Task SendAsync_RetryAfterSeconds_BecomesRetryAfter()
    {
        _stub.Answer(new StubAnswer(500, ConnectionClosed500, Headers: new Dictionary<string, string> { ["Retry-After"] = "30" }));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(30), result.RetryAfter);
    }

    [Fact]
    public async Task SendAsync_RetryAfterHttpDate_MeasuredOnTheInjectedClock()
    {
        var clock = new FakeTimeProvider();
        var date = clock.GetUtcNow().AddSeconds(90).ToString("r", CultureInfo.InvariantCulture);
        _stub.Answer(new StubAnswer(400, RateOverlimit400, Headers: new Dictionary<string, string> { ["Retry-After"] = date }));

        var result = await Gateway(timeProvider: clock).SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Throttled, result.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(90), result.RetryAfter);
    }

    [Theory]
    [InlineData("86400")]
    [InlineData("Fri, 31 Dec 9999 23:59:59 GMT")]
    public async Task SendAsync_RetryAfterADayOrYearsAhead_HeldToTenMinutes(string retryAfter)
    {
        // Unbounded, a date years ahead reached Task.Delay, which throws beyond 49 days, in every worker and the fetch loop.
        _stub.Answer(new StubAnswer(429, null, Headers: new Dictionary<string, string> { ["Retry-After"] = retryAfter }));

        var result = await Gateway(timeProvider: new FakeTimeProvider()).SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Throttled, result.Outcome);
        Assert.Equal(TimeSpan.FromMinutes(10), result.RetryAfter);
    }

    [Fact]
    public async Task SendAsync_RetryAfterDateInThePast_Zero()
    {
        var clock = new FakeTimeProvider();
        var date = clock.GetUtcNow().AddMinutes(-5).ToString("r", CultureInfo.InvariantCulture);
        _stub.Answer(new StubAnswer(429, null, Headers: new Dictionary<string, string> { ["Retry-After"] = date }));

        var result = await Gateway(timeProvider: clock).SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Throttled, result.Outcome);
        Assert.Equal(TimeSpan.Zero, result.RetryAfter);
    }

    [Fact]
    public async Task SendAsync_RetryAfterOnPermanentAnswer_Ignored()
    {
        _stub.Answer(new StubAnswer(400, NotOnWhatsApp, Headers: new Dictionary<string, string> { ["Retry-After"] = "30" }));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Permanent, result.Outcome);
        Assert.Null(result.RetryAfter);
    }

    [Fact]
    public async Task SendAsync_ConnectionRefused_RetryableNamingTheSocketError()
    {
        var result = await Gateway(ClosedPort()).SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.Equal("connection failed: ConnectionRefused", result.Error);

        // Never sent: a resend cannot be a duplicate.
        Assert.False(result.Unanswered);
    }

    [Fact]
    public async Task SendAsync_ConnectionDroppedAfterTheRequest_RetryableAndMarkedUnanswered()
    {
        _stub.Answer(new StubAnswer(201, Drop: true));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        // The gateway read the request: it may have delivered it, so its resend is a possible duplicate.
        Assert.Single(_stub.Requests);
        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.StartsWith("connection failed", result.Error, StringComparison.Ordinal);
        Assert.True(result.Unanswered);
    }

    [Fact]
    public async Task SendAsync_A4xxWhoseBodyIsCutOff_RetriedNotTakenForAProxyOrDeadLettered()
    {
        // Evolution's own 400 with the connection reset mid-body: nothing says another server answered, and a pause with
        // a configuration alert would send the operator to BaseUrl for a network hiccup.
        _stub.Answer(new StubAnswer(400, CutAfterStatus: true));

        var result = await Gateway().SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.Equal("HTTP 400: an unreadable body", result.Error);
    }

    [Fact]
    public async Task SendAsync_TokenCancelledWhileWaiting_ThrowsOperationCanceled()
    {
        _stub.Answer(new StubAnswer(201, Hang: true));
        using var cts = new CancellationTokenSource();
        var send = Gateway().SendAsync(Text(), cts.Token);

        await _stub.FirstRequest;
        Assert.False(send.IsCompleted);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
    }

    [Theory]
    [InlineData(201, GatewayOutcome.Accepted)]
    [InlineData(500, null)]
    public async Task SendAsync_StatusArrivedThenTheCallerGaveUpOnTheBody_A2xxStaysAcceptedOthersThrow(int status, GatewayOutcome? expected)
    {
        // The attempt's timeout, or the shutdown deadline, fires while the body of an answer is still on its way. A 2xx means
        // the gateway took the message: thrown as a cancellation, the send was retried and the customer got it twice.
        _stub.Answer(new StubAnswer(status, HangAfterStatus: true));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));

        var send = Gateway().SendAsync(Text(), cts.Token);

        if (expected is { } outcome)
        {
            Assert.Equal(outcome, (await send).Outcome);
        }
        else
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        }

        Assert.Single(_stub.Requests);
    }

    [Fact]
    public async Task SendAsync_TokenAlreadyCancelled_ThrowsWithoutSending()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Gateway().SendAsync(Text(), cts.Token));
        Assert.Empty(_stub.Requests);
    }

    [Fact]
    public async Task SendAsync_HttpClientTimeoutNotCallerToken_Retryable()
    {
        _stub.Answer(new StubAnswer(201, Hang: true));
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(200) };
        var gateway = new EvolutionGateway(http, Options.Create(Evolution(_stub.BaseUrl)), TimeProvider.System, NullLogger<EvolutionGateway>.Instance);

        var result = await gateway.SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Retryable, result.Outcome);
        Assert.StartsWith("timeout", result.Error, StringComparison.Ordinal);
        Assert.True(result.Unanswered);
    }

    [Fact]
    public void Name_IsEvolutionPlusConfiguredName()
    {
        Assert.Equal("evolution:main", Gateway().Name);
    }

    private EvolutionGateway Gateway(Uri? baseUrl = null, string instance = "loja-01", TimeProvider? timeProvider = null) =>
        new(_http, Options.Create(Evolution(baseUrl ?? _stub.BaseUrl, instance)), timeProvider ?? TimeProvider.System, NullLogger<EvolutionGateway>.Instance);
}
