using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Cortex.Cli.Files;

/// <summary>Limits on the files the CLI reads: a line or a file past them is refused, never read whole into memory.</summary>
internal static class InputLimits
{
    /// <summary>Longest line (or quoted CSV record) in bytes: room for a CSV row at every envelope limit, far past any real one.</summary>
    public const int MaxLineBytes = 256 * 1024;

    /// <summary>Largest enqueue file. It is streamed, so this bounds a run's length (some 20 million messages), not memory.</summary>
    public const long MaxEnqueueFileBytes = 8L * 1024 * 1024 * 1024;

    /// <summary>Largest recipients file: it is read whole before the one transaction that inserts it.</summary>
    public const long MaxRecipientsFileBytes = 256L * 1024 * 1024;

    /// <summary>Most recipients in one campaign file.</summary>
    public const int MaxRecipients = 1_000_000;
}

/// <summary>One line of a file as UTF-8 bytes without its line break (valid until the next read), or why it cannot be used.</summary>
internal readonly record struct RawLine(int Number, ReadOnlyMemory<byte> Bytes, string? Error);

/// <summary>
/// Reads a text file line by line as raw bytes, within <see cref="InputLimits"/>: a line longer than the limit is skipped
/// without being kept, a file larger than its limit is refused (before anything is read when its size is known, else as
/// soon as it passes it). A UTF-8 byte order mark is dropped; UTF-16/32 and binary files are refused up front, naming the
/// file, so that nothing is written from them.
/// </summary>
internal sealed class InputFile : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _stream;
    private readonly long _maxBytes;
    private readonly int _maxLineBytes;
    private readonly byte[] _buffer = new byte[BufferSize];
    private byte[] _line = new byte[1024];
    private int _start;
    private int _end;
    private long _read;
    private int _number;

    private InputFile(string path, Stream stream, long maxBytes, int maxLineBytes)
    {
        Path = path;
        _stream = stream;
        _maxBytes = maxBytes;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>The path as the operator gave it: every error names it.</summary>
    public string Path { get; }

    /// <summary>Bytes consumed so far (for a progress bar).</summary>
    public long Position => _read - (_end - _start);

    /// <summary>The file's size when it has one (not a pipe).</summary>
    public long? Length => _stream.CanSeek ? _stream.Length : null;

    /// <summary>Opens <paramref name="path"/>: exit 2 if it cannot be read, exit 3 if it is too large, not text or not UTF-8.</summary>
    public static async Task<InputFile> OpenAsync(string path, long maxBytes, CancellationToken cancellationToken, int maxLineBytes = InputLimits.MaxLineBytes)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw CliException.Usage($"cannot read '{path}': {ex.Message}");
        }

        try
        {
            return await OpenAsync(path, stream, maxBytes, cancellationToken, maxLineBytes);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads <paramref name="stream"/> (a file's or, in tests, a buffer's) under the name <paramref name="path"/>.</summary>
    public static async Task<InputFile> OpenAsync(string path, Stream stream, long maxBytes, CancellationToken cancellationToken, int maxLineBytes = InputLimits.MaxLineBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek && stream.Length > maxBytes)
        {
            throw Refused(path, $"is {Size(stream.Length)}, over the limit of {Size(maxBytes)}: split it into smaller files");
        }

        var file = new InputFile(path, stream, maxBytes, maxLineBytes);
        await file.FillAsync(cancellationToken);
        file.CheckStart();
        return file;
    }

    /// <summary>The next line, or null at the end of the file.</summary>
    public async ValueTask<RawLine?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        var tooLong = false;
        var any = false;
        while (true)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf((byte)'\n');
            var take = newline >= 0 ? newline : span.Length;
            any |= take > 0 || newline >= 0;
            if (!tooLong && length + take > _maxLineBytes)
            {
                tooLong = true;
            }

            if (!tooLong)
            {
                if (length + take > _line.Length)
                {
                    Array.Resize(ref _line, Math.Min(_maxLineBytes + 1, Math.Max(_line.Length * 2, length + take)));
                }

                span[..take].CopyTo(_line.AsSpan(length));
                length += take;
            }

            if (newline >= 0)
            {
                _start += newline + 1;
                break;
            }

            _start = _end;
            if (!await FillAsync(cancellationToken))
            {
                if (!any)
                {
                    return null;
                }

                break;
            }
        }

        _number++;
        if (tooLong)
        {
            return new RawLine(_number, ReadOnlyMemory<byte>.Empty, $"longer than {Size(_maxLineBytes)}: not read (a missing line break, or not the right file?)");
        }

        if (length > 0 && _line[length - 1] == '\r')
        {
            length--;
        }

        return new RawLine(_number, _line.AsMemory(0, length), null);
    }

    /// <summary>The line as text, or why it is not valid UTF-8 (with the byte where it goes wrong).</summary>
    public static string? Decode(ReadOnlySpan<byte> bytes, out string? error)
    {
        error = null;
        if (Utf8.IsValid(bytes))
        {
            return s_strict.GetString(bytes);
        }

        var chars = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            Utf8.ToUtf16(bytes, chars, out var read, out _, replaceInvalidSequences: false);
            error = $"byte {(read + 1).ToString(CultureInfo.InvariantCulture)}: not valid UTF-8 (0x{bytes[read]:X2}; a Latin-1 or Windows-1252 file? save it as UTF-8)";
            return null;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    private static CliException Refused(string path, string message) => new(ExitCodes.StoppedOnBadInput, $"{path}: {message}; nothing was written");

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => $"{bytes >> 30} GiB",
        >= 1L << 20 when bytes % (1L << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1L << 10 when bytes % (1L << 10) == 0 => $"{bytes >> 10} KiB",
        _ => bytes.ToString("N0", CultureInfo.InvariantCulture) + " bytes",
    };

    private void CheckStart()
    {
        var head = _buffer.AsSpan(_start, _end - _start);
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            _start += 3;
            head = head[3..];
        }
        else if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) || head.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]))
        {
            throw Refused(Path, "is UTF-16 or UTF-32 (it starts with that byte order mark): save it as UTF-8");
        }

        // A NUL never belongs in a text file: binary garbage, or UTF-16 without a byte order mark. Refused as a whole,
        // rather than as one bad line after another.
        var nul = head.IndexOf((byte)0);
        if (nul >= 0)
        {
            throw Refused(Path, $"is not a text file (a NUL byte at offset {nul.ToString(CultureInfo.InvariantCulture)}; binary, or UTF-16 without a byte order mark?)");
        }
    }

    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        int n;
        try
        {
            n = await _stream.ReadAsync(_buffer, cancellationToken);
        }
        catch (IOException ex)
        {
            // A disk error or a network share gone part way: a stack trace, exit 134, and the count of what went in before
            // was never printed. Said as any stop on the file is, naming it and the line.
            throw new CliException(
                ExitCodes.StoppedOnBadInput,
                $"{Path}: line {(_number + 1).ToString(CultureInfo.InvariantCulture)}: the file could not be read from there ({ex.Message}): stopped, nothing from that line on was written");
        }

        _start = 0;
        _end = n;
        _read += n;
        if (_read > _maxBytes)
        {
            // A pipe has no size to check up front: it stops where it passes the limit.
            throw new CliException(
                ExitCodes.StoppedOnBadInput,
                $"{Path}: line {(_number + 1).ToString(CultureInfo.InvariantCulture)}: the file passes the limit of {Size(_maxBytes)} there: stopped, nothing from that line on was written");
        }

        return n > 0;
    }
}
