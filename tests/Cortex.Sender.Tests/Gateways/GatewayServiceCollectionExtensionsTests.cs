using Cortex.Sender.Gateways;
using Cortex.Sender.Gateways.Cloud;
using Cortex.Sender.Gateways.Evolution;
using Cortex.Sender.Gateways.Fake;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using static Cortex.Sender.Tests.Gateways.GatewayTestData;

namespace Cortex.Sender.Tests.Gateways;

public sealed class GatewayServiceCollectionExtensionsTests : IClassFixture<GatewayStubFixture>
{
    private readonly GatewayStub _stub;

    public GatewayServiceCollectionExtensionsTests(GatewayStubFixture fixture)
    {
        _stub = fixture.Stub;
        _stub.Reset();
    }

    [Fact]
    public async Task AddCortexGateway_TypeFake_GatewayAndFakeAreTheSameInstance()
    {
        await using var services = Build(new() { ["Cortex:Gateway:Type"] = "Fake", ["Cortex:Gateway:Name"] = "demo" });

        var gateway = services.GetRequiredService<IWhatsAppGateway>();
        await gateway.SendAsync(Text(), CancellationToken.None);

        var fake = services.GetRequiredService<FakeGateway>();
        Assert.Same(fake, gateway);
        Assert.Equal("fake:demo", gateway.Name);
        Assert.Equal(1, fake.AcceptedCount);
    }

    [Fact]
    public async Task AddCortexGateway_TypeEvolution_SendsThroughTypedClient()
    {
        await using var services = Build(new()
        {
            ["Cortex:Gateway:Type"] = "Evolution",
            ["Cortex:Gateway:Evolution:BaseUrl"] = _stub.BaseUrl.ToString(),
            ["Cortex:Gateway:Evolution:Instance"] = "loja-01",
            ["Cortex:Gateway:Evolution:ApiKey"] = EvolutionKey,
        });

        var gateway = Assert.IsType<EvolutionGateway>(services.GetRequiredService<IWhatsAppGateway>());
        var result = await gateway.SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayOutcome.Accepted, result.Outcome);
        Assert.Equal("/message/sendText/loja-01", Assert.Single(_stub.Requests).Path);
        Assert.Same(gateway, services.GetRequiredService<IWhatsAppGateway>());
        Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<FakeGateway>());
    }

    [Fact]
    public async Task AddCortexGateway_TypeCloud_SendsThroughTypedClient()
    {
        _stub.Default = StubAnswer.Json(200, """{"messages":[{"id":"wamid.X"}]}""");
        await using var services = Build(new()
        {
            ["Cortex:Gateway:Type"] = "Cloud",
            ["Cortex:Gateway:Cloud:BaseUrl"] = _stub.BaseUrl.ToString(),
            ["Cortex:Gateway:Cloud:PhoneNumberId"] = "106540352242922",
            ["Cortex:Gateway:Cloud:AccessToken"] = CloudToken,
        });

        var gateway = Assert.IsType<CloudApiGateway>(services.GetRequiredService<IWhatsAppGateway>());
        var result = await gateway.SendAsync(Text(), CancellationToken.None);

        Assert.Equal(GatewayResult.Accepted("wamid.X"), result);
        Assert.Equal("/v21.0/106540352242922/messages", Assert.Single(_stub.Requests).Path);
    }

    [Fact]
    public async Task AddCortexGateway_CalledTwice_RegistersOnce()
    {
        var collection = new ServiceCollection().AddSingleton<IConfiguration>(Config(new() { ["Cortex:Gateway:Type"] = "Fake" }));
        collection.AddCortexGateway().AddCortexGateway();

        Assert.Single(collection, d => d.ServiceType == typeof(IWhatsAppGateway));
        Assert.Single(collection, d => d.ImplementationType == typeof(GatewayOptionsValidator));
        await using var services = collection.BuildServiceProvider();
        Assert.IsType<FakeGateway>(services.GetRequiredService<IWhatsAppGateway>());
    }

    [Fact]
    public async Task AddCortexGateway_MissingApiKey_HostFailsAtStartNamingTheKey()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Gateway:Type"] = "Evolution",
            ["Cortex:Gateway:Evolution:BaseUrl"] = "http://evolution.internal:8080",
            ["Cortex:Gateway:Evolution:Instance"] = "loja-01",
        });
        builder.Services.AddCortexGateway();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Cortex:Gateway:Evolution:ApiKey is required when Cortex:Gateway:Type is Evolution", error.Failures);
    }

    [Fact]
    public async Task AddCortexGateway_MisspelledKey_FailsNamingIt()
    {
        await using var services = Build(new() { ["Cortex:Gateway:Type"] = "Fake", ["Cortex:Gateway:Fake:Latncy"] = "00:00:01" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<GatewayOptions>>().Value);

        Assert.Contains("Cortex:Gateway:Fake:Latncy is not a setting (did you mean Cortex:Gateway:Fake:Latency?)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddCortexGateway_AConnectionThatNeverOpens_FailsBeforeTheAttemptTimeoutAsNeverSent()
    {
        // A gateway whose address drops connection attempts (a firewall, a host gone behind a stale address): the connect
        // took until the attempt's timeout, which cannot tell a request never sent from one whose answer never came, so
        // each send was logged and counted as a possible duplicate (CortexSendsUnanswered) though none could be.
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(1);
        var endpoint = (System.Net.IPEndPoint)listener.LocalEndPoint!;

        // Never accepted: once its backlog is full, the kernel drops the next connection's SYNs and the connect hangs.
        var fillers = new List<System.Net.Sockets.Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var filler = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(endpoint);
            }

            await using var services = Build(new()
            {
                ["Cortex:Gateway:Type"] = "Evolution",
                ["Cortex:Gateway:Timeout"] = "00:00:04",
                ["Cortex:Gateway:Evolution:BaseUrl"] = $"http://127.0.0.1:{endpoint.Port}/",
                ["Cortex:Gateway:Evolution:Instance"] = "loja-01",
                ["Cortex:Gateway:Evolution:ApiKey"] = EvolutionKey,
            });
            var gateway = services.GetRequiredService<IWhatsAppGateway>();

            // The attempt's own timeout, as the pipeline sets it.
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(4));
            var result = await gateway.SendAsync(Text(), attempt.Token);

            Assert.Equal((GatewayOutcome.Retryable, "connection failed: TimedOut", false), (result.Outcome, result.Error, result.Unanswered));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    private static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var collection = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IConfiguration>(Config(values));
        collection.AddCortexGateway();
        return collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    private static IConfigurationRoot Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
