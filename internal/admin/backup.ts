import { PrincipalKind } from "../gen/iotfed/v1/admin_pb.js";
import { requireOperator } from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";

/** How long QueryFederation reuses its count of device routes by holder (a scan of every route). */
const ROUTE_COUNT_TTL_MS = 60_000;
/** How long QueryFederation waits for each peer's answer. */
const PROBE_MS = 1500;

/** Who the caller is, where it is, the federation as it sees it, and the store's backup (operator only). */
export function instanceHandlers({ deps }: HandlerKit): Handlers<"whoAmI" | "backup" | "queryFederation"> {
  const self = deps.directory.self;
  let routeCount: { at: number; byHolder: Map<string, number> } | undefined;
  return {
    async queryFederation(_req, ctx) {
      // Route and job counts span every account: the operator's to see.
      const operator = ctx.principal.kind === "operator";
      const now = Date.now();
      if (operator && (routeCount === undefined || now - routeCount.at > ROUTE_COUNT_TTL_MS)) routeCount = { at: now, byHolder: deps.repos.records.routesByHolder() };
      const counted = routeCount ?? { at: 0, byHolder: new Map<string, number>() };
      const known = deps.directory.all();
      const st = deps.status();
      const ownState = st.replication;
      // Each peer's replication, asked at once; its answer also says it is reachable.
      const asked = await Promise.all(
        known.map(async (i) => {
          if (i.id === self.id) return { reachability: "self", replication: ownState };
          const p = deps.peerReplication(i.id, PROBE_MS);
          if (p === undefined) return { reachability: "not_peer", replication: undefined };
          const r = await p.catch(() => undefined);
          return r === undefined ? { reachability: "unreachable", replication: undefined } : { reachability: "reachable", replication: r.state };
        }),
      );
      return {
        selfInstanceId: self.id,
        instances: known.map((i, n) => ({
          instanceId: i.id,
          regionId: i.region,
          kind: i.kind ?? "",
          mqttHost: i.mqtt.host,
          mqttPort: i.mqtt.port,
          reachability: asked[n]!.reachability,
          replication: asked[n]!.replication,
          deviceRoutes: operator ? BigInt(counted.byHolder.get(i.id) ?? 0) : 0n,
        })),
        replication: ownState,
        routeProducts: operator ? BigInt(st.routes.products) : 0n,
        routeDevices: operator ? BigInt(st.routes.devices) : 0n,
        jobsByStatus: operator ? Object.fromEntries([...deps.repos.jobs.countByStatus()].map(([k, v]) => [k, BigInt(v)])) : {},
        routesCountedAtMs: operator ? BigInt(counted.at) : 0n,
      };
    },
    whoAmI(_req, ctx) {
      const p = ctx.principal;
      return {
        kind: p.kind === "operator" ? PrincipalKind.OPERATOR : PrincipalKind.ACCOUNT,
        accountId: p.kind === "operator" ? (p.actingFor ?? "") : p.accountId,
        regionId: self.region,
        instanceId: self.id,
      };
    },
    async backup(req, ctx) {
      requireOperator(ctx.principal);
      const name = req.name === "" ? `iotfed-${self.id}-${new Date().toISOString().replace(/[:.]/g, "-")}.db` : req.name;
      const r = await deps.backup(name);
      return { path: r.path, bytes: BigInt(r.bytes), pages: BigInt(r.pages), schemaVersion: r.schemaVersion, lastRevision: BigInt(r.lastRevision), durationMs: BigInt(r.ms) };
    },
  };
}
