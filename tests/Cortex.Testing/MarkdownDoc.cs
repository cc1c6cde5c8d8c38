namespace Cortex.Testing;

/// <summary>A fenced code block of a Markdown doc: ```json envelope gives Language "json" and Tag "envelope".</summary>
public sealed record FencedBlock(int Line, string Language, string? Tag, string Content);

/// <summary>Reads the repository's own docs, so tests can keep their examples and tables true to the code.</summary>
public static class MarkdownDoc
{
    /// <summary>The folder holding Cortex.sln, found upwards from the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cortex.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cortex.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The text of a file under the repository root, e.g. "docs/configuration.md".</summary>
    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(RepoRoot(), relativePath));

    public static List<FencedBlock> FencedBlocks(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var blocks = new List<FencedBlock>();
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (!line.StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var info = line[3..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var start = i + 1;
            while (++i < lines.Length && !lines[i].TrimEnd('\r').StartsWith("```", StringComparison.Ordinal))
            {
            }

            blocks.Add(new FencedBlock(
                start,
                info.Length > 0 ? info[0] : string.Empty,
                info.Length > 1 ? info[1] : null,
                string.Join('\n', lines[start..Math.Min(i, lines.Length)])));
        }

        return blocks;
    }
}
