using System.Text;

namespace Cortex.Cli.Files;

/// <summary>One CSV record and the line it starts on (a quoted field may span lines); <paramref name="Error"/> when it cannot be read.</summary>
internal sealed record CsvRecord(int Line, IReadOnlyList<string> Fields, string? Error = null);

/// <summary>
/// RFC 4180 CSV: comma-separated, fields optionally in double quotes, "" for a quote inside one, line breaks allowed inside
/// quotes. Blank lines are skipped. A record's line number is where it starts, for error messages.
/// </summary>
internal sealed class CsvReader(TextReader reader)
{
    private int _line = 1;

    /// <summary>The next record, or null at the end. A quote never closed swallows the rest of the file: that record has an error.</summary>
    public async Task<CsvRecord?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var text = await reader.ReadLineAsync(cancellationToken);
            if (text is null)
            {
                return null;
            }

            var start = _line++;
            if (text.Length == 0)
            {
                continue;
            }

            var fields = new List<string>();
            var field = new StringBuilder();
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
                    var next = await reader.ReadLineAsync(cancellationToken);
                    if (next is null)
                    {
                        return new CsvRecord(start, fields, "a quoted field is never closed (a missing \" ?)");
                    }

                    text = next;
                    _line++;
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
}
