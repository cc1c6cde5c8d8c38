using Cortex.Testing;
using Cortex.Sender.RateLimiting;
using Cortex.Sender.Resilience;
using Cortex.Sender.Retry;
using Cortex.Shared.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests;

/// <summary>Every sender option section: a bad value fails naming its full key, and the process exits 78 saying so.</summary>
public class OptionsValidationTests
{
    // Hang guard only: a host that starts despite a bad configuration is stopped through ApplicationStarted long before this.

    [Fact]
    public void Validate_Defaults_Succeed()
    {
        AssertSucceeds(new SenderOptionsValidator().Validate(null, new SenderOptions()));
        AssertSucceeds(new RetryOptionsValidator().Validate(null, new RetryOptions()));
        AssertSucceeds(new RateLimitOptionsValidator().Validate(null, new RateLimitOptions()));
        AssertSucceeds(new ResilienceOptionsValidator().Validate(null, new ResilienceOptions()));
    }

    [Theory]
    [InlineData("Workers", "0", "must be 1 to 4096 (was 0)")]
    [InlineData("Workers", "4097", "must be 1 to 4096 (was 4097)")]
    [InlineData("Prefetch", "0", "must be 1 to 100000 (was 0)")]
    [InlineData("Prefetch", "100001", "must be 1 to 100000 (was 100001)")]
    [InlineData("LeaseBatchSize", "0", "must be 1 to 1000 (was 0)")]
    [InlineData("LeaseBatchSize", "1001", "must be 1 to 1000 (was 1001)")]
    [InlineData("AckBatchSize", "0", "must be 1 to 5000 (was 0)")]
    [InlineData("AckBatchSize", "5001", "must be 1 to 5000 (was 5001)")]
    [InlineData("IdlePollMin", "00:00:00", "must be")]
    [InlineData("IdlePollMin", "00:00:11", "must be")]
    [InlineData("IdlePollMax", "00:01:01", "must be")]
    [InlineData("IdlePollMax", "00:00:00.001", "must not be shorter than Cortex:Sender:IdlePollMin")]
    [InlineData("ShutdownTimeout", "-00:00:01", "must be")]
    [InlineData("ShutdownTimeout", "00:10:01", "must be")]
    [InlineData("ConfigurationErrorPause", "00:00:00.500", "must be")]
    [InlineData("ConfigurationErrorPause", "01:00:01", "must be")]
    [InlineData("MaxThrottleRetries", "-1", "must be 0 to 100 (was -1)")]
    [InlineData("MaxThrottleRetries", "101", "must be 0 to 100 (was 101)")]
    [InlineData("DeadLetterLogLimit", "0", "must be 1 to 100000 (was 0)")]
    [InlineData("DeadLetterLogLimit", "100001", "must be 1 to 100000 (was 100001)")]
    [InlineData("ConsumerId", "pod 1", "must be 1 to 128 characters without spaces")]
    [InlineData("ConsumerId", "", "must be 1 to 128 characters without spaces")]
    public void SenderOptionsValidator_BadValue_FailsNamingTheFullKey(string key, string value, string phrase) =>
        AssertFailsNaming(new SenderOptionsValidator(), SenderOptions.Section, key, value, phrase);

    [Fact]
    public void SenderOptionsValidator_ConsumerIdOf129Characters_FailsNamingTheFullKey() =>
        AssertFailsNaming(new SenderOptionsValidator(), SenderOptions.Section, "ConsumerId", new string('a', 129), "must be 1 to 128 characters");

    [Theory]
    [InlineData("BaseDelay", "00:00:00.009", "must be")]
    [InlineData("BaseDelay", "1.00:00:01", "must be")]
    [InlineData("Factor", "0.5", "must be 1 to 100 (was 0.5)")]
    [InlineData("Factor", "101", "must be 1 to 100 (was 101)")]
    [InlineData("Factor", "NaN", "(was NaN)")]
    [InlineData("MaxDelay", "7.00:00:01", "must be")]
    [InlineData("MaxDelay", "00:01:00", "must not be shorter than Cortex:Retry:BaseDelay")]
    [InlineData("MaxAttempts", "0", "must be 1 to 100 (was 0)")]
    [InlineData("MaxAttempts", "101", "must be 1 to 100 (was 101)")]
    [InlineData("Jitter", "-0.1", "must be 0 to 0.9 (was -0.1)")]
    [InlineData("Jitter", "0.95", "must be 0 to 0.9 (was 0.95)")]
    public void RetryOptionsValidator_BadValue_FailsNamingTheFullKey(string key, string value, string phrase) =>
        AssertFailsNaming(new RetryOptionsValidator(), RetryOptions.Section, key, value, phrase);

    [Theory]
    [InlineData("PodPermitsPerSecond", "-1", "must be 0 to 1000000 (was -1)")]
    [InlineData("PodPermitsPerSecond", "1000001", "must be 0 to 1000000 (was 1000001)")]
    [InlineData("PodPermitsPerSecond", "NaN", "(was NaN)")]
    [InlineData("PodBurst", "0", "must be 1 to 1000000 (was 0)")]
    [InlineData("GlobalPermitsPerSecond", "-0.5", "must be 0 to 1000000 (was -0.5)")]
    [InlineData("GlobalPermitsPerSecond", "Infinity", "must be 0 to 1000000")]
    [InlineData("GlobalBurst", "0", "must be 1 to 1000000 (was 0)")]
    [InlineData("GlobalBurst", "1000001", "must be 1 to 1000000 (was 1000001)")]
    [InlineData("ThrottlePause", "00:00:00.009", "must be")]
    [InlineData("ThrottlePause", "00:10:01", "must be")]
    public void RateLimitOptionsValidator_BadValue_FailsNamingTheFullKey(string key, string value, string phrase) =>
        AssertFailsNaming(new RateLimitOptionsValidator(), RateLimitOptions.Section, key, value, phrase);

    [Theory]
    [InlineData("ShortRetries", "-1", "must be 0 to 10 (was -1)")]
    [InlineData("ShortRetries", "11", "must be 0 to 10 (was 11)")]
    [InlineData("ShortRetryDelay", "-00:00:00.001", "must be")]
    [InlineData("ShortRetryDelay", "00:01:01", "must be")]
    [InlineData("FailureRatio", "0", "must be 0.01 to 1 (was 0)")]
    [InlineData("FailureRatio", "1.5", "must be 0.01 to 1 (was 1.5)")]
    [InlineData("SamplingDuration", "00:00:00.499", "must be")]
    [InlineData("SamplingDuration", "1.00:00:01", "must be")]
    [InlineData("MinimumThroughput", "1", "must be 2 to 100000 (was 1)")]
    [InlineData("MinimumThroughput", "100001", "must be 2 to 100000 (was 100001)")]
    [InlineData("BreakDuration", "00:00:00.499", "must be")]
    [InlineData("BreakDuration", "1.00:00:01", "must be")]
    public void ResilienceOptionsValidator_BadValue_FailsNamingTheFullKey(string key, string value, string phrase) =>
        AssertFailsNaming(new ResilienceOptionsValidator(), ResilienceOptions.Section, key, value, phrase);

    [Fact]
    public void RateLimitOptionsValidator_LimitsOff_Succeed()
    {
        // 0 turns a limit off; it is the default and must stay valid.
        var options = Bind<RateLimitOptions>(RateLimitOptions.Section, new() { ["PodPermitsPerSecond"] = "0", ["GlobalPermitsPerSecond"] = "0" });

        AssertSucceeds(new RateLimitOptionsValidator().Validate(null, options));
    }

    [Fact]
    public void SenderOptionsValidator_SeveralBadValues_ReportsEveryOne()
    {
        var result = new SenderOptionsValidator().Validate(null, new SenderOptions { Workers = 0, Prefetch = 0, AckBatchSize = 0 });

        Assert.Equal(
            ["Cortex:Sender:Workers", "Cortex:Sender:Prefetch", "Cortex:Sender:AckBatchSize"],
            result.Failures!.Select(f => f[..f.IndexOf(' ', StringComparison.Ordinal)]));
    }

    [Theory]
    [InlineData("Cortex:Sender:Workers", "0", "Cortex:Sender:Workers must be 1 to 4096 (was 0)")]
    [InlineData("Cortex:Retry:MaxAttempts", "0", "Cortex:Retry:MaxAttempts must be 1 to 100 (was 0)")]
    [InlineData("Cortex:RateLimit:GlobalBurst", "0", "Cortex:RateLimit:GlobalBurst must be 1 to 1000000 (was 0)")]
    [InlineData("Cortex:Resilience:FailureRatio", "2", "Cortex:Resilience:FailureRatio must be 0.01 to 1 (was 2)")]
    [InlineData("Cortex:Sender:ShutdownTimeout", "00:11:00", "Cortex:Sender:ShutdownTimeout must be")]
    [InlineData("Cortex:Queue:MaxDeliveries", "0", "Cortex:Queue:MaxDeliveries must be 1 to 100 (was 0)")]
    public async Task CortexHostRunAsync_InvalidValue_Exits78NamingTheKey(string key, string value, string expected)
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { [key] = value });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CortexHostRunAsync_UnknownKey_Exits78NamingTheKey()
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { ["Cortex:Sender:Wrokers"] = "4" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Sender:Wrokers is not a setting (did you mean Cortex:Sender:Workers?)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CortexHostRunAsync_MisspelledSection_Exits78InsteadOfIgnoringIt()
    {
        // Silently ignored, this typo would run production on the fake gateway.
        var (exitCode, output) = await RunSenderHostAsync(new() { ["Cortex:Gatway:Type"] = "Evolution" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Gatway is not a Cortex section (did you mean Cortex:Gateway?)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CortexHostRunAsync_UnknownNestedKey_Exits78NamingTheFullKey()
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { ["Cortex:Gateway:Evolution:ApiKye"] = "secret-value" });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("Cortex:Gateway:Evolution:ApiKye is not a setting (did you mean Cortex:Gateway:Evolution:ApiKey?)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Cortex:Sender:Workers", "many")]
    [InlineData("Cortex:Sender:ShutdownTimeout", "20s")]
    [InlineData("Cortex:Retry:Factor", "five")]
    public async Task CortexHostRunAsync_ValueOfTheWrongType_Exits78NamingTheKey(string key, string value)
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { [key] = value });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains(key, output, StringComparison.Ordinal);
    }

    // .NET reads a bare number as days: BaseDelay=1, meant as a second or a minute, retried a day later, and the sender
    // started without a word.
    [Theory]
    [InlineData("Cortex:Retry:BaseDelay", "1", "1 day: write a duration as hh:mm:ss or d.hh:mm:ss (00:00:01 is 1 s, 00:01:00 1 min, 1.00:00:00 1 day)")]
    [InlineData("Cortex:Retry:MaxDelay", "2", "2 days: write a duration")]
    [InlineData("Cortex:Resilience:BreakDuration", "1", "1 day: write a duration")]
    [InlineData("Cortex:Queue:IdempotencyWindow", "30", "30 days: write a duration")]
    [InlineData("Cortex:Sender:ShutdownTimeout", "0", "0 days: write a duration as hh:mm:ss or d.hh:mm:ss (00:30:00 is 30 min, 1.00:00:00 one day)")]
    public async Task CortexHostRunAsync_DurationAsABareNumber_Exits78SayingItWouldBeDays(string key, string value, string expected)
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { [key] = value });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains($"{key} is '{value}', a bare number, which would be {expected}", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Cortex:Retry:MaxAttempts", "0", "Cortex:RateLimit:PodBurst", "0")]
    [InlineData("Cortex:Sender:Workers", "0", "Cortex:Queue:MaxDeliveries", "0")]
    [InlineData("Cortex:Resilience:FailureRatio", "2", "Cortex:Gateway:Timeout", "00:00:00")]
    public async Task CortexHostRunAsync_BadValuesInTwoSections_Exits78NamingABadKey(string key1, string value1, string key2, string value2)
    {
        var (exitCode, output) = await RunSenderHostAsync(new() { [key1] = value1, [key2] = value2 });

        // The host builds its hosted services (and so the engine's options) before start-up validation runs, so
        // whichever section is read first is the one reported; what matters is the clean exit naming a key.
        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.True(
            output.Contains(key1 + " must", StringComparison.Ordinal) || output.Contains(key2 + " must", StringComparison.Ordinal),
            output);
    }

    [Theory]
    [InlineData("Cortex:Redis", "10.9.9.9:6379", "Cortex:Redis is a section, not a setting")] // Cortex__Redis=…, meant for Cortex__Redis__Configuration
    [InlineData("Cortex:Gateway:Evolution", "http://10.9.9.9:8080", "Cortex:Gateway:Evolution is a section, not a setting")]
    [InlineData("Cortex:Redis:Password:Value", "10.9.9.9:6379", "Cortex:Redis:Password:Value is not a setting (Cortex:Redis:Password is a setting, not a section)")]
    public async Task Start_AValueOnASectionOrAKeyUnderASetting_ExitsNamingItWithoutItsValue(string key, string value, string expected)
    {
        // Bound to nothing, the sender started on the default Redis address and stayed unready, naming no key.
        var (exitCode, output) = await RunSenderHostAsync(new() { [key] = value });

        Assert.Equal(CortexHost.ConfigurationErrorExitCode, exitCode);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain(value, output, StringComparison.Ordinal);
    }

    [Fact]
    public void AddCortexSender_ValidShutdownTimeout_GivesTheHostTimeToDrain()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Cortex:Sender:ShutdownTimeout"] = "00:01:00" });
        builder.Services.AddCortexSender();
        using var host = builder.Build();

        // The sender's own budget plus time to flush acks and return leases.
        Assert.Equal(TimeSpan.FromSeconds(70), host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }

    // As src/Cortex.Sender/Program.cs registers its services.
    private static Task<(int ExitCode, string Output)> RunSenderHostAsync(Dictionary<string, string?> settings) =>
        ConfigErrorHost.RunAsync(services => services.AddCortexSender(), settings);

    private static void AssertFailsNaming<TOptions>(IValidateOptions<TOptions> validator, string section, string key, string value, string phrase)
        where TOptions : class, new()
    {
        var options = Bind<TOptions>(section, new() { [key] = value });

        var result = validator.Validate(null, options);

        Assert.True(result.Failed, $"{section}:{key} = '{value}' was accepted");
        var failure = Assert.Single(result.Failures!, f => f.StartsWith(section + ":" + key + " ", StringComparison.Ordinal));
        Assert.Contains(phrase, failure, StringComparison.Ordinal);
    }

    private static TOptions Bind<TOptions>(string section, Dictionary<string, string?> values)
        where TOptions : class, new()
    {
        var options = new TOptions();
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.ToDictionary(kv => section + ":" + kv.Key, kv => kv.Value))
            .Build()
            .GetSection(section)
            .Bind(options);
        return options;
    }

    private static void AssertSucceeds(ValidateOptionsResult result) => Assert.True(result.Succeeded, result.FailureMessage);
}
