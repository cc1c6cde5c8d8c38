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
/// <item><see cref="PauseOpenConnections"/> holds back what either side sends on the connections open at that moment,
/// and <see cref="ResumeConnections"/> delivers it, byte for byte: a network that drops every packet for a while and
/// then carries them again (TCP retransmits), or a server paused and resumed.</item>
/// <item><see cref="CutWhenClientSends"/> cuts the next connection whose client sends given bytes, the server's answer
/// to them lost: a connection lost just after a request went out (the server got it), just before, or a network that
/// stops carrying anything with both ends left open (<see cref="CutMode"/>).</item>
/// </list>
/// Also compiled into Cortex.Testing (linked), for the tests' network faults.
/// </summary>
internal sealed class LoopbackProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Relay, byte> _relays = new();
    private readonly Task _accepting;
    private Cut? _cut;

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

    /// <summary>Holds back what is sent on the connections open now, in both directions, until <see cref="ResumeConnections"/>.</summary>
    public void PauseOpenConnections()
    {
        foreach (var relay in _relays.Keys)
        {
            relay.Pause();
        }
    }

    /// <summary>
    /// Cuts the first connection whose client sends <paramref name="marker"/> (within one read), once, as
    /// <paramref name="mode"/> says. The client gets no answer to those bytes.
    /// </summary>
    public void CutWhenClientSends(ReadOnlyMemory<byte> marker, CutMode mode) => Volatile.Write(ref _cut, new Cut(marker, mode));

    /// <summary>Delivers what the paused connections held back, and relays them again.</summary>
    public void ResumeConnections()
    {
        foreach (var relay in _relays.Keys)
        {
            relay.Resume();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The accept loop ends on the cancelled token, and only then is the listener stopped: stopped first, an accept
        // that completed just before the cancel would be followed by one on a listener no longer listening, which throws.
        await _stop.CancelAsync();
        try
        {
            await _accepting;
        }
        finally
        {
            _listener.Stop();
        }

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
                var relay = new Relay(client, TakeCut, _stop.Token);
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

    // The cut, to the first relay that sees its marker.
    private Cut? TakeCut(ReadOnlySpan<byte> read) =>
        Volatile.Read(ref _cut) is { } cut && read.IndexOf(cut.Marker.Span) >= 0 && ReferenceEquals(Interlocked.CompareExchange(ref _cut, null, cut), cut) ? cut : null;

    private sealed record Cut(ReadOnlyMemory<byte> Marker, CutMode Mode);

    private delegate Cut? CutTaker(ReadOnlySpan<byte> read);

    private sealed class Relay(TcpClient downstream, CutTaker takeCut, CancellationToken stop) : IDisposable
    {
        private readonly TcpClient _upstream = new();
        private volatile bool _cut;

        // Completed when the relay is not paused; a pending one while it is.
        private TaskCompletionSource _running = Completed();

        public CancellationTokenSource Silence { get; } = CancellationTokenSource.CreateLinkedTokenSource(stop);

        public async Task RunAsync(int upstreamPort, TimeSpan holdAnswers)
        {
            try
            {
                await _upstream.ConnectAsync(IPAddress.Loopback, upstreamPort, Silence.Token);
                var toServer = CopyAsync(downstream.GetStream(), _upstream.GetStream(), toServer: true);
                if (holdAnswers > TimeSpan.Zero)
                {
                    await Task.Delay(holdAnswers, Silence.Token);
                }

                var toClient = CopyAsync(_upstream.GetStream(), downstream.GetStream(), toServer: false);
                await Task.WhenAll(toServer, toClient);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // Either side went away, the relay was silenced (its sockets stay open until the proxy is disposed), cut,
                // or the proxy is disposed.
            }
        }

        public void Pause()
        {
            var running = Volatile.Read(ref _running);
            if (running.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _running, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), running);
            }
        }

        public void Resume() => Interlocked.Exchange(ref _running, Completed()).TrySetResult();

        private static TaskCompletionSource Completed()
        {
            var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            completed.SetResult();
            return completed;
        }

        // What was read while paused is written once resumed, so nothing is lost or reordered.
        private async Task CopyAsync(NetworkStream from, NetworkStream to, bool toServer)
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await from.ReadAsync(buffer, Silence.Token)) > 0)
            {
                await Volatile.Read(ref _running).Task.WaitAsync(Silence.Token);
                if (toServer && takeCut(buffer.AsSpan(0, read)) is { } cut)
                {
                    // Marked first: the server's answer, read after the bytes went out, is not passed on.
                    _cut = true;
                    if (cut.Mode == CutMode.Deliver)
                    {
                        await to.WriteAsync(buffer.AsMemory(0, read), Silence.Token);
                    }

                    if (cut.Mode != CutMode.Silence)
                    {
                        downstream.Dispose();
                        _upstream.Dispose();
                    }

                    return;
                }

                if (_cut)
                {
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), Silence.Token);
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

/// <summary>How <see cref="LoopbackProxy.CutWhenClientSends"/> cuts a connection.</summary>
internal enum CutMode
{
    /// <summary>The bytes reach the server, which reads them before it sees the connection close.</summary>
    Deliver,

    /// <summary>The bytes never reach the server; the connection closes.</summary>
    Drop,

    /// <summary>The bytes never reach the server, and nothing more is carried either way; both ends stay open until the proxy is disposed.</summary>
    Silence,
}
