using System.Net;
using System.Net.Sockets;

namespace Cortex.LoadTests.Tests;

/// <summary>The network-fault proxy of the chaos runs and the dead-connection tests.</summary>
public sealed class LoopbackProxyTests
{
    [Fact]
    public async Task Dispose_WhileAClientKeepsConnecting_StopsWithoutThrowing()
    {
        // A client whose handshake times out reconnects at once, again and again (StackExchange.Redis does): the proxy is
        // disposed between two of its accepts. Each round is a new chance to hit that instant.
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        var upstreamPort = ((IPEndPoint)upstream.LocalEndpoint).Port;
        for (var round = 0; round < 100; round++)
        {
            var proxy = new LoopbackProxy(upstreamPort);
            using var stopConnecting = new CancellationTokenSource();
            var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var connecting = ConnectAgainAndAgainAsync(proxy.Port, connected, stopConnecting.Token);
            await connected.Task;

            await proxy.DisposeAsync();

            await stopConnecting.CancelAsync();
            await connecting;
        }
    }

    private static async Task ConnectAgainAndAgainAsync(int port, TaskCompletionSource connected, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, stop);
                connected.TrySetResult();
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The proxy is gone: refused until this round ends.
            }
        }
    }
}
