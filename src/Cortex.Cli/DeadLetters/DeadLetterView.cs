using System.Text.Json;
using System.Text.Json.Nodes;
using Cortex.Cli.Output;
using Cortex.Shared.Contract;
using Cortex.Shared.Privacy;
using Cortex.Shared.Queue;

namespace Cortex.Cli.DeadLetters;

/// <summary>A dead letter as the CLI shows it: the entry's fields, plus what its payload says (recipient, expiry).</summary>
internal sealed class DeadLetterView
{
    /// <summary>The reason shown (and matched by --reason) for an entry that cannot be read.</summary>
    public const string Unreadable = "unreadable";

    private static readonly JsonSerializerOptions s_pretty = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // A payload is the producer's, dead-lettered because it broke the contract: a field twice among others. A JsonObject
    // holding one throws ArgumentException when first read, so it is refused at the parse and shown as stored instead.
    private static readonly JsonDocumentOptions s_payloadOptions = new() { AllowDuplicateProperties = false };

    private DeadLetterView(DeadLetterRecord record)
    {
        Record = record;
        var entry = record.Entry;
        var payload = record.Payload();
        Envelope = payload.Length > 0 ? EnvelopeCodec.Parse(payload).Envelope : null;
        To = Envelope?.To ?? ReadTo(entry?.Payload);
    }

    public DeadLetterRecord Record { get; }

    public DeadLetterEntry? Entry => Record.Entry;

    /// <summary>The payload as a valid envelope; null for invalid envelopes and unreadable entries.</summary>
    public Envelope? Envelope { get; }

    /// <summary>The recipient, unmasked: only <see cref="MaskedTo"/> is ever printed, except by show --reveal.</summary>
    public string? To { get; }

    public string MaskedTo => PhoneMask.Mask(To);

    public string Reason => Entry?.Reason ?? Unreadable;

    public string Detail => Terminal.MaskPhones(Entry?.Detail) ?? "the stored entry is not a dead-letter JSON object";

    public static DeadLetterView From(DeadLetterRecord record) => new(record);

    /// <summary>What a list row shows, without the payload: rows are kept while the list is read, payloads are not.</summary>
    public DeadLetterRow Row() => new(
        Record.Index,
        Entry?.DeadAt,
        Reason,
        Entry?.Kind,
        Entry?.Attempts ?? 0,
        Entry?.Deliveries ?? 0,
        Entry?.MessageId,
        To is null ? null : MaskedTo,
        Detail,
        Terminal.MaskPhones(Entry?.LastError));

    /// <summary>
    /// The payload for show: pretty JSON with the recipient masked unless <paramref name="reveal"/>, and every other run of
    /// digits that could be a phone number too. The payloads dead-lettered are the ones that broke the contract: a number
    /// where the text "to" belongs, or in a field of another name ("To", "phone").
    /// </summary>
    public string PayloadText(bool reveal)
    {
        if (Entry is null)
        {
            var raw = System.Text.Encoding.UTF8.GetString(Record.Raw.Span);
            return reveal ? raw : Terminal.MaskPhones(raw)!;
        }

        if (Entry.Payload is null)
        {
            return Entry.PayloadBase64 is { } b64 ? $"(not UTF-8; base64) {b64}" : "(no payload)";
        }

        try
        {
            var node = JsonNode.Parse(Entry.Payload, documentOptions: s_payloadOptions);
            if (node is JsonObject obj)
            {
                if (!reveal && obj["to"] is JsonValue to && to.TryGetValue<string>(out var phone))
                {
                    obj["to"] = PhoneMask.Mask(phone);
                }

                var pretty = obj.ToJsonString(s_pretty);
                return reveal ? pretty : Terminal.MaskPhones(pretty)!;
            }
        }
        catch (JsonException)
        {
            // Not JSON (an invalid envelope pushed raw) or a name twice in an object: shown as stored, numbers masked.
        }

        return reveal ? Entry.Payload : Terminal.MaskPhones(Entry.Payload)!;
    }

    private static string? ReadTo(string? payload)
    {
        if (payload is null)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(payload, documentOptions: s_payloadOptions) is JsonObject obj && obj["to"] is JsonValue to && to.TryGetValue<string>(out var phone) ? phone : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A dead letter's row in <c>dlq list</c> and a dry run: phone numbers masked, no payload.</summary>
internal sealed record DeadLetterRow(
    long Index, DateTimeOffset? DeadAt, string Reason, string? Kind, int Attempts, int Deliveries, string? MessageId, string? MaskedTo, string Detail, string? LastError);
