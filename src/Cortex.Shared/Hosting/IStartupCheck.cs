namespace Cortex.Shared.Hosting;

/// <summary>
/// A check of the configuration that needs a running dependency's answer (whether Redis's ACL allows what the service
/// runs). <see cref="CortexHost.RunAsync"/> runs every registered one after the options are validated and before the
/// host starts; one that throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> stops the start
/// with exit 78 and its message, as a bad setting does.
/// </summary>
public interface IStartupCheck
{
    Task CheckAsync(CancellationToken cancellationToken);
}
