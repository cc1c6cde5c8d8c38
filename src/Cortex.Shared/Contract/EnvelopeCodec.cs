using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;

namespace Cortex.Shared.Contract;

/// <summary>Parses, validates and writes the public JSON envelope (UTF-8; read by <see cref="EnvelopeReader"/>, written by System.Text.Json source-generated).</summary>
public static class EnvelopeCodec
{
    internal const string LoneSurrogateDetail = "contains half of a character (a lone UTF-16 surrogate; was an emoji cut in two?)";

    /// <summary>What <see cref="IsTenant"/> requires, in words.</summary>
    internal static readonly string TenantRule = $"must be 1 to {EnvelopeLimits.MaxTenantLength} characters of a-z, 0-9, '_', '.', '-'";

    private static readonly SearchValues<char> s_idForbidden = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f \u007f");

    private static readonly SearchValues<char> s_nameChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_.-");

    // WhatsApp template names are lower case letters, digits and underscores.
    private static readonly SearchValues<char> s_templateNameChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_");

    // Stored payloads stay readable in redis-cli ("+55...", quotes, accents) instead of \u002B escapes;
    // they are never embedded in HTML, which is all the default encoder protects against.
    private static readonly JsonTypeInfo<EnvelopeDocument> s_writer = (JsonTypeInfo<EnvelopeDocument>)new JsonSerializerOptions(EnvelopeJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    }.GetTypeInfo(typeof(EnvelopeDocument));

    /// <summary>Parses and validates one envelope; never throws for bad input.</summary>
    public static EnvelopeParseResult Parse(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.Length > EnvelopeLimits.MaxEnvelopeBytes)
        {
            return Fail("$", EnvelopeLimits.OversizedDetail(utf8Json.Length));
        }

        if (utf8Json.IsEmpty)
        {
            return Fail("$", "envelope is empty");
        }

        // Checked up front: the reader only notices bad UTF-8 when it transcodes a value, and then reports it as a type error.
        if (!Utf8.IsValid(utf8Json))
        {
            return Fail("$", $"invalid JSON: not valid UTF-8 (bad byte at offset {InvalidUtf8Offset(utf8Json)})");
        }

        // What .NET's Encoding.UTF8, PowerShell and Windows editors write first; the reader would only quote its first byte.
        if (utf8Json.StartsWith(Utf8ByteOrderMark))
        {
            return Fail("$", "invalid JSON: starts with a UTF-8 byte-order mark (bytes EF BB BF); push the JSON without it");
        }

        return EnvelopeReader.TryRead(utf8Json, out var doc, out var error) ? Validate(doc) : new EnvelopeParseResult(null, error);
    }

    private static ReadOnlySpan<byte> Utf8ByteOrderMark => [0xEF, 0xBB, 0xBF];

    /// <summary>
    /// Reads only the top-level <c>enqueuedAt</c> of a payload, without validating the rest (queue-age metrics read one
    /// message per list on every scrape). Null when absent, not a date, or the payload is not a JSON object.
    /// </summary>
    public static DateTimeOffset? TryReadEnqueuedAt(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isEnqueuedAt = reader.ValueTextEquals("enqueuedAt"u8);
                reader.Read();
                if (isEnqueuedAt)
                {
                    return reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var at) ? at : null;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // A malformed payload has no age to report; the sender dead-letters it with the reason.
        }

        return null;
    }

    /// <summary>
    /// The top-level <c>id</c> of a payload that is not a valid envelope, when it is one a valid envelope could carry:
    /// its dead letter names it, so <c>cortex dlq show &lt;id&gt;</c> finds the producer's message whatever else was
    /// wrong with it. Null when there is none, it is not a valid id, or the object names it twice.
    /// </summary>
    public static string? TryReadId(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.Length > EnvelopeLimits.MaxEnvelopeBytes || !Utf8.IsValid(utf8Json))
        {
            return null;
        }

        // Parse refuses a payload for its byte-order mark alone; its entry still names the id the producer knows it by.
        if (utf8Json.StartsWith(Utf8ByteOrderMark))
        {
            utf8Json = utf8Json[Utf8ByteOrderMark.Length..];
        }

        string? id = null;
        try
        {
            // A block that may continue: a document cut short after its id ends the loop instead of throwing.
            var reader = new Utf8JsonReader(utf8Json, isFinalBlock: false, state: default);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                if (!reader.Read())
                {
                    break;
                }

                if (isId)
                {
                    if (id is not null || reader.TokenType != JsonTokenType.String)
                    {
                        return null;
                    }

                    id = reader.GetString();
                }
                else if (!reader.TrySkip())
                {
                    break;
                }
            }
        }
        catch (JsonException)
        {
            // A syntax error after the id leaves the id read: it is what the producer will look the message up by.
        }
        catch (InvalidOperationException)
        {
            // Half of a surrogate pair in the id: not a string any id could be.
            return null;
        }

        return id is { Length: > 0 and <= EnvelopeLimits.MaxIdLength } && FindSpaceOrControl(id) is null ? id : null;
    }

    /// <summary>Writes an envelope as UTF-8 JSON in the public v1 shape, engine fields included.</summary>
    public static byte[] Serialize(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var doc = new EnvelopeDocument
        {
            // The oldest version that holds the message: a sender of an earlier release still reads all it can.
            Version = envelope.QuietHours is null ? Envelope.FirstVersion : Envelope.QuietHoursVersion,
            Id = envelope.Id,
            To = envelope.To,
            Text = envelope.Text,
            Template = envelope.Template is { } t
                ? new TemplateDocument { Name = t.Name, Language = t.Language, Parameters = t.Parameters.Count == 0 ? null : [.. t.Parameters] }
                : null,
            Kind = envelope.Kind,
            Tenant = envelope.Tenant,
            Priority = envelope.Priority == Priority.Normal ? null : envelope.Priority.ToWire(),
            NotBefore = envelope.NotBefore,
            ExpiresAt = envelope.ExpiresAt,
            QuietHours = envelope.QuietHours?.ToString(),
            TraceId = envelope.TraceId,
            Attributes = envelope.Attributes is { Count: > 0 } a ? new Dictionary<string, string>(a, StringComparer.Ordinal) : null,
            Attempt = envelope.Attempt == 0 ? null : envelope.Attempt,
            EnqueuedAt = envelope.EnqueuedAt,
            LastError = envelope.LastError,
        };
        return JsonSerializer.SerializeToUtf8Bytes(doc, s_writer);
    }

    /// <summary>Validates an envelope built in code with the same rules as one read from the wire.</summary>
    public static EnvelopeError? Validate(Envelope envelope) =>
        TrySerialize(envelope, out _, out var error) ? null : error;

    /// <summary>
    /// Writes an envelope built in code and checks the bytes with the sender's rules: what a producer pushes, or why the
    /// sender would refuse it. Its text reaches the customer as written: a string holding half of a surrogate pair,
    /// which <see cref="Serialize"/> would write as U+FFFD, is refused.
    /// </summary>
    public static bool TrySerialize(Envelope envelope, [NotNullWhen(true)] out byte[]? payload, [NotNullWhen(false)] out EnvelopeError? error)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        payload = null;
        error = FindLoneSurrogate(envelope);
        if (error is not null)
        {
            return false;
        }

        var bytes = Serialize(envelope);
        error = Parse(bytes).Error;
        if (error is not null)
        {
            return false;
        }

        payload = bytes;
        return true;
    }

    private static EnvelopeError? FindLoneSurrogate(Envelope envelope)
    {
        foreach (var (field, value) in Strings(envelope))
        {
            if (value is not null && HasLoneSurrogate(value))
            {
                return new EnvelopeError(field, LoneSurrogateDetail);
            }
        }

        return null;
    }

    // An envelope's strings in the order the wire form has them, named as the sender names them.
    private static IEnumerable<(string Field, string? Value)> Strings(Envelope envelope)
    {
        yield return ("id", envelope.Id);
        yield return ("to", envelope.To);
        yield return ("text", envelope.Text);
        if (envelope.Template is { } template)
        {
            yield return ("template.name", template.Name);
            yield return ("template.language", template.Language);
            for (var i = 0; i < template.Parameters.Count; i++)
            {
                yield return ($"template.parameters[{i}]", template.Parameters[i]);
            }
        }

        yield return ("kind", envelope.Kind);
        yield return ("tenant", envelope.Tenant);
        yield return ("traceId", envelope.TraceId);
        foreach (var (key, value) in envelope.Attributes ?? new Dictionary<string, string>())
        {
            yield return ("attributes", key);
            yield return ($"attributes.{ShownName.Cut(key)}", value);
        }

        yield return ("lastError", envelope.LastError);
    }

    private static bool HasLoneSurrogate(ReadOnlySpan<char> value)
    {
        var i = value.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0)
        {
            if (!char.IsHighSurrogate(value[i]) || i + 1 == value.Length || !char.IsLowSurrogate(value[i + 1]))
            {
                return true;
            }

            i += 2;
            var next = value[i..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + next;
        }

        return false;
    }

    internal static EnvelopeParseResult Validate(EnvelopeDocument doc)
    {
        // A newer version is named before its fields: they are unknown here, and "check its spelling" would send the
        // operator looking for a producer's typo instead of upgrading the sender. Without a version, an unknown field
        // is as likely the misspelt version itself ("Version", "ver"), so it is still reported first.
        if (doc.Version is not (null or Envelope.FirstVersion or Envelope.QuietHoursVersion))
        {
            return Fail("version", $"unsupported version {doc.Version}; this Cortex reads versions {Envelope.FirstVersion} and {Envelope.QuietHoursVersion}");
        }

        if (doc.UnknownField is { } unknown)
        {
            return Fail(ShownName.Cut(unknown), "unknown field (check its spelling; fields are camelCase)");
        }

        if (doc.Version is null)
        {
            return Fail("version", $"is required (use {Envelope.FirstVersion})");
        }

        if (string.IsNullOrEmpty(doc.Id))
        {
            return Fail("id", "is required (the idempotency key)");
        }

        if (doc.Id.Length > EnvelopeLimits.MaxIdLength)
        {
            return Fail("id", $"is {doc.Id.Length} characters, over the {EnvelopeLimits.MaxIdLength} limit");
        }

        if (FindSpaceOrControl(doc.Id) is { } idAt)
        {
            return Fail("id", "must not contain spaces or control characters" + Where(doc.Id, idAt));
        }

        if (string.IsNullOrEmpty(doc.To))
        {
            return Fail("to", "is required (E.164 phone number, e.g. +5511999999999)");
        }

        if (!TryNormalizePhone(doc.To, out var to))
        {
            return Fail("to", $"must be an E.164 number: optional '+', then {EnvelopeLimits.MinPhoneDigits} to {EnvelopeLimits.MaxPhoneDigits} digits, not starting with 0 ({PhoneMistake(doc.To)})");
        }

        var hasText = doc.Text is not null;
        var hasTemplate = doc.Template is not null;
        if (hasText == hasTemplate)
        {
            return Fail("text", hasText ? "set both text and template; set exactly one" : "set either text or template");
        }

        if (hasText)
        {
            if (doc.Text!.Length == 0)
            {
                return Fail("text", "is empty");
            }

            if (string.IsNullOrWhiteSpace(doc.Text))
            {
                return Fail("text", "is empty: it holds only spaces or line breaks");
            }

            if (doc.Text.Length > EnvelopeLimits.MaxTextLength)
            {
                var characters = CountCharacters(doc.Text);
                if (characters > EnvelopeLimits.MaxTextLength)
                {
                    return Fail("text", $"is {characters} characters, over WhatsApp's {EnvelopeLimits.MaxTextLength} limit");
                }
            }
        }

        MessageTemplate? template = null;
        if (doc.Template is { } t)
        {
            var error = ValidateTemplate(t);
            if (error is not null)
            {
                return new EnvelopeParseResult(null, error);
            }

            template = new MessageTemplate(t.Name!, t.Language!, t.Parameters is null ? [] : [.. t.Parameters]);
        }

        if (doc.Kind is not null && !IsName(doc.Kind, EnvelopeLimits.MaxKindLength))
        {
            return Fail("kind", $"must be 1 to {EnvelopeLimits.MaxKindLength} characters of a-z, 0-9, '_', '.', '-' (e.g. billing_reminder)");
        }

        if (doc.Tenant is not null && !IsTenant(doc.Tenant))
        {
            return Fail("tenant", TenantRule);
        }

        if (!PriorityNames.TryParse(doc.Priority, out var priority))
        {
            return Fail("priority", "must be one of high, normal, low");
        }

        if (doc.NotBefore is { } nb && doc.ExpiresAt is { } ea && ea <= nb)
        {
            return Fail("expiresAt", "must be later than notBefore");
        }

        QuietHoursWindow? quietHours = null;
        if (doc.QuietHours is { } quiet)
        {
            if (doc.Version == Envelope.FirstVersion)
            {
                return Fail("quietHours", $"needs version {Envelope.QuietHoursVersion}: version 1 has no quiet hours");
            }

            if (!QuietHoursWindow.TryParse(quiet, out quietHours, out var quietError))
            {
                return Fail("quietHours", quietError);
            }
        }

        if (doc.TraceId is not null)
        {
            if (doc.TraceId.Length is 0 or > EnvelopeLimits.MaxTraceIdLength)
            {
                return Fail("traceId", $"must be 1 to {EnvelopeLimits.MaxTraceIdLength} characters without spaces or control characters" + (doc.TraceId.Length == 0 ? string.Empty : $" (it is {doc.TraceId.Length})"));
            }

            if (FindSpaceOrControl(doc.TraceId) is { } traceAt)
            {
                return Fail("traceId", $"must be 1 to {EnvelopeLimits.MaxTraceIdLength} characters without spaces or control characters" + Where(doc.TraceId, traceAt));
            }
        }

        if (doc.Attributes is { } attributes)
        {
            var error = ValidateAttributes(attributes);
            if (error is not null)
            {
                return new EnvelopeParseResult(null, error);
            }
        }

        if (doc.Attempt is < 0 or > 1000)
        {
            return Fail("attempt", "is engine-owned and must be between 0 and 1000");
        }

        if (doc.LastError is { Length: > 1024 })
        {
            return Fail("lastError", "is engine-owned and limited to 1024 characters");
        }

        return new EnvelopeParseResult(
            new Envelope
            {
                Id = doc.Id,
                To = to,
                Text = doc.Text,
                Template = template,
                Kind = doc.Kind,
                Tenant = doc.Tenant,
                Priority = priority,
                NotBefore = doc.NotBefore,
                ExpiresAt = doc.ExpiresAt,
                QuietHours = quietHours,
                TraceId = doc.TraceId,
                Attributes = doc.Attributes,
                Attempt = doc.Attempt ?? 0,
                EnqueuedAt = doc.EnqueuedAt,
                LastError = doc.LastError,
            },
            null);
    }

    private static EnvelopeError? ValidateTemplate(TemplateDocument t)
    {
        if (t.UnknownField is { } unknown)
        {
            return new("template." + ShownName.Cut(unknown), "unknown field (template has name, language, parameters)");
        }

        if (string.IsNullOrEmpty(t.Name))
        {
            return new("template.name", "is required");
        }

        if (t.Name.Length > EnvelopeLimits.MaxTemplateNameLength || t.Name.AsSpan().ContainsAnyExcept(s_templateNameChars))
        {
            return new("template.name", $"must be 1 to {EnvelopeLimits.MaxTemplateNameLength} characters of a-z, 0-9, '_' (WhatsApp template names are lower case)");
        }

        if (string.IsNullOrEmpty(t.Language))
        {
            return new("template.language", "is required (e.g. pt_BR)");
        }

        if (!IsLanguage(t.Language))
        {
            return new("template.language", "must be a language code such as pt_BR, en_US or es");
        }

        if (t.Parameters is { } parameters)
        {
            if (parameters.Count > EnvelopeLimits.MaxTemplateParameters)
            {
                return new("template.parameters", $"has {parameters.Count} entries, over the {EnvelopeLimits.MaxTemplateParameters} limit");
            }

            for (var i = 0; i < parameters.Count; i++)
            {
                if (parameters[i] is null)
                {
                    return new($"template.parameters[{i}]", "must be a string, not null");
                }

                if (parameters[i].Length > EnvelopeLimits.MaxTemplateParameterLength)
                {
                    return new($"template.parameters[{i}]", $"is over {EnvelopeLimits.MaxTemplateParameterLength} characters ({Units(parameters[i])})");
                }

                // WhatsApp refuses the whole message for these (HTTP 400): caught here, the producer learns why, and the
                // gateway's refusal cannot read as a configuration error that pauses sending.
                if (string.IsNullOrWhiteSpace(parameters[i]))
                {
                    return new($"template.parameters[{i}]", "must not be empty or blank: WhatsApp refuses a template with an empty parameter");
                }

                if (parameters[i].AsSpan().IndexOfAny('\n', '\r', '\t') >= 0 || parameters[i].Contains("     ", StringComparison.Ordinal))
                {
                    return new($"template.parameters[{i}]", "must not hold a new line, a tab or more than 4 spaces in a row: WhatsApp refuses such a template parameter");
                }
            }
        }

        return null;
    }

    private static EnvelopeError? ValidateAttributes(Dictionary<string, string> attributes)
    {
        if (attributes.Count > EnvelopeLimits.MaxAttributes)
        {
            return new("attributes", $"has {attributes.Count} entries, over the {EnvelopeLimits.MaxAttributes} limit");
        }

        foreach (var (key, value) in attributes)
        {
            if (key.Length is 0 or > EnvelopeLimits.MaxAttributeKeyLength)
            {
                // Which key, of up to 16: named as an unknown field is, cut, so a huge key cannot make a huge detail.
                var which = key.Length == 0 ? "one is empty" : $"'{ShownName.Cut(key)}' is {key.Length}";
                return new("attributes", $"keys must be 1 to {EnvelopeLimits.MaxAttributeKeyLength} characters: {which}");
            }

            if (value is null)
            {
                return new($"attributes.{key}", "must be a string, not null");
            }

            if (value.Length > EnvelopeLimits.MaxAttributeValueLength)
            {
                return new($"attributes.{key}", $"is over {EnvelopeLimits.MaxAttributeValueLength} characters ({Units(value)})");
            }
        }

        return null;
    }

    /// <summary>Accepts "+5511999999999" or "5511999999999"; returns the '+'-prefixed form.</summary>
    public static bool TryNormalizePhone(string value, out string normalized)
    {
        normalized = string.Empty;
        var digits = value.AsSpan();
        if (digits.Length > 0 && digits[0] == '+')
        {
            digits = digits[1..];
        }

        if (digits.Length < EnvelopeLimits.MinPhoneDigits || digits.Length > EnvelopeLimits.MaxPhoneDigits || digits[0] == '0')
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        normalized = value[0] == '+' ? value : "+" + value;
        return true;
    }

    // What is wrong with a number TryNormalizePhone refused, in the order a producer would fix it, and without the number:
    // the detail reaches logs, terminals and dead-letter listings, where a phone number is shown masked or not at all.
    private static string PhoneMistake(string value)
    {
        var start = value.StartsWith('+') ? 1 : 0;
        var digits = value.AsSpan(start);
        var other = digits.IndexOfAnyExceptInRange('0', '9');
        if (other >= 0)
        {
            // One character, named by its code point: the space, dash or full-width digit a producer's formatting left.
            Rune.DecodeFromUtf16(digits[other..], out var rune, out _);
            return string.Create(CultureInfo.InvariantCulture, $"U+{rune.Value:X4} at character {start + other + 1} is not a digit");
        }

        if (digits.Length > 0 && digits[0] == '0')
        {
            return "its first digit is 0: write the country code, without a 0 or 00 dialling prefix";
        }

        return digits.Length == 0 ? "it has no digits" : string.Create(CultureInfo.InvariantCulture, $"it has {digits.Length} digits");
    }

    // Where the first space, line break, control or invisible format character is, as a UTF-16 index. Any Unicode one,
    // not only ASCII: an id holding U+00A0 or U+200B looks like another and is a different idempotency key; U+0085 and
    // U+2028 break a log line in two.
    private static int? FindSpaceOrControl(string value)
    {
        if (Ascii.IsValid(value))
        {
            var at = value.AsSpan().IndexOfAny(s_idForbidden);
            return at < 0 ? null : at;
        }

        var index = 0;
        foreach (var rune in value.EnumerateRunes())
        {
            // Format characters print as nothing, so two ids that look alike are two keys; but the joiners are part of
            // text (Persian and Indic words need U+200C, joined emoji U+200D) and so are the tag characters of flag emoji.
            if (Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
                    or UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                && rune.Value is not (0x200C or 0x200D or (>= 0xE0020 and <= 0xE007F)))
            {
                return index;
            }

            index += rune.Utf16SequenceLength;
        }

        return null;
    }

    // The character refused and where, for a producer who cannot see it: U+00A0 and U+200B look like nothing or a space.
    private static string Where(string value, int index) =>
        string.Create(CultureInfo.InvariantCulture, $" (U+{char.ConvertToUtf32(value, index):X4} at character {index + 1})");

    // A length over a limit in the units the limit counts (UTF-16), which a producer counting the emoji they see would not get.
    private static string Units(string value) => CountCharacters(value) == value.Length
        ? string.Create(CultureInfo.InvariantCulture, $"it is {value.Length}")
        : string.Create(CultureInfo.InvariantCulture, $"it is {value.Length}; an emoji counts as 2");

    /// <summary>The envelope's rule for a tenant, which anything matched against a message's tenant must follow too.</summary>
    internal static bool IsTenant(string value) => IsName(value, EnvelopeLimits.MaxTenantLength);

    private static bool IsName(string value, int maxLength) =>
        value.Length > 0 && value.Length <= maxLength && !value.AsSpan().ContainsAnyExcept(s_nameChars);

    private static bool IsLanguage(string value)
    {
        // ISO 639 language, optionally '_' or '-' and a region: es, pt_BR, en-US, zh_Hant_TW is not used by WhatsApp.
        if (value.Length is < 2 or > 15)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetter(c) && c != '_' && c != '-')
            {
                return false;
            }
        }

        return char.IsAsciiLetterLower(value[0]);
    }

    private static int CountCharacters(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    private static int InvalidUtf8Offset(ReadOnlySpan<byte> utf8)
    {
        var offset = 0;
        while (offset < utf8.Length && Rune.DecodeFromUtf8(utf8[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        return offset;
    }

    private static EnvelopeParseResult Fail(string field, string message) => new(null, new EnvelopeError(field, message));
}
