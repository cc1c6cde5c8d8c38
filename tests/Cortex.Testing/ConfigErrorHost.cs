using Cortex.Shared.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Cortex.Testing;

/// <summary>Runs a host built the way the services' Program.cs build theirs, expecting it to stop on its configuration.</summary>
public static class ConfigErrorHost
{
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Builds a host with <paramref name="register"/> and the given settings (added last, so they win), runs it through
    /// <see cref="CortexHost.RunAsync"/> and returns the exit code and what it wrote. A host that gets as far as running
    /// is stopped at once and fails the test.
    /// </summary>
    public static Task<(int ExitCode, string Output)> RunAsync(Action<IServiceCollection> register, Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(register);
        return RunAsync((services, _) => register(services), settings);
    }

    /// <summary>As <see cref="RunAsync(Action{IServiceCollection}, Dictionary{string, string?})"/>, for registrations that read the configuration.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(Action<IServiceCollection, IConfiguration> register, Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(register);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            // Nothing listens on port 1; abortConnect=false, so a host that got this far would start anyway. The host
            // builds its services (and so connects) before start-up validation; a short connect timeout keeps that quick.
            ["Cortex:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        register(builder.Services, builder.Configuration);
        using var host = builder.Build();

        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var started = false;
        using var registration = lifetime.ApplicationStarted.Register(() =>
        {
            started = true;
            lifetime.StopApplication();
        });
        using var output = new StringWriter();

        var exitCode = await CortexHost.RunAsync(host, output).WaitAsync(s_hangGuard);

        Assert.False(started, "the host started although its configuration is invalid; output: " + output);
        return (exitCode, output.ToString());
    }
}
