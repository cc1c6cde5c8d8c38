using Cortex.Sender.Gateways.Fake;
using Cortex.Sender.RateLimiting;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Sender.Tests.Pipeline;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// The Redis users of k8s/redis/users.acl, loaded into a real redis-server: the senders' user can do everything the
/// sender does on the default queue, KEDA's user can read the ready lists' length and nothing more, and the producers'
/// user can push to the ready lists and nothing more.
/// </summary>
public sealed class RedisAclTests : IAsyncLifetime
{
    private const string SendersPassword = "senders-test-password";
    private const string KedaPassword = "keda-test-password";
    private const string ProducerPassword = "producer-test-password";
    private static readonly string[] s_sendersUser = ["--user", "default", "--pass", SendersPassword];
    private static readonly string[] s_kedaUser = ["--user", "keda", "--pass", KedaPassword];
    private static readonly string[] s_producerUser = ["--user", "producer", "--pass", ProducerPassword];
    private readonly string _aclFile = Path.Combine(Path.GetTempPath(), $"cortex-users-{Guid.NewGuid():N}.acl");
    private RedisServer _server = null!;

    public async Task InitializeAsync()
    {
        var acl = await File.ReadAllTextAsync(DeployArtifacts.FullPath("k8s/redis/users.acl"));
        Assert.Contains(">CHANGE-ME-SENDERS", acl, StringComparison.Ordinal);
        Assert.Contains(">CHANGE-ME-KEDA", acl, StringComparison.Ordinal);
        await File.WriteAllTextAsync(_aclFile, acl.Replace("CHANGE-ME-SENDERS", SendersPassword, StringComparison.Ordinal).Replace("CHANGE-ME-KEDA", KedaPassword, StringComparison.Ordinal)
            .Replace("CHANGE-ME-PRODUCER", ProducerPassword, StringComparison.Ordinal));
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
    public async Task Sender_QueueOutsideItsUsersKeys_StopsAtStartWith78NamingTheKeysAndTheSetting()
    {
        var (exitCode, output) = await StartSenderAsync(_server, ("Cortex:Queue:Name", "billing"));

        Assert.True(exitCode == CortexHost.ConfigurationErrorExitCode, output);
        Assert.Contains("may not run what the sender needs on queue 'billing' (Cortex:Queue:Name, keys {billing}:*)", output, StringComparison.Ordinal);
        Assert.Contains("RPOP {billing}:ready:high", output, StringComparison.Ordinal);
        Assert.DoesNotContain(SendersPassword, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sender_AclWithoutACommandTheLeaseRunsAfterItsPops_StopsAtStartAndTheMessagesStayReady()
    {
        // The sender's user of k8s/redis/users.acl without INCRBY: the lease script would pop the messages, then be refused
        // the lease sequence, and what it popped would be gone.
        await using var narrow = await StartWithShippedAclWithoutAsync(" +incrby");
        string[] user = ["-p", narrow.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", .. s_sendersUser];
        await RunRedisCli([.. user, "LPUSH", "{cortex}:ready:normal", .. Enumerable.Range(0, 5).Select(i => $$"""{"version":1,"id":"n-{{i}}","to":"+5511987654321","text":"oi"}""")]);

        var (exitCode, output) = await StartSenderAsync(narrow);

        Assert.True(exitCode == CortexHost.ConfigurationErrorExitCode, output);
        Assert.Contains("INCRBY {cortex}:lease-seq", output, StringComparison.Ordinal);
        Assert.Equal("5", await RunRedisCli([.. user, "LLEN", "{cortex}:ready:normal"]));
    }

    [Fact]
    public async Task Sender_AclWithoutTheGlobalBucketsKeys_StopsAtStartNamingTheBucket()
    {
        await using var narrow = await StartWithShippedAclWithoutAsync(" ~cortex:ratelimit:*");

        var (exitCode, output) = await StartSenderAsync(narrow, ("Cortex:RateLimit:GlobalPermitsPerSecond", "80"));

        Assert.True(exitCode == CortexHost.ConfigurationErrorExitCode, output);
        Assert.Contains("HMGET cortex:ratelimit:{", output, StringComparison.Ordinal);
        Assert.DoesNotContain("{cortex}:", output.Replace("keys {cortex}:*", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sender_AclNarrowedWhileRunning_LogsTheRefusalNotAnOutageAndSendsOnceItIsRestored()
    {
        await using var redis = await RedisServer.StartAsync();
        string[] admin = ["-p", redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var logs = new CapturedLogs();
        await using var app = await StartRunningSenderAsync(redis, logs, ("Cortex:Queue:HeartbeatInterval", "00:00:00.100"), ("Cortex:Sender:IdlePollMax", "00:00:00.020"));
        var gateway = app.Services.GetRequiredService<FakeGateway>();

        // Running first: narrowed before the first heartbeat, the ACL held the sender in its start-up, where it never leases.
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1000] Sender ", StringComparison.Ordinal))), "the sender running");

        // Every lease and heartbeat starts with a ZADD to the consumers set, so taking it away refuses them before anything moves.
        await RunRedisCli([.. admin, "ACL", "SETUSER", "default", "-zadd"]);
        // The lease and the heartbeat are both refused while the ACL lacks ZADD; neither may read as an outage.
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1016] Redis refused lease", StringComparison.Ordinal))), "the lease's refusal logged");
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1016] Redis refused heartbeat", StringComparison.Ordinal))), "the heartbeat's refusal logged");
        await app.Services.GetRequiredService<CortexClient>().EnqueueBatchAsync(Enumerable.Range(0, 10).Select(i => new Envelope { Id = $"acl-run-{i}", To = "+5511987654321", Text = "oi" }));
        await RunRedisCli([.. admin, "ACL", "SETUSER", "default", "+zadd"]);
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.AcceptedCount == 10), "every message sent once the ACL is restored");
        await app.StopAsync();

        Assert.Equal(0, gateway.DuplicateCount());
        Assert.Contains(logs.Lines, l => l.Contains("[1016] Redis refused", StringComparison.Ordinal) && l.Contains("lacks a permission the sender needs", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("[1003]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sender_AclNarrowedOnTheGlobalBucketWhileRunning_HoldsSendingAndSaysWhy_SendsOnceItIsRestored()
    {
        await using var redis = await RedisServer.StartAsync();
        string[] admin = ["-p", redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var logs = new CapturedLogs();
        await using var app = await StartRunningSenderAsync(redis, logs, ("Cortex:RateLimit:GlobalPermitsPerSecond", "80"));
        var gateway = app.Services.GetRequiredService<FakeGateway>();

        // HMGET is the bucket's alone among what the sender runs: the queue goes on leasing, and every worker waits for a
        // permit it cannot get. Without a log line that wait was silent: a sender that leased and never sent.
        await RunRedisCli([.. admin, "ACL", "SETUSER", "default", "-hmget"]);
        await app.Services.GetRequiredService<CortexClient>().EnqueueBatchAsync(Enumerable.Range(0, 5).Select(i => new Envelope { Id = $"bucket-{i}", To = "+5511987654321", Text = "oi" }));
        await SenderTestHost.WaitForAsync(() => Task.FromResult(logs.Lines.Any(l => l.Contains("[1016] Redis refused the global rate limit", StringComparison.Ordinal))), "the bucket's refusal logged");
        Assert.Equal(0, gateway.AcceptedCount);
        await RunRedisCli([.. admin, "ACL", "SETUSER", "default", "+hmget"]);
        await SenderTestHost.WaitForAsync(() => Task.FromResult(gateway.AcceptedCount == 5), "every message sent once the ACL is restored");
        await app.StopAsync();

        Assert.Equal(0, gateway.DuplicateCount());
        Assert.Contains(logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains("[1016] Redis refused the global rate limit", StringComparison.Ordinal)
            && l.Contains("lacks a permission the sender needs", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GlobalBucket_PauseRefusedByAnAclNarrowedWhileRunning_IsLoggedAndWritesNothing()
    {
        await using var redis = await RedisServer.StartAsync();
        string[] admin = ["-p", redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        using var connection = await redis.ConnectAsync();
        var logs = new CapturedLogs();
        using var limiter = new RedisTokenBucketRateLimiter(connection, "acl-pause", 80, 10, TimeProvider.System, TimeSpan.FromSeconds(10), logs.CreateLogger("bucket"));
        using (await limiter.AcquireAsync(1))
        {
        }

        // HDEL is the pause's alone: the permits go on, so nothing else would ever show the refusal. The pause was
        // best effort and swallowed every error: the other pods silently went on into the provider's 429s.
        await RunRedisCli([.. admin, "ACL", "SETUSER", "default", "-hdel"]);
        await limiter.PauseAsync(TimeSpan.FromMinutes(1));

        Assert.True(logs.Lines.Any(l => l.StartsWith("Error bucket[1017] Redis refused the shared throttle pause", StringComparison.Ordinal) && l.Contains("can't run this command", StringComparison.Ordinal)), logs.All);
        var bucket = RedisTokenBucketRateLimiter.KeyFor("acl-pause");
        Assert.False((await connection.GetDatabase().HashGetAsync(bucket, "paused")).HasValue, "a refused pause must write nothing");
        using var lease = await limiter.AcquireAsync(1).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(lease.IsAcquired);
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
    public async Task ProducerUser_PushesAsDocumented_AndTheSenderSendsWhatItPushed()
    {
        // docs/message-format.md, Enqueueing: redis-cli LPUSH to the list of the message's priority, as the producer user.
        Assert.Equal("1", await RedisCli(s_producerUser, "LPUSH", "{cortex}:ready:normal", """{"version":1,"id":"producer-1","to":"+5511987654321","text":"Your bill is due on 25/11."}"""));
        Assert.Equal("2", await RedisCli(s_producerUser, "LPUSH", "{cortex}:ready:high", """{"version":1,"id":"producer-2","to":"+5511987654321","text":"Your code is 481516","priority":"high"}""", """{"version":1,"id":"producer-3","to":"+5511987654321","text":"oi","priority":"high"}"""));
        Assert.Equal("1", await RedisCli(s_producerUser, "LPUSH", "{cortex}:ready:low", """{"version":1,"id":"producer-4","to":"+5511987654321","text":"oi","priority":"low"}"""));
        Assert.Equal("PONG", await RedisCli(s_producerUser, "PING"));

        await using var app = SenderApplication.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = _server.Configuration,
            ["Cortex:Redis:Password"] = SendersPassword,
            ["Cortex:Observability:Port"] = "0",
            ["Cortex:Gateway:Type"] = "Fake",
            ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
        }));
        await app.StartAsync();
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var gateway = app.Services.GetRequiredService<FakeGateway>();
        await SenderTestHost.WaitForAsync(async () => await queue.GetStatsAsync() is { Pending: 0 } && gateway.AcceptedCount == 4, "every pushed message sent");
        await app.StopAsync();

        Assert.Equal(0, gateway.DuplicateCount());
        Assert.Equal(0, (await queue.GetStatsAsync()).Dead);
    }

    [Theory]
    [InlineData("SET", "{cortex}:sent:producer-1", "1")] // mark a message sent, so it never goes out
    [InlineData("DEL", "{cortex}:ready:normal")] // drop the waiting messages
    [InlineData("HSET", "{cortex}:leases:sender-1", "1", "x")] // forge a lease
    [InlineData("HDEL", "{cortex}:leases:sender-1", "1")]
    [InlineData("RPOP", "{cortex}:ready:normal")] // take a message meant for the sender
    [InlineData("LRANGE", "{cortex}:ready:normal", "0", "-1")] // read other producers' messages and numbers
    [InlineData("LLEN", "{cortex}:ready:normal")]
    [InlineData("LREM", "{cortex}:ready:normal", "0", "x")]
    [InlineData("RPUSH", "{cortex}:ready:normal", "x")] // jump the queue
    [InlineData("LPUSH", "{cortex}:dead", "x")]
    [InlineData("LRANGE", "{cortex}:dead", "0", "-1")]
    [InlineData("ZADD", "{cortex}:delayed", "0", "x")] // its members carry an internal prefix: not the producers' to write
    [InlineData("LPUSH", "{cortex}:ready:elsewhere", "x")]
    [InlineData("SET", "{cortex}:paused", "x")]
    [InlineData("HSET", "cortex:ratelimit:{main}", "tokens", "1000")]
    [InlineData("EVAL", "return redis.call('LPUSH', KEYS[1], 'x')", "1", "{cortex}:ready:normal")]
    [InlineData("FLUSHALL")]
    [InlineData("KEYS", "*")]
    [InlineData("SUBSCRIBE", "__Booksleeve_MasterChanged")]
    public async Task ProducerUser_AnythingButThePush_Refused(params string[] command)
    {
        Assert.StartsWith("NOPERM", await RedisCli(s_producerUser, command), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendersUser_KeysOfAnotherApplication_Refused()
    {
        Assert.StartsWith("NOPERM", await RedisCli(s_sendersUser, "SET", "billing:session:1", "x"), StringComparison.Ordinal);
        Assert.StartsWith("NOPERM", await RedisCli(s_sendersUser, "FLUSHALL"), StringComparison.Ordinal);
    }

    // The shipped ACL with one rule or key pattern taken out; Redis reads the file once, at start.
    private async Task<RedisServer> StartWithShippedAclWithoutAsync(string removed)
    {
        var file = Path.Combine(Path.GetTempPath(), $"cortex-narrow-{Guid.NewGuid():N}.acl");
        var acl = await File.ReadAllTextAsync(_aclFile);
        Assert.Contains(removed, acl, StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, acl.Replace(removed, string.Empty, StringComparison.Ordinal));
        try
        {
            return await RedisServer.StartAsync("--aclfile", file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    // A sender started as Program.cs starts it, as the senders' user, expected to stop at start.
    private static Task<(int ExitCode, string Output)> StartSenderAsync(RedisServer redis, params (string Key, string Value)[] settings) =>
        ConfigErrorHost.RunAsync(services => services.AddCortexSender(), new Dictionary<string, string?>(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
        {
            ["Cortex:Redis:Configuration"] = redis.Configuration,
            ["Cortex:Redis:Password"] = SendersPassword,
            ["Cortex:Gateway:Type"] = "Fake",
        });

    // A sender started in process with the fake gateway, on a Redis whose default user the test narrows while it runs.
    private static async Task<WebApplication> StartRunningSenderAsync(RedisServer redis, CapturedLogs logs, params (string Key, string Value)[] settings)
    {
        var app = SenderApplication.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            {
                ["Cortex:Redis:Configuration"] = redis.Configuration,
                ["Cortex:Observability:Port"] = "0",
                ["Cortex:Gateway:Type"] = "Fake",
            });
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync();
        return app;
    }

    private Task<string> RedisCli(string[] user, params string[] command) =>
        RunRedisCli(["-p", _server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", .. user, .. command]);

    private static async Task<string> RunRedisCli(string[] args)
    {
        var result = await ExternalTool.RunAsync("redis-cli", args, "It comes with redis-server (`make test` installs it).");
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Output;
    }
}
