using System.Net;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

internal static class RedisConnectionFactory
{
    // One multiplexer per process. abortConnect=false: the process starts while Redis is down and
    // reconnects by itself; readiness reports the outage instead of a crash loop. A Redis that answers but refuses us
    // (wrong password, a TLS certificate we do not trust) is different: waiting will not fix it, so the start stops
    // with exit 78 naming the key, as for any other bad configuration.
    public static ConnectionMultiplexer Connect(RedisOptions options, string clientName)
    {
        var (configuration, validation) = Configure(options, clientName);
        var multiplexer = ConnectionMultiplexer.Connect(configuration);
        // Whether Redis refused us is asked by a probe of our own: under CPU load StackExchange.Redis 1.2.6 reports a
        // handshake that timed out instead of the NOAUTH or TLS error, and a wrong password then started a service that
        // stayed unready forever.
        if (!multiplexer.IsConnected && RedisRefusalProbe.Refusal(options, configuration, validation) is { } refusal)
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
            throw new OptionsValidationException(RedisOptions.Section, typeof(RedisOptions), [refusal]);
        }

        return multiplexer;
    }

    /// <summary>The client configuration for these options: abortConnect off, the password and the private CA's check set.</summary>
    public static (ConfigurationOptions Configuration, RedisCertificateValidation? Validation) Configure(RedisOptions options, string clientName)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configuration = ConfigurationOptions.Parse(options.Configuration);
        configuration.AbortOnConnectFail = false;
        configuration.ClientName ??= clientName;
        if (options.Password.Length > 0)
        {
            configuration.Password = options.Password;
        }

        RedisCertificateValidation? validation = null;
        if (options.TlsCaCertificateFile.Length > 0)
        {
            validation = new RedisCertificateValidation(RedisCertificateValidation.LoadAuthorities(options.TlsCaCertificateFile));
            configuration.CertificateValidation += validation.Validate;
        }

        return (configuration, validation);
    }

    /// <summary>The endpoints of a configuration string as host:port, for messages: never the string itself, which may hold the password.</summary>
    public static string DescribeEndpoints(ConfigurationOptions configuration) =>
        string.Join(", ", configuration.EndPoints.Select(endpoint => endpoint switch
        {
            DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
            _ => endpoint.ToString() ?? string.Empty,
        }));
}
