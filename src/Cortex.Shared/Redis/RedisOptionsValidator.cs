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
