using System.Reflection;
using Npgsql;

namespace Cortex.Scheduler.Data;

/// <summary>
/// Applies the embedded SQL migrations (Data/Migrations/NNNN_name.sql) in order, each in its own transaction,
/// recording them in cortex.schema_migrations. A transaction-scoped advisory lock lets several replicas start
/// at once: the first applies, the others wait and then find nothing to do. The schema and the record are created only
/// when missing: <c>CREATE SCHEMA IF NOT EXISTS</c> asks for the database's CREATE right even when the schema is there,
/// so a role a DBA gave only the rights to run Cortex failed at every start with the migrations long applied.
/// </summary>
public sealed class Migrator(NpgsqlDataSource dataSource)
{
    // Any fixed 64-bit number; it only has to differ from other advisory locks taken on the same database.
    private const long LockKey = 0x436F72746578; // "Cortex"

    /// <summary>Every migration shipped with this build, in the order they apply.</summary>
    public static IReadOnlyList<Migration> All { get; } = Load();

    /// <summary>Applies what is missing and returns the versions it applied (empty when up to date).</summary>
    public async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        var applied = new List<Migration>();
        foreach (var migration in All)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await Execute(connection, "SELECT pg_advisory_xact_lock(@key)", cancellationToken, ("key", LockKey));
            await Execute(
                connection,
                """
                DO $$ BEGIN
                    IF to_regnamespace('cortex') IS NULL THEN CREATE SCHEMA cortex; END IF;
                    IF to_regclass('cortex.schema_migrations') IS NULL THEN
                        CREATE TABLE cortex.schema_migrations (
                            version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
                    END IF;
                END $$
                """,
                cancellationToken);
            await using (var exists = new NpgsqlCommand("SELECT 1 FROM cortex.schema_migrations WHERE version = @v", connection))
            {
                exists.Parameters.AddWithValue("v", migration.Version);
                if (await exists.ExecuteScalarAsync(cancellationToken) is not null)
                {
                    continue;
                }
            }

            await Execute(connection, migration.Sql, cancellationToken);
            await Execute(
                connection,
                "INSERT INTO cortex.schema_migrations (version, name) VALUES (@v, @n)",
                cancellationToken,
                ("v", migration.Version),
                ("n", migration.Name));
            await transaction.CommitAsync(cancellationToken);
            applied.Add(migration);
        }

        return applied;
    }

    /// <summary>The versions recorded as applied in the database.</summary>
    public async Task<IReadOnlyList<int>> AppliedAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT version FROM cortex.schema_migrations ORDER BY version");
        var versions = new List<int>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                versions.Add(reader.GetInt32(0));
            }
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            // Nothing applied yet.
        }

        return versions;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Migration[] Load()
    {
        var assembly = typeof(Migrator).Assembly;
        const string prefix = "Cortex.Scheduler.Data.Migrations.";
        return
        [
            .. assembly.GetManifestResourceNames()
                .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
                .Select(n => Read(assembly, n, n[prefix.Length..^4]))
                .OrderBy(m => m.Version),
        ];
    }

    private static Migration Read(Assembly assembly, string resource, string fileName)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        var separator = fileName.IndexOf('_', StringComparison.Ordinal);
        var version = int.Parse(fileName.AsSpan(0, separator), System.Globalization.CultureInfo.InvariantCulture);
        return new Migration(version, fileName[(separator + 1)..], reader.ReadToEnd());
    }
}

/// <summary>One versioned schema change.</summary>
public sealed record Migration(int Version, string Name, string Sql);
