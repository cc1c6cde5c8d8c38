using Cortex.Cli.Campaigns;
using Cortex.Cli.Files;
using Cortex.Cli.Queue;

namespace Cortex.Cli.Tests.Files;

/// <summary>
/// Issue #7, bad input, CLI files: thousands of generated malformed files (<see cref="BadInputFiles"/>) through the readers
/// the commands use, in process. Each bad file must be refused naming the file, the line and the problem, with exit code 3;
/// each valid one read whole. The same generator drives a subset through the commands against real servers
/// (<see cref="FileCommandsFuzzTests"/>).
/// </summary>
public sealed class InputFileFuzzTests
{
    /// <summary>Cases per kind of file: 3 x 1,540 = 4,620 files, 70 of each of the 22 categories per kind.</summary>
    public const int CasesPerKind = 70 * 22;

    [Theory]
    [InlineData(InputKind.Recipients)]
    [InlineData(InputKind.EnvelopeCsv)]
    [InlineData(InputKind.EnvelopeJsonl)]
    public async Task Readers_GeneratedFiles_RefuseEachBadOneNamingFileLineAndProblem_AndReadValidOnesWhole(InputKind kind)
    {
        var failures = new List<string>();
        var perCategory = new Dictionary<string, int>();
        foreach (var input in BadInputFiles.Generate(kind, CasesPerKind, firstSeed: 100_000 * ((int)kind + 1)))
        {
            if (await CheckAsync(input) is { } failure)
            {
                failures.Add($"{input}: {failure}");
            }

            perCategory[input.Category] = perCategory.GetValueOrDefault(input.Category) + 1;
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {CasesPerKind} cases failed:\n" + string.Join('\n', failures.Take(25)));
        Assert.Equal(BadInputFiles.Categories.Length, perCategory.Count);
    }

    [Theory]
    [InlineData(InputLimits.MaxRecipientsFileBytes, "256 MiB")]
    [InlineData(InputLimits.MaxEnqueueFileBytes, "8 GiB")]
    public async Task OpenAsync_FileOverTheLimit_IsRefusedBeforeAnyOfItIsRead(long limit, string named)
    {
        await using var stream = new SizedStream(limit + 1);

        var error = await Assert.ThrowsAsync<CliException>(() => InputFile.OpenAsync("big.csv", stream, limit, default));

        Assert.Equal(ExitCodes.StoppedOnBadInput, error.ExitCode);
        Assert.StartsWith("big.csv: is ", error.Message, StringComparison.Ordinal);
        Assert.Contains($"over the limit of {named}", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, stream.BytesRead);
    }

    [Fact]
    public async Task ReadLineAsync_ReadFailsPartWay_IsTheCliErrorNamingTheFileAndTheLine()
    {
        // The IOException went up unhandled: a stack trace, exit 134, and enqueue never said how many messages went in.
        await using var stream = new PipeStream("+5511900000001,Ana\n+5511900000002,Bruno\n"u8.ToArray(), new IOException("Input/output error"));
        await using var file = await InputFile.OpenAsync("nfs.csv", stream, long.MaxValue, default);
        await file.ReadLineAsync(default);
        await file.ReadLineAsync(default);

        var error = await Assert.ThrowsAsync<CliException>(async () => await file.ReadLineAsync(default));

        Assert.Equal(
            (ExitCodes.StoppedOnBadInput, "nfs.csv: line 3: the file could not be read from there (Input/output error): stopped, nothing from that line on was written"),
            (error.ExitCode, error.Message));
    }

    [Fact]
    public async Task ReadLineAsync_PipePassingTheLimit_StopsThereNamingTheLine()
    {
        // A pipe has no length: the limit is enforced as it is read, 64 KiB at a time past a 200 KiB limit.
        var rows = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"+5511{i:D9},Ana\n"));
        await using var stream = new PipeStream(System.Text.Encoding.UTF8.GetBytes(rows));
        await using var file = await InputFile.OpenAsync("pipe.csv", stream, 200 * 1024, default);

        var error = await Assert.ThrowsAsync<CliException>(() => RecipientsFile.ReadAsync(file, default));

        Assert.Equal(ExitCodes.StoppedOnBadInput, error.ExitCode);
        Assert.Matches(@"^pipe\.csv: line \d+: the file passes the limit of 200 KiB there", error.Message);
        Assert.True(stream.BytesRead <= (200 + 64) * 1024, $"read {stream.BytesRead} bytes");
    }

    [Fact]
    public async Task ReadLineAsync_LineOverTheLimit_IsSkippedWithoutBeingHeldAndTheNextLineReads()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(new string('x', 3 * InputLimits.MaxLineBytes) + "\nnext\n");
        await using var file = await InputFile.OpenAsync("long.csv", new MemoryStream(bytes), long.MaxValue, default);

        var first = await file.ReadLineAsync(default);
        var second = await file.ReadLineAsync(default);

        Assert.Equal(1, first!.Value.Number);
        Assert.Equal("longer than 256 KiB: not read (a missing line break, or not the right file?)", first.Value.Error);
        Assert.Equal("next", System.Text.Encoding.UTF8.GetString(second!.Value.Bytes.Span));
        Assert.Null(await file.ReadLineAsync(default));
    }

    [Theory]
    [InlineData("{\"a\":\"x\\u0000y\"}", "\\u0000 is not allowed")]
    [InlineData("{\"a\":\"\\ud800\"}", "lone surrogate")]
    [InlineData("{\"\\u0000\":\"x\"}", "\\u0000 is not allowed")]
    [InlineData("{\"a\":1e999999}", "the number 1e999999 is out of range")]
    [InlineData("{\"a\":[1,-1e999999]}", "the number -1e999999 is out of range")]
    public async Task RecipientsFile_VariablesPostgresWouldRefuse_AreRefusedWithTheirLine(string json, string expected)
    {
        // Regression: jsonb refuses these, which failed the COPY with a PostgreSQL error and no line number.
        var csv = "+5511900000001,Ana\n+5511900000002,Bruno,\"" + json.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"\n";
        await using var file = await InputFile.OpenAsync("r.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(csv)), long.MaxValue, default);

        var error = await Assert.ThrowsAsync<CliException>(() => RecipientsFile.ReadAsync(file, default));

        Assert.StartsWith("r.csv: line 2: variables: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{not json}", "invalid JSON: 'n' is an invalid start of a property name. Expected a '\"'.")]
    [InlineData("{\"promo\": \"30% off\"", "invalid JSON: the document ends before it is complete (truncated?)")]
    [InlineData("{\"promo\": 30% off}", "invalid JSON: '%' is an invalid end of a number. Expected a delimiter.")]
    [InlineData("{\"to\": tel5511987654321}", "invalid JSON: 'tel+55*******4321}' is an invalid JSON literal. Expected the literal 'true'.")]
    public async Task RecipientsFile_VariablesNotJson_SayWhatIsWrongWithoutTheReadersPositions(string json, string expected)
    {
        // Regression: the message ended in the reader's "LineNumber: 0 | BytePositionInLine: 1.", positions within the
        // cell that read as the file's, and quoted a bad literal with its phone number in full.
        var csv = "+5511900000001,Ana\n+5511900000002,Bruno,\"" + json.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"\n";
        await using var file = await InputFile.OpenAsync("r.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(csv)), long.MaxValue, default);

        var error = await Assert.ThrowsAsync<CliException>(() => RecipientsFile.ReadAsync(file, default));

        Assert.Equal($"r.csv: line 2: variables: {expected}; nothing was inserted", error.Message);
        Assert.DoesNotContain("5511987654321", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadJsonLinesAsync_Latin1Text_IsRejectedInsteadOfSentWithAReplacementCharacter()
    {
        // Regression: the line went through a StreamReader, which turned 0xE3 into U+FFFD, and "Jo�o" was enqueued.
        byte[] bytes = [.. "{\"version\":1,\"id\":\"a-1\",\"to\":\"+5511987654321\",\"text\":\"Jo"u8, 0xE3, .. "o\"}\n"u8];
        await using var file = await InputFile.OpenAsync("l.jsonl", new MemoryStream(bytes), long.MaxValue, default);

        var lines = new List<FileLine>();
        await foreach (var line in EnvelopeFile.ReadJsonLinesAsync(file, default))
        {
            lines.Add(line);
        }

        var only = Assert.Single(lines);
        Assert.Null(only.Envelope);
        Assert.Contains("not valid UTF-8", only.Error, StringComparison.Ordinal);
    }

    internal static async Task<string?> CheckAsync(InputCase input)
    {
        var accepted = new List<string>();
        var errors = new List<(int Line, string Message)>();
        CliException? refused = null;
        try
        {
            await using var file = await InputFile.OpenAsync(input.FileName, new MemoryStream(input.Bytes), long.MaxValue, default);
            if (input.Kind == InputKind.Recipients)
            {
                accepted.AddRange((await RecipientsFile.ReadAsync(file, default)).Select(r => r.Phone));
            }
            else
            {
                var lines = input.Kind == InputKind.EnvelopeCsv ? EnvelopeFile.ReadCsvAsync(file, default) : EnvelopeFile.ReadJsonLinesAsync(file, default);
                await foreach (var line in lines)
                {
                    if (line.Envelope is { } envelope)
                    {
                        accepted.Add(envelope.Id);
                    }
                    else
                    {
                        errors.Add((line.Line, line.Error ?? "(no error)"));
                    }
                }
            }
        }
        catch (CliException ex)
        {
            refused = ex;
        }

        if (refused is not null && (refused.Message.Contains("   at ", StringComparison.Ordinal) || refused.ExitCode != ExitCodes.StoppedOnBadInput))
        {
            return $"exit {refused.ExitCode}: {refused.Message}";
        }

        if (input.Valid)
        {
            return refused is null && errors.Count == 0 && accepted.SequenceEqual(input.Before)
                ? null
                : $"valid file not read whole: {refused?.Message ?? string.Join("; ", errors)}; accepted [{string.Join(",", accepted)}] expected [{string.Join(",", input.Before)}]";
        }

        // An enqueue file that holds no line at all is refused by the command (no messages in the file), not the reader.
        if (input.FileLevel && input.Kind != InputKind.Recipients && input.Category is "empty" or "blank-only")
        {
            return refused is null && errors.Count == 0 && accepted.Count == 0 ? null : "expected no line at all";
        }

        if (input.FileLevel || input.Kind == InputKind.Recipients)
        {
            if (refused is null)
            {
                return $"not refused; accepted {accepted.Count}, errors: {string.Join("; ", errors)}";
            }

            var prefix = input.FileLevel ? input.FileName + ": " : $"{input.FileName}: line {input.BadLine}: ";
            if (!refused.Message.StartsWith(prefix, StringComparison.Ordinal) || (input.Expected is not null && !refused.Message.Contains(input.Expected, StringComparison.Ordinal)))
            {
                return $"expected '{prefix}...{input.Expected}', got: {refused.Message}";
            }

            return refused.Message.Contains("nothing was", StringComparison.Ordinal) ? null : "does not say that nothing was written: " + refused.Message;
        }

        // Envelopes: the bad line is reported, every other line is still read (what skip mode enqueues).
        if (refused is not null)
        {
            return "refused as a whole: " + refused.Message;
        }

        if (errors.Count != 1 || errors[0].Line != input.BadLine || (input.Expected is not null && !errors[0].Message.Contains(input.Expected, StringComparison.Ordinal)))
        {
            return $"expected one error on line {input.BadLine} with '{input.Expected}', got: {string.Join("; ", errors.Select(e => $"line {e.Line}: {e.Message}"))}";
        }

        return accepted.SequenceEqual(input.Before.Concat(input.After)) ? null : $"accepted [{string.Join(",", accepted)}]";
    }

    /// <summary>A seekable stream that says it is <paramref name="length"/> bytes long and counts what is read of it.</summary>
    private sealed class SizedStream(long length) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - Position);
            Array.Fill(buffer, (byte)'a', offset, n);
            Position += n;
            BytesRead += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A stream with no length, as a pipe is; past its bytes it fails with <paramref name="failure"/> if given.</summary>
    private sealed class PipeStream(byte[] bytes, IOException? failure = null) : Stream
    {
        private int _position;

        public long BytesRead => _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (failure is not null && _position == bytes.Length)
            {
                throw failure;
            }

            var n = Math.Min(count, bytes.Length - _position);
            Array.Copy(bytes, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
