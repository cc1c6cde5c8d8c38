using Cortex.Cli.Files;
using Cortex.Cli.Output;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Queue;

/// <summary>One line of an input file: an envelope ready to enqueue, or why that line was rejected.</summary>
internal readonly record struct FileLine(int Line, Envelope? Envelope, string? Error, bool Fatal = false);

/// <summary>
/// Reads envelopes from a file, one at a time, so a file of any size streams through. JSON lines: each non-blank line is
/// one public envelope (docs/message-format.md). CSV: a header row naming the columns, then one message per row.
/// </summary>
internal static class EnvelopeFile
{
    public const string CsvHelp = """
        CSV columns (header row first, names case-insensitive, any order; an empty cell is "not set"):
          id, to                         required
          text | template                exactly one; template with language (default pt_BR)
          param1, param2, ... param32    template parameters, in order
          kind, tenant, priority (high|normal|low), not_before, expires_at (ISO-8601 with offset), trace_id
          quiet_hours                    hours not to send in, e.g. 21:00-08:00 America/Sao_Paulo
        JSON lines: one envelope per line, e.g. {"version":1,"id":"a-1","to":"+5511987654321","text":"Hi"}
        """;

    private static readonly string[] s_csvColumns =
        ["id", "to", "text", "template", "language", "kind", "tenant", "priority", "not_before", "expires_at", "quiet_hours", "trace_id"];

    public static async IAsyncEnumerable<FileLine> ReadJsonLinesAsync(InputFile file, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await file.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Error is not null)
            {
                yield return new FileLine(line.Number, null, line.Error);
                continue;
            }

            // The raw bytes, not a decoded string: the codec reports bad UTF-8 where a reader would have replaced it.
            var bytes = line.Bytes.Span;
            if (bytes.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            var parsed = EnvelopeCodec.Parse(bytes);
            yield return new FileLine(line.Number, parsed.Envelope, parsed.Error?.ToString());
        }
    }

    public static async IAsyncEnumerable<FileLine> ReadCsvAsync(InputFile file, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var csv = new CsvReader(file);
        var header = await csv.ReadAsync(cancellationToken);
        if (header is null)
        {
            yield break;
        }

        var columns = Columns(file.Path, header);
        while (await csv.ReadAsync(cancellationToken) is { } record)
        {
            if (record.Error is not null)
            {
                yield return new FileLine(record.Line, null, record.Error, record.Fatal);
                if (record.Fatal)
                {
                    yield break;
                }

                continue;
            }

            yield return Row(record, columns);
        }
    }

    private static Dictionary<string, int> Columns(string path, CsvRecord header)
    {
        if (header.Error is not null)
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {header.Line}: header: {header.Error}; nothing was enqueued");
        }

        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Fields.Count; i++)
        {
            var name = Normalize(header.Fields[i]);
            var known = s_csvColumns.FirstOrDefault(c => Normalize(c) == name)
                ?? (IsParameter(name, out _) ? name : null)
                ?? throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {header.Line}: header: unknown column '{Terminal.MaskPhones(Shorten(header.Fields[i]))}'{SeparatorHint(header.Fields[i])} (columns: {string.Join(", ", s_csvColumns)}, param1..param32); nothing was enqueued");
            if (!columns.TryAdd(Normalize(known), i))
            {
                throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {header.Line}: header: column '{header.Fields[i]}' appears twice; nothing was enqueued");
            }
        }

        var parameters = columns.Keys.Count(k => IsParameter(k, out _));
        if (Enumerable.Range(1, parameters).Any(n => !columns.ContainsKey("param" + n.ToString(System.Globalization.CultureInfo.InvariantCulture))))
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {header.Line}: header: template parameter columns must be param1, param2, ... without gaps; nothing was enqueued");
        }

        if (!columns.ContainsKey("id") || !columns.ContainsKey("to"))
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"{path}: line {header.Line}: header: needs at least the columns id and to (is the header row missing?); nothing was enqueued");
        }

        return columns;
    }

    private static FileLine Row(CsvRecord record, Dictionary<string, int> columns)
    {
        string? Cell(string name) =>
            columns.TryGetValue(name, out var i) && i < record.Fields.Count && record.Fields[i].Length > 0 ? record.Fields[i] : null;

        var parameters = new SortedDictionary<int, string>();
        foreach (var (name, _) in columns)
        {
            if (IsParameter(name, out var n))
            {
                parameters[n] = Cell(name) ?? string.Empty;
            }
        }

        // Parameters run from param1 to the last one given; an empty cell before it is an empty parameter.
        var values = parameters.Values.ToList();
        while (values.Count > 0 && values[^1].Length == 0)
        {
            values.RemoveAt(values.Count - 1);
        }

        var fields = new EnvelopeFields
        {
            Id = Cell("id"),
            To = Cell("to"),
            Text = Cell("text"),
            Template = Cell("template"),
            Language = Cell("language"),
            Parameters = values,
            Kind = Cell("kind"),
            Tenant = Cell("tenant"),
            Priority = Cell("priority"),
            NotBefore = Cell("notbefore"),
            ExpiresAt = Cell("expiresat"),
            QuietHours = Cell("quiethours"),
            TraceId = Cell("traceid"),
        };
        if (record.Fields.Count > columns.Count)
        {
            return new FileLine(record.Line, null, $"row has {record.Fields.Count} cells but the header names {columns.Count} columns (an unquoted comma?)");
        }

        var (envelope, error) = fields.Build(FieldNames.Csv);
        return new FileLine(record.Line, envelope, error);
    }

    /// <summary>A cell as quoted back in an error: at most 64 characters.</summary>
    internal static string Shorten(string cell) => cell.Length <= 64 ? cell : string.Concat(cell.AsSpan(0, 61), "...");

    /// <summary>A hint when a single cell holds the separator of another CSV dialect (Excel in pt-BR writes ';').</summary>
    internal static string SeparatorHint(string cell) =>
        cell.Contains(';', StringComparison.Ordinal) ? ": is the file separated by ';'? cortex reads commas"
        : cell.Contains('\t', StringComparison.Ordinal) ? ": is the file separated by tabs? cortex reads commas"
        : string.Empty;

    private static string Normalize(string column) => column.Trim().Replace("_", string.Empty, StringComparison.Ordinal).ToLowerInvariant();

    private static bool IsParameter(string normalized, out int index)
    {
        index = 0;
        return normalized.StartsWith("param", StringComparison.Ordinal)
            && int.TryParse(normalized.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index)
            && index is >= 1 and <= 32;
    }
}
