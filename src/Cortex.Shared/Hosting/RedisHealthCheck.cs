using Cortex.Shared.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Hosting;

/// <summary>
/// Ready only while Redis answers a PING: without it a pod can neither lease nor enqueue. When it does not, the readiness
/// says whether Redis is away or refuses Cortex (a password rotated or a user disabled while the service ran: the open
/// connection kept working, its reconnect is refused, and only a restart with the new password brings it back).
/// </summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer connection, IOptions<RedisOptions> options) : IHealthCheck
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
            if (ex is ObjectDisposedException)
            {
                return HealthCheckResult.Unhealthy("Redis connection closed: the service is stopping");
            }

            // The client library reports a refused handshake as a connection failure: our own probe tells them apart.
            var (configuration, validation) = RedisConnectionFactory.Configure(options.Value, "cortex-probe");
            if (await RedisRefusalProbe.RefusalAsync(options.Value, configuration, validation, cancellationToken) is { } refusal)
            {
                return HealthCheckResult.Unhealthy("Redis refuses this service: " + refusal + "; restart it with the configuration Redis takes");
            }

            // Redis's own reason when it answered (LOADING after a restart, BUSY behind a long script); else the type only: a
            // connection error's message can carry the endpoint and its password.
            return RedisReply.ErrorOf(ex) is { } reply
                ? HealthCheckResult.Unhealthy("Redis answered PING with an error: " + reply)
                : HealthCheckResult.Unhealthy("Redis unreachable: " + ex.GetType().Name);
        }
    }
}
