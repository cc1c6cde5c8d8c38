using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Cortex.Shared.Contract;

namespace Cortex.Shared.Tests.Contract;

/// <summary>
/// The parser <see cref="EnvelopeCodec.Parse"/> used before it read the JSON by hand: the source-generated
/// deserializer, then the exception's message and path turned into an error. Frozen here as the oracle of the
/// differential tests; the validation after deserializing is the codec's own (<see cref="EnvelopeCodec.Validate(EnvelopeDocument)"/>).
/// </summary>
internal static class ReferenceEnvelopeParser
{
    public static EnvelopeParseResult Parse(ReadOnlySpan<byte> utf8Json)
    {
        // Empty, oversized and invalid UTF-8 input never reached the deserializer: the codec answers those itself. Not
        // frozen: a byte-order mark was quoted by its first byte ('0xEF' is an invalid start of a value); the codec names it.
        if (utf8Json.IsEmpty || utf8Json.Length > EnvelopeLimits.MaxEnvelopeBytes || !System.Text.Unicode.Utf8.IsValid(utf8Json) || utf8Json.StartsWith("\uFEFF"u8))
        {
            return EnvelopeCodec.Parse(utf8Json);
        }

        ReferenceDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize(utf8Json, ReferenceJsonContext.Default.ReferenceDocument);
        }
        catch (JsonException ex)
        {
            return Fail(FieldOf(ex.Path), DescribeJsonError(ex, utf8Json));
        }
        catch (InvalidOperationException ex)
        {
            return Fail("$", "invalid JSON: " + ex.Message);
        }

        return doc is null ? Fail("$", "envelope must be a JSON object, not null") : EnvelopeCodec.Validate(doc.ToDocument());
    }

    private static string FieldOf(string? jsonPath)
    {
        if (string.IsNullOrEmpty(jsonPath) || jsonPath == "$")
        {
            return "$";
        }

        var field = jsonPath.StartsWith("$.", StringComparison.Ordinal) ? jsonPath[2..] : jsonPath.TrimStart('$');
        return field.Length == 0 ? "$" : field;
    }

    private static string DescribeJsonError(JsonException ex, ReadOnlySpan<byte> utf8Json)
    {
        var field = FieldOf(ex.Path);
        if (ex.Message.Contains("maximum configured depth", StringComparison.Ordinal))
        {
            return $"invalid JSON: nested deeper than {EnvelopeLimits.MaxJsonDepth} levels";
        }

        // Not frozen: the deserializer reported a whole document followed by more bytes as cut off, which sent producers
        // looking for a truncation. Where it said so, at the position it gave, the trailing data is named now.
        if (ex.Message.Contains("is invalid after a single JSON value", StringComparison.Ordinal))
        {
            var value = utf8Json.TrimStart(" \t\r\n"u8)[0] == (byte)'{' ? "JSON object" : "JSON value";
            return string.Create(CultureInfo.InvariantCulture, $"invalid JSON: unexpected data after the end of the {value} at byte {ByteOffset(utf8Json, ex)}");
        }

        if (ex.Message.Contains("Expected depth to be zero", StringComparison.Ordinal) || ex.Message.Contains("end of data", StringComparison.OrdinalIgnoreCase))
        {
            return "invalid JSON: the document ends before it is complete (truncated?)";
        }

        if (ex.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return "invalid JSON: a property appears twice";
        }

        if (ex.LineNumber is not null && ex.Message.Contains("could not be converted", StringComparison.Ordinal))
        {
            return field switch
            {
                "$" => "envelope must be a JSON object",
                "version" or "attempt" => "must be a whole number",
                "notBefore" or "expiresAt" or "enqueuedAt" => "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00",
                "template" => "must be an object with name, language and parameters",
                "attributes" => "must be an object of string values",
                var f when f.StartsWith("template.parameters", StringComparison.Ordinal) => "must be an array of strings",
                var f when f.StartsWith("attributes", StringComparison.Ordinal) => "attribute values must be strings",
                _ => "must be a string",
            };
        }

        if (EndsEarly(utf8Json))
        {
            return "invalid JSON: the document ends before it is complete (truncated?)";
        }

        var message = ex.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0)
        {
            message = message[..cut];
        }

        // Not frozen: the deserializer quoted a bad literal up to the next delimiter, a whole payload with its phone
        // numbers when it had none. That was a leak, not a contract: both parsers mask and cut the quote now.
        return string.Create(CultureInfo.InvariantCulture, $"invalid JSON: {EnvelopeReader.QuoteShown(message)}");
    }

    // The deserializer's position (line, byte in that line) as an offset from the start of the payload.
    private static long ByteOffset(ReadOnlySpan<byte> utf8Json, JsonException ex)
    {
        var lineStart = 0;
        for (var line = 0L; line < ex.LineNumber; line++)
        {
            lineStart += utf8Json[lineStart..].IndexOf((byte)'\n') + 1;
        }

        return lineStart + ex.BytePositionInLine!.Value;
    }

    private static bool EndsEarly(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, isFinalBlock: false, state: default);
        try
        {
            while (reader.Read())
            {
            }
        }
        catch (JsonException)
        {
            return false;
        }

        return reader.CurrentDepth > 0 || reader.BytesConsumed < utf8Json.Length;
    }

    private static EnvelopeParseResult Fail(string field, string message) => new(null, new EnvelopeError(field, message));
}

internal sealed class ReferenceDocument
{
    public int? Version { get; set; }
    public string? Id { get; set; }
    public string? To { get; set; }
    public string? Text { get; set; }
    public ReferenceTemplate? Template { get; set; }
    public string? Kind { get; set; }
    public string? Tenant { get; set; }
    public string? Priority { get; set; }
    public DateTimeOffset? NotBefore { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public string? QuietHours { get; set; }
    public string? TraceId { get; set; }
    public Dictionary<string, string>? Attributes { get; set; }
    public int? Attempt { get; set; }
    public DateTimeOffset? EnqueuedAt { get; set; }
    public string? LastError { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }

    public EnvelopeDocument ToDocument() => new()
    {
        Version = Version,
        Id = Id,
        To = To,
        Text = Text,
        Template = Template is null
            ? null
            : new TemplateDocument { Name = Template.Name, Language = Template.Language, Parameters = Template.Parameters, UnknownField = Template.Unknown?.Keys.FirstOrDefault() },
        Kind = Kind,
        Tenant = Tenant,
        Priority = Priority,
        NotBefore = NotBefore,
        ExpiresAt = ExpiresAt,
        QuietHours = QuietHours,
        TraceId = TraceId,
        Attributes = Attributes,
        Attempt = Attempt,
        EnqueuedAt = EnqueuedAt,
        LastError = LastError,
        UnknownField = Unknown?.Keys.FirstOrDefault(),
    };
}

internal sealed class ReferenceTemplate
{
    public string? Name { get; set; }
    public string? Language { get; set; }
    public List<string>? Parameters { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowDuplicateProperties = false,
    MaxDepth = EnvelopeLimits.MaxJsonDepth)]
[JsonSerializable(typeof(ReferenceDocument))]
internal sealed partial class ReferenceJsonContext : JsonSerializerContext;
