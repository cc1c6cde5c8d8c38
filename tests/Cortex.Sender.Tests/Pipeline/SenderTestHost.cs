using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cortex.Sender.Gateways;
using Cortex.Sender.Metrics;
using Cortex.Sender.Pipeline;
using Cortex.Shared.Client;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;
using Cortex.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>The real sender wiring (AddCortexSender) against a real Redis, with a scripted gateway and fast timings.</summary>
internal sealed class SenderTestHost : IAsyncDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private bool _started;
    private bool _stopped;

    private SenderTestHost(IHost host)
    {
        Host = host;
        Queue = host.Services.GetRequiredService<IMessageQueue>();
        Client = host.Services.GetRequiredService<CortexClient>();
        Engine = host.Services.GetRequiredService<SenderEngine>();
        Gate = host.Services.GetRequiredService<SendGate>();
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this host's meter: other tests run senders in parallel in the same process.
            if (instrument.Meter.Name == SenderMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _counters.AddOrUpdate(instrument.Name, value, (_, old) => old + value));
        _listener.Start();
    }

    public IHost Host { get; }

    public IMessageQueue Queue { get; }

    public CortexClient Client { get; }

    public SenderEngine Engine { get; }

    public SendGate Gate { get; }

    public long Counter(string name) => _counters.TryGetValue(name, out var v) ? v : 0;

    public static SenderTestHost Create(RedisFixture redis, IWhatsAppGateway? gateway = null, IDictionary<string, string?>? overrides = null, ILoggerProvider? logs = null, Func<IMessageQueue, IMessageQueue>? decorateQueue = null, TimeProvider? time = null) =>
        Create(redis.Server, gateway, overrides, logs, decorateQueue, time);

    /// <param name="decorateQueue">Wraps the real Redis queue the sender uses, e.g. to count its calls.</param>
    /// <param name="time">The sender's clock (the system clock when null).</param>
    public static SenderTestHost Create(RedisServer redis, IWhatsAppGateway? gateway = null, IDictionary<string, string?>? overrides = null, ILoggerProvider? logs = null, Func<IMessageQueue, IMessageQueue>? decorateQueue = null, TimeProvider? time = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Cortex:Redis:Configuration"] = redis.Configuration,
            ["Cortex:Queue:Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex:Queue:MaintenanceInterval"] = "00:00:00.050",
            ["Cortex:Queue:HeartbeatInterval"] = "00:00:00.100",
            ["Cortex:Queue:ConsumerTimeout"] = "00:00:03", // well above any stall of a loaded CI box, so a live test sender is never taken for dead
            ["Cortex:Gateway:Type"] = "Fake",
            ["Cortex:Gateway:Name"] = "g" + Guid.NewGuid().ToString("N")[..10],
            ["Cortex:Sender:Workers"] = "8",
            ["Cortex:Sender:Prefetch"] = "32",
            ["Cortex:Sender:IdlePollMax"] = "00:00:00.020",
            ["Cortex:Sender:ShutdownTimeout"] = "00:00:05",
            ["Cortex:Resilience:ShortRetries"] = "0",
            ["Cortex:Retry:BaseDelay"] = "00:00:00.050",
            ["Cortex:Retry:Factor"] = "1",
            ["Cortex:Retry:MaxDelay"] = "00:00:00.050",
            ["Cortex:Retry:Jitter"] = "0",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(logs is null ? LogLevel.Warning : LogLevel.Trace);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        if (gateway is not null)
        {
            builder.Services.AddSingleton(gateway);
        }

        if (time is not null)
        {
            // Registered before AddCortexSender, whose TryAdd then keeps this one.
            builder.Services.AddSingleton(time);
        }

        if (decorateQueue is not null)
        {
            // Registered before AddCortexSender, whose TryAdd then keeps this one.
            builder.Services.AddSingleton(sp => decorateQueue(ActivatorUtilities.CreateInstance<RedisMessageQueue>(sp)));
        }

        builder.Services.AddCortexSender();
        return new SenderTestHost(builder.Build());
    }

    public async Task StartAsync()
    {
        _started = true;
        await Host.StartAsync();
    }

    public async Task StopAsync()
    {
        _stopped = true;
        await Host.StopAsync();
    }

    public static Envelope Message(string id, string? text = "Olá, sua fatura vence amanhã") => new()
    {
        Id = id,
        To = "+5511987654321",
        Text = text,
        Kind = "billing_reminder",
    };

    /// <summary>Waits for an observable state of the queue or gateway; the bound only turns a hang into a failure.</summary>
    public static async Task WaitForAsync(Func<Task<bool>> condition, string what, int timeoutSeconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (!await HoldsAsync(condition))
        {
            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }

    // While Redis restarts, the state cannot be read yet: that is "not yet", not a failure.
    private static async Task<bool> HoldsAsync(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (StackExchange.Redis.RedisException)
        {
            return false;
        }
    }

    public async Task WaitUntilDrainedAsync(int timeoutSeconds = 30)
    {
        QueueStats? last = null;
        try
        {
            await WaitForAsync(async () => (last = await Queue.GetStatsAsync()).Pending == 0, "queue drained", timeoutSeconds);
        }
        catch (TimeoutException ex)
        {
            // Say where the messages are stuck, so a failure in CI can be read without a rerun.
            throw new TimeoutException($"{ex.Message}; last seen {last}; busy workers {Engine.BusyWorkers}, buffered {Engine.Buffered}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_started && !_stopped)
        {
            await Host.StopAsync();
        }

        Host.Dispose();
        _listener.Dispose();
    }
}
