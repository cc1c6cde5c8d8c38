namespace Cortex.Sender.Retry;

/// <summary>The long retry schedule through the delayed set (section Cortex:Retry).</summary>
public sealed class RetryOptions
{
    public const string Section = "Cortex:Retry";

    /// <summary>Delay before the second attempt.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Each further delay is the previous one times this: 5 min, 25 min, then <see cref="MaxDelay"/>.</summary>
    public double Factor { get; set; } = 5;

    /// <summary>Cap of the delay before jitter; with jitter a delay may reach MaxDelay × (1 + Jitter).</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Attempts in all, the first included; after the last failure the message is dead-lettered.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Each delay is randomised by ± this share so retries of a failed batch do not return together.</summary>
    public double Jitter { get; set; } = 0.2;
}
