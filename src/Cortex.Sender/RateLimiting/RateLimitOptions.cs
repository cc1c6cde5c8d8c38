namespace Cortex.Sender.RateLimiting;

/// <summary>Send rate limits (section Cortex:RateLimit); 0 turns a limit off.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "Cortex:RateLimit";

    /// <summary>This pod's own ceiling (token bucket in process).</summary>
    public double PodPermitsPerSecond { get; set; }

    public int PodBurst { get; set; } = 10;

    /// <summary>Ceiling of the gateway instance across every pod (token bucket in Redis), e.g. 80 for a Cloud API number.</summary>
    public double GlobalPermitsPerSecond { get; set; }

    public int GlobalBurst { get; set; } = 10;

    /// <summary>Pause after a throttled answer that carries no Retry-After.</summary>
    public TimeSpan ThrottlePause { get; set; } = TimeSpan.FromSeconds(1);
}
