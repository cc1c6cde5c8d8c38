using Cortex.Sender.Pipeline;
using Cortex.Shared.Privacy;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

public sealed class DeadLetterLogTests : IDisposable
{
    private readonly CapturedLogs _logs = new();
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Write_MoreThanTheLimitInOneSecond_LogsTheLimitThenSumsUpTheRestByReasonOnceTheSecondIsOver()
    {
        var log = NewLog(limit: 3);
        for (var i = 0; i < 5; i++)
        {
            log.Write("bad-" + i, null, "+55*********21", "invalid_envelope", "to: must be an E.164 number");
        }

        log.Write("old-1", null, "+55*********21", "expired", "expired at …");
        log.Write("old-2", null, "+55*********21", "expired", "expired at …");
        log.Flush();

        Assert.Equal(["bad-0", "bad-1", "bad-2"], Lines(1004).Select(l => l.Split(' ')[4]));
        Assert.Empty(Lines(1015));

        _time.Advance(TimeSpan.FromSeconds(1));
        log.Flush();

        var summary = Assert.Single(Lines(1015));
        Assert.Contains("4 more dead letters in the last 1.0 s were not logged one by one (at most 3 lines a second): expired 2, invalid_envelope 2.", summary, StringComparison.Ordinal);
        Assert.Equal(3, Lines(1004).Count);
    }

    [Fact]
    public void Write_InTheNextSecond_SumsUpTheLastOneFirstThenLogsLinesAgain()
    {
        var log = NewLog(limit: 1);
        log.Write("a", null, "+55*********21", "invalid_envelope", "first");
        log.Write("b", null, "+55*********21", "invalid_envelope", "second");

        _time.Advance(TimeSpan.FromMilliseconds(1500));
        log.Write("c", null, "+55*********21", "permanent_failure", "third");

        var lines = _logs.Lines.ToList();
        Assert.Equal(3, lines.Count);
        Assert.Contains("[1004] Dead-lettered message a ", lines[0], StringComparison.Ordinal);
        Assert.Contains("[1015] 1 more dead letters in the last 1.5 s", lines[1], StringComparison.Ordinal);
        Assert.Contains("[1004] Dead-lettered message c ", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public void Flush_WithinTheLimit_WritesNoSummary()
    {
        var log = NewLog(limit: 2);
        log.Write("a", null, "+55*********21", "invalid_envelope", "first");
        log.Write("b", null, "+55*********21", "invalid_envelope", "second");
        _time.Advance(TimeSpan.FromSeconds(5));
        log.Flush();
        log.Flush(final: true);

        Assert.Equal(2, Lines(1004).Count);
        Assert.Empty(Lines(1015));
    }

    [Fact]
    public void Flush_Final_SumsUpAtOnceWithoutWaitingForTheSecondToEnd()
    {
        var log = NewLog(limit: 1);
        log.Write("a", null, "+55*********21", "invalid_envelope", "first");
        log.Write("b", null, "+55*********21", "poison", "second");
        _time.Advance(TimeSpan.FromMilliseconds(200));

        log.Flush(final: true);

        Assert.Contains("1 more dead letters in the last 0.2 s", Assert.Single(Lines(1015)), StringComparison.Ordinal);
    }

    [Fact]
    public void Write_APayloadWithNoReadableEnvelope_SaysSoInsteadOfPrintingNulls()
    {
        // What the sender passes for a payload that is not a valid envelope (or over the size limit): no id, no trace,
        // and PhoneMask.Mask(null), which is empty. It read "message (null) (trace (null)) to : invalid_envelope: …".
        var log = NewLog(limit: 5);
        log.Write(null, null, PhoneMask.Mask(null), "invalid_envelope", "to: must be an E.164 number");

        var message = Message(Assert.Single(Lines(1004)));
        Assert.Equal("Dead-lettered a payload with no readable id (not a valid envelope: no trace or number to show either): invalid_envelope: to: must be an E.164 number", message);
    }

    [Fact]
    public void Write_AMessageWithoutATrace_LeavesTheTraceOutAndKeepsTheMaskedNumber()
    {
        var log = NewLog(limit: 5);
        log.Write("charge-8812", null, PhoneMask.Mask("+5511987654321"), "expired", "expired at …");
        log.Write("charge-8813", "4bf92f35", PhoneMask.Mask("+5511987654321"), "expired", "expired at …");

        var lines = Lines(1004);
        Assert.Equal("Dead-lettered message charge-8812 to +55*******4321: expired: expired at …", Message(lines[0]));
        Assert.Equal("Dead-lettered message charge-8813 (trace 4bf92f35) to +55*******4321: expired: expired at …", Message(lines[1]));
        Assert.Contains("MessageId=charge-8813, TraceId=4bf92f35, To=+55*******4321", lines[1], StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("5511987654321", StringComparison.Ordinal));
    }

    public void Dispose() => _logs.Dispose();

    // The formatted message alone: CapturedLogs adds the level, category and event id before it, the state's values after.
    private static string Message(string line) => line[(line.IndexOf("] ", StringComparison.Ordinal) + 2)..line.IndexOf(" | ", StringComparison.Ordinal)];

    private DeadLetterLog NewLog(int limit) => new(_logs.CreateLogger("Cortex.Sender.Pipeline.SenderEngine"), _time, limit);

    private List<string> Lines(int eventId) => [.. _logs.Lines.Where(l => l.Contains($"[{eventId}]", StringComparison.Ordinal))];
}
