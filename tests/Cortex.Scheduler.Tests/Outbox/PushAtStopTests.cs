using Cortex.Scheduler.Outbox;

namespace Cortex.Scheduler.Tests.Outbox;

/// <summary>
/// A stop while a campaign or billing batch is being pushed: a push Redis answered must be committed, whenever the stop
/// came, or the next run pushes the batch a second time. <see cref="DispatchLedger.AwaitPushAsync"/> decides.
/// </summary>
public sealed class PushAtStopTests
{
    [Fact]
    public async Task AwaitPush_AnsweredBetweenTheStopAndTheWaitNoticingIt_CountsAsAnswered()
    {
        // The wait resumes on a context the test runs by hand, so the push is answered after the stop and before the wait
        // looks at it, as a loaded machine can order them. A SIGTERM mid-campaign once pushed a batch twice so, in CI.
        var context = new ManualContext();
        var push = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        var wait = context.Run(() => DispatchLedger.AwaitPushAsync(push.Task, stop.Token));

        await stop.CancelAsync();
        push.SetResult();
        context.RunPosted();

        // Completed, not cancelled: the caller commits the batch.
        Assert.True(wait.IsCompletedSuccessfully, $"the wait ended {wait.Status}: {wait.Exception?.InnerException?.Message}");
    }

    [Fact]
    public async Task AwaitPush_FailedAfterTheStop_FailsTheBatch()
    {
        // A push Redis refused is not committed: its rows stay pending for the next run.
        var push = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        var wait = DispatchLedger.AwaitPushAsync(push.Task, stop.Token);

        await stop.CancelAsync();
        push.SetException(new InvalidOperationException("refused"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
        Assert.Equal("refused", error.Message);
    }

    /// <summary>Holds what is posted to it until <see cref="RunPosted"/>.</summary>
    private sealed class ManualContext : SynchronizationContext
    {
        private readonly Queue<(SendOrPostCallback Callback, object? State)> _posted = new();

        public override void Post(SendOrPostCallback d, object? state) => _posted.Enqueue((d, state));

        public T Run<T>(Func<T> action)
        {
            var previous = Current;
            SetSynchronizationContext(this);
            try
            {
                return action();
            }
            finally
            {
                SetSynchronizationContext(previous);
            }
        }

        public void RunPosted()
        {
            Assert.NotEmpty(_posted);
            while (_posted.TryDequeue(out var posted))
            {
                Run(() =>
                {
                    posted.Callback(posted.State);
                    return 0;
                });
            }
        }
    }
}
