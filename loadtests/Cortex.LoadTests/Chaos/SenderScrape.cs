using System.Globalization;

namespace Cortex.LoadTests.Chaos;

/// <summary>
/// A sender's operations port seen from outside, as Prometheus and the kubelet see it: GET /metrics read into
/// (series → value), and GET /health/ready's status code.
/// </summary>
internal sealed class SenderScrape : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private readonly HttpClient _http;

    public SenderScrape(int port)
    {
        Port = port;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"), Timeout = s_timeout };
    }

    public int Port { get; }

    /// <summary>The exposition as (series with its labels, value), or null while the sender does not answer.</summary>
    public async Task<Metrics?> MetricsAsync()
    {
        try
        {
            var text = await _http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            return Metrics.Parse(text);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>GET /health/ready: 200 ready, 503 not ready, 0 no answer.</summary>
    public async Task<int> ReadyAsync()
    {
        try
        {
            using var response = await _http.GetAsync(new Uri("/health/ready", UriKind.Relative));
            return (int)response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>One scrape: every sample line as its series (name and labels, as written) and value.</summary>
    internal sealed class Metrics(Dictionary<string, double> samples)
    {
        public static Metrics Parse(string text)
        {
            var samples = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var space = line.LastIndexOf(' ');
                if (line.StartsWith('#') || space <= 0)
                {
                    continue;
                }

                if (double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    samples[line[..space]] = value;
                }
            }

            return new Metrics(samples);
        }

        /// <summary>The sum of every series of <paramref name="name"/> whose labels contain <paramref name="label"/> (e.g. reason="retryable").</summary>
        public double Sum(string name, string? label = null) =>
            samples.Where(s => (s.Key == name || s.Key.StartsWith(name + "{", StringComparison.Ordinal)) && (label is null || s.Key.Contains(label, StringComparison.Ordinal)))
                .Sum(s => s.Value);

        public bool Has(string name) => samples.Keys.Any(k => k == name || k.StartsWith(name + "{", StringComparison.Ordinal));
    }
}
