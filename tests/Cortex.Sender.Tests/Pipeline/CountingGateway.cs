using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// An Evolution API stand-in on loopback (Kestrel) shared by several sender processes: it records which instance sent
/// which number, so a test counts every message the provider took and which process sent it. A message counts as taken
/// once its request has arrived in full, as with a real provider: a client that gives up afterwards does not un-send it.
/// After <see cref="HoldAfter"/> messages it holds every further answer until <see cref="Release"/>, so a test can act
/// (start a process, send SIGTERM) while work is still queued and sends are in flight.
/// </summary>
internal sealed class CountingGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, int> _acceptedByNumber = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _acceptedByInstance = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _accepted;
    private long _arrived;
    private long _held;

    private CountingGateway(WebApplication app)
    {
        _app = app;
        app.MapPost("/message/sendText/{instance}", HandleAsync);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Answers are held once more than this many messages were taken; <see cref="long.MaxValue"/> never holds.</summary>
    public long HoldAfter { get; init; } = long.MaxValue;

    /// <summary>Whether the answers held after <see cref="HoldAfter"/> are a 429 once released, their messages not taken.</summary>
    public bool ThrottleHeld { get; init; }

    /// <summary>How long each answer takes: a provider's pace. Zero answers at once.</summary>
    public TimeSpan Delay { get; init; }

    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Requests that arrived after <see cref="HoldAfter"/> and wait for <see cref="Release"/>.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>How many times the provider took each number (a duplicate shows as 2).</summary>
    public IReadOnlyDictionary<string, int> AcceptedByNumber => _acceptedByNumber;

    public int AcceptedFrom(string instance) => _acceptedByInstance.GetValueOrDefault(instance);

    /// <summary>Copies taken beyond the first of each number: the messages that reached a customer twice, counted.</summary>
    public int Repeats => _acceptedByNumber.Values.Sum(count => count - 1);

    /// <summary>The numbers of <paramref name="numbers"/> the provider never took: lost messages.</summary>
    public List<string> NotAccepted(IEnumerable<string> numbers) => numbers.Where(n => !_acceptedByNumber.ContainsKey(n)).ToList();

    public static async Task<CountingGateway> StartAsync(long holdAfter = long.MaxValue, TimeSpan delay = default, bool throttleHeld = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var gateway = new CountingGateway(builder.Build()) { HoldAfter = holdAfter, Delay = delay, ThrottleHeld = throttleHeld };
        await gateway._app.StartAsync();
        gateway.BaseUrl = new Uri(gateway._app.Urls.Single());
        return gateway;
    }

    public void Release() => _released.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Release();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context, string instance)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var number = body.RootElement.GetProperty("number").GetString()!;
        if (ThrottleHeld && Interlocked.Increment(ref _arrived) > HoldAfter && !_released.Task.IsCompleted)
        {
            Interlocked.Increment(ref _held);
            await _released.Task.WaitAsync(context.RequestAborted);
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return;
        }

        _acceptedByNumber.AddOrUpdate(number, 1, (_, n) => n + 1);
        _acceptedByInstance.AddOrUpdate(instance, 1, (_, n) => n + 1);
        var id = Interlocked.Increment(ref _accepted);
        if (id > HoldAfter)
        {
            Interlocked.Increment(ref _held);
            await _released.Task.WaitAsync(context.RequestAborted);
        }

        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, context.RequestAborted);
        }

        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"key":{"remoteJid":"{{number}}@s.whatsapp.net","fromMe":true,"id":"SCALE{{id}}"},"status":"PENDING"}""", context.RequestAborted);
    }
}
