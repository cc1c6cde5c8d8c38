using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cortex.LoadTests.Chaos;

/// <summary>What one poll of <c>/health/ready</c> got.</summary>
internal enum ProbeOutcome
{
    /// <summary>200.</summary>
    Ready,

    /// <summary>503: the process answered that it is not ready.</summary>
    NotReady,

    /// <summary>No answer within the probe's timeout: Kubernetes counts it as a failure, but the process said nothing.</summary>
    TimedOut,
}

/// <summary>
/// Polls a process's <c>/health/ready</c> every 100 ms, as a Kubernetes readiness probe would (more often), and keeps
/// each answer with its time: when the process went not-ready during a fault and when it was ready again.
/// </summary>
internal sealed class ReadinessProbe : IAsyncDisposable
{
    /// <summary>
    /// The sender's readinessProbe timeoutSeconds in k8s/base/sender.yaml. Longer than the health check's own timeout
    /// (Cortex:Observability:HealthCheckTimeout, 3 s), so a check that gives up on a silent Redis is heard as its 503
    /// rather than cut off by the probe; a probe that times out anyway is kept apart (<see cref="ProbeOutcome.TimedOut"/>).
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan s_interval = TimeSpan.FromMilliseconds(100);
    private readonly HttpClient _http = new() { Timeout = Timeout };
    private readonly Lock _lock = new();
    private readonly List<(long At, ProbeOutcome Outcome)> _answers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private ReadinessProbe(int port)
    {
        Port = port;
        _loop = PollAsync(new Uri($"http://127.0.0.1:{port}/health/ready"));
    }

    public int Port { get; }

    /// <summary>A free loopback port for the process's operations server; polling starts at once and counts only answers and timeouts.</summary>
    public static ReadinessProbe OnFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new ReadinessProbe(port);
    }

    /// <summary>The first poll at or after <paramref name="from"/> (a Stopwatch timestamp) that got <paramref name="outcome"/>; null if none yet.</summary>
    public TimeSpan? FirstAfter(long from, ProbeOutcome outcome)
    {
        lock (_lock)
        {
            foreach (var (at, got) in _answers)
            {
                if (at >= from && got == outcome)
                {
                    return Stopwatch.GetElapsedTime(from, at);
                }
            }
        }

        return null;
    }

    /// <summary>How many polls between the two timestamps got <paramref name="outcome"/>.</summary>
    public int CountBetween(long from, long to, ProbeOutcome outcome)
    {
        lock (_lock)
        {
            return _answers.Count(a => a.At >= from && a.At <= to && a.Outcome == outcome);
        }
    }

    /// <summary>Whether any answer between the two timestamps said ready.</summary>
    public bool AnyReadyBetween(long from, long to) => CountBetween(from, to, ProbeOutcome.Ready) > 0;

    private async Task PollAsync(Uri url)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var response = await _http.GetAsync(url, _stop.Token);
                ProbeOutcome? outcome = response.StatusCode switch
                {
                    HttpStatusCode.OK => ProbeOutcome.Ready,
                    HttpStatusCode.ServiceUnavailable => ProbeOutcome.NotReady,
                    _ => null,
                };
                if (outcome is { } got)
                {
                    Record(got);
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet (starting) or gone (exited): no answer, which is neither ready nor not-ready.
            }
            catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
            {
                // The probe's timeout: Kubernetes would count a failure, but the process never said it was not ready.
                Record(ProbeOutcome.TimedOut);
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

    private void Record(ProbeOutcome outcome)
    {
        lock (_lock)
        {
            _answers.Add((Stopwatch.GetTimestamp(), outcome));
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
