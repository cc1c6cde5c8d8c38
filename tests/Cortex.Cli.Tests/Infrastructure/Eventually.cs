namespace Cortex.Cli.Tests.Infrastructure;

/// <summary>Waits for a condition another process makes true, polling it, with a hang guard rather than a fixed sleep.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        var deadline = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(deadline) > timeout)
            {
                Assert.Fail($"not true within {timeout.TotalSeconds} s: {describe()}");
            }

            await Task.Delay(100);
        }
    }
}
