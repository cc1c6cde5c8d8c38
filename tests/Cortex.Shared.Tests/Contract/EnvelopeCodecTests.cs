using System.Text;
using System.Text.Json;
using Cortex.Shared.Contract;

namespace Cortex.Shared.Tests.Contract;

public class EnvelopeCodecTests
{
    private const string Phone = "+5511987654321";

    // A valid envelope's members; cases add, drop or replace members around it.
    private const string Minimal = $$"""
        "version":1,"id":"charge-1","to":"{{Phone}}","text":"Your bill is due on Friday."
        """;

    private const string TemplateMembers = $$"""
        "version":1,"id":"charge-1","to":"{{Phone}}"
        """;

    public static TheoryData<string, byte[], string, string> InvalidEnvelopes()
    {
        var data = new TheoryData<string, byte[], string, string>();

        void Add(string name, string json, string field, string phrase) => data.Add(name, Encoding.UTF8.GetBytes(json), field, phrase);
        void AddV2(string name, string json, string field, string phrase) => Add(name, json.Replace("\"version\":1,", "\"version\":2,", StringComparison.Ordinal), field, phrase);

        // The document itself
        Add("truncated", "{" + Minimal, "$", "invalid JSON");
        Add("truncated inside a string", """{"version":1,"id":"char""", "id", "invalid JSON");
        Add("truncated after a number", """{"id":"charge-1","version":1""", "version", "the document ends before it is complete (truncated?)");
        Add("truncated after a nested number", """{"id":"charge-1","version":1,"attempt":12""", "attempt", "the document ends before it is complete (truncated?)");
        Add("string instead of object", "\"hello\"", "$", "must be a JSON object");
        Add("number instead of object", "42", "$", "must be a JSON object");
        Add("array of envelopes", "[{" + Minimal + "}]", "$", "must be a JSON object");
        Add("null", "null", "$", "not null");
        Add("empty", string.Empty, "$", "envelope is empty");
        Add("whitespace only", "   ", "$", "invalid JSON");
        Add("two documents", "{" + Minimal + "}{}", "$", $"invalid JSON: unexpected data after the end of the JSON object at byte {Minimal.Length + 2}");
        Add("trailing comma", "{" + Minimal + ",}", "$", "invalid JSON");
        Add("over 64 KiB", "{" + Minimal + new string(' ', EnvelopeLimits.MaxEnvelopeBytes) + "}", "$", "over the 65536-byte limit");
        Add("duplicate property", "{" + Minimal + ""","id":"charge-2"}""", "id", "a property appears twice");
        Add("duplicate attribute", "{" + Minimal + ""","attributes":{"a":"1","a":"2"}}""", "attributes.a", "a property appears twice");
        Add("nested deeper than 8", "{" + Minimal + ""","x":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}""", "x", "nested deeper than 8 levels");

        // version
        Add("missing version", $$"""{"id":"charge-1","to":"{{Phone}}","text":"hi"}""", "version", "is required");
        Add("version 3", $$"""{"version":3,"id":"charge-1","to":"{{Phone}}","text":"hi"}""", "version", "unsupported version 3; this Cortex reads versions 1 and 2");
        Add("version as string", $$"""{"version":"1","id":"charge-1","to":"{{Phone}}","text":"hi"}""", "version", "must be a whole number");

        // id
        Add("missing id", $$"""{"version":1,"to":"{{Phone}}","text":"hi"}""", "id", "is required");
        Add("empty id", $$"""{"version":1,"id":"","to":"{{Phone}}","text":"hi"}""", "id", "is required");
        Add("id with space", $$"""{"version":1,"id":"charge 1","to":"{{Phone}}","text":"hi"}""", "id", "must not contain spaces or control characters");
        Add("id with control character", $$"""{"version":1,"id":"charge\u00011","to":"{{Phone}}","text":"hi"}""", "id", "must not contain spaces or control characters");
        Add("id too long", $$"""{"version":1,"id":"{{new string('a', EnvelopeLimits.MaxIdLength + 1)}}","to":"{{Phone}}","text":"hi"}""", "id", "is 201 characters, over the 200 limit");
        Add("id as number", $$"""{"version":1,"id":7,"to":"{{Phone}}","text":"hi"}""", "id", "must be a string");

        // to
        Add("missing to", """{"version":1,"id":"charge-1","text":"hi"}""", "to", "is required");
        Add("phone with letters", """{"version":1,"id":"charge-1","to":"+55119876abcd","text":"hi"}""", "to", "must be an E.164 number");
        Add("phone too short", """{"version":1,"id":"charge-1","to":"+1234567","text":"hi"}""", "to", "must be an E.164 number");
        Add("phone too long", """{"version":1,"id":"charge-1","to":"+1234567890123456","text":"hi"}""", "to", "must be an E.164 number");
        Add("phone with leading 0", """{"version":1,"id":"charge-1","to":"011987654321","text":"hi"}""", "to", "must be an E.164 number");
        Add("phone with spaces", """{"version":1,"id":"charge-1","to":"+55 11 98765 4321","text":"hi"}""", "to", "must be an E.164 number");
        Add("phone with two pluses", """{"version":1,"id":"charge-1","to":"++5511987654321","text":"hi"}""", "to", "must be an E.164 number");

        // text and template
        Add("both text and template", "{" + Minimal + ""","template":{"name":"bill_due","language":"pt_BR"}}""", "text", "set exactly one");
        Add("neither text nor template", "{" + TemplateMembers + "}", "text", "set either text or template");
        Add("empty text", "{" + TemplateMembers + ""","text":""}""", "text", "is empty");
        Add("blank text", "{" + TemplateMembers + ""","text":"  \n "}""", "text", "is empty: it holds only spaces or line breaks");
        Add("text of 4097 characters", "{" + TemplateMembers + $$""","text":"{{new string('x', 4097)}}"}""", "text", "is 4097 characters, over WhatsApp's 4096 limit");
        Add("text of 4097 emoji", "{" + TemplateMembers + $$""","text":"{{string.Concat(Enumerable.Repeat("😀", 4097))}}"}""", "text", "is 4097 characters");
        Add("template missing name", "{" + TemplateMembers + ""","template":{"language":"pt_BR"}}""", "template.name", "is required");
        Add("template name upper case", "{" + TemplateMembers + ""","template":{"name":"Bill_Due","language":"pt_BR"}}""", "template.name", "must be 1 to 512 characters");
        Add("template missing language", "{" + TemplateMembers + ""","template":{"name":"bill_due"}}""", "template.language", "is required");
        Add("template language upper case", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"PT_BR"}}""", "template.language", "must be a language code");
        Add("template language with digits", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt1"}}""", "template.language", "must be a language code");
        Add("template language one letter", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"p"}}""", "template.language", "must be a language code");
        Add(
            "template with 33 parameters",
            "{" + TemplateMembers + $$$""","template":{"name":"bill_due","language":"pt_BR","parameters":[{{{string.Join(',', Enumerable.Repeat("\"p\"", 33))}}}]}}""",
            "template.parameters",
            "has 33 entries, over the 32 limit");
        Add(
            "template parameter too long",
            "{" + TemplateMembers + $$$""","template":{"name":"bill_due","language":"pt_BR","parameters":["ok","{{{new string('p', 1025)}}}"]}}""",
            "template.parameters[1]",
            "is over 1024 characters");
        Add("template parameter empty", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":["Maria",""]}}""", "template.parameters[1]", "must not be empty or blank: WhatsApp refuses a template with an empty parameter");
        Add("template parameter blank", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":[" \u00a0 "]}}""", "template.parameters[0]", "must not be empty or blank: WhatsApp refuses a template with an empty parameter");
        Add("template parameter with a new line", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":["Maria\nSilva"]}}""", "template.parameters[0]", "must not hold a new line, a tab or more than 4 spaces in a row: WhatsApp refuses such a template parameter");
        Add("template parameter with a tab", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":["R$\t99"]}}""", "template.parameters[0]", "must not hold a new line, a tab or more than 4 spaces in a row: WhatsApp refuses such a template parameter");
        Add("template parameter with 5 spaces in a row", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":["a     b"]}}""", "template.parameters[0]", "must not hold a new line, a tab or more than 4 spaces in a row: WhatsApp refuses such a template parameter");
        Add("template parameter null", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":[null]}}""", "template.parameters[0]", "must be a string, not null");
        Add("template parameter number", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":[1]}}""", "template.parameters[0]", "must be an array of strings");
        Add("template as string", "{" + TemplateMembers + ""","template":"bill_due"}""", "template", "must be an object");
        Add("unknown template field", "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","lang":"en"}}""", "template.lang", "unknown field");

        // Unknown fields: the field is named so a producer can find its typo.
        Add("unknown top-level field", "{" + Minimal + ""","colour":"red"}""", "colour", "unknown field");
        Add("field in PascalCase", "{" + Minimal + ""","Priority":"high"}""", "Priority", "unknown field");

        // Optional fields
        Add("priority urgent", "{" + Minimal + ""","priority":"urgent"}""", "priority", "must be one of high, normal, low");
        Add("priority in upper case", "{" + Minimal + ""","priority":"HIGH"}""", "priority", "must be one of high, normal, low");
        Add("notBefore not a date", "{" + Minimal + ""","notBefore":"tomorrow"}""", "notBefore", "must be an ISO-8601 timestamp");
        Add("expiresAt not a date", "{" + Minimal + ""","expiresAt":1732273200}""", "expiresAt", "must be an ISO-8601 timestamp");
        Add(
            "expiresAt equal to notBefore",
            "{" + Minimal + ""","notBefore":"2026-11-22T09:00:00-03:00","expiresAt":"2026-11-22T12:00:00Z"}""",
            "expiresAt",
            "must be later than notBefore");
        Add(
            "expiresAt before notBefore",
            "{" + Minimal + ""","notBefore":"2026-11-22T09:00:00-03:00","expiresAt":"2026-11-22T08:00:00-03:00"}""",
            "expiresAt",
            "must be later than notBefore");
        Add("quietHours in version 1", "{" + Minimal + ""","quietHours":"21:00-08:00 America/Sao_Paulo"}""", "quietHours", "needs version 2: version 1 has no quiet hours");
        AddV2("quietHours without a time zone", "{" + Minimal + ""","quietHours":"21:00-08:00"}""", "quietHours", "must be \"HH:mm-HH:mm <time zone>\"");
        AddV2("quietHours at 24:00", "{" + Minimal + ""","quietHours":"21:00-24:00 America/Sao_Paulo"}""", "quietHours", "must be \"HH:mm-HH:mm <time zone>\"");
        AddV2("quietHours as an object", "{" + Minimal + ""","quietHours":{"start":"21:00"}}""", "quietHours", "must be a string");
        AddV2("quietHours of no length", "{" + Minimal + ""","quietHours":"08:00-08:00 America/Sao_Paulo"}""", "quietHours", "starts and ends at the same time; leave quietHours out for none");
        AddV2("quietHours in an unknown zone", "{" + Minimal + ""","quietHours":"21:00-08:00 Mars/Olympus"}""", "quietHours", "time zone 'Mars/Olympus' is not known");
        AddV2("quietHours too long", "{" + Minimal + $$$""","quietHours":"21:00-08:00 {{{new string('a', 70)}}}"}""", "quietHours", "is 82 characters, over the 80 limit");
        AddV2("quietHours zone with an empty part", "{" + Minimal + ""","quietHours":"21:00-08:00 America//Sao_Paulo"}""", "quietHours", "time zone 'America//Sao_Paulo' is not known");
        AddV2("quietHours zone from a dot path", "{" + Minimal + ""","quietHours":"21:00-08:00 ./America/Sao_Paulo"}""", "quietHours", "time zone './America/Sao_Paulo' is not known");
        AddV2("quietHours naming a file", "{" + Minimal + ""","quietHours":"21:00-08:00 ../../../etc/passwd"}""", "quietHours", "time zone '../../../etc/passwd' is not known");
        Add("kind with spaces", "{" + Minimal + ""","kind":"billing reminder"}""", "kind", "must be 1 to 64 characters");
        Add("tenant upper case", "{" + Minimal + ""","tenant":"ACME"}""", "tenant", "must be 1 to 64 characters");
        Add("traceId with space", "{" + Minimal + ""","traceId":"abc def"}""", "traceId", "without spaces or control characters");
        Add("attribute value a number", "{" + Minimal + ""","attributes":{"region":1}}""", "attributes.region", "attribute values must be strings");
        Add("attribute value null", "{" + Minimal + ""","attributes":{"region":null}}""", "attributes.region", "must be a string, not null");
        Add("attributes as array", "{" + Minimal + ""","attributes":["a"]}""", "attributes", "must be an object of string values");
        Add(
            "17 attributes",
            "{" + Minimal + ""","attributes":{""" + string.Join(',', Enumerable.Range(0, 17).Select(i => $"\"k{i}\":\"v\"")) + "}}",
            "attributes",
            "has 17 entries, over the 16 limit");
        Add("attribute key too long", "{" + Minimal + $$$""","attributes":{"{{{new string('k', 65)}}}":"v"}}""", "attributes", "keys must be 1 to 64 characters");
        Add("attribute value too long", "{" + Minimal + $$$""","attributes":{"k":"{{{new string('v', 513)}}}"}}""", "attributes.k", "is over 512 characters");

        // Engine-owned fields are still bounded when a producer sets them.
        Add("negative attempt", "{" + Minimal + ""","attempt":-1}""", "attempt", "is engine-owned");
        Add("lastError too long", "{" + Minimal + $$""","lastError":"{{new string('e', 1025)}}"}""", "lastError", "is engine-owned and limited to 1024 characters");

        // Bytes that are not UTF-8: in a value, in a property name, in an unknown field.
        data.Add("invalid UTF-8 in text", [.. "{\"version\":1,\"id\":\"c\",\"to\":\"+5511987654321\",\"text\":\"h"u8, 0xC3, 0x28, .. "\"}"u8], "$", "not valid UTF-8");
        data.Add("invalid UTF-8 in a name", [.. "{\"ver"u8, 0xFF, .. "sion\":1}"u8], "$", "not valid UTF-8 (bad byte at offset 5)");
        data.Add("UTF-16 input", Encoding.Unicode.GetBytes("{" + Minimal + "}"), "$", "invalid JSON");
        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidEnvelopes))]
    public void Parse_InvalidEnvelope_NamesFieldAndReason(string scenario, byte[] utf8Json, string field, string phrase)
    {
        var result = EnvelopeCodec.Parse(utf8Json);

        Assert.False(result.IsValid, scenario);
        Assert.Null(result.Envelope);
        Assert.NotNull(result.Error);
        Assert.Equal(field, result.Error.Field);
        Assert.Contains(phrase, result.Error.Message, StringComparison.Ordinal);

        // Reasons are read by people in the DLQ: no .NET type names leak into them.
        Assert.DoesNotContain("System.", result.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Cortex.", result.Error.Message, StringComparison.Ordinal);
    }

    // A producer reading these details could not tell what to fix: an id "must not contain spaces" that shows none (U+200B
    // prints as nothing, U+00A0 as a space), "keys must be 1 to 64 characters" among 16 keys, a value "over 512
    // characters" that has 257 emoji, a blank text called empty, a byte-order mark quoted as '0xEF'.
    public static TheoryData<string, string, string> DetailsThatSayWhatToFix() => new()
    {
        { $$"""{"version":1,"id":"charge\u200B-1","to":"{{Phone}}","text":"hi"}""", "id", "must not contain spaces or control characters (U+200B at character 7)" },
        { $$"""{"version":1,"id":"charge-1\u00A0","to":"{{Phone}}","text":"hi"}""", "id", "must not contain spaces or control characters (U+00A0 at character 9)" },
        { $$"""{"version":1,"id":"😀 1","to":"{{Phone}}","text":"hi"}""", "id", "must not contain spaces or control characters (U+0020 at character 3)" },
        { $$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":"hi","traceId":"{{new string('t', 129)}}"}""", "traceId", "must be 1 to 128 characters without spaces or control characters (it is 129)" },
        { $$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":"hi","traceId":"4bf9\t2f35"}""", "traceId", "must be 1 to 128 characters without spaces or control characters (U+0009 at character 5)" },
        { $$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":" \n\t"}""", "text", "is empty: it holds only spaces or line breaks" },
        { $$$"""{"version":1,"id":"c-1","to":"{{{Phone}}}","text":"hi","attributes":{"a":"1","{{{new string('k', 70)}}}":"2"}}""", "attributes", $"keys must be 1 to 64 characters: '{new string('k', 64)}…' is 70" },
        { $$$"""{"version":1,"id":"c-1","to":"{{{Phone}}}","text":"hi","attributes":{"":"2"}}""", "attributes", "keys must be 1 to 64 characters: one is empty" },
        { $$$"""{"version":1,"id":"c-1","to":"{{{Phone}}}","text":"hi","attributes":{"e":"{{{string.Concat(Enumerable.Repeat("😀", 257))}}}"}}""", "attributes.e", "is over 512 characters (it is 514; an emoji counts as 2)" },
        { $$$"""{"version":1,"id":"c-1","to":"{{{Phone}}}","text":"hi","attributes":{"e":"{{{new string('v', 513)}}}"}}""", "attributes.e", "is over 512 characters (it is 513)" },
        { $$$"""{"version":1,"id":"c-1","to":"{{{Phone}}}","template":{"name":"x","language":"en","parameters":["a","{{{new string('p', 1025)}}}"]}}""", "template.parameters[1]", "is over 1024 characters (it is 1025)" },
        { "\uFEFF" + $$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":"hi"}""", "$", "invalid JSON: starts with a UTF-8 byte-order mark (bytes EF BB BF); push the JSON without it" },
    };

    private const string E164Rule = "must be an E.164 number: optional '+', then 8 to 15 digits, not starting with 0";

    // "must be an E.164 number" alone left the producer to find which of three rules a number broke; what is wrong is
    // said without the number, which only PhoneMask may show.
    public static TheoryData<string, string> PhoneMistakes() => new()
    {
        { "+55 11 98765-4321", $"{E164Rule} (U+0020 at character 4 is not a digit)" },
        { "(11) 98765-4321", $"{E164Rule} (U+0028 at character 1 is not a digit)" },
        { "+5511９8765432", $"{E164Rule} (U+FF19 at character 6 is not a digit)" },
        { "++5511987654321", $"{E164Rule} (U+002B at character 2 is not a digit)" },
        { "5511987654321x", $"{E164Rule} (U+0078 at character 14 is not a digit)" },
        { "011987654321", $"{E164Rule} (its first digit is 0: write the country code, without a 0 or 00 dialling prefix)" },
        { "+0055119876543", $"{E164Rule} (its first digit is 0: write the country code, without a 0 or 00 dialling prefix)" },
        { "+1234567", $"{E164Rule} (it has 7 digits)" },
        { "+5511987654321000", $"{E164Rule} (it has 16 digits)" },
        { "+", $"{E164Rule} (it has no digits)" },
    };

    [Theory]
    [MemberData(nameof(PhoneMistakes))]
    public void Parse_RefusedPhone_DetailSaysWhatIsWrongWithoutTheNumber(string to, string message)
    {
        var result = EnvelopeCodec.Parse(Utf8($$"""{"version":1,"id":"c-1","to":"{{to}}","text":"hi"}"""));

        Assert.Equal(new EnvelopeError("to", message), result.Error);
        Assert.DoesNotMatch("[0-9]{5}", message); // no part of the number: code points have 4 hex digits, counts 1 to 3
    }

    // Python's strftime("%z") writes -0300, str(datetime) and SQL a space for the 'T', Ruby a space before the offset:
    // each was refused with the rule alone, which the producer had read and believed they followed.
    public static TheoryData<string, string, string> TimestampMistakes() => new()
    {
        { "notBefore", "2026-11-22T09:00:00-0300", "has its offset -0300 without a colon (write -03:00); must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "expiresAt", "2026-11-22 09:00:00-03:00", "has a space where the 'T' between date and time goes; must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "expiresAt", "2026-11-22 21:00:00.5Z", "has a space where the 'T' between date and time goes; must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "expiresAt", "2026-11-22 21:00", "has a space where the 'T' between date and time goes and no offset (without one it is read in the sender's time zone); must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "enqueuedAt", "2026-11-22 09:00:00 -0300", "has a space where the 'T' between date and time goes, a space before its offset and its offset -0300 without a colon (write -03:00); must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "notBefore", "2026-11-22T09:00:00 +05:30", "has a space before its offset; must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },

        // Nothing recognised: the rule alone, as before.
        { "notBefore", "tomorrow", "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "notBefore", "2026-02-30T09:00:00-03:00", "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
        { "notBefore", "22/11/2026 09:00", "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00" },
    };

    [Theory]
    [MemberData(nameof(TimestampMistakes))]
    public void Parse_RefusedTimestamp_DetailSaysWhatIsWrongBeforeTheRule(string field, string value, string message)
    {
        var result = EnvelopeCodec.Parse(Utf8("{" + Minimal + $$""","{{field}}":"{{value}}"}"""));

        Assert.Equal(new EnvelopeError(field, message), result.Error);
    }

    [Theory]
    [InlineData("expiresAt", "1764000000")]
    [InlineData("notBefore", "1764000000123")]
    [InlineData("enqueuedAt", "1.7640000005e9")]
    public void Parse_TimestampWrittenAsANumber_DetailSaysItIsANumberBeforeTheRule(string field, string value)
    {
        // A Unix time, as Python's time.time() or JavaScript's Date.now() gives one: "must be an ISO-8601 timestamp"
        // alone did not tell the producer that the value's type was the mistake.
        var result = EnvelopeCodec.Parse(Utf8("{" + Minimal + $$""","{{field}}":{{value}}}"""));

        Assert.Equal(new EnvelopeError(field, "is a number (a Unix time?): write the instant as a string; must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00"), result.Error);
    }

    // Only the wording of a refusal changed: docs/message-format.md says these are read in the sender's time zone.
    [Theory]
    [InlineData("2026-11-22")]
    [InlineData("2026-11-22T09:00")]
    [InlineData("2026-11-22T09:00:00")]
    [InlineData("2026-11-22T09:00:00-03")]
    public void Parse_TimestampWithoutAnOffsetOrATime_IsStillAccepted(string value)
    {
        var result = EnvelopeCodec.Parse(Utf8("{" + Minimal + $$""","notBefore":"{{value}}"}"""));

        Assert.True(result.IsValid, result.Error?.ToString());
    }

    // A payload refused only for its byte-order mark (File.WriteAllText, PowerShell) had no messageId in its dead letter:
    // `cortex dlq show <id>` did not find the message the producer knew by that id.
    [Fact]
    public void TryReadId_PayloadStartingWithAByteOrderMark_ReadsTheId()
    {
        var payload = Utf8("\uFEFF" + $$"""{"version":1,"id":"charge-8812:due-3d","to":"{{Phone}}","text":"hi"}""");

        Assert.False(EnvelopeCodec.Parse(payload).IsValid);
        Assert.Equal("charge-8812:due-3d", EnvelopeCodec.TryReadId(payload));
    }

    [Theory]
    [MemberData(nameof(DetailsThatSayWhatToFix))]
    public void Parse_DetailOfAnInvisibleOrMiscountedMistake_SaysWhatToFix(string json, string field, string message)
    {
        var result = EnvelopeCodec.Parse(Utf8(json));

        Assert.Equal(new EnvelopeError(field, message), result.Error);
    }

    // A newer release's envelope carries fields this one does not know (version 2 always carries quietHours). Reported
    // as an unknown field, it read as a producer's typo; the operator has to read "upgrade the senders" instead.
    [Theory]
    [InlineData("""{"version":3,"id":"c-1","to":"+5511987654321","text":"hi","channel":"sms"}""")]
    [InlineData("""{"channel":"sms","id":"c-1","to":"+5511987654321","text":"hi","version":3}""")]
    [InlineData("""{"version":3,"id":"c-1","to":"+5511987654321","template":{"name":"x","language":"en","header":"img"}}""")]
    public void Parse_NewerVersionWithFieldsThisReleaseLacks_NamesTheVersionNotATypo(string json)
    {
        var result = EnvelopeCodec.Parse(Utf8(json));

        Assert.Equal(new EnvelopeError("version", "unsupported version 3; this Cortex reads versions 1 and 2"), result.Error);
    }

    // A payload that is not JSON at all (a log line, a CSV row pushed raw) is one bad literal to the reader, which quoted
    // it whole: the dead letter's detail and the sender's warning 1004 carried the phone numbers in it, and its length.
    [Theory]
    [InlineData("not json 5511987654321")]
    [InlineData("nope, call +55 (11) 98765-4321 or 5511912345678 back tomorrow about the bill of 2026-11-22, thanks a lot")]
    public void Parse_NotJsonWithAPhoneNumber_DetailMasksItAndStaysShort(string payload)
    {
        var result = EnvelopeCodec.Parse(Utf8(payload));

        var detail = result.Error!.ToString();
        Assert.StartsWith("invalid JSON: '", result.Error.Message, StringComparison.Ordinal);
        Assert.EndsWith("' is an invalid JSON literal. Expected the literal 'null'.", result.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("987654321", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("98765-4321", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("912345678", detail, StringComparison.Ordinal);
        Assert.True(result.Error.Message.Length < 160, result.Error.Message);
    }

    [Theory]
    [InlineData("nope\u001B]0;owned\u0007 ok")]
    [InlineData("nope\u001B[2J\u001B[H cleared")]
    [InlineData("nope\r\u009B31m")]
    public void Parse_NotJsonWithAnEscapeSequence_DetailShowsItEscaped(string payload)
    {
        // A hostile producer's escape sequence in the quoted literal would reach the terminal of whoever reads the sender's
        // log or `cortex dlq` (a window title, the clipboard, a cleared screen).
        var detail = EnvelopeCodec.Parse(Utf8(payload)).Error!.ToString();

        Assert.DoesNotContain(detail, char.IsControl);
        Assert.StartsWith("invalid JSON: 'nope\\", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NoVersionAndAnUnknownField_NamesTheFieldWhichMayBeTheMisspeltVersion()
    {
        var result = EnvelopeCodec.Parse(Utf8($$"""{"Version":1,"id":"c-1","to":"{{Phone}}","text":"hi"}"""));

        Assert.Equal(new EnvelopeError("Version", "unknown field (check its spelling; fields are camelCase)"), result.Error);
    }

    // JavaScript's JSON.stringify writes half of an emoji cut in two as a lone \ud83d escape. That was reported as a
    // value of the wrong type ("must be a string"), which sent the producer looking at the JSON's shape.
    [Theory]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","text":"Olá \ud83d"}""", "text")]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","text":"\ude00 Olá"}""", "text")]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","text":"\ud83d\ud83d\ude00"}""", "text")]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","template":{"name":"x","language":"en","parameters":["Maria","Jo\ud83d"]}}""", "template.parameters[1]")]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","text":"hi","attributes":{"note":"\udbff"}}""", "attributes.note")]
    [InlineData("""{"version":1,"id":"c-1","to":"+5511987654321","text":"hi","attributes":{"n\ud83d":"x"}}""", "attributes")] // in a key, as CortexClient names it
    public void Parse_StringWithHalfOfASurrogatePair_SaysACharacterWasCut(string json, string field)
    {
        var result = EnvelopeCodec.Parse(Utf8(json));

        Assert.Equal(new EnvelopeError(field, "contains half of a character (a lone UTF-16 surrogate; was an emoji cut in two?)"), result.Error);
    }

    [Theory]
    [InlineData("""Olá \ud83d\ude00""", "Olá 😀")]
    [InlineData("""\\ud83d""", "\\ud83d")]
    [InlineData("""\u00e9\ud83d\ude00\n""", "é😀\n")]
    public void Parse_EscapedWholeCharacters_AreRead(string escaped, string text)
    {
        var result = EnvelopeCodec.Parse(Utf8($$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":"{{escaped}}"}"""));

        Assert.True(result.IsValid, result.Error?.ToString());
        Assert.Equal(text, result.Envelope!.Text);
    }

    // Built in code, the same text was written as U+FFFD and sent: the customer got a '?' box for the emoji.
    [Fact]
    public void Validate_EnvelopeBuiltInCodeWithHalfOfAnEmoji_IsRefusedNotChanged()
    {
        var text = new Envelope { Id = "c-1", To = Phone, Text = "Olá \ud83d" };
        var parameter = new Envelope { Id = "c-1", To = Phone, Template = new MessageTemplate("bill_due", "pt_BR", ["Maria", "\ude00"]) };
        var attribute = new Envelope { Id = "c-1", To = Phone, Text = "hi", Attributes = new Dictionary<string, string> { ["note"] = "a\ud83d" } };

        Assert.Equal(new EnvelopeError("text", "contains half of a character (a lone UTF-16 surrogate; was an emoji cut in two?)"), EnvelopeCodec.Validate(text));
        Assert.Equal("template.parameters[1]", EnvelopeCodec.Validate(parameter)?.Field);
        Assert.Equal("attributes.note", EnvelopeCodec.Validate(attribute)?.Field);
        Assert.False(EnvelopeCodec.TrySerialize(text, out var payload, out _));
        Assert.Null(payload);
        Assert.Null(EnvelopeCodec.Validate(text with { Text = "Olá 😀" }));
    }

    // Spaces and controls outside ASCII passed: an id with a no-break or zero-width space looks like another and is a
    // different idempotency key, so the customer got the message twice; a next-line or line separator split log lines.
    [Theory]
    [InlineData("id", "charge-1\u0085")]
    [InlineData("id", "charge\u00a01")]
    [InlineData("id", "charge-1\u2028")]
    [InlineData("id", "charge-1\u200b")]
    [InlineData("id", "\ufeffcharge-1")]
    [InlineData("traceId", "4bf92f35\u00a077b34da6")]
    [InlineData("traceId", "4bf92f35\u200b77b34da6")]
    public void Parse_IdWithAUnicodeSpaceOrInvisibleCharacter_IsRefused(string field, string value)
    {
        var json = field == "id"
            ? $$"""{"version":1,"id":"{{value}}","to":"{{Phone}}","text":"hi"}"""
            : $$"""{"version":1,"id":"c-1","to":"{{Phone}}","text":"hi","traceId":"{{value}}"}""";

        var result = EnvelopeCodec.Parse(Utf8(json));

        Assert.Equal(field, result.Error?.Field);
        Assert.Contains("spaces or control characters", result.Error!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fatura-joão-😀-€")]
    [InlineData("fam-👨\u200D👩\u200D👧")] // a joined emoji: zero-width joiners
    [InlineData("fa-می\u200Cخواهم")] // Persian needs the zero-width non-joiner
    [InlineData("flag-🏴󠁧󠁢󠁥󠁮󠁧󠁿")] // England's flag: tag characters
    public void Parse_IdWithVisibleNonAsciiCharacters_IsAccepted(string id)
    {
        var result = EnvelopeCodec.Parse(Utf8($$"""{"version":1,"id":"{{id}}","to":"{{Phone}}","text":"hi","traceId":"ünïcode"}"""));

        Assert.True(result.IsValid, result.Error?.ToString());
        Assert.Equal(id, result.Envelope!.Id);
    }

    [Fact]
    public void Parse_MinimalEnvelope_IsValidWithDefaults()
    {
        var result = EnvelopeCodec.Parse(Utf8("{" + Minimal + "}"));

        Assert.True(result.IsValid);
        Assert.Null(result.Error);
        var envelope = result.Envelope!;
        Assert.Equal("charge-1", envelope.Id);
        Assert.Equal(Phone, envelope.To);
        Assert.Equal("Your bill is due on Friday.", envelope.Text);
        Assert.Null(envelope.Template);
        Assert.Equal(Priority.Normal, envelope.Priority);
        Assert.Null(envelope.NotBefore);
        Assert.Null(envelope.ExpiresAt);
        Assert.Equal(0, envelope.Attempt);
        Assert.Null(envelope.EnqueuedAt);
    }

    [Fact]
    public void Parse_TemplateEnvelope_ReadsNameLanguageAndParametersInOrder()
    {
        var json = "{" + TemplateMembers + ""","template":{"name":"bill_due","language":"pt_BR","parameters":["Maria","R$ 99,90","22/11"]},"priority":"high"}""";

        var envelope = EnvelopeCodec.Parse(Utf8(json)).Envelope!;

        Assert.Null(envelope.Text);
        Assert.Equal("bill_due", envelope.Template!.Name);
        Assert.Equal("pt_BR", envelope.Template.Language);
        Assert.Equal("Maria|R$ 99,90|22/11", string.Join("|", envelope.Template.Parameters));
        Assert.Equal(Priority.High, envelope.Priority);
    }

    [Fact]
    public void Parse_TemplateWithoutParameters_HasEmptyParameters()
    {
        var json = "{" + TemplateMembers + ""","template":{"name":"welcome","language":"en"}}""";

        var envelope = EnvelopeCodec.Parse(Utf8(json)).Envelope!;

        Assert.Empty(envelope.Template!.Parameters);
    }

    [Theory]
    [InlineData("5511987654321", "+5511987654321")]
    [InlineData("+5511987654321", "+5511987654321")]
    [InlineData("14155552671", "+14155552671")]
    [InlineData("12345678", "+12345678")]
    [InlineData("123456789012345", "+123456789012345")]
    public void Parse_PhoneWithOrWithoutPlus_NormalisesToE164WithPlus(string to, string expected)
    {
        var json = $$"""{"version":1,"id":"c","to":"{{to}}","text":"hi"}""";

        var envelope = EnvelopeCodec.Parse(Utf8(json)).Envelope!;

        Assert.Equal(expected, envelope.To);
        Assert.Equal(expected[1..], envelope.ToDigits);
    }

    [Fact]
    public void Parse_TextOf4096Characters_IsAccepted()
    {
        var text = new string('x', EnvelopeLimits.MaxTextLength);

        var result = EnvelopeCodec.Parse(Utf8("{" + TemplateMembers + $$""","text":"{{text}}"}"""));

        Assert.True(result.IsValid, result.Error?.ToString());
        Assert.Equal(text, result.Envelope!.Text);
    }

    [Fact]
    public void Parse_TextOf4096Emoji_IsAcceptedBecauseTheLimitCountsCharactersNotUtf16Units()
    {
        // Each emoji is a surrogate pair: 8192 UTF-16 units, 4096 characters.
        var text = string.Concat(Enumerable.Repeat("😀", EnvelopeLimits.MaxTextLength));

        var result = EnvelopeCodec.Parse(Utf8("{" + TemplateMembers + $$""","text":"{{text}}"}"""));

        Assert.True(result.IsValid, result.Error?.ToString());
        Assert.Equal(text, result.Envelope!.Text);
    }

    [Fact]
    public void Parse_EnvelopeOfExactly64KiB_IsAccepted()
    {
        var json = "{" + Minimal + "}";
        var padded = json[..^1] + new string(' ', EnvelopeLimits.MaxEnvelopeBytes - Encoding.UTF8.GetByteCount(json)) + "}";
        Assert.Equal(EnvelopeLimits.MaxEnvelopeBytes, Encoding.UTF8.GetByteCount(padded));

        var result = EnvelopeCodec.Parse(Utf8(padded));

        Assert.True(result.IsValid, result.Error?.ToString());
    }

    [Fact]
    public void Parse_NonAsciiText_IsKeptExactly()
    {
        const string text = "Olá, João! Sua fatura de R$ 99,90 vence amanhã ✅ 😀";

        var envelope = EnvelopeCodec.Parse(Utf8("{" + TemplateMembers + $$""","text":"{{text}}"}""")).Envelope!;

        Assert.Equal(text, envelope.Text);
    }

    [Fact]
    public void Parse_OffsetTimestamps_KeepTheInstant()
    {
        var json = "{" + Minimal + ""","notBefore":"2026-11-22T09:00:00-03:00","expiresAt":"2026-11-22T21:00:00Z"}""";

        var envelope = EnvelopeCodec.Parse(Utf8(json)).Envelope!;

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero), envelope.NotBefore!.Value.ToUniversalTime());
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 21, 0, 0, TimeSpan.Zero), envelope.ExpiresAt!.Value.ToUniversalTime());
    }

    [Fact]
    public void Parse_QuietHours_ReadsTheWindowAndWhenItEnds()
    {
        var json = "{" + Minimal.Replace("\"version\":1,", "\"version\":2,", StringComparison.Ordinal) + ""","quietHours":"21:00-08:00 America/Sao_Paulo"}""";

        var quiet = EnvelopeCodec.Parse(Utf8(json)).Envelope!.QuietHours!;

        Assert.Equal("21:00-08:00 America/Sao_Paulo", quiet.ToString());

        // 23:30 and 07:59 in São Paulo (UTC-3) wait for 08:00; 08:00 and 20:59 go.
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero), quiet.NextAllowed(new DateTimeOffset(2026, 11, 23, 2, 30, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero), quiet.NextAllowed(new DateTimeOffset(2026, 11, 23, 10, 59, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero), quiet.NextAllowed(new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 23, 59, 0, TimeSpan.Zero), quiet.NextAllowed(new DateTimeOffset(2026, 11, 23, 23, 59, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void SerializeThenParse_EveryField_YieldsAnEqualEnvelope()
    {
        var original = new Envelope
        {
            Id = "charge-42:d-3",
            To = Phone,
            Template = new MessageTemplate("bill_due", "pt_BR", ["Maria", "R$ 99,90"]),
            Kind = "billing_reminder",
            Tenant = "isp-sul",
            Priority = Priority.High,
            NotBefore = new DateTimeOffset(2026, 11, 22, 9, 0, 0, TimeSpan.FromHours(-3)),
            ExpiresAt = new DateTimeOffset(2026, 11, 22, 21, 0, 0, TimeSpan.FromHours(-3)),
            QuietHours = new QuietHoursWindow(new TimeOnly(21, 0), new TimeOnly(8, 0, 30), TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo")),
            TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
            Attributes = new Dictionary<string, string> { ["chargeId"] = "42", ["offset"] = "-3" },
            Attempt = 2,
            EnqueuedAt = new DateTimeOffset(2026, 11, 22, 8, 59, 59, 123, TimeSpan.Zero),
            LastError = "gateway 503: service unavailable",
        };

        var result = EnvelopeCodec.Parse(EnvelopeCodec.Serialize(original));

        Assert.True(result.IsValid, result.Error?.ToString());
        AssertEquivalent(original, result.Envelope!);
    }

    [Theory]
    [InlineData(Priority.High)]
    [InlineData(Priority.Normal)]
    [InlineData(Priority.Low)]
    public void SerializeThenParse_TextEnvelope_KeepsPriorityAndText(Priority priority)
    {
        var original = new Envelope { Id = "c-1", To = Phone, Text = "Olá 😀\n\"quoted\"", Priority = priority };

        var parsed = EnvelopeCodec.Parse(EnvelopeCodec.Serialize(original)).Envelope!;

        AssertEquivalent(original, parsed);
    }

    [Fact]
    public void Serialize_MinimalEnvelope_WritesOnlyTheFieldsThatAreSet()
    {
        using var json = JsonDocument.Parse(EnvelopeCodec.Serialize(new Envelope { Id = "c-1", To = Phone, Text = "hi" }));

        var members = json.RootElement.EnumerateObject().Select(p => p.Name + "=" + p.Value.ToString()).ToArray();
        Assert.Equal(["version=1", "id=c-1", "to=" + Phone, "text=hi"], members);
    }

    [Fact]
    public void Serialize_WithQuietHours_WritesVersion2AndOnlyThen()
    {
        // A sender of an earlier release reads version 1 only: everything without quiet hours stays readable to it.
        var quiet = new QuietHoursWindow(new TimeOnly(21, 0), new TimeOnly(8, 0), TimeZoneInfo.FindSystemTimeZoneById("America/Sao_Paulo"));
        using var with = JsonDocument.Parse(EnvelopeCodec.Serialize(new Envelope { Id = "c-1", To = Phone, Text = "hi", QuietHours = quiet }));

        Assert.Equal(2, with.RootElement.GetProperty("version").GetInt32());
        Assert.Equal("21:00-08:00 America/Sao_Paulo", with.RootElement.GetProperty("quietHours").GetString());
    }

    [Fact]
    public void Validate_EnvelopeBuiltInCode_AppliesTheWireRules()
    {
        var error = EnvelopeCodec.Validate(new Envelope { Id = "c-1", To = "not-a-phone", Text = "hi" });

        Assert.NotNull(error);
        Assert.Equal("to", error.Field);
        Assert.Null(EnvelopeCodec.Validate(new Envelope { Id = "c-1", To = Phone, Text = "hi" }));
    }

    [Theory]
    [InlineData("")]
    [InlineData("+")]
    [InlineData("+0511987654321")]
    [InlineData("5511 987654321")]
    [InlineData("+1234567")]
    [InlineData("+1234567890123456")]
    [InlineData("+5511987654321x")]
    public void TryNormalizePhone_NotE164_ReturnsFalse(string value)
    {
        Assert.False(EnvelopeCodec.TryNormalizePhone(value, out var normalized));
        Assert.Equal(string.Empty, normalized);
    }

    public static TheoryData<string, string, string> LongNames()
    {
        var name = new string('n', 60_000);
        var cut = new string('n', 64) + "…";
        var spaced = "a b" + name;
        return new()
        {
            { "unknown field", "{" + Minimal + ",\"" + name + "\":1}", cut },
            { "unknown field, twice", "{" + Minimal + ",\"" + name[..30_000] + "\":1,\"" + name[..30_000] + "\":2}", cut }, // within 64 KiB
            { "unknown field, cut off in its value", "{" + Minimal + ",\"" + name + "\":[", cut },
            { "unknown template field", "{" + TemplateMembers + ",\"template\":{\"name\":\"a\",\"language\":\"en\",\"" + name + "\":1}}", "template." + cut },
            { "attribute of the wrong type", "{" + Minimal + ",\"attributes\":{\"" + name + "\":1}}", "attributes." + cut },
            { "attribute cut off after its key", "{" + Minimal + ",\"attributes\":{\"" + name + "\":", "attributes." + cut },
            { "attribute key with a space", "{" + Minimal + ",\"attributes\":{\"" + spaced + "\":true}}", "attributes['" + spaced[..64] + "…']" },
        };
    }

    [Theory]
    [MemberData(nameof(LongNames))]
    public void Parse_AFieldNameOf60000Characters_IsNamedByItsFirst64(string name, string json, string field)
    {
        // The name went whole into the dead-letter detail: 60,058 characters stored in Redis and logged per message.
        var error = EnvelopeCodec.Parse(Utf8(json)).Error;

        Assert.NotNull(error);
        Assert.True(error.Field == field, $"{name}: {error.ToString()[..Math.Min(200, error.ToString().Length)]}");
        Assert.InRange(error.ToString().Length, 1, 300);
    }

    private static byte[] Utf8(string json) => Encoding.UTF8.GetBytes(json);

    // Envelope is a record, but its collections compare by reference; compare them by content.
    private static void AssertEquivalent(Envelope expected, Envelope actual)
    {
        Assert.Equal(expected with { Template = null, Attributes = null }, actual with { Template = null, Attributes = null });
        Assert.Equal(expected.Template?.Name, actual.Template?.Name);
        Assert.Equal(expected.Template?.Language, actual.Template?.Language);
        Assert.Equal(expected.Template?.Parameters, actual.Template?.Parameters);
        Assert.Equal(
            expected.Attributes?.OrderBy(a => a.Key, StringComparer.Ordinal),
            actual.Attributes?.OrderBy(a => a.Key, StringComparer.Ordinal));
    }
}
