using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// At start, asks Redis whether the user Cortex authenticates as may run what this service runs (<see cref="RedisAcl"/>)
/// and stops the start with exit 78 naming what is missing. Otherwise the service would look ready and fail every call
/// that needs the missing right, and a queue script refused halfway keeps the writes it made before the refused call: a
/// lease refused after its pops loses what it popped.
/// </summary>
internal sealed partial class RedisAclCheck(
    string service, QueueKeys keys, IReadOnlyList<Func<Task<IReadOnlyList<string>?>>> asks, TimeProvider timeProvider, ILogger<RedisAclCheck> logger) : IStartupCheck
{
    // As long as the start waits for a Redis that answers slowly; one that is down fails the check at once.
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> refused;
        try
        {
            var answers = await Task.WhenAll(asks.Select(ask => ask())).WaitAsync(s_timeout, timeProvider, cancellationToken);
            refused = [.. answers.SelectMany(a => a ?? [])];
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis away or slow at start: the service starts unready and waits for it, as it always has.
            NotChecked(logger, service, ex.GetType().Name);
            return;
        }

        if (refused.Count > 0)
        {
            throw RedisAcl.StartRefused(service, keys, refused);
        }
    }

    [LoggerMessage(3201, LogLevel.Warning, "Redis permissions of the {Service} not checked at start ({Error}): Redis did not answer; it waits for Redis")]
    private static partial void NotChecked(ILogger logger, string service, string error);
}
