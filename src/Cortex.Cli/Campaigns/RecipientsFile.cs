using System.Text.Json;
using Cortex.Cli.Files;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Campaigns;

/// <summary>One campaign recipient from the file: its id is its position (1, 2, ...), which orders the fan-out.</summary>
internal sealed record Recipient(long Id, string Phone, string Name, string? VariablesJson);

/// <summary>
/// Reads a recipients CSV: phone,name[,variables] per row, an optional header row starting with "phone". Phones must be
/// E.164 as the table's CHECK wants them (a missing '+' is added); variables, when given, a JSON object. The whole file
/// is checked before anything is written: the first bad row stops it with its line number.
/// </summary>
internal static class RecipientsFile
{
    public const string Help = """
        Recipients CSV: phone,name[,variables] per row; an optional header row starting with 'phone'.
          phone      E.164: '+', then 8 to 15 digits, not starting with 0 (a missing '+' is added)
          name       the {name} of the template (may be empty)
          variables  a JSON object for the template's other placeholders, quoted as CSV:
                     +5511987654321,Ana,"{""promo"": ""30% off""}"
        A bad row stops the command (exit 3) with 'line N: field: reason'; nothing is inserted.
        """;

    public static async Task<List<Recipient>> ReadAsync(TextReader reader, CancellationToken cancellationToken)
    {
        var csv = new CsvReader(reader);
        var recipients = new List<Recipient>();
        var first = true;
        while (await csv.ReadAsync(cancellationToken) is { } record)
        {
            if (record.Error is not null)
            {
                throw Bad(record.Line, record.Error);
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

            var phone = fields[0].Trim();
            if (!EnvelopeCodec.TryNormalizePhone(phone, out var normalized))
            {
                throw Bad(record.Line, $"phone: '{(phone.Length == 0 ? string.Empty : Cortex.Shared.Privacy.PhoneMask.Mask(phone))}' is not E.164: '+', then 8 to 15 digits, not starting with 0");
            }

            string? variables = null;
            if (fields.Count == 3 && fields[2].Trim().Length > 0)
            {
                try
                {
                    using var document = JsonDocument.Parse(fields[2]);
                    if (document.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        throw Bad(record.Line, "variables: must be a JSON object, e.g. {\"promo\": \"30% off\"}");
                    }

                    variables = document.RootElement.GetRawText();
                }
                catch (JsonException ex)
                {
                    throw Bad(record.Line, "variables: invalid JSON: " + ex.Message.Split(" Path:")[0]);
                }
            }

            recipients.Add(new Recipient(recipients.Count + 1, normalized, fields.Count > 1 ? fields[1].Trim() : string.Empty, variables));
        }

        return recipients;
    }

    private static CliException Bad(int line, string message) => new(ExitCodes.StoppedOnBadInput, $"line {line}: {message}; nothing was inserted");
}
