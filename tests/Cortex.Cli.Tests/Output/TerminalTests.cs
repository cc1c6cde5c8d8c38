using Cortex.Cli.Output;

namespace Cortex.Cli.Tests.Output;

public sealed class TerminalTests
{
    [Theory]
    [InlineData("number not on WhatsApp: 5511987654321@s.whatsapp.net", "number not on WhatsApp: +55*******4321@s.whatsapp.net")]
    [InlineData("HTTP 400 for +5511987654321, retry", "HTTP 400 for +55*******4321, retry")]
    [InlineData("expired at 2026-11-22T21:00:00.0000000-03:00 before it could be sent", "expired at 2026-11-22T21:00:00.0000000-03:00 before it could be sent")]
    [InlineData("gave up after 4 attempts", "gave up after 4 attempts")]
    // Formatted, under another name, or glued to a word: shown in full before.
    [InlineData("\"phone\":\"+55 11 98765-4321\"", "\"phone\":\"+55*******4321\"")]
    [InlineData("\"to\":[\"+55 (11) 98765-4321\"]", "\"to\":[\"+55*******4321\"]")]
    [InlineData("tel_5511987654321", "tel_+55*******4321")]
    [InlineData("ref5511987654321", "ref+55*******4321")]
    [InlineData("call (11) 98765-4321 now", "call +1******4321 now")]
    [InlineData("+55.11.98765.4321", "+55*******4321")]
    [InlineData("+55-11-98765-4321", "+55*******4321")]
    [InlineData("055 11 98765 4321", "+05********4321")]
    [InlineData("9876-5432", "******32")]
    [InlineData("+1 [415] 555-0123", "+1******0123")]
    // Dates and times stay readable; a number after one is still masked.
    [InlineData("dead at 2026-11-22 09:00:01Z, enqueued 2026-11-22T08:59:00+00:00", "dead at 2026-11-22 09:00:01Z, enqueued 2026-11-22T08:59:00+00:00")]
    [InlineData("on 2026-11-22 5511987654321", "on 2026-11-22 +55*******4321")]
    [InlineData("HTTP 503, code 131026", "HTTP 503, code 131026")]
    public void MaskPhones_FreeText_MasksEveryPhoneLikeNumber(string text, string expected) =>
        Assert.Equal(expected, Terminal.MaskPhones(text));

    [Theory]
    [InlineData(45, "45s")]
    [InlineData(200, "3m 20s")]
    [InlineData(7500, "2h 5m")]
    [InlineData(356400, "4d 3h")]
    public void Age_ReadsAsPeopleSayIt(int seconds, string expected) => Assert.Equal(expected, Terminal.Age(TimeSpan.FromSeconds(seconds)));
}
