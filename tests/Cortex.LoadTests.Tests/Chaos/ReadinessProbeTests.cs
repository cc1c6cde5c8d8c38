using System.Diagnostics;
using Cortex.LoadTests;
using Cortex.LoadTests.Chaos;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Cortex.LoadTests.Tests.Chaos;

/// <summary>
/// What K4..K4c's readiness checks rest on: a 503 the sender gives only when its health check gives up (3 s on a silent
/// Redis) is heard as a 503, and a /health/ready that never answers is a probe timeout, never "not ready".
/// </summary>
public class ReadinessProbeTests
{
    // Timers (HttpClient's timeout, Task.Delay) may end a millisecond or so before the Stopwatch says their time is up:
    // a fresh-clone CI run saw a 5 s timeout recorded at 4.9992 s.
    private static readonly TimeSpan s_timerSlack = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task FirstAfter_503AfterTheHealthCheckTimeout_IsHeardAsNotReadyNotAsATimeout()
    {
        // A health check waiting on a Redis that does not answer: 503 when its 3 s timeout ends.
        var healthCheckTimeout = new Cortex.Shared.Hosting.ObservabilityOptions().HealthCheckTimeout;
        await using var probe = ReadinessProbe.OnFreePort();
        var start = Stopwatch.GetTimestamp();
        var (app, secondPoll) = await StandInAsync(probe.Port, async context =>
        {
            await Task.Delay(healthCheckTimeout, context.RequestAborted);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        });
        await using var _ = app;

        // The probe polls one request at a time: a second one means the first answer was kept.
        await secondPoll.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(probe.FirstAfter(start, ProbeOutcome.TimedOut));
        Assert.True(probe.FirstAfter(start, ProbeOutcome.NotReady) >= healthCheckTimeout - s_timerSlack, $"first 503 after {probe.FirstAfter(start, ProbeOutcome.NotReady)}");
    }

    [Fact]
    public async Task FirstAfter_ReadinessThatNeverAnswers_IsATimeoutNeverNotReady()
    {
        await using var probe = ReadinessProbe.OnFreePort();
        var start = Stopwatch.GetTimestamp();
        var (app, secondPoll) = await StandInAsync(probe.Port, context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var _ = app;

        await secondPoll.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(probe.FirstAfter(start, ProbeOutcome.NotReady));
        Assert.True(probe.FirstAfter(start, ProbeOutcome.TimedOut) >= ReadinessProbe.Timeout - s_timerSlack, $"first timeout after {probe.FirstAfter(start, ProbeOutcome.TimedOut)}");
    }

    /// <summary>A /health/ready on the probe's port; the task completes when the probe's second request arrives.</summary>
    private static async Task<(WebApplication App, Task SecondPoll)> StandInAsync(int port, Func<HttpContext, Task> answer)
    {
        var polls = 0;
        var secondPoll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (app, _) = await LoopbackServer.StartAsync(
            app => app.MapGet("/health/ready", async context =>
            {
                if (Interlocked.Increment(ref polls) == 2)
                {
                    secondPoll.TrySetResult();
                }

                try
                {
                    await answer(context);
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    // The probe gave up on this request.
                }
            }),
            new Uri($"http://127.0.0.1:{port}"));
        return (app, secondPoll.Task);
    }
}
