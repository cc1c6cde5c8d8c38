using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Cortex.Scheduler.Data;

internal sealed class PostgresOptionsValidator : IValidateOptions<PostgresOptions>
{
    public ValidateOptionsResult Validate(string? name, PostgresOptions options)
    {
        var check = new OptionsCheck(PostgresOptions.Section)
            .Range(nameof(options.CommandTimeout), options.CommandTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return check.Require(false, nameof(options.ConnectionString), "is required, e.g. Host=postgres;Database=cortex;Username=cortex;Password=...").ToResult();
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
            check.Require(!string.IsNullOrEmpty(builder.Host), nameof(options.ConnectionString), "must name a Host");
        }
        catch (ArgumentException ex)
        {
            // Npgsql's message names the keyword it could not set, not its value. But in Password=ab;cd=ef the rest of a
            // password holding an unquoted ';' reads as a keyword: where a password is given, nothing of the string is shown.
            var detail = options.ConnectionString.Contains("password", StringComparison.OrdinalIgnoreCase)
                || options.ConnectionString.Contains("pwd", StringComparison.OrdinalIgnoreCase)
                    ? "a keyword is unknown or a value is not valid (a value holding ';' must be quoted: Password='ab;cd')"
                    : ex.Message;
            check.Require(false, nameof(options.ConnectionString), "is not a valid Npgsql connection string: " + detail);
        }

        return check.ToResult();
    }
}
