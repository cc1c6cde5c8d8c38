using Cortex.Sender;
using Cortex.Shared.Configuration;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Cortex.Sender.Metrics;
using Cortex.Sender.Pipeline;
using Cortex.Sender.RateLimiting;
using Cortex.Sender.Resilience;
using Cortex.Sender.Retry;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the whole sender: queue, gateway, resilience, rate limits, retry schedule and the engine.</summary>
public static class SenderServiceCollectionExtensions
{
    /// <summary>Adds the sender with every option section validated at start. Safe to call twice.</summary>
    public static IServiceCollection AddCortexSender(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        // Pods compare what they date in Redis (heartbeats and their deadlines, retry times, the shared bucket's refills
        // and pauses): dated by Redis's clock, a pod's own clock running behind or ahead does not matter. It replaces the
        // system clock AddCortexQueue defaults to, which AddCortexOperations registers first in the sender's process;
        // a clock registered on purpose (a test's) is kept.
        var clock = services.LastOrDefault(d => d.ServiceType == typeof(TimeProvider));
        if (clock is null || ReferenceEquals(clock.ImplementationInstance, TimeProvider.System))
        {
            services.RemoveAll<TimeProvider>();
            services.AddSingleton<TimeProvider>(sp => new RedisClock(
                sp.GetRequiredService<IConnectionMultiplexer>, TimeProvider.System, sp.GetRequiredService<ILogger<RedisClock>>()));
        }

        services.AddCortexQueue();
        services.AddCortexGateway();
        services.AddMetrics();

        services.AddCortexOptions<SenderOptions, SenderOptionsValidator>(SenderOptions.Section);
        services.AddCortexOptions<RetryOptions, RetryOptionsValidator>(RetryOptions.Section);
        services.AddCortexOptions<RateLimitOptions, RateLimitOptionsValidator>(RateLimitOptions.Section);
        services.AddCortexOptions<ResilienceOptions, ResilienceOptionsValidator>(ResilienceOptions.Section);

        services.TryAddSingleton<SenderMetrics>();
        services.TryAddSingleton<SendGate>();
        services.TryAddSingleton<SenderRateLimiter>();
        services.TryAddSingleton<RetrySchedule>(sp => new RetrySchedule(sp.GetRequiredService<IOptions<RetryOptions>>()));
        services.TryAddSingleton<GatewayPipeline>();
        services.TryAddSingleton<SenderEngine>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupCheck, RedisAclCheck>(sp =>
        {
            var queue = sp.GetRequiredService<IMessageQueue>();
            var limiter = sp.GetRequiredService<SenderRateLimiter>();
            var time = sp.GetRequiredService<TimeProvider>();
            List<Func<Task<IReadOnlyList<string>?>>> asks = [queue.RefusedConsumerCommandsAsync, limiter.RefusedCommandsAsync];
            if (time is RedisClock clock)
            {
                asks.Add(clock.RefusedCommandsAsync);
            }

            return new RedisAclCheck("sender", queue.Keys, asks, time, sp.GetRequiredService<ILogger<RedisAclCheck>>());
        }));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SenderEngine>(sp => sp.GetRequiredService<SenderEngine>()));

        // The host must wait for the sender's own shutdown budget, plus time to flush acks and return leases.
        services.AddOptions<HostOptions>().Configure<IOptions<SenderOptions>>((host, sender) =>
        {
            // This runs inside builder.Build(), before start-up validation: a bad Cortex:Sender must not throw here, or
            // it escapes Program.cs as a crash instead of exit 78 naming the key. The options are not cached on failure,
            // so validation at start reports the same error.
            TimeSpan shutdownTimeout;
            try
            {
                shutdownTimeout = sender.Value.ShutdownTimeout;
            }
            catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
            {
                return;
            }

            var needed = shutdownTimeout + TimeSpan.FromSeconds(10);
            if (host.ShutdownTimeout < needed)
            {
                host.ShutdownTimeout = needed;
            }
        });
        return services;
    }
}
