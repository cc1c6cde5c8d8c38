using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// Connects to Redis at start, validated like options: a Redis that refuses Cortex (wrong password, a TLS certificate it
/// does not trust) stops the start with exit 78 naming the key, instead of a service that runs unready forever.
/// A Redis that is down does not stop it: the service starts and reconnects by itself.
/// </summary>
internal sealed class RedisAccessCheck
{
    /// <summary>For long-running services only: the CLI connects when a verb needs Redis, not at start.</summary>
    public static void Register(IServiceCollection services)
    {
        services.AddOptions<RedisAccessCheck>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisAccessCheck>, Validator>());
    }

    private sealed class Validator(IServiceProvider services) : IValidateOptions<RedisAccessCheck>
    {
        public ValidateOptionsResult Validate(string? name, RedisAccessCheck options)
        {
            try
            {
                _ = services.GetRequiredService<IOptions<RedisOptions>>().Value;
            }
            catch (OptionsValidationException)
            {
                // Cortex:Redis's own validation reports it; connecting with it would only repeat the message.
                return ValidateOptionsResult.Success;
            }

            try
            {
                services.GetRequiredService<IConnectionMultiplexer>();
                return ValidateOptionsResult.Success;
            }
            catch (OptionsValidationException ex)
            {
                return ValidateOptionsResult.Fail(ex.Failures);
            }
        }
    }
}
