namespace Cortex.Shared.Redis;

/// <summary>
/// How Cortex waits out Redis: 100 ms, doubling to at most 5 s, back to 100 ms after a success. One policy for every
/// caller, so an outage never becomes a tight reconnect loop and recovery is prompt once Redis answers.
/// </summary>
internal sealed class RedisBackoff
{
    public static readonly TimeSpan First = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Max = TimeSpan.FromSeconds(5);

    private TimeSpan _next = First;

    /// <summary>The wait before the next attempt; each call doubles the one after, up to <see cref="Max"/>.</summary>
    public TimeSpan Next()
    {
        var delay = _next;
        _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, Max.Ticks));
        return delay;
    }

    public void Reset() => _next = First;
}
