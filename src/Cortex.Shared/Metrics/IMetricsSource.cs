namespace Cortex.Shared.Metrics;

/// <summary>
/// Reads state that lives outside the process (Redis queue depth, PostgreSQL outbox) before each scrape, so the
/// observable instruments that report it answer from memory. A source that fails reports nothing for that scrape.
/// </summary>
public interface IMetricsSource
{
    Task CollectAsync(CancellationToken cancellationToken);
}
