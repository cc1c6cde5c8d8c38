namespace Cortex.Sender;

/// <summary>Worker pool, fetching and shutdown settings (section Cortex:Sender).</summary>
public sealed class SenderOptions
{
    public const string Section = "Cortex:Sender";

    /// <summary>Concurrent sends. With an HTTP gateway, throughput ≈ Workers / gateway latency.</summary>
    public int Workers { get; set; } = 32;

    /// <summary>Leased messages waiting in memory for a worker; the fetcher never leases more than this has room for.</summary>
    public int Prefetch { get; set; } = 256;

    /// <summary>Largest batch leased in one Redis round trip.</summary>
    public int LeaseBatchSize { get; set; } = 100;

    /// <summary>Largest batch of acks written in one Redis round trip.</summary>
    public int AckBatchSize { get; set; } = 256;

    /// <summary>First wait after an empty fetch; doubles up to <see cref="IdlePollMax"/> while the queue stays empty.</summary>
    public TimeSpan IdlePollMin { get; set; } = TimeSpan.FromMilliseconds(2);

    public TimeSpan IdlePollMax { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>On SIGTERM: how long in-flight sends may take to finish before they are cancelled and returned to the queue.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long sending pauses after the gateway says our configuration is wrong (401, unknown instance).</summary>
    public TimeSpan ConfigurationErrorPause { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Throttled answers re-sent in process before the message is deferred through the delayed set.</summary>
    public int MaxThrottleRetries { get; set; } = 5;

    /// <summary>
    /// Dead-letter log lines written per second at most; past it, the rest of the second's dead letters are summed up in
    /// one line. Every dead letter is still in the dead-letter list and counted in the metrics.
    /// </summary>
    public int DeadLetterLogLimit { get; set; } = 20;

    /// <summary>Consumer id in Redis; defaults to host name + random suffix (the pod name on Kubernetes).</summary>
    public string? ConsumerId { get; set; }
}
