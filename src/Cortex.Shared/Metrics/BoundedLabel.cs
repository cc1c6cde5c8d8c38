using System.Collections.Concurrent;

namespace Cortex.Shared.Metrics;

/// <summary>
/// Keeps a metric label's values bounded: the first <c>limit</c> distinct values pass through, later ones become
/// "other". Envelope kinds come from producers, and one that put an id in its kind must not explode Prometheus.
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
}
