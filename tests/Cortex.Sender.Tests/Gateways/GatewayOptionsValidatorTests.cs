using Cortex.Sender.Gateways;
using static Cortex.Sender.Tests.Gateways.GatewayTestData;

namespace Cortex.Sender.Tests.Gateways;

public sealed class GatewayOptionsValidatorTests
{
    private static readonly Uri s_evolutionUrl = new("http://evolution.internal:8080/");

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(new GatewayOptionsValidator().Validate(null, new GatewayOptions()).Succeeded);
    }

    [Fact]
    public void Validate_CompleteEvolutionAndCloud_Succeeds()
    {
        Assert.True(new GatewayOptionsValidator().Validate(null, Evolution(s_evolutionUrl)).Succeeded);
        Assert.True(new GatewayOptionsValidator().Validate(null, Cloud(new Uri("https://graph.facebook.com"))).Succeeded);
    }

    [Theory]
    [InlineData("evolution without api key", "Cortex:Gateway:Evolution:ApiKey is required when Cortex:Gateway:Type is Evolution")]
    [InlineData("evolution without instance", "Cortex:Gateway:Evolution:Instance is required when Cortex:Gateway:Type is Evolution")]
    [InlineData("evolution without base url", "Cortex:Gateway:Evolution:BaseUrl is required when Cortex:Gateway:Type is Evolution")]
    [InlineData("evolution ftp base url", "Cortex:Gateway:Evolution:BaseUrl is required when Cortex:Gateway:Type is Evolution")]
    [InlineData("evolution key with newline", "Cortex:Gateway:Evolution:ApiKey must be printable ASCII")]
    [InlineData("evolution key with a byte order mark", "Cortex:Gateway:Evolution:ApiKey must be printable ASCII")]
    [InlineData("evolution key with an accented letter", "Cortex:Gateway:Evolution:ApiKey must be printable ASCII")]
    [InlineData("cloud token with a zero-width space", "Cortex:Gateway:Cloud:AccessToken must be printable ASCII")]
    [InlineData("cloud without token", "Cortex:Gateway:Cloud:AccessToken is required when Cortex:Gateway:Type is Cloud")]
    [InlineData("cloud without phone number id", "Cortex:Gateway:Cloud:PhoneNumberId is required when Cortex:Gateway:Type is Cloud")]
    [InlineData("cloud phone number instead of id", "Cortex:Gateway:Cloud:PhoneNumberId is required when Cortex:Gateway:Type is Cloud")]
    [InlineData("cloud bad api version", "Cortex:Gateway:Cloud:ApiVersion must look like v21.0")]
    [InlineData("timeout too short", "Cortex:Gateway:Timeout must be 00:00:00.1000000 to 00:05:00")]
    [InlineData("timeout too long", "Cortex:Gateway:Timeout must be 00:00:00.1000000 to 00:05:00")]
    [InlineData("name with capitals", "Cortex:Gateway:Name must match [a-z0-9_.-]{1,64}")]
    [InlineData("name empty", "Cortex:Gateway:Name must match [a-z0-9_.-]{1,64}")]
    [InlineData("name too long", "Cortex:Gateway:Name must match [a-z0-9_.-]{1,64}")]
    [InlineData("unknown type", "Cortex:Gateway:Type must be Fake, Evolution or Cloud")]
    [InlineData("negative permanent rate", "Cortex:Gateway:Fake:PermanentFailureRate must be 0 to 1")]
    [InlineData("retryable rate above one", "Cortex:Gateway:Fake:RetryableFailureRate must be 0 to 1")]
    [InlineData("throttle rate NaN", "Cortex:Gateway:Fake:ThrottleRate must be 0 to 1")]
    [InlineData("rates add up above one", "Cortex:Gateway:Fake:PermanentFailureRate + Cortex:Gateway:Fake:RetryableFailureRate + Cortex:Gateway:Fake:ThrottleRate must add up to at most 1")]
    [InlineData("negative latency", "Cortex:Gateway:Fake:Latency must be")]
    public void Validate_BadConfiguration_FailsNamingTheFullKey(string scenario, string expected)
    {
        var options = Bad(scenario);

        var result = new GatewayOptionsValidator().Validate(null, options);

        Assert.True(result.Failed, scenario);
        Assert.Contains(result.Failures!, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BadSecrets_NeverEchoesThem()
    {
        var evolution = Evolution(s_evolutionUrl);
        evolution.Evolution.ApiKey = "sk live with spaces\n";
        var cloud = Cloud(new Uri("https://graph.facebook.com"));
        cloud.Cloud.AccessToken = "EAAG token\r\n";

        var failures = new GatewayOptionsValidator().Validate(null, evolution).Failures!
            .Concat(new GatewayOptionsValidator().Validate(null, cloud).Failures!);

        Assert.NotEmpty(failures);
        Assert.All(failures, f => Assert.DoesNotContain("sk live", f, StringComparison.Ordinal));
        Assert.All(failures, f => Assert.DoesNotContain("EAAG", f, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_EvolutionFieldsMissingWhileTypeIsFake_Succeeds()
    {
        var options = new GatewayOptions { Type = GatewayType.Fake, Evolution = new EvolutionOptions() };

        Assert.True(new GatewayOptionsValidator().Validate(null, options).Succeeded);
    }

    private static GatewayOptions Bad(string scenario)
    {
        var evolution = Evolution(s_evolutionUrl);
        var cloud = Cloud(new Uri("https://graph.facebook.com"));
        var fake = new GatewayOptions();
        switch (scenario)
        {
            case "evolution without api key": evolution.Evolution.ApiKey = ""; return evolution;
            case "evolution without instance": evolution.Evolution.Instance = " "; return evolution;
            case "evolution without base url": evolution.Evolution.BaseUrl = null; return evolution;
            case "evolution ftp base url": evolution.Evolution.BaseUrl = new Uri("ftp://evolution.internal/"); return evolution;
            case "evolution key with newline": evolution.Evolution.ApiKey = "abc123\n"; return evolution;
            case "evolution key with a byte order mark": evolution.Evolution.ApiKey = "\uFEFFabc123"; return evolution;
            case "evolution key with an accented letter": evolution.Evolution.ApiKey = "chave-sécreta"; return evolution;
            case "cloud token with a zero-width space": cloud.Cloud.AccessToken = "EAAGabc\u200B123"; return cloud;
            case "cloud without token": cloud.Cloud.AccessToken = ""; return cloud;
            case "cloud without phone number id": cloud.Cloud.PhoneNumberId = ""; return cloud;
            case "cloud phone number instead of id": cloud.Cloud.PhoneNumberId = "+5511999999999"; return cloud;
            case "cloud bad api version": cloud.Cloud.ApiVersion = "latest"; return cloud;
            case "timeout too short": fake.Timeout = TimeSpan.FromMilliseconds(50); return fake;
            case "timeout too long": fake.Timeout = TimeSpan.FromMinutes(10); return fake;
            case "name with capitals": fake.Name = "Main Gateway"; return fake;
            case "name empty": fake.Name = ""; return fake;
            case "name too long": fake.Name = new string('a', 65); return fake;
            case "unknown type": fake.Type = (GatewayType)42; return fake;
            case "negative permanent rate": fake.Fake.PermanentFailureRate = -0.1; return fake;
            case "retryable rate above one": fake.Fake.RetryableFailureRate = 1.5; return fake;
            case "throttle rate NaN": fake.Fake.ThrottleRate = double.NaN; return fake;
            case "rates add up above one":
                fake.Fake.PermanentFailureRate = 0.5;
                fake.Fake.RetryableFailureRate = 0.4;
                fake.Fake.ThrottleRate = 0.2;
                return fake;
            case "negative latency": fake.Fake.Latency = TimeSpan.FromMilliseconds(-1); return fake;
            default: throw new ArgumentOutOfRangeException(nameof(scenario), scenario, null);
        }
    }
}
