using System.Runtime.ExceptionServices;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Shared.Tests.Contract;

/// <summary>
/// <see cref="EnvelopeCodec.Parse"/> reads the JSON by hand since it stopped using the System.Text.Json deserializer.
/// Producers and the docs quote its error texts, so for every input it must answer as the deserializer-based parser
/// (<see cref="ReferenceEnvelopeParser"/>) did: the same field and message, or an equal envelope. These tests feed both
/// thousands of generated inputs: valid envelopes cut at every byte, each field given each wrong type, members twice,
/// unknown members and deep nesting, escaped and oddly spelled names, trailing bytes and random byte edits.
/// </summary>
public class EnvelopeParseDifferentialTests
{
    private static readonly string[] s_bases =
    [
        """{"version":1,"id":"charge-1","to":"+5511987654321","text":"Your bill is due on Friday."}""",
        """{"version":1,"id":"campaign:91:1764400000000:5512","to":"5511987654321","template":{"name":"bill_due_3d","language":"pt_BR","parameters":["Maria","R$ 99,90","22/11"]},"priority":"high"}""",
        """
        {
          "version": 2, "id": "c-42", "to": "+14155552671", "text": "Olá 😀 \"quoted\" \u00e9",
          "kind": "billing_reminder", "tenant": "isp-sul", "priority": "low",
          "notBefore": "2026-11-22T09:00:00-03:00", "expiresAt": "2026-11-22T21:00:00Z", "traceId": "4bf92f3577b34da6",
          "attributes": {"chargeId": "42", "offset": "-3"}, "attempt": 2, "enqueuedAt": "2026-11-22T08:59:59.123Z",
          "lastError": "gateway 503", "quietHours": "21:00-08:00 America/Sao_Paulo"
        }
        """,
        """{"version":1,"id":"t","to":"+5511987654321","template":{"name":"welcome","language":"en","parameters":[]},"attributes":{}}""",
        """{"version":1,"id":"u","to":"+5511987654321","text":"hi","colour":{"a":[1,{"b":null}]},"template":{"name":"x","language":"en","lang":"pt"}}""",
    ];

    // Values that each member is given in turn: every JSON type, numbers an int cannot hold, dates and not-dates, nested values.
    private static readonly string[] s_values =
    [
        "1", "2", "-7", "0", "-0", "1.5", "1.0", "1e0", "99999999999", "-99999999999", "2147483647", "2147483648",
        "true", "false", "null", "\"\"", "\" \"", "\"x\"", "\"1\"", "\"high\"", "\"+5511987654321\"", "\"bill_due\"", "\"pt_BR\"",
        "\"2026-11-22\"", "\"2026-11-22T09:00:00Z\"", "\"2026-11-22T09:00:00\"", "\"tomorrow\"", "\"2026-11-22T09:00:00\\u002B03:00\"", "\"2026-11-22 09:00:00-0300\"",
        "\"\\ud800\"", "\"a\\u0000b\"", "\"\\u0074ab\"", "[]", "[1]", "[\"a\"]", "[\"a\",null]", "[null]", "{}", "{\"a\":\"b\"}",
        "{\"a\":1}", "{\"a\":null}", "{\"name\":\"x\",\"language\":\"en\"}", "{\"a\":\"1\",\"a\":\"2\"}", "[[[[[[[[[1]]]]]]]]]",
        "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}",
    ];

    private static readonly string[] s_names =
    [
        "version", "id", "to", "text", "template", "kind", "tenant", "priority", "notBefore", "expiresAt", "traceId",
        "attributes", "attempt", "enqueuedAt", "lastError", "quietHours", "Version", "ID", "colour", "", "a b", "a.b", "a'b", "a\\\\b",
        "$", "$id", "a$", "[0]", "\\u0074o", "\\u0076ersion", "tex\\u0074", "\\ud800", "attributesX", "template.name",
    ];

    public static TheoryData<string, int> Families() => new()
    {
        { "valid envelopes cut at every byte", Truncations().Count() },
        { "each member given each value", MemberValues().Count() },
        { "members twice", Duplicates().Count() },
        { "unknown and oddly spelled names", Names().Count() },
        { "nesting around the depth limit", Nesting().Count() },
        { "top-level values and trailing bytes", TopLevel().Count() },
        { "random byte edits", RandomEdits(seed: 7, count: 3_000).Count() },
        { "the load test's malformed categories", LoadTestCategories(seed: 11, count: 500).Count() },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void Parse_GeneratedInputs_AnswerAsTheDeserializerBasedParserDid(string family, int count)
    {
        var inputs = family switch
        {
            "valid envelopes cut at every byte" => Truncations(),
            "each member given each value" => MemberValues(),
            "members twice" => Duplicates(),
            "unknown and oddly spelled names" => Names(),
            "nesting around the depth limit" => Nesting(),
            "top-level values and trailing bytes" => TopLevel(),
            "random byte edits" => RandomEdits(seed: 7, count: 3_000),
            _ => LoadTestCategories(seed: 11, count: 500),
        };

        var differences = new List<string>();
        var compared = 0;
        foreach (var json in inputs)
        {
            compared++;
            var expected = Describe(ReferenceEnvelopeParser.Parse(json));
            var actual = Describe(EnvelopeCodec.Parse(json));
            if (expected != actual && !IsLoneSurrogateNamed(expected, actual, json) && !IsTimestampMistakeNamed(expected, actual))
            {
                differences.Add($"{Encoding.UTF8.GetString(json)}\n  was:  {expected}\n  now:  {actual}");
            }
        }

        Assert.Equal(count, compared);
        Assert.True(differences.Count == 0, $"{family}: {differences.Count} of {compared} differ:\n" + string.Join("\n", differences.Take(20)));
    }

    [Fact]
    public void Parse_GeneratedInputs_AreThousands()
    {
        var total = Families().Sum(row => (int)row[1]);

        Assert.True(total > 5_000, $"{total} inputs");
    }

    // The deserializer classified errors by searching its exception's message, which includes the JSON path, so a
    // member name that happened to contain "Duplicate" turned a wrong type into "a property appears twice". That was
    // a bug, not a contract: the field's own error is reported now.
    [Theory]
    [InlineData("""{"attributes":{"isDuplicate":1}}""", "attributes.isDuplicate", "attribute values must be strings")]
    [InlineData("""{"attributes":{"end of data":1}}""", "attributes['end of data']", "attribute values must be strings")]
    [InlineData("""{"duplicate":01}""", "duplicate", "invalid JSON: Invalid leading zero before '1'.")]
    public void Parse_NameThatReadsLikeAnError_ReportsTheActualError(string json, string field, string message)
    {
        var result = EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(json));

        Assert.Equal(new EnvelopeError(field, message), result.Error);
    }

    // Cut-off documents, wrong types, duplicates, unknown members, depth, nulls and unknown versions are what a broken
    // producer sends in bulk; none of them may cost an exception (JSON syntax errors still come from the reader).
    [Theory]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","te""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"Your bi""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","attempt":12""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","template":{"name":"x","parameters":["a",""")]
    [InlineData("""{"version":"1","id":"charge-1","to":"+5511987654321","text":"hi"}""")]
    [InlineData("""{"version":99999999999,"id":"charge-1","to":"+5511987654321","text":"hi"}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":5511987654321,"text":"hi"}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","template":"bill_due_3d"}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","attributes":{"chargeId":8812}}""")]
    [InlineData("""["charge-1"]""")]
    [InlineData("null")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","to":"+5521998765432"}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","attributes":{"a":"1","a":"2"}}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","extra":[[[[[[[[[[[[1]]]]]]]]]]]]}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi","extra":{"a":1,"a":2}}""")]
    [InlineData("""{"version":2,"id":"charge-1","to":"+5511987654321","text":"hi","colour":"red"}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","template":{"name":"x","language":"en","parameters":[null]}}""")]
    [InlineData("""{"version":1,"id":"charge-1","to":"+5511987654321","text":"hi"} x""")]
    public void Parse_MalformedButNotSyntax_ThrowsNothing(string json)
    {
        var payload = Encoding.UTF8.GetBytes(json);
        var thread = Environment.CurrentManagedThreadId;
        var thrown = 0;
        void Count(object? sender, FirstChanceExceptionEventArgs e)
        {
            if (Environment.CurrentManagedThreadId == thread)
            {
                thrown++;
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Count;
        EnvelopeParseResult result;
        try
        {
            result = EnvelopeCodec.Parse(payload);
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }

        Assert.NotNull(result.Error);
        Assert.Equal(0, thrown);
    }

    // The one intended difference: a string value or an attribute's key holding half of a surrogate pair was reported as a
    // value of the wrong type; it is now named for what it is, at the same field and at the same point of the document.
    private static bool IsLoneSurrogateNamed(string expected, string actual, byte[] json)
    {
        const string Named = "] contains half of a character (a lone UTF-16 surrogate; was an emoji cut in two?)";
        if (!actual.EndsWith(Named, StringComparison.Ordinal) || !Encoding.UTF8.GetString(json).Contains("\\ud", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var field = actual[..^Named.Length] + "] ";
        return expected == field + "must be a string" || expected == field + "must be an array of strings" || expected == field + "attribute values must be strings"
            || (field == "error [attributes] " && IsAttributesTypeError(expected));

        // A key the old parser could not read: it named the attributes, or the key read before it, as of the wrong type.
        static bool IsAttributesTypeError(string error) =>
            error == "error [attributes] must be an object of string values"
            || (error.StartsWith("error [attributes.", StringComparison.Ordinal) && error.EndsWith("] attribute values must be strings", StringComparison.Ordinal));
    }

    // The other: a refused timestamp whose mistake is recognised (a space for the 'T', an offset without its colon) says
    // so before the rule, at the same field.
    private static bool IsTimestampMistakeNamed(string expected, string actual)
    {
        const string Rule = "must be an ISO-8601 timestamp with offset, e.g. 2026-11-22T09:00:00-03:00";
        foreach (var field in (string[])["notBefore", "expiresAt", "enqueuedAt"])
        {
            if (expected == $"error [{field}] {Rule}")
            {
                return (actual.StartsWith($"error [{field}] has ", StringComparison.Ordinal) || actual.StartsWith($"error [{field}] is a number (a Unix time?)", StringComparison.Ordinal))
                    && actual.EndsWith("; " + Rule, StringComparison.Ordinal);
            }
        }

        return false;
    }

    private static string Describe(EnvelopeParseResult result) =>
        result.Error is { } error ? $"error [{error.Field}] {error.Message}" : "valid " + Encoding.UTF8.GetString(EnvelopeCodec.Serialize(result.Envelope!));

    private static byte[] Utf8(string json) => Encoding.UTF8.GetBytes(json);

    private static IEnumerable<byte[]> Truncations()
    {
        foreach (var json in s_bases.Select(Utf8))
        {
            for (var length = 1; length <= json.Length; length++)
            {
                // A cut inside a multi-byte character is invalid UTF-8, refused before any JSON is read.
                if (System.Text.Unicode.Utf8.IsValid(json.AsSpan(0, length)))
                {
                    yield return json[..length];
                }
            }
        }
    }

    // Every member of the template envelope, the template's members, a parameter and an attribute value, given each value.
    private static IEnumerable<byte[]> MemberValues()
    {
        const string Head = "\"version\":1,\"id\":\"c\",\"to\":\"+5511987654321\"";
        foreach (var value in s_values)
        {
            foreach (var name in s_names.Take(15))
            {
                yield return Utf8($$$$"""{{{{{Head}}}},"text":"hi","{{{{name}}}}":{{{{value}}}}}""");
            }

            yield return Utf8($$$$"""{{{{{Head}}}},"template":{"name":{{{{value}}}},"language":"en"}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"template":{"name":"x","language":{{{{value}}}}}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"template":{"name":"x","language":"en","parameters":{{{{value}}}}}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"template":{"name":"x","language":"en","parameters":["a",{{{{value}}}},"b"]}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"template":{"name":"x","language":"en","other":{{{{value}}}}}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"text":"hi","attributes":{"k":{{{{value}}}},"a b":{{{{value}}}}}}""");
            yield return Utf8($$$$"""{{{{{Head}}}},"text":"hi","attributes":{"k":"v","":{{{{value}}}}}}""");
        }
    }

    private static IEnumerable<byte[]> Duplicates()
    {
        const string Valid = "\"version\":1,\"id\":\"c\",\"to\":\"+5511987654321\",\"text\":\"hi\"";
        string[] values = ["1", "\"x\"", "null", "{}", "[]", "{\"a\":1,\"a\":2}", "[\"a\",1]"];
        foreach (var name in s_names)
        {
            foreach (var first in values)
            {
                foreach (var second in values)
                {
                    yield return Utf8($$$$"""{{{{{Valid}}}},"{{{{name}}}}":{{{{first}}}},"{{{{name}}}}":{{{{second}}}}}""");
                }
            }

            yield return Utf8($$$$"""{"{{{{name}}}}":1,{{{{Valid}}}},"{{{{name}}}}":2}""");
            yield return Utf8($$$$"""{{{{{Valid}}}},"template":{"{{{{name}}}}":1,"{{{{name}}}}":2}}""");
            yield return Utf8($$$$"""{{{{{Valid}}}},"attributes":{"{{{{name}}}}":"1","{{{{name}}}}":"2"}}""");
            yield return Utf8($$$$"""{{{{{Valid}}}},"attributes":{"{{{{name}}}}":"1","b":"2","{{{{name}}}}":2}}""");
        }
    }

    private static IEnumerable<byte[]> Names()
    {
        const string Valid = "\"version\":1,\"id\":\"c\",\"to\":\"+5511987654321\",\"text\":\"hi\"";
        foreach (var name in s_names)
        {
            foreach (var value in new[] { "\"x\"", "1", "[", "{\"", "{\"a\":1,\"a\":2}", "{\"\\ud800\":1}", "tx" })
            {
                yield return Utf8($$$$"""{{{{{Valid}}}},"{{{{name}}}}":{{{{value}}}}""");
                yield return Utf8($$$$"""{"{{{{name}}}}":{{{{value}}}},{{{{Valid}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"template":{"{{{{name}}}}":{{{{value}}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"attributes":{"{{{{name}}}}":{{{{value}}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"attributes":{"k":"v","{{{{name}}}}":{{{{value}}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"x":{"{{{{name}}}}":{{{{value}}}}}}""");
            }
        }

        // Two unknown members: the first one is reported.
        yield return Utf8($$$$"""{"zeta":1,{{{{Valid}}}},"alpha":2}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"template":{"zeta":1,"alpha":2},"beta":3}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"x":{"a":1,"\u0061":2}}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"x":{"a":{"b":1,"\ud800":2},"a":3}}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"x":{"a":1,"a":2,"c":{"\ud800":2}}}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"x":{"\ud800":1,"a":2,"a":3}}""");
        yield return Utf8($$$$"""{{{{{Valid}}}},"x":[{"a":1},{"a":2}]}""");
    }

    private static IEnumerable<byte[]> Nesting()
    {
        const string Valid = "\"version\":1,\"id\":\"c\",\"to\":\"+5511987654321\",\"text\":\"hi\"";
        foreach (var (open, close) in new[] { ("[", "]"), ("{\"a\":", "}"), ("{\"a\":[", "]}") })
        {
            foreach (var depth in new[] { 1, 5, 6, 7, 8, 9, 10, 64, 5_000 })
            {
                var value = string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
                yield return Utf8($$$$"""{{{{{Valid}}}},"extra":{{{{value}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"extra":{{{{value[..(value.Length / 2)]}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"template":{"x":{{{{value}}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"attributes":{"x":{{{{value}}}}}}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"extra":{{{{value}}}},"extra":1}""");
                yield return Utf8($$$$"""{{{{{Valid}}}},"extra":{{{{value}}}},"version":"x"}""");
            }
        }
    }

    private static IEnumerable<byte[]> TopLevel()
    {
        const string Valid = """{"version":1,"id":"c","to":"+5511987654321","text":"hi"}""";
        string[] alone = ["null", " null ", "null x", "nul", "12", "12 ", "-", "1.", "tru", "true", "false", "\"abc", "\"abc\"", "\"\\u00", " ", "\t\r\n", "[", "[1", "[]", "{", "{}", "}", "]", ",", ":", "x", "/", "//", "/*", "'a'"];
        foreach (var json in alone)
        {
            yield return Utf8(json);
        }

        foreach (var tail in new[] { " ", "\n", "x", "}", "]", "{}", "[]", "1", "/", "//c", "/*c*/", "\u00a0", ",", "null", "\"", "\nx", "\r\n{}", "\n\n  }" })
        {
            yield return Utf8(Valid + tail);
            yield return Utf8("null" + tail);
            yield return Utf8("[" + tail);
        }

        foreach (var inner in new[] { ",", ",}", "{,}", "1", "\"a\"", "\"a\" 1", "\"a\":1,", "\"a\":1,,\"b\":2", "\"a\" : 1 \"b\":2", "'a':1", "a:1", "\"a\":1 /*c*/" })
        {
            yield return Utf8("{" + inner + "}");
            yield return Utf8("{" + inner);
        }
    }

    // Single-byte edits of valid envelopes: replaced, deleted or inserted, with bytes that matter to JSON.
    private static IEnumerable<byte[]> RandomEdits(int seed, int count)
    {
        var random = new Random(seed);
        var bases = s_bases.Select(Utf8).ToArray();
        const string Bytes = "{}[]\":,\\ \t\n0123456789-+.eEtrufalsn/'xu";
        for (var i = 0; i < count; i++)
        {
            var json = bases[random.Next(bases.Length)].ToList();
            for (var edits = random.Next(1, 4); edits > 0; edits--)
            {
                var at = random.Next(json.Count);
                var b = (byte)Bytes[random.Next(Bytes.Length)];
                switch (random.Next(3))
                {
                    case 0:
                        json[at] = b;
                        break;
                    case 1:
                        json.RemoveAt(at);
                        break;
                    default:
                        json.Insert(at, b);
                        break;
                }
            }

            var bytes = json.ToArray();
            if (System.Text.Unicode.Utf8.IsValid(bytes))
            {
                yield return bytes;
            }
            else
            {
                yield return bases[0];
            }
        }
    }

    // Like the load harness's MalformedEnvelopes (which this project cannot reference): its categories at random sizes.
    private static IEnumerable<byte[]> LoadTestCategories(int seed, int count)
    {
        var random = new Random(seed);
        const string Phone = "+5511987654321";
        const string Text = "Your bill of R$ 99,90 is due on 25/11. Pay at https://pay.example/f/1";
        static string Members(string to = Phone, string text = Text) => "\"version\":1,\"to\":\"" + to + "\",\"text\":\"" + text + "\"";
        for (var i = 0; i < count; i++)
        {
            var marker = $"fuzz-{i:D7}";
            var whole = $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"kind":"billing_reminder"}""";
            var c = (char)random.Next(0, 0x20);
            var depth = random.Next(EnvelopeLimits.MaxJsonDepth + 1, 200);
            yield return (i % 9) switch
            {
                0 => Utf8(whole[..random.Next(marker.Length + 8, whole.Length)]),
                1 => Utf8(random.Next(6) switch
                {
                    0 => $$$$"""{"id":"{{{{marker}}}}","version":"1","to":"{{{{Phone}}}}","text":"{{{{Text}}}}"}""",
                    1 => $$$$"""{"id":"{{{{marker}}}}","version":1,"to":5511987654321,"text":"{{{{Text}}}}"}""",
                    2 => $$$$"""{"id":"{{{{marker}}}}","version":1,"to":"{{{{Phone}}}}","text":["{{{{Text}}}}"]}""",
                    3 => $$$$"""{"id":"{{{{marker}}}}","version":1,"to":"{{{{Phone}}}}","template":"bill_due_3d"}""",
                    4 => $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"attributes":{"chargeId":8812}}""",
                    _ => $$$$"""["{{{{marker}}}}",{{{{Members()}}}}]""",
                }),
                2 => Utf8($$$$"""{"id":"{{{{marker}}}}",{{{{Members(text: new string('a', random.Next(4_000, 5_000)))}}}},"template":{"name":"x","language":"en","parameters":["{{{{new string('p', random.Next(1_000, 1_100))}}}}"]}}"""),
                3 => Utf8($$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"metadata":{{string.Concat(Enumerable.Repeat("{\"a\":[", depth))}}1{{string.Concat(Enumerable.Repeat("]}", depth))}}}"""),
                4 => Utf8(random.Next(3) switch
                {
                    0 => $$$$"""{"id":"{{{{marker}}}}",{{{{Members(text: "line one" + c + "line two")}}}}}""",
                    1 => $$$$"""{"id":"{{{{marker}}}}\u{{{{(int)c:x4}}}}",{{{{Members()}}}}}""",
                    _ => $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"traceId":"trace\u{{{{(int)c:x4}}}}1"}""",
                }),
                5 => Utf8($$$$"""{"id":"{{{{marker}}}}",{{{{Members(to: new string('9', random.Next(1, 30)))}}}}}"""),
                6 => Utf8($$$$"""{"id":"{{{{marker}}}}","version":{{{{random.Next(int.MinValue, int.MaxValue)}}}},"to":"{{{{Phone}}}}","text":"{{{{Text}}}}"}"""),
                7 => Utf8($$$$"""{"id":"{{{{marker}}}}","version":{{{{random.NextInt64()}}}}{{{{(random.Next(2) == 0 ? ".5" : "")}}}},"to":"{{{{Phone}}}}","text":"{{{{Text}}}}"}"""),
                _ => Utf8(random.Next(3) switch
                {
                    0 => $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"to":"+5521998765432"}""",
                    1 => $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"version":1}""",
                    _ => $$$$"""{"id":"{{{{marker}}}}",{{{{Members()}}}},"attributes":{"a":"1","a":"2"}}""",
                }),
            };
        }
    }
}
