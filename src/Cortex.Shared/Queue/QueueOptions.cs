namespace Cortex.Shared.Queue;

/// <summary>Configuration of one reliable queue (section Cortex:Queue).</summary>
public sealed class QueueOptions
{
    public const string Section = "Cortex:Queue";

    /// <summary>Queue name; every key is "{Name}:..." so the whole queue lives in one Redis Cluster hash slot.</summary>
    public string Name { get; set; } = "cortex";

    /// <summary>A consumer whose heartbeat is older than this is dead and its leases go back to ready.</summary>
    public TimeSpan ConsumerTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a consumer renews its heartbeat; well under <see cref="ConsumerTimeout"/>.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often dead consumers' leases are looked for and due delayed messages promoted.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A message leased this many times without an ack (its consumer died each time) is dead-lettered as poison.</summary>
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>How long the "already sent" marker of a message id is kept for idempotency.</summary>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Relative share of each fetch given to high, normal and low priority when all have work.</summary>
    public int HighWeight { get; set; } = 6;

    public int NormalWeight { get; set; } = 3;

    public int LowWeight { get; set; } = 1;
}
