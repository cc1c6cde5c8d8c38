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
/// quotes. Blank lines (spaces and tabs only, too) are skipped. A record's line number is where it starts, for error messages. Text must be UTF-8
/// without control characters other than tab; a record is at most <see cref="InputLimits.MaxLineBytes"/>.
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

            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

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
                        return new CsvRecord(start, fields);
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

                    if (Text(next, out error) is not { } nextText)
                    {
                        return new CsvRecord(start, fields, $"in the quoted field's line {next.Number.ToString(CultureInfo.InvariantCulture)}, {error}", Fatal: true);
                    }

                    text = nextText;
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
                    else if (i < text.Length && text[i] != ',')
                    {
                        // "Mãe "Lu"" would otherwise be read as Mãe Lu" without a word: the data is not what was meant. The
                        // column is the quote's, on the line it is on. Where the cell ends cannot be told (it may go on
                        // over the next lines), so no later line can be trusted to start a record: the file stops here.
                        var where = line == start ? string.Empty : $"in the quoted field's line {line.ToString(CultureInfo.InvariantCulture)}, ";
                        return new CsvRecord(start, fields, $"{where}column {i.ToString(CultureInfo.InvariantCulture)}: a quote inside a quoted cell must be doubled (\"\")", Fatal: true);
                    }
                    else
                    {
                        quoted = false;
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
                else
                {
                    field.Append(c);
                }
            }
        }
    }

    /// <summary>A line as text, or the line's error: too long, not UTF-8, or holding a control character (tab aside).</summary>
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
            return null;
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsControl(text[i]) && text[i] != '\t')
            {
                var hint = text[i] == '\r' ? " (a carriage return alone: old Mac line breaks? use \\n or \\r\\n)" : string.Empty;
                error = $"column {(i + 1).ToString(CultureInfo.InvariantCulture)}: control character U+{(int)text[i]:X4} is not allowed in a CSV cell{hint}";
                return null;
            }
        }

        return text;
    }
}
