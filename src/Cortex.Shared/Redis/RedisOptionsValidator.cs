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
        try
        {
            var parsed = ConfigurationOptions.Parse(options.Configuration ?? string.Empty);
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

        return check.Require(error is null, nameof(options.Configuration), error ?? string.Empty).ToResult();
    }
}
