using System.Globalization;
using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Testing;

namespace Cortex.Cli.Tests.Hosting;

/// <summary>
/// The least-privilege Redis user of k8s/redis/users.acl, loaded into a real redis-server: a real scheduler process and
/// the CLI do their whole job on the default queue as that user, authenticating with Cortex:Redis:Password; a wrong
/// password stops either at start with exit 78 naming the key, and neither ever prints the password or a full number.
/// </summary>
[Collection(DatabaseCollection.Name)]
public sealed class RedisAclPipelineTests(CliFixture fixture) : IAsyncLifetime
{
    private const string SendersPassword = "acl-senders-pass-3e9f1a";
    private const string KedaPassword = "acl-keda-pass-77b0c2";
    private const string WrongPassword = "acl-wrong-pass-0d4e8b";
    private static readonly string[] s_phones = ["+5511900000001", "+5511900000002"];
    private readonly string _aclFile = Path.Combine(Path.GetTempPath(), $"cortex-users-{Guid.NewGuid():N}.acl");
    private RedisServer _redis = null!;

    public async Task InitializeAsync()
    {
        var acl = MarkdownDoc.Read("k8s/redis/users.acl");
        await File.WriteAllTextAsync(_aclFile, acl.Replace("CHANGE-ME-SENDERS", SendersPassword, StringComparison.Ordinal).Replace("CHANGE-ME-KEDA", KedaPassword, StringComparison.Ordinal));
        _redis = await RedisServer.StartAsync(new RedisSecurity { AclFile = _aclFile, Password = SendersPassword });
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        File.Delete(_aclFile);
    }

    [Fact]
    public async Task SchedulerAndCli_AsTheAclUser_PushListAndRequeueOnTheDefaultQueue()
    {
        // The ACL allows Cortex's keys only ({cortex}:*), so this is the default queue name, on a server of this test's own.
        var cli = await CliAsync(SendersPassword);
        await cli.ExecuteAsync("INSERT INTO cortex.message_templates (key, body) VALUES ('promo.acl', 'Oi {name}!')");
        var recipients = Path.Combine(Path.GetTempPath(), "cortex-acl-" + Guid.NewGuid().ToString("N") + ".csv");
        await File.WriteAllTextAsync(recipients, string.Join('\n', s_phones.Select((p, i) => $"{p},Cliente {i}")) + "\n");
        var created = await cli.RunAsync("campaign", "create", "--name", "Promo", "--template", "promo.acl", "--run-at", cli.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), "--recipients", recipients);
        File.Delete(recipients);
        Assert.True(created.ExitCode == 0, created.ToString());

        // The scheduler fans the campaign out and pushes it through the outbox, as the ACL user (its Redis figures on
        // /metrics and its readiness check too, port 0 keeps them off a fixed port).
        await using var node = SchedulerNode.Start(SchedulerEnvironment(cli, SendersPassword));
        await Eventually.TrueAsync(
            async () => await cli.ScalarAsync<long>("SELECT count(*) FROM cortex.dispatch_ledger WHERE status = 'enqueued'") == 2,
            TimeSpan.FromSeconds(90),
            () => "the campaign never reached Redis: " + node.Output);

        var stats = await cli.RunAsync("stats", "--json");
        using var admin = await _redis.ConnectAsync();
        var ready = await admin.ReadyAsync(cli.Keys, Priority.Low);
        var dead = Queues.Payload("acl:dead", to: s_phones[0]);
        await Queues.DeadLetterAsync(admin, cli.Keys, DeadLetterReasons.Permanent, dead, cli.Time.GetUtcNow(), id: "acl:dead");
        var list = await cli.RunAsync("dlq", "list");
        var requeue = await cli.RunAsync("dlq", "requeue", "acl:dead");
        await node.TerminateAsync();

        Assert.Equal(s_phones, ready.Select(m => m.To).Order());
        Assert.True(stats.ExitCode == 0, stats.ToString());
        using (var json = System.Text.Json.JsonDocument.Parse(stats.Out))
        {
            Assert.Equal(2, json.RootElement.GetProperty("ready").GetProperty("low").GetInt64());
        }

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("acl:dead", list.Out, StringComparison.Ordinal);
        Assert.True(requeue.ExitCode == 0, requeue.ToString());
        Assert.Equal(0, await admin.LengthAsync(cli.Keys.Dead));
        Assert.Equal(3, await admin.LengthAsync(cli.Keys.ReadyNormal) + await admin.LengthAsync(cli.Keys.ReadyLow));
        Assert.DoesNotContain("NOPERM", node.Output, StringComparison.Ordinal);

        foreach (var (what, text) in new[] { ("scheduler", node.Output), ("stats", stats.ToString()), ("dlq list", list.ToString()), ("dlq requeue", requeue.ToString()) })
        {
            Assert.False(text.Contains(SendersPassword, StringComparison.Ordinal), $"{what} printed the Redis password");
            Assert.All(s_phones, phone => Assert.False(text.Contains(phone[1..], StringComparison.Ordinal), $"{what} printed the full number {phone}"));
        }
    }

    [Fact]
    public async Task Cli_WrongPassword_Exits78NamingTheKeyNotThePassword()
    {
        var cli = await CliAsync(WrongPassword);

        var result = await cli.RunAsync("stats");

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, result.ExitCode);
        Assert.Contains("Cortex:Redis:Password was refused by Redis at 127.0.0.1:", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongPassword, result.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(SendersPassword, result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scheduler_WrongPassword_StopsAtStartWith78NamingTheKeyNotThePassword()
    {
        var cli = await CliAsync(WrongPassword);
        await using var node = SchedulerNode.Start(SchedulerEnvironment(cli, WrongPassword));

        var exit = await node.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.True(node.Wrote("Cortex:Redis:Password was refused by Redis at 127.0.0.1:"), node.Output);
        Assert.DoesNotContain(WrongPassword, node.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scheduler_QueueOutsideItsUsersKeys_StopsAtStartWith78NamingTheKeysBeforeAnyJobRuns()
    {
        // The file's patterns are {cortex}:*; a queue of another name would have every outbox push refused at run time.
        var cli = await CliAsync(SendersPassword);
        var environment = SchedulerEnvironment(cli, SendersPassword);
        environment["Cortex__Queue__Name"] = "billing";
        await using var node = SchedulerNode.Start(environment);

        var exit = await node.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.True(node.Wrote("may not run what the scheduler needs on queue 'billing' (Cortex:Queue:Name, keys {billing}:*): LPUSH {billing}:ready:high"), node.Output);
        Assert.DoesNotContain(SendersPassword, node.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", node.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_AclWithoutACommandCortexUses_Exits78SayingSoWithoutAStackTrace()
    {
        // An operator's ACL that forgot the list commands: the stats script's LLEN is refused inside Lua.
        var narrow = Path.Combine(Path.GetTempPath(), $"cortex-narrow-{Guid.NewGuid():N}.acl");
        await File.WriteAllTextAsync(narrow, $"user default on >{SendersPassword} ~{{cortex}}:* -@all +auth +ping +echo +info +client|setname +evalsha +script|load +zcard +zcount +zrange +hlen +get\n");
        try
        {
            await using var redis = await RedisServer.StartAsync(new RedisSecurity { AclFile = narrow, Password = SendersPassword });
            var cli = new CliDriver(new FakeTimeProvider()) { Redis = redis.Configuration, QueueName = "cortex" };
            cli.Environment["Cortex__Redis__Password"] = SendersPassword;

            var result = await cli.RunAsync("stats");

            Assert.Equal(CortexHost.ConfigurationErrorExitCode, result.ExitCode);
            Assert.Contains("refused a command: ERR The user executing the script can't run this command", result.Error, StringComparison.Ordinal);
            Assert.Contains("lacks a permission Cortex needs", result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(narrow);
        }
    }

    private async Task<CliDriver> CliAsync(string password)
    {
        var cli = new CliDriver(new FakeTimeProvider(TimeProvider.System.GetUtcNow()))
        {
            Redis = _redis.Configuration,
            QueueName = "cortex",
            Postgres = await fixture.CreateMigratedDatabaseAsync(),
        };
        cli.Environment["Cortex__Redis__Password"] = password;
        return cli;
    }

    private Dictionary<string, string> SchedulerEnvironment(CliDriver cli, string password) => new()
    {
        ["Cortex__Postgres__ConnectionString"] = cli.Postgres!,
        ["Cortex__Redis__Configuration"] = _redis.Configuration,
        ["Cortex__Redis__Password"] = password,
        ["Cortex__Queue__Name"] = "cortex",
        ["Cortex__Observability__Port"] = "0",
        ["Cortex__Scheduler__ApplyMigrations"] = "false",
        ["Cortex__Scheduler__Campaigns__Cron"] = "*/1 * * * * ?",
        ["Cortex__Scheduler__QuietHours__Start"] = "00:00:00",
        ["Cortex__Scheduler__QuietHours__End"] = "00:00:00",
    };
}
