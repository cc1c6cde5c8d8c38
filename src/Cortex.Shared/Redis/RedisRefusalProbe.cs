using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>
/// Asks each Redis endpoint once, on a connection of its own, whether it takes Cortex's TLS and password: the start-up
/// verdict "refused or just unreachable", independent of how the client library reports a handshake that failed. The
/// same question tells whether Redis answers a new connection at all (<see cref="AnswersAsync"/>).
/// </summary>
internal static class RedisRefusalProbe
{
    // Generous, for a loaded machine: a refusal costs one round trip and a Redis that is down answers at once, so only a
    // silent address (a firewall that drops) waits this long, once, at start.
    private static readonly TimeSpan s_minimumDeadline = TimeSpan.FromSeconds(10);

    private enum Answer
    {
        NoAnswer,
        NotRefused,
        PasswordRefused,
        TlsRefused,
    }

    /// <summary>Why Redis refuses this configuration, naming the key and never the password; null when it accepts it or does not answer.</summary>
    public static string? Refusal(RedisOptions options, ConfigurationOptions configuration, RedisCertificateValidation? validation) =>
        // Connect is synchronous (a DI factory, the CLI's Lazy), run where no synchronization context waits on it.
        RefusalAsync(options, configuration, validation, CancellationToken.None).GetAwaiter().GetResult();

    /// <inheritdoc cref="Refusal"/>
    public static async Task<string?> RefusalAsync(RedisOptions options, ConfigurationOptions configuration, RedisCertificateValidation? validation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(configuration.ConnectTimeout, s_minimumDeadline.TotalMilliseconds)));
        var answers = await Task.WhenAll(configuration.EndPoints.Select(endpoint => AskAsync(endpoint, configuration, validation, timeout.Token)));
        var (answer, tlsError) = answers.FirstOrDefault(a => a.Answer is Answer.PasswordRefused or Answer.TlsRefused);
        var at = RedisConnectionFactory.DescribeEndpoints(configuration);
        const string Section = RedisOptions.Section;
        return answer switch
        {
            Answer.TlsRefused when validation is null => $"{Section}:{nameof(RedisOptions.Configuration)} turns TLS on, but the TLS handshake with Redis at {at} failed ({tlsError}); if a private CA signs its certificate, set {Section}:{nameof(RedisOptions.TlsCaCertificateFile)}",
            Answer.TlsRefused => $"{Section}:{nameof(RedisOptions.TlsCaCertificateFile)} does not validate the TLS certificate of Redis at {at}: {validation.LastRefusal ?? tlsError}",
            Answer.PasswordRefused when string.IsNullOrEmpty(configuration.Password) => $"{Section}:{nameof(RedisOptions.Password)} is required: Redis at {at} asks for a password and none is configured",
            Answer.PasswordRefused when options.Password.Length > 0 => $"{Section}:{nameof(RedisOptions.Password)} was refused by Redis at {at} (wrong password, or its user is disabled)",
            Answer.PasswordRefused => $"{Section}:{nameof(RedisOptions.Configuration)} holds a password= that Redis at {at} refused (wrong password, or its user is disabled)",
            _ => null,
        };
    }

    /// <summary>True when some endpoint answers a new connection within <paramref name="deadline"/>, whatever it answers (a refusal too: Redis is there).</summary>
    public static async Task<bool> AnswersAsync(ConfigurationOptions configuration, RedisCertificateValidation? validation, TimeSpan deadline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        var answers = await Task.WhenAll(configuration.EndPoints.Select(endpoint => AskAsync(endpoint, configuration, validation, timeout.Token)));
        return answers.Any(a => a.Answer != Answer.NoAnswer);
    }

    private static async Task<(Answer Answer, string? TlsError)> AskAsync(EndPoint endpoint, ConfigurationOptions configuration, RedisCertificateValidation? validation, CancellationToken cancellationToken)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            await using var network = new NetworkStream(socket, ownsSocket: false);
            if (!configuration.Ssl)
            {
                return (await AuthenticateAsync(network, configuration.Password, cancellationToken), null);
            }

            await using var tls = new SslStream(network, leaveInnerStreamOpen: true);
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    // The multiplexer's checks: the private CA's callback, or the machine's trust store; the same host name.
                    TargetHost = configuration.SslHost ?? endpoint switch { DnsEndPoint dns => dns.Host, IPEndPoint ip => ip.Address.ToString(), _ => null },
                    RemoteCertificateValidationCallback = validation is null ? null : validation.Validate,
                    EnabledSslProtocols = configuration.SslProtocols ?? SslProtocols.None,
                },
                cancellationToken);
            return (await AuthenticateAsync(tls, configuration.Password, cancellationToken), null);
        }
        catch (AuthenticationException ex)
        {
            return (Answer.TlsRefused, ex.Message);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            // Down, unreachable or too slow even for this deadline: not a configuration error.
            return (Answer.NoAnswer, null);
        }
    }

    private static async Task<Answer> AuthenticateAsync(Stream stream, string? password, CancellationToken cancellationToken)
    {
        // AUTH <password> as RESP bulk strings (any byte of the UTF-8 password is safe there); PING when there is none,
        // which a Redis with requirepass answers with -NOAUTH.
        byte[] command = "*1\r\n$4\r\nPING\r\n"u8.ToArray();
        if (!string.IsNullOrEmpty(password))
        {
            var secret = Encoding.UTF8.GetBytes(password);
            command = [.. Encoding.ASCII.GetBytes($"*2\r\n$4\r\nAUTH\r\n${secret.Length}\r\n"), .. secret, .. "\r\n"u8];
            CryptographicOperations.ZeroMemory(secret);
        }

        try
        {
            await stream.WriteAsync(command, cancellationToken);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(command);
        }

        var reply = new byte[256];
        var length = 0;
        while (length < reply.Length && !reply.AsSpan(0, length).Contains((byte)'\n'))
        {
            var read = await stream.ReadAsync(reply.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        // Redis 6+ answers a wrong password with -WRONGPASS, older ones with -ERR invalid password; a command before AUTH
        // with -NOAUTH. "-ERR AUTH <password> called without any password configured" is no refusal: that Redis needs
        // none, and StackExchange.Redis carries on after it. Anything else (-LOADING, a closed connection) is not ours to judge.
        var line = Encoding.ASCII.GetString(reply, 0, length);
        return line.StartsWith("-WRONGPASS", StringComparison.Ordinal)
            || line.StartsWith("-NOAUTH", StringComparison.Ordinal)
            || line.StartsWith("-ERR invalid password", StringComparison.Ordinal)
            ? Answer.PasswordRefused
            : length == 0 ? Answer.NoAnswer : Answer.NotRefused;
    }
}
