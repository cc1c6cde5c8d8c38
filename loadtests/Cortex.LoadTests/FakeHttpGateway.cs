using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Cortex.LoadTests;

/// <summary>An instant Evolution API stand-in on loopback: reads each sendText body and answers 201 with a message key.</summary>
internal sealed class FakeHttpGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _requests;

    private FakeHttpGateway(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public long Requests => Interlocked.Read(ref _requests);

    public static async Task<FakeHttpGateway> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var gateway = new FakeHttpGateway(app);
        RequestDelegate answer = async context =>
        {
            // Read the whole body as a real gateway must, then answer like Evolution v2 does.
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            var id = Interlocked.Increment(ref gateway._requests);
            context.Response.StatusCode = (int)HttpStatusCode.Created;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"key":{"remoteJid":"x@s.whatsapp.net","fromMe":true,"id":"FAKE{{id}}"},"status":"PENDING"}""", context.RequestAborted);
        };
        app.MapPost("/message/sendText/{instance}", answer);
        app.MapPost("/message/sendTemplate/{instance}", answer);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        gateway.BaseUrl = new Uri(address);
        return gateway;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
