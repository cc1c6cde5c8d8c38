using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Cortex.Shared.Contract;

/// <summary>
/// Reads an envelope's JSON into an <see cref="EnvelopeDocument"/> in one pass over <see cref="Utf8JsonReader"/>.
/// The first problem is reported the way the System.Text.Json deserializer this replaces reported it (the same field,
/// the same words: producers and the docs quote them), but without throwing: only JSON syntax errors still come as
/// exceptions, from the reader itself. Malformed input is what a sender sees in bulk when a producer breaks.
/// </summary>
internal ref struct EnvelopeReader
{
    private const string TruncatedMessage = "invalid JSON: the document ends before it is complete (truncated?)";

    // Longer than any timestamp the reader reads (2026-11-22T09:00:00.1234567+03:00 is 33 characters).
    private const int MaxTimestampLength = 64;

    // One past the limit, so the reader never throws for depth: ReadUnknown stops at the limit first.
    private static readonly JsonReaderOptions s_options = new() { MaxDepth = EnvelopeLimits.MaxJsonDepth + 1 };

    private static readonly string[] s_rootMembers =
        ["version", "id", "to", "text", "template", "kind", "tenant", "priority", "notBefore", "expiresAt", "traceId", "attributes", "attempt", "enqueuedAt", "lastError", "quietHours"];

    private static readonly string[] s_templateMembers = ["name", "language", "parameters"];

    private static readonly byte[][] s_rootMembersUtf8 = [.. s_rootMembers.Select(Encoding.UTF8.GetBytes)];
    private static readonly byte[][] s_templateMembersUtf8 = [.. s_templateMembers.Select(Encoding.UTF8.GetBytes)];

    // A JSON path writes a name holding one of these as ['name'] instead of .name; fields kept that form.
    private static readonly SearchValues<char> s_bracketedNameChars = SearchValues.Create(". '/\"[]()\t\n\r\f\b\\\u0085\u2028\u2029");

    private readonly ReadOnlySpan<byte> _json;
    private Utf8JsonReader _reader;

    // Where the reader is, for the field an error names.
    private Scope _scope;
    private string? _member;
    private string? _templateMember;
    private string? _attributeKey; // the last key read, kept until the next one as the deserializer's path did
    private int _parameter;

    private EnvelopeReader(ReadOnlySpan<byte> utf8Json, bool isFinalBlock)
    {
        _json = utf8Json;
        _reader = new Utf8JsonReader(utf8Json, isFinalBlock, new JsonReaderState(s_options));
    }

    private enum Scope
    {
        Root,
        Template,
        Parameters,
        Attributes,
    }

    private enum Member
    {
        Unknown = -1,
        Version,
        Id,
        To,
        Text,
        Template,
        Kind,
        Tenant,
        Priority,
        NotBefore,
        ExpiresAt,
        TraceId,
        Attributes,
        Attempt,
        EnqueuedAt,
        LastError,
        QuietHours,
    }

    private enum TemplateMember
    {
        Unknown = -1,
        Name,
        Language,
        Parameters,
    }

    private readonly string Field => _scope switch
    {
        Scope.Template => FieldName("template", _templateMember),
        Scope.Parameters => string.Create(CultureInfo.InvariantCulture, $"template.parameters[{_parameter}]"),
        Scope.Attributes => FieldName("attributes", _attributeKey),
        _ => FieldName(null, _member),
    };

    /// <summary>Reads the document, or says why it is not an envelope-shaped JSON object. Valid UTF-8 is assumed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> utf8Json, [NotNullWhen(true)] out EnvelopeDocument? document, [NotNullWhen(false)] out EnvelopeError? error)
    {
        // Read as a block that may continue, the reader stops at a cut-off document instead of throwing.
        var reader = new EnvelopeReader(utf8Json, isFinalBlock: false);
        if (!reader.TryReadFirstToken(out var firstTokenError))
        {
            document = null;
            error = firstTokenError ?? ReadLoneValue(utf8Json, endsEarly: reader._reader.BytesConsumed < utf8Json.Length);
            return false;
        }

        return reader.TryReadDocument(out document, out error);
    }

    // "42", "tru", "   ": only the final block tells a complete lone value from a cut-off one.
    private static EnvelopeError ReadLoneValue(ReadOnlySpan<byte> utf8Json, bool endsEarly)
    {
        var reader = new EnvelopeReader(utf8Json, isFinalBlock: true);
        if (reader.TryReadFirstToken(out var error))
        {
            return reader.TryReadDocument(out _, out error) ? throw new UnreachableException("a lone value is not an object") : error;
        }

        // The deserializer's rule: bytes a reader waiting for more data left unread mean the document was cut off.
        return endsEarly || error is null ? reader.Truncated() : error;
    }

    private static string FieldName(string? parent, string? name)
    {
        if (name is null)
        {
            return parent ?? "$";
        }

        name = ShownName.Cut(name);

        if (name.AsSpan().ContainsAny(s_bracketedNameChars))
        {
            return $"{parent}['{name}']";
        }

        return parent is null ? (name.Length == 0 ? "$" : name) : $"{parent}.{name}";
    }

    private static int IndexOf(byte[][] names, ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (name.SequenceEqual(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    // Whether this member was read before in the same object: known members (index ≥ 0) by a bit each, unknown ones
    // (-1) by name.
    private static bool SecondTime(ref int seen, ref HashSet<string>? unknown, int member, string name)
    {
        if (member < 0)
        {
            return !(unknown ??= new(StringComparer.Ordinal)).Add(name);
        }

        var bit = 1 << member;
        var repeated = (seen & bit) != 0;
        seen |= bit;
        return repeated;
    }

    private bool TryReadFirstToken(out EnvelopeError? error)
    {
        error = null;
        try
        {
            return _reader.Read();
        }
        catch (JsonException ex)
        {
            error = SyntaxError(ex);
            return false;
        }
    }

    private bool TryReadDocument([NotNullWhen(true)] out EnvelopeDocument? document, [NotNullWhen(false)] out EnvelopeError? error)
    {
        document = null;
        try
        {
            switch (_reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    var doc = new EnvelopeDocument();
                    error = ReadRoot(doc) ?? ReadEnd();
                    if (error is not null)
                    {
                        return false;
                    }

                    document = doc;
                    return true;
                case JsonTokenType.Null:
                    error = ReadEnd() ?? new EnvelopeError("$", "envelope must be a JSON object, not null");
                    return false;
                default:
                    error = TypeError();
                    return false;
            }
        }
        catch (JsonException ex)
        {
            error = SyntaxError(ex);
            return false;
        }
        catch (InvalidOperationException)
        {
            // A string or name whose \u escapes are not valid UTF-16: the deserializer called that a value of the wrong type.
            error = TypeError();
            return false;
        }
    }

    // Anything but whitespace after the top-level value: the reader would throw "Expected end of data", which the
    // deserializer reported as a cut-off document. The document is whole, so it is called what it is: a producer that
    // pushed two envelopes in one element, or a newline-delimited batch, needs to hear that, not "truncated?".
    private readonly EnvelopeError? ReadEnd()
    {
        var consumed = (int)_reader.BytesConsumed;
        var rest = _json[consumed..];
        var trimmed = rest.TrimStart(" \t\r\n"u8);
        if (trimmed.IsEmpty)
        {
            return null;
        }

        var at = consumed + rest.Length - trimmed.Length;
        var value = _reader.TokenType == JsonTokenType.EndObject ? "JSON object" : "JSON value";
        return new EnvelopeError("$", string.Create(CultureInfo.InvariantCulture, $"invalid JSON: unexpected data after the end of the {value} at byte {at}"));
    }

    private EnvelopeError? ReadRoot(EnvelopeDocument doc)
    {
        var seen = 0;
        HashSet<string>? unknown = null;
        while (true)
        {
            _member = null;
            if (!_reader.Read())
            {
                return Truncated();
            }

            if (_reader.TokenType == JsonTokenType.EndObject)
            {
                return null;
            }

            var member = (Member)IndexOf(s_rootMembersUtf8, MemberName());
            _member = member == Member.Unknown ? _reader.GetString()! : s_rootMembers[(int)member];
            if (!_reader.Read())
            {
                return Truncated();
            }

            var error = member == Member.Unknown ? ReadUnknown() : ReadMember(member, doc);
            if (error is not null)
            {
                return error;
            }

            // Checked after the value, as the deserializer did: a wrong type in the second copy is reported as that.
            if (SecondTime(ref seen, ref unknown, (int)member, _member))
            {
                return Duplicate();
            }

            if (member == Member.Unknown)
            {
                doc.UnknownField ??= _member;
            }
        }
    }

    private EnvelopeError? ReadMember(Member member, EnvelopeDocument doc)
    {
        EnvelopeError? error;
        switch (member)
        {
            case Member.Version:
                error = ReadInt(out var version);
                doc.Version = version;
                break;
            case Member.Id:
                error = ReadString(out var id);
                doc.Id = id;
                break;
            case Member.To:
                error = ReadString(out var to);
                doc.To = to;
                break;
            case Member.Text:
                error = ReadString(out var text);
                doc.Text = text;
                break;
            case Member.Template:
                error = ReadTemplate(out var template);
                doc.Template = template;
                break;
            case Member.Kind:
                error = ReadString(out var kind);
                doc.Kind = kind;
                break;
            case Member.Tenant:
                error = ReadString(out var tenant);
                doc.Tenant = tenant;
                break;
            case Member.Priority:
                error = ReadString(out var priority);
                doc.Priority = priority;
                break;
            case Member.NotBefore:
                error = ReadTimestamp(out var notBefore);
                doc.NotBefore = notBefore;
                break;
            case Member.ExpiresAt:
                error = ReadTimestamp(out var expiresAt);
                doc.ExpiresAt = expiresAt;
                break;
            case Member.TraceId:
                error = ReadString(out var traceId);
                doc.TraceId = traceId;
                break;
            case Member.Attributes:
                error = ReadAttributes(out var attributes);
                doc.Attributes = attributes;
                break;
            case Member.Attempt:
                error = ReadInt(out var attempt);
                doc.Attempt = attempt;
                break;
            case Member.EnqueuedAt:
                error = ReadTimestamp(out var enqueuedAt);
                doc.EnqueuedAt = enqueuedAt;
                break;
            case Member.LastError:
                error = ReadString(out var lastError);
                doc.LastError = lastError;
                break;
            default:
                error = ReadString(out var quietHours);
                doc.QuietHours = quietHours;
                break;
        }

        return error;
    }

    private EnvelopeError? ReadTemplate(out TemplateDocument? template)
    {
        template = null;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            return TypeError();
        }

        _scope = Scope.Template;
        var doc = new TemplateDocument();
        var seen = 0;
        HashSet<string>? unknown = null;
        while (true)
        {
            _templateMember = null;
            if (!_reader.Read())
            {
                return Truncated();
            }

            if (_reader.TokenType == JsonTokenType.EndObject)
            {
                _scope = Scope.Root;
                template = doc;
                return null;
            }

            var member = (TemplateMember)IndexOf(s_templateMembersUtf8, MemberName());
            _templateMember = member == TemplateMember.Unknown ? _reader.GetString()! : s_templateMembers[(int)member];
            if (!_reader.Read())
            {
                return Truncated();
            }

            EnvelopeError? error;
            switch (member)
            {
                case TemplateMember.Name:
                    error = ReadString(out var name);
                    doc.Name = name;
                    break;
                case TemplateMember.Language:
                    error = ReadString(out var language);
                    doc.Language = language;
                    break;
                case TemplateMember.Parameters:
                    error = ReadParameters(out var parameters);
                    doc.Parameters = parameters;
                    break;
                default:
                    error = ReadUnknown();
                    break;
            }

            if (error is not null)
            {
                return error;
            }

            if (SecondTime(ref seen, ref unknown, (int)member, _templateMember))
            {
                return Duplicate();
            }

            if (member == TemplateMember.Unknown)
            {
                doc.UnknownField ??= _templateMember;
            }
        }
    }

    private EnvelopeError? ReadParameters(out List<string>? parameters)
    {
        parameters = null;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (_reader.TokenType != JsonTokenType.StartArray)
        {
            return TypeError();
        }

        _scope = Scope.Parameters;
        var list = new List<string>();
        while (true)
        {
            _parameter = list.Count;
            if (!_reader.Read())
            {
                return Truncated();
            }

            if (_reader.TokenType == JsonTokenType.EndArray)
            {
                _scope = Scope.Template;
                parameters = list;
                return null;
            }

            // A null stays in the list: validation names it ("must be a string, not null").
            var error = ReadString(out var parameter);
            if (error is not null)
            {
                return error;
            }

            list.Add(parameter!);
        }
    }

    private EnvelopeError? ReadAttributes(out Dictionary<string, string>? attributes)
    {
        attributes = null;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            return TypeError();
        }

        _scope = Scope.Attributes;
        _attributeKey = null;
        var dictionary = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            if (!_reader.Read())
            {
                return Truncated();
            }

            if (_reader.TokenType == JsonTokenType.EndObject)
            {
                _scope = Scope.Root;
                attributes = dictionary;
                return null;
            }

            // As in a value (ReadString), and named as CortexClient names it: the key itself cannot become a string.
            if (_reader.ValueIsEscaped && HasLoneSurrogate(_reader.ValueSpan))
            {
                return new EnvelopeError("attributes", EnvelopeCodec.LoneSurrogateDetail);
            }

            _attributeKey = _reader.GetString()!;
            if (!_reader.Read())
            {
                return Truncated();
            }

            // A null value is kept for validation to name, like a null parameter.
            var error = ReadString(out var value);
            if (error is not null)
            {
                return error;
            }

            if (!dictionary.TryAdd(_attributeKey, value!))
            {
                return Duplicate();
            }
        }
    }

    // An unknown member's value is only checked the way the deserializer checked what it kept as a JsonElement: it
    // nests at most MaxJsonDepth deep and its objects name no member twice. Those checks come after the whole value
    // reads, innermost object first; a syntax error anywhere in the value comes before them.
    private EnvelopeError? ReadUnknown()
    {
        if (_reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return null;
        }

        var start = _reader.CurrentDepth;
        var open = new Stack<List<string?>?>();
        EnvelopeError? namesError = null;
        do
        {
            switch (_reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    if (_reader.CurrentDepth >= EnvelopeLimits.MaxJsonDepth)
                    {
                        return new EnvelopeError(Field, $"invalid JSON: nested deeper than {EnvelopeLimits.MaxJsonDepth} levels");
                    }

                    open.Push(_reader.TokenType == JsonTokenType.StartObject ? [] : null);
                    break;
                case JsonTokenType.PropertyName:
                    open.Peek()!.Add(NameOrNull());
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    namesError ??= CheckNames(open.Pop());
                    if (_reader.CurrentDepth == start)
                    {
                        return namesError;
                    }

                    break;
            }
        }
        while (_reader.Read());

        return Truncated();
    }

    private readonly EnvelopeError? CheckNames(List<string?>? names)
    {
        if (names is null)
        {
            return null;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (name is null)
            {
                return TypeError();
            }

            if (!seen.Add(name))
            {
                return Duplicate();
            }
        }

        return null;
    }

    private string? NameOrNull()
    {
        try
        {
            return _reader.GetString();
        }
        catch (InvalidOperationException)
        {
            // Its \u escapes are not valid UTF-16; reported once the value has been read, as the deserializer did.
            return null;
        }
    }

    // The member name unescaped, for comparison with the contract's names; a name too long to be one of them is
    // returned as it is.
    private readonly ReadOnlySpan<byte> MemberName()
    {
        if (!_reader.ValueIsEscaped || _reader.ValueSpan.Length > 64)
        {
            return _reader.ValueSpan;
        }

        var buffer = new byte[_reader.ValueSpan.Length];
        return buffer.AsSpan(0, _reader.CopyString(buffer));
    }

    private readonly EnvelopeError? ReadString(out string? value)
    {
        value = null;
        switch (_reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                // Half of a surrogate pair (JSON.stringify writes "\ud83d" for an emoji cut in two) cannot become a
                // string; the reader would throw, and a wrong type is not what the producer needs to hear.
                if (_reader.ValueIsEscaped && HasLoneSurrogate(_reader.ValueSpan))
                {
                    return new EnvelopeError(Field, EnvelopeCodec.LoneSurrogateDetail);
                }

                value = _reader.GetString();
                return null;
            default:
                return TypeError();
        }
    }

    // Whether a string's \u escapes hold a surrogate without its other half. Raw bytes are valid UTF-8 already, so only an
    // escape can; the reader has checked that each escape is \ and a letter, or \u and four hex digits.
    private static bool HasLoneSurrogate(ReadOnlySpan<byte> escaped)
    {
        var awaitingLow = false;
        for (var i = 0; i < escaped.Length; i++)
        {
            var unit = -1;
            if (escaped[i] == '\\')
            {
                i++;
                if (escaped[i] == 'u')
                {
                    unit = int.Parse(escaped.Slice(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                    i += 4;
                }
            }

            if (awaitingLow != (unit is >= 0xDC00 and <= 0xDFFF))
            {
                return true;
            }

            awaitingLow = unit is >= 0xD800 and <= 0xDBFF;
        }

        return awaitingLow;
    }

    private readonly EnvelopeError? ReadInt(out int? value)
    {
        value = null;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (_reader.TokenType == JsonTokenType.Number && _reader.TryGetInt32(out var number))
        {
            value = number;
            return null;
        }

        return TypeError();
    }

    private readonly EnvelopeError? ReadTimestamp(out DateTimeOffset? value)
    {
        value = null;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (_reader.TokenType == JsonTokenType.String)
        {
            if (_reader.TryGetDateTimeOffset(out var timestamp))
            {
                value = timestamp;
                return null;
            }

            // The mistakes worth naming are short and written without escapes; anything else gets the rule alone.
            if (!_reader.ValueIsEscaped && _reader.ValueSpan.Length <= MaxTimestampLength)
            {
                return new EnvelopeError(Field, TimestampMistakes.Describe(Encoding.UTF8.GetString(_reader.ValueSpan)));
            }
        }
        else if (_reader.TokenType == JsonTokenType.Number)
        {
            return new EnvelopeError(Field, TimestampMistakes.Number);
        }

        return TypeError();
    }

    private readonly EnvelopeError Truncated() => new(Field, TruncatedMessage);

    private readonly EnvelopeError Duplicate() => new(Field, "invalid JSON: a property appears twice");

    // A token of the wrong type: say what the contract expects there.
    private readonly EnvelopeError TypeError()
    {
        var field = Field;
        var message = field switch
        {
            "$" => "envelope must be a JSON object",
            "version" or "attempt" => "must be a whole number",
            "notBefore" or "expiresAt" or "enqueuedAt" => TimestampMistakes.Rule,
            "template" => "must be an object with name, language and parameters",
            "attributes" => "must be an object of string values",
            _ when field.StartsWith("template.parameters", StringComparison.Ordinal) => "must be an array of strings",
            _ when field.StartsWith("attributes", StringComparison.Ordinal) => "attribute values must be strings",
            _ => "must be a string",
        };
        return new EnvelopeError(field, message);
    }

    private readonly EnvelopeError SyntaxError(JsonException ex) => new(Field, SyntaxMessage(ex));

    /// <summary>
    /// "invalid JSON: " and what the reader found wrong, without its "LineNumber: 0 | BytePositionInLine: 1." (the field,
    /// or the file's line and cell, say where); a document that ends too early said so plainly.
    /// </summary>
    internal static string SyntaxMessage(JsonException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var message = ex.Message;
        if (message.Contains("Expected depth to be zero", StringComparison.Ordinal) || message.Contains("end of data", StringComparison.OrdinalIgnoreCase))
        {
            return TruncatedMessage;
        }

        var cut = message.LastIndexOf(" LineNumber: ", StringComparison.Ordinal);
        return "invalid JSON: " + QuoteShown(cut > 0 ? message[..cut] : message);
    }

    /// <summary>
    /// The reader's message as a dead letter's detail and the sender's log show it. A bad literal is quoted up to the next
    /// delimiter, which a payload that is not JSON at all may never have: the whole payload came back, its phone numbers
    /// in full. Numbers are masked, control characters escaped (a producer's escape sequence would reach the terminal of
    /// whoever reads the log or <c>cortex dlq</c>), and the quote is cut as a field name is.
    /// </summary>
    internal static string QuoteShown(string message)
    {
        const string Literal = "' is an invalid JSON literal.";
        message = ControlCharacters.Escape(Privacy.PhoneMask.MaskNumbersIn(message))!;
        var end = message.IndexOf(Literal, StringComparison.Ordinal);
        return message.StartsWith('\'') && end > 0 ? string.Concat("'", ShownName.Cut(message[1..end]), message.AsSpan(end)) : message;
    }
}
