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
/// <remarks>
/// That question is asked on a new connection, with the password. Its answer is kept for <see cref="VerdictLifetime"/>
/// and shared by every request meanwhile, one probe at a time: the port listens on every interface in the images, and
/// each GET /health/ready during an outage opened a connection and sent AUTH, as often as anyone who reaches the port asked.
/// </remarks>
internal sealed class RedisHealthCheck(IConnectionMultiplexer connection, IOptions<RedisOptions> options, TimeProvider time) : IHealthCheck
{
    /// <summary>How long a probe's verdict answers readiness requests before the next one asks Redis again.</summary>
    public static readonly TimeSpan VerdictLifetime = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private Task<string?>? _probe;
    private long _probeEnded;

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
            if (await RefusalAsync().WaitAsync(cancellationToken) is { } refusal)
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

    // The probe running now, or the last one's verdict while it is fresh; else a new probe.
    private Task<string?> RefusalAsync()
    {
        lock (_lock)
        {
            if (_probe is { } probe && (!probe.IsCompleted || time.GetElapsedTime(Volatile.Read(ref _probeEnded)) < VerdictLifetime))
            {
                return probe;
            }

            return _probe = ProbeAsync();
        }
    }

    private async Task<string?> ProbeAsync()
    {
        try
        {
            // Not the request's token: the probe serves every request that comes while it runs, and bounds itself
            // (RedisRefusalProbe's deadline).
            await Task.Yield();
            var (configuration, validation) = RedisConnectionFactory.Configure(options.Value, "cortex-probe");
            return await RedisRefusalProbe.RefusalAsync(options.Value, configuration, validation, CancellationToken.None);
        }
        finally
        {
            Volatile.Write(ref _probeEnded, time.GetTimestamp());
        }
    }
}
