using Npgsql;
using StackExchange.Redis;
using Xunit;

namespace Cortex.Testing;

/// <summary>
/// One real PostgreSQL and one real redis-server per fixture, plus a database migrated once and used as the template
/// of each test's own database (a copy takes tens of milliseconds; migrating each time would not). The subclass says
/// how to migrate, so this project need not depend on the scheduler.
/// </summary>
public abstract class MigratedDatabaseFixture : IAsyncLifetime
{
    private const string TemplateDatabase = "cortex_template";
    private PostgresServer? _postgres;
    private RedisServer? _redis;
    private ConnectionMultiplexer? _connection;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("fixture not started");

    public RedisServer Redis => _redis ?? throw new InvalidOperationException("fixture not started");

    /// <summary>The tests' own multiplexer: one per fixture, since closing one takes about a second.</summary>
    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        var postgres = PostgresServer.StartAsync();
        var redis = RedisServer.StartAsync();
        try
        {
            // Both have started or failed before an error is thrown: neither is left starting with nobody to stop it.
            await Task.WhenAll(postgres, redis);
            _postgres = await postgres;
            _redis = await redis;
            _connection = await Redis.ConnectAsync();
            var template = await Postgres.CreateDatabaseAsync(TemplateDatabase);

            // No pooling: CREATE DATABASE ... TEMPLATE refuses a template with open connections.
            await using var dataSource = NpgsqlDataSource.Create(template + ";Pooling=false");
            await MigrateAsync(dataSource);
        }
        catch
        {
            // Whatever started is stopped here, whether or not the runner disposes a fixture whose start failed: a
            // redis-server or a PostgreSQL left running outlives the test run.
            _postgres ??= postgres.IsCompletedSuccessfully ? await postgres : null;
            _redis ??= redis.IsCompletedSuccessfully ? await redis : null;
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops both servers; safe to call again.</summary>
    public async Task DisposeAsync()
    {
        _connection?.Dispose();
        _connection = null;
        if (_redis is { } redis)
        {
            _redis = null;
            await redis.DisposeAsync();
        }

        if (_postgres is { } postgres)
        {
            _postgres = null;
            await postgres.DisposeAsync();
        }
    }

    /// <summary>A fresh, migrated database of this test's own.</summary>
    public Task<string> CreateMigratedDatabaseAsync() => Postgres.CreateDatabaseAsync(template: TemplateDatabase);

    /// <summary>Applies the schema to the template database.</summary>
    protected abstract Task MigrateAsync(NpgsqlDataSource template);
}
