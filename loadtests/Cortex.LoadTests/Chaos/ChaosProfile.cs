namespace Cortex.LoadTests.Chaos;

/// <summary>
/// How hard each fault scenario pushes. <see cref="Smoke"/> runs inside <c>make test</c> and checks correctness only;
/// <see cref="Short"/> is <c>make chaos</c>, the load of issue #7 (a 200,000-message backlog, ten SIGKILLs, Redis away
/// for 30 s).
/// <see cref="ConsumerTimeout"/> null keeps the product default (10 s), so the recovery times measured are the ones a
/// pod gets; the smoke profile shortens it to stay quick, and <see cref="DeadConnectionTimeout"/> (null: the product's 30 s)
/// likewise. <see cref="CheckCpu"/>: the sender's CPU during the outage is a
/// check, not only a figure (never in the smoke profile, which checks correctness only).
/// </summary>
internal sealed record ChaosProfile(
    string Name,
    int KillMessages,
    int Kills,
    TimeSpan KillInterval,
    int StopMessages,
    int Stops,
    TimeSpan StopInterval,
    int Workers,
    TimeSpan GatewayLatency,
    TimeSpan? ConsumerTimeout,
    int RedisMessages,
    TimeSpan Outage,
    TimeSpan? DeadConnectionTimeout,
    bool CheckCpu)
{
    /// <summary>Issue #7: a killed sender's leases are back in ready within this long.</summary>
    public static readonly TimeSpan RecoveryTarget = TimeSpan.FromSeconds(15);

    public static readonly ChaosProfile Smoke = new(
        "smoke", 3_000, 2, TimeSpan.FromSeconds(1.5), 5_000, 2, TimeSpan.FromSeconds(1), 16, TimeSpan.FromMilliseconds(40), TimeSpan.FromSeconds(4),
        1_500, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(2), CheckCpu: false);

    public static readonly ChaosProfile Short = new(
        "short", 200_000, 10, TimeSpan.FromSeconds(5), 50_000, 4, TimeSpan.FromSeconds(5), 64, TimeSpan.FromMilliseconds(40), null,
        50_000, TimeSpan.FromSeconds(30), null, CheckCpu: true);

    /// <summary>The consumer timeout the senders run with: the profile's, or the product default.</summary>
    public TimeSpan EffectiveConsumerTimeout => ConsumerTimeout ?? new Cortex.Shared.Queue.QueueOptions().ConsumerTimeout;

    /// <summary>The dead-connection timeout the senders run with: the profile's, or the product default.</summary>
    public TimeSpan EffectiveDeadConnectionTimeout => DeadConnectionTimeout ?? new Cortex.Shared.Redis.RedisOptions().DeadConnectionTimeout;

    /// <summary>A sender's environment for <see cref="ConsumerTimeout"/>: the timeout, and heartbeats at a quarter of it (validation wants at most a third).</summary>
    public Dictionary<string, string> SenderTimings() => ConsumerTimeout is { } timeout
        ? new()
        {
            ["Cortex__Queue__ConsumerTimeout"] = timeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            ["Cortex__Queue__HeartbeatInterval"] = (timeout / 4).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        }
        : [];

    public static ChaosProfile? Named(string name) => name switch
    {
        "smoke" => Smoke,
        "short" => Short,
        _ => null,
    };
}
