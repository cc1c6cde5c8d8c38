using System.Text.Json;
using Cortex.Cli;
using Cortex.Testing;
using static Cortex.Sender.Tests.Deploy.KubernetesManifests;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// k8s/tools/cli: the pod on-call runs the cortex CLI in. The namespace enforces pod-security "restricted" and Redis is
/// TLS-only, so a bare `kubectl run` was refused or could not connect. The pod must pass the profile, run the Dockerfile's
/// CLI at the release the overlay deploys, and read Redis and PostgreSQL exactly as the services do.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private const string CliTool = "cli";
    private const string CliPodName = "cortex-cli";

    // The volume types the restricted profile allows (kubernetes.io/docs/concepts/security/pod-security-standards).
    private static readonly HashSet<string> s_restrictedVolumeTypes =
        ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

    private JsonElement CliPod => k8s.Tools[CliTool].Single(o => o.GetProperty("kind").GetString() == "Pod");

    private JsonElement CliContainer => CliPod.GetProperty("spec").GetProperty("containers").EnumerateArray().Single();

    [Fact]
    public void CliTool_IsOnePodInTheOverlaysNamespaceAndNoOverlayStartsIt()
    {
        Assert.Equal([CliTool], k8s.Tools.Keys);
        var objects = k8s.Tools[CliTool];

        Assert.Single(objects);
        Assert.Equal(CliPodName, Name(CliPod));
        Assert.Equal(Namespace("prod"), CliPod.GetProperty("metadata").GetProperty("namespace").GetString());
        Assert.All(k8s.Overlays, o => Assert.DoesNotContain(o.Value, x => x.GetProperty("kind").GetString() == "Pod"));
    }

    [Fact]
    public void CliPod_PassesTheRestrictedPodSecurityProfileTheNamespaceEnforces()
    {
        Assert.Equal("restricted", k8s.Objects("prod", "Namespace").Single().GetProperty("metadata").GetProperty("labels").GetProperty("pod-security.kubernetes.io/enforce").GetString());
        var spec = CliPod.GetProperty("spec");
        var pod = spec.GetProperty("securityContext");

        Assert.False(Optional(spec, "automountServiceAccountToken")?.GetBoolean() ?? true, "the CLI needs no Kubernetes API token");
        Assert.True(Optional(spec, "activeDeadlineSeconds")?.GetInt64() > 0, "a forgotten pod with the passwords in its environment must end");
        foreach (var host in new[] { "hostNetwork", "hostPID", "hostIPC" })
        {
            Assert.False(Optional(spec, host)?.GetBoolean() ?? false, host);
        }

        Assert.All(Optional(spec, "volumes")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>(), v =>
            Assert.True(v.EnumerateObject().Any(p => s_restrictedVolumeTypes.Contains(p.Name)), $"a volume type the restricted profile refuses: {v}"));
        foreach (var container in spec.GetProperty("containers").EnumerateArray())
        {
            var own = container.GetProperty("securityContext");
            Assert.True((Optional(own, "runAsNonRoot") ?? Optional(pod, "runAsNonRoot"))?.GetBoolean() == true, "runAsNonRoot");
            Assert.True((Optional(own, "runAsUser") ?? Optional(pod, "runAsUser"))?.GetInt64() > 0, "a numeric non-root user");
            Assert.Equal("RuntimeDefault", (Optional(own, "seccompProfile", "type") ?? Optional(pod, "seccompProfile", "type"))?.GetString());
            Assert.False(own.GetProperty("allowPrivilegeEscalation").GetBoolean());
            Assert.False(Optional(own, "privileged")?.GetBoolean() ?? false);
            Assert.Contains("ALL", own.GetProperty("capabilities").GetProperty("drop").EnumerateArray().Select(c => c.GetString()));
            Assert.Null(Optional(own, "capabilities", "add"));
            Assert.True(own.GetProperty("readOnlyRootFilesystem").GetBoolean());
            Assert.True(Optional(container, "resources", "limits", "memory") is not null, "a memory limit");
        }
    }

    [Fact]
    public void CliPod_RunsTheDockerfilesCliTargetAtTheReleaseProductionDeploys()
    {
        var image = CliContainer.GetProperty("image").GetString()!;
        var sender = Container(k8s.Find("prod", "Deployment", SenderName)).GetProperty("image").GetString()!;

        // Same registry, same tag: a CLI of another release may not read what the deployed senders write.
        Assert.Contains("/cortex-sender:", sender, StringComparison.Ordinal);
        Assert.Equal(sender.Replace("/cortex-sender:", "/cortex-cli:", StringComparison.Ordinal), image);

        // The pod sleeps; each verb is the image's own ENTRYPOINT, run through kubectl exec as the docs say.
        var entrypoint = DockerfileModel.Load(DeployArtifacts.FullPath("Dockerfile")).Stage("cli").Entrypoint!;
        var exec = $"kubectl -n {Namespace("prod")} exec -it {CliPodName} -- {string.Join(' ', entrypoint)} ";
        Assert.Contains(exec, File.ReadAllText(DeployArtifacts.FullPath("k8s/tools/cli/kustomization.yaml")), StringComparison.Ordinal);
        Assert.Contains(exec, MarkdownDoc.Read(DeployArtifacts.RunbookPath), StringComparison.Ordinal);
    }

    [Fact]
    public void CliPod_ReadsRedisAndPostgresAsTheServicesDo()
    {
        var cli = CliContainer;
        var sender = k8s.Find("prod", "Deployment", SenderName);
        var scheduler = k8s.Find("prod", "Deployment", SchedulerName);

        Assert.Equal(ConfigMaps(Container(sender)), ConfigMaps(cli));

        // Every Redis setting the sender takes from a Secret or a value (a private CA's file included), and the
        // scheduler's PostgreSQL connection, reach the CLI the same way.
        var cliEnv = EnvEntries(cli);
        foreach (var (name, raw) in EnvEntries(Container(sender)).Where(e => e.Key.StartsWith("Cortex__Redis__", StringComparison.Ordinal))
            .Concat(EnvEntries(Container(scheduler)).Where(e => e.Key.StartsWith("Cortex__Postgres__", StringComparison.Ordinal))))
        {
            Assert.True(cliEnv.TryGetValue(name, out var own) && own == raw, $"the CLI pod's {name} is not the service's {raw}");
        }

        // What the sender mounts (a Redis CA, say) is mounted at the same path from the same source.
        var cliVolumes = Volumes(CliPod);
        foreach (var mount in Optional(Container(sender), "volumeMounts")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
        {
            var path = mount.GetProperty("mountPath").GetString()!;
            var own = (Optional(cli, "volumeMounts")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>()).SingleOrDefault(m => m.GetProperty("mountPath").GetString() == path);
            Assert.True(own.ValueKind == JsonValueKind.Object, $"the sender mounts {path}; the CLI pod does not");
            var source = Volumes(sender.GetProperty("spec").GetProperty("template"))[mount.GetProperty("name").GetString()!];
            Assert.Equal(source.Kind, cliVolumes[own.GetProperty("name").GetString()!].Kind);
            if (source.Kind != "emptyDir")
            {
                Assert.Equal(source.Raw, cliVolumes[own.GetProperty("name").GetString()!].Raw);
            }
        }
    }

    [Fact]
    public async Task CliPod_Environment_IsAcceptedByTheCortexCommandLine()
    {
        // The ConfigMap is the services' (gateway, sender, scheduler keys): the CLI must take every key of it. With no
        // Redis or PostgreSQL here, each verb is pointed at a closed port: it must fail to connect (69), not stop on its
        // configuration (78).
        var environment = k8s.ContainerEnvironment("prod", CliContainer, CliPodName);
        environment["Cortex__Redis__Configuration"] = "127.0.0.1:1,ssl=true,connectTimeout=200";
        environment["Cortex__Postgres__ConnectionString"] = "Host=127.0.0.1;Port=1;Username=cortex;Timeout=1";

        foreach (var verb in new[] { new[] { "stats" }, ["jobs", "list"] })
        {
            var (code, error) = await RunCli(verb, environment);
            Assert.True(code == ExitCodes.Unavailable, $"cortex {string.Join(' ', verb)} in the CLI pod's environment: exit {code}\n{error}");
        }

        // The check can fail: a key the CLI does not know stops it naming the key.
        environment["Cortex__Sendr__Workers"] = "16";
        var (refused, message) = await RunCli(["stats"], environment);
        Assert.Equal(ExitCodes.Configuration, refused);
        Assert.Contains("Cortex:Sendr", message, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Error)> RunCli(string[] args, Dictionary<string, string?> environment)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var console = new CliConsole
        {
            Out = output,
            Error = error,
            Environment = environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!, StringComparer.Ordinal),
        };
        var code = await Cortex.Cli.Cli.RunAsync(args, console).WaitAsync(TimeSpan.FromSeconds(60));
        return (code, error.ToString());
    }

    private static List<string> ConfigMaps(JsonElement container) =>
        (Optional(container, "envFrom")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
            .Select(s => s.GetProperty("configMapRef").GetProperty("name").GetString()!).Order(StringComparer.Ordinal).ToList();

    private static Dictionary<string, string> EnvEntries(JsonElement container) =>
        (Optional(container, "env")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
            .ToDictionary(e => e.GetProperty("name").GetString()!, e => JsonSerializer.Serialize(e), StringComparer.Ordinal);

    private static Dictionary<string, (string Kind, string Raw)> Volumes(JsonElement pod) =>
        (Optional(pod, "spec", "volumes")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
            .ToDictionary(
                v => v.GetProperty("name").GetString()!,
                v => v.EnumerateObject().Where(p => p.Name != "name").Select(p => (p.Name, JsonSerializer.Serialize(p.Value))).Single(),
                StringComparer.Ordinal);
}
