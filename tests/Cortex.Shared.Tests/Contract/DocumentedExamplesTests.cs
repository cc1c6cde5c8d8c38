using Cortex.Testing;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Shared.Tests.Contract;

/// <summary>Keeps docs/message-format.md true: its examples must be what Cortex accepts and writes, its limits the code's.</summary>
public partial class DocumentedExamplesTests
{
    private static readonly Lazy<string> s_doc = new(() => MarkdownDoc.Read("docs/message-format.md"));

    // Every ```json block says what it is, so an example cannot silently escape these checks.
    private static readonly string[] s_jsonKinds = ["envelope", "dlq", "config"];

    public static TheoryData<int, string> EnvelopeExamples() => Examples("envelope");

    public static TheoryData<int, string> DeadLetterExamples() => Examples("dlq");

    [Fact]
    public void Doc_EveryJsonBlock_IsTaggedWithWhatItIs()
    {
        var blocks = MarkdownDoc.FencedBlocks(s_doc.Value).Where(b => b.Language == "json").ToList();

        Assert.NotEmpty(blocks);
        Assert.All(blocks, b => Assert.True(s_jsonKinds.Contains(b.Tag), $"```json block at line {b.Line} needs a tag: one of {string.Join(", ", s_jsonKinds)}"));
        Assert.True(blocks.Count(b => b.Tag == "envelope") >= 3, "the doc shows a text, a template and a delayed high-priority example");
        Assert.True(blocks.Any(b => b.Tag == "dlq"), "the doc shows a dead-letter entry");
    }

    [Theory]
    [MemberData(nameof(EnvelopeExamples))]
    public void Doc_EnvelopeExample_IsAcceptedByTheCodec(int line, string json)
    {
        var result = EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(json));

        Assert.True(result.IsValid, $"example at line {line}: {result.Error}");
    }

    [Fact]
    public void Doc_EnvelopeExamples_CoverTextTemplateAndDelayedHighPriority()
    {
        var envelopes = Examples("envelope").Select(row => EnvelopeCodec.Parse(Encoding.UTF8.GetBytes((string)row[1])).Envelope!).ToList();

        Assert.Contains(envelopes, e => e.Text is not null);
        Assert.Contains(envelopes, e => e.Template is not null);
        Assert.Contains(envelopes, e => e.Priority == Priority.High && e.NotBefore is not null);
    }

    [Theory]
    [MemberData(nameof(DeadLetterExamples))]
    public void Doc_DeadLetterExample_IsReadableAndTellsTheTruth(int line, string json)
    {
        var entry = DeadLetterEntry.FromJson(Encoding.UTF8.GetBytes(json));

        Assert.NotNull(entry);
        Assert.Contains(entry.Reason, DocumentedReasons());
        Assert.True((entry.Payload is null) != (entry.PayloadBase64 is null), $"example at line {line}: exactly one of payload and payloadBase64");
        Assert.NotEqual(default, entry.DeadAt);

        if (entry.Reason == DeadLetterReasons.InvalidEnvelope)
        {
            // The detail shown must be exactly what the codec says about the payload shown.
            var parsed = EnvelopeCodec.Parse(entry.PayloadBytes());
            Assert.False(parsed.IsValid, $"example at line {line}: its payload is valid");
            Assert.Equal(parsed.Error!.ToString(), entry.Detail);

            // And it is under the payload's id when that is a valid one, as the sender writes it.
            Assert.Equal(EnvelopeCodec.TryReadId(entry.PayloadBytes()), entry.MessageId);
        }
        else
        {
            Assert.True(EnvelopeCodec.Parse(entry.PayloadBytes()).IsValid, $"example at line {line}: a {entry.Reason} entry holds a valid envelope");
        }
    }

    [Fact]
    public void Doc_StoredEntryExample_IsWhatCortexWritesForTheFirstEntryShown()
    {
        var blocks = MarkdownDoc.FencedBlocks(s_doc.Value);
        var stored = Encoding.UTF8.GetBytes(Assert.Single(blocks, b => b.Tag == "dlq-stored").Content);
        var shown = DeadLetterEntry.FromJson(Encoding.UTF8.GetBytes(blocks.First(b => b.Language == "json" && b.Tag == "dlq").Content))!;

        Assert.Equal(shown, DeadLetterEntry.FromJson(stored));
        Assert.Equal(stored, shown.ToStored(shown.PayloadBytes()));
    }

    [Fact]
    public void Doc_InvalidEnvelopeDetails_AreWhatTheCodecSays()
    {
        // Rows of the reasons table: | `invalid_envelope` | ... | `field: reason` |
        var details = s_doc.Value.Split('\n')
            .Where(l => l.StartsWith("| `invalid_envelope`", StringComparison.Ordinal))
            .Select(l => l.TrimEnd().TrimEnd('|').Trim())
            .Select(l => l[(l.LastIndexOf("| `", StringComparison.Ordinal) + 3)..^1])
            .ToList();
        string[] payloads =
        [
            """{"version":3,"id":"c","to":"+5511987654321","text":"hi"}""",
            """{"version":1,"id":"c","to":"011 98765-4321","text":"hi"}""",
            """{"version":1,"id":"c","to":"+5511987654321","txt":"hi"}""",
            """{"version":1,"id":"c","to":"+5511987654321"}""",
        ];

        var actual = payloads.Select(p => EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(p)).Error!.ToString()).ToList();

        Assert.Equal(actual, details);
    }

    [Fact]
    public void Doc_RedisCliExamples_PushValidEnvelopesToTheListOfTheirPriority()
    {
        var pushes = RedisCliPush().Matches(s_doc.Value);

        Assert.NotEmpty(pushes);
        foreach (Match push in pushes)
        {
            var result = EnvelopeCodec.Parse(Encoding.UTF8.GetBytes(push.Groups["json"].Value));
            Assert.True(result.IsValid, $"{push.Value}: {result.Error}");
            Assert.Equal(push.Groups["priority"].Value, result.Envelope!.Priority.ToString().ToLowerInvariant());
        }
    }

    [Fact]
    public void Doc_LimitsTable_MatchesEnvelopeLimits()
    {
        var constants = typeof(EnvelopeLimits).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).ToList();
        var rows = s_doc.Value.Split('\n').Where(l => l.StartsWith('|')).ToList();

        Assert.NotEmpty(constants);
        foreach (var constant in constants)
        {
            var row = rows.SingleOrDefault(r => r.Contains($"`EnvelopeLimits.{constant.Name}`", StringComparison.Ordinal));
            Assert.True(row is not null, $"the limits table has no row for EnvelopeLimits.{constant.Name}");
            var value = Convert.ToString(constant.GetRawConstantValue(), CultureInfo.InvariantCulture);
            Assert.Contains($"| {value} |", row, StringComparison.Ordinal);
        }
    }

    // A producer builds its names from the characters the table lists; one listed but refused dead-letters every
    // message that uses it (the table once offered '.' and '-' in template names).
    [Theory]
    [InlineData("template.name")]
    [InlineData("kind")]
    [InlineData("tenant")]
    public void Doc_NameCharacterSet_IsWhatTheCodecAccepts(string field)
    {
        // The envelope's table comes first; the dead-letter entry's table has a `kind` row too.
        var row = s_doc.Value.Split('\n').First(l => l.StartsWith($"| `{field}` |", StringComparison.Ordinal));
        var limits = row.Split('|')[4];
        var documented = new SortedSet<char>();
        foreach (Match token in Backticked().Matches(limits[limits.IndexOf(" of ", StringComparison.Ordinal)..]))
        {
            var t = token.Groups[1].Value;
            Assert.True(t.Length == 1 || (t.Length == 3 && t[1] == '-'), $"{field}: '{t}' is neither a character nor a range");
            for (var c = t[0]; c <= t[^1]; c++)
            {
                documented.Add(c);
            }
        }

        var accepted = new SortedSet<char>();
        for (var c = ' '; c <= '~'; c++)
        {
            var name = "a" + c;
            var envelope = field switch
            {
                "template.name" => new Envelope { Id = "c-1", To = "+5511987654321", Template = new MessageTemplate(name, "pt_BR", []) },
                "kind" => new Envelope { Id = "c-1", To = "+5511987654321", Text = "hi", Kind = name },
                _ => new Envelope { Id = "c-1", To = "+5511987654321", Text = "hi", Tenant = name },
            };
            var error = EnvelopeCodec.Validate(envelope);
            if (error is null)
            {
                accepted.Add(c);
            }
            else
            {
                Assert.Equal(field, error.Field);
            }
        }

        Assert.Equal(string.Concat(accepted), string.Concat(documented));
    }

    [Fact]
    public void Doc_DefaultKeysAndSettings_MatchTheCode()
    {
        var keys = new QueueKeys(new QueueOptions().Name);
        var doc = s_doc.Value;

        foreach (var key in new[] { (string)keys.ReadyHigh, (string)keys.ReadyNormal, (string)keys.ReadyLow, (string)keys.Delayed, (string)keys.Dead })
        {
            Assert.Contains($"`{key}`", doc, StringComparison.Ordinal);
        }

        Assert.Equal(TimeSpan.FromHours(24), new QueueOptions().IdempotencyWindow);
        Assert.Contains("24 h by default", doc, StringComparison.Ordinal);
        Assert.Contains($"{new QueueOptions().MaxDeliveries} by default", doc, StringComparison.Ordinal);
        Assert.Contains($"`{QueueOptions.Section}:IdempotencyWindow`", doc, StringComparison.Ordinal);
    }

    private static TheoryData<int, string> Examples(string tag)
    {
        var data = new TheoryData<int, string>();
        foreach (var block in MarkdownDoc.FencedBlocks(s_doc.Value).Where(b => b.Language == "json" && b.Tag == tag))
        {
            data.Add(block.Line, block.Content);
        }

        return data;
    }

    private static string[] DocumentedReasons() =>
        typeof(DeadLetterReasons).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetRawConstantValue()!).ToArray();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Backticked();

    [GeneratedRegex(@"LPUSH '\{cortex\}:ready:(?<priority>high|normal|low)' '(?<json>[^']*)'")]
    private static partial Regex RedisCliPush();

}
