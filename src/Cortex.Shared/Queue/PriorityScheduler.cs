using Cortex.Shared.Contract;

namespace Cortex.Shared.Queue;

/// <summary>
/// Smooth weighted round robin over the three priorities: splits each fetch into per-priority quotas so that,
/// while every list has work, high:normal:low get their weights' share, and low is never starved, even when
/// fetches are of one message. Spare quota of an empty list is filled from the others in priority order.
/// </summary>
internal sealed class PriorityScheduler
{
    private readonly int[] _weights;
    private readonly int _total;
    private readonly int[] _current = new int[3];
    private readonly Lock _lock = new();

    public PriorityScheduler(int high, int normal, int low)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(high, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(normal, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(low, 1);
        _weights = [high, normal, low];
        _total = high + normal + low;
    }

    public (int High, int Normal, int Low) NextQuotas(int count)
    {
        Span<int> quotas = stackalloc int[3];
        lock (_lock)
        {
            for (var n = 0; n < count; n++)
            {
                var best = 0;
                for (var i = 0; i < 3; i++)
                {
                    _current[i] += _weights[i];
                    if (_current[i] > _current[best])
                    {
                        best = i;
                    }
                }

                _current[best] -= _total;
                quotas[best]++;
            }
        }

        return (quotas[(int)Priority.High], quotas[(int)Priority.Normal], quotas[(int)Priority.Low]);
    }
}
