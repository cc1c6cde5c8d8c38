using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>What Redis said when it answered a command with an error.</summary>
internal static class RedisReply
{
    /// <summary>
    /// The error Redis answered with (OOM, READONLY, LOADING, BUSY, MISCONF…), at most 200 characters and without control
    /// characters; null for a failure without an answer. A reply is Redis's own words, never the client's configuration,
    /// so unlike a connection error's message it cannot carry the endpoint or its password.
    /// </summary>
    public static string? ErrorOf(Exception exception) =>
        exception is RedisServerException { Message: var message }
            ? new string([.. message.Take(200).Select(c => char.IsControl(c) ? ' ' : c)])
            : null;
}
