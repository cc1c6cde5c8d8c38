using Cortex.Sender.Gateways.Fake;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Sender.Tests.Pipeline;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// The Redis users of k8s/redis/users.acl, loaded into a real redis-server: the senders' user can do everything the
/// sender does on the default queue, and KEDA's user can read the ready lists' length and nothing more.
/// </summary>
public sealed class RedisAclTests : IAsyncLifetime
{
    private const string SendersPassword = "senders-test-password";
    private const string KedaPassword = "keda-test-password";
    private static readonly string[] s_sendersUser = ["--user", "default", "--pass", SendersPassword];
    private static readonly string[] s_kedaUser = ["--user", "keda", "--pass", KedaPassword];
    private readonly string _aclFile = Path.Combine(Path.GetTempPath(), $"cortex-users-{Guid.NewGuid():N}.acl");
    private RedisServer _server = null!;

    public async Task InitializeAsync()
    {
        var acl = await File.ReadAllTextAsync(DeployArtifacts.FullPath("k8s/redis/users.acl"));
        Assert.Contains(">CHANGE-ME-SENDERS", acl, StringComparison.Ordinal);
        Assert.Contains(">CHANGE-ME-KEDA", acl, StringComparison.Ordinal);
        await File.WriteAllTextAsync(_aclFile, acl.Replace("CHANGE-ME-SENDERS", SendersPassword, StringComparison.Ordinal).Replace("CHANGE-ME-KEDA", KedaPassword, StringComparison.Ordinal));
        _server = await RedisServer.StartAsync("--aclfile", _aclFile);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        File.Delete(_aclFile);
    }

    [Fact]
    public async Task SendersUser_OnTheDefaultQueue_SendsRetriesRateLimitsAndDeadLetters()
    {
        await using var app = SenderApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = $"{_server.Configuration},password={SendersPassword}",
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.050",
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.100",
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Gateway:Type"] = "Fake",
            // Every third send fails once: the retry goes through the delayed set and is promoted by maintenance.
            ["Cortex:Gateway:Fake:RetryableFailureRate"] = "0.3",
            ["Cortex:Resilience:ShortRetries"] = "0",
            ["Cortex:Resilience:MinimumThroughput"] = "100000",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.020",
            ["Cortex:Retry:MaxDelay"] = "00:00:00.020",
            ["Cortex:Retry:MaxAttempts"] = "20",
            // The global bucket lives under cortex:ratelimit:{main}, outside the queue's hash tag.
            ["Cortex:RateLimit:GlobalPermitsPerSecond"] = "100000",
            ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
        }));
        await app.StartAsync();
        var producer = app.Services.GetRequiredService<CortexClient>();
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var gateway = app.Services.GetRequiredService<FakeGateway>();
        Assert.Equal("cortex", queue.Keys.Name);

        await producer.EnqueueBatchAsync(Enumerable.Range(0, 60).Select(i => new Envelope { Id = $"acl-{i}", To = "+5511987654321", Text = "oi" }));
        await producer.EnqueueAsync(new Envelope { Id = "acl-late", To = "+5511987654321", Text = "oi", NotBefore = TimeProvider.System.GetUtcNow().AddMilliseconds(200) });
        await RedisCli(s_sendersUser, "LPUSH", "{cortex}:ready:normal", "{not json");
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0, Dead: 1 }, "every message sent or dead-lettered");

        Assert.Equal(61, gateway.AcceptedCount);
        Assert.Equal(0, gateway.DuplicateCount());
        Assert.True(gateway.Calls > 61, $"no send was retried ({gateway.Calls} calls), so the delayed set went untested");
        Assert.Contains(DeadLetterReasons.InvalidEnvelope, await RedisCli(s_sendersUser, "LINDEX", "{cortex}:dead", "0"), StringComparison.Ordinal);
        await app.StopAsync();
    }

    [Fact]
    public async Task SendersUser_OverTlsWithThePrivateCa_SendsEveryMessage()
    {
        // The production shape of k8s/redis/redis.conf: TLS only, the ACL file, the password from its own setting.
        await using var tls = await RedisServer.StartAsync(new RedisSecurity { Tls = true, AclFile = _aclFile, Password = SendersPassword });
        await using var app = SenderApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = tls.Configuration,
            ["Cortex:Redis:Password"] = SendersPassword,
            ["Cortex:Redis:TlsCaCertificateFile"] = tls.TlsCaCertificateFile,
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Gateway:Type"] = "Fake",
            ["Cortex:RateLimit:GlobalPermitsPerSecond"] = "100000",
            ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
        }));
        await app.StartAsync();
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var gateway = app.Services.GetRequiredService<FakeGateway>();

        await app.Services.GetRequiredService<CortexClient>().EnqueueBatchAsync(Enumerable.Range(0, 50).Select(i => new Envelope { Id = $"tls-{i}", To = "+5511987654321", Text = "oi" }));
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 }, "every message sent over TLS");
        await app.StopAsync();

        Assert.Equal(50, gateway.AcceptedCount);
        Assert.Equal(0, gateway.DuplicateCount());
        Assert.Equal(0, (await queue.GetStatsAsync()).Dead);
    }

    [Fact]
    public async Task KedaUser_ReadsTheReadyListLengthsAndNothingElse()
    {
        await RedisCli(s_sendersUser, "LPUSH", "{cortex}:ready:normal", "a", "b");

        var length = await RedisCli(s_kedaUser, "EVAL", "local t = redis.call('TYPE', KEYS[1])['ok']; if t == 'list' then return redis.call('LLEN', KEYS[1]) end; return 0", "1", "{cortex}:ready:normal");
        var push = await RedisCli(s_kedaUser, "LPUSH", "{cortex}:ready:normal", "c");
        var dead = await RedisCli(s_kedaUser, "EVAL", "return redis.call('LLEN', KEYS[1])", "1", "{cortex}:dead");
        var sent = await RedisCli(s_kedaUser, "GET", "{cortex}:sent:x");

        Assert.Equal("2", length);
        Assert.StartsWith("NOPERM", push, StringComparison.Ordinal);
        Assert.StartsWith("NOPERM", dead, StringComparison.Ordinal);
        Assert.StartsWith("NOPERM", sent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendersUser_KeysOfAnotherApplication_Refused()
    {
        Assert.StartsWith("NOPERM", await RedisCli(s_sendersUser, "SET", "billing:session:1", "x"), StringComparison.Ordinal);
        Assert.StartsWith("NOPERM", await RedisCli(s_sendersUser, "FLUSHALL"), StringComparison.Ordinal);
    }

    private async Task<string> RedisCli(string[] user, params string[] command)
    {
        var result = await ExternalTool.RunAsync(
            "redis-cli",
            ["-p", _server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", .. user, .. command],
            "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Output;
    }
}
