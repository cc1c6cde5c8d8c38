using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace Cortex.Testing;

/// <summary>HTTP client for a started Cortex application's operations endpoint (/metrics, /health/*).</summary>
public sealed class OperationsClient : IDisposable
{
    private readonly HttpClient _http;

    public OperationsClient(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Kestrel reports "http://[::]:PORT" for a port-0 listener on every interface.
        var port = new Uri(app.Urls.First()).Port;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    /// <summary>GET /metrics: asserts the Prometheus content type and returns the raw text.</summary>
    public async Task<string> ScrapeTextAsync()
    {
        using var response = await _http.GetAsync(new Uri("metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    public async Task<IReadOnlyList<PrometheusText.Sample>> ScrapeAsync() => PrometheusText.Parse(await ScrapeTextAsync());

    /// <summary>GET a health path: the status code and the JSON body.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> HealthAsync(string path)
    {
        using var response = await _http.GetAsync(new Uri(path.TrimStart('/'), UriKind.Relative));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body);
    }

    public void Dispose() => _http.Dispose();
}
