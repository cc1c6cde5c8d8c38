namespace Cortex.LoadTests;

/// <summary>Runs the real sender (AddCortexSender) in this process with the given configuration.</summary>
internal static class SenderHost
{
    public static IHost Build(IDictionary<string, string?> configuration, LogLevel minimumLevel = LogLevel.Warning)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(minimumLevel);
        builder.Services.AddCortexSender();
        return builder.Build();
    }
}
