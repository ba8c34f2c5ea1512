import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { EMBEDDED_CONSOLE, validateConfig } from "../../internal/config/index.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const read = (p: string): string => readFileSync(`${root}${p}`, "utf8");
const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));

type K8s = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

/**
 * No cluster runs here, so the deployment files are checked for what would
 * break them: they parse, the embedded configuration is valid, and ports,
 * probes, volumes and selectors agree with it and with each other.
 */
describe("deploy files: systemd, Kubernetes, Dockerfile", () => {
  const docs = parseAllDocuments(read("deploy/k8s/iotfedd-cn-shanghai.yaml")).map((d) => d.toJS() as K8s);
  const byKind = (k: string): K8s[] => docs.filter((d) => d.kind === k);
  const cm = byKind("ConfigMap")[0]!;
  const config = validateConfig(parseAllDocuments(cm.data!["iotfedd.yaml"]!)[0]!.toJS());
  const sts = byKind("StatefulSet")[0]!;
  const pod = sts.spec.template.spec;
  const container = pod.containers[0];
  const ports = new Map<string, number>(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));

  it("the manifests parse and hold a ConfigMap, a StatefulSet of one, Services and a ServiceMonitor", () => {
    assert.deepEqual([...new Set(docs.map((d) => d.kind))].sort(), ["ConfigMap", "Service", "ServiceMonitor", "StatefulSet"]);
    assert.equal(sts.spec.replicas, 1, "one writer per instance");
  });

  it("the ConfigMap's configuration is valid and its listeners are the container's ports", () => {
    assert.equal(ports.get("admin"), portOf(config.listen.admin));
    assert.equal(ports.get("bootstrap"), portOf(config.listen.bootstrap));
    assert.equal(ports.get("metrics"), portOf(config.listen.metrics));
    assert.equal(ports.get("peer"), portOf(config.peer.listen));
    for (const l of [config.listen.admin, config.listen.bootstrap, config.listen.metrics, config.peer.listen]) assert.match(l, /^0\.0\.0\.0:/, `${l} must listen beyond loopback in a pod`);
  });

  it("probes are /healthz and /readyz on the metrics port; the grace period outlasts the drain", () => {
    assert.deepEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > config.shutdownTimeoutMs);
  });

  it("the data volume is the configured dataDir, and every file the configuration names is mounted", () => {
    const mounts: { name: string; mountPath: string }[] = container.volumeMounts;
    assert.ok(mounts.some((m) => m.name === "data" && m.mountPath === config.dataDir));
    assert.ok(sts.spec.volumeClaimTemplates.some((v: { metadata: { name: string } }) => v.metadata.name === "data"));
    const files = [config.security.sealKeyFile!, config.security.operatorTokenFile!, config.peer.tls!.caFile, config.peer.tls!.certFile, config.peer.tls!.keyFile];
    for (const f of files) assert.ok(mounts.some((m) => f.startsWith(`${m.mountPath}/`)), `${f} is under a mounted volume`);
    const volumes = new Set(pod.volumes.map((v: { name: string }) => v.name));
    for (const m of mounts) assert.ok(volumes.has(m.name) || m.name === "data", `volume ${m.name}`);
  });

  it("Services select the pod and target its named ports; the ServiceMonitor scrapes a Service's metrics port", () => {
    const podLabels = sts.spec.template.metadata.labels as Record<string, string>;
    for (const s of byKind("Service")) {
      for (const [k, v] of Object.entries(s.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v, `${s.metadata.name} selector ${k}`);
      for (const p of s.spec.ports as { targetPort: string }[]) assert.ok(ports.has(p.targetPort), `${s.metadata.name} targets ${p.targetPort}`);
    }
    const sm = byKind("ServiceMonitor")[0]!;
    const match = sm.spec.selector.matchLabels as Record<string, string>;
    const scraped = byKind("Service").filter((s) => Object.entries(match).every(([k, v]) => s.metadata.labels?.[k] === v));
    assert.equal(scraped.length, 1);
    assert.ok(scraped[0]!.spec.ports.some((p: { name: string }) => p.name === sm.spec.endpoints[0].port));
    assert.equal(sm.spec.endpoints[0].path, "/metrics");
  });

  it("the edge manifest: a Deployment of `iotfedd --role edge` with a valid configuration, ready by /readyz, scaled by an HPA, behind a Service", () => {
    const edge = parseAllDocuments(read("deploy/k8s/iotfed-edge-cn-shanghai.yaml")).map((d) => d.toJS() as K8s);
    const of = (k: string): K8s => edge.find((d) => d.kind === k)!;
    assert.deepEqual([...new Set(edge.map((d) => d.kind))].sort(), ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"]);
    const c = validateConfig(parseAllDocuments(of("ConfigMap").data!["iotfedd.yaml"]!)[0]!.toJS());
    assert.ok(c.replication !== undefined && c.edge.caFile !== undefined && c.peer.tls === undefined, "follows NATS, checks with the CA, holds no member's key");
    const dep = of("Deployment");
    const ct = dep.spec.template.spec.containers[0];
    assert.deepEqual(ct.args.slice(0, 2), ["--role", "edge"]);
    const edgePorts = new Map<string, number>(ct.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    assert.equal(edgePorts.get("bootstrap"), portOf(c.listen.bootstrap));
    assert.equal(edgePorts.get("metrics"), portOf(c.listen.metrics));
    assert.deepEqual(ct.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
    assert.ok(dep.spec.template.spec.terminationGracePeriodSeconds * 1000 > c.shutdownTimeoutMs);
    const mounts: { name: string; mountPath: string }[] = ct.volumeMounts;
    assert.ok(mounts.some((m) => m.mountPath === c.dataDir));
    for (const f of [c.edge.caFile, c.replication.certFile!, c.replication.keyFile!, c.tls.bootstrap!.certFile]) assert.ok(mounts.some((m) => f.startsWith(`${m.mountPath}/`)), `${f} is under a mounted volume`);
    assert.equal(of("HorizontalPodAutoscaler").spec.scaleTargetRef.name, dep.metadata.name);
    const svc = of("Service");
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(dep.spec.template.metadata.labels[k], v);
    assert.ok(svc.spec.ports.every((p: { targetPort: string }) => edgePorts.has(p.targetPort)));
  });

  it("the systemd unit runs the built daemon as its own user, hardened, restarting on failure but not on a configuration error", () => {
    const unit = read("deploy/systemd/iotfedd.service");
    const kv = new Map(unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    assert.match(kv.get("ExecStart")!, /\/dist\/cmd\/iotfedd\/main\.js --config \S+\.yaml$/);
    assert.equal(kv.get("User"), "iotfed");
    assert.equal(kv.get("ProtectSystem"), "strict");
    assert.equal(kv.get("NoNewPrivileges"), "yes");
    assert.equal(kv.get("Restart"), "on-failure");
    assert.equal(kv.get("RestartPreventExitStatus"), "2");
    assert.equal(kv.get("ReadWritePaths"), "/var/lib/iotfed");
    assert.ok(Number(kv.get("TimeoutStopSec")) * 1000 > validateConfig({}).shutdownTimeoutMs);
  });

  it("the Dockerfile copies paths that exist, runs as a non-root user and exposes the default ports", () => {
    const df = read("deploy/docker/Dockerfile");
    for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(/\s+/)) assert.ok(existsSync(`${root}${src}`), `COPY ${src}`);
    assert.match(df, /^USER node$/m);
    assert.match(df, /^FROM node:20/m);
    const d = validateConfig({});
    const exposed = /^EXPOSE (.+)$/m.exec(df)![1]!.split(/\s+/).map(Number).sort();
    assert.deepEqual(exposed, [portOf(d.listen.admin), portOf(d.peer.listen), portOf(d.listen.bootstrap), portOf(d.listen.metrics), portOf(EMBEDDED_CONSOLE)].sort());
    assert.match(df, /scripts\/build-web\.mjs/, "the image has the web console");
  });
});
