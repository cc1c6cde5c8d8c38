using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Shared.Tests.Contract;

/// <summary>
/// Issue #7's bad-input categories, one or more cases each, as the load harness's generator produces them at scale:
/// each is refused with the field at fault and a detail that names the problem, never a crash or a vague reason.
/// </summary>
public class BadInputCategoriesTests
{
    private const string Members = "\"version\":1,\"to\":\"+5511987654321\",\"text\":\"Your bill is due on Friday.\"";

    public static TheoryData<string, byte[], string, string> Cases()
    {
        var data = new TheoryData<string, byte[], string, string>();
        void Add(string name, string json, string field, string phrase) => data.Add(name, Encoding.UTF8.GetBytes(json), field, phrase);
        void AddBytes(string name, byte[] payload, string field, string phrase) => data.Add(name, payload, field, phrase);

        var truncated = "{\"id\":\"fuzz-1\"," + Members + "}";
        Add("truncated JSON, inside a string", truncated[..^5], "text", "the document ends before it is complete (truncated?)");
        Add("truncated JSON, after a number", truncated[..(truncated.IndexOf("1,", StringComparison.Ordinal) + 1)], "version", "the document ends before it is complete (truncated?)");
        Add("truncated JSON, after a property name", truncated[..truncated.IndexOf(":1", StringComparison.Ordinal)], "$", "the document ends before it is complete (truncated?)");

        // A whole document with more after it is not cut off: the detail names the trailing data and where it starts.
        var whole = "{\"id\":\"fuzz-20\"," + Members + "}";
        Add("trailing data, garbage after the object", whole + "garbage", "$", $"invalid JSON: unexpected data after the end of the JSON object at byte {whole.Length}");
        Add("trailing data, two envelopes in one push", whole + whole, "$", $"invalid JSON: unexpected data after the end of the JSON object at byte {whole.Length}");
        Add("trailing data, newline-delimited envelopes in one push", whole + "\r\n" + whole + "\n", "$", $"invalid JSON: unexpected data after the end of the JSON object at byte {whole.Length + 2}");
        Add("trailing data, a closing brace too many", whole + " }", "$", $"invalid JSON: unexpected data after the end of the JSON object at byte {whole.Length + 1}");
        Add("trailing data, after null", "null,", "$", "invalid JSON: unexpected data after the end of the JSON value at byte 4");

        Add("wrong types, version as a string", "{\"id\":\"fuzz-2\",\"version\":\"1\",\"to\":\"+5511987654321\",\"text\":\"hi\"}", "version", "must be a whole number");
        Add("wrong types, to as a number", "{\"id\":\"fuzz-3\",\"version\":1,\"to\":5511987654321,\"text\":\"hi\"}", "to", "must be a string");
        Add("wrong types, template as a string", "{\"id\":\"fuzz-4\",\"version\":1,\"to\":\"+5511987654321\",\"template\":\"bill_due_3d\"}", "template", "must be an object");
        Add("wrong types, an array at the top", "[\"fuzz-5\"]", "$", "envelope must be a JSON object");

        Add("huge strings, text", "{\"id\":\"fuzz-6\",\"version\":1,\"to\":\"+5511987654321\",\"text\":\"" + new string('a', 20_000) + "\"}", "text", "is 20000 characters, over WhatsApp's 4096 limit");
        Add("huge strings, id", "{\"id\":\"" + new string('x', 5_000) + "\"," + Members + "}", "id", "is 5000 characters, over the 200 limit");

        Add("deep nesting, 5,000 arrays in an unknown field", "{\"id\":\"fuzz-7\"," + Members + ",\"extra\":" + new string('[', 5_000) + new string(']', 5_000) + "}", "extra", "nested deeper than 8 levels");

        AddBytes("invalid UTF-8, a lone 0xFF in the text", [.. "{\"id\":\"fuzz-8\",\"text\":\"a"u8, 0xFF, .. "\"}"u8], "$", "not valid UTF-8 (bad byte at offset 24)");
        AddBytes("invalid UTF-8, a UTF-16 surrogate", [.. "{\"id\":\"fuzz-9\",\"text\":\""u8, 0xED, 0xA0, 0x80, .. "\"}"u8], "$", "not valid UTF-8 (bad byte at offset 23)");

        Add("control characters, raw in a string", "{\"id\":\"fuzz-10\"," + Members[..^1] + "\u0001\"}", "text", "is invalid within a JSON string");
        Add("control characters, escaped in the id", "{\"id\":\"fuzz-11\\u0007\"," + Members + "}", "id", "must not contain spaces or control characters");

        Add("phone numbers, too short", "{\"id\":\"fuzz-12\",\"version\":1,\"to\":\"12345\",\"text\":\"hi\"}", "to", "must be an E.164 number");
        Add("phone numbers, 200 digits", "{\"id\":\"fuzz-13\",\"version\":1,\"to\":\"+" + new string('9', 200) + "\",\"text\":\"hi\"}", "to", "must be an E.164 number");
        Add("phone numbers, spaces and a dash", "{\"id\":\"fuzz-14\",\"version\":1,\"to\":\"+55 11 98765-4321\",\"text\":\"hi\"}", "to", "must be an E.164 number");

        Add("unknown versions, 3", "{\"id\":\"fuzz-15\",\"version\":3,\"to\":\"+5511987654321\",\"text\":\"hi\"}", "version", "unsupported version 3; this Cortex reads versions 1 and 2");
        Add("unknown versions, negative", "{\"id\":\"fuzz-16\",\"version\":-7,\"to\":\"+5511987654321\",\"text\":\"hi\"}", "version", "unsupported version -7");
        Add("unknown versions, beyond a 32-bit number", "{\"id\":\"fuzz-17\",\"version\":99999999999,\"to\":\"+5511987654321\",\"text\":\"hi\"}", "version", "must be a whole number");

        var megabyte = "{\"id\":\"fuzz-18\",\"version\":1,\"to\":\"+5511987654321\",\"text\":\"" + new string('m', 1024 * 1024) + "\"}";
        Add("1 MB payload", megabyte, "$", $"envelope is {megabyte.Length} bytes, over the 65536-byte limit");

        Add("duplicate fields, to twice", "{\"id\":\"fuzz-19\"," + Members + ",\"to\":\"+5521998765432\"}", "to", "a property appears twice");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parse_BadInputCategory_RefusedWithFieldAndPreciseDetail(string category, byte[] payload, string field, string phrase)
    {
        var result = EnvelopeCodec.Parse(payload);

        Assert.Null(result.Envelope);
        Assert.NotNull(result.Error);
        Assert.True(field == result.Error.Field, $"{category}: field {result.Error.Field}, detail {result.Error}");
        Assert.Contains(phrase, result.Error.Message, StringComparison.Ordinal);
    }
}
