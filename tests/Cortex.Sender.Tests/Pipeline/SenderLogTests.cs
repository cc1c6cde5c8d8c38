using System.Reflection;
using Cortex.Sender.Pipeline;
using Cortex.Testing;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>
/// traceId is optional in the envelope, so most messages may come without one: every line that names a message's trace
/// must read as well without it. Thirteen events read "Retrying message charge-8812 (trace (null)) after attempt 1 …".
/// </summary>
public sealed class SenderLogTests : IDisposable
{
    private const string MessageId = "charge-8812";
    private const string TraceId = "4bf92f35";

    private readonly CapturedLogs _logs = new();

    // Every event the sender logs with a message's trace; the theory runs over what reflection finds, and this says it
    // found them all.
    private static readonly int[] s_tracedEvents = [1004, 1005, 1009, 1011, 1012, 1013, 1018, 1023, 1024, 1025, 1026, 1028, 1030, 1033];

    public static TheoryData<string> TracedEvents => [.. LogMethodsWithATrace().Select(m => m.Name)];

    [Fact]
    public void LogMethodsWithATrace_AreEveryEventThatNamesATrace()
    {
        var events = LogMethodsWithATrace().Select(m => Log(m, TraceId).EventId).Order();

        Assert.Equal(s_tracedEvents, events);
    }

    [Theory]
    [MemberData(nameof(TracedEvents))]
    public void Log_AMessageWithoutATrace_LeavesTheTraceOutUnderTheSameEventId(string method)
    {
        var traced = Log(Method(method), TraceId);
        var untraced = Log(Method(method), null);

        Assert.Equal(traced.EventId, untraced.EventId);
        Assert.Contains($"{MessageId} (trace {TraceId})", traced.Message, StringComparison.Ordinal);
        Assert.Contains($"TraceId={TraceId}", traced.Values, StringComparison.Ordinal);

        Assert.DoesNotContain("(null)", untraced.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("TraceId", untraced.Values, StringComparison.Ordinal);
        Assert.Equal(traced.Message.Replace($" (trace {TraceId})", string.Empty, StringComparison.Ordinal), untraced.Message);
    }

    [Fact]
    public void SenderLog_NoPublicEventTakesATraceTheTemplateCannotLeaveOut()
    {
        // A public [LoggerMessage] method with {TraceId} in its template prints "(trace (null))" for a message without
        // one: such an event goes through a public method that picks its traced or untraced template.
        var unguarded = typeof(SenderLog).GetMethods(BindingFlags.Static | BindingFlags.Public)
            .Where(m => m.GetCustomAttribute<LoggerMessageAttribute>()?.Message.Contains("{TraceId}", StringComparison.Ordinal) == true)
            .Select(m => m.Name);

        Assert.Empty(unguarded);
    }

    public void Dispose() => _logs.Dispose();

    private static IEnumerable<MethodInfo> LogMethodsWithATrace() =>
        typeof(SenderLog).GetMethods(BindingFlags.Static | BindingFlags.Public)
            .Where(m => m.GetParameters().Any(p => p.Name == "traceId"));

    private static MethodInfo Method(string name) => LogMethodsWithATrace().Single(m => m.Name == name);

    private (int EventId, string Message, string Values) Log(MethodInfo method, string? traceId)
    {
        var before = _logs.Lines.Count;
        var logger = _logs.CreateLogger("Cortex.Sender.Pipeline.SenderEngine");
        var args = method.GetParameters().Select(p => p.Name switch
        {
            "logger" => (object?)logger,
            "messageId" => MessageId,
            "traceId" => traceId,
            _ when p.ParameterType == typeof(string) => "http 503",
            _ when p.ParameterType == typeof(int) => 2,
            _ when p.ParameterType == typeof(long) => 7L,
            _ when p.ParameterType == typeof(TimeSpan) => TimeSpan.FromSeconds(30),
            _ when p.ParameterType == typeof(Exception) => new InvalidOperationException("boom"),
            _ => throw new InvalidOperationException($"{method.Name}: no test value for {p.ParameterType.Name} {p.Name}"),
        }).ToArray();

        method.Invoke(null, args);

        // CapturedLogs writes "<level> <category>[<event id>] <message> | <structured values> | <exception>".
        var line = Assert.Single(_logs.Lines.Skip(before));
        var open = line.IndexOf('[', StringComparison.Ordinal);
        var close = line.IndexOf("] ", StringComparison.Ordinal);
        var parts = line[(close + 2)..].Split(" | ");
        return (int.Parse(line[(open + 1)..close], System.Globalization.CultureInfo.InvariantCulture), parts[0], parts[1]);
    }
}
