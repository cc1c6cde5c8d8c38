using System.Threading.Channels;
using BenchmarkDotNet.Attributes;

namespace Cortex.Benchmarks;

/// <summary>
/// The fetcher-to-worker hand-off as SenderEngine builds it: a bounded channel of Prefetch (256) items, FullMode Wait,
/// one writer, <see cref="Readers"/> workers running the runtime's consumer loop. Per item: one write and one read.
/// </summary>
/// <remarks>
/// An invocation writes <see cref="ItemsPerInvoke"/> items (the writer waits whenever the channel is full, as the
/// fetcher does) and returns when the readers have taken the last one, so each row is the cost of moving one message
/// from the fetcher to a worker, wake-ups included; it cannot return before every item was read (it returns the count of
/// invocations whose items were all read, which the wiring test checks). The item is one
/// preallocated object (building it is admission's work), and the readers do nothing else, so they contend for the
/// channel far more than workers busy with a gateway call do: an upper bound on the hand-off's cost.
/// </remarks>
[MemoryDiagnoser]
public class ChannelHandOffBenchmarks
{
    public const int ItemsPerInvoke = 1_000;
    private const int Prefetch = 256;

    private static readonly object s_item = new();

    private Channel<object> _channel = Channel.CreateBounded<object>(1);
    private Task[] _readers = [];
    private int _remaining;
    private int _handedOff;
    private TaskCompletionSource _allRead = new();
    private TaskCompletionSource? _lastItemGate;

    [Params(1, 4, 32)]
    public int Readers { get; set; } = 4;

    [GlobalSetup]
    public void GlobalSetup()
    {
        _channel = Channel.CreateBounded<object>(new BoundedChannelOptions(Prefetch)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
            SingleReader = false,
        });
        _readers = [.. Enumerable.Range(0, Readers).Select(_ => Task.Run(ReadLoopAsync))];
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _channel.Writer.TryComplete();
        Task.WaitAll(_readers);
    }

    /// <summary>
    /// For the wiring test: the reader that takes an invocation's last item completes <see cref="LastItemTaken"/> and
    /// waits for this before it counts the invocation handed off, so a test can hold an invocation with every item read
    /// but the hand-off not yet complete. Null (the benchmark) costs one read on the last item only.
    /// </summary>
    internal TaskCompletionSource? LastItemGate
    {
        get => Volatile.Read(ref _lastItemGate);
        set => Volatile.Write(ref _lastItemGate, value);
    }

    /// <summary>Completed when a reader took the last item of an invocation while <see cref="LastItemGate"/> was set.</summary>
    internal TaskCompletionSource LastItemTaken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// One invocation; returns how many invocations the readers had finished (each took its last item) when it returned:
    /// this one's included, or the invocation returned before its items were read.
    /// </summary>
    [Benchmark(OperationsPerInvoke = ItemsPerInvoke)]
    public async Task<int> WriteAndRead()
    {
        var allRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _allRead, allRead);
        Volatile.Write(ref _remaining, ItemsPerInvoke);
        var writer = _channel.Writer;
        for (var i = 0; i < ItemsPerInvoke; i++)
        {
            await writer.WriteAsync(s_item);
        }

        await allRead.Task;
        return Volatile.Read(ref _handedOff);
    }

    private async Task ReadLoopAsync()
    {
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out _))
            {
                if (Interlocked.Decrement(ref _remaining) == 0)
                {
                    if (LastItemGate is { } gate)
                    {
                        LastItemTaken.TrySetResult();
                        await gate.Task;
                    }

                    Interlocked.Increment(ref _handedOff);
                    Volatile.Read(ref _allRead).TrySetResult();
                }
            }
        }
    }
}
