// Validates deploy/kubernetes/*.yaml offline: each object against the Kubernetes schema of
// its apiVersion and kind (npm kubernetes-models, which embeds the OpenAPI schemas), then
// the references between them (selectors, Service ports, Secret and ConfigMap names) and
// every PYROOM_* variable against the settings table in src/base/settings.c, and that the
// pod's stop is the drain with a grace period that outlasts it.
// Exit status 0 when all is well; one line per problem otherwise.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "kubernetes");
const problems = [];
const objects = [];

for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      problems.push(`${file}: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj) objects.push({ file, obj });
  }
}

// kubernetes-models/<group>/<version> exports one class per kind.
for (const { file, obj } of objects) {
  const [group, version] = obj.apiVersion.includes("/")
    ? obj.apiVersion.split("/")
    : [null, obj.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let Model;
  try {
    Model = (await import(`${mod}/${obj.kind}`))[obj.kind];
  } catch (e) {
    problems.push(`${file}: unknown ${obj.apiVersion} ${obj.kind} (${e.message})`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${file}: ${obj.kind}/${obj.metadata?.name}: ${e.message}`);
  }
}

const find = (kind, name) => objects.find((o) => o.obj.kind === kind && o.obj.metadata.name === name);
const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
const deploy = objects.find((o) => o.obj.kind === "Deployment")?.obj;
if (!deploy) problems.push("no Deployment");
const podLabels = deploy?.spec.template.metadata.labels;
const container = deploy?.spec.template.spec.containers[0];

for (const { file, obj } of objects) {
  if (obj.kind === "Service" && !matches(obj.spec.selector, podLabels))
    problems.push(`${file}: the Service's selector matches no pod of the Deployment`);
  if (obj.kind === "Service")
    for (const p of obj.spec.ports)
      if (typeof p.targetPort === "string" && !container.ports.some((c) => c.name === p.targetPort))
        problems.push(`${file}: targetPort ${p.targetPort} is no container port`);
  if (obj.kind === "PodDisruptionBudget" && !matches(obj.spec.selector.matchLabels, podLabels))
    problems.push(`${file}: the PDB's selector matches no pod`);
  if (obj.kind === "HorizontalPodAutoscaler" && obj.spec.scaleTargetRef.name !== deploy.metadata.name)
    problems.push(`${file}: the HPA scales no Deployment of ours`);
  if (obj.kind === "Ingress")
    for (const rule of obj.spec.rules)
      for (const p of rule.http.paths) {
        const svc = find("Service", p.backend.service.name)?.obj;
        if (!svc) problems.push(`${file}: backend Service ${p.backend.service.name} not found`);
        else if (!svc.spec.ports.some((sp) => sp.name === p.backend.service.port.name || sp.port === p.backend.service.port.number))
          problems.push(`${file}: backend port not on the Service`);
      }
}

// Names the Deployment refers to.
for (const e of container?.env || []) {
  const ref = e.valueFrom?.secretKeyRef;
  if (ref) {
    const s = find("Secret", ref.name)?.obj;
    if (!s || !(ref.key in (s.stringData || s.data || {})))
      problems.push(`deployment: Secret ${ref.name} key ${ref.key} not in the example`);
  }
}
for (const f of container?.envFrom || [])
  if (f.configMapRef && !find("ConfigMap", f.configMapRef.name))
    problems.push(`deployment: ConfigMap ${f.configMapRef.name} not found`);

// Every PYROOM_* variable is a setting of `pyroom serve`.
const settings = fs.readFileSync(path.join(here, "..", "src", "base", "settings.c"), "utf8");
const known = new Set([...settings.matchAll(/\{"([a-z0-9-]+)", K_/g)].map((m) => "PYROOM_" + m[1].toUpperCase().replaceAll("-", "_")));
const vars = [
  ...Object.keys(find("ConfigMap", "pyroom")?.obj.data || {}),
  ...(container?.env || []).map((e) => e.name).filter((n) => n.startsWith("PYROOM_")),
];
for (const v of vars) if (!known.has(v)) problems.push(`${v} is not a setting (src/base/settings.c)`);

// The stop: the preStop hook is the drain, and the pod's grace outlasts it (the drain's
// grace for runs, then up to 15 s for terminals and the HTTP stop: 30 s of margin).
const pod = deploy?.spec.template.spec;
const preStop = container?.lifecycle?.preStop?.exec?.command || [];
if (!(preStop[0] || "").endsWith("/pyroom") || preStop[1] !== "drain")
  problems.push("deployment: the preStop hook is not `pyroom drain`");
const drainGrace = Number(find("ConfigMap", "pyroom")?.obj.data?.PYROOM_DRAIN_GRACE ?? 30);
if (!((pod?.terminationGracePeriodSeconds ?? 30) >= drainGrace + 30))
  problems.push(`deployment: terminationGracePeriodSeconds must be at least PYROOM_DRAIN_GRACE + 30 (${drainGrace + 30})`);

for (const p of problems) console.log("deploy: " + p);
console.log(`deploy: ${objects.length} objects checked, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
