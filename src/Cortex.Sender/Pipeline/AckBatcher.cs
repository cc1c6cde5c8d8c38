using System.Threading.Channels;
using Cortex.Shared.Queue;

namespace Cortex.Sender.Pipeline;

/// <summary>
/// Collects acks from the workers and writes them in batches, one Redis round trip per batch. The channel is
/// unbounded in type but bounded in fact: every ack stands for a leased message, and leases are bounded by
/// the prefetch plus the workers. It also knows which message ids it has not written yet (<see cref="IsPending"/>).
/// </summary>
internal sealed class AckBatcher
{
    private readonly Channel<AckItem> _channel = Channel.CreateUnbounded<AckItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IMessageQueue _queue;
    private readonly string _consumerId;
    private readonly int _batchSize;
    private readonly Func<Func<Task>, string, Task> _persist;
    private readonly Action<int> _onLost;

    // Message ids with an ack not yet written, and how many of their acks; guarded by itself.
    private readonly Dictionary<string, int> _pending = new(StringComparer.Ordinal);
    private Task? _run;

    public AckBatcher(IMessageQueue queue, string consumerId, int batchSize, Func<Func<Task>, string, Task> persist, Action<int> onLost)
    {
        _queue = queue;
        _consumerId = consumerId;
        _batchSize = batchSize;
        _persist = persist;
        _onLost = onLost;
    }

    public void Add(AckItem item)
    {
        lock (_pending)
        {
            _pending[item.MessageId] = _pending.GetValueOrDefault(item.MessageId) + 1;
        }

        _channel.Writer.TryWrite(item);
    }

    /// <summary>
    /// True while an ack of this message id waits to be written: this pod sent it (or found it sent), and Redis does not
    /// know yet. A lease of the same id meanwhile is one recovered from this pod while it stood still or was unheard.
    /// </summary>
    public bool IsPending(string messageId)
    {
        lock (_pending)
        {
            return _pending.ContainsKey(messageId);
        }
    }

    public void Start() => _run = RunAsync();

    /// <summary>Writes every pending ack, then stops.</summary>
    public Task CompleteAsync()
    {
        _channel.Writer.TryComplete();
        return _run ?? Task.CompletedTask;
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<AckItem>(_batchSize);

        // No cancellation: a sent message must be acked, or it would be sent again. CompleteAsync ends the loop.
        while (await reader.WaitToReadAsync())
        {
            while (batch.Count < _batchSize && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var lost = 0;
            await _persist(async () => lost = await _queue.AckAsync(_consumerId, batch), "ack");
            if (lost > 0)
            {
                _onLost(lost);
            }

            lock (_pending)
            {
                foreach (var item in batch)
                {
                    if (_pending[item.MessageId] == 1)
                    {
                        _pending.Remove(item.MessageId);
                    }
                    else
                    {
                        _pending[item.MessageId]--;
                    }
                }
            }

            batch.Clear();
        }
    }
}
