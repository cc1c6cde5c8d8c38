using System.Globalization;
using System.Text.Json;
using Cortex.Cli.Files;
using Cortex.Cli.Queue;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Campaigns;

/// <summary>One campaign recipient from the file: its id is its position (1, 2, ...), which orders the fan-out.</summary>
// NameInVariables: its variables have a "name" key, which the fan-out does not use ({name} is the name cell).
internal sealed record Recipient(long Id, string Phone, string Name, string? VariablesJson, int Line, bool WrittenWithPlus, bool NameInVariables = false);

/// <summary>
/// Reads a recipients CSV: phone,name[,variables] per row, an optional header row starting with "phone". Phones must be
/// E.164 as the table's CHECK wants them (a missing '+' is added), each number once; variables, when given, a JSON object.
/// The whole file is checked before anything is written: the first bad row stops it with the file, its line and field.
/// </summary>
internal static class RecipientsFile
{
    /// <summary>Longest variables object, in characters: the template's placeholders, not a document.</summary>
    public const int MaxVariablesLength = 16 * 1024;

    public const string Help = """
        Recipients CSV: phone,name[,variables] per row; an optional header row starting with 'phone'.
          phone      E.164: '+', then 8 to 15 digits, not starting with 0 (a missing '+' is added)
          name       the {name} of the template (may be empty)
          variables  a JSON object for the template's other placeholders, quoted as CSV:
                     +5511987654321,Ana,"{""promo"": ""30% off""}"
                     (a "name" key there is not used: {name} is the name cell)
        UTF-8 text (Excel: 'CSV UTF-8'), at most 1,000,000 rows and 256 MiB; a number may appear once.
        A bad row stops the command (exit 3) with 'FILE: line N: field: reason'; nothing is inserted. So does
        a row the template cannot be sent from (a variable it lacks, a tab in a WhatsApp parameter).
        """;

    public static async Task<List<Recipient>> ReadAsync(InputFile file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        CliException Bad(int line, string message) => new(ExitCodes.StoppedOnBadInput, $"{file.Path}: line {line}: {message}; nothing was inserted");

        var csv = new CsvReader(file);
        var recipients = new List<Recipient>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var first = true;
        while (await csv.ReadAsync(cancellationToken) is { } record)
        {
            if (record.Error is not null)
            {
                throw Bad(record.Line, record.Error);
            }

            if (recipients.Count == InputLimits.MaxRecipients)
            {
                throw Bad(record.Line, $"more than {InputLimits.MaxRecipients:N0} recipients, the limit of one campaign: split the file into several campaigns");
            }

            var fields = record.Fields;
            if (first && string.Equals(fields[0].Trim(), "phone", StringComparison.OrdinalIgnoreCase))
            {
                first = false;
                continue;
            }

            first = false;
            if (fields.Count is < 1 or > 3)
            {
                throw Bad(record.Line, $"expected phone,name[,variables] but the row has {fields.Count} cells (quote a value holding a comma)");
            }

            // Excel in pt-BR saves CSV with ';': the whole row then lands in the phone cell.
            if (fields.Count == 1 && EnvelopeFile.SeparatorHint(fields[0]) is { Length: > 0 } hint)
            {
                throw Bad(record.Line, "phone" + hint);
            }

            var phone = fields[0].Trim();
            if (!EnvelopeCodec.TryNormalizePhone(phone, out var normalized))
            {
                // Text without a digit is no phone number to mask: a header such as 'telefone' read as '******ne', and the
                // operator could not see that the header was the problem.
                var hasDigit = phone.AsSpan().ContainsAnyInRange('0', '9');
                var shown = hasDigit ? Cortex.Shared.Privacy.PhoneMask.Mask(EnvelopeFile.Shorten(phone)) : EnvelopeFile.Shorten(phone);
                var header = recipients.Count == 0 && !hasDigit && phone.Length > 0
                    ? " (a header row is taken as one only when its first cell is 'phone')"
                    : string.Empty;
                throw Bad(record.Line, $"phone: '{shown}' is not E.164: '+', then 8 to 15 digits, not starting with 0{header}");
            }

            // The fan-out sends once per row: a number listed twice would get the campaign twice.
            if (!lines.TryAdd(normalized, record.Line))
            {
                throw Bad(record.Line, $"phone: {Cortex.Shared.Privacy.PhoneMask.Mask(normalized)} is already on line {lines[normalized]}; it would get the campaign twice");
            }

            string? variables = null;
            var nameInVariables = false;
            if (fields.Count == 3 && fields[2].Trim().Length > 0)
            {
                try
                {
                    using var document = JsonDocument.Parse(fields[2]);
                    if (document.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        throw Bad(record.Line, "variables: must be a JSON object, e.g. {\"promo\": \"30% off\"}");
                    }

                    if (Unstorable(document.RootElement) is { } why)
                    {
                        throw Bad(record.Line, "variables: " + why);
                    }

                    nameInVariables = document.RootElement.TryGetProperty("name", out _);
                    variables = document.RootElement.GetRawText();
                    if (variables.Length > MaxVariablesLength)
                    {
                        throw Bad(record.Line, $"variables: {variables.Length} characters, over the limit of {MaxVariablesLength}");
                    }
                }
                catch (JsonException ex)
                {
                    // As the enqueue file's lines say it: the reader's positions counted within the cell, not the file.
                    throw Bad(record.Line, "variables: " + EnvelopeReader.SyntaxMessage(ex));
                }
            }

            var name = fields.Count > 1 ? fields[1].Trim() : string.Empty;
            if (name.Length > EnvelopeLimits.MaxTemplateParameterLength)
            {
                throw Bad(record.Line, $"name: {name.Length} characters, over the limit of {EnvelopeLimits.MaxTemplateParameterLength} (a template parameter's)");
            }

            recipients.Add(new Recipient(recipients.Count + 1, normalized, name, variables, record.Line, phone.StartsWith('+'), nameInVariables));
        }

        // An empty file is an export that went wrong far more often than a campaign meant for nobody.
        return recipients.Count > 0
            ? recipients
            : throw new CliException(ExitCodes.StoppedOnBadInput, $"{file.Path}: no recipients in the file (it is empty, blank or only a header); nothing was inserted");
    }

    /// <summary>Why PostgreSQL's jsonb would refuse a value the JSON parser accepts (\u0000, a lone surrogate), or null.</summary>
    private static string? Unstorable(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if ((Unstorable(property) ?? Unstorable(property.Value)) is { } why)
                    {
                        return why;
                    }
                }

                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (Unstorable(item) is { } why)
                    {
                        return why;
                    }
                }

                return null;
            case JsonValueKind.String:
                return Unstorable(() => element.GetString());
            case JsonValueKind.Number:
                // jsonb stores numbers as numeric, which refuses 1e999999: the COPY failed with PostgreSQL's error and no
                // line. Held to a finite double, which also keeps each one a number the fan-out can print.
                return double.TryParse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
                    ? null
                    : $"the number {EnvelopeFile.Shorten(element.GetRawText())} is out of range; quote it to use it as written";
            default:
                return null;
        }
    }

    private static string? Unstorable(JsonProperty property) => Unstorable(() => property.Name);

    private static string? Unstorable(Func<string?> read)
    {
        try
        {
            return read()?.Contains('\0', StringComparison.Ordinal) == true ? "\\u0000 is not allowed in a JSON string (PostgreSQL refuses it)" : null;
        }
        catch (InvalidOperationException)
        {
            return "a JSON string holds a lone surrogate escape (\\ud800 without its pair)";
        }
    }
}
