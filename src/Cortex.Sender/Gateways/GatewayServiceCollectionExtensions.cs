using System.Net;
using System.Net.Sockets;
using Cortex.Shared.Configuration;
using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Cloud;
using Cortex.Sender.Gateways.Evolution;
using Cortex.Sender.Gateways.Fake;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the WhatsApp gateway chosen by Cortex:Gateway:Type.</summary>
internal static class GatewayServiceCollectionExtensions
{
    /// <summary>Slack over the per-attempt timeout: HttpClient's own timeout is only a backstop; the caller's token cancels first.</summary>
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Adds Cortex:Gateway (validated at start), typed HttpClients for Evolution and the Cloud API, and the
    /// <see cref="IWhatsAppGateway"/> singleton for the configured Type. With Type Fake, <see cref="FakeGateway"/>
    /// resolves to that same instance so tests and the demo can read its counters. Safe to call twice.
    /// </summary>
    internal static IServiceCollection AddCortexGateway(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(GatewayMarker)))
        {
            return services;
        }

        services.AddSingleton<GatewayMarker>();
        services.AddCortexOptions<GatewayOptions, GatewayOptionsValidator>(GatewayOptions.Section);
        services.TryAddSingleton(TimeProvider.System);

        services.AddHttpClient<EvolutionGateway>((sp, client) => Configure(client, sp, o => o.Evolution.BaseUrl))
            .ConfigurePrimaryHttpMessageHandler(CreateHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        services.AddHttpClient<CloudApiGateway>((sp, client) => Configure(client, sp, o => o.Cloud.BaseUrl))
            .ConfigurePrimaryHttpMessageHandler(CreateHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();

        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<GatewayOptions>>();
            return options.Value.Type == GatewayType.Fake
                ? new FakeGateway(options, sp.GetRequiredService<TimeProvider>())
                : throw new InvalidOperationException($"FakeGateway is only available when {GatewayOptions.Section}:Type is Fake (it is {options.Value.Type})");
        });
        services.TryAddSingleton<IWhatsAppGateway>(sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Type switch
        {
            GatewayType.Fake => sp.GetRequiredService<FakeGateway>(),
            GatewayType.Evolution => sp.GetRequiredService<EvolutionGateway>(),
            GatewayType.Cloud => sp.GetRequiredService<CloudApiGateway>(),
            var other => throw new InvalidOperationException($"{GatewayOptions.Section}:Type {other} is not a known gateway"),
        });
        return services;
    }

    private static void Configure(HttpClient client, IServiceProvider services, Func<GatewayOptions, Uri?> baseUrl)
    {
        var options = services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        client.BaseAddress = baseUrl(options);
        client.Timeout = options.Timeout + s_backstop;
    }

    // The gateway is a singleton holding its typed HttpClient for the life of the process, so the factory's handler rotation
    // never happens: the pooled connection lifetime takes its place (DNS changes are picked up). Redirects are refused: a
    // POST that is redirected is a wrong base URL, and following it would turn the send into a GET.
    private static SocketsHttpHandler CreateHandler(IServiceProvider services)
    {
        // Half the attempt's timeout, at most 10 s: connecting takes milliseconds to a gateway that is there.
        var attempt = services.GetRequiredService<IOptions<GatewayOptions>>().Value.Timeout;
        var connectTimeout = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(10).Ticks, attempt.Ticks / 2));
        return new()
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, connectTimeout, cancellationToken),
            AllowAutoRedirect = false,
        };
    }

    /// <summary>
    /// The handler's own connect, with a deadline of its own that ends as a socket error (<see cref="SocketError.TimedOut"/>),
    /// which the adapters read as a request never sent. A connect that hung until the attempt's timeout (an address that
    /// drops connection attempts) could not be told from an answer that never came, and every such send was counted as
    /// a possible duplicate; the handler's ConnectTimeout ends as a cancellation too.
    /// </summary>
    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await socket.ConnectAsync(endpoint, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new SocketException((int)SocketError.TimedOut);
            }

            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private sealed class GatewayMarker;
}
