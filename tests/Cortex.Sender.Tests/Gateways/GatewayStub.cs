using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Gateways;

/// <summary>One request as the stub saw it.</summary>
public sealed record StubRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body, string? ContentType);

/// <summary>
/// What the stub answers: a status, a body, headers; <see cref="Hang"/> holds the request open until the client gives up,
/// <see cref="Drop"/> closes the connection once the request is read, answering nothing; <see cref="HangAfterStatus"/>
/// sends the status line and headers, then holds the body back until the client gives up; <see cref="CutAfterStatus"/>
/// sends them and part of the body, then resets the connection.
/// </summary>
public sealed record StubAnswer(int Status, string? Body = null, string ContentType = "application/json", IReadOnlyDictionary<string, string>? Headers = null, bool Hang = false, bool Drop = false, bool HangAfterStatus = false, bool CutAfterStatus = false)
{
    public static StubAnswer Json(int status, string body) => new(status, body);

    public static StubAnswer Text(int status, string body) => new(status, body, "text/html");
}

/// <summary>
/// A real HTTP server (Kestrel on 127.0.0.1, a free port) standing in for a WhatsApp gateway: records every request and
/// answers from a script, so the adapters are tested against the wire, not a mocked HttpMessageHandler.
/// </summary>
public sealed class GatewayStub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<StubRequest> _requests = new();
    private readonly ConcurrentQueue<StubAnswer> _script = new();
    private TaskCompletionSource<StubRequest> _firstRequest = NewSignal();

    private GatewayStub(WebApplication app)
    {
        _app = app;
        app.Run(HandleAsync);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Answer used when the script is empty.</summary>
    public StubAnswer Default { get; set; } = StubAnswer.Json(201, """{"key":{"id":"DEFAULT"}}""");

    public IReadOnlyList<StubRequest> Requests => [.. _requests];

    /// <summary>Completes when the first request after <see cref="Reset"/> has arrived (and been recorded).</summary>
    public Task<StubRequest> FirstRequest => _firstRequest.Task;

    public static async Task<GatewayStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var stub = new GatewayStub(builder.Build());
        await stub._app.StartAsync();

        // With port 0 Kestrel picks a free port; the bound address is reported back through Urls after start.
        stub.BaseUrl = new Uri(stub._app.Urls.Single());
        return stub;
    }

    /// <summary>Queues answers, used in order, one per request.</summary>
    public GatewayStub Answer(params StubAnswer[] answers)
    {
        foreach (var answer in answers)
        {
            _script.Enqueue(answer);
        }

        return this;
    }

    public void Reset()
    {
        _requests.Clear();
        _script.Clear();
        Default = StubAnswer.Json(201, """{"key":{"id":"DEFAULT"}}""");
        _firstRequest = NewSignal();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var request = new StubRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, headers, body, context.Request.ContentType);
        _requests.Enqueue(request);
        _firstRequest.TrySetResult(request);

        var answer = _script.TryDequeue(out var scripted) ? scripted : Default;
        if (answer.Hang)
        {
            // Holds the request until the client disconnects (its token was cancelled): no fixed delay.
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        if (answer.HangAfterStatus)
        {
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = answer.ContentType;
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        if (answer.CutAfterStatus)
        {
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = answer.ContentType;
            context.Response.ContentLength = 1000;
            await context.Response.WriteAsync("{\"status\":", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);

            // Ending short of the Content-Length: Kestrel resets the connection after what was flushed has gone out.
            return;
        }

        if (answer.Drop)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = answer.Status;
        foreach (var (name, value) in answer.Headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }

        if (answer.Body is not null)
        {
            context.Response.ContentType = answer.ContentType;
            await context.Response.WriteAsync(answer.Body, context.RequestAborted);
        }
    }

    private static TaskCompletionSource<StubRequest> NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>One stub per test class; each test starts from <see cref="GatewayStub.Reset"/>.</summary>
public sealed class GatewayStubFixture : IAsyncLifetime
{
    public GatewayStub Stub { get; private set; } = null!;

    public async Task InitializeAsync() => Stub = await GatewayStub.StartAsync();

    public async Task DisposeAsync() => await Stub.DisposeAsync();
}
