import { KNOWN_REGIONS } from "../../../internal/geo/regions.js";
import type { FederationInstance, QueryFederationResponse } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { ErrorBox, Table, fmtTime, useConsole, useLoad, useT } from "../ui.js";
import { CONTINENTS } from "../world.js";

const W = 720;
const H = 360;
/** Equirectangular: longitude and latitude to the picture's coordinates. */
const at = (region: string): { x: number; y: number } | undefined => {
  const c = KNOWN_REGIONS[region];
  return c === undefined ? undefined : { x: ((c.longitude + 180) / 360) * W, y: ((90 - c.latitude) / 180) * H };
};

/** The regions on a world frame: each instance a dot where its region is, lines from this daemon to its peers by reachability. */
function RegionMap({ fed }: { fed: QueryFederationResponse }) {
  const t = useT();
  const self = fed.instances.find((i) => i.reachability === "self");
  const selfAt = self === undefined ? undefined : at(self.regionId);
  const unplaced = fed.instances.filter((i) => at(i.regionId) === undefined);
  // Instances of one region side by side.
  const seen = new Map<string, number>();
  const place = (i: FederationInstance): { x: number; y: number } | undefined => {
    const p = at(i.regionId);
    if (p === undefined) return undefined;
    const n = seen.get(i.regionId) ?? 0;
    seen.set(i.regionId, n + 1);
    return { x: p.x + n * 14, y: p.y };
  };
  const placed = fed.instances.map((i) => ({ i, p: place(i) }));
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="map-title">
        <title id="map-title">{t("mapTitle")}</title>
        <rect x="0" y="0" width={W} height={H} class="sea" />
        {CONTINENTS.map((ring, n) => (
          <polygon key={`land${n}`} class="land" points={ring.map(([lon, lat]) => `${(((lon + 180) / 360) * W).toFixed(1)},${(((90 - lat) / 180) * H).toFixed(1)}`).join(" ")} />
        ))}
        {[-60, -30, 0, 30, 60].map((lat) => (
          <line key={`lat${lat}`} x1="0" x2={W} y1={((90 - lat) / 180) * H} y2={((90 - lat) / 180) * H} class="grid" />
        ))}
        {[-120, -60, 0, 60, 120].map((lon) => (
          <line key={`lon${lon}`} y1="0" y2={H} x1={((lon + 180) / 360) * W} x2={((lon + 180) / 360) * W} class="grid" />
        ))}
        {selfAt !== undefined &&
          placed.map(({ i, p }) =>
            p === undefined || i.reachability === "self" ? null : <line key={`l-${i.instanceId}`} x1={selfAt.x} y1={selfAt.y} x2={p.x} y2={p.y} class={`link ${i.reachability}`} />,
          )}
        {placed.map(({ i, p }) =>
          p === undefined ? null : (
            <g key={i.instanceId} class={`node ${i.reachability}`}>
              <circle cx={p.x} cy={p.y} r={i.reachability === "self" ? 8 : 6} />
              <text x={p.x + 10} y={p.y - 8}>
                {i.regionId}
              </text>
              <text x={p.x + 10} y={p.y + 6} class="small">
                {i.instanceId}
              </text>
            </g>
          ),
        )}
      </svg>
      <figcaption>
        <span class="legend self">{t("reach_self")}</span> <span class="legend reachable">{t("reach_reachable")}</span> <span class="legend unreachable">{t("reach_unreachable")}</span>{" "}
        <span class="legend not_peer">{t("reach_not_peer")}</span>
        {unplaced.length > 0 && <span> · {t("unplaced", { list: unplaced.map((i) => i.regionId).join(", ") })}</span>}
      </figcaption>
    </figure>
  );
}

export function OverviewPage() {
  const { admin, self } = useConsole();
  const t = useT();
  const { data: fed, error } = useLoad(() => admin.queryFederation({}), [admin], 3000);
  if (fed === undefined) return <ErrorBox error={error} />;
  const r = fed.replication;
  return (
    <section aria-labelledby="h-overview">
      <h1 id="h-overview">{t("overview")}</h1>
      <ErrorBox error={error} />
      <RegionMap fed={fed} />
      <div class="cards">
        <div class="card" data-card="replication">
          <h2>{t("replication")}</h2>
          {r === undefined || !r.enabled ? (
            <p>{t("replicationOff")}</p>
          ) : (
            <dl>
              <dt>{t("connected")}</dt>
              <dd>{r.connected ? t("yes") : t("no")}</dd>
              <dt>{t("lastRevision")}</dt>
              <dd data-value="revision">{String(r.lastRevision)}</dd>
              <dt>{t("behind")}</dt>
              <dd>{String(r.revisionsBehind)}</dd>
              <dt>{t("lag")}</dt>
              <dd data-value="lag">{r.lagSeconds.toFixed(1)} s</dd>
              <dt>{t("outbox")}</dt>
              <dd>{String(r.outboxRows)}</dd>
              {r.stale !== "" && (
                <>
                  <dt>{t("stale")}</dt>
                  <dd class="warn">{r.stale}</dd>
                </>
              )}
            </dl>
          )}
        </div>
        {self.operator && (
          <div class="card" data-card="routes">
            <h2>{t("routeTable")}</h2>
            <dl>
              <dt>{t("products")}</dt>
              <dd data-value="route-products">{String(fed.routeProducts)}</dd>
              <dt>{t("deviceRoutes")}</dt>
              <dd data-value="route-devices">{String(fed.routeDevices)}</dd>
            </dl>
          </div>
        )}
        {self.operator && (
          <div class="card" data-card="jobs">
            <h2>{t("jobs")}</h2>
            <dl>
              {["initializing", "running", "completed", "failed", "aborted"].map((s) => (
                <>
                  <dt>{t(`job_${s}` as never)}</dt>
                  <dd data-value={`jobs-${s}`}>{String(fed.jobsByStatus[s] ?? 0n)}</dd>
                </>
              ))}
            </dl>
          </div>
        )}
      </div>
      <Table
        caption={t("instances")}
        rows={fed.instances}
        rowKey={(i) => i.instanceId}
        cols={[
          { key: "id", title: t("instance"), cell: (i) => i.instanceId },
          { key: "region", title: t("region"), cell: (i) => i.regionId },
          { key: "kind", title: t("kind"), cell: (i) => i.kind || "—" },
          { key: "ep", title: t("endpoint"), cell: (i) => `${i.mqttHost}:${i.mqttPort}` },
          { key: "reach", title: t("reachability"), cell: (i) => <span class={`badge ${i.reachability}`}>{t(`reach_${i.reachability}` as never)}</span> },
          { key: "rev", title: t("lastRevision"), cell: (i) => <span data-value="instance-revision">{i.replication?.enabled ? String(i.replication.lastRevision) : "—"}</span> },
          {
            key: "lag",
            title: t("lag"),
            cell: (i) =>
              i.replication?.enabled ? (
                <span class={i.replication.stale !== "" ? "warn" : undefined} title={i.replication.stale || undefined}>
                  {i.replication.lagSeconds.toFixed(1)} s{i.replication.revisionsBehind > 0n ? ` (${t("behindBy", { n: String(i.replication.revisionsBehind) })})` : ""}
                </span>
              ) : (
                "—"
              ),
          },
          ...(self.operator ? [{ key: "routes", title: t("deviceRoutes"), cell: (i: FederationInstance) => String(i.deviceRoutes) }] : []),
        ]}
      />
      {self.operator && <p class="muted">{t("countedAt", { time: fmtTime(fed.routesCountedAtMs) })}</p>}
    </section>
  );
}
