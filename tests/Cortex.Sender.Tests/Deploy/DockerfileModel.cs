using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>One instruction as written, continuation lines joined; <see cref="Line"/> is where it starts (1-based).</summary>
internal sealed record DockerInstruction(int Line, string Keyword, string Arguments);

/// <summary>A step of a stage that changes its filesystem, in order: what <see cref="DockerBuildEmulator"/> replays.</summary>
internal abstract record DockerStep(int Line);

internal sealed record WorkdirStep(int Line, string Path) : DockerStep(Line);

/// <summary>
/// COPY with its sources as written (relative to the build context, or absolute in <see cref="FromStage"/>) and its
/// destination resolved against the WORKDIR. <see cref="IntoDirectory"/>: the destination ended in '/' or there are
/// several sources, so each source lands inside it.
/// </summary>
internal sealed record CopyStep(int Line, string? FromStage, IReadOnlyList<string> Sources, string Destination, bool IntoDirectory)
    : DockerStep(Line);

/// <summary>RUN in shell form, with the WORKDIR and the ARG/ENV values in force at that point.</summary>
internal sealed record RunStep(int Line, string Command, string Workdir, IReadOnlyDictionary<string, string> Environment) : DockerStep(Line);

/// <summary>A build stage: its base, its steps and the image configuration it ends with (what `docker run` uses).</summary>
internal sealed class DockerStage
{
    public required int Index { get; init; }

    /// <summary>The name after AS, or the index as Docker names an unnamed stage.</summary>
    public required string Name { get; init; }

    /// <summary>The FROM image, variables expanded; an earlier stage's name when <see cref="Parent"/> is set.</summary>
    public required string Image { get; init; }

    public DockerStage? Parent { get; init; }

    public List<DockerStep> Steps { get; } = [];

    public string Workdir { get; set; } = "/";

    /// <summary>The image's environment: the base image's, then every ENV.</summary>
    public Dictionary<string, string> Environment { get; init; } = new(StringComparer.Ordinal);

    public string? User { get; set; }

    public IReadOnlyList<string>? Entrypoint { get; set; }

    /// <summary>Exec form (a JSON array): the first word is PID 1. Shell form runs /bin/sh -c as PID 1 instead.</summary>
    public bool EntrypointIsExecForm { get; set; }

    public List<string> Exposed { get; } = [];

    /// <summary>The image name without its tag: "mcr.microsoft.com/dotnet/aspnet".</summary>
    public string Repository => SplitImage(Image).Repository;

    /// <summary>The tag ("10.0-noble"); "latest" when none is written.</summary>
    public string Tag => SplitImage(Image).Tag;

    private static (string Repository, string Tag) SplitImage(string image)
    {
        var name = image.Split('@')[0];
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? (name[..colon], name[(colon + 1)..]) : (name, "latest");
    }
}

/// <summary>
/// The repository's Dockerfile read as `docker build` reads it, for the instructions it uses: FROM [--platform] ... AS,
/// ARG, ENV, WORKDIR, COPY [--from], RUN, USER, ENTRYPOINT, CMD, EXPOSE, LABEL. Continuation lines are joined and
/// comments dropped; $VAR, ${VAR} and ${VAR:-default} are expanded where Docker expands them (not in RUN, which the
/// shell expands, nor in exec-form arrays). Any other instruction throws, so a new one is taught here before a test
/// can silently ignore it.
/// </summary>
internal sealed partial class DockerfileModel
{
    private DockerfileModel(IReadOnlyList<DockerStage> stages) => Stages = stages;

    public IReadOnlyList<DockerStage> Stages { get; }

    /// <summary>The stages `docker run` is meant for: those that set an ENTRYPOINT.</summary>
    public IEnumerable<DockerStage> Targets => Stages.Where(s => s.Entrypoint is not null);

    public DockerStage Stage(string name) =>
        Stages.SingleOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidOperationException($"the Dockerfile has no stage '{name}'; it has {string.Join(", ", Stages.Select(s => s.Name))}");

    public static DockerfileModel Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>
    /// What the official .NET images set in their environment (dotnet/dotnet-docker's runtime-deps images, which the
    /// aspnet and sdk images build on): the non-root user 'app' as uid 1654, Kestrel's default port, and the flag that
    /// turns Cortex's logs into JSON lines. The emulator has no base image, so this table stands in for it.
    /// </summary>
    public static IReadOnlyDictionary<string, string> BaseImageEnvironment(string image) =>
        image.StartsWith("mcr.microsoft.com/dotnet/", StringComparison.Ordinal)
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["APP_UID"] = "1654",
                ["ASPNETCORE_HTTP_PORTS"] = "8080",
                ["DOTNET_RUNNING_IN_CONTAINER"] = "true",
            }
            : new Dictionary<string, string>(StringComparer.Ordinal);

    public static DockerfileModel Parse(string text)
    {
        // BuildKit defines these in the global scope; the emulator builds for the machine it runs on.
        var platform = "linux/" + (RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "amd64");
        var globalArgs = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["BUILDPLATFORM"] = platform,
            ["TARGETPLATFORM"] = platform,
        };
        var stages = new List<DockerStage>();
        DockerStage? stage = null;
        var stageArgs = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var instruction in ReadInstructions(text))
        {
            var (line, keyword, arguments) = (instruction.Line, instruction.Keyword, instruction.Arguments);
            if (keyword == "FROM")
            {
                stage = From(instruction, stages, globalArgs);
                stages.Add(stage);
                stageArgs = new Dictionary<string, string>(StringComparer.Ordinal);
                continue;
            }

            if (stage is null)
            {
                if (keyword != "ARG")
                {
                    throw new FormatException($"Dockerfile:{line}: {keyword} before the first FROM");
                }

                DeclareArg(globalArgs, Expand(arguments, globalArgs.GetValueOrDefault), globalArgs);
                continue;
            }

            var current = stage;
            string? Lookup(string name) => current.Environment.TryGetValue(name, out var v) ? v : stageArgs.GetValueOrDefault(name);
            switch (keyword)
            {
                case "ARG":
                    DeclareArg(stageArgs, Expand(arguments, Lookup), globalArgs);
                    break;
                case "ENV":
                    foreach (var (name, value) in EnvPairs(Expand(arguments, Lookup), line))
                    {
                        stage.Environment[name] = value;
                    }

                    break;
                case "WORKDIR":
                    stage.Workdir = Resolve(stage.Workdir, Expand(arguments, Lookup).Trim());
                    stage.Steps.Add(new WorkdirStep(line, stage.Workdir));
                    break;
                case "COPY":
                    stage.Steps.Add(Copy(line, Expand(arguments, Lookup), stage.Workdir));
                    break;
                case "RUN":
                    if (arguments.StartsWith('['))
                    {
                        throw new NotSupportedException($"Dockerfile:{line}: exec-form RUN is not emulated; write it in shell form");
                    }

                    var environment = new Dictionary<string, string>(stageArgs, StringComparer.Ordinal);
                    foreach (var (name, value) in stage.Environment)
                    {
                        environment[name] = value;
                    }

                    stage.Steps.Add(new RunStep(line, arguments, stage.Workdir, environment));
                    break;
                case "USER":
                    stage.User = Expand(arguments, Lookup).Trim();
                    break;
                case "ENTRYPOINT":
                    (stage.Entrypoint, stage.EntrypointIsExecForm) = Command(arguments);
                    break;
                case "CMD":
                case "LABEL":
                    break; // nothing the tests read
                case "EXPOSE":
                    stage.Exposed.AddRange(Expand(arguments, Lookup).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
                    break;
                default:
                    throw new NotSupportedException($"Dockerfile:{line}: {keyword} is not understood by {nameof(DockerfileModel)}; teach it before using it");
            }
        }

        return new DockerfileModel(stages);
    }

    /// <summary>The instructions, continuation lines joined; comments and blank lines dropped, also inside a continuation.</summary>
    public static IReadOnlyList<DockerInstruction> ReadInstructions(string text)
    {
        var instructions = new List<DockerInstruction>();
        var pending = new StringBuilder();
        var start = 0;
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            if (pending.Length == 0)
            {
                start = i + 1;
            }

            if (trimmed.EndsWith('\\'))
            {
                pending.Append(trimmed[..^1]).Append(' ');
                continue;
            }

            pending.Append(trimmed);
            var joined = pending.ToString();
            pending.Clear();
            var space = joined.IndexOfAny([' ', '\t']);
            instructions.Add(space < 0
                ? new DockerInstruction(start, joined.ToUpperInvariant(), "")
                : new DockerInstruction(start, joined[..space].ToUpperInvariant(), joined[(space + 1)..].Trim()));
        }

        if (pending.Length > 0)
        {
            throw new FormatException($"Dockerfile:{start}: the file ends inside a continuation line");
        }

        return instructions;
    }

    /// <summary>$NAME, ${NAME}, ${NAME:-word} (word when unset or empty) and ${NAME:+word}; unset names expand to "".</summary>
    public static string Expand(string text, Func<string, string?> lookup) =>
        VariableRegex().Replace(text, m =>
        {
            if (m.Value.StartsWith('\\'))
            {
                return m.Value[1..];
            }

            var value = lookup(m.Groups["name"].Value);
            return m.Groups["op"].Value switch
            {
                "-" => string.IsNullOrEmpty(value) ? m.Groups["word"].Value : value,
                "+" => string.IsNullOrEmpty(value) ? "" : m.Groups["word"].Value,
                _ => value ?? "",
            };
        });

    private static DockerStage From(DockerInstruction instruction, List<DockerStage> stages, Dictionary<string, string> globalArgs)
    {
        var words = Expand(instruction.Arguments, globalArgs.GetValueOrDefault)
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Where(w => !w.StartsWith("--", StringComparison.Ordinal)) // --platform: the emulator builds for this machine
            .ToList();
        if (words.Count is not (1 or 3) || (words.Count == 3 && !words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)))
        {
            throw new FormatException($"Dockerfile:{instruction.Line}: expected FROM image [AS name]");
        }

        var image = words[0];
        var parent = stages.FirstOrDefault(s => string.Equals(s.Name, image, StringComparison.OrdinalIgnoreCase));
        var stage = new DockerStage
        {
            Index = stages.Count,
            Name = words.Count == 3 ? words[2] : stages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Image = image,
            Parent = parent,
            Environment = new Dictionary<string, string>(parent?.Environment ?? BaseImageEnvironment(image), StringComparer.Ordinal),
        };
        if (parent is not null)
        {
            stage.Workdir = parent.Workdir;
            stage.User = parent.User;
            (stage.Entrypoint, stage.EntrypointIsExecForm) = (parent.Entrypoint, parent.EntrypointIsExecForm);
            stage.Exposed.AddRange(parent.Exposed);
        }

        return stage;
    }

    /// <summary>ARG NAME[=default]; inside a stage, a bare ARG NAME takes the global default, as Docker does.</summary>
    private static void DeclareArg(Dictionary<string, string> scope, string declaration, Dictionary<string, string> globalArgs)
    {
        var equals = declaration.IndexOf('=', StringComparison.Ordinal);
        var name = (equals < 0 ? declaration : declaration[..equals]).Trim();
        scope[name] = equals < 0 ? globalArgs.GetValueOrDefault(name, "") : Unquote(declaration[(equals + 1)..].Trim());
    }

    /// <summary>ENV NAME=value ... (values may be quoted), or the legacy ENV NAME value.</summary>
    private static List<(string Name, string Value)> EnvPairs(string arguments, int line)
    {
        var words = Words(arguments);
        if (words.Count > 0 && !words[0].Contains('=', StringComparison.Ordinal))
        {
            var name = arguments.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            return [(name[0], name.Length > 1 ? Unquote(name[1].Trim()) : "")];
        }

        return words.Select(w =>
        {
            var equals = w.IndexOf('=', StringComparison.Ordinal);
            return equals > 0 ? (w[..equals], w[(equals + 1)..]) : throw new FormatException($"Dockerfile:{line}: ENV '{w}' has no '='");
        }).ToList();
    }

    private static CopyStep Copy(int line, string arguments, string workdir)
    {
        var words = arguments.StartsWith('[')
            ? JsonSerializer.Deserialize<List<string>>(arguments) ?? []
            : Words(arguments);
        string? from = null;
        while (words.Count > 0 && words[0].StartsWith("--", StringComparison.Ordinal))
        {
            if (words[0].StartsWith("--from=", StringComparison.Ordinal))
            {
                from = words[0]["--from=".Length..];
            }
            else if (!words[0].StartsWith("--chown=", StringComparison.Ordinal) && !words[0].StartsWith("--chmod=", StringComparison.Ordinal)
                && words[0] != "--link")
            {
                throw new NotSupportedException($"Dockerfile:{line}: COPY {words[0]} is not emulated");
            }

            words.RemoveAt(0);
        }

        if (words.Count < 2)
        {
            throw new FormatException($"Dockerfile:{line}: COPY needs a source and a destination");
        }

        var destination = words[^1];
        return new CopyStep(line, from, words[..^1], Resolve(workdir, destination), words.Count > 2 || destination.EndsWith('/'));
    }

    private static (IReadOnlyList<string> Words, bool ExecForm) Command(string arguments)
    {
        if (arguments.StartsWith('['))
        {
            try
            {
                return (JsonSerializer.Deserialize<List<string>>(arguments) ?? [], true);
            }
            catch (JsonException)
            {
                // Docker too falls back to shell form when the array is not valid JSON (single quotes, a trailing comma).
            }
        }

        return (["/bin/sh", "-c", arguments], false);
    }

    /// <summary>A POSIX path resolved against a directory, "." and ".." applied, without a trailing slash.</summary>
    public static string Resolve(string directory, string path)
    {
        var parts = new List<string>();
        foreach (var part in (path.StartsWith('/') ? path : directory + "/" + path).Split('/'))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part.Length > 0 && part != ".")
            {
                parts.Add(part);
            }
        }

        return "/" + string.Join('/', parts);
    }

    /// <summary>Whitespace-separated words; double or single quotes keep spaces and are removed.</summary>
    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char? quote = null;
        foreach (var c in text)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] is '"' or '\'') && value[^1] == value[0] ? value[1..^1] : value;

    [GeneratedRegex(@"\\\$|\$(?:\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?<op>[-+])(?<word>[^}]*))?\}|(?<name>[A-Za-z_][A-Za-z0-9_]*))")]
    private static partial Regex VariableRegex();
}
