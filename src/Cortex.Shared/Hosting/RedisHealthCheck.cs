using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Cortex.Shared.Hosting;

/// <summary>Ready only while Redis answers a PING: without it a pod can neither lease nor enqueue.</summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer connection) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            // StackExchange.Redis 1.2.6 takes no token; the registration's timeout bounds the wait.
            var latency = await connection.GetDatabase().PingAsync().WaitAsync(cancellationToken);
            return HealthCheckResult.Healthy($"PING answered in {latency.TotalMilliseconds:0.#} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The type only: a connection error's message can carry the endpoint and its password.
            return HealthCheckResult.Unhealthy("Redis unreachable: " + ex.GetType().Name);
        }
    }
}
