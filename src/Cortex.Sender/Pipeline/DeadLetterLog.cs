using System.Globalization;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// The sender's dead-letter log lines, at most <see cref="SenderOptions.DeadLetterLogLimit"/> a second. A producer that
/// pushes thousands of malformed envelopes would otherwise get a line written for each: CPU taken from sending, and log
/// volume someone pays for. Past the limit, dead letters are counted by reason and summed up in one line when the second
/// is over (at the next dead letter, the next maintenance tick, or the stop). Nothing is lost: each one is in the
/// dead-letter list with its detail, and in <c>cortex_sender_dead_lettered_total</c>.
/// </summary>
internal sealed class DeadLetterLog(ILogger logger, TimeProvider time, int limit)
{
    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(1);
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, int> _unlogged = new(StringComparer.Ordinal);
    private long _windowStart = time.GetTimestamp();
    private int _logged;

    /// <summary>Logs one dead letter (the number already masked), or counts it when this second's lines are used up.</summary>
    public void Write(string? messageId, string? traceId, string to, string reason, string detail)
    {
        Summary? summary;
        bool log;
        lock (_lock)
        {
            summary = Roll(force: false);
            log = _logged < limit;
            if (log)
            {
                _logged++;
            }
            else
            {
                _unlogged[reason] = _unlogged.GetValueOrDefault(reason) + 1;
            }
        }

        summary?.Write(logger, limit);
        if (log)
        {
            SenderLog.DeadLettered(logger, messageId, traceId, to, reason, detail);
        }
    }

    /// <summary>Writes the summary of a second that is over; <paramref name="final"/> (at the stop) writes it whatever the time.</summary>
    public void Flush(bool final = false)
    {
        Summary? summary;
        lock (_lock)
        {
            summary = Roll(force: final);
        }

        summary?.Write(logger, limit);
    }

    // Starts a new second once the current one is over, returning what the last one left unlogged.
    private Summary? Roll(bool force)
    {
        var now = time.GetTimestamp();
        var elapsed = time.GetElapsedTime(_windowStart, now);
        if (!force && elapsed < s_window)
        {
            return null;
        }

        Summary? summary = _unlogged.Count == 0 ? null : new Summary(_unlogged.Values.Sum(), [.. _unlogged], elapsed);
        _unlogged.Clear();
        _logged = 0;
        _windowStart = now;
        return summary;
    }

    private sealed record Summary(int Count, KeyValuePair<string, int>[] Reasons, TimeSpan Over)
    {
        public void Write(ILogger logger, int limit) => SenderLog.DeadLettersNotLogged(
            logger,
            Count,
            Over.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
            limit,
            string.Join(", ", Reasons.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Key} {r.Value}"))));
    }
}
