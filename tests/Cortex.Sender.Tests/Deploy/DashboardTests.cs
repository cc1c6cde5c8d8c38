using System.Text.Json;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>The Grafana dashboard is importable and every panel queries Prometheus through the datasource variable.</summary>
public class DashboardTests
{
    private const string DatasourceVariable = "${DS_PROMETHEUS}";

    [Fact]
    public void Dashboard_File_IsGrafana10JsonWithTitleAndUid()
    {
        using var doc = DeployArtifacts.Dashboard();
        var root = doc.RootElement;

        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.InRange(root.GetProperty("schemaVersion").GetInt32(), 36, 39);
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("uid").GetString()));
        Assert.NotEmpty(DeployArtifacts.Panels(root));
    }

    [Fact]
    public void Dashboard_EveryPanel_HasATitleAndPromQlTargets()
    {
        using var doc = DeployArtifacts.Dashboard();
        var problems = new List<string>();
        foreach (var panel in DeployArtifacts.Panels(doc.RootElement))
        {
            var id = panel.TryGetProperty("id", out var i) ? i.ToString() : "?";
            var title = panel.TryGetProperty("title", out var t) ? t.GetString() : null;
            if (string.IsNullOrWhiteSpace(title))
            {
                problems.Add($"panel {id}: no title");
            }

            if (DeployArtifacts.IsRow(panel))
            {
                continue;
            }

            if (!panel.TryGetProperty("targets", out var targets) || targets.ValueKind != JsonValueKind.Array
                || targets.GetArrayLength() == 0)
            {
                problems.Add($"panel {id} '{title}': no targets");
                continue;
            }

            foreach (var target in targets.EnumerateArray())
            {
                if (!target.TryGetProperty("expr", out var expr) || string.IsNullOrWhiteSpace(expr.GetString()))
                {
                    problems.Add($"panel {id} '{title}': a target without expr");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Dashboard_PanelIds_AreUnique()
    {
        using var doc = DeployArtifacts.Dashboard();

        var ids = DeployArtifacts.Panels(doc.RootElement).Select(p => p.GetProperty("id").GetInt32()).ToList();

        var duplicates = ids.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, "duplicate panel ids: " + string.Join(", ", duplicates));
    }

    [Fact]
    public void Dashboard_EveryDatasource_IsTheDatasourceVariable()
    {
        using var doc = DeployArtifacts.Dashboard();
        var root = doc.RootElement;

        var variable = root.GetProperty("templating").GetProperty("list").EnumerateArray()
            .SingleOrDefault(v => v.GetProperty("name").GetString() == "DS_PROMETHEUS");
        Assert.Equal(JsonValueKind.Object, variable.ValueKind);
        Assert.Equal("datasource", variable.GetProperty("type").GetString());
        Assert.Equal("prometheus", variable.GetProperty("query").GetString());

        var problems = new List<string>();
        foreach (var panel in DeployArtifacts.Panels(root).Where(p => !DeployArtifacts.IsRow(p)))
        {
            var title = panel.GetProperty("title").GetString();
            if (!IsVariable(panel, out var found))
            {
                problems.Add($"panel '{title}': datasource {found}");
            }

            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                if (target.TryGetProperty("datasource", out _) && !IsVariable(target, out var t))
                {
                    problems.Add($"panel '{title}' target: datasource {t}");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Dashboard_QueueVariable_ListsTheQueuesOfCortexQueueDepth()
    {
        using var doc = DeployArtifacts.Dashboard();

        var queue = doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == "queue");

        Assert.Equal("query", queue.GetProperty("type").GetString());
        Assert.Equal("label_values(cortex_queue_depth, queue)", queue.GetProperty("definition").GetString());
        Assert.Equal("label_values(cortex_queue_depth, queue)", queue.GetProperty("query").GetProperty("query").GetString());
        Assert.True(IsVariable(queue, out var found), $"queue variable datasource {found}");
    }

    [Fact]
    public void Dashboard_QueueLevelPanels_FilterByTheQueueVariable()
    {
        var unfiltered = DeployArtifacts.DashboardPanelExprs()
            .Where(e => e.Contains("cortex_queue_depth", StringComparison.Ordinal)
                || e.Contains("cortex_queue_consumers", StringComparison.Ordinal)
                || e.Contains("cortex_queue_oldest_ready_timestamp_seconds", StringComparison.Ordinal))
            .Where(e => !e.Contains("queue=~\"$queue\"", StringComparison.Ordinal))
            .ToList();

        Assert.True(unfiltered.Count == 0, "queue-level queries without queue=~\"$queue\":\n" + string.Join('\n', unfiltered));
    }

    [Fact]
    public void Dashboard_Panels_FitTheGridWithoutOverlapping()
    {
        using var doc = DeployArtifacts.Dashboard();
        var boxes = DeployArtifacts.Panels(doc.RootElement)
            .Select(p => (Title: p.GetProperty("title").GetString(), Pos: p.GetProperty("gridPos")))
            .Select(p => (p.Title, X: p.Pos.GetProperty("x").GetInt32(), Y: p.Pos.GetProperty("y").GetInt32(),
                W: p.Pos.GetProperty("w").GetInt32(), H: p.Pos.GetProperty("h").GetInt32()))
            .ToList();

        Assert.All(boxes, b => Assert.True(b.X >= 0 && b.W > 0 && b.H > 0 && b.X + b.W <= 24, $"'{b.Title}' is off the 24-column grid"));
        for (var i = 0; i < boxes.Count; i++)
        {
            for (var j = i + 1; j < boxes.Count; j++)
            {
                var (a, b) = (boxes[i], boxes[j]);
                var overlap = a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H;
                Assert.False(overlap, $"'{a.Title}' and '{b.Title}' overlap");
            }
        }
    }

    private static bool IsVariable(JsonElement holder, out string found)
    {
        if (!holder.TryGetProperty("datasource", out var ds))
        {
            found = "missing";
            return false;
        }

        found = ds.GetRawText();
        return ds.ValueKind == JsonValueKind.Object
            && ds.TryGetProperty("uid", out var uid) && uid.GetString() == DatasourceVariable
            && ds.TryGetProperty("type", out var type) && type.GetString() == "prometheus";
    }
}
