using Cortex.Shared.Queue;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Tests.Queue;

public class QueueOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_Succeed()
    {
        var result = new QueueOptionsValidator().Validate(null, new QueueOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Name", "", "must be a non-empty name")]
    [InlineData("Name", "my{queue}", "without braces or spaces")]
    [InlineData("Name", "my queue", "without braces or spaces")]
    [InlineData("ConsumerTimeout", "00:00:00.500", "must be")]
    [InlineData("ConsumerTimeout", "02:00:00", "must be")]
    [InlineData("HeartbeatInterval", "00:00:05", "at most a third of Cortex:Queue:ConsumerTimeout")]
    [InlineData("HeartbeatInterval", "00:00:00.010", "must be")]
    [InlineData("MaintenanceInterval", "00:00:00", "must be")]
    [InlineData("MaxDeliveries", "0", "must be 1 to 100 (was 0)")]
    [InlineData("MaxDeliveries", "101", "must be 1 to 100 (was 101)")]
    [InlineData("IdempotencyWindow", "00:00:30", "must be")]
    [InlineData("IdempotencyWindow", "31.00:00:00", "must be")]
    [InlineData("HighWeight", "0", "must be 1 to 100 (was 0)")]
    [InlineData("NormalWeight", "101", "must be 1 to 100 (was 101)")]
    [InlineData("LowWeight", "-1", "must be 1 to 100 (was -1)")]
    public void Validate_BadValue_FailsNamingTheFullKey(string key, string value, string phrase)
    {
        var options = Bind(new Dictionary<string, string?> { ["Cortex:Queue:" + key] = value });

        var result = new QueueOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failure = Assert.Single(result.Failures!, f => f.StartsWith("Cortex:Queue:" + key + " ", StringComparison.Ordinal));
        Assert.Contains(phrase, failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadValues_ReportsEveryOne()
    {
        var options = new QueueOptions { MaxDeliveries = 0, HighWeight = 0, Name = "{x}" };

        var result = new QueueOptionsValidator().Validate(null, options);

        Assert.Equal(3, result.Failures!.Count());
    }

    [Fact]
    public void AddCortexQueue_BadConfiguration_FailsWhenOptionsAreResolved()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Cortex:Queue:MaxDeliveries"] = "0" })
            .Build();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddCortexQueue()
            .AddCortexQueue()
            .BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<QueueOptions>>().Value);

        // Registered once although AddCortexQueue ran twice: one failure, not two.
        Assert.Equal("Cortex:Queue:MaxDeliveries must be 1 to 100 (was 0)", Assert.Single(ex.Failures));
    }

    private static QueueOptions Bind(Dictionary<string, string?> values)
    {
        var options = new QueueOptions();
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(QueueOptions.Section).Bind(options);
        return options;
    }
}
