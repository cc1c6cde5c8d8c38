using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.LoadTests.Load;

/// <summary>One generated bad payload: its category, the bytes, and a fragment the dead letter's detail must contain.</summary>
internal sealed record MalformedEnvelope(int Number, string Category, byte[] Payload, string ExpectedDetail);

/// <summary>
/// Bad input for the public Redis contract, generated from a seed: what a buggy producer, a truncated write or a hostile
/// one can LPUSH. Every payload carries a marker (<c>fuzz-0000042</c>) in its first bytes, even when it is truncated or
/// not UTF-8, so its dead letter can be matched to it by <see cref="NumberOf"/>. A duplicate <i>id</i> of a valid envelope
/// is not malformed (the second copy is acknowledged as already sent), so it is not generated here; a field that
/// appears twice is.
/// </summary>
internal static class MalformedEnvelopes
{
    public const string TruncatedJson = "truncated JSON";
    public const string WrongTypes = "wrong types";
    public const string HugeStrings = "huge strings";
    public const string DeepNesting = "deep nesting";
    public const string InvalidUtf8 = "invalid UTF-8";
    public const string ControlCharacters = "control characters";
    public const string InvalidPhones = "invalid or very long phone numbers";
    public const string UnknownVersions = "unknown versions";
    public const string MegabytePayloads = "1 MB payloads";
    public const string DuplicateFields = "duplicate fields";

    /// <summary>Every category, in the order reports list them.</summary>
    public static readonly string[] Categories =
        [TruncatedJson, WrongTypes, HugeStrings, DeepNesting, InvalidUtf8, ControlCharacters, InvalidPhones, UnknownVersions, MegabytePayloads, DuplicateFields];

    private const string Marker = "fuzz-";
    private const string Phone = "+5511987654321";
    private const string Text = "Your bill of R$ 99,90 is due on 25/11. Pay at https://pay.example/f/1";

    /// <summary>
    /// <paramref name="count"/> bad payloads, numbered from 0, spread evenly over the categories except 1 MB payloads,
    /// of which there are <paramref name="megabytePayloads"/> (a megabyte each stays in the dead-letter list, so a run
    /// keeps them few). The same seed gives the same bytes.
    /// </summary>
    public static List<MalformedEnvelope> Generate(int count, int megabytePayloads, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(megabytePayloads, count);
        var random = new Random(seed);
        var others = Categories.Where(c => c != MegabytePayloads).ToArray();
        var categories = new string[count];
        for (var i = 0; i < count; i++)
        {
            categories[i] = i < megabytePayloads ? MegabytePayloads : others[i % others.Length];
        }

        random.Shuffle(categories);
        var list = new List<MalformedEnvelope>(count);
        for (var i = 0; i < count; i++)
        {
            var (payload, expected) = Make(categories[i], MarkerOf(i), random);
            list.Add(new MalformedEnvelope(i, categories[i], payload, expected));
        }

        return list;
    }

    /// <summary>The number of the generated payload these bytes are (or start with), or -1.</summary>
    public static int NumberOf(ReadOnlySpan<byte> payload)
    {
        var at = payload.IndexOf("fuzz-"u8);
        if (at < 0 || payload.Length < at + Marker.Length + 7)
        {
            return -1;
        }

        return int.TryParse(payload.Slice(at + Marker.Length, 7), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : -1;
    }

    private static string MarkerOf(int number) => Marker + number.ToString("D7", CultureInfo.InvariantCulture);

    // The valid members after the id; each category breaks one thing.
    private static string Members(string to = Phone, string text = Text) => "\"version\":1,\"to\":\"" + to + "\",\"text\":\"" + text + "\"";

    private static (byte[] Payload, string Expected) Make(string category, string marker, Random random) => category switch
    {
        TruncatedJson => Truncated(marker, random),
        WrongTypes => WrongType(marker, random),
        HugeStrings => HugeString(marker, random),
        DeepNesting => Nested(marker, random),
        InvalidUtf8 => NotUtf8(marker, random),
        ControlCharacters => Control(marker, random),
        InvalidPhones => BadPhone(marker, random),
        UnknownVersions => BadVersion(marker, random),
        MegabytePayloads => Huge(marker, random),
        DuplicateFields => Duplicate(marker, random),
        _ => throw new ArgumentOutOfRangeException(nameof(category), category, "unknown category"),
    };

    private static (byte[], string) Json(string json, string expected) => (Encoding.UTF8.GetBytes(json), expected);

    private static (byte[], string) Truncated(string marker, Random random)
    {
        var whole = $$"""{"id":"{{marker}}",{{Members()}},"kind":"billing_reminder"}""";

        // Cut anywhere after the id's closing quote, up to the last byte: the marker survives, the document does not.
        var keep = random.Next(whole.IndexOf(marker, StringComparison.Ordinal) + marker.Length + 1, whole.Length);
        return Json(whole[..keep], "invalid JSON: the document ends before it is complete (truncated?)");
    }

    private static (byte[], string) WrongType(string marker, Random random) => random.Next(7) switch
    {
        0 => Json($$"""{"id":"{{marker}}","version":"1","to":"{{Phone}}","text":"{{Text}}"}""", "version: must be a whole number"),
        1 => Json($$"""{"id":"{{marker}}","version":1,"to":5511987654321,"text":"{{Text}}"}""", "to: must be a string"),
        2 => Json($$"""{"id":"{{marker}}","version":1,"to":"{{Phone}}","text":["{{Text}}"]}""", "text: must be a string"),
        3 => Json($$"""{"id":"{{marker}}","version":1,"to":"{{Phone}}","template":"bill_due_3d"}""", "template: must be an object"),
        4 => Json($$"""{"id":"{{marker}}",{{Members()}},"attributes":{"chargeId":8812""" + "}}", "attribute values must be strings"),
        5 => Json($$"""["{{marker}}",{{Members()}}]""", "envelope must be a JSON object"),
        _ => Json($$"""{"id":"{{marker}}","version":true,"to":"{{Phone}}","text":"{{Text}}"}""", "version: must be a whole number"),
    };

    private static (byte[], string) HugeString(string marker, Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                var text = new string('a', random.Next(EnvelopeLimits.MaxTextLength + 1, 20_000));
                return Json($$"""{"id":"{{marker}}",{{Members(text: text)}}""" + "}", $"text: is {text.Length} characters, over WhatsApp's {EnvelopeLimits.MaxTextLength} limit");
            case 1:
                var id = marker + new string('x', random.Next(EnvelopeLimits.MaxIdLength, 5_000));
                return Json($$"""{"id":"{{id}}",{{Members()}}""" + "}", $"id: is {id.Length} characters, over the {EnvelopeLimits.MaxIdLength} limit");
            case 2:
                var parameter = new string('p', random.Next(EnvelopeLimits.MaxTemplateParameterLength + 1, 10_000));
                return Json(
                    $$"""{"id":"{{marker}}","version":1,"to":"{{Phone}}","template":{"name":"bill_due_3d","language":"pt_BR","parameters":["Maria","{{parameter}}"]""" + "}}",
                    $"template.parameters[1]: is over {EnvelopeLimits.MaxTemplateParameterLength} characters");
            case 3:
                var value = new string('v', random.Next(EnvelopeLimits.MaxAttributeValueLength + 1, 10_000));
                return Json($$"""{"id":"{{marker}}",{{Members()}},"attributes":{"chargeId":"{{value}}""" + "\"}}", $"attributes.chargeId: is over {EnvelopeLimits.MaxAttributeValueLength} characters");
            case 4:
                var kind = new string('k', random.Next(EnvelopeLimits.MaxKindLength + 1, 5_000));
                return Json($$"""{"id":"{{marker}}",{{Members()}},"kind":"{{kind}}"}""", $"kind: must be 1 to {EnvelopeLimits.MaxKindLength} characters");
            default:
                // Just past the size limit: refused before it is parsed.
                var json = $$"""{"id":"{{marker}}",{{Members(text: new string('b', random.Next(EnvelopeLimits.MaxEnvelopeBytes, EnvelopeLimits.MaxEnvelopeBytes + 10_000)))}}""" + "}";
                return Json(json, $"envelope is {json.Length} bytes, over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit");
        }
    }

    private static (byte[], string) Nested(string marker, Random random)
    {
        var depth = random.Next(EnvelopeLimits.MaxJsonDepth + 1, random.Next(2) == 0 ? 64 : 5_000);
        var (open, close) = random.Next(3) switch
        {
            0 => ("[", "]"),
            1 => ("{\"a\":", "}"),
            _ => ("{\"a\":[", "]}"),
        };
        var value = string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
        // Under an unknown field, so the depth limit is what stops it: under attributes the first nested value is
        // already the wrong type, and the detail says that instead.
        var field = random.Next(2) == 0 ? "metadata" : "extra";
        return Json($$"""{"id":"{{marker}}",{{Members()}},"{{field}}":{{value}}""" + "}", $"invalid JSON: nested deeper than {EnvelopeLimits.MaxJsonDepth} levels");
    }

    private static (byte[], string) NotUtf8(string marker, Random random)
    {
        byte[][] bad =
        [
            [0xFF],
            [0xC3, 0x28], // a lead byte without its continuation
            [0xC0, 0xAF], // an overlong '/'
            [0xED, 0xA0, 0x80], // a UTF-16 surrogate encoded as UTF-8
            [0xF8, 0x88, 0x80, 0x80, 0x80], // a five-byte sequence
            [0x80], // a lone continuation byte
        ];
        var head = Encoding.UTF8.GetBytes($$"""{"id":"{{marker}}",{{Members(text: "Olá, sua fatura vence em 25/11 ")}}""");

        // Inside the text value, before its closing quote.
        var at = head.Length - 1 - random.Next(1, 20);
        var insert = bad[random.Next(bad.Length)];
        byte[] payload = [.. head.AsSpan(0, at), .. insert, .. head.AsSpan(at), .. "}"u8];
        return (payload, $"invalid JSON: not valid UTF-8 (bad byte at offset {at})");
    }

    private static (byte[], string) Control(string marker, Random random)
    {
        var c = (char)random.Next(0, 0x20);
        return random.Next(3) switch
        {
            // A raw control character inside a string: JSON itself forbids it.
            0 => Json($$"""{"id":"{{marker}}",{{Members(text: "line one" + c + "line two")}}""" + "}", "is invalid within a JSON string. The string should be correctly escaped."),

            // Escaped, it is valid JSON, but ids and trace ids refuse control characters.
            1 => Json($$"""{"id":"{{marker}}\u{{(int)c:x4}}",{{Members()}}""" + "}", "id: must not contain spaces or control characters"),
            _ => Json($$"""{"id":"{{marker}}",{{Members()}},"traceId":"trace\u{{(int)c:x4}}1"}""", $"traceId: must be 1 to {EnvelopeLimits.MaxTraceIdLength} characters without spaces or control characters"),
        };
    }

    private static (byte[], string) BadPhone(string marker, Random random)
    {
        string[] fixedOnes = ["12345", "+0551198765432", "+55 11 98765-4321", "(11) 98765-4321", "abcdefghijk", "++5511987654321", "+5511９8765432", "5511987654321x", "+"];
        var to = random.Next(3) switch
        {
            0 => fixedOnes[random.Next(fixedOnes.Length)],
            1 => "+55" + new string('9', random.Next(EnvelopeLimits.MaxPhoneDigits - 1, 200)),
            _ => new string('1', random.Next(1, EnvelopeLimits.MinPhoneDigits)),
        };
        return Json(
            $$"""{"id":"{{marker}}",{{Members(to: to)}}""" + "}",
            $"to: must be an E.164 number: optional '+', then {EnvelopeLimits.MinPhoneDigits} to {EnvelopeLimits.MaxPhoneDigits} digits, not starting with 0");
    }

    private static (byte[], string) BadVersion(string marker, Random random)
    {
        var members = "\"to\":\"" + Phone + "\",\"text\":\"" + Text + "\"";
        switch (random.Next(4))
        {
            case 0:
                var version = random.Next(2) == 0 ? random.Next(3, 10) : random.Next(int.MinValue, 1);
                return Json($$"""{"id":"{{marker}}","version":{{version}},{{members}}""" + "}", $"version: unsupported version {version}; this Cortex reads versions 1 and 2");
            case 1:
                return Json($$"""{"id":"{{marker}}",{{members}}""" + "}", "version: is required (use 1)");
            case 2:
                return Json($$"""{"id":"{{marker}}","version":1.5,{{members}}""" + "}", "version: must be a whole number");
            default:
                return Json($$"""{"id":"{{marker}}","version":99999999999,{{members}}""" + "}", "version: must be a whole number");
        }
    }

    private static (byte[], string) Huge(string marker, Random random)
    {
        var size = (1024 * 1024) + random.Next(-1024, 1024);
        var head = $$"""{"id":"{{marker}}",{{Members(text: string.Empty)}}""";
        var json = head[..^1] + new string('m', size - head.Length - 2) + "\"}";
        return Json(json, $"envelope is {json.Length} bytes, over the {EnvelopeLimits.MaxEnvelopeBytes}-byte limit");
    }

    private static (byte[], string) Duplicate(string marker, Random random) => random.Next(3) switch
    {
        0 => Json($$"""{"id":"{{marker}}",{{Members()}},"to":"+5521998765432"}""", "to: invalid JSON: a property appears twice"),
        1 => Json($$"""{"id":"{{marker}}",{{Members()}},"version":1}""", "version: invalid JSON: a property appears twice"),
        _ => Json($$"""{"id":"{{marker}}",{{Members()}},"attributes":{"a":"1","a":"2""" + "\"}}", "attributes.a: invalid JSON: a property appears twice"),
    };
}
