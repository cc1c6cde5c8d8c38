using System.Collections.Concurrent;

namespace Cortex.Shared.Metrics;

/// <summary>
/// Keeps a metric label's values bounded: the first <c>limit</c> distinct values pass through, later ones become
/// "other". Envelope kinds come from producers, and one that put an id in its kind must not explode Prometheus.
/// The indexer admits a new value while there is room; <see cref="Known"/> never does, for counts that anyone who can
/// push can cause (a dead letter at admission costs a producer nothing), so they cannot take the slots of real values.
/// </summary>
public sealed class BoundedLabel(int limit)
{
    public const string None = "none";
    public const string Other = "other";

    private readonly ConcurrentDictionary<string, byte> _seen = new(StringComparer.Ordinal);

    public string this[string? value]
    {
        get
        {
            if (string.IsNullOrEmpty(value))
            {
                return None;
            }

            if (_seen.ContainsKey(value))
            {
                return value;
            }

            // Racing threads may let a value or two past the limit; the bound stays small, which is what matters.
            if (_seen.Count < limit)
            {
                _seen.TryAdd(value, 0);
                return value;
            }

            return Other;
        }
    }

    /// <summary>The value if the indexer has admitted it already, else "other" ("none" when empty); claims no slot.</summary>
    public string Known(string? value) =>
        string.IsNullOrEmpty(value) ? None : _seen.ContainsKey(value) ? value : Other;
}
