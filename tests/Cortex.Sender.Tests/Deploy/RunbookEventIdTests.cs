using System.Reflection;
using System.Text.RegularExpressions;
using Cortex.Scheduler;
using Cortex.Testing;
using Microsoft.Extensions.Logging;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// Log event ids are unique within a service, not across them: the runbook must say whose event it means wherever the
/// sender and the scheduler share an id, or on-call greps the scheduler's follow-up summary for unanswered sends.
/// </summary>
public sealed partial class RunbookEventIdTests
{
    [Fact]
    public void Runbook_EventIdsBothServicesUse_AreListedWhereItSaysToSearchByAppLabel()
    {
        var shared = EventIds(typeof(SenderApplication).Assembly).Intersect(EventIds(typeof(SchedulerApplication).Assembly)).Order().ToList();
        Assert.Contains(2003, shared); // the sender's unanswered call, the scheduler's follow-up summary

        var runbook = MarkdownDoc.Read(DeployArtifacts.RunbookPath);
        var section = Section(runbook, "### Event ids are per service");
        Assert.Contains("kubectl -n cortex logs -l app=cortex-sender", section, StringComparison.Ordinal);
        Assert.Contains("kubectl -n cortex logs -l app=cortex-scheduler", section, StringComparison.Ordinal);
        Assert.All(shared, id => Assert.True(section.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), $"event {id} is both the sender's and the scheduler's; the runbook's section on event ids does not name it"));
    }

    [Fact]
    public void Runbook_EveryMentionOfASharedEventId_SaysWhichService()
    {
        var shared = EventIds(typeof(SenderApplication).Assembly).Intersect(EventIds(typeof(SchedulerApplication).Assembly)).ToHashSet();
        var runbook = MarkdownDoc.Read(DeployArtifacts.RunbookPath);
        var unclear = new List<string>();

        // A paragraph (or list item) that names a shared id says whose it is: "the sender's", "of the scheduler", or the
        // app label to search by. "The sender logs' event 2003" did not: it sent on-call to grep every pod.
        foreach (var paragraph in Regex.Split(runbook, @"\n(?=\s*\n|\d+\. |- |\|)"))
        {
            foreach (Match m in EventMention().Matches(paragraph))
            {
                var id = int.Parse(m.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (shared.Contains(id) && !ServiceNamed().IsMatch(paragraph))
                {
                    unclear.Add($"{m.Value}: {paragraph.Trim()[..Math.Min(120, paragraph.Trim().Length)]}");
                }
            }
        }

        Assert.True(unclear.Count == 0, "mentions of an id both services log, without saying whose:\n" + string.Join('\n', unclear));
    }

    private static IEnumerable<int> EventIds(Assembly assembly) =>
        assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .Select(a => a.EventId);

    private static string Section(string markdown, string heading)
    {
        var start = markdown.IndexOf(heading + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no heading '{heading}' in {DeployArtifacts.RunbookPath}");
        var end = markdown.IndexOf("\n#", start + heading.Length, StringComparison.Ordinal);
        return end < 0 ? markdown[start..] : markdown[start..end];
    }

    [GeneratedRegex(@"(?i)\b(?:event|warning|error)s?\s+(?<id>\d{4})\b")]
    private static partial Regex EventMention();

    [GeneratedRegex(@"(?i)the (?:sender|scheduler)'s|of the (?:sender|scheduler)\b|app=cortex-(?:sender|scheduler)")]
    private static partial Regex ServiceNamed();
}
