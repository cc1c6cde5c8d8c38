namespace Cortex.Testing;

/// <summary>The system clock, a fixed amount off: a node whose NTP is broken. Timers and elapsed time are the system's.</summary>
public sealed class ShiftedClock(TimeSpan by) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + by;
}
