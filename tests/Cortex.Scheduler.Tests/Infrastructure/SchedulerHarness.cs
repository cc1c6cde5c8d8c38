using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.FollowUps;
using Cortex.Scheduler.Outbox;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Cortex.Scheduler.Tests.Infrastructure;

/// <summary>A message found in Redis: the envelope, and when it is due if it waits in the delayed set.</summary>
public sealed record QueuedMessage(Envelope Envelope, DateTimeOffset? DueAt);

/// <summary>
/// The scheduler's services as AddCortexScheduler registers them, over a real database and Redis, with a fake clock.
/// <see cref="Replica"/> gives a second, independent set of services over the same database and queue, as a second pod.
/// </summary>
public sealed class SchedulerHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly List<SchedulerHarness> _replicas = [];

    public SchedulerHarness(
        string connectionString, IConnectionMultiplexer redis, string queueName, FakeTimeProvider clock, Dictionary<string, string?>? settings, Func<int, Task>? beforePush = null)
    {
        ConnectionString = connectionString;
        Redis = redis;
        QueueName = queueName;
        Clock = clock;
        Settings = new Dictionary<string, string?>
        {
            ["Cortex:Postgres:ConnectionString"] = connectionString,
            ["Cortex:Redis:Configuration"] = redis.Configuration,
            ["Cortex:Queue:Name"] = queueName,
            ["Cortex:Scheduler:ApplyMigrations"] = "false",
        };
        foreach (var (key, value) in settings ?? [])
        {
            Settings[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddProvider(Logs));
        services.AddSingleton<TimeProvider>(clock);
        services.AddSingleton(redis);
        services.AddCortexScheduler(configuration);
        if (beforePush is not null)
        {
            services.AddSingleton<IMessageQueue>(sp => new PushHookQueue(ActivatorUtilities.CreateInstance<RedisMessageQueue>(sp), beforePush));
        }

        _services = services.BuildServiceProvider();
    }

    public string ConnectionString { get; }

    public IConnectionMultiplexer Redis { get; }

    public string QueueName { get; }

    public FakeTimeProvider Clock { get; }

    public Dictionary<string, string?> Settings { get; }

    /// <summary>The warnings and errors these services logged (a replica has its own).</summary>
    public CapturedLogs Logs { get; } = new();

    public IServiceProvider Services => _services;

    public NpgsqlDataSource DataSource => Get<NpgsqlDataSource>();

    public BillingReminders Billing => Get<BillingReminders>();

    public ConversationFollowUps FollowUps => Get<ConversationFollowUps>();

    public CampaignFanOut Campaigns => Get<CampaignFanOut>();

    public DispatchLedger Ledger => Get<DispatchLedger>();

    public IMessageQueue Queue => Get<IMessageQueue>();

    public T Get<T>()
        where T : notnull => _services.GetRequiredService<T>();

    /// <summary>
    /// Another scheduler replica: its own services and PostgreSQL connections; the same database, Redis, queue and clock.
    /// <paramref name="beforePush"/> runs before each of its pushes to Redis (see <see cref="PushHookQueue"/>).
    /// </summary>
    public SchedulerHarness Replica(Func<int, Task>? beforePush = null)
    {
        var replica = new SchedulerHarness(ConnectionString, Redis, QueueName, Clock, Settings, beforePush);
        _replicas.Add(replica);
        return replica;
    }

    /// <summary>Runs SQL (seed data, changes another system would make).</summary>
    public async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Every message in the queue's ready lists and delayed set, parsed.</summary>
    public async Task<IReadOnlyList<QueuedMessage>> QueuedAsync()
    {
        var db = Redis.GetDatabase();
        var keys = new QueueKeys(QueueName);
        var messages = new List<QueuedMessage>();
        foreach (var priority in new[] { Priority.High, Priority.Normal, Priority.Low })
        {
            foreach (var value in await db.ListRangeAsync(keys.Ready(priority)))
            {
                messages.Add(new QueuedMessage(Parse((byte[])value!), null));
            }
        }

        foreach (var entry in await db.SortedSetRangeByRankWithScoresAsync(keys.Delayed))
        {
            // Delayed members are the priority digit followed by the envelope.
            var member = (byte[])entry.Element!;
            messages.Add(new QueuedMessage(Parse(member[1..]), DateTimeOffset.FromUnixTimeMilliseconds((long)entry.Score)));
        }

        return messages;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await _services.DisposeAsync();
    }

    private static Envelope Parse(byte[] payload) =>
        EnvelopeCodec.Parse(payload).Envelope ?? throw new InvalidOperationException("the scheduler enqueued an invalid envelope");
}
