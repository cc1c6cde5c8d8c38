using Cortex.Cli.Files;

namespace Cortex.Cli.Tests.Files;

public sealed class CsvReaderTests
{
    [Fact]
    public async Task ReadAsync_QuotesCommasDoubledQuotesAndLineBreaks_ReadAsOneRecordEachWithItsStartLine()
    {
        var csv = await ReaderAsync("a,\"b, c\",\"say \"\"hi\"\"\"\n\nx,\"two\nlines\",\n,,\n");

        var first = await csv.ReadAsync(default);
        var second = await csv.ReadAsync(default);
        var third = await csv.ReadAsync(default);
        var end = await csv.ReadAsync(default);

        Assert.Equal(1, first!.Line);
        Assert.Equal(["a", "b, c", "say \"hi\""], first.Fields);
        Assert.Equal(3, second!.Line);
        Assert.Equal(["x", "two\nlines", string.Empty], second.Fields);
        Assert.Equal(5, third!.Line);
        Assert.Equal([string.Empty, string.Empty, string.Empty], third.Fields);
        Assert.Null(end);
    }

    [Fact]
    public async Task ReadAsync_QuoteNeverClosed_ReportsItOnTheLineItStarts()
    {
        var csv = await ReaderAsync("ok,1\n\"open,2\nmore\n");

        await csv.ReadAsync(default);
        var bad = await csv.ReadAsync(default);

        Assert.Equal(2, bad!.Line);
        Assert.Contains("never closed", bad.Error, StringComparison.Ordinal);
    }

    private static async Task<CsvReader> ReaderAsync(string text) =>
        new(await InputFile.OpenAsync("test.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), long.MaxValue, default));
}
