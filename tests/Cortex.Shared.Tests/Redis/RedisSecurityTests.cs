using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cortex.Shared.Tests.Redis;

/// <summary>
/// Cortex against a real redis-server that asks for a password, and one that speaks TLS only with a certificate from a
/// private CA: the right settings work end to end; wrong ones stop the start with exit 78 naming the key, never the secret.
/// </summary>
public sealed class RedisSecurityTests
{
    private const string Password = "redis-pass-6f1d0c9b2e";
    private const string WrongPassword = "redis-pass-wrong-0a7b";

    [Theory]
    [InlineData("Password")] // Cortex:Redis:Password, from its own Secret
    [InlineData("Configuration")] // password= inside the configuration string
    public async Task Start_RightPassword_EnqueuesAndLeases(string where)
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });
        await using var app = Build(PasswordSettings(server, Password, where));
        await app.StartAsync();

        await RoundTripAsync(app);
        await app.StopAsync();
    }

    [Theory]
    [InlineData("Password", "Cortex:Redis:Password was refused by Redis at 127.0.0.1:")]
    [InlineData("Configuration", "Cortex:Redis:Configuration holds a password= that Redis at 127.0.0.1:")]
    public async Task Start_WrongPassword_Exits78NamingTheKeyNotThePassword(string where, string expected)
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });

        var (exit, output) = await RunAsync(PasswordSettings(server, WrongPassword, where));

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongPassword, output, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NoPasswordWhereOneIsRequired_Exits78NamingThePasswordKey()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });

        var (exit, output) = await RunAsync(new() { ["Cortex:Redis:Configuration"] = server.Configuration });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("Cortex:Redis:Password is required: Redis at 127.0.0.1:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_RedisDown_StartsAnywayAndIsNotReady()
    {
        // Not a configuration error: the service starts, reports not-ready and reconnects when Redis comes (abortConnect=false).
        await using var app = Build(new() { ["Cortex:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200", ["Cortex:Redis:Password"] = Password });
        await app.StartAsync();
        using var client = new OperationsClient(app);

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await client.HealthAsync("/health/ready")).Status);
        await app.StopAsync();
    }

    [Fact]
    public async Task Start_TlsWithThePrivateCa_EnqueuesAndLeasesOverTls()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true, Password = Password });
        await using var app = Build(new()
        {
            ["Cortex:Redis:Configuration"] = server.Configuration,
            ["Cortex:Redis:Password"] = Password,
            ["Cortex:Redis:TlsCaCertificateFile"] = server.TlsCaCertificateFile,
        });
        await app.StartAsync();

        await RoundTripAsync(app);

        // The server has no plain-text port at all: the round trip above went over TLS.
        Assert.Contains("ssl=true", server.Configuration, StringComparison.Ordinal);
        await app.StopAsync();
    }

    [Fact]
    public async Task Start_TlsCertificateOfAnotherCa_Exits78NamingTheCaFile()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });
        var otherCa = Path.Combine(Path.GetTempPath(), $"cortex-other-ca-{Guid.NewGuid():N}.crt");
        TestCertificates.WriteUnrelatedAuthority(otherCa);
        try
        {
            var (exit, output) = await RunAsync(new()
            {
                ["Cortex:Redis:Configuration"] = server.Configuration,
                ["Cortex:Redis:TlsCaCertificateFile"] = otherCa,
            });

            Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
            Assert.Contains("Cortex:Redis:TlsCaCertificateFile does not validate the TLS certificate of Redis at 127.0.0.1:", output, StringComparison.Ordinal);
            Assert.True(output.Contains("does not chain to a CA of Cortex:Redis:TlsCaCertificateFile (", StringComparison.Ordinal), output);
        }
        finally
        {
            File.Delete(otherCa);
        }
    }

    [Fact]
    public async Task Start_TlsWithoutTheCaFile_Exits78_ValidationIsNotWaivedByDefault()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });

        var (exit, output) = await RunAsync(new() { ["Cortex:Redis:Configuration"] = server.Configuration });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("Cortex:Redis:Configuration turns TLS on, but the TLS handshake with Redis at 127.0.0.1:", output, StringComparison.Ordinal);
        Assert.Contains("The remote certificate is invalid because of errors in the certificate chain", output, StringComparison.Ordinal);
        Assert.Contains("set Cortex:Redis:TlsCaCertificateFile", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_TlsCertificateForAnotherHost_Exits78EvenWithTheRightCa()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });

        var (exit, output) = await RunAsync(new()
        {
            ["Cortex:Redis:Configuration"] = server.Configuration + ",sslHost=redis.elsewhere.example",
            ["Cortex:Redis:TlsCaCertificateFile"] = server.TlsCaCertificateFile,
        });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("its certificate does not name the host Cortex connects to", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:6379", "/etc/cortex/ca.crt", "Cortex:Redis:TlsCaCertificateFile is set but Cortex:Redis:Configuration does not turn TLS on: add ssl=true to it")]
    [InlineData("127.0.0.1:6379,ssl=true", "/nonexistent/ca.crt", "Cortex:Redis:TlsCaCertificateFile names no readable file (was '/nonexistent/ca.crt')")]
    public async Task Start_TlsCaFileMisconfigured_Exits78NamingTheKey(string configuration, string caFile, string expected)
    {
        var (exit, output) = await RunAsync(new() { ["Cortex:Redis:Configuration"] = configuration, ["Cortex:Redis:TlsCaCertificateFile"] = caFile });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_PasswordWithATrailingNewline_Exits78WithoutPrintingIt()
    {
        var (exit, output) = await RunAsync(new() { ["Cortex:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200", ["Cortex:Redis:Password"] = Password + "\n" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("Cortex:Redis:Password must not start or end with spaces or contain control characters", output, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:6379,password=Tr0ub4dor,horse-battery")]
    [InlineData("127.0.0.1:6379,password=Tr0ub4dor,horse-battery:6379")]
    [InlineData("127.0.0.1:6379,Password = Tr0ub4dor, horse-battery ,ssl=false")]
    [InlineData("127.0.0.1:6379,password=Tr0ub4dor,=horse-battery")]
    [InlineData("127.0.0.1:6379,ssl=false,password=Tr0ub4dor,horse-battery,connectTimeout=200")]
    public async Task Start_PasswordWithACommaInTheConfiguration_Exits78NamingTheKeyAndThePasswordSettingNeverThePassword(string configuration)
    {
        // StackExchange.Redis cut the password at the comma and took "horse-battery" for a Redis address: resolved by DNS,
        // connected to, and named in the refusal, the readiness text, the CLI's "unreachable" line and the watchdog's log.
        var (exit, output) = await RunAsync(new() { ["Cortex:Redis:Configuration"] = configuration });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exit);
        Assert.Contains("Cortex:Redis:Configuration has an endpoint after password=", output, StringComparison.Ordinal);
        Assert.Contains("Cortex:Redis:Password", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Tr0ub4dor", output, StringComparison.Ordinal);
        Assert.DoesNotContain("horse-battery", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis,password=x")]
    [InlineData("redis:6379,password=x,ssl=true")]
    [InlineData("redis-a:6379,redis-b:6379,password=x,ssl=true,abortConnect=false")]
    [InlineData("redis:6379,password=x=y,ssl=true,")]
    [InlineData("redis:6379,ssl=true")]
    [InlineData("redis:6379, password=x ,connectTimeout=200")]
    public void Validate_EndpointsBeforeThePassword_Pass(string configuration)
    {
        var result = new RedisOptionsValidator().Validate(null, new RedisOptions { Configuration = configuration });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    private static Dictionary<string, string?> PasswordSettings(RedisServer server, string password, string where) => where == "Password"
        ? new() { ["Cortex:Redis:Configuration"] = server.Configuration, ["Cortex:Redis:Password"] = password }
        : new() { ["Cortex:Redis:Configuration"] = $"{server.Configuration},password={password}" };

    private static async Task RoundTripAsync(WebApplication app)
    {
        await app.Services.GetRequiredService<CortexClient>().EnqueueAsync(new Envelope { Id = "sec-1", To = "+5511987654321", Text = "oi" });
        var queue = app.Services.GetRequiredService<IMessageQueue>();
        var leased = await queue.LeaseAsync("consumer-sec", 10);
        Assert.Equal("sec-1", EnvelopeCodec.Parse(leased.Single().Payload.Span).Envelope!.Id);
        Assert.Equal(0, await queue.AckAsync("consumer-sec", [new AckItem(leased[0].LeaseId, "sec-1")]));
        Assert.Equal(0, (await queue.GetStatsAsync()).Pending);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(Dictionary<string, string?> settings)
    {
        await using var app = Build(settings);
        using var error = new StringWriter();
        var exit = await CortexHost.RunAsync(app, error).WaitAsync(TimeSpan.FromSeconds(60));
        return (exit, error.ToString());
    }

    private static WebApplication Build(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex:Observability:Port"] = "0",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddCortexOperations();
        var app = builder.Build();
        app.MapCortexOperations();
        return app;
    }
}
