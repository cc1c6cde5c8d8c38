using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// A Lua script run by EVALSHA. StackExchange.Redis 1.2.6 caches the SHA but does not recover from
/// NOSCRIPT after a Redis restart or SCRIPT FLUSH; this reloads the script once and retries.
/// </summary>
internal sealed class RedisScript
{
    private readonly byte[] _sha1;

    public RedisScript(string source)
    {
        Source = source;
#pragma warning disable CA5350 // EVALSHA names scripts by SHA-1; this is an identifier, not security.
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(source));
#pragma warning restore CA5350
    }

    public string Source { get; }

    public async Task<RedisResult> EvaluateAsync(IConnectionMultiplexer connection, IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            return await db.ScriptEvaluateAsync(_sha1, keys, args);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            foreach (var endpoint in connection.GetEndPoints())
            {
                var server = connection.GetServer(endpoint);
                if (server.IsConnected && !server.IsSlave)
                {
                    await server.ScriptLoadAsync(Source);
                }
            }

            return await db.ScriptEvaluateAsync(_sha1, keys, args);
        }
    }
}
