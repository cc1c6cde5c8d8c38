using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>Runs a Cortex host and turns a configuration error into one readable line and exit code 78 (EX_CONFIG).</summary>
public static class CortexHost
{
    public const int ConfigurationErrorExitCode = 78;

    /// <summary>EX_TEMPFAIL: the process stopped itself because its Redis connection was dead (<see cref="RedisConnectionWatchdog"/>); a restart fixes it.</summary>
    public const int RedisConnectionDeadExitCode = 75;

    /// <summary>Runs the host until shutdown: 0, 78 with the bad keys named (by the options or an <see cref="IStartupCheck"/>), or 75 after a dead Redis connection.</summary>
    public static Task<int> RunAsync(IHost host, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        return Guard(
            async () =>
            {
                try
                {
                    // Validated before the host starts: a bad configuration is then one line and exit 78, not also the
                    // host's own "Hosting failed to start" log with its stack trace.
                    host.Services.GetService<IStartupValidator>()?.Validate();
                    foreach (var check in host.Services.GetServices<IStartupCheck>())
                    {
                        await check.CheckAsync(stopping);
                    }

                    // Resolved first: RunAsync disposes the host's services.
                    var watchdog = host.Services.GetService<RedisConnectionWatchdog>();
                    var observability = host.Services.GetService<IOptions<ObservabilityOptions>>()?.Value;
                    // A sender and a scheduler on one machine both default to 8080: one line and exit 78 naming the key, as
                    // for an address this machine lacks, not an unhandled exception. Asked before the start; a process that
                    // takes the port between the question and Kestrel's bind gets the same line after the host's own log.
                    if (observability?.PortInUse() is true)
                    {
                        throw PortInUse(observability);
                    }

                    try
                    {
                        await host.RunAsync();
                    }
                    catch (IOException ex) when (ex.InnerException is AddressInUseException && observability is not null)
                    {
                        throw PortInUse(observability);
                    }
                    if (watchdog is { ConnectionDead: true })
                    {
                        return RedisConnectionDeadExitCode;
                    }
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    // SIGTERM before start-up completed (a pod deleted while starting): the host cancels the hosted
                    // services still starting. A stop that was asked for, not a crash with a stack trace; a lease taken
                    // in that window is recovered by another sender as after any stop that did not return it.
                    await (error ?? Console.Error).WriteLineAsync("Cortex: stopped before start-up completed");
                }

                return 0;
            },
            error);
    }

    private static OptionsValidationException PortInUse(ObservabilityOptions observability) =>
        new(ObservabilityOptions.Section, typeof(ObservabilityOptions), [
            $"{ObservabilityOptions.Section}:{nameof(ObservabilityOptions.Port)} {observability.Port} is already in use on {observability.BindAddress} by another process: give each Cortex process on one machine its own port"]);

    /// <summary>
    /// Validates the configuration as a start would, then runs a one-shot <paramref name="command"/> (a migration, a CLI
    /// verb) without starting the hosted services; Ctrl+C cancels it. 0 on success, 78 for bad configuration.
    /// </summary>
    public static Task<int> RunCommandAsync(IHost host, Func<IServiceProvider, CancellationToken, Task> command, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(command);
        return Guard(
            async () =>
            {
                host.Services.GetService<IStartupValidator>()?.Validate();
                using var cancel = new CancellationTokenSource();
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                Console.CancelKeyPress += onCancel;
                try
                {
                    await command(host.Services, cancel.Token);
                    return 0;
                }
                finally
                {
                    Console.CancelKeyPress -= onCancel;
                }
            },
            error);
    }

    private static async Task<int> Guard(Func<Task<int>> run, TextWriter? error)
    {
        try
        {
            return await run();
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
