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
        for (var attempt = 1; ; attempt++)
        {
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

            // StackExchange.Redis 1.2.6 can also come out of a handshake whose connection stopped carrying bytes part way
            // saying it is connected, with nothing it sends ever answered: its commands wait forever, and the watchdog
            // stopped the process 30 s later (twice in the chaos smoke runs, on a loaded machine, the start's ACL check
            // unanswered). Each connection made here is asked: no answer within the deadline while a new connection is
            // answered means it is dead; it is dropped and the connection made again. Disconnected, it reconnects by itself.
            // Synchronous as Connect is (a DI factory, the CLI's Lazy), run where no synchronization context waits on it.
            if (attempt == MaxConnectAttempts || !multiplexer.IsConnected || !IsDeadAsync(multiplexer, configuration, validation).GetAwaiter().GetResult())
            {
                return multiplexer;
            }

            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
        }
    }

    private const int MaxConnectAttempts = 3;

    // Generous for a loaded machine: a connection that works answers a PING in milliseconds.
    private static readonly TimeSpan s_pingDeadline = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_probeDeadline = TimeSpan.FromSeconds(10);

    /// <summary>
    /// True when the multiplexer's own connection answers no PING within <see cref="s_pingDeadline"/> while a new
    /// connection to Redis is answered.
    /// </summary>
    private static async Task<bool> IsDeadAsync(ConnectionMultiplexer multiplexer, ConfigurationOptions configuration, RedisCertificateValidation? validation)
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var outcome = PingOutcome.Failed;

        // The first PING can fail at once while the connection settles: asked again until the deadline.
        while (outcome == PingOutcome.Failed && time.GetElapsedTime(started) is var elapsed && elapsed < s_pingDeadline)
        {
            outcome = await RedisPing.PingAsync(multiplexer, s_pingDeadline - elapsed, time, CancellationToken.None);
            if (outcome == PingOutcome.Failed)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), time);
            }
        }

        return outcome != PingOutcome.Answered && await RedisRefusalProbe.AnswersAsync(configuration, validation, s_probeDeadline, CancellationToken.None);
    }

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
