using Cortex.Shared.Metrics;

namespace Cortex.Shared.Tests.Metrics;

public class PrometheusNamingTests
{
    // Dashboards and alerts query these names: a change here silently empties them.
    [Theory]
    [InlineData("counter", "dotnet.process.cpu.time", "s", "dotnet_process_cpu_time_seconds_total")]
    [InlineData("counter", "cortex.sender.sent", "{message}", "cortex_sender_sent_total")]
    [InlineData("counter", "cortex.requests.total", null, "cortex_requests_total")]
    [InlineData("counter", "cortex.wait.seconds.total", "s", "cortex_wait_seconds_total")]
    [InlineData("counter", "cortex.attempts", "1", "cortex_attempts_total")]
    [InlineData("counter", "dotnet.gc.heap.total_allocated", "By", "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("gauge", "cortex.sender.utilization", "1", "cortex_sender_utilization_ratio")]
    [InlineData("gauge", "cortex.hit_ratio", "1", "cortex_hit_ratio")]
    [InlineData("gauge", "cortex.queue.age_seconds", "s", "cortex_queue_age_seconds")]
    [InlineData("gauge", "cortex.latency", "ms", "cortex_latency_milliseconds")]
    [InlineData("gauge", "dotnet.process.memory.working_set", "By", "dotnet_process_memory_working_set_bytes")]
    [InlineData("gauge", "dotnet.timer.count", "{timer}", "dotnet_timer_count_current")]
    [InlineData("gauge", "cortex.batch.sum", null, "cortex_batch_sum_current")]
    [InlineData("gauge", "Cortex.Queue-Depth", null, "cortex_queue_depth")]
    [InlineData("gauge", "cortex:depth", null, "cortex_depth")]
    [InlineData("histogram", "cortex.sender.send.duration", "s", "cortex_sender_send_duration_seconds")]
    [InlineData("histogram", "cortex.batch.size", "{message}", "cortex_batch_size")]
    [InlineData("histogram", "cortex.retry.count", "1", "cortex_retry_count")]
    [InlineData("counter", "2xx.responses", null, "_2xx_responses_total")]
    public void MetricName_InstrumentNameUnitAndType_PrometheusName(string type, string name, string? unit, string expected)
    {
        Assert.Equal(expected, PrometheusNaming.MetricName(name, unit, type));
    }
}
