using Npgsql;

namespace Cortex.Scheduler.Data;

/// <summary>
/// The connection string Cortex's queries and Quartz's store connect with: <see cref="PostgresOptions.ConnectionString"/>
/// with server settings that free what a lost connection holds, unless its <c>Options</c> set them already.
/// </summary>
/// <remarks>
/// A scheduler node lost mid-transaction (its machine gone, the network cut) leaves its session idle in a transaction on
/// the server, holding its row locks: Quartz's lock row, which every node needs to fire anything, or a batch of ledger
/// rows. The server learns of it only from TCP keepalives, after about two hours by the operating system's defaults, and
/// until then no node fires. Cortex's transactions are never idle for long (the longest wait inside one is a push to Redis,
/// bounded by its timeouts), so the server ends a session idle in a transaction after <see cref="IdleInTransaction"/>;
/// the keepalives find a dead peer of an idle session within about two minutes.
/// </remarks>
public static class PostgresSession
{
    public static readonly TimeSpan IdleInTransaction = TimeSpan.FromMinutes(2);

    private static readonly (string Name, string Value)[] s_settings =
    [
        ("idle_in_transaction_session_timeout", ((long)IdleInTransaction.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("tcp_keepalives_idle", "60"),
        ("tcp_keepalives_interval", "10"),
        ("tcp_keepalives_count", "6"),
    ];

    /// <summary>
    /// Where <paramref name="connection"/> points, for a message: <c>host:port/database</c>, or <c>host:port</c> when it
    /// names no database (PostgreSQL then takes the user's name; "host:port/" read as if something were cut off). Never
    /// the password.
    /// </summary>
    public static string Endpoint(NpgsqlConnectionStringBuilder connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var at = $"{connection.Host}:{connection.Port}";
        return string.IsNullOrEmpty(connection.Database) ? at : $"{at}/{connection.Database}";
    }

    /// <summary>
    /// <paramref name="connectionString"/> with the settings added to its <c>Options</c> and an <c>Application Name</c>
    /// (<paramref name="applicationName"/>) unless it has one, so an operator can tell whose sessions hold what in
    /// <c>pg_stat_activity</c>. A string Npgsql cannot read is returned as it is: validation refuses it at start.
    /// </summary>
    public static string ConnectionString(string connectionString, string applicationName)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            return connectionString;
        }

        var options = builder.Options ?? string.Empty;
        foreach (var (name, value) in s_settings)
        {
            if (!options.Contains(name, StringComparison.OrdinalIgnoreCase))
            {
                options = $"{options} -c {name}={value}".TrimStart();
            }
        }

        builder.Options = options;
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = applicationName;
        }

        return builder.ConnectionString;
    }
}
