using Cortex.Testing;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Cortex.Scheduler;
using Cortex.Scheduler.Data;
using Cortex.Sender.Gateways;
using Cortex.Sender.RateLimiting;
using Cortex.Sender.Resilience;
using Cortex.Sender.Retry;
using Cortex.Shared.Configuration;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Docs;

/// <summary>
/// Keeps docs/configuration.md true: every option key the services bind has a row, its documented default is the
/// code's, the doc names no key that does not exist, and every <c>```json config</c> example binds and validates.
/// </summary>
public partial class ConfigurationDocTests
{
    private const string DocPath = "docs/configuration.md";

    // The seven option classes the sender binds, then the scheduler's own two (it also binds the first two), then the
    // operations endpoint's, which both services bind (AddCortexOperations). Keep in
    // step with AddCortexQueue, AddCortexGateway, AddCortexSender and AddCortexScheduler.
    private static readonly (string Section, Type Type, Func<IServiceProvider, object> Resolve)[] s_sections =
    [
        (RedisOptions.Section, typeof(RedisOptions), Resolve<RedisOptions>),
        (QueueOptions.Section, typeof(QueueOptions), Resolve<QueueOptions>),
        (SenderOptions.Section, typeof(SenderOptions), Resolve<SenderOptions>),
        (GatewayOptions.Section, typeof(GatewayOptions), Resolve<GatewayOptions>),
        (RateLimitOptions.Section, typeof(RateLimitOptions), Resolve<RateLimitOptions>),
        (ResilienceOptions.Section, typeof(ResilienceOptions), Resolve<ResilienceOptions>),
        (RetryOptions.Section, typeof(RetryOptions), Resolve<RetryOptions>),
        (PostgresOptions.Section, typeof(PostgresOptions), Resolve<PostgresOptions>),
        (SchedulerOptions.Section, typeof(SchedulerOptions), Resolve<SchedulerOptions>),
        (ObservabilityOptions.Section, typeof(ObservabilityOptions), Resolve<ObservabilityOptions>),
    ];

    // Secrets never go into appsettings.json: the doc says they come from a Kubernetes Secret as environment variables.
    // The examples are bound with these layered on top, as the Secret would be.
    private static readonly Dictionary<string, string?> s_secretsFromEnvironment = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Cortex:Gateway:Evolution:ApiKey"] = "doc-test-api-key",
        ["Cortex:Gateway:Cloud:AccessToken"] = "doc-test-access-token",
        ["Cortex:Postgres:ConnectionString"] = "Host=postgres;Database=cortex;Username=cortex;Password=doc-test",
        ["Cortex:Observability:AdminToken"] = "doc-test-admin-token-0123456789",
    };

    // The doc shows these wrong keys on purpose, to explain typo protection.
    private static readonly string[] s_intentionalTypos = ["Cortex:Sender:Wrokers", "Cortex:Gatway:Type", "Cortex:Gatway", "Cortex:Redis:Password:Value"];

    private static readonly Lazy<string> s_doc = new(() => MarkdownDoc.Read(DocPath));

    private static readonly Lazy<IReadOnlyList<OptionKey>> s_keys = new(AllKeys);

    public static TheoryData<int, string> ConfigExamples()
    {
        var data = new TheoryData<int, string>();
        foreach (var block in MarkdownDoc.FencedBlocks(s_doc.Value).Where(b => b.Language == "json" && b.Tag == "config"))
        {
            data.Add(block.Line, block.Content);
        }

        return data;
    }

    [Fact]
    public void Reflection_FindsTheNestedGatewayKeys()
    {
        // Guards the key walk itself: if it stopped recursing, the doc tests below would pass on too few keys.
        var keys = s_keys.Value.Select(k => k.Key).ToList();

        Assert.Contains("Cortex:Gateway:Evolution:BaseUrl", keys);
        Assert.Contains("Cortex:Gateway:Cloud:AccessToken", keys);
        Assert.Contains("Cortex:Gateway:Fake:Seed", keys);
        Assert.DoesNotContain("Cortex:Gateway:Evolution", keys);
        Assert.True(keys.Count >= 50, $"only {keys.Count} keys found");
    }

    [Fact]
    public void Doc_EveryOptionKey_HasExactlyOneRow()
    {
        var rows = KeyRows();
        var missing = s_keys.Value.Where(k => !rows.Any(r => r.Key == k.Key)).Select(k => k.Key).ToList();
        var duplicated = rows.GroupBy(r => r.Key).Where(g => g.Count() > 1).Select(g => $"{g.Key} (lines {string.Join(", ", g.Select(r => r.Line))})").ToList();

        Assert.True(missing.Count == 0, $"{DocPath} has no table row for: {string.Join(", ", missing)}");
        Assert.True(duplicated.Count == 0, $"{DocPath} documents a key twice: {string.Join("; ", duplicated)}");
    }

    [Fact]
    public void Doc_DocumentedDefaults_AreTheCodesDefaults()
    {
        var rows = KeyRows();
        var wrong = new List<string>();
        foreach (var key in s_keys.Value)
        {
            var row = rows.FirstOrDefault(r => r.Key == key.Key);
            if (row is not null && row.Default != key.Default)
            {
                wrong.Add($"{key.Key}: the doc says `{row.Default}` (line {row.Line}), the code's default is `{key.Default}`");
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Fact]
    public void Doc_TableRows_NameOnlyKeysThatExist()
    {
        var known = s_keys.Value.Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        var unknown = KeyRows().Where(r => !known.Contains(r.Key)).Select(r => $"{r.Key} (line {r.Line})").ToList();

        Assert.True(unknown.Count == 0, $"{DocPath} documents keys the code does not have: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void Doc_Prose_NamesOnlyKeysAndSectionsThatExist()
    {
        // `Cortex:Sender:Workers`, `--Cortex:Sender:Workers=64` and `Cortex__Sender__Workers=64` anywhere in the text
        // must name a real key (or a section, or a nested Gateway group), spelt as the code spells it.
        var known = s_keys.Value.Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var key in s_keys.Value)
        {
            for (var i = key.Key.IndexOf(':', StringComparison.Ordinal); i > 0; i = key.Key.IndexOf(':', i + 1))
            {
                known.Add(key.Key[..i]);
            }
        }

        var unknown = KeyMention().Matches(s_doc.Value)
            .Select(m => m.Groups["key"].Value.Replace("__", ":", StringComparison.Ordinal))
            .Where(k => !known.Contains(k) && !s_intentionalTypos.Contains(k))
            .Distinct()
            .ToList();

        Assert.True(unknown.Count == 0, $"{DocPath} mentions keys the code does not have: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void Doc_EveryJsonBlock_IsATaggedConfigExample_AndThereAreThree()
    {
        var blocks = MarkdownDoc.FencedBlocks(s_doc.Value).Where(b => b.Language == "json").ToList();

        Assert.All(blocks, b => Assert.True(b.Tag == "config", $"```json block at line {b.Line} must be tagged: ```json config"));
        Assert.True(blocks.Count >= 3, "the doc shows an Evolution, a Cloud API and a fake-gateway example");
    }

    [Theory]
    [MemberData(nameof(ConfigExamples))]
    public void Doc_ConfigExample_BindsAndValidates(int line, string json)
    {
        var example = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

        // Belt and braces: the host rejects unknown keys and sections too, but say which example is wrong.
        var known = s_keys.Value.Select(k => k.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var unknown = example.AsEnumerable()
            .Where(kv => kv.Value is not null && kv.Key.StartsWith("Cortex:", StringComparison.OrdinalIgnoreCase) && !known.Contains(kv.Key))
            .Select(kv => kv.Key)
            .ToList();
        Assert.True(unknown.Count == 0, $"example at line {line} sets keys the code does not have: {string.Join(", ", unknown)}");

        // Secrets belong in a Secret, not in appsettings.json: the doc must not show otherwise.
        var secrets = example.AsEnumerable()
            .Where(kv => s_secretsFromEnvironment.ContainsKey(kv.Key)
                || (kv.Value is not null && kv.Value.Contains("password=", StringComparison.OrdinalIgnoreCase)))
            .Select(kv => kv.Key)
            .ToList();
        Assert.True(secrets.Count == 0, $"example at line {line} puts a secret in appsettings.json: {string.Join(", ", secrets)}");

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(example);
        builder.Configuration.AddInMemoryCollection(s_secretsFromEnvironment);
        builder.Services.AddCortexSender();
        builder.Services.AddCortexScheduler(builder.Configuration);
        builder.Services.AddCortexOptions<ObservabilityOptions, ObservabilityOptionsValidator>(ObservabilityOptions.Section);
        using var host = builder.Build();

        var failures = new List<string>();
        foreach (var (section, type, resolve) in s_sections)
        {
            try
            {
                Assert.IsType(type, resolve(host.Services));
            }
            catch (OptionsValidationException ex)
            {
                failures.AddRange(ex.Failures);
            }
            catch (InvalidOperationException ex)
            {
                // Binder errors: an unknown key in a known section, or a value of the wrong type.
                failures.Add($"{section}: {ex.Message}{(ex.InnerException is { } inner ? " " + inner.Message : string.Empty)}");
            }
        }

        Assert.True(failures.Count == 0, $"example at line {line} does not start:{Environment.NewLine}{string.Join(Environment.NewLine, failures)}");
    }

    private static object Resolve<TOptions>(IServiceProvider services)
        where TOptions : class =>
        services.GetRequiredService<IOptions<TOptions>>().Value;

    /// <summary>Every bindable key: public settable properties, recursing into nested option objects (Gateway:Evolution, …).</summary>
    private static List<OptionKey> AllKeys()
    {
        var keys = new List<OptionKey>();
        foreach (var (section, type, _) in s_sections)
        {
            Walk(section, type, Activator.CreateInstance(type)!, keys);
        }

        return keys;
    }

    private static void Walk(string prefix, Type type, object instance, List<OptionKey> keys)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var key = prefix + ":" + property.Name;
            var value = property.GetValue(instance);
            if (IsNestedOptions(property.PropertyType))
            {
                Walk(key, property.PropertyType, value ?? Activator.CreateInstance(property.PropertyType)!, keys);
            }
            else
            {
                keys.Add(new OptionKey(key, FormatDefault(value)));
            }
        }
    }

    private static bool IsNestedOptions(Type type) =>
        type.IsClass && type != typeof(string) && type != typeof(Uri) && type.Namespace?.StartsWith("Cortex", StringComparison.Ordinal) == true;

    /// <summary>A default as an operator would type it in appsettings.json.</summary>
    private static string FormatDefault(object? value) => value switch
    {
        null => "(none)",
        string { Length: 0 } => "\"\"",
        string s => s,
        bool b => b ? "true" : "false",
        TimeSpan t => FormatTimeSpan(t),
        Enum e => e.ToString(),
        Uri u => u.OriginalString,
        System.Collections.ICollection { Count: 0 } => "[]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"no documented format for a default of type {value.GetType()}"),
    };

    /// <summary>The "c" format, with a fraction written as milliseconds (00:00:00.200) rather than ticks (00:00:00.2000000).</summary>
    private static string FormatTimeSpan(TimeSpan value)
    {
        var text = value.ToString("c", CultureInfo.InvariantCulture);
        var dot = text.IndexOf('.', text.LastIndexOf(':') + 1);
        if (dot < 0)
        {
            return text;
        }

        var fraction = text[(dot + 1)..].TrimEnd('0');
        var width = fraction.Length <= 3 ? 3 : fraction.Length <= 6 ? 6 : 7;
        return text[..dot] + "." + fraction.PadRight(width, '0');
    }

    /// <summary>Table rows whose first cell is a key: | `Cortex:Sender:Workers` | `32` | allowed | meaning |.</summary>
    private static List<KeyRow> KeyRows()
    {
        var rows = new List<KeyRow>();
        var lines = s_doc.Value.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (!line.StartsWith('|'))
            {
                continue;
            }

            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            var key = Unquote(cells[0]);
            if (!key.StartsWith("Cortex:", StringComparison.Ordinal))
            {
                continue;
            }

            Assert.True(cells.Length >= 4, $"{DocPath} line {i + 1}: a key row has the columns Key, Default, Allowed and Meaning");
            rows.Add(new KeyRow(i + 1, key, Unquote(cells[1])));
        }

        return rows;
    }

    private static string Unquote(string cell) =>
        cell.Length >= 2 && cell[0] == '`' && cell[^1] == '`' ? cell[1..^1] : cell;

    // A key in code spans or fences, colon or double-underscore form: Cortex:Sender:Workers, Cortex__Sender__Workers.
    [GeneratedRegex(@"(?<![A-Za-z0-9_:])(?<key>Cortex(?:(?::|__)[A-Za-z]+)+)")]
    private static partial Regex KeyMention();

    private sealed record OptionKey(string Key, string Default);

    private sealed record KeyRow(int Line, string Key, string Default);

}
