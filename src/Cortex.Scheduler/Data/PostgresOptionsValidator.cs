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
        catch (ArgumentException)
        {
            // Npgsql's message names the keyword it could not set, not its value. But in Password=ab;cd=ef the rest of a
            // password holding an unquoted ';' reads as a keyword (under any of the password's names: Password, PWD,
            // PSW), so nothing of the string is shown.
            check.Require(false, nameof(options.ConnectionString), "is not a valid Npgsql connection string: a keyword is unknown or a value is not valid (keywords such as Host, Port, Database, Username, Password; a value holding ';' must be quoted: Password='ab;cd')");
        }

        return check.ToResult();
    }
}
