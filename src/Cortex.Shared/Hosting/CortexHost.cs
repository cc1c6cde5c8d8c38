using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>Runs a Cortex host and turns a configuration error into one readable line and exit code 78 (EX_CONFIG).</summary>
public static class CortexHost
{
    public const int ConfigurationErrorExitCode = 78;

    public static async Task<int> RunAsync(IHost host, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        try
        {
            await host.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await (error ?? Console.Error).WriteLineAsync("Cortex configuration error: " + string.Join("; ", ex.Failures));
            return ConfigurationErrorExitCode;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
        {
            // Start-up validation throws this when more than one section is bad: report every key, not a stack trace.
            var failures = ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures);
            await (error ?? Console.Error).WriteLineAsync("Cortex configuration error: " + string.Join("; ", failures));
            return ConfigurationErrorExitCode;
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase) || ex.InnerException is FormatException)
        {
            // Binder errors: unknown keys (ErrorOnUnknownConfiguration) and values of the wrong type name the key.
            await (error ?? Console.Error).WriteLineAsync("Cortex configuration error: " + ex.Message + (ex.InnerException is { } inner ? " " + inner.Message : string.Empty));
            return ConfigurationErrorExitCode;
        }
    }
}
