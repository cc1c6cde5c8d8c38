namespace Cortex.LoadTests.Tests;

/// <summary>The harness's process logs: deleted after a scenario that passed (each run of make test left some twenty).</summary>
public class ProcessLogsTests
{
    [Fact]
    public async Task Delete_LogsOfProcessesStartedInTheScenarioAndItsTasks_AreDeletedAndAnotherScenariosAreNot()
    {
        var logs = ProcessLogs.Collect();
        var here = Path.GetTempFileName();
        ProcessLogs.Add(here);
        var inTask = await Task.Run(() =>
        {
            // A scenario starts senders from tasks of its own (K1's killer, the scale-out's pods).
            var path = Path.GetTempFileName();
            ProcessLogs.Add(path);
            return path;
        });
        var other = await Task.Run(() =>
        {
            // Another scenario's flow collects its own.
            _ = ProcessLogs.Collect();
            var path = Path.GetTempFileName();
            ProcessLogs.Add(path);
            return path;
        });

        Assert.Equal([here, inTask], logs.Paths);
        Assert.Null(logs.Settle(passed: true));

        Assert.False(File.Exists(here));
        Assert.False(File.Exists(inTask));
        Assert.True(File.Exists(other));
        File.Delete(other);
    }

    [Fact]
    public void Settle_ScenarioThatFailed_KeepsItsLogsAndNamesThem()
    {
        var logs = ProcessLogs.Collect();
        var path = Path.GetTempFileName();
        ProcessLogs.Add(path);

        Assert.Equal("its processes' logs are kept: " + path, logs.Settle(passed: false));
        Assert.True(File.Exists(path));
        File.Delete(path);
    }
}
