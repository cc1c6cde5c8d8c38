using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>How a PING on a multiplexer's own connection ended.</summary>
internal enum PingOutcome
{
    /// <summary>Redis answered, an error answer too (LOADING while it replays its AOF): the connection carries bytes.</summary>
    Answered,

    /// <summary>The client failed it: the connection is down, and the client reconnects by itself.</summary>
    Failed,

    /// <summary>No answer within the deadline, the connection still reported open.</summary>
    Unanswered,
}

internal static class RedisPing
{
    /// <summary>
    /// PINGs the multiplexer's connection and waits at most <paramref name="deadline"/>. StackExchange.Redis 1.2.6 puts no
    /// timeout on async commands, so an unanswered PING waits for as long as its connection looks open: it is observed
    /// when it ends, so it cannot go unobserved.
    /// </summary>
    public static async Task<PingOutcome> PingAsync(IConnectionMultiplexer connection, TimeSpan deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        var ping = connection.GetDatabase().PingAsync();
        try
        {
            await ping.WaitAsync(deadline, time, cancellationToken);
            return PingOutcome.Answered;
        }
        catch (RedisServerException)
        {
            return PingOutcome.Answered;
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException || (ex is TimeoutException && ping.IsFaulted))
        {
            return PingOutcome.Failed;
        }
        catch (TimeoutException)
        {
            _ = ping.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return PingOutcome.Unanswered;
        }
    }
}
