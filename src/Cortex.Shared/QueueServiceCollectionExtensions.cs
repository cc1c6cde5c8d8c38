using Cortex.Shared.Client;
using Cortex.Shared.Configuration;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Redis connection, the reliable queue and the producer client.</summary>
public static class QueueServiceCollectionExtensions
{
    /// <summary>Adds Cortex:Redis and Cortex:Queue (validated at start), one shared multiplexer (closed without waiting when a host is disposed), <see cref="IMessageQueue"/> and <see cref="CortexClient"/>. Safe to call twice.</summary>
    public static IServiceCollection AddCortexQueue(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddCortexOptions<RedisOptions, RedisOptionsValidator>(RedisOptions.Section);
        services.AddCortexOptions<QueueOptions, QueueOptionsValidator>(QueueOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IConnectionMultiplexer>(sp => RedisConnectionFactory.Connect(sp.GetRequiredService<IOptions<RedisOptions>>().Value, "cortex-" + Environment.MachineName));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RedisConnectionCloser>());
        services.TryAddSingleton<IMessageQueue, RedisMessageQueue>();
        services.TryAddSingleton<CortexClient>();
        return services;
    }
}
