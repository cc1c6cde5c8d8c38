using System.Text;
using System.Text.Json;

namespace Cortex.LoadTests.Reporting;

/// <summary>Writes a run's report.html, summary.md and report.json; the JSON reads back so a later run can be compared.</summary>
internal static class ReportFiles
{
    public const string HtmlFileName = "report.html";
    public const string MarkdownFileName = "summary.md";
    public const string JsonFileName = "report.json";

    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // A 0/0 throughput is NaN; named literals keep one odd bucket from failing the whole report.
    internal static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Creates <paramref name="directory"/> if needed and returns the paths written: HTML, Markdown, JSON.</summary>
    public static IReadOnlyList<string> Write(RunReport run, string directory)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        var html = Path.Combine(directory, HtmlFileName);
        var markdown = Path.Combine(directory, MarkdownFileName);
        var json = Path.Combine(directory, JsonFileName);
        File.WriteAllText(html, HtmlReport.Render(run), s_utf8);
        File.WriteAllText(markdown, MarkdownSummary.Render(run), s_utf8);
        File.WriteAllText(json, JsonSerializer.Serialize(run, JsonOptions), s_utf8);
        return [html, markdown, json];
    }

    /// <summary>Reads a report.json written by <see cref="Write"/>.</summary>
    public static RunReport Read(string jsonPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jsonPath);
        return JsonSerializer.Deserialize<RunReport>(File.ReadAllText(jsonPath), JsonOptions)
            ?? throw new InvalidDataException($"{jsonPath} holds no run report");
    }
}
