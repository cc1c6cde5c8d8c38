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

    [Fact]
    public async Task ReadAsync_QuoteInsideAQuotedCellNotDoubled_IsAnErrorNamingTheColumn()
    {
        // Read leniently, "Mãe "Lu"" became the cell Mãe Lu" without a word.
        var csv = await ReaderAsync("+5511900000001,\"Mãe \"Lu\"\"\n");

        var bad = await csv.ReadAsync(default);

        Assert.Equal(("column 21: a quote inside a quoted cell must be doubled (\"\")", true), (bad!.Error, bad.Fatal));
    }

    [Fact]
    public async Task ReadAsync_QuoteNotDoubledOnAQuotedCellsSecondLine_NamesThatLineAndStopsTheFile()
    {
        // It named the record's first line with the column on the second, and the reader went on from the second line,
        // inside the cell: its rest was read as a record of its own.
        var csv = await ReaderAsync("id,to,text\na1,+5511987654321,\"Linha 1\nlinha 2 com \"aspas\" aqui\"\na2,+5511987654322,ok\n");
        await csv.ReadAsync(default);

        var bad = await csv.ReadAsync(default);

        Assert.Equal((2, "in the quoted field's line 3, column 13: a quote inside a quoted cell must be doubled (\"\")", true), (bad!.Line, bad.Error, bad.Fatal));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'J', (byte)'o', 0xE3, (byte)'o' }, "byte 18: not valid UTF-8 (0xE3; a Latin-1 or Windows-1252 file? save it as UTF-8)")]
    [InlineData(new byte[] { (byte)'a', 0x07, (byte)'b' }, "column 17: control character U+0007 is not allowed in a CSV cell")]
    public async Task ReadAsync_BytesThatAreNotCsvText_AreAnErrorNamingWhere(byte[] cell, string expected)
    {
        // Regression: a StreamReader replaced invalid UTF-8 with U+FFFD, so "João" saved as Latin-1 was sent as "Jo�o".
        var csv = new CsvReader(await InputFile.OpenAsync("r.csv", new MemoryStream([.. "+5511900000001,"u8, .. cell, (byte)'\n', .. "+5511900000002,Ana\n"u8]), long.MaxValue, default));

        var bad = await csv.ReadAsync(default);
        var next = await csv.ReadAsync(default);

        Assert.Equal(expected, bad!.Error);
        Assert.Equal(["+5511900000002", "Ana"], next!.Fields);
    }

    private static async Task<CsvReader> ReaderAsync(string text) =>
        new(await InputFile.OpenAsync("test.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), long.MaxValue, default));
}
