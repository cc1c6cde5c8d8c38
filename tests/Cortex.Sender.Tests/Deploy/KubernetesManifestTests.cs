using System.Text.Json;
using System.Text.RegularExpressions;
using Cortex.Sender.RateLimiting;
using Cortex.Shared.Hosting;
using Cortex.Shared.Queue;
using Cortex.Testing;
using static Cortex.Sender.Tests.Deploy.KubernetesManifests;

namespace Cortex.Sender.Tests.Deploy;

/// <summary>
/// k8s/ renders, passes the schemas, and agrees with the code it deploys: configuration the services accept, probes on
/// their health endpoints and port, a grace period above their shutdown budget, autoscalers that watch the lists the
/// sender leases from and stop where the global rate limit makes more pods useless.
/// </summary>
public sealed partial class KubernetesManifestTests(KubernetesManifests k8s) : IClassFixture<KubernetesManifests>
{
    private static readonly string[] s_services = [SenderName, SchedulerName];

    // KEDA 2.x Redis list scaler metadata (keda.sh/docs/scalers/redis-lists); the schema types it as a string map.
    private static readonly HashSet<string> s_redisTriggerKeys =
    [
        "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv", "listName", "listLength",
        "activationListLength", "databaseIndex", "enableTLS", "unsafeSsl", "username", "usernameFromEnv", "passwordFromEnv",
    ];

    [Fact]
    public void Validate_EveryOverlay_RendersAndPassesTheSchemasWithNoUnknownField()
    {
        Assert.True(k8s.Errors.Count == 0, string.Join("\n", k8s.Errors));
        Assert.True(k8s.Result.ExitCode == 0, k8s.Result.ToString());
        Assert.Equal(["dev", "prod", "prod-hpa"], k8s.Overlays.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_Sender_HasOneAutoscalerAndNoReplicaCountToFightIt(string overlay)
    {
        var sender = k8s.Find(overlay, "Deployment", SenderName);
        var scaledObjects = k8s.Objects(overlay, "ScaledObject").ToList();
        var hpas = k8s.Objects(overlay, "HorizontalPodAutoscaler").ToList();

        Assert.Null(Optional(sender, "spec", "replicas"));
        Assert.Single(scaledObjects.Concat(hpas));
        var target = scaledObjects.Count == 1
            ? scaledObjects[0].GetProperty("spec").GetProperty("scaleTargetRef")
            : hpas[0].GetProperty("spec").GetProperty("scaleTargetRef");
        Assert.Equal(SenderName, target.GetProperty("name").GetString());
        Assert.Equal(2, k8s.Find(overlay, "Deployment", SchedulerName).GetProperty("spec").GetProperty("replicas").GetInt32());
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_ContainerEnvironment_StartsEachServiceWithValidConfiguration(string overlay)
    {
        foreach (var service in s_services)
        {
            await using var app = BuildService(service, k8s.Environment(overlay, service));
        }
    }

    [Fact]
    public async Task BuildService_MisspeltKeyInTheConfigMap_StopsAtStartNamingIt()
    {
        // The check above can fail: the services reject what the manifests would give them.
        var environment = k8s.Environment("prod", SenderName);
        environment["Cortex__Sender__Wrokers"] = "64";

        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var app = BuildService(SenderName, environment);
        });

        Assert.Contains("Cortex:Sender:Wrokers", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExampleSecrets_AdminTokenPlaceholderAppliedUnchanged_StopsEachServiceNamingTheKey()
    {
        // The placeholder used to be 29 printable characters, a valid token: the example applied as it is opened the
        // admin endpoints (dead-letter purge, pause) to a token anyone can read in this repository.
        foreach (var service in s_services)
        {
            var environment = k8s.Environment("prod", service, secretsFilledIn: false);
            Assert.Equal(
                k8s.ExampleSecrets.Single(s => Name(s) == "cortex-secrets").GetProperty("stringData").GetProperty("admin-token").GetString(),
                environment["Cortex__Observability__AdminToken"]);

            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var app = BuildService(service, environment);
            });

            Assert.Contains("Cortex:Observability:AdminToken", error.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_TerminationGracePeriod_ExceedsPreStopPlusTheHostsShutdownBudget(string overlay)
    {
        foreach (var service in s_services)
        {
            await using var app = BuildService(service, k8s.Environment(overlay, service));
            var deployment = k8s.Find(overlay, "Deployment", service);
            var grace = TimeSpan.FromSeconds(PodSpec(deployment).GetProperty("terminationGracePeriodSeconds").GetInt32());
            var preStop = PreStop(Container(deployment));

            // The host's budget is what SIGTERM may take: for the sender, ShutdownTimeout plus 10 s to flush acks and
            // return unsent messages. Anything past the grace period is SIGKILLed mid-way.
            var budget = HostShutdownBudget(app);
            Assert.True(grace >= preStop + budget + TimeSpan.FromSeconds(5), $"{overlay}/{service}: grace {grace.TotalSeconds} s, preStop {preStop.TotalSeconds} s + host shutdown {budget.TotalSeconds} s + 5 s margin");
        }
    }

    [Fact]
    public async Task HostShutdownBudget_Sender_FollowsTheShutdownTimeoutOfTheConfigMap()
    {
        // The grace period check reads the real budget: a longer ShutdownTimeout in the ConfigMap raises it.
        var environment = k8s.Environment("prod", SenderName);
        environment["Cortex__Sender__ShutdownTimeout"] = "00:01:00";

        await using var app = BuildService(SenderName, environment);

        Assert.Equal(TimeSpan.FromSeconds(70), HostShutdownBudget(app));
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_Probes_HitTheHealthEndpointsOnTheObservabilityPort(string overlay)
    {
        foreach (var service in s_services)
        {
            await using var app = BuildService(service, k8s.Environment(overlay, service));
            var observability = Options<ObservabilityOptions>(app);
            var container = Container(k8s.Find(overlay, "Deployment", service));

            foreach (var (probe, path) in new[] { ("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready"), ("startupProbe", "/health/live") })
            {
                var get = container.GetProperty(probe).GetProperty("httpGet");
                Assert.Equal(path, get.GetProperty("path").GetString());
                Assert.Equal(observability.Port, ContainerPort(container, get.GetProperty("port")));
            }

            // A probe that gives up before the health check's own timeout reports a slow Redis as a dead pod.
            var readinessTimeout = TimeSpan.FromSeconds(container.GetProperty("readinessProbe").GetProperty("timeoutSeconds").GetInt32());
            Assert.True(readinessTimeout > observability.HealthCheckTimeout, $"{overlay}/{service}: readiness timeout {readinessTimeout} <= HealthCheckTimeout {observability.HealthCheckTimeout}");
        }
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_Pods_RunAsNonRootWithAReadOnlyRootAndTheLabelsTheAlertsSelect(string overlay)
    {
        var jobs = DeployArtifacts.AlertRules().Select(r => r.Expr).Concat(DeployArtifacts.DashboardQueries()).SelectMany(JobNames).ToHashSet(StringComparer.Ordinal);
        foreach (var service in s_services)
        {
            var deployment = k8s.Find(overlay, "Deployment", service);
            var pod = PodSpec(deployment);
            var container = Container(deployment);

            Assert.True(pod.GetProperty("securityContext").GetProperty("runAsNonRoot").GetBoolean());
            Assert.True(pod.GetProperty("securityContext").GetProperty("runAsUser").GetInt64() > 0);
            Assert.True(container.GetProperty("securityContext").GetProperty("readOnlyRootFilesystem").GetBoolean());
            Assert.False(container.GetProperty("securityContext").GetProperty("allowPrivilegeEscalation").GetBoolean());
            Assert.True(Optional(container, "resources", "requests", "memory") is not null && Optional(container, "resources", "limits", "memory") is not null, $"{overlay}/{service}: memory request and limit");

            // The scrape config of the README keeps pods by their app label and the ServiceMonitor's job is the Service
            // name; the alert rules and the dashboard filter on job="cortex-sender" / "cortex-scheduler".
            Assert.Equal(service, deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels").GetProperty("app").GetString());
            Assert.Contains(service, jobs);
            var image = container.GetProperty("image").GetString()!;
            Assert.True(image.Contains(':', StringComparison.Ordinal) && !image.EndsWith(":latest", StringComparison.Ordinal), $"{overlay}/{service}: image '{image}' is not pinned to a tag");
        }
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_ServicesAndDisruptionBudgets_SelectTheirPods(string overlay)
    {
        foreach (var service in s_services)
        {
            var deployment = k8s.Find(overlay, "Deployment", service);
            var podLabels = deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            var svc = k8s.Find(overlay, "Service", service);
            var pdb = k8s.Find(overlay, "PodDisruptionBudget", service);

            AssertSelects(svc.GetProperty("spec").GetProperty("selector"), podLabels, $"{overlay}: Service {service}");
            AssertSelects(pdb.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"), podLabels, $"{overlay}: PodDisruptionBudget {service}");
            AssertSelects(deployment.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"), podLabels, $"{overlay}: Deployment {service}");
            var container = Container(deployment);
            foreach (var port in svc.GetProperty("spec").GetProperty("ports").EnumerateArray())
            {
                ContainerPort(container, port.GetProperty("targetPort"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_ServiceMonitors_ScrapeMetricsOfEachServiceWithinTheirTimeout(string overlay)
    {
        var monitors = k8s.Objects(overlay, "ServiceMonitor").ToList();
        if (overlay == "dev")
        {
            Assert.Empty(monitors); // dev clusters rarely run the Prometheus Operator; its CRDs would refuse the apply
            return;
        }

        Assert.Equal(s_services, monitors.Select(Name).Order(StringComparer.Ordinal).Reverse());
        foreach (var monitor in monitors)
        {
            var service = k8s.Find(overlay, "Service", Name(monitor));
            AssertSelects(monitor.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"), service.GetProperty("metadata").GetProperty("labels"), $"{overlay}: ServiceMonitor {Name(monitor)}");
            await using var app = BuildService(Name(monitor), k8s.Environment(overlay, Name(monitor)));
            var endpoint = monitor.GetProperty("spec").GetProperty("endpoints").EnumerateArray().Single();
            Assert.Equal("/metrics", endpoint.GetProperty("path").GetString());
            Assert.Contains(service.GetProperty("spec").GetProperty("ports").EnumerateArray(), p => p.GetProperty("name").GetString() == endpoint.GetProperty("port").GetString());
            var scrapeTimeout = DeployArtifacts.ParseDuration(endpoint.GetProperty("scrapeTimeout").GetString()!);
            Assert.True(scrapeTimeout > Options<ObservabilityOptions>(app).ScrapeTimeout, $"{Name(monitor)}: Prometheus gives up ({scrapeTimeout}) before Cortex leaves a slow source out");
        }

        Assert.Single(k8s.Objects(overlay, "PrometheusRule")); // its groups equal deploy/prometheus's (validate.mjs)
    }

    [Theory]
    [InlineData("prod")]
    [InlineData("prod-hpa")]
    public async Task Overlay_WithoutTheMonitoringComponent_RendersWithNoPrometheusOperatorObject(string overlay)
    {
        // k8s/README.md said the Prometheus Operator was optional while both production overlays include its CRDs'
        // objects. It now says: without the Operator, delete the monitoring component's line from the overlay. That
        // must leave an overlay that renders, still has its autoscaler, and needs nothing from the Operator.
        const string line = "  - ../../components/monitoring";
        var kustomization = await File.ReadAllLinesAsync(DeployArtifacts.FullPath($"k8s/overlays/{overlay}/kustomization.yaml"));
        Assert.Contains(line, kustomization);
        Assert.Contains("components/monitoring", File.ReadAllText(DeployArtifacts.FullPath("k8s/README.md")), StringComparison.Ordinal);

        var rendered = await RenderEditedCopy(overlay, kustomization.Where(l => l != line));

        Assert.DoesNotContain("monitoring.coreos.com", rendered, StringComparison.Ordinal);
        Assert.Contains(overlay == "prod" ? "kind: ScaledObject" : "kind: HorizontalPodAutoscaler", rendered, StringComparison.Ordinal);
        Assert.Contains($"name: {SenderName}", rendered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProdOverlay_RedisAddressOfItsScaledObjectPatch_ReachesEveryTrigger()
    {
        // k8s/README.md sends the operator to prod's ScaledObject patch for KEDA's Redis address, which the patch did
        // not set: the address stayed components/keda's, three times over. Edited in the patch alone, it must reach
        // all three triggers.
        const string address = "redis.cortex.svc.cluster.local:6379";
        const string elsewhere = "redis-tls.data.svc.cluster.local:6380";
        var kustomization = await File.ReadAllLinesAsync(DeployArtifacts.FullPath("k8s/overlays/prod/kustomization.yaml"));
        Assert.Equal(3, kustomization.Count(l => l.Trim() == $"value: {address}"));

        var rendered = await RenderEditedCopy("prod", kustomization.Select(l => l.Replace(address, elsewhere, StringComparison.Ordinal)));

        Assert.Equal(3, rendered.Split('\n').Count(l => l.Trim() == $"address: {elsewhere}"));
        Assert.DoesNotContain(address, rendered, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_KedaTriggers_WatchEveryReadyListTheSenderLeasesFrom(string overlay)
    {
        var scaledObject = k8s.Objects(overlay, "ScaledObject").SingleOrDefault();
        if (scaledObject.ValueKind == JsonValueKind.Undefined)
        {
            return; // the prometheus-adapter overlay: see Overlay_HpaMetric_IsServedByThePrometheusAdapterRule
        }

        await using var app = BuildService(SenderName, k8s.Environment(overlay, SenderName));
        var keys = new QueueKeys(Options<QueueOptions>(app).Name);
        var triggers = scaledObject.GetProperty("spec").GetProperty("triggers").EnumerateArray().ToList();

        Assert.Equal(
            new[] { (string)keys.ReadyHigh!, (string)keys.ReadyNormal!, (string)keys.ReadyLow! }.Order(StringComparer.Ordinal),
            triggers.Select(t => t.GetProperty("metadata").GetProperty("listName").GetString()!).Order(StringComparer.Ordinal));
        var formula = scaledObject.GetProperty("spec").GetProperty("advanced").GetProperty("scalingModifiers").GetProperty("formula").GetString()!;
        var authentications = k8s.Objects(overlay, "TriggerAuthentication").ToDictionary(Name);
        foreach (var trigger in triggers)
        {
            Assert.Equal("redis", trigger.GetProperty("type").GetString());
            var metadata = trigger.GetProperty("metadata").EnumerateObject().Select(p => p.Name).ToList();
            Assert.True(metadata.All(s_redisTriggerKeys.Contains), $"{overlay}: unknown Redis trigger keys {string.Join(", ", metadata.Where(m => !s_redisTriggerKeys.Contains(m)))}");
            Assert.Contains(trigger.GetProperty("name").GetString()!, formula, StringComparison.Ordinal);

            // KEDA reads its Redis credentials from a Secret the overlay generates or the operator creates.
            var authentication = authentications[trigger.GetProperty("authenticationRef").GetProperty("name").GetString()!];
            foreach (var reference in authentication.GetProperty("spec").GetProperty("secretTargetRef").EnumerateArray())
            {
                var values = k8s.SecretValues(overlay, reference.GetProperty("name").GetString()!);
                Assert.True(values?.ContainsKey(reference.GetProperty("key").GetString()!) == true, $"{overlay}: TriggerAuthentication reads a secret key nobody provides: {reference}");
            }
        }

        // One Redis for the three lists: an overlay that changes the address changes it in every trigger.
        Assert.Single(triggers.Select(t => t.GetProperty("metadata").GetProperty("address").GetString()).Distinct());

        // KEDA's operator resolves the address from its own namespace: a short service name would point elsewhere.
        Assert.All(triggers, t => Assert.EndsWith($".{Namespace(overlay)}.svc.cluster.local:6379", t.GetProperty("metadata").GetProperty("address").GetString(), StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_MaxReplicas_IsWhereTheGlobalRateLimitMakesMorePodsUseless(string overlay)
    {
        await using var app = BuildService(SenderName, k8s.Environment(overlay, SenderName));
        var limits = Options<RateLimitOptions>(app);
        var (min, max) = k8s.Objects(overlay, "ScaledObject").Select(o => (o.GetProperty("spec").GetProperty("minReplicaCount").GetInt32(), o.GetProperty("spec").GetProperty("maxReplicaCount").GetInt32()))
            .Concat(k8s.Objects(overlay, "HorizontalPodAutoscaler").Select(o => (o.GetProperty("spec").GetProperty("minReplicas").GetInt32(), o.GetProperty("spec").GetProperty("maxReplicas").GetInt32())))
            .Single();

        // Each pod is capped at PodPermitsPerSecond and all pods share GlobalPermitsPerSecond through Redis, so past
        // ceil(global / pod) replicas a new pod only waits on the shared bucket.
        Assert.True(limits.GlobalPermitsPerSecond > 0 && limits.PodPermitsPerSecond > 0, $"{overlay}: both rate limits must be set to size the autoscaler");
        Assert.Equal((int)Math.Ceiling(limits.GlobalPermitsPerSecond / limits.PodPermitsPerSecond), max);

        // Never zero: a running sender promotes due retries from the delayed set and recovers a dead pod's leases.
        Assert.InRange(min, 1, max);
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public async Task Overlay_SenderBuffer_HoldsAFewSecondsOfThePodsRateAtMost(string overlay)
    {
        // A pod sends what it leased in lease order at PodPermitsPerSecond: a `high` message leased next waits behind
        // the buffer (Prefetch) and the messages its workers hold while they wait for a permit (Workers). Production
        // kept the default Prefetch of 256 at 5 msg/s: 51 s of sends in the buffer, and a high message 35.6 s late.
        var (buffer, held) = await SenderHoldSeconds(k8s.Environment(overlay, SenderName));

        Assert.True(buffer <= MaxBufferSeconds, $"{overlay}: Prefetch is {buffer:0.#} s of the pod's rate; keep it under {MaxBufferSeconds} s (docs/configuration.md, sizing Prefetch)");
        Assert.True(held <= 2 * MaxBufferSeconds, $"{overlay}: Prefetch + Workers are {held:0.#} s of the pod's rate; keep them under {2 * MaxBufferSeconds} s");
    }

    [Fact]
    public async Task SenderHoldSeconds_ProductionWithTheDefaultPrefetch_IsTheFiftySecondsTheCheckAboveRefuses()
    {
        // The check above can fail: without its Prefetch, prod's sender buffers the default 256 messages at 5 msg/s.
        var environment = k8s.Environment("prod", SenderName);
        Assert.True(environment.Remove("Cortex__Sender__Prefetch"));

        var (buffer, held) = await SenderHoldSeconds(environment);

        Assert.Equal(256 / 5.0, buffer, 3);
        Assert.Equal((256 + 16) / 5.0, held, 3);
        Assert.True(buffer > MaxBufferSeconds);
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_Autoscaler_DoesNotScaleOnCpu(string overlay)
    {
        // components/production sizes the sender's CPU request to its rate-capped work (250m, not a core) on the
        // ground that nothing scales on CPU: a utilization target would read that request as the pod's capacity.
        var triggers = k8s.Objects(overlay, "ScaledObject").SelectMany(o => o.GetProperty("spec").GetProperty("triggers").EnumerateArray()).Select(t => t.GetProperty("type").GetString());
        var metrics = k8s.Objects(overlay, "HorizontalPodAutoscaler").SelectMany(o => o.GetProperty("spec").GetProperty("metrics").EnumerateArray()).Select(m => m.GetProperty("type").GetString());

        Assert.All(triggers, t => Assert.True(t is not ("cpu" or "memory"), $"{overlay}: a KEDA {t} trigger"));
        Assert.All(metrics, m => Assert.Equal("External", m));
    }

    [Fact]
    public async Task Overlay_HpaMetric_IsServedByThePrometheusAdapterRule()
    {
        var hpa = k8s.Find("prod-hpa", "HorizontalPodAutoscaler", SenderName);
        var metric = hpa.GetProperty("spec").GetProperty("metrics").EnumerateArray().Single();
        var external = metric.GetProperty("external").GetProperty("metric");
        var rule = k8s.Files[AdapterValues].GetProperty("rules").GetProperty("external").EnumerateArray().Single();
        await using var app = BuildService(SenderName, k8s.Environment("prod-hpa", SenderName));

        Assert.Equal("External", metric.GetProperty("type").GetString());
        Assert.Equal(rule.GetProperty("name").GetProperty("as").GetString(), external.GetProperty("name").GetString());
        Assert.Equal(Options<QueueOptions>(app).Name, external.GetProperty("selector").GetProperty("matchLabels").GetProperty("queue").GetString());

        // The rule reads the depth every sender and scheduler pod exports with the same value: max over pods first.
        // (ExportedMetricsTests checks that the services export every name these queries use.)
        var query = rule.GetProperty("metricsQuery").GetString()!;
        Assert.Equal(["cortex_queue_depth"], DeployArtifacts.MetricNamesIn(rule.GetProperty("seriesQuery").GetString()!));
        Assert.Contains("max by (queue, priority) (<<.Series>>", query, StringComparison.Ordinal);
        Assert.StartsWith("sum by (queue)", query, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_EveryObject_IsInTheOverlaysNamespace(string overlay)
    {
        // The base's namespace reaches its own objects only: prod's autoscaler, its TriggerAuthentication, the
        // ServiceMonitors and the PrometheusRule came from components and landed in kubectl's current namespace, where
        // the autoscaler found no Deployment and the monitors no Service.
        var outside = k8s.Overlays[overlay]
            .Where(o => o.GetProperty("kind").GetString() != "Namespace" && Optional(o, "metadata", "namespace")?.GetString() != Namespace(overlay))
            .Select(o => $"{o.GetProperty("kind").GetString()}/{Name(o)}")
            .ToList();

        Assert.True(outside.Count == 0, $"not in namespace {Namespace(overlay)}: {string.Join(", ", outside)}");
    }

    [Theory]
    [MemberData(nameof(OverlayNames), MemberType = typeof(KubernetesManifests))]
    public void Overlay_DisruptionBudgets_LetPodsThatAreNotReadyBeEvicted(string overlay)
    {
        // Readiness follows Redis, PostgreSQL and the gateway: in an outage every pod is unready, and under the default
        // policy a node drain waits for the outage to end.
        Assert.All(
            k8s.Objects(overlay, "PodDisruptionBudget"),
            pdb => Assert.Equal("AlwaysAllow", Optional(pdb, "spec", "unhealthyPodEvictionPolicy")?.GetString()));
    }

    [Fact]
    public async Task DevOverlay_Redis_StartsWithItsArgumentsAndKedasUserReadsOnlyTheReadyLists()
    {
        // One argument held the whole ACL rule: redis-server took it for the user's name ("Spaces not allowed in ACL
        // usernames") and exited, so nothing in the dev overlay ever ran.
        var redis = k8s.Find("dev", "Deployment", "redis");
        var args = Container(redis).GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToArray();

        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = "dev-senders" }, args);

        string[] keda = ["-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--user", "keda", "--pass", "dev-keda", "--no-auth-warning"];
        var length = await ExternalTool.RunAsync("redis-cli", [.. keda, "LLEN", "{cortex}:ready:normal"], "It comes with redis-server (`make test` installs it).");
        var other = await ExternalTool.RunAsync("redis-cli", [.. keda, "GET", "{cortex}:lease-seq"], "It comes with redis-server (`make test` installs it).");
        Assert.Equal("0", length.Output.Trim());
        Assert.Contains("NOPERM", other.Output, StringComparison.Ordinal);

        string[] producer = ["-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--user", "producer", "--pass", "dev-producer", "--no-auth-warning"];
        var push = await ExternalTool.RunAsync("redis-cli", [.. producer, "LPUSH", "{cortex}:ready:normal", "{}"], "It comes with redis-server (`make test` installs it).");
        var pop = await ExternalTool.RunAsync("redis-cli", [.. producer, "RPOP", "{cortex}:ready:normal"], "It comes with redis-server (`make test` installs it).");
        Assert.Equal("1", push.Output.Trim());
        Assert.Contains("NOPERM", pop.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DevOverlay_Redis_MaxmemoryIsSetBelowItsMemoryLimitSoNoevictionActs()
    {
        // Without maxmemory, noeviction never applies: Redis grew until the container's limit killed it.
        var redis = Container(k8s.Find("dev", "Deployment", "redis"));
        var args = redis.GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToArray();
        var limit = redis.GetProperty("resources").GetProperty("limits").GetProperty("memory").GetString()!;
        var limitBytes = long.Parse(limit[..^2], System.Globalization.CultureInfo.InvariantCulture) * limit[^2..] switch
        {
            "Mi" => 1L << 20,
            "Gi" => 1L << 30,
            _ => throw new FormatException($"the dev Redis's memory limit '{limit}' is not in Mi or Gi"),
        };

        await using var server = await RedisServer.StartAsync(new RedisSecurity { Password = "dev-senders" }, args);
        var config = await ExternalTool.RunAsync(
            "redis-cli",
            ["-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--pass", "dev-senders", "--no-auth-warning", "CONFIG", "GET", "maxmemory"],
            "It comes with redis-server (`make test` installs it).");
        var maxmemory = long.Parse(config.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);

        // A margin for what maxmemory does not count (fragmentation, Redis's own overhead).
        Assert.InRange(maxmemory, 1, limitBytes * 8 / 10);
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("k8s/README.md")]
    public void DeploySteps_ApplyTheNamespaceBeforeTheSecretsThatGoInIt(string doc)
    {
        // The steps applied the Secrets (namespace: cortex) before the overlay that creates the namespace: on a fresh
        // cluster the first apply failed with "namespaces \"cortex\" not found".
        var ns = Namespace("prod");
        Assert.All(k8s.ExampleSecrets, s => Assert.Equal(ns, s.GetProperty("metadata").GetProperty("namespace").GetString()));

        // The step applies the base's own file, so the namespace has its pod-security label from the start.
        const string namespaceFile = "k8s/base/namespace.yaml";
        var file = File.ReadAllText(DeployArtifacts.FullPath(namespaceFile));
        Assert.Contains($"name: {ns}\n", file, StringComparison.Ordinal);
        Assert.Equal("restricted", k8s.Objects("prod", "Namespace").Single().GetProperty("metadata").GetProperty("labels").GetProperty("pod-security.kubernetes.io/enforce").GetString());
        Assert.Contains("pod-security.kubernetes.io/enforce: restricted", file, StringComparison.Ordinal);

        var commands = MarkdownDoc.FencedBlocks(MarkdownDoc.Read(doc))
            .Where(b => b.Language == "bash")
            .SelectMany(b => b.Content.Split('\n'))
            .Select(l => l.Trim())
            .ToList();
        var namespaceStep = commands.FindIndex(c => c.StartsWith($"kubectl apply -f {namespaceFile}", StringComparison.Ordinal));
        var secretsStep = commands.FindIndex(c => c.StartsWith("kubectl apply -f my-cortex-secrets.yaml", StringComparison.Ordinal));
        var overlayStep = commands.FindIndex(c => c.StartsWith("kubectl apply -k k8s/overlays/prod", StringComparison.Ordinal));

        Assert.True(secretsStep >= 0 && overlayStep > secretsStep, $"{doc}: the Secrets are applied before the overlay that reads them");
        Assert.True(namespaceStep >= 0 && namespaceStep < secretsStep, $"{doc}: `kubectl apply -f {namespaceFile}` must come before the Secrets are applied into it");
    }

    [Fact]
    public void ExampleSecrets_PostgresVerifiesTheServersCertificate_AndRedisKeepsItsPasswordApart()
    {
        // SSL Mode=Require encrypts with Npgsql 10 but checks no certificate: anyone on the path could pose as PostgreSQL.
        var secrets = k8s.ExampleSecrets.Single(s => Name(s) == "cortex-secrets").GetProperty("stringData");
        var postgres = new Npgsql.NpgsqlConnectionStringBuilder(secrets.GetProperty("postgres-connection-string").GetString());
        var redis = secrets.GetProperty("redis-configuration").GetString()!;

        Assert.Equal(Npgsql.SslMode.VerifyFull, postgres.SslMode);
        Assert.DoesNotContain("password=", redis, StringComparison.OrdinalIgnoreCase);
        Assert.False(string.IsNullOrEmpty(secrets.GetProperty("redis-password").GetString()));
    }

    [Fact]
    public void ExampleSecrets_HoldEveryKeyTheDeploymentsRead()
    {
        var example = k8s.ExampleSecrets.ToDictionary(Name, s => s.GetProperty("stringData").EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal));
        foreach (var (overlay, objects) in k8s.Overlays)
        {
            foreach (var deployment in objects.Where(o => o.GetProperty("kind").GetString() == "Deployment" && Name(o).StartsWith("cortex-", StringComparison.Ordinal)))
            {
                foreach (var reference in (Optional(Container(deployment), "env")?.EnumerateArray() ?? Enumerable.Empty<JsonElement>())
                    .Select(e => Optional(e, "valueFrom", "secretKeyRef")).OfType<JsonElement>())
                {
                    var secret = reference.GetProperty("name").GetString()!;
                    Assert.True(example.TryGetValue(secret, out var keys) && keys.Contains(reference.GetProperty("key").GetString()!), $"{overlay}/{Name(deployment)} reads {reference}, which {SecretsExample} does not show");
                }
            }
        }
    }

    /// <summary>A few seconds of the pod's rate: what a high-priority message may wait behind the pod's buffer.</summary>
    private const double MaxBufferSeconds = 5;

    /// <summary>The sender's buffer (Prefetch) and all it holds leased (Prefetch + Workers), in seconds of its pod rate.</summary>
    private static async Task<(double Buffer, double Held)> SenderHoldSeconds(IReadOnlyDictionary<string, string?> environment)
    {
        await using var app = BuildService(SenderName, environment);
        var rate = Options<RateLimitOptions>(app).PodPermitsPerSecond;
        var sender = Options<SenderOptions>(app);
        Assert.True(rate > 0, "the sender has no PodPermitsPerSecond: its buffer cannot be sized against its rate");
        return (sender.Prefetch / rate, (sender.Prefetch + sender.Workers) / rate);
    }

    /// <summary>
    /// Renders an overlay's kustomization.yaml as edited (<paramref name="lines"/>) with <c>kubectl kustomize</c>, from a
    /// copy two levels under k8s/ as the overlays are, so its relative paths hold (kustomize refuses absolute ones); not
    /// under k8s/overlays, which the validator renders. The copy is deleted afterwards.
    /// </summary>
    private static async Task<string> RenderEditedCopy(string overlay, IEnumerable<string> lines)
    {
        var copy = DeployArtifacts.FullPath($"k8s/.test-{Guid.NewGuid():N}/{overlay}");
        Directory.CreateDirectory(copy);
        try
        {
            await File.WriteAllLinesAsync(Path.Combine(copy, "kustomization.yaml"), lines);
            var rendered = await ExternalTool.RunAsync("kubectl", ["kustomize", copy], "The machine image ships kubectl (scripts/ensure-tools.sh kubectl).");
            Assert.True(rendered.ExitCode == 0, rendered.ToString());
            return rendered.Output;
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(copy)!, recursive: true);
        }
    }

    private string Namespace(string overlay) => Name(k8s.Objects(overlay, "Namespace").Single());

    private static TimeSpan PreStop(JsonElement container)
    {
        if (Optional(container, "lifecycle", "preStop") is not { } preStop)
        {
            return TimeSpan.Zero;
        }

        // Only the sleep action has a duration the test can add up; an exec hook's could be anything.
        Assert.True(Optional(preStop, "sleep", "seconds") is not null, $"a preStop hook other than sleep: {preStop}");
        return TimeSpan.FromSeconds(preStop.GetProperty("sleep").GetProperty("seconds").GetInt32());
    }

    private static int ContainerPort(JsonElement container, JsonElement port)
    {
        if (port.ValueKind == JsonValueKind.Number)
        {
            return port.GetInt32();
        }

        var named = container.GetProperty("ports").EnumerateArray().Where(p => p.GetProperty("name").GetString() == port.GetString()).ToList();
        Assert.True(named.Count == 1, $"no container port named '{port.GetString()}'");
        return named[0].GetProperty("containerPort").GetInt32();
    }

    private static void AssertSelects(JsonElement selector, JsonElement labels, string what)
    {
        Assert.True(selector.EnumerateObject().Any(), $"{what}: empty selector");
        foreach (var label in selector.EnumerateObject())
        {
            Assert.True(
                labels.TryGetProperty(label.Name, out var value) && value.GetString() == label.Value.GetString(),
                $"{what}: selector {label.Name}={label.Value.GetString()} matches no label of {labels}");
        }
    }

    private static IEnumerable<string> JobNames(string expr) =>
        JobMatcherRegex().Matches(expr).SelectMany(m => m.Groups[1].Value.Split('|'));

    [GeneratedRegex("job=~?\"([^\"]*)\"")]
    private static partial Regex JobMatcherRegex();
}
