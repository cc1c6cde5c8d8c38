using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Configuration;

/// <summary>The one way Cortex registers an options section: bound, checked for unknown keys, validated at start.</summary>
public static class CortexOptionsServiceCollectionExtensions
{
    /// <summary>Binds <typeparamref name="TOptions"/> to <paramref name="section"/> with its validator; safe to call twice.</summary>
    public static IServiceCollection AddCortexOptions<TOptions, TValidator>(this IServiceCollection services, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, KnownKeysValidator<TOptions>>(
            sp => new KnownKeysValidator<TOptions>(sp.GetRequiredService<IConfiguration>(), section)));
        services.AddOptions<KnownSections.Check>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KnownSections.Check>, KnownSections.Validator>());
        return services;
    }
}
