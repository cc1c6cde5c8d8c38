using System.Text;
using System.Text.RegularExpressions;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// A .dockerignore with Docker's matching rules (moby/patternmatcher): patterns are relative to the context root, a
/// leading or trailing '/' is dropped, '*' and '?' stop at '/', '**' crosses directories, '!' re-includes, the last
/// matching pattern wins, and a path is excluded when it or one of its parent directories matches. So "bin/" excludes
/// only the context's own bin; "**/bin/" excludes every project's.
/// </summary>
internal sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exclude)> _patterns = [];

    private DockerIgnore(string text)
    {
        foreach (var raw in text.ReplaceLineEndings("\n").Split('\n'))
        {
            var pattern = raw.Trim();
            if (pattern.Length == 0 || pattern.StartsWith('#'))
            {
                continue;
            }

            var exclude = !pattern.StartsWith('!');
            pattern = DockerfileModel.Resolve("/", exclude ? pattern : pattern[1..].Trim()).TrimStart('/');
            _patterns.Add((Compile(pattern), exclude));
        }
    }

    /// <summary>Whether some pattern re-includes ('!'): then an excluded directory may still hold included files.</summary>
    public bool HasExceptions => _patterns.Any(p => !p.Exclude);

    public static DockerIgnore Parse(string text) => new(text);

    /// <summary>The context's .dockerignore; none means nothing is excluded.</summary>
    public static DockerIgnore Load(string contextDirectory)
    {
        var path = Path.Combine(contextDirectory, ".dockerignore");
        return new DockerIgnore(File.Exists(path) ? File.ReadAllText(path) : "");
    }

    /// <summary>Whether a path relative to the context root ('/' separated) is left out of the build context.</summary>
    public bool IsExcluded(string relativePath)
    {
        var path = DockerfileModel.Resolve("/", relativePath).TrimStart('/');
        var parts = path.Split('/');
        var excluded = false;
        foreach (var (pattern, exclude) in _patterns)
        {
            var matches = pattern.IsMatch(path);
            for (var i = 1; !matches && i < parts.Length; i++)
            {
                matches = pattern.IsMatch(string.Join('/', parts[..i]));
            }

            if (matches)
            {
                excluded = exclude;
            }
        }

        return excluded;
    }

    private static Regex Compile(string pattern)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                i++;
                if (i + 1 < pattern.Length && pattern[i + 1] == '/')
                {
                    i++;
                }

                // "**" at the end matches everything below; elsewhere any number of directories, none included.
                regex.Append(i + 1 == pattern.Length ? ".*" : "(.*/)?");
            }
            else if (c == '*')
            {
                regex.Append("[^/]*");
            }
            else if (c == '?')
            {
                regex.Append("[^/]");
            }
            else if (c == '[')
            {
                throw new NotSupportedException($".dockerignore: character classes ('{pattern}') are not emulated");
            }
            else if (c == '\\' && i + 1 < pattern.Length)
            {
                regex.Append(Regex.Escape(pattern[++i].ToString()));
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
