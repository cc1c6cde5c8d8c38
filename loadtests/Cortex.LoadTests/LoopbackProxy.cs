using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Cortex.LoadTests;

/// <summary>
/// A loopback TCP proxy in front of a server, for the network faults a test needs:
/// <list type="bullet">
/// <item><c>holdAnswers</c> holds back the server's first bytes on each connection, as a loaded machine or a slow
/// network delays a handshake;</item>
/// <item><see cref="SilenceOpenConnections"/> stops relaying on every connection open at that moment while keeping its
/// sockets open: the client's writes are accepted and never answered, as when the server's host is lost without a reset.
/// Connections made afterwards are relayed as before, as to a server that came back elsewhere under the same address.</item>
/// </list>
/// Also compiled into Cortex.Testing (linked), for the tests' network faults.
/// </summary>
internal sealed class LoopbackProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Relay, byte> _relays = new();
    private readonly Task _accepting;

    public LoopbackProxy(int upstreamPort, TimeSpan holdAnswers = default)
    {
        _listener.Start();
        _accepting = AcceptAsync(upstreamPort, holdAnswers);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Stops relaying on the connections open now, leaving them open.</summary>
    public void SilenceOpenConnections()
    {
        foreach (var relay in _relays.Keys)
        {
            relay.Silence.Cancel();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        foreach (var relay in _relays.Keys)
        {
            relay.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync(int upstreamPort, TimeSpan holdAnswers)
    {
        var relays = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var relay = new Relay(client, _stop.Token);
                _relays[relay] = 0;
                relays.Add(relay.RunAsync(upstreamPort, holdAnswers));
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }

        await Task.WhenAll(relays);
    }

    private sealed class Relay(TcpClient downstream, CancellationToken stop) : IDisposable
    {
        private readonly TcpClient _upstream = new();

        public CancellationTokenSource Silence { get; } = CancellationTokenSource.CreateLinkedTokenSource(stop);

        public async Task RunAsync(int upstreamPort, TimeSpan holdAnswers)
        {
            try
            {
                await _upstream.ConnectAsync(IPAddress.Loopback, upstreamPort, Silence.Token);
                var toServer = downstream.GetStream().CopyToAsync(_upstream.GetStream(), Silence.Token);
                if (holdAnswers > TimeSpan.Zero)
                {
                    await Task.Delay(holdAnswers, Silence.Token);
                }

                var toClient = _upstream.GetStream().CopyToAsync(downstream.GetStream(), Silence.Token);
                await Task.WhenAll(toServer, toClient);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // Either side went away, the relay was silenced (its sockets stay open until the proxy is disposed), or
                // the proxy is disposed.
            }
        }

        public void Dispose()
        {
            downstream.Dispose();
            _upstream.Dispose();
            Silence.Dispose();
        }
    }
}
