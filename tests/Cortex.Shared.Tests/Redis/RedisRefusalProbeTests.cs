using System.Diagnostics;
using Cortex.Shared.Redis;
using Cortex.Testing;

namespace Cortex.Shared.Tests.Redis;

/// <summary>
/// The start-up probe against real redis-server processes: it tells a Redis that refuses Cortex (password, TLS) from one
/// that accepts it or does not answer, with the messages the start-up error prints, and never the password.
/// </summary>
public sealed class RedisRefusalProbeTests
{
    private const string Password = "redis-pass-8d3f5b20";

    [Theory]
    [InlineData(Password)]
    [InlineData("sênha-ünïcode-密码")] // the bulk string's length is in UTF-8 bytes, not characters
    public async Task Refusal_RightPassword_IsNull(string password)
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = password });

        Assert.Null(Probe(new RedisOptions { Configuration = server.Configuration, Password = password }));
    }

    [Theory]
    [InlineData("Password", "Cortex:Redis:Password was refused by Redis at 127.0.0.1:")]
    [InlineData("Configuration", "Cortex:Redis:Configuration holds a password= that Redis at 127.0.0.1:")]
    public async Task Refusal_WrongPassword_NamesTheKeyNotThePassword(string where, string expected)
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });
        const string Wrong = "wrong-" + Password;

        var refusal = Probe(where == "Password"
            ? new RedisOptions { Configuration = server.Configuration, Password = Wrong }
            : new RedisOptions { Configuration = $"{server.Configuration},password={Wrong}" });

        Assert.NotNull(refusal);
        Assert.StartsWith(expected, refusal, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusal_NoPasswordWhereOneIsRequired_SaysThePasswordIsRequired()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = Password });

        var refusal = Probe(new RedisOptions { Configuration = server.Configuration });

        Assert.Equal($"Cortex:Redis:Password is required: Redis at 127.0.0.1:{server.Port} asks for a password and none is configured", refusal);
    }

    [Fact]
    public async Task Refusal_PasswordForARedisThatHasNone_IsNullAsForTheClient()
    {
        // Redis answers "-ERR AUTH <password> called without any password configured": StackExchange.Redis carries on and
        // connects, so the probe does not call it a refusal either.
        await using var server = await RedisServer.StartAsync();
        var options = new RedisOptions { Configuration = server.Configuration, Password = Password };

        Assert.Null(Probe(options));
        using var multiplexer = RedisConnectionFactory.Connect(options, "probe-test");
        Assert.True(multiplexer.IsConnected);
    }

    [Fact]
    public void Refusal_RedisDown_IsNullAtOnce()
    {
        var watch = Stopwatch.StartNew();

        var refusal = Probe(new RedisOptions { Configuration = "127.0.0.1:1,connectTimeout=200", Password = Password });

        Assert.Null(refusal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")] // a DnsEndPoint: resolved by the probe, and the name its certificate must hold
    public async Task Refusal_TlsWithThePrivateCaAndRightPassword_IsNull(string host)
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true, Password = Password });
        var configuration = server.Configuration.Replace("127.0.0.1:", host + ":", StringComparison.Ordinal);

        Assert.Null(Probe(new RedisOptions { Configuration = configuration, Password = Password, TlsCaCertificateFile = server.TlsCaCertificateFile! }));
    }

    [Fact]
    public async Task Refusal_TlsWithThePrivateCaAndWrongPassword_NamesThePasswordKey()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true, Password = Password });

        var refusal = Probe(new RedisOptions { Configuration = server.Configuration, Password = "wrong", TlsCaCertificateFile = server.TlsCaCertificateFile! });

        Assert.StartsWith("Cortex:Redis:Password was refused by Redis at 127.0.0.1:", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusal_TlsCertificateOfAnotherCa_NamesTheCaFile()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });
        var otherCa = Path.Combine(Path.GetTempPath(), $"cortex-other-ca-{Guid.NewGuid():N}.crt");
        TestCertificates.WriteUnrelatedAuthority(otherCa);
        try
        {
            var refusal = Probe(new RedisOptions { Configuration = server.Configuration, TlsCaCertificateFile = otherCa });

            Assert.StartsWith($"Cortex:Redis:TlsCaCertificateFile does not validate the TLS certificate of Redis at 127.0.0.1:{server.Port}: its certificate does not chain to a CA of Cortex:Redis:TlsCaCertificateFile (", refusal, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(otherCa);
        }
    }

    [Fact]
    public async Task Refusal_TlsCertificateForAnotherHost_IsARefusalEvenWithTheRightCa()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });

        var refusal = Probe(new RedisOptions { Configuration = server.Configuration + ",sslHost=redis.elsewhere.example", TlsCaCertificateFile = server.TlsCaCertificateFile! });

        Assert.NotNull(refusal);
        Assert.Contains("its certificate does not name the host Cortex connects to", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusal_TlsOfAPrivateCaWithoutTheCaFile_SaysToSetIt()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity { Tls = true });

        var refusal = Probe(new RedisOptions { Configuration = server.Configuration });

        Assert.NotNull(refusal);
        Assert.StartsWith("Cortex:Redis:Configuration turns TLS on, but the TLS handshake with Redis at 127.0.0.1:", refusal, StringComparison.Ordinal);
        Assert.Contains("The remote certificate is invalid because of errors in the certificate chain", refusal, StringComparison.Ordinal);
    }

    private static string? Probe(RedisOptions options)
    {
        var (configuration, validation) = RedisConnectionFactory.Configure(options, "probe-test");
        return RedisRefusalProbe.Refusal(options, configuration, validation);
    }
}
