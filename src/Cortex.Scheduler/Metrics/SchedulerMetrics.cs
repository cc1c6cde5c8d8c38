using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Shared.Metrics;
using Npgsql;

namespace Cortex.Scheduler.Metrics;

/// <summary>
/// The scheduler's instruments (meter "Cortex.Scheduler"): job runs, durations and messages pushed, plus the outbox
/// backlog and the progress of running campaigns, read from PostgreSQL before each scrape.
/// </summary>
public sealed class SchedulerMetrics : IMetricsSource
{
    public const string MeterName = "Cortex.Scheduler";

    // Not "job": Prometheus owns that label (the scrape target) and would rename ours to exported_job.
    private const string JobLabel = "quartz_job";

    private static readonly string[] s_jobs = [BillingReminderJob.JobName, FollowUpJob.JobName, CampaignJob.JobName, OutboxRepairJob.JobName];

    private readonly NpgsqlDataSource _dataSource;
    private readonly DispatchLedger _ledger;
    private readonly TimeProvider _time;
    private readonly Counter<long> _runs;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _enqueued;
    private readonly Counter<long> _withdrawn;
    private readonly Counter<long> _invalidRows;
    private readonly ConcurrentDictionary<string, double> _lastSuccess = new(StringComparer.Ordinal);
    private volatile Snapshot? _last;

    public SchedulerMetrics(IMeterFactory meterFactory, NpgsqlDataSource dataSource, DispatchLedger ledger, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _dataSource = dataSource;
        _ledger = ledger;
        _time = timeProvider;
        var meter = meterFactory.Create(MeterName);
        _runs = meter.CreateCounter<long>("cortex.scheduler.job.runs", "{run}", "Job executions on this node, by Quartz job and outcome (success, failure).");
        _duration = meter.CreateHistogram<double>("cortex.scheduler.job.duration", "s", "Time of one job execution, by job.");
        _enqueued = meter.CreateCounter<long>("cortex.scheduler.enqueued", "{message}", "Messages pushed to Redis, by job.");
        _withdrawn = meter.CreateCounter<long>("cortex.scheduler.withdrawn", "{message}", "Messages taken out of the queue before they were sent (held for quiet hours, or waiting in a backlog), by kind and reason.");
        _invalidRows = meter.CreateCounter<long>("cortex.scheduler.invalid_rows", "{row}", "Source rows skipped because they make no valid message (warning 2001: a bad phone, a value the template needs missing or blank), by job; counted by each run that meets them.");
        meter.CreateObservableGauge("cortex.scheduler.job.last_success.timestamp", ObserveLastSuccess, "s", "Unix time this node last finished each job without error.");
        meter.CreateObservableGauge("cortex.scheduler.outbox.pending", ObservePending, "{message}", "Ledger rows committed but not yet pushed to Redis.");
        meter.CreateObservableGauge("cortex.scheduler.campaign.recipients", ObserveCampaigns, "{recipient}", "Recipients of running campaign runs, by campaign and state (total, enqueued, skipped).");

        // Zero series from the start: increase() cannot see the first failure of a series that did not exist before it.
        foreach (var job in s_jobs)
        {
            _runs.Add(0, new(JobLabel, job), new("outcome", "success"));
            _runs.Add(0, new(JobLabel, job), new("outcome", "failure"));
        }

        foreach (var job in s_jobs.Where(j => j != OutboxRepairJob.JobName))
        {
            _invalidRows.Add(0, new KeyValuePair<string, object?>(JobLabel, job));
        }
    }

    /// <summary>Counts messages withdrawn before they were sent (<see cref="DispatchLedger.WithdrawUnwantedAsync"/>).</summary>
    public void Withdrawn(IReadOnlyList<Withdrawal> withdrawn)
    {
        ArgumentNullException.ThrowIfNull(withdrawn);
        foreach (var group in withdrawn.GroupBy(w => (w.Kind, w.Reason)))
        {
            _withdrawn.Add(group.Count(), new("kind", group.Key.Kind), new("reason", group.Key.Reason));
        }
    }

    /// <summary>Counts the source rows a run of <paramref name="job"/> skipped because they make no valid message.</summary>
    public void InvalidRows(string job, int rows)
    {
        if (rows > 0)
        {
            _invalidRows.Add(rows, new KeyValuePair<string, object?>(JobLabel, job));
        }
    }

    /// <summary>Records one finished run; <paramref name="enqueued"/> is what it pushed to Redis.</summary>
    public void JobRun(string job, bool succeeded, TimeSpan elapsed, int enqueued)
    {
        var jobTag = new KeyValuePair<string, object?>(JobLabel, job);
        _duration.Record(elapsed.TotalSeconds, jobTag);
        if (enqueued > 0)
        {
            _enqueued.Add(enqueued, jobTag);
        }

        if (succeeded)
        {
            _lastSuccess[job] = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        }

        // Counted last: a scrape that sees the run also sees its duration and its pushes. Its success time is an observable
        // gauge, read at the start of a scrape: one that began as the run ended can show the run without it, and the next
        // shows both.
        _runs.Add(1, jobTag, new("outcome", succeeded ? "success" : "failure"));
    }

    public async Task CollectAsync(CancellationToken cancellationToken)
    {
        // Cleared only when this collection fails (PostgreSQL away: no series, not stale ones), as QueueMetrics does: a
        // scrape starting meanwhile cleared the snapshot another scrape had just collected and was about to write.
        try
        {
            var pending = await _ledger.CountPendingAsync(cancellationToken);
            var campaigns = new List<(long Campaign, int Total, int Enqueued, int Skipped)>();

            // Running runs only: a campaign's series leave when its run completes, so the label set stays small.
            await using var command = _dataSource.CreateCommand(
                "SELECT campaign_id, sum(total)::int, sum(enqueued)::int, sum(skipped)::int FROM cortex.campaign_runs WHERE status = 'running' GROUP BY campaign_id");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                campaigns.Add((reader.GetInt64(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3)));
            }

            _last = new Snapshot(pending, campaigns);
        }
        catch
        {
            _last = null;
            throw;
        }
    }

    private IEnumerable<Measurement<double>> ObserveLastSuccess() =>
        _lastSuccess.Select(p => new Measurement<double>(p.Value, new KeyValuePair<string, object?>(JobLabel, p.Key)));

    private IEnumerable<Measurement<long>> ObservePending()
    {
        if (_last is { } last)
        {
            yield return new(last.OutboxPending);
        }
    }

    private IEnumerable<Measurement<long>> ObserveCampaigns()
    {
        if (_last is not { } last)
        {
            yield break;
        }

        foreach (var (campaign, total, enqueued, skipped) in last.Campaigns)
        {
            var id = new KeyValuePair<string, object?>("campaign", campaign);
            yield return new(total, id, new("state", "total"));
            yield return new(enqueued, id, new("state", "enqueued"));
            yield return new(skipped, id, new("state", "skipped"));
        }
    }

    private sealed record Snapshot(long OutboxPending, List<(long Campaign, int Total, int Enqueued, int Skipped)> Campaigns);
}
