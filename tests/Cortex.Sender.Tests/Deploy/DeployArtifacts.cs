using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// Reads the monitoring artifacts under deploy/: the Prometheus alert rules, their promtool unit tests and the Grafana
/// dashboard. No YAML library is available, so the YAML files are read line by line for the few things the tests
/// need (alert names, <c>expr</c> blocks, <c>for</c>, annotations, test cases); their syntax is checked by promtool
/// itself (<see cref="RunPromtoolAsync"/>).
/// </summary>
internal static partial class DeployArtifacts
{
    public const string RulesPath = "deploy/prometheus/cortex-alerts.yml";
    public const string RuleTestsPath = "deploy/prometheus/cortex-alerts.test.yml";
    public const string DashboardPath = "deploy/grafana/cortex-dashboard.json";
    public const string RunbookPath = "docs/operations.md";
    public const string AdapterValuesPath = "k8s/components/prometheus-adapter-hpa/prometheus-adapter-values.yaml";

    /// <summary>The folder holding Cortex.sln, found upwards from the test binaries.</summary>
    public static string RepoRoot => MarkdownDoc.RepoRoot();

    public static string FullPath(string relativePath) => Path.Combine(RepoRoot, relativePath);

    public static string[] ReadLines(string relativePath) => File.ReadAllLines(FullPath(relativePath));

    /// <summary>
    /// Every metric name (<c>cortex_*</c>, <c>dotnet_*</c>) referenced by an alert rule's expression, a dashboard
    /// query (panel targets and template variables) or the prometheus-adapter rule of k8s/, histogram suffixes <c>_bucket</c>/<c>_sum</c>/<c>_count</c>
    /// kept as written. Annotations and comments are not read.
    /// </summary>
    public static IReadOnlySet<string> ReferencedMetricNames()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var expr in AlertRules().Select(r => r.Expr).Concat(DashboardQueries()).Concat(AdapterQueries()))
        {
            foreach (Match m in MetricNameRegex().Matches(expr))
            {
                names.Add(m.Value);
            }
        }

        return names;
    }

    /// <summary>The series and metrics queries of the prometheus-adapter rules the HPA alternative of k8s/ relies on.</summary>
    public static IEnumerable<string> AdapterQueries() =>
        ReadLines(AdapterValuesPath).Select(l => l.Trim().TrimStart('-', ' ')).Where(l => l.StartsWith("seriesQuery:", StringComparison.Ordinal) || l.StartsWith("metricsQuery:", StringComparison.Ordinal));

    /// <summary>The metric names a PromQL expression references (same rule as <see cref="ReferencedMetricNames"/>).</summary>
    public static IEnumerable<string> MetricNamesIn(string expr) => MetricNameRegex().Matches(expr).Select(m => m.Value);

    // ------------------------------------------------------------------------------------------------ alert rules

    /// <summary>An alerting rule as read from the rules file. <see cref="Line"/> is 1-based, for messages.</summary>
    public sealed record AlertRule(
        string Name,
        int Line,
        string Expr,
        TimeSpan? For,
        IReadOnlyDictionary<string, string> Labels,
        IReadOnlyDictionary<string, string> Annotations);

    public static IReadOnlyList<AlertRule> AlertRules()
    {
        var lines = ReadLines(RulesPath);
        var rules = new List<AlertRule>();
        for (var i = 0; i < lines.Length; i++)
        {
            var m = AlertLineRegex().Match(lines[i]);
            if (!m.Success)
            {
                continue;
            }

            // The rule's keys sit at the indentation of "alert:" (after "- "); the rule ends at the next line that is
            // not blank, not a comment and indented less than that (the next "- alert:" / "- record:" / "- name:").
            var keyIndent = lines[i].IndexOf("alert:", StringComparison.Ordinal);
            var end = i + 1;
            while (end < lines.Length && (IsBlankOrComment(lines[end]) || Indent(lines[end]) >= keyIndent))
            {
                end++;
            }

            var block = lines[(i + 1)..end];
            rules.Add(new AlertRule(
                m.Groups[1].Value,
                i + 1,
                ScalarOrBlock(block, keyIndent, "expr") ?? "",
                ScalarOrBlock(block, keyIndent, "for") is { } f ? ParseDuration(f) : null,
                Mapping(block, keyIndent, "labels"),
                Mapping(block, keyIndent, "annotations")));
            i = end - 1;
        }

        return rules;
    }

    // ------------------------------------------------------------------------------------------ promtool unit tests

    /// <summary>One <c>alert_rule_test</c> item: the alert, when it is evaluated and whether alerts are expected.</summary>
    public sealed record AlertCase(string TestName, int Line, string AlertName, TimeSpan EvalTime, bool ExpectsFiring);

    public static IReadOnlyList<AlertCase> AlertCases()
    {
        var lines = ReadLines(RuleTestsPath);
        var cases = new List<AlertCase>();
        var testName = "";
        for (var i = 0; i < lines.Length; i++)
        {
            if (TestNameRegex().Match(lines[i]) is { Success: true } name)
            {
                testName = Unquote(name.Groups[1].Value);
                continue;
            }

            if (!lines[i].TrimStart().StartsWith("alert_rule_test:", StringComparison.Ordinal))
            {
                continue;
            }

            var sectionIndent = Indent(lines[i]);
            var itemIndent = -1;
            var j = i + 1;
            for (; j < lines.Length; j++)
            {
                var line = lines[j];
                if (IsBlankOrComment(line))
                {
                    continue;
                }

                var indent = Indent(line);
                var isItem = line.TrimStart().StartsWith('-');
                if (indent < sectionIndent || (indent == sectionIndent && !isItem))
                {
                    break;
                }

                if (isItem && (itemIndent < 0 || indent == itemIndent))
                {
                    itemIndent = indent;
                    var itemEnd = j + 1;
                    while (itemEnd < lines.Length
                        && (IsBlankOrComment(lines[itemEnd]) || Indent(lines[itemEnd]) > itemIndent))
                    {
                        itemEnd++;
                    }

                    // The item's keys are at the column of the first key after "- ".
                    var afterDash = line.TrimStart()[1..];
                    var keyIndent = itemIndent + 1 + (afterDash.Length - afterDash.TrimStart().Length);
                    var item = new List<string>(lines[j..itemEnd]);
                    item[0] = new string(' ', keyIndent) + afterDash.TrimStart();
                    cases.Add(new AlertCase(
                        testName,
                        j + 1,
                        ScalarOrBlock(item, keyIndent, "alertname") ?? "",
                        ScalarOrBlock(item, keyIndent, "eval_time") is { } t ? ParseDuration(t) : TimeSpan.Zero,
                        ExpectsAlerts(item, keyIndent)));
                    j = itemEnd - 1;
                }
            }

            i = j - 1;
        }

        return cases;
    }

    // ------------------------------------------------------------------------------------------------ dashboard

    public static JsonDocument Dashboard() => JsonDocument.Parse(File.ReadAllText(FullPath(DashboardPath)));

    /// <summary>Every panel, rows included, with the panels nested in collapsed rows.</summary>
    public static IReadOnlyList<JsonElement> Panels(JsonElement dashboard)
    {
        var all = new List<JsonElement>();
        void Walk(JsonElement panels)
        {
            foreach (var p in panels.EnumerateArray())
            {
                all.Add(p);
                if (p.TryGetProperty("panels", out var nested) && nested.ValueKind == JsonValueKind.Array)
                {
                    Walk(nested);
                }
            }
        }

        Walk(dashboard.GetProperty("panels"));
        return all;
    }

    public static bool IsRow(JsonElement panel) =>
        panel.TryGetProperty("type", out var t) && t.GetString() == "row";

    /// <summary>The PromQL of every panel target and every query template variable (<c>label_values(...)</c>).</summary>
    public static IReadOnlyList<string> DashboardQueries()
    {
        using var doc = Dashboard();
        var queries = new List<string>(DashboardPanelExprs());
        foreach (var variable in doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.GetProperty("type").GetString() == "query"
                && variable.TryGetProperty("definition", out var definition)
                && definition.GetString() is { Length: > 0 } d)
            {
                queries.Add(d);
            }
        }

        return queries;
    }

    /// <summary>The PromQL <c>expr</c> of every panel target.</summary>
    public static IReadOnlyList<string> DashboardPanelExprs()
    {
        using var doc = Dashboard();
        var queries = new List<string>();
        foreach (var panel in Panels(doc.RootElement))
        {
            if (panel.TryGetProperty("targets", out var targets))
            {
                foreach (var target in targets.EnumerateArray())
                {
                    if (target.TryGetProperty("expr", out var expr) && expr.GetString() is { Length: > 0 } e)
                    {
                        queries.Add(e);
                    }
                }
            }
        }

        return queries;
    }

    /// <summary>A dashboard query with Grafana's variables replaced by values that make it plain PromQL.</summary>
    public static string AsPlainPromQl(string dashboardExpr) => dashboardExpr
        .Replace("$__rate_interval", "5m", StringComparison.Ordinal)
        .Replace("$__range", "1h", StringComparison.Ordinal)
        .Replace("$queue", ".+", StringComparison.Ordinal);

    // ------------------------------------------------------------------------------------------------ promtool

    /// <summary>Runs promtool with the repository root as working directory, so rule files are named as in the repo.</summary>
    public static Task<Promtool.Result> RunPromtoolAsync(params string[] arguments) => Promtool.RunAsync(arguments, RepoRoot);

    // ------------------------------------------------------------------------------------------------ line reading

    /// <summary>Prometheus duration ("90s", "15m", "1h30m", "0s") as a TimeSpan.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        var matches = DurationPartRegex().Matches(text);
        if (matches.Count == 0 || string.Concat(matches.Select(m => m.Value)) != text)
        {
            throw new FormatException($"not a Prometheus duration: '{text}'");
        }

        var total = TimeSpan.Zero;
        foreach (Match m in matches)
        {
            var n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            total += m.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                "d" => TimeSpan.FromDays(n),
                "w" => TimeSpan.FromDays(7 * n),
                _ => TimeSpan.FromDays(365 * n),
            };
        }

        return total;
    }

    private static bool IsBlankOrComment(string line) =>
        line.Trim().Length == 0 || line.TrimStart().StartsWith('#');

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    /// <summary>
    /// The value of <paramref name="key"/> at <paramref name="keyIndent"/> in a block: a plain or quoted scalar on the
    /// same line, or the lines of a <c>|</c>/<c>&gt;</c> block scalar indented below it. Null when the key is absent.
    /// </summary>
    private static string? ScalarOrBlock(IReadOnlyList<string> block, int keyIndent, string key)
    {
        for (var i = 0; i < block.Count; i++)
        {
            var line = block[i];
            if (IsBlankOrComment(line) || Indent(line) != keyIndent
                || !line.TrimStart().StartsWith(key + ":", StringComparison.Ordinal))
            {
                continue;
            }

            var rest = StripComment(line.TrimStart()[(key.Length + 1)..]).Trim();
            if (rest.Length > 0 && rest[0] is not ('|' or '>'))
            {
                return Unquote(rest);
            }

            var body = new StringBuilder();
            for (var j = i + 1; j < block.Count && (block[j].Trim().Length == 0 || Indent(block[j]) > keyIndent); j++)
            {
                body.AppendLine(block[j].Trim());
            }

            return body.ToString().Trim();
        }

        return null;
    }

    /// <summary>The one-line <c>key: value</c> pairs of a nested mapping (labels, annotations).</summary>
    private static Dictionary<string, string> Mapping(string[] block, int keyIndent, string key)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var start = -1;
        for (var i = 0; i < block.Length; i++)
        {
            if (Indent(block[i]) == keyIndent && block[i].Trim() == key + ":")
            {
                start = i + 1;
                break;
            }
        }

        if (start < 0)
        {
            return map;
        }

        for (var i = start; i < block.Length && (IsBlankOrComment(block[i]) || Indent(block[i]) > keyIndent); i++)
        {
            if (PairRegex().Match(block[i]) is { Success: true } m)
            {
                map[m.Groups[1].Value] = Unquote(m.Groups[2].Value.Trim());
            }
        }

        return map;
    }

    /// <summary>
    /// Whether an alert_rule_test item expects alerts: <c>exp_alerts: []</c>, an empty value or no exp_alerts at all
    /// expect none; a list of items below it expects them.
    /// </summary>
    private static bool ExpectsAlerts(List<string> item, int keyIndent)
    {
        for (var i = 0; i < item.Count; i++)
        {
            if (Indent(item[i]) != keyIndent || !item[i].TrimStart().StartsWith("exp_alerts:", StringComparison.Ordinal))
            {
                continue;
            }

            var rest = StripComment(item[i].TrimStart()["exp_alerts:".Length..]).Trim();
            if (rest.Length > 0)
            {
                // Inline flow sequence: "[]" is none; anything else ("[{...}]") lists alerts.
                return rest.Replace(" ", "", StringComparison.Ordinal) != "[]";
            }

            var next = item.Skip(i + 1).FirstOrDefault(l => !IsBlankOrComment(l));
            return next is not null && Indent(next) >= keyIndent && next.TrimStart().StartsWith('-');
        }

        return false;
    }

    private static string StripComment(string value) =>
        value.TrimStart().StartsWith('"') || value.TrimStart().StartsWith('\'') ? value : CommentRegex().Replace(value, "");

    private static string Unquote(string value) =>
        value.Length >= 2 && ((value[0] == '"' && value[^1] == '"') || (value[0] == '\'' && value[^1] == '\''))
            ? value[1..^1]
            : value;

    [GeneratedRegex(@"(?<![A-Za-z0-9_:])(?:cortex|dotnet)_[A-Za-z0-9_]+")]
    private static partial Regex MetricNameRegex();

    [GeneratedRegex(@"^\s*-\s*alert:\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:#.*)?$")]
    private static partial Regex AlertLineRegex();

    [GeneratedRegex(@"^\s*-\s*name:\s*(.+?)\s*$")]
    private static partial Regex TestNameRegex();

    [GeneratedRegex(@"^\s*([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$")]
    private static partial Regex PairRegex();

    [GeneratedRegex(@"(\d+)(ms|s|m|h|d|w|y)")]
    private static partial Regex DurationPartRegex();

    [GeneratedRegex(@"\s+#.*$")]
    private static partial Regex CommentRegex();
}
