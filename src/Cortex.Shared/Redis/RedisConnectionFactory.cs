using System.Net;
using System.Security.Authentication;
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

        var multiplexer = ConnectionMultiplexer.Connect(configuration);
        if (!multiplexer.IsConnected && Refusal(multiplexer, options, configuration, validation) is { } refusal)
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
            throw new OptionsValidationException(RedisOptions.Section, typeof(RedisOptions), [refusal]);
        }

        return multiplexer;
    }

    /// <summary>The endpoints of a configuration string as host:port, for messages: never the string itself, which may hold the password.</summary>
    public static string DescribeEndpoints(ConfigurationOptions configuration) =>
        string.Join(", ", configuration.EndPoints.Select(endpoint => endpoint switch
        {
            DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
            _ => endpoint.ToString() ?? string.Empty,
        }));

    // StackExchange.Redis 1.2.6 keeps the last connection failure as the inner exception of "No connection is available":
    // AuthenticationFailure wraps the server's NOAUTH (the AUTH was refused) or SslStream's AuthenticationException.
    private static string? Refusal(ConnectionMultiplexer multiplexer, RedisOptions options, ConfigurationOptions configuration, RedisCertificateValidation? validation)
    {
        try
        {
            multiplexer.GetDatabase().Ping();
            return null;
        }
        catch (RedisConnectionException ex) when (ex.InnerException is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure } failure)
        {
            var at = DescribeEndpoints(configuration);
            const string Section = RedisOptions.Section;
            if (failure.InnerException is AuthenticationException tls)
            {
                return validation is null
                    ? $"{Section}:{nameof(RedisOptions.Configuration)} turns TLS on, but the TLS handshake with Redis at {at} failed ({tls.Message}); if a private CA signs its certificate, set {Section}:{nameof(RedisOptions.TlsCaCertificateFile)}"
                    : $"{Section}:{nameof(RedisOptions.TlsCaCertificateFile)} does not validate the TLS certificate of Redis at {at}: {validation.LastRefusal ?? tls.Message}";
            }

            if (string.IsNullOrEmpty(configuration.Password))
            {
                return $"{Section}:{nameof(RedisOptions.Password)} is required: Redis at {at} asks for a password and none is configured";
            }

            // Never the password itself, nor the configuration string that may hold it.
            return options.Password.Length > 0
                ? $"{Section}:{nameof(RedisOptions.Password)} was refused by Redis at {at} (wrong password, or its user is disabled)"
                : $"{Section}:{nameof(RedisOptions.Configuration)} holds a password= that Redis at {at} refused (wrong password, or its user is disabled)";
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Unreachable or slow: not a configuration error. The process starts and reconnects by itself.
            return null;
        }
    }
}
