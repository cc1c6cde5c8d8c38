using System.Security.Cryptography;
using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

internal sealed class RedisOptionsValidator : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions options)
    {
        var check = new OptionsCheck(RedisOptions.Section);
        string? error = null;
        ConfigurationOptions? parsed = null;
        try
        {
            parsed = ConfigurationOptions.Parse(options.Configuration ?? string.Empty);
            if (parsed.EndPoints.Count == 0)
            {
                error = "names no endpoint (expected host:port[,password=...][,ssl=true])";
            }
            else if (HasEndpointAfterPassword(options.Configuration ?? string.Empty))
            {
                // "host:6379,password=Tr0ub4dor,horse-battery": the parser cuts the password at the comma and takes the
                // rest for a Redis address, which it resolves and connects to, and which every message about Redis names.
                error = $"has an endpoint after password=: a password holding ',' is cut there and its rest taken for a Redis address. List the endpoints first, and set a password holding ',' in {RedisOptions.Section}:{nameof(RedisOptions.Password)} instead (this string cannot hold one)";
            }
        }
        catch (ArgumentException)
        {
            // Not the parser's message: a password holding "," splits into pieces the parser would quote back.
            error = "is not a valid StackExchange.Redis configuration string (expected host:port[,password=...][,ssl=true]; check option names)";
        }

        check.Require(error is null, nameof(options.Configuration), error ?? string.Empty);

        // The value itself is never repeated: it is a secret, and this message is printed at start.
        var password = options.Password ?? string.Empty;
        check.Require(
            !password.Any(char.IsControl) && password.Trim().Length == password.Length,
            nameof(options.Password),
            "must not start or end with spaces or contain control characters (a trailing newline from a secret file?)");

        var caFile = options.TlsCaCertificateFile ?? string.Empty;
        if (caFile.Length > 0)
        {
            check.Require(
                parsed is null || parsed.Ssl,
                nameof(options.TlsCaCertificateFile),
                "is set but Cortex:Redis:Configuration does not turn TLS on: add ssl=true to it");
            check.Require(File.Exists(caFile), nameof(options.TlsCaCertificateFile), $"names no readable file (was '{caFile}')");
            if (File.Exists(caFile))
            {
                check.Require(HoldsCertificates(caFile), nameof(options.TlsCaCertificateFile), $"holds no PEM certificate (was '{caFile}')");
            }
        }

        check.Range(nameof(options.DeadConnectionTimeout), options.DeadConnectionTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10));
        return check.ToResult();
    }

    /// <summary>
    /// True when a piece of the string without "=" (an endpoint, to StackExchange.Redis) comes after a password=. The
    /// parser splits at every ',' and takes each piece without '=' as an address, so that is where a password holding a
    /// comma goes; listed before the password, endpoints are as they always were.
    /// </summary>
    internal static bool HasEndpointAfterPassword(string configuration)
    {
        var afterPassword = false;
        foreach (var piece in configuration.Split(','))
        {
            var option = piece.Trim();
            if (option.Length == 0)
            {
                continue;
            }

            var equals = option.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                // The parser's rule: "=x" is no option either.
                if (afterPassword)
                {
                    return true;
                }
            }
            else if (option[..equals].Trim().Equals("password", StringComparison.OrdinalIgnoreCase))
            {
                afterPassword = true;
            }
        }

        return false;
    }

    private static bool HoldsCertificates(string path)
    {
        try
        {
            return RedisCertificateValidation.LoadAuthorities(path).Count > 0;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
