import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { startFederation, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";

const deploy = (p: string): string => fileURLToPath(new URL(`../../../deploy/${p}`, import.meta.url));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string };
}

/** Metric names an expression uses (ours, and the standard process/nodejs ones). */
const namesIn = (expr: string): string[] => [...expr.matchAll(/\b((?:iotfed|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);

/**
 * The alert rules and the dashboard are built on metrics the daemon really
 * exports: each name they use is checked against /metrics of a running
 * federated daemon (peers, mutual TLS, NATS).
 */
describe("observability: alert rules and dashboard use exported metrics", function () {
  this.timeout(60000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember;
  const types = new Map<string, string>();
  let text = "";

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, { config: { replication: { servers: [nats.url] } } });
    A = fed.members[0]!;
    text = await A.daemon.metrics();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  });
  after(async () => {
    await fed?.dispose();
    await nats?.dispose();
  });

  const exported = (name: string): boolean => {
    if (types.has(name)) return true;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    return base !== name && types.get(base) === "histogram";
  };

  it("every metric in deploy/prometheus/iotfed-alerts.yml exists, and every rule has a severity and a summary", () => {
    const doc = parseYaml(readFileSync(deploy("prometheus/iotfed-alerts.yml"), "utf8")) as { groups: { name: string; rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    const wanted = ["IotfedPeerUnreachable", "IotfedReplicationLagging", "IotfedJobsFailing", "IotfedOutboxGrowing", "IotfedBootstrapErrors", "IotfedCertificateExpiring"];
    for (const w of wanted) assert.ok(rules.some((r) => r.alert === w), `rule ${w}`);
    for (const r of rules) {
      assert.ok(["page", "ticket"].includes(r.labels?.severity), `${r.alert}: severity`);
      assert.ok((r.annotations?.summary ?? "").length > 0, `${r.alert}: summary`);
      const names = namesIn(r.expr);
      assert.ok(names.length > 0, `${r.alert} uses no metric`);
      for (const n of names) assert.ok(exported(n), `${r.alert} uses ${n}, which /metrics does not export`);
    }
  });

  it("every metric in deploy/grafana/iotfed-dashboard.json exists", () => {
    const dash = JSON.parse(readFileSync(deploy("grafana/iotfed-dashboard.json"), "utf8")) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query: string }[] } };
    assert.ok(dash.panels.length >= 10);
    const exprs = [...dash.panels.flatMap((p) => p.targets.map((t) => [p.title, t.expr] as const)), ...dash.templating.list.map((v) => ["variable", v.query] as const)];
    for (const [where, e] of exprs) for (const n of namesIn(e)) assert.ok(exported(n), `${where} uses ${n}, which /metrics does not export`);
  });

  it("metric names follow Prometheus conventions: counters end in _total, histograms name their unit", () => {
    const ours = [...types].filter(([n]) => n.startsWith("iotfed_"));
    assert.ok(ours.length >= 25, `${ours.length} metrics`);
    for (const [n, t] of ours) {
      if (t === "counter") assert.match(n, /_total$/, n);
      if (t === "histogram") assert.match(n, /_(seconds|bytes)$/, n);
    }
  });

  it("exports when the peer certificates expire", () => {
    const line = text.split("\n").find((l) => l.startsWith('iotfed_tls_certificate_expiry_timestamp_seconds{cert="peer"}'));
    assert.ok(line !== undefined, "peer certificate expiry sample");
    const at = Number(line.slice(line.lastIndexOf(" ") + 1));
    assert.ok(at > Date.now() / 1000 + 86400, `expires at ${at}`);
    assert.ok(text.includes('iotfed_tls_certificate_expiry_timestamp_seconds{cert="peer_ca"}'));
  });
});
