using System.Net;
using System.Net.Http.Json;

namespace Cortex.LoadTests.Tests;

/// <summary>
/// Scenario 6 and make perf time a drain to an empty queue; that is a throughput only if every message reached the
/// stand-in. The check reads the stand-in's own count per message.
/// </summary>
public class PerfRunTests
{
    [Fact]
    public async Task Delivery_EachMessageOnce_PassesAndAMissingOrRepeatedOneFails()
    {
        await using var gateway = await FakeHttpGateway.StartAsync(countIndices: 3);
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        async Task SendAsync(int index)
        {
            var number = Workload.BillingReminder(index, TimeProvider.System.GetUtcNow(), new Random(1)).To.TrimStart('+');
            using var response = await http.PostAsJsonAsync("message/sendText/perf", new { number, text = "hello" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        foreach (var index in new[] { 0, 1, 2 })
        {
            await SendAsync(index);
        }

        var once = PerfRun.Delivery(gateway, 3, gateway.Requests);
        Assert.True(once.Passed, once.Measured);

        // A request short (an ack without its send) fails even with the count right.
        var acked = PerfRun.Delivery(gateway, 4, 4);
        Assert.False(acked.Passed);
        Assert.Equal("4 requests · 1 never sent · 0 repeats", acked.Measured);

        await SendAsync(1);
        var twice = PerfRun.Delivery(gateway, 3, gateway.Requests);
        Assert.False(twice.Passed);
        Assert.Equal("4 requests · 0 never sent · 1 repeats", twice.Measured);
        Assert.Equal(0, gateway.OtherNumbers);
    }
}
