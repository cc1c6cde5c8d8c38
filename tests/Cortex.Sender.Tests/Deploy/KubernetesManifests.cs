using System.Text;
using System.Text.Json;
using Cortex.Scheduler;
using Cortex.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// The manifests under k8s/ as a cluster would get them: every overlay rendered by <c>kubectl kustomize</c> and checked
/// against the Kubernetes, KEDA and Prometheus Operator schemas, unknown fields included, by k8s/validate/validate.mjs
/// (run once per test class). The tests read the rendered objects as JSON.
/// </summary>
public sealed class KubernetesManifests : IAsyncLifetime
{
    public const string SenderName = "cortex-sender";
    public const string SchedulerName = "cortex-scheduler";
    public const string SecretsExample = "secrets/cortex-secrets.example.yaml";
    public const string AdapterValues = "components/prometheus-adapter-hpa/prometheus-adapter-values.yaml";

    private JsonDocument? _document;

    public ExternalTool.Result Result { get; private set; } = null!;

    public IReadOnlyList<string> Errors { get; private set; } = [];

    public IReadOnlyDictionary<string, IReadOnlyList<JsonElement>> Overlays { get; private set; } = new Dictionary<string, IReadOnlyList<JsonElement>>();

    public IReadOnlyDictionary<string, JsonElement> Files { get; private set; } = new Dictionary<string, JsonElement>();

    /// <summary>k8s/tools/*: kustomizations applied by hand (the CLI pod), rendered and validated as the overlays are.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<JsonElement>> Tools { get; private set; } = new Dictionary<string, IReadOnlyList<JsonElement>>();

    public async Task InitializeAsync()
    {
        Result = await ExternalTool.RunAsync(
            "node",
            [DeployArtifacts.FullPath("k8s/validate/validate.mjs")],
            "Node.js ships with this machine image; `make test` installs the validator's packages with npm ci.",
            DeployArtifacts.RepoRoot);
        if (!Result.Output.StartsWith('{'))
        {
            throw new InvalidOperationException($"k8s/validate/validate.mjs printed no report (npm ci --prefix k8s/validate?): {Result}");
        }

        _document = JsonDocument.Parse(Result.Output);
        Errors = _document.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Overlays = _document.RootElement.GetProperty("overlays").EnumerateObject()
            .ToDictionary(o => o.Name, o => (IReadOnlyList<JsonElement>)o.Value.EnumerateArray().ToList(), StringComparer.Ordinal);
        Tools = _document.RootElement.GetProperty("tools").EnumerateObject()
            .ToDictionary(o => o.Name, o => (IReadOnlyList<JsonElement>)o.Value.EnumerateArray().ToList(), StringComparer.Ordinal);
        Files = _document.RootElement.GetProperty("files").EnumerateObject().ToDictionary(f => f.Name, f => f.Value, StringComparer.Ordinal);
    }

    public Task DisposeAsync()
    {
        _document?.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Every folder of k8s/overlays, for theories: a new overlay is checked without touching the tests.</summary>
    public static TheoryData<string> OverlayNames() =>
        new(Directory.GetDirectories(DeployArtifacts.FullPath("k8s/overlays")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    public IEnumerable<JsonElement> Objects(string overlay, string kind) =>
        Overlays[overlay].Where(o => o.GetProperty("kind").GetString() == kind);

    public JsonElement Find(string overlay, string kind, string name) =>
        Objects(overlay, kind).Single(o => Name(o) == name);

    public static string Name(JsonElement o) => o.GetProperty("metadata").GetProperty("name").GetString()!;

    public static JsonElement PodSpec(JsonElement deployment) => deployment.GetProperty("spec").GetProperty("template").GetProperty("spec");

    public static JsonElement Container(JsonElement deployment) => PodSpec(deployment).GetProperty("containers").EnumerateArray().Single();

    public static JsonElement? Optional(JsonElement element, params string[] path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }

        return element;
    }

    /// <summary>The example Secrets (k8s/secrets), which production overlays expect to exist in the cluster.</summary>
    public IEnumerable<JsonElement> ExampleSecrets => Files[SecretsExample].EnumerateArray();

    /// <summary>
    /// The example's admin-token as an operator fills it in (`openssl rand -hex 32`). The example's own placeholder is
    /// too short on purpose: applied unchanged, it stops the pods at start naming the key.
    /// </summary>
    public const string FilledInAdminToken = "5f0c9e2a7b41d83e6a19c4f7b2d05e8a3c6f91b47d2e0a85c3f6b19e4d7a20c8";

    /// <summary>
    /// A Secret's values: the overlay's own (generated) Secret, else the example, with its admin-token filled in unless
    /// <paramref name="filledIn"/> is false.
    /// </summary>
    public IReadOnlyDictionary<string, string>? SecretValues(string overlay, string name, bool filledIn = true)
    {
        var own = Objects(overlay, "Secret").FirstOrDefault(s => Name(s) == name);
        var fromExample = own.ValueKind == JsonValueKind.Undefined;
        var secret = fromExample ? ExampleSecrets.FirstOrDefault(s => Name(s) == name) : own;
        if (secret.ValueKind == JsonValueKind.Undefined)
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Optional(secret, "data") is { } data)
        {
            foreach (var p in data.EnumerateObject())
            {
                values[p.Name] = Encoding.UTF8.GetString(Convert.FromBase64String(p.Value.GetString()!.Replace("\n", string.Empty, StringComparison.Ordinal)));
            }
        }

        if (Optional(secret, "stringData") is { } stringData)
        {
            foreach (var p in stringData.EnumerateObject())
            {
                values[p.Name] = p.Value.GetString()!;
            }
        }

        if (fromExample && filledIn && values.ContainsKey("admin-token"))
        {
            values["admin-token"] = FilledInAdminToken;
        }

        return values;
    }

    /// <summary>
    /// The environment the container of <paramref name="deployment"/> gets: its ConfigMaps (envFrom) and its env
    /// entries, secret references resolved through <see cref="SecretValues"/>. A missing required secret key fails.
    /// </summary>
    public Dictionary<string, string?> Environment(string overlay, string deployment, bool secretsFilledIn = true) =>
        ContainerEnvironment(overlay, Container(Find(overlay, "Deployment", deployment)), deployment, secretsFilledIn);

    /// <summary>
    /// The environment <paramref name="container"/> gets in the cluster <paramref name="overlay"/> deploys: that overlay's
    /// ConfigMaps and Secrets (else the example Secrets). For a pod of k8s/tools, applied beside an overlay.
    /// </summary>
    public Dictionary<string, string?> ContainerEnvironment(string overlay, JsonElement container, string deployment, bool secretsFilledIn = true)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var source in Optional(container, "envFrom")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
        {
            var configMap = Find(overlay, "ConfigMap", source.GetProperty("configMapRef").GetProperty("name").GetString()!);
            foreach (var p in configMap.GetProperty("data").EnumerateObject())
            {
                environment[p.Name] = p.Value.GetString();
            }
        }

        foreach (var variable in Optional(container, "env")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
        {
            var name = variable.GetProperty("name").GetString()!;
            if (Optional(variable, "valueFrom", "secretKeyRef") is { } reference)
            {
                var secret = reference.GetProperty("name").GetString()!;
                var key = reference.GetProperty("key").GetString()!;
                var optional = Optional(reference, "optional")?.GetBoolean() ?? false;
                if (SecretValues(overlay, secret, secretsFilledIn) is { } values && values.TryGetValue(key, out var value))
                {
                    environment[name] = value;
                }
                else
                {
                    Assert.True(optional, $"{overlay}: {deployment} needs key '{key}' of Secret '{secret}', which neither the overlay nor {SecretsExample} has");
                }
            }
            else
            {
                environment[name] = variable.GetProperty("value").GetString();
            }
        }

        return environment;
    }

    /// <summary>
    /// Builds the service as its container would run it, with <paramref name="environment"/> (Cortex__A__B keys) as
    /// its configuration, and validates every option as a start does: a bad or misspelt key throws here.
    /// </summary>
    public static WebApplication BuildService(string deployment, IReadOnlyDictionary<string, string?> environment)
    {
        var settings = environment.ToDictionary(p => p.Key.Replace("__", ":", StringComparison.Ordinal), p => p.Value, StringComparer.OrdinalIgnoreCase);
        Action<WebApplicationBuilder> configure = b => b.Configuration.AddInMemoryCollection(settings);
        var app = deployment switch
        {
            SenderName => SenderApplication.Build([], configure),
            SchedulerName => SchedulerApplication.Build([], configure),
            _ => throw new ArgumentOutOfRangeException(nameof(deployment), deployment, "not a Cortex service"),
        };
        app.Services.GetService<IStartupValidator>()?.Validate();
        return app;
    }

    public static TOptions Options<TOptions>(WebApplication app)
        where TOptions : class => app.Services.GetRequiredService<IOptions<TOptions>>().Value;

    public static TimeSpan HostShutdownBudget(WebApplication app) => Options<HostOptions>(app).ShutdownTimeout;
}
