using System.Globalization;
using System.Text;

namespace Cortex.Cli.Files;

/// <summary>
/// One CSV record and the line it starts on (a quoted field may span lines); <paramref name="Error"/> when it cannot be
/// read. <paramref name="Fatal"/>: the reader cannot find where the next record starts, so nothing after it can be trusted.
/// </summary>
internal sealed record CsvRecord(int Line, IReadOnlyList<string> Fields, string? Error = null, bool Fatal = false);

/// <summary>
/// RFC 4180 CSV: comma-separated, fields optionally in double quotes, "" for a quote inside one, line breaks allowed inside
/// quotes, spaces or tabs allowed after a closing quote; a quote inside a cell that does not start with one is an error.
/// Blank lines (spaces and tabs only, too) are skipped. A record's line number is where it starts, for error messages. Text must be UTF-8
/// without control characters other than tab; a record is at most <see cref="InputLimits.MaxLineBytes"/>. A record with a
/// bad line still ends where its quotes say it ends, so the next record starts at the right line.
/// </summary>
internal sealed class CsvReader(InputFile file)
{
    /// <summary>The next record, or null at the end. A quote never closed swallows the rest of the file: that record has an error.</summary>
    public async Task<CsvRecord?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (await file.ReadLineAsync(cancellationToken) is not { } raw)
            {
                return null;
            }

            var start = raw.Number;
            var line = start;
            if (Text(raw, out var error) is not { } text)
            {
                return new CsvRecord(start, [], error);
            }

            if (error is null && string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            // A bad line is still read to its end, for where the record ends: a quote it opens goes on over the next
            // lines, and starting the next record inside that cell would send the cell's rest as a message of its own.
            var fields = new List<string>();
            var field = new StringBuilder();
            var size = raw.Bytes.Length;
            var quoted = false;
            var i = 0;
            while (true)
            {
                if (i >= text.Length)
                {
                    if (!quoted)
                    {
                        fields.Add(field.ToString());
                        return new CsvRecord(start, fields, error);
                    }

                    // A line break inside quotes is part of the field.
                    if (await file.ReadLineAsync(cancellationToken) is not { } next)
                    {
                        return new CsvRecord(start, fields, "a quoted field is never closed (a missing \" ?)", Fatal: true);
                    }

                    size += next.Bytes.Length + 1;
                    if (next.Error is not null || size > InputLimits.MaxLineBytes)
                    {
                        return new CsvRecord(start, fields, $"a quoted field runs past {InputLimits.MaxLineBytes / 1024} KiB (a missing closing \" ?)", Fatal: true);
                    }

                    text = Text(next, out var nextError)!;
                    if (nextError is not null)
                    {
                        error ??= $"in the quoted field's line {next.Number.ToString(CultureInfo.InvariantCulture)}, {nextError}";
                    }

                    line = next.Number;
                    field.Append('\n');
                    i = 0;
                    continue;
                }

                var c = text[i++];
                if (quoted)
                {
                    if (c != '"')
                    {
                        field.Append(c);
                    }
                    else if (i < text.Length && text[i] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else if (text.AsSpan(i).TrimStart(" \t") is { Length: > 0 } rest && rest[0] != ',')
                    {
                        // "Mãe "Lu"" would otherwise be read as Mãe Lu" without a word: the data is not what was meant. The
                        // column is the quote's, on the line it is on. Where the cell ends cannot be told (it may go on
                        // over the next lines), so no later line can be trusted to start a record: the file stops here.
                        var where = line == start ? string.Empty : $"in the quoted field's line {line.ToString(CultureInfo.InvariantCulture)}, ";
                        return new CsvRecord(start, fields, $"{where}column {i.ToString(CultureInfo.InvariantCulture)}: a quote inside a quoted cell must be doubled (\"\")", Fatal: true);
                    }
                    else
                    {
                        // Spaces or tabs between the closing quote and the comma (or the line's end) are not part of the cell.
                        quoted = false;
                        i = text.Length - text.AsSpan(i).TrimStart(" \t").Length;
                    }
                }
                else if (c == ',')
                {
                    fields.Add(field.ToString());
                    field.Clear();
                }
                else if (c == '"' && field.Length == 0)
                {
                    quoted = true;
                }
                else if (c == '"')
                {
                    // Read as is, Ana "Lu" Souza sends its quotes as written, and  "Olá, Ana" (a space before the quote)
                    // splits at its comma into two cells. Where the record ends is still known: it is not quoted.
                    var where = line == start ? string.Empty : $"in the quoted field's line {line.ToString(CultureInfo.InvariantCulture)}, ";
                    error ??= $"{where}column {i.ToString(CultureInfo.InvariantCulture)}: a quote inside a cell that does not start with one (quote the whole cell, with its quotes doubled: \"Ana \"\"Lu\"\"\")";
                    field.Append(c);
                }
                else
                {
                    field.Append(c);
                }
            }
        }
    }

    /// <summary>
    /// A line as text, with the line's error if any: not UTF-8 (the text then has U+FFFD for the bad bytes, enough to find
    /// the quotes and commas, which are ASCII) or holding a control character (tab aside). Null only for a line too long to be kept.
    /// </summary>
    private static string? Text(RawLine raw, out string? error)
    {
        error = raw.Error;
        if (error is not null)
        {
            return null;
        }

        var text = InputFile.Decode(raw.Bytes.Span, out error);
        if (text is null)
        {
            return Encoding.UTF8.GetString(raw.Bytes.Span);
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsControl(text[i]) && text[i] != '\t')
            {
                var hint = text[i] == '\r' ? " (a carriage return alone: old Mac line breaks? use \\n or \\r\\n)" : string.Empty;
                error = $"column {(i + 1).ToString(CultureInfo.InvariantCulture)}: control character U+{(int)text[i]:X4} is not allowed in a CSV cell{hint}";
                break;
            }
        }

        return text;
    }
}
