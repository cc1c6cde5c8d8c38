using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Cortex.Shared.Hosting;
using Cortex.Testing;
using Xunit.Abstractions;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// The Dockerfile, proven without a Docker engine. What the file promises (three targets, a numeric non-root user,
/// exec-form entrypoints, base images that match the SDK and the target framework, a build context without local
/// build output) is read from it; then <see cref="DockerBuildEmulator"/> runs its build stage for real, once for the
/// class, and each target's ENTRYPOINT is started from its WORKDIR as `docker run` would start it.
/// </summary>
public sealed partial class DockerfileTests(DockerBuildFixture docker, RedisFixture redis, PostgresFixture postgres, ITestOutputHelper output)
    : IClassFixture<DockerBuildFixture>, IClassFixture<RedisFixture>, IClassFixture<PostgresFixture>
{
    private static readonly string[] s_targets = ["cli", "scheduler", "sender"];
    private static readonly string[] s_alsoLeftOut = [".git", "tests/Cortex.Sender.Tests/TestResults/run.trx"];
    private static readonly string[] s_entrypointFiles = [".dll", ".runtimeconfig.json", ".deps.json"];
    private static readonly string[] s_aspnetImageFrameworks = ["Microsoft.NETCore.App", "Microsoft.AspNetCore.App"];

    private static string RepoRoot => DeployArtifacts.RepoRoot;

    private DockerfileModel Dockerfile => docker.Dockerfile;

    [Fact]
    public void Targets_SenderSchedulerAndCli_ExistAndAPlainBuildGivesTheSender()
    {
        Assert.Equal(s_targets, Dockerfile.Targets.Select(t => t.Name).Order(StringComparer.Ordinal));

        // `docker build .` without --target builds the last stage.
        Assert.Equal("sender", Dockerfile.Stages[^1].Name);
    }

    [Fact]
    public void Entrypoint_EveryTarget_IsExecFormSoDotnetIsPid1AndGetsSigterm()
    {
        Assert.All(Dockerfile.Targets, target =>
        {
            Assert.True(target.EntrypointIsExecForm,
                $"{target.Name}: ENTRYPOINT must be a JSON array; in shell form /bin/sh is PID 1 and SIGTERM never reaches .NET");
            Assert.Equal("dotnet", target.Entrypoint![0]);
            Assert.EndsWith(".dll", target.Entrypoint[1], StringComparison.Ordinal);
        });
    }

    [Fact]
    public void User_EveryTarget_IsANumericUidOtherThanRoot()
    {
        Assert.All(Dockerfile.Targets, target =>
        {
            // Kubernetes' runAsNonRoot verifies only a numeric user: it refuses to start "USER app"; "USER 0" or no USER is root.
            var user = target.User?.Split(':')[0];
            Assert.True(int.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) && uid != 0,
                $"{target.Name}: USER is '{target.User ?? "(none, so root)"}'; expected a numeric uid other than 0 ($APP_UID is 1654)");
        });
    }

    [Fact]
    public void Expose_Services_IsTheObservabilityPort()
    {
        var port = new ObservabilityOptions().Port.ToString(CultureInfo.InvariantCulture);

        Assert.Equal([port], Dockerfile.Stage("sender").Exposed);
        Assert.Equal([port], Dockerfile.Stage("scheduler").Exposed);
    }

    [Theory]
    [InlineData("sender")]
    [InlineData("scheduler")]
    public void Environment_Services_ListenOnEveryInterfaceOfTheContainer(string target)
    {
        // Cortex's default is loopback: `docker run -p 8080:8080` and the kubelet's probes reached nothing.
        var environment = Dockerfile.Stage(target).Environment;

        Assert.True(environment.TryGetValue("Cortex__Observability__BindAddress", out var bindAddress),
            $"{target}: no ENV Cortex__Observability__BindAddress, so it listens on {new ObservabilityOptions().BindAddress} only");
        Assert.True(ObservabilityOptions.TryParseBindAddress(bindAddress, out var address) && address is null,
            $"{target}: Cortex__Observability__BindAddress is '{bindAddress}', not every interface");
    }

    [Fact]
    public void BaseImages_Tags_MatchGlobalJsonAndTheTargetFramework()
    {
        using var globalJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot, "global.json")));
        var sdkVersion = MajorMinor(globalJson.RootElement.GetProperty("sdk").GetProperty("version").GetString()!);
        var targetFramework = XDocument.Load(Path.Combine(RepoRoot, "Directory.Build.props")).Descendants("TargetFramework").Single().Value;
        Assert.StartsWith("net", targetFramework, StringComparison.Ordinal);

        var build = BuildStage();
        Assert.Equal("mcr.microsoft.com/dotnet/sdk", build.Repository);
        Assert.Matches(TagFor(sdkVersion), build.Tag);
        Assert.All(Dockerfile.Targets, target =>
        {
            // Every Cortex process hosts Kestrel or references its shared framework: the plain runtime image lacks it.
            Assert.Equal("mcr.microsoft.com/dotnet/aspnet", target.Repository);
            Assert.Matches(TagFor(targetFramework[3..]), target.Tag);
        });
    }

    [Fact]
    public void BaseImages_EveryTarget_IsAVariantThatCarriesTzdata()
    {
        // The scheduler (and `cortex jobs list`) read America/Sao_Paulo from /usr/share/zoneinfo; InvariantGlobalization
        // does not change that. The default 10.0 tag (Ubuntu 24.04) installs tzdata, as do the -extra variants; the
        // -alpine, -chiseled and -distroless ones do not, and the scheduler would stop at start on an unknown zone.
        Assert.All(Dockerfile.Targets, target =>
            Assert.False(
                target.Tag.Contains("alpine", StringComparison.Ordinal)
                || ((target.Tag.Contains("chiseled", StringComparison.Ordinal) || target.Tag.Contains("distroless", StringComparison.Ordinal))
                    && !target.Tag.Contains("extra", StringComparison.Ordinal)),
                $"{target.Name}: {target.Image} has no tzdata"));
    }

    [Fact]
    public void CopySources_FromTheBuildContext_ExistAndAreNotExcludedByDockerignore()
    {
        var ignore = DockerIgnore.Load(RepoRoot);
        var sources = Dockerfile.Stages
            .SelectMany(s => s.Steps.OfType<CopyStep>())
            .Where(c => c.FromStage is null)
            .SelectMany(c => c.Sources.Select(source => (c.Line, Source: source, Path: DockerfileModel.Resolve("/", source).TrimStart('/'))))
            .ToList();
        Assert.NotEmpty(sources);

        var problems = sources
            .Select(s => !File.Exists(Path.Combine(RepoRoot, s.Path)) && !Directory.Exists(Path.Combine(RepoRoot, s.Path))
                ? $"Dockerfile:{s.Line}: COPY {s.Source}: no such file in the repository"
                : ignore.IsExcluded(s.Path) ? $"Dockerfile:{s.Line}: COPY {s.Source}: excluded by .dockerignore" : null)
            .OfType<string>()
            .ToList();

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Dockerignore_LocalBuildOutput_IsLeftOutOfTheContext()
    {
        // A local obj/ carries this machine's paths in project.assets.json and would replace the image's own restore.
        var ignore = DockerIgnore.Load(RepoRoot);
        var kept = new List<string>();
        foreach (var project in Directory.GetDirectories(Path.Combine(RepoRoot, "src")).Select(Path.GetFileName))
        {
            kept.AddRange(new[] { $"src/{project}/bin/Release/net10.0/{project}.dll", $"src/{project}/obj/project.assets.json" }
                .Where(path => !ignore.IsExcluded(path)));
        }

        kept.AddRange(s_alsoLeftOut.Where(path => !ignore.IsExcluded(path)));

        Assert.True(kept.Count == 0, "in the build context: " + string.Join(", ", kept));
    }

    [Fact]
    public void DockerIgnore_PatternWithoutDoubleStar_MatchesOnlyAtTheContextRoot()
    {
        // The usual .dockerignore mistake, and the rule the test above depends on: "bin/" leaves every project's bin/ in.
        var rootOnly = DockerIgnore.Parse("bin/\nobj\n");
        Assert.True(rootOnly.IsExcluded("bin/a.dll"));
        Assert.False(rootOnly.IsExcluded("src/Cortex.Sender/bin/a.dll"));

        var everywhere = DockerIgnore.Parse("**/bin/\n*.md\n!README.md\n");
        Assert.True(everywhere.IsExcluded("src/Cortex.Sender/bin/Release/a.dll"));
        Assert.True(everywhere.IsExcluded("bin"));
        Assert.True(everywhere.IsExcluded("CHANGES.md"));
        Assert.False(everywhere.IsExcluded("README.md"));
        Assert.False(everywhere.IsExcluded("docs/a.md")); // '*' stops at '/'
    }

    [Fact]
    public void BuildStage_Restore_RunsBeforeTheSourcesAreCopied()
    {
        // Only project and root build files before `dotnet restore`: a code change then reuses the restore layer.
        var steps = BuildStage().Steps;
        var restore = steps.OfType<RunStep>().FirstOrDefault(r => r.Command.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.NotNull(restore);
        var copiedFirst = steps.TakeWhile(s => s != restore).OfType<CopyStep>().SelectMany(c => c.Sources).ToList();

        Assert.Contains("Directory.Packages.props", copiedFirst);
        Assert.All(copiedFirst, source => Assert.True(
            source.EndsWith(".csproj", StringComparison.Ordinal) || (!source.Contains('/', StringComparison.Ordinal) && File.Exists(Path.Combine(RepoRoot, source))),
            $"'{source}' is copied before the restore: every change to it would restore again"));
        var publishes = steps.SkipWhile(s => s != restore).OfType<RunStep>()
            .SelectMany(r => PublishRegex().Matches(r.Command).Select(m => m.Value))
            .ToList();
        Assert.NotEmpty(publishes);
        Assert.All(publishes, publish => Assert.Contains("--no-restore", publish, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Build_EveryTarget_HasItsEntrypointDllRuntimeconfigAndDepsInItsWorkdir()
    {
        var build = await docker.BuildAsync();
        foreach (var (line, time) in build.RunTimes)
        {
            output.WriteLine($"Dockerfile:{line} RUN took {time.TotalSeconds:F1} s");
        }

        var problems = new List<string>();
        foreach (var target in Dockerfile.Targets)
        {
            var workdir = build.Map(target, target.Workdir);
            var baseName = Path.Combine(workdir, Path.GetFileNameWithoutExtension(target.Entrypoint![1]));
            var missing = s_entrypointFiles.Where(extension => !File.Exists(baseName + extension)).ToList();
            if (missing.Count > 0)
            {
                var present = Directory.Exists(workdir) ? string.Join(", ", Directory.GetFileSystemEntries(workdir).Select(Path.GetFileName)) : "nothing";
                problems.Add($"{target.Name}: WORKDIR {target.Workdir} has no {Path.GetFileName(baseName)}{string.Join(" or ", missing)}; it holds {present}");
                continue;
            }

            // The shared frameworks it asks for are the ones the aspnet image carries, at the image's version.
            using var config = JsonDocument.Parse(await File.ReadAllTextAsync(baseName + ".runtimeconfig.json"));
            var options = config.RootElement.GetProperty("runtimeOptions");
            var frameworks = options.TryGetProperty("frameworks", out var list) ? list.EnumerateArray().ToList() : [options.GetProperty("framework")];
            problems.AddRange(frameworks
                .Select(f => (Name: f.GetProperty("name").GetString(), Version: f.GetProperty("version").GetString()!))
                .Where(f => !s_aspnetImageFrameworks.Contains(f.Name) || !TagFor(MajorMinor(f.Version)).IsMatch(target.Tag))
                .Select(f => $"{target.Name}: needs {f.Name} {f.Version}, which {target.Image} does not carry"));
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task Build_EveryTarget_ShipsItsProjectsAppsettings()
    {
        var build = await docker.BuildAsync();
        var checkedFiles = 0;

        foreach (var target in Dockerfile.Targets)
        {
            foreach (var settings in Directory.GetFiles(ProjectDirectory(target), "appsettings*.json"))
            {
                var shipped = Path.Combine(build.Map(target, target.Workdir), Path.GetFileName(settings));
                Assert.True(File.Exists(shipped), $"{target.Name}: {Path.GetFileName(settings)} is not in WORKDIR {target.Workdir}");
                Assert.Equal(await File.ReadAllTextAsync(settings), await File.ReadAllTextAsync(shipped));
                checkedFiles++;
            }
        }

        Assert.True(checkedFiles > 0, "no project of a target has an appsettings.json: the sender's was expected");
    }

    [Theory]
    [InlineData("sender")]
    [InlineData("scheduler")]
    public async Task Entrypoint_Service_GetsReadyLogsJsonWithoutWarningsAndExitsZeroOnSigterm(string target)
    {
        var build = await docker.BuildAsync();
        var environment = new Dictionary<string, string>
        {
            ["Cortex__Redis__Configuration"] = redis.Server.Configuration,
            ["Cortex__Queue__Name"] = RedisFixture.UniqueQueueName(),
            ["Cortex__Postgres__ConnectionString"] = await postgres.CreateDatabaseAsync(),
            // Any free port: 8080 may be taken on a shared machine (EXPOSE is checked above).
            ["Cortex__Observability__Port"] = "0",
        };

        await using var container = build.Run(Dockerfile.Stage(target), environment);
        var port = await WaitForAsync(container, () => container.Lines.Select(l => ListeningRegex().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value, "Now listening on");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        await WaitForAsync(container, async () =>
        {
            using var response = await http.GetAsync(new Uri("health/ready", UriKind.Relative));
            return response.StatusCode == HttpStatusCode.OK ? "ready" : null;
        }, "GET /health/ready answering 200");
        await container.TerminateAsync();
        var exit = await container.WaitForExitAsync(TimeSpan.FromMinutes(1));

        var output = string.Join('\n', container.Lines);
        Assert.True(exit == 0, $"{target} exited with {exit} after SIGTERM:\n{output}");
        var problems = container.Lines.Where(l => l.Length > 0).Select(LogLineProblem).OfType<string>().ToList();
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [InlineData("scheduler")]
    [InlineData("cli")]
    public async Task Entrypoint_Migrate_AppliesEveryMigrationOfTheSource(string target)
    {
        var build = await docker.BuildAsync();
        var expected = "applied " + string.Join(", ", Directory.GetFiles(Path.Combine(RepoRoot, "src/Cortex.Scheduler/Data/Migrations"), "*.sql")
            .Select(Path.GetFileNameWithoutExtension)
            .Order(StringComparer.Ordinal));

        await using var container = build.Run(
            Dockerfile.Stage(target),
            new Dictionary<string, string> { ["Cortex__Postgres__ConnectionString"] = await postgres.CreateDatabaseAsync() },
            "migrate");
        var exit = await container.WaitForExitAsync(TimeSpan.FromMinutes(2));

        var output = string.Join('\n', container.Lines);
        Assert.True(exit == 0, $"{target} migrate exited with {exit}:\n{output}");
        Assert.Contains(expected, container.Lines);
    }

    /// <summary>The stage every target copies its published files from.</summary>
    private DockerStage BuildStage() =>
        Dockerfile.Stage(Dockerfile.Targets.SelectMany(t => t.Steps.OfType<CopyStep>()).Select(c => c.FromStage).OfType<string>().Distinct().Single());

    /// <summary>The src/ project whose assembly the target's ENTRYPOINT runs.</summary>
    private static string ProjectDirectory(DockerStage target)
    {
        var assembly = Path.GetFileNameWithoutExtension(target.Entrypoint![1]);
        return Directory.GetFiles(Path.Combine(RepoRoot, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => (XDocument.Load(p).Descendants("AssemblyName").SingleOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(p)) == assembly)
            .Select(Path.GetDirectoryName)
            .OfType<string>()
            .Single();
    }

    /// <summary>In a container every line is one JSON log object, and a clean start and stop writes no warning.</summary>
    private static string? LogLineProblem(string line)
    {
        try
        {
            using var entry = JsonDocument.Parse(line);
            var level = entry.RootElement.TryGetProperty("LogLevel", out var l) ? l.GetString() : null;
            return level is "Warning" or "Error" or "Critical" ? $"{level} logged: {line}" : null;
        }
        catch (JsonException)
        {
            return $"not a JSON log line: {line}";
        }
    }

    private static async Task<string> WaitForAsync(ServiceProcess container, Func<string?> probe, string what) =>
        await WaitForAsync(container, () => Task.FromResult(probe()), what);

    private static async Task<string> WaitForAsync(ServiceProcess container, Func<Task<string?>> probe, string what)
    {
        // A hang guard only: the services are ready in a second or two here.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!timeout.IsCancellationRequested)
        {
            try
            {
                if (await probe() is { } found)
                {
                    return found;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (container.HasExited)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
        }

        throw new TimeoutException($"no {what} {(container.HasExited ? "before the process exited" : "within a minute")}; it wrote:\n{string.Join('\n', container.Lines)}");
    }

    private static string MajorMinor(string version) => string.Join('.', version.Split('.').Take(2));

    /// <summary>A tag for that version: "10.0", "10.0-noble", "10.0.1"; not "10.01" or "9.0".</summary>
    private static Regex TagFor(string majorMinor) => new("^" + Regex.Escape(majorMinor) + @"(?:[.-]|$)", RegexOptions.CultureInvariant);

    [GeneratedRegex(@"Now listening on: http://[^ ""]*:(\d+)")]
    private static partial Regex ListeningRegex();

    [GeneratedRegex(@"dotnet publish [^&;|]*")]
    private static partial Regex PublishRegex();
}

/// <summary>
/// The repository's Dockerfile, read once, and its emulated build, run once for the class (a minute or so) the first
/// time a test needs it; tests that only read the file do not wait for it.
/// </summary>
public sealed class DockerBuildFixture : IAsyncLifetime
{
    private readonly Lazy<Task<DockerBuildEmulator>> _build;

    public DockerBuildFixture()
    {
        Dockerfile = DockerfileModel.Load(Path.Combine(DeployArtifacts.RepoRoot, "Dockerfile"));
        _build = new Lazy<Task<DockerBuildEmulator>>(() => DockerBuildEmulator.BuildAsync(Dockerfile, DeployArtifacts.RepoRoot));
    }

    internal DockerfileModel Dockerfile { get; }

    internal Task<DockerBuildEmulator> BuildAsync() => _build.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // A failed build has already removed its directory.
        if (_build.IsValueCreated && _build.Value.IsCompletedSuccessfully)
        {
            (await _build.Value).Dispose();
        }
    }
}
