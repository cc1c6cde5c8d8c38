using System.Text.RegularExpressions;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// What promtool does not check: every alert is tested both ways, every alert is written for on-call (for, severity,
/// annotations, a runbook section that exists), and queue-level series are never counted once per pod.
/// </summary>
public partial class AlertRuleTests
{
    private static readonly string[] s_requiredAlerts =
    [
        "CortexBacklogHigh", "CortexBacklogGrowing", "CortexOldestMessageTooOld", "CortexDeadLettersGrowing",
        "CortexNoConsumers", "CortexSendErrorRatioHigh", "CortexCircuitOpen", "CortexQueueMetricsAbsent",
        "CortexSchedulerJobFailing", "CortexOutboxStuck", "CortexGatewayRejectsConfiguration", "CortexSendsUnanswered",
        "CortexQueuePaused", "CortexSchedulerStalled", "CortexSchedulerInvalidRows",
    ];

    // Every pod of both services exports these with the same values: a plain sum would count them once per pod.
    private static readonly string[] s_queueLevelSeries =
    [
        "cortex_queue_depth", "cortex_queue_consumers", "cortex_queue_oldest_ready_timestamp_seconds", "cortex_queue_paused",
    ];

    [Fact]
    public void Rules_RequiredAlerts_AreAllDefinedOnce()
    {
        var names = DeployArtifacts.AlertRules().Select(r => r.Name).ToList();

        Assert.All(s_requiredAlerts, a => Assert.Contains(a, names));
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void RuleTests_EveryAlert_HasAFiringAndAQuietCase()
    {
        var cases = DeployArtifacts.AlertCases();
        Assert.NotEmpty(cases);

        var missing = new List<string>();
        foreach (var rule in DeployArtifacts.AlertRules())
        {
            if (!cases.Any(c => c.AlertName == rule.Name && c.ExpectsFiring))
            {
                missing.Add($"{rule.Name}: no case where it fires (exp_alerts with an alert)");
            }

            if (!cases.Any(c => c.AlertName == rule.Name && !c.ExpectsFiring))
            {
                missing.Add($"{rule.Name}: no case where it must not fire (exp_alerts: [])");
            }
        }

        Assert.True(missing.Count == 0, $"{DeployArtifacts.RuleTestsPath}:\n" + string.Join('\n', missing));
    }

    [Fact]
    public void AlertCases_LineReader_SeesEveryItemOfTheTestFile()
    {
        // Guards the line reader: every "alertname:" is one case, and every "exp_alerts: []" one quiet case.
        var lines = DeployArtifacts.ReadLines(DeployArtifacts.RuleTestsPath);
        var cases = DeployArtifacts.AlertCases();

        Assert.Equal(lines.Count(l => AlertnameLineRegex().IsMatch(l)), cases.Count);
        Assert.Equal(lines.Count(l => l.Trim() == "exp_alerts: []"), cases.Count(c => !c.ExpectsFiring));
        Assert.All(cases, c => Assert.True(c.EvalTime > TimeSpan.Zero, $"line {c.Line}: no eval_time read"));
    }

    [Fact]
    public void RuleTests_EveryAlertname_IsAnAlertOfTheRules()
    {
        // A misspelt alertname with empty exp_alerts passes in promtool without testing anything.
        var names = DeployArtifacts.AlertRules().Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

        var unknown = DeployArtifacts.AlertCases().Where(c => !names.Contains(c.AlertName)).ToList();

        Assert.True(unknown.Count == 0, string.Join('\n', unknown.Select(c =>
            $"{DeployArtifacts.RuleTestsPath}:{c.Line}: alertname '{c.AlertName}' is not an alert in {DeployArtifacts.RulesPath}")));
    }

    [Fact]
    public void RuleTests_QuietCases_AreEvaluatedNoEarlierThanTheAlertsFor()
    {
        // Before its `for:` has elapsed an alert cannot fire, so a quiet case there would prove nothing.
        var forOf = DeployArtifacts.AlertRules().ToDictionary(r => r.Name, r => r.For ?? TimeSpan.Zero, StringComparer.Ordinal);

        var vacuous = DeployArtifacts.AlertCases()
            .Where(c => !c.ExpectsFiring && forOf.TryGetValue(c.AlertName, out var f) && c.EvalTime < f)
            .Select(c => $"{DeployArtifacts.RuleTestsPath}:{c.Line}: {c.AlertName} quiet at {c.EvalTime}, before its for: {forOf[c.AlertName]} ('{c.TestName}')")
            .ToList();
        // Each alert still needs one quiet case that does count.
        var withoutMeaningfulQuietCase = forOf.Keys
            .Where(a => !DeployArtifacts.AlertCases().Any(c => c.AlertName == a && !c.ExpectsFiring && c.EvalTime >= forOf[a]))
            .ToList();

        Assert.True(withoutMeaningfulQuietCase.Count == 0,
            "no quiet case after the for: window for " + string.Join(", ", withoutMeaningfulQuietCase) + "\n" + string.Join('\n', vacuous));
    }

    [Fact]
    public void Rules_EveryAlert_HasForSeverityAndOnCallAnnotations()
    {
        var problems = new List<string>();
        foreach (var rule in DeployArtifacts.AlertRules())
        {
            var where = $"{DeployArtifacts.RulesPath}:{rule.Line} {rule.Name}";
            if (rule.Expr.Length == 0)
            {
                problems.Add($"{where}: no expr");
            }

            if (rule.For is not { } f || f <= TimeSpan.Zero)
            {
                problems.Add($"{where}: needs a for: above zero");
            }

            if (!rule.Labels.TryGetValue("severity", out var severity) || severity is not ("page" or "ticket"))
            {
                problems.Add($"{where}: labels.severity must be page or ticket");
            }

            foreach (var key in new[] { "summary", "description", "runbook_url" })
            {
                if (!rule.Annotations.TryGetValue(key, out var value) || value.Trim().Length == 0)
                {
                    problems.Add($"{where}: annotations.{key} missing");
                }
            }

            // An absent() alert has no labels and a value of 1: nothing to show.
            if (rule.Annotations.TryGetValue("description", out var description)
                && !rule.Expr.StartsWith("absent(", StringComparison.Ordinal)
                && !description.Contains("{{ $value", StringComparison.Ordinal)
                && !description.Contains("{{ $labels.", StringComparison.Ordinal))
            {
                problems.Add($"{where}: the description should show {{{{ $value }}}} or a {{{{ $labels.x }}}}");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Rules_RunbookUrls_PointAtASectionOfTheRunbook()
    {
        var anchors = MarkdownDoc.Read(DeployArtifacts.RunbookPath)
            .Split('\n')
            .Select(l => HeadingRegex().Match(l))
            .Where(m => m.Success)
            .Select(m => GitHubAnchor(m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);

        var broken = new List<string>();
        foreach (var rule in DeployArtifacts.AlertRules())
        {
            var url = rule.Annotations.GetValueOrDefault("runbook_url", "");
            var prefix = DeployArtifacts.RunbookPath + "#";
            if (!url.StartsWith(prefix, StringComparison.Ordinal) || !anchors.Contains(url[prefix.Length..]))
            {
                broken.Add($"{rule.Name}: runbook_url '{url}' is not a heading of {DeployArtifacts.RunbookPath}");
            }
        }

        Assert.True(broken.Count == 0, string.Join('\n', broken) + "\nheadings: " + string.Join(", ", anchors));
    }

    [Fact]
    public void Queries_QueueLevelSeries_AreDeduplicatedWithMax()
    {
        var exprs = DeployArtifacts.AlertRules().Select(r => (Where: $"{DeployArtifacts.RulesPath} {r.Name}", Expr: r.Expr))
            .Concat(DeployArtifacts.DashboardPanelExprs().Select(e => (Where: DeployArtifacts.DashboardPath, Expr: e)))
            .ToList();
        Assert.NotEmpty(exprs);

        var plainSums = new List<string>();
        foreach (var (where, expr) in exprs)
        {
            foreach (Match use in MetricUseRegex().Matches(expr))
            {
                if (!s_queueLevelSeries.Contains(use.Value))
                {
                    continue;
                }

                // The selector must be the direct argument of max(...) or max by (...) (...), or of absent(...).
                var before = expr[..use.Index];
                if (!MaxOpenerRegex().IsMatch(before))
                {
                    plainSums.Add($"{where}: {use.Value} is not inside max(...)/max by (...) (or absent): {expr}");
                }
            }
        }

        Assert.True(plainSums.Count == 0, string.Join('\n', plainSums));
    }

    [Fact]
    public void ParseDuration_PrometheusDurations_AreRead()
    {
        Assert.Equal(TimeSpan.FromMinutes(15), DeployArtifacts.ParseDuration("15m"));
        Assert.Equal(TimeSpan.FromMinutes(90), DeployArtifacts.ParseDuration("1h30m"));
        Assert.Equal(TimeSpan.Zero, DeployArtifacts.ParseDuration("0s"));
        Assert.Throws<FormatException>(() => DeployArtifacts.ParseDuration("15 minutes"));
    }

    /// <summary>GitHub's heading anchor: lower case, punctuation other than '-' and '_' dropped, spaces to '-'.</summary>
    private static string GitHubAnchor(string heading) =>
        AnchorDropRegex().Replace(heading.Trim().ToLowerInvariant(), "").Replace(' ', '-');

    [GeneratedRegex(@"^\s*(?:-\s*)?alertname:\s*\S")]
    private static partial Regex AlertnameLineRegex();

    [GeneratedRegex(@"^#{1,6}\s+(.+?)\s*#*\s*$")]
    private static partial Regex HeadingRegex();

    [GeneratedRegex(@"[^\p{L}\p{Nd}\- _]")]
    private static partial Regex AnchorDropRegex();

    [GeneratedRegex(@"(?<![A-Za-z0-9_:])cortex_[A-Za-z0-9_]+")]
    private static partial Regex MetricUseRegex();

    [GeneratedRegex(@"\b(?:max\s*(?:by\s*\([^()]*\)\s*)?|absent\s*)\(\s*$")]
    private static partial Regex MaxOpenerRegex();
}
