using Cortex.Scheduler.Outbox;
using Cortex.Testing;

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
        var wait = context.Run(() => DispatchLedger.AwaitPushAsync(push.Task, TimeProvider.System, CancellationToken.None, stop.Token));

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
        var wait = DispatchLedger.AwaitPushAsync(push.Task, TimeProvider.System, CancellationToken.None, stop.Token);

        await stop.CancelAsync();
        push.SetException(new InvalidOperationException("refused"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
        Assert.Equal("refused", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AwaitPush_ConnectionFoundDead_GivesUpWithoutTheGrace(bool verdictBeforeStop)
    {
        // The watchdog found the shared connection dead: the push sent on it will never be answered, and its 5 s of grace
        // after the stop would only hold back the restart. The clock never moves, so a grace wait would never end.
        var push = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        using var dead = new CancellationTokenSource();
        var wait = DispatchLedger.AwaitPushAsync(push.Task, new FakeTimeProvider(), dead.Token, stop.Token);

        // The watchdog's verdict asks for the stop; a SIGTERM can also come first, with the verdict during the grace.
        await (verdictBeforeStop ? dead : stop).CancelAsync();
        await (verdictBeforeStop ? stop : dead).CancelAsync();

        // Not committed: the batch stays pending and the next run pushes it under the same message ids.
        var error = await Assert.ThrowsAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(stop.Token, error.CancellationToken);
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
