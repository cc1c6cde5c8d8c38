using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Cortex.Sender.Tests.Gateways;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// Issue #7: secrets never reach logs, exceptions, metrics or dead letters. One real sender run per adapter, over HTTP, with
/// every secret it holds set (gateway key, Redis password, admin token), everything logged down to Trace, and a gateway
/// that quotes the key and the full number back in its 400, 500 and 401 bodies. Then every captured line, exception
/// text, the /metrics scrape and every dead letter is searched for each secret and for the full numbers.
/// </summary>
public sealed class SecretsFullRunTests(ITestOutputHelper output)
{
    private const string EvolutionKey = "evo-key-5d2c81f0a9e3";
    private const string CloudToken = "EAAGcloud-token-7f3e91b2c4d8a6";
    private const string RedisPassword = "redis-secret-4b8e0c1d77";
    private const string AdminToken = "admin-token-9c7d2e5f1a3b8e4d6f";
    private static readonly string[] s_phones = ["+5511987651234", "+5521976540001", "+5531965430002", "+5541954320003", "+5551943210004", "+5561932100005"];

    [Theory]
    [InlineData("Evolution")]
    [InlineData("Cloud")]
    public async Task FullRun_AtTrace_NoSecretOrFullNumberInLogsExceptionsMetricsOrDeadLetters(string adapter)
    {
        var key = adapter == "Evolution" ? EvolutionKey : CloudToken;
        await using var redis = await RedisServer.StartAsync(new RedisSecurity { Password = RedisPassword });
        await using var stub = await GatewayStub.StartAsync();
        stub.Default = adapter == "Evolution"
            ? StubAnswer.Json(201, """{"key":{"id":"OK"}}""")
            : StubAnswer.Json(200, """{"messaging_product":"whatsapp","messages":[{"id":"wamid.OK"}]}""");
        stub.Answer(GatewayFaults(adapter, key));
        var logs = new CapturedLogs();
        var queueName = RedisFixture.UniqueQueueName();
        await using var app = SenderApplication.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(Settings(adapter, key, redis, stub, queueName));
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync();
        var queue = app.Services.GetRequiredService<IMessageQueue>();

        await app.Services.GetRequiredService<CortexClient>().EnqueueBatchAsync(
            s_phones.Select((phone, i) => new Envelope { Id = $"sec-{i}", To = phone, Text = "Olá, sua fatura vence amanhã" }));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "every message sent or dead-lettered", 60);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First() + "/") };
        var scrape = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        await AdminCallAsync(http, AdminToken + "-wrong", "admin/dead-letters/purge?all=true", HttpStatusCode.Unauthorized);
        await AdminCallAsync(http, AdminToken, "admin/dead-letters/requeue?messageId=no-such-message", HttpStatusCode.OK);
        await app.StopAsync();

        // The run went through what it should have: each fault answered, a dead letter with the provider's error, the
        // 401 logged as critical, the key sent on every request.
        Assert.True(stub.Requests.Count >= GatewayFaults(adapter, key).Length + 1, $"{stub.Requests.Count} requests");
        Assert.All(stub.Requests, r => Assert.Contains(key, adapter == "Evolution" ? r.Headers["apikey"] : r.Headers["Authorization"], StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        // The capture sees what an operator turning everything up would see: Trace lines, and the providers' error texts
        // (masked) in the sender's own lines. The gateways' HttpClients log nothing at any level (RemoveAllLoggers).
        Assert.Contains(logs.Lines, l => l.StartsWith("Trace", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("+55*******1234", StringComparison.Ordinal));
        Assert.Contains("cortex_", scrape, StringComparison.Ordinal);
        var dead = await RawDeadLettersAsync(redis, queueName);
        Assert.Contains(dead, d => d.Contains(DeadLetterReasons.Permanent, StringComparison.Ordinal) && d.Contains("[redacted]", StringComparison.Ordinal));
        Assert.Contains(dead, d => d.Contains(DeadLetterReasons.RetriesExhausted, StringComparison.Ordinal));

        var places = new Dictionary<string, string>
        {
            ["log lines and exceptions"] = logs.All,
            ["/metrics"] = scrape,
            // The original payload stays in a dead letter (it is what a requeue sends), so the number is looked for in
            // every other field: reason, detail, lastError.
            ["dead letters"] = string.Join('\n', dead.Select(WithoutPayload)),
        };
        output.WriteLine($"{adapter}: {stub.Requests.Count} gateway requests; scanned {logs.Lines.Count} log lines ({logs.All.Length:N0} characters, {logs.Lines.Count(l => l.Contains("Exception", StringComparison.Ordinal))} with an exception), a /metrics scrape of {scrape.Length:N0} characters, {dead.Count} dead letters");
        foreach (var (place, text) in places)
        {
            foreach (var secret in new[] { key, RedisPassword, AdminToken })
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{place} hold a secret ({secret[..6]}…): {Excerpt(text, secret)}");
            }

            foreach (var phone in s_phones)
            {
                Assert.False(text.Contains(phone[1..], StringComparison.Ordinal), $"{place} hold the full number {phone}: {Excerpt(text, phone[1..])}");
            }
        }

        Assert.All(dead, d => Assert.DoesNotContain(RedisPassword, d, StringComparison.Ordinal));
        Assert.All(dead, d => Assert.DoesNotContain(key, d, StringComparison.Ordinal));
    }

    // Each body quotes the key and the full number back, the worst a provider can do.
    private static StubAnswer[] GatewayFaults(string adapter, string key) => adapter == "Evolution"
        ?
        [
            StubAnswer.Json(400, $$$"""{"status":400,"error":"Bad Request","response":{"message":["apikey {{{key}}} cannot send to 5511987651234"]}}"""),
            StubAnswer.Json(500, $$$"""{"status":500,"error":"Internal","response":{"message":"instance for 5521976540001 failed with key {{{key}}}"}}"""),
            StubAnswer.Json(401, $$$"""{"status":401,"error":"Unauthorized","response":{"message":"apikey {{{key}}} rejected for 5531965430002"}}"""),
            StubAnswer.Text(500, $"<html>upstream error, key={key}, to=5541954320003</html>"),
        ]
        :
        [
            StubAnswer.Json(400, $$$"""{"error":{"message":"(#131026) Message undeliverable to 5511987651234 with token {{{key}}}","type":"OAuthException","code":131026,"fbtrace_id":"A1"}}"""),
            StubAnswer.Json(500, $$$"""{"error":{"message":"An unexpected error has occurred for 5521976540001, token {{{key}}}","type":"OAuthException","code":2,"fbtrace_id":"A2"}}"""),
            StubAnswer.Json(401, $$$"""{"error":{"message":"Invalid OAuth access token - Cannot parse access token {{{key}}}","type":"OAuthException","code":190,"fbtrace_id":"A3"}}"""),
            StubAnswer.Text(500, $"<html>upstream error, token={key}, to=5541954320003</html>"),
        ];

    private static Dictionary<string, string?> Settings(string adapter, string key, RedisServer redis, GatewayStub stub, string queueName)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:System.Net.Http"] = "Trace",
            ["Cortex:Redis:Configuration"] = redis.Configuration,
            ["Cortex:Redis:Password"] = RedisPassword,
            ["Cortex:Queue:Name"] = queueName,
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.050",
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.100",
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Observability:AdminToken"] = AdminToken,
            ["Cortex:Gateway:Type"] = adapter,
            ["Cortex:Sender:Workers"] = "1",
            ["Cortex:Sender:Prefetch"] = "2",
            ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
            ["Cortex:Sender:ConfigurationErrorPause"] = "00:00:01",
            ["Cortex:Resilience:ShortRetries"] = "0",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.020",
            ["Cortex:Retry:MaxDelay"] = "00:00:00.020",
            // A 500 is the message's last attempt: it is dead-lettered with the provider's error as its lastError.
            ["Cortex:Retry:MaxAttempts"] = "1",
        };
        if (adapter == "Evolution")
        {
            settings["Cortex:Gateway:Evolution:BaseUrl"] = stub.BaseUrl.ToString();
            settings["Cortex:Gateway:Evolution:Instance"] = "billing";
            settings["Cortex:Gateway:Evolution:ApiKey"] = key;
        }
        else
        {
            settings["Cortex:Gateway:Cloud:BaseUrl"] = stub.BaseUrl.ToString();
            settings["Cortex:Gateway:Cloud:PhoneNumberId"] = "106540352242922";
            settings["Cortex:Gateway:Cloud:AccessToken"] = key;
        }

        return settings;
    }

    private static async Task AdminCallAsync(HttpClient http, string token, string path, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
    }

    private static async Task<List<string>> RawDeadLettersAsync(RedisServer redis, string queueName)
    {
        using var connection = await redis.ConnectAsync();
        var entries = await connection.GetDatabase().ListRangeAsync(new QueueKeys(queueName).Dead);
        return [.. entries.Select(e => (string)e!)];
    }

    // A stored entry is its JSON line, a newline, then the payload's bytes (entries of older versions: the JSON alone).
    private static string WithoutPayload(string deadLetter)
    {
        var newline = deadLetter.IndexOf('\n', StringComparison.Ordinal);
        using var json = JsonDocument.Parse(newline < 0 ? deadLetter : deadLetter[..newline]);
        return string.Join(", ", json.RootElement.EnumerateObject()
            .Where(p => p.Name is not ("payload" or "payloadBase64"))
            .Select(p => $"{p.Name}={p.Value}"));
    }

    private static string Excerpt(string text, string value)
    {
        var at = text.IndexOf(value, StringComparison.Ordinal);
        return text.Substring(Math.Max(0, at - 200), Math.Min(text.Length - Math.Max(0, at - 200), 400)).Replace(value, "<HERE>", StringComparison.Ordinal);
    }
}
