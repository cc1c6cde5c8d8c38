using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

internal static class RedisConnectionFactory
{
    // One multiplexer per process. abortConnect=false: the process starts while Redis is down and
    // reconnects by itself; readiness reports the outage instead of a crash loop.
    public static IConnectionMultiplexer Connect(IOptions<RedisOptions> options)
    {
        var configuration = ConfigurationOptions.Parse(options.Value.Configuration);
        configuration.AbortOnConnectFail = false;
        configuration.ClientName ??= "cortex-" + Environment.MachineName;
        return ConnectionMultiplexer.Connect(configuration);
    }
}
