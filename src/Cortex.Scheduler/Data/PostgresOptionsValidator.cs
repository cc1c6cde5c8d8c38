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
            // The message names the bad keyword, never the value (which may be the password).
            check.Require(false, nameof(options.ConnectionString), "is not a valid Npgsql connection string: " + ex.Message);
        }

        return check.ToResult();
    }
}
