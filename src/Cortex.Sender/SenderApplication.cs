using Cortex.Sender.Pipeline;
using Cortex.Shared.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Polly.CircuitBreaker;

namespace Cortex.Sender;

/// <summary>The sender process: the engine plus the operations endpoint (/metrics, /health/live, /health/ready).</summary>
public static class SenderApplication
{
    /// <summary>Builds the application as Program.cs runs it; <paramref name="configure"/> lets tests add configuration.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        builder.AddCortexOperations();
        builder.Services.AddCortexSender();
        builder.Services.AddHealthChecks().AddCheck<CircuitHealthCheck>("gateway-circuit", tags: [OperationsEndpoints.ReadyTag]);
        var app = builder.Build();
        app.MapCortexOperations();
        return app;
    }

    /// <summary>
    /// Not ready while the gateway's circuit is open: a rolling update then keeps the old pods instead of replacing them
    /// with new ones that cannot send either. Liveness is unaffected, so the pods are not restarted for a gateway outage.
    /// </summary>
    private sealed class CircuitHealthCheck(SendGate gate) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(gate.Circuit switch
            {
                CircuitState.Closed => HealthCheckResult.Healthy("circuit closed"),
                CircuitState.HalfOpen => HealthCheckResult.Degraded("circuit half-open: probing the gateway"),
                var state => HealthCheckResult.Unhealthy($"circuit {state.ToString().ToLowerInvariant()}: gateway failing, sending paused"),
            });
    }
}
