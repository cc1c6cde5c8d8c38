using System.Text;
using Cortex.Cli.Files;
using Cortex.Cli.Output;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Queue;

/// <summary>One line of an input file: an envelope ready to enqueue, or why that line was rejected.</summary>
internal readonly record struct FileLine(int Line, Envelope? Envelope, string? Error);

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
        JSON lines: one envelope per line, e.g. {"version":1,"id":"a-1","to":"+5511987654321","text":"Hi"}
        """;

    private static readonly string[] s_csvColumns =
        ["id", "to", "text", "template", "language", "kind", "tenant", "priority", "not_before", "expires_at", "trace_id"];

    public static async IAsyncEnumerable<FileLine> ReadJsonLinesAsync(TextReader reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var line = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var parsed = EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(text));
            yield return new FileLine(line, parsed.Envelope, parsed.Error?.ToString());
        }
    }

    public static async IAsyncEnumerable<FileLine> ReadCsvAsync(TextReader reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var csv = new CsvReader(reader);
        var header = await csv.ReadAsync(cancellationToken);
        if (header is null)
        {
            yield break;
        }

        var columns = Columns(header);
        while (await csv.ReadAsync(cancellationToken) is { } record)
        {
            if (record.Error is not null)
            {
                yield return new FileLine(record.Line, null, record.Error);
                yield break;
            }

            yield return Row(record, columns);
        }
    }

    private static Dictionary<string, int> Columns(CsvRecord header)
    {
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Fields.Count; i++)
        {
            var name = Normalize(header.Fields[i]);
            var known = s_csvColumns.FirstOrDefault(c => Normalize(c) == name)
                ?? (IsParameter(name, out _) ? name : null)
                ?? throw new CliException(ExitCodes.StoppedOnBadInput, $"line {header.Line}: header: unknown column '{Terminal.MaskPhones(header.Fields[i])}' (columns: {string.Join(", ", s_csvColumns)}, param1..param32)");
            if (!columns.TryAdd(Normalize(known), i))
            {
                throw new CliException(ExitCodes.StoppedOnBadInput, $"line {header.Line}: header: column '{header.Fields[i]}' appears twice");
            }
        }

        var parameters = columns.Keys.Count(k => IsParameter(k, out _));
        if (Enumerable.Range(1, parameters).Any(n => !columns.ContainsKey("param" + n.ToString(System.Globalization.CultureInfo.InvariantCulture))))
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"line {header.Line}: header: template parameter columns must be param1, param2, ... without gaps");
        }

        if (!columns.ContainsKey("id") || !columns.ContainsKey("to"))
        {
            throw new CliException(ExitCodes.StoppedOnBadInput, $"line {header.Line}: header: needs at least the columns id and to (is the header row missing?)");
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
            TraceId = Cell("traceid"),
        };
        if (record.Fields.Count > columns.Count)
        {
            return new FileLine(record.Line, null, $"row has {record.Fields.Count} cells but the header names {columns.Count} columns (an unquoted comma?)");
        }

        var (envelope, error) = fields.Build(FieldNames.Csv);
        return new FileLine(record.Line, envelope, error);
    }

    private static string Normalize(string column) => column.Trim().Replace("_", string.Empty, StringComparison.Ordinal).ToLowerInvariant();

    private static bool IsParameter(string normalized, out int index)
    {
        index = 0;
        return normalized.StartsWith("param", StringComparison.Ordinal)
            && int.TryParse(normalized.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index)
            && index is >= 1 and <= 32;
    }
}
