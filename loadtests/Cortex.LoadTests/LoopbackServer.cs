using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Cortex.LoadTests;

/// <summary>A slim Kestrel app on a free loopback port, without logging: the gateway stand-ins of the harness.</summary>
internal static class LoopbackServer
{
    /// <summary>Builds the app, lets <paramref name="map"/> add its routes, starts it on <paramref name="url"/> (a free port if null); returns it and its base URL.</summary>
    public static async Task<(WebApplication App, Uri BaseUrl)> StartAsync(Action<WebApplication> map, Uri? url = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url?.GetLeftPart(UriPartial.Authority) ?? "http://127.0.0.1:0");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return (app, new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()));
    }

    /// <summary>
    /// A loopback port free right now, for a process that must be told its port (a sender's operations port, a
    /// redis-server, a PostgreSQL). Another process can take it before that one binds it: callers that start a server on
    /// it retry on another.
    /// </summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
