using System.Diagnostics;
using System.Text.RegularExpressions;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// A small stand-in for `docker build`, because CI has no Docker engine. Every stage gets a directory of its own that
/// stands for its filesystem root. Stages are replayed in order: WORKDIR creates its directory; COPY copies from the
/// repository, honouring .dockerignore, or from an earlier stage's directory; RUN runs `bash -c` on this machine in the
/// mapped WORKDIR, its absolute paths under the Dockerfile's own roots (/src, /app) rewritten into the stage's directory.
/// <para>
/// What it is not: there is no base image (dotnet, the SDK and the shared frameworks are this machine's; the image's own
/// files, such as tzdata, are absent), no layers or cache, no users, file ownership or isolation, and NuGet restores
/// from this machine's package cache. Because RUN runs here and not in a container, it may call only dotnet and
/// file commands, and name absolute paths only under the Dockerfile's roots; anything else fails before it runs.
/// </para>
/// </summary>
internal sealed partial class DockerBuildEmulator : IDisposable
{
    private static readonly HashSet<string> s_allowedCommands = new(StringComparer.Ordinal) { "dotnet", "mkdir", "cp", "mv", "rm", "ls", "echo", "test", "true" };

    private readonly DockerfileModel _dockerfile;
    private readonly string _context;
    private readonly DockerIgnore _ignore;
    private readonly HashSet<string> _roots;

    private DockerBuildEmulator(DockerfileModel dockerfile, string context)
    {
        _dockerfile = dockerfile;
        _context = context;
        _ignore = DockerIgnore.Load(context);
        Root = Path.Combine(Path.GetTempPath(), "cortex-docker-build-" + Guid.NewGuid().ToString("N")[..12]);

        // The top-level directories the Dockerfile itself writes or reads: WORKDIRs, COPY destinations, COPY --from sources.
        _roots = dockerfile.Stages
            .SelectMany(s => s.Steps.SelectMany(step => step switch
            {
                WorkdirStep w => [w.Path],
                CopyStep c when c.FromStage is not null => c.Sources.Append(c.Destination),
                CopyStep c => [c.Destination],
                _ => Array.Empty<string>(),
            }))
            .Select(p => p.Split('/', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault())
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The temp directory holding every stage's root.</summary>
    public string Root { get; }

    /// <summary>How long each RUN took, by Dockerfile line.</summary>
    public Dictionary<int, TimeSpan> RunTimes { get; } = [];

    /// <summary>Replays every stage of <paramref name="dockerfile"/> with <paramref name="context"/> as the build context.</summary>
    public static async Task<DockerBuildEmulator> BuildAsync(DockerfileModel dockerfile, string context)
    {
        var emulator = new DockerBuildEmulator(dockerfile, context);
        try
        {
            foreach (var stage in dockerfile.Stages)
            {
                await emulator.BuildStageAsync(stage);
            }

            return emulator;
        }
        catch
        {
            emulator.Dispose();
            throw;
        }
    }

    /// <summary>Where an absolute path of <paramref name="stage"/>'s filesystem is on this machine.</summary>
    public string Map(DockerStage stage, string absolutePath) =>
        Path.Combine(Root, $"{stage.Index}-{stage.Name}", absolutePath.TrimStart('/'));

    /// <summary>
    /// Starts the stage's ENTRYPOINT as `docker run IMAGE args` would: in its WORKDIR, with the image's environment over
    /// this process's (minus what the test host sets for itself), then <paramref name="environment"/> (`docker run -e`).
    /// </summary>
    public ServiceProcess Run(DockerStage stage, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var entrypoint = stage.Entrypoint ?? throw new InvalidOperationException($"stage {stage.Name} has no ENTRYPOINT");
        if (!stage.EntrypointIsExecForm)
        {
            // /bin/sh -c would stand between the test and the process it stops, and could leave it running.
            throw new NotSupportedException($"stage {stage.Name}: only an exec-form ENTRYPOINT is started");
        }

        var info = new ProcessStartInfo(entrypoint[0]) { WorkingDirectory = Map(stage, stage.Workdir) };
        foreach (var word in entrypoint.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(word.StartsWith('/') && _roots.Contains(word.Split('/')[1]) ? Map(stage, word) : word);
        }

        SetEnvironment(info, stage.Environment, environment);
        return ServiceProcess.Start(info);
    }

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    private async Task BuildStageAsync(DockerStage stage)
    {
        var root = Map(stage, "/");
        if (stage.Parent is { } parent)
        {
            CopyTree(Map(parent, "/"), root, contextPath: null);
        }

        Directory.CreateDirectory(root);
        foreach (var step in stage.Steps)
        {
            switch (step)
            {
                case WorkdirStep workdir:
                    Directory.CreateDirectory(Map(stage, workdir.Path));
                    break;
                case CopyStep copy:
                    Copy(stage, copy);
                    break;
                case RunStep run:
                    await RunAsync(stage, run);
                    break;
            }
        }
    }

    private void Copy(DockerStage stage, CopyStep copy)
    {
        var from = copy.FromStage is null ? null : _dockerfile.Stages.Take(stage.Index).SingleOrDefault(s => s.Name == copy.FromStage)
            ?? throw new NotSupportedException($"Dockerfile:{copy.Line}: COPY --from={copy.FromStage} is not an earlier stage (images are not emulated)");
        var destination = Map(stage, copy.Destination);
        foreach (var source in copy.Sources)
        {
            if (source.IndexOfAny(['*', '?', '[']) >= 0)
            {
                throw new NotSupportedException($"Dockerfile:{copy.Line}: COPY wildcards ('{source}') are not emulated");
            }

            string path;
            string? contextPath = null;
            if (from is null)
            {
                contextPath = DockerfileModel.Resolve("/", source).TrimStart('/');
                path = Path.Combine(_context, contextPath);
                if (source.Split('/').Contains("..") || _ignore.IsExcluded(contextPath) || (!File.Exists(path) && !Directory.Exists(path)))
                {
                    throw new FileNotFoundException($"Dockerfile:{copy.Line}: COPY {source}: not in the build context (missing, outside it, or excluded by .dockerignore)");
                }
            }
            else
            {
                path = Map(from, DockerfileModel.Resolve("/", source));
                if (!File.Exists(path) && !Directory.Exists(path))
                {
                    throw new FileNotFoundException($"Dockerfile:{copy.Line}: COPY --from={from.Name} {source}: the stage has no such path");
                }
            }

            // A directory's contents are copied, not the directory; a file lands inside a directory destination.
            if (Directory.Exists(path))
            {
                CopyTree(path, destination, contextPath);
            }
            else
            {
                var target = copy.IntoDirectory || Directory.Exists(destination) ? Path.Combine(destination, Path.GetFileName(path)) : destination;
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(path, target, overwrite: true);
            }
        }
    }

    /// <summary>Copies a directory's contents; with <paramref name="contextPath"/> set, what .dockerignore excludes stays out.</summary>
    private void CopyTree(string source, string destination, string? contextPath)
    {
        Directory.CreateDirectory(destination);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            var entryContextPath = contextPath is null ? null : contextPath + "/" + entry.Name;
            var excluded = entryContextPath is not null && _ignore.IsExcluded(entryContextPath);
            if (entry is DirectoryInfo directory)
            {
                // Only a '!' pattern can bring back a file below an excluded directory.
                if (!excluded || _ignore.HasExceptions)
                {
                    CopyTree(directory.FullName, Path.Combine(destination, entry.Name), entryContextPath);
                }
            }
            else if (!excluded)
            {
                File.Copy(entry.FullName, Path.Combine(destination, entry.Name), overwrite: true);
            }
        }
    }

    private async Task RunAsync(DockerStage stage, RunStep run)
    {
        var info = new ProcessStartInfo("nice") { WorkingDirectory = Map(stage, run.Workdir) };

        // Niced: test assemblies run in parallel, and some of them time things.
        foreach (var argument in new[] { "-n", "10", "bash", "-c", MapCommand(stage, run) })
        {
            info.ArgumentList.Add(argument);
        }

        SetEnvironment(info, run.Environment, new Dictionary<string, string>
        {
            // No MSBuild node outlives the step, as none outlives a RUN in a container.
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        });

        var started = Stopwatch.StartNew();
        await using var container = ServiceProcess.Start(info);
        var exit = await container.WaitForExitAsync(TimeSpan.FromMinutes(15));
        RunTimes[run.Line] = started.Elapsed;
        if (exit != 0)
        {
            throw new InvalidOperationException($"Dockerfile:{run.Line}: RUN exited with {exit}:\n{string.Join('\n', container.Lines.TakeLast(60))}");
        }
    }

    /// <summary>The RUN command with its absolute paths moved into the stage's directory; refuses what must not run here.</summary>
    private string MapCommand(DockerStage stage, RunStep run)
    {
        foreach (var command in CommandSeparatorRegex().Split(run.Command))
        {
            var name = command.Trim().Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (name is not null && !s_allowedCommands.Contains(name))
            {
                throw new NotSupportedException(
                    $"Dockerfile:{run.Line}: the emulator runs RUN on the test machine, not in a container, so it runs only {string.Join(", ", s_allowedCommands)}; '{name}' is not one");
            }
        }

        return AbsolutePathRegex().Replace(run.Command, m =>
        {
            var first = m.Value.Split('/')[1];
            return _roots.Contains(first)
                ? Map(stage, m.Value)
                : throw new NotSupportedException($"Dockerfile:{run.Line}: RUN names {m.Value}, outside the Dockerfile's roots ({string.Join(", ", _roots.Select(r => "/" + r))}); it would touch this machine");
        });
    }

    /// <summary>This process's environment minus what the test host and MSBuild set for themselves, then the image's, then extra.</summary>
    private static void SetEnvironment(ProcessStartInfo info, IReadOnlyDictionary<string, string> image, IReadOnlyDictionary<string, string> extra)
    {
        foreach (var name in info.Environment.Keys.ToList())
        {
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("DOTNET_HOST_PATH", StringComparison.Ordinal) || name.StartsWith("ASPNETCORE_", StringComparison.Ordinal)
                || name.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal) || name.StartsWith("DOTNET_RUNNING_IN_CONTAINER", StringComparison.Ordinal)
                || name.StartsWith("Cortex__", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in image.Concat(extra))
        {
            info.Environment[name] = value;
        }
    }

    [GeneratedRegex(@"&&|\|\||;|\||\n")]
    private static partial Regex CommandSeparatorRegex();

    // An absolute path starts a word, or follows '=' or a quote: "-o /app/sender", "--output=/app", '"/src"'.
    [GeneratedRegex(@"(?<=^|[\s='""])/[^\s'""]+")]
    private static partial Regex AbsolutePathRegex();
}
