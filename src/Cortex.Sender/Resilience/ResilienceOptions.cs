namespace Cortex.Sender.Resilience;

/// <summary>The Polly pipeline around each gateway call (section Cortex:Resilience).</summary>
public sealed class ResilienceOptions
{
    public const string Section = "Cortex:Resilience";

    /// <summary>Quick in-process retries of a transient fault before the message goes to the long schedule.</summary>
    public int ShortRetries { get; set; } = 2;

    public TimeSpan ShortRetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Share of failed calls within <see cref="SamplingDuration"/> that opens the circuit.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>
    /// Window of the ratio breaker. Also how long calls failing in a row open the circuit, at least
    /// <see cref="ShortRetries"/> + 2 of them, for a pod whose calls are too few for <see cref="MinimumThroughput"/> in a row.
    /// </summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Calls needed in the sampling window before the ratio counts.</summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>
    /// Window of the outage breaker: when every call in it failed, and at least <see cref="MinimumThroughput"/> of them,
    /// the circuit opens at once, whatever the successes before the outage (which hold the ratio breaker closed for up to
    /// <see cref="SamplingDuration"/> while every send in flight spends an attempt). A pod with fewer workers than
    /// <see cref="MinimumThroughput"/> needs a failure per worker instead (a gateway that stops answering times out one
    /// call per worker at a time), but never fewer than <see cref="ShortRetries"/> + 2 unless <see cref="MinimumThroughput"/> is
    /// lower: one message's attempts are no outage.
    /// </summary>
    public TimeSpan OutageSamplingDuration { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the circuit stays open (no leasing) before one probe message is tried.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}
