using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// Polls a process's <c>/health/ready</c> every 100 ms, as a Kubernetes readiness probe would (more often), and keeps
/// each answer with its time: when the process went not-ready during a fault and when it was ready again.
/// </summary>
internal sealed class ReadinessProbe : IAsyncDisposable
{
    private static readonly TimeSpan s_interval = TimeSpan.FromMilliseconds(100);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Lock _lock = new();
    private readonly List<(long At, bool Ready)> _answers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private ReadinessProbe(int port)
    {
        Port = port;
        _loop = PollAsync(new Uri($"http://127.0.0.1:{port}/health/ready"));
    }

    public int Port { get; }

    /// <summary>A free loopback port for the process's operations server; polling starts at once and counts only answers.</summary>
    public static ReadinessProbe OnFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new ReadinessProbe(port);
    }

    /// <summary>The first answer at or after <paramref name="from"/> (a Stopwatch timestamp) with the given readiness; null if none yet.</summary>
    public TimeSpan? FirstAfter(long from, bool ready)
    {
        lock (_lock)
        {
            foreach (var (at, isReady) in _answers)
            {
                if (at >= from && isReady == ready)
                {
                    return Stopwatch.GetElapsedTime(from, at);
                }
            }
        }

        return null;
    }

    /// <summary>Whether any answer between the two timestamps said ready.</summary>
    public bool AnyReadyBetween(long from, long to)
    {
        lock (_lock)
        {
            return _answers.Any(a => a.At >= from && a.At <= to && a.Ready);
        }
    }

    private async Task PollAsync(Uri url)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var response = await _http.GetAsync(url, _stop.Token);
                var ready = response.StatusCode == HttpStatusCode.OK;
                if (ready || response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    lock (_lock)
                    {
                        _answers.Add((Stopwatch.GetTimestamp(), ready));
                    }
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet (starting) or gone (exited): no answer, which is neither ready nor not-ready.
            }
            catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
            {
                // The 2 s timeout: the probe failed to answer, as Kubernetes would count it.
                lock (_lock)
                {
                    _answers.Add((Stopwatch.GetTimestamp(), false));
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await Task.Delay(s_interval, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _http.Dispose();
        _stop.Dispose();
    }
}
