namespace Cortex.Scheduler.Data;

/// <summary>The scheduler's PostgreSQL database (section Cortex:Postgres): Cortex's tables and Quartz's.</summary>
public sealed class PostgresOptions
{
    public const string Section = "Cortex:Postgres";

    /// <summary>Npgsql connection string; put the password in a secret (Cortex__Postgres__ConnectionString).</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>Longest a single statement may run before PostgreSQL cancels it.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
