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

    [Theory]
    [InlineData(new byte[] { 0xE1 }, "byte 22: not valid UTF-8 (0xE1; a Latin-1 or Windows-1252 file? save it as UTF-8)")]
    [InlineData(new byte[] { 0x0B }, "column 22: control character U+000B is not allowed in a CSV cell")]
    public async Task ReadAsync_BadLineThatOpensAQuotedCell_RejectsTheRowUpToWhereTheCellClosesAndGoesOnAfterIt(byte[] bad, string expected)
    {
        // The bad line was reported alone and the reader went on at the next line, inside the cell: "Obrigado\"" was
        // enqueued to +5511900000072 as a message of its own.
        var csv = new CsvReader(await InputFile.OpenAsync("r.csv", new MemoryStream([
            .. "a1,+5511900000071,\"Ol"u8, .. bad, .. " Ana, lembrete:\na2,+5511900000072,Obrigado\"\na3,+5511900000073,ok\n"u8]), long.MaxValue, default));

        var rejected = await csv.ReadAsync(default);
        var next = await csv.ReadAsync(default);
        var end = await csv.ReadAsync(default);

        Assert.Equal((1, expected, false), (rejected!.Line, rejected.Error, rejected.Fatal));
        Assert.Equal((3, null), (next!.Line, next.Error));
        Assert.Equal(["a3", "+5511900000073", "ok"], next.Fields);
        Assert.Null(end);
    }

    [Fact]
    public async Task ReadAsync_BadLaterLineOfAQuotedCell_RejectsTheRowNamingThatLineAndGoesOnAfterTheCell()
    {
        var csv = new CsvReader(await InputFile.OpenAsync("r.csv", new MemoryStream([
            .. "a1,+5511900000071,\"Linha 1\nOl"u8, 0xE1, .. "\nfim\"\na2,+5511900000072,ok\n"u8]), long.MaxValue, default));

        var rejected = await csv.ReadAsync(default);
        var next = await csv.ReadAsync(default);

        Assert.Equal((1, "in the quoted field's line 2, byte 3: not valid UTF-8 (0xE1; a Latin-1 or Windows-1252 file? save it as UTF-8)", false), (rejected!.Line, rejected.Error, rejected.Fatal));
        Assert.Equal(4, next!.Line);
        Assert.Equal(["a2", "+5511900000072", "ok"], next.Fields);
    }

    [Theory]
    [InlineData("a1,Ana \"Lu\" Souza\n", "column 8")]
    [InlineData("a1, \"Olá, Ana\"\n", "column 5")]
    public async Task ReadAsync_QuoteInsideAnUnquotedCell_IsALineErrorAndTheNextRowIsRead(string row, string column)
    {
        // Read as is, the quotes were sent as written, and a space before an opening quote split "Olá, Ana" in two cells.
        var csv = await ReaderAsync(row + "a2,ok\n");

        var rejected = await csv.ReadAsync(default);
        var next = await csv.ReadAsync(default);

        Assert.Equal((column + ": a quote inside a cell that does not start with one (quote the whole cell, with its quotes doubled: \"Ana \"\"Lu\"\"\")", false), (rejected!.Error, rejected.Fatal));
        Assert.Equal(["a2", "ok"], next!.Fields);
    }

    [Fact]
    public async Task ReadAsync_SpacesAfterAClosingQuote_AreNotPartOfTheCellAndTheRestOfTheFileIsRead()
    {
        // A space after the closing quote was a fatal "a quote inside a quoted cell must be doubled": the rest of the file
        // was dropped, in skip mode too.
        var csv = await ReaderAsync("a1,\"Olá, Ana\" ,x\na2,\"Oi\"\t\na3,ok\n");

        var first = await csv.ReadAsync(default);
        var second = await csv.ReadAsync(default);
        var third = await csv.ReadAsync(default);

        Assert.Equal((null, null), (first!.Error, second!.Error));
        Assert.Equal(["a1", "Olá, Ana", "x"], first.Fields);
        Assert.Equal(["a2", "Oi"], second.Fields);
        Assert.Equal(["a3", "ok"], third!.Fields);
    }

    private static async Task<CsvReader> ReaderAsync(string text) =>
        new(await InputFile.OpenAsync("test.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), long.MaxValue, default));
}
