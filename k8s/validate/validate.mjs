// Offline validation of Cortex's Kubernetes manifests, with no API server:
//   1. `kubectl kustomize` renders every overlay (YAML and kustomization errors);
//   2. each object is checked against its schema (kubernetes-models, @kubernetes-models/keda and
//      /prometheus-operator): types, required fields, enums;
//   3. each object is type-checked by the TypeScript compiler as an object literal of the model's interface, which
//      rejects any field the schema does not know (a misspelt `timeoutSecond` passes step 2 and fails here);
//   4. the PrometheusRule carries exactly the groups of deploy/prometheus/cortex-alerts.yml.
// k8s/tools/* (kustomizations applied by hand) are rendered and checked the same way.
// Prints one JSON document on stdout: { overlays: { name: [objects] }, tools: { name: [objects] }, files: { path: parsed },
// errors: [text] }, for the xUnit tests (tests/Cortex.Sender.Tests/Deploy/KubernetesManifestTests.cs) to check the
// cross-file invariants.
// Exit code 1 when there is any error. `--write-rules` regenerates components/monitoring/prometheusrule.yaml.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import ts from "typescript";
import YAML from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const k8s = dirname(here);
const repo = dirname(k8s);
const alertsFile = join(repo, "deploy", "prometheus", "cortex-alerts.yml");
const rulesFile = join(k8s, "components", "monitoring", "prometheusrule.yaml");
// YAML files that are not part of any kustomization but are applied or used by hand.
const looseManifests = ["secrets/cortex-secrets.example.yaml"];
const looseFiles = ["components/prometheus-adapter-hpa/prometheus-adapter-values.yaml"];

if (process.argv.includes("--write-rules")) {
  writeFileSync(rulesFile, prometheusRuleYaml());
  console.error(`wrote ${relative(repo, rulesFile)}`);
  process.exit(0);
}

const errors = [];
const overlays = {};
const overlaysDir = join(k8s, "overlays");
for (const name of readdirSync(overlaysDir).sort()) {
  let rendered;
  try {
    rendered = execFileSync("kubectl", ["kustomize", join(overlaysDir, name)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    errors.push(`overlays/${name}: kubectl kustomize failed: ${(e.stderr || e.message).trim()}`);
    continue;
  }
  overlays[name] = YAML.parseAllDocuments(rendered).map((d) => d.toJSON()).filter((o) => o !== null);
}

// Kustomizations applied by hand, never by an overlay (k8s/tools/cli: a pod for the cortex CLI).
const tools = {};
const toolsDir = join(k8s, "tools");
for (const name of existsSync(toolsDir) ? readdirSync(toolsDir).sort() : []) {
  let rendered;
  try {
    rendered = execFileSync("kubectl", ["kustomize", join(toolsDir, name)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    errors.push(`tools/${name}: kubectl kustomize failed: ${(e.stderr || e.message).trim()}`);
    continue;
  }
  tools[name] = YAML.parseAllDocuments(rendered).map((d) => d.toJSON()).filter((o) => o !== null);
}

const files = {};
for (const path of looseManifests) {
  files[path] = YAML.parseAllDocuments(readFileSync(join(k8s, path), "utf8")).map((d) => d.toJSON()).filter((o) => o !== null);
}
for (const path of looseFiles) {
  files[path] = YAML.parse(readFileSync(join(k8s, path), "utf8"));
}

const checked = [
  ...Object.entries(overlays).map(([name, objects]) => [`overlays/${name}`, objects]),
  ...Object.entries(tools).map(([name, objects]) => [`tools/${name}`, objects]),
  ...looseManifests.map((path) => [path, files[path]]),
];
for (const [source, objects] of checked) {
  for (const object of objects) {
    await validateSchema(source, object);
  }
}
errors.push(...unknownFields(checked));

const expectedGroups = YAML.parse(readFileSync(alertsFile, "utf8")).groups;
for (const [name, objects] of Object.entries(overlays)) {
  for (const rule of objects.filter((o) => o.kind === "PrometheusRule")) {
    if (!isDeepStrictEqual(rule.spec?.groups, expectedGroups)) {
      errors.push(`overlays/${name}: PrometheusRule ${rule.metadata.name} differs from deploy/prometheus/cortex-alerts.yml; run: node k8s/validate/validate.mjs --write-rules`);
    }
  }
}

process.stdout.write(JSON.stringify({ overlays, tools, files, errors }, null, 1) + "\n");
// exitCode, not exit(): to a pipe, stdout is written asynchronously, and exit() cut the report at 64 KiB.
process.exitCode = errors.length === 0 ? 0 : 1;

function modelModule({ apiVersion, kind }) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  switch (group) {
    case "keda.sh":
      return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
    case "monitoring.coreos.com":
      return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
    case "":
      return `kubernetes-models/${version}/${kind}`;
    default:
      return `kubernetes-models/${group}/${version}/${kind}`;
  }
}

function describe(object) {
  return `${object?.kind ?? "?"} ${object?.metadata?.name ?? "?"}`;
}

async function validateSchema(source, object) {
  if (typeof object?.apiVersion !== "string" || typeof object?.kind !== "string") {
    errors.push(`${source}: an object without apiVersion and kind`);
    return;
  }

  let model;
  try {
    model = (await import(modelModule(object)))[object.kind];
  } catch {
    errors.push(`${source}: ${describe(object)}: no schema for ${object.apiVersion} ${object.kind}`);
    return;
  }

  // kustomize folds long base64 values of a Secret's data over several lines; the API server's decoder (Go's
  // base64.StdEncoding) skips line breaks, the schema's "byte" format does not.
  if (object.kind === "Secret" && object.data) {
    object = { ...object, data: Object.fromEntries(Object.entries(object.data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, "")])) };
  }

  try {
    new model(object).validate();
  } catch (e) {
    errors.push(`${source}: ${describe(object)}: ${e.message}`);
  }
}

// Each object becomes `export const o3: IDeployment = {...};` on a line of its own in a virtual TypeScript file; an
// excess property in an object literal is a compile error, which names the field and the line, hence the object.
function unknownFields(sources) {
  const files = new Map();
  const lines = new Map();
  sources.forEach(([source, objects], s) => {
    const path = join(here, `__manifests_${s}__.ts`);
    const text = [];
    objects.forEach((object, i) => {
      if (typeof object?.kind !== "string") {
        return;
      }

      text.push(`import type { I${object.kind} as T${i} } from "${modelModule(object)}";`);
      lines.set(`${path}:${text.length}`, `${source}: ${describe(object)}`);
      text.push(`export const o${i}: T${i} = ${JSON.stringify(object)};`);
    });
    files.set(path, text.join("\n"));
  });

  const options = { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 };
  const host = ts.createCompilerHost(options);
  const fileExists = host.fileExists;
  const readFile = host.readFile;
  const getSourceFile = host.getSourceFile;
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.readFile = (f) => files.get(f) ?? readFile(f);
  host.getSourceFile = (f, language, ...rest) => files.has(f) ? ts.createSourceFile(f, files.get(f), language) : getSourceFile(f, language, ...rest);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file) {
      return `typescript: ${message}`;
    }

    const line = d.file.getLineAndCharacterOfPosition(d.start ?? 0).line;
    return `${lines.get(`${d.file.fileName}:${line}`) ?? d.file.fileName}: ${message}`;
  });
}

function prometheusRuleYaml() {
  const rule = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "cortex-alerts", labels: { release: "prometheus" } },
    spec: { groups: YAML.parse(readFileSync(alertsFile, "utf8")).groups },
  };
  return "# Generated from deploy/prometheus/cortex-alerts.yml by `node k8s/validate/validate.mjs --write-rules`: edit that\n"
    + "# file (and its promtool tests), then regenerate. The manifests' tests fail while the two differ.\n"
    + YAML.stringify(rule, { lineWidth: 0 });
}
