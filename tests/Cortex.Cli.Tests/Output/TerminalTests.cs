using Cortex.Cli.Output;

namespace Cortex.Cli.Tests.Output;

public sealed class TerminalTests
{
    [Theory]
    [InlineData("number not on WhatsApp: 5511987654321@s.whatsapp.net", "number not on WhatsApp: +55*******4321@s.whatsapp.net")]
    [InlineData("HTTP 400 for +5511987654321, retry", "HTTP 400 for +55*******4321, retry")]
    [InlineData("expired at 2026-11-22T21:00:00.0000000-03:00 before it could be sent", "expired at 2026-11-22T21:00:00.0000000-03:00 before it could be sent")]
    [InlineData("gave up after 4 attempts", "gave up after 4 attempts")]
    public void MaskPhones_FreeText_MasksEveryPhoneLikeNumber(string text, string expected) =>
        Assert.Equal(expected, Terminal.MaskPhones(text));

    [Theory]
    [InlineData(45, "45s")]
    [InlineData(200, "3m 20s")]
    [InlineData(7500, "2h 5m")]
    [InlineData(356400, "4d 3h")]
    public void Age_ReadsAsPeopleSayIt(int seconds, string expected) => Assert.Equal(expected, Terminal.Age(TimeSpan.FromSeconds(seconds)));
}
