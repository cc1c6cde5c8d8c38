using Cortex.Cli.Tests.Infrastructure;
using Cortex.Testing;

namespace Cortex.Cli.Tests;

/// <summary>The command line itself: help, version, usage errors, configuration and unreachable servers.</summary>
[Collection(QueueCollection.Name)]
public sealed class CliTests(CliFixture fixture)
{
    [Fact]
    public async Task Help_Root_ListsEveryVerbTheConfigurationAndTheExitCodes()
    {
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var verb in new[] { "enqueue", "stats", "dlq", "migrate", "jobs", "campaign" })
        {
            Assert.Contains("  " + verb + " ", result.Out, StringComparison.Ordinal);
        }

        Assert.Contains("Cortex__Redis__Configuration", result.Out, StringComparison.Ordinal);
        Assert.Contains("69  Redis or PostgreSQL unreachable", result.Out, StringComparison.Ordinal);
        Assert.Contains("78  bad configuration", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_Subcommand_ShowsItsOptionsAndNotes()
    {
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("dlq", "requeue", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--older-than <age>", result.Out, StringComparison.Ordinal);
        Assert.Contains("--dry-run", result.Out, StringComparison.Ordinal);
        Assert.Contains("Each entry moves atomically", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_CampaignCreate_NamesTheDefaultTenantInWords()
    {
        // The default tenant is the empty name: --template's help read "(tenant's, else the default '')".
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("campaign", "create", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("the --tenant's row, else the default tenant's", System.Text.RegularExpressions.Regex.Replace(result.Out, @"\s+", " "), StringComparison.Ordinal);
        Assert.DoesNotContain("''", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_PrintsTheVersion()
    {
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("--version");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("1.0.0", result.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("dlq")]
    [InlineData("stats", "--jsn")]
    [InlineData("enqueue", "--priority", "urgent", "--to", "+5511987654321", "--text", "x")]
    public async Task Parse_UsageError_ExitsTwoWithTheErrorAndWhereToLook(params string[] args)
    {
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("--help'", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    [Fact]
    public async Task Stats_BadQueueName_Exits78NamingTheKey()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = fixture.Redis.Configuration, QueueName = "bad name" };

        var result = await cli.RunAsync("stats");

        Assert.Equal(78, result.ExitCode);
        Assert.Contains("Cortex:Queue:Name", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_MisspeltKeyInTheEnvironment_Exits78WithTheNearestKey()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = fixture.Redis.Configuration };
        cli.Environment["Cortex__Queue__Nmae"] = "cortex";

        var result = await cli.RunAsync("stats");

        Assert.Equal(78, result.ExitCode);
        Assert.Contains("Cortex:Queue:Nmae is not a setting (did you mean Cortex:Queue:Name?)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_ConfigurationFromTheEnvironment_IsUsedWithoutOptions()
    {
        var queue = RedisFixture.UniqueQueueName();
        var cli = new CliDriver(new FakeTimeProvider());
        cli.Environment["Cortex__Redis__Configuration"] = fixture.Redis.Configuration;
        cli.Environment["Cortex__Queue__Name"] = queue;

        var result = await cli.RunAsync("stats", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"\"queue\": \"{queue}\"", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_RedisUnreachable_Exits69NamingTheEndpointNotThePassword()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = "127.0.0.1:1,password=s3cret,connectTimeout=200" };

        var result = await cli.RunAsync("stats");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("Redis is unreachable at 127.0.0.1:1", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_RedisAndPostgres_PointAtTheEnvironmentForPasswords()
    {
        // The help showed `host:port[,password=...]`: a password typed there is in ps and the shell's history.
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("stats", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.DoesNotContain("password=...", result.Out, StringComparison.Ordinal);
        Assert.Contains("Cortex__Redis__Password", result.Out, StringComparison.Ordinal);
        Assert.Contains("Cortex__Postgres__ConnectionString in the environment", result.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:1,password=s3cret,connectTimeout=200")]
    [InlineData("127.0.0.1:1,connectTimeout=200, Password=s3cret")]
    public async Task Stats_PasswordInRedisOption_WarnsOnStderrAndStillRuns(string redis)
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = redis };

        var result = await cli.RunAsync("stats");

        // A warning, not a refusal: the verb goes on (here to an unreachable Redis), and the password is not repeated.
        Assert.Equal(69, result.ExitCode);
        Assert.Contains("warning: --redis holds a password", result.Error, StringComparison.Ordinal);
        Assert.Contains("set Cortex__Redis__Password in the environment instead", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("warning", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_RedisOptionWithoutPassword_NoWarning()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = fixture.Redis.Configuration, QueueName = RedisFixture.UniqueQueueName() };

        var result = await cli.RunAsync("stats", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("warning: --redis", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_PasswordOnlyInTheEnvironment_NoWarning()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Redis = "127.0.0.1:1,connectTimeout=200" };
        cli.Environment["Cortex__Redis__Password"] = "s3cret";

        var result = await cli.RunAsync("stats");

        Assert.Equal(69, result.ExitCode);
        Assert.DoesNotContain("warning", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Port=1;Username=postgres;Password=s3cret;Timeout=2")]
    [InlineData("host=127.0.0.1;port=1;username=postgres;password=s3cret;timeout=2")]
    [InlineData("Host=127.0.0.1;Port=1;Username=postgres;PWD=s3cret;Timeout=2")]
    public async Task Migrate_PasswordInPostgresOption_WarnsOnStderrAndStillRuns(string postgres)
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = postgres };

        var result = await cli.RunAsync("migrate");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("warning: --postgres holds a password", result.Error, StringComparison.Ordinal);
        Assert.Contains("set Cortex__Postgres__ConnectionString in the environment instead", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_PostgresOptionWithoutPassword_NoWarning()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2" };

        var result = await cli.RunAsync("migrate");

        Assert.Equal(69, result.ExitCode);
        Assert.DoesNotContain("warning", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_NoConnectionString_Exits78NamingTheKey()
    {
        var result = await new CliDriver(new FakeTimeProvider()).RunAsync("migrate");

        Assert.Equal(78, result.ExitCode);
        Assert.Contains("Cortex:Postgres:ConnectionString is required", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_PostgresUnreachable_Exits69()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = "Host=127.0.0.1;Port=1;Username=postgres;Password=s3cret;Timeout=2" };

        var result = await cli.RunAsync("migrate");

        Assert.Equal(69, result.ExitCode);
        // No Database in the string: the endpoint read "127.0.0.1:1/", as if something were cut off.
        Assert.Contains("PostgreSQL is unreachable at 127.0.0.1:1: ", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_PostgresUnreachableWithADatabase_NamesIt()
    {
        var cli = new CliDriver(new FakeTimeProvider()) { Postgres = "Host=127.0.0.1;Port=1;Database=cortex;Username=postgres;Password=s3cret;Timeout=2" };

        var result = await cli.RunAsync("migrate");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("PostgreSQL is unreachable at 127.0.0.1:1/cortex: ", result.Error, StringComparison.Ordinal);
    }
}
