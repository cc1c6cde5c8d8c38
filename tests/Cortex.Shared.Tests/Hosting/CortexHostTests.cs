using Cortex.Shared.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cortex.Shared.Tests.Hosting;

public sealed class CortexHostTests
{
    [Fact]
    public async Task RunAsync_StopRequestedWhileStarting_ExitsZeroAndSaysSo()
    {
        // A pod deleted during start-up: SIGTERM (StopApplication) arrives while a hosted service is still starting.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddHostedService<StopsWhileStarting>();
        using var host = builder.Build();
        using var error = new StringWriter();

        var exitCode = await CortexHost.RunAsync(host, error).WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(0, exitCode);
        Assert.Contains("stopped before start-up completed", error.ToString(), StringComparison.Ordinal);
    }

    private sealed class StopsWhileStarting(IHostApplicationLifetime lifetime) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.StopApplication();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
