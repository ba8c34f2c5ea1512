import type { Endpoint, InstanceKind, InstanceRoute } from "../domain/index.js";
import type { RecordsRepo } from "../store/index.js";

/** An instance as configuration names it (this daemon, or a configured peer). */
export interface ConfiguredInstance {
  id: string;
  region: string;
  kind: InstanceKind;
  /** Where its devices connect. */
  mqtt: Endpoint;
  /** Where its peer plane listens (host:port), when known. */
  address?: string | undefined;
}

/** An instance the directory knows, from configuration or from its replicated record. */
export interface KnownInstance {
  id: string;
  region: string;
  /** Known for this daemon and configured peers; replicated records do not carry it. */
  kind: InstanceKind | undefined;
  mqtt: Endpoint;
  /** A configured peer (the peer plane can call it). */
  peer: boolean;
  /** Where its peer plane listens: configured, or as its own record says ("" when unknown). */
  peerAddress: string;
}

export type InstanceDirectory = ReturnType<typeof createInstanceDirectory>;

/**
 * The one answer to "which instance is that": this daemon, the configured
 * peers, and the instance records of the replication plane. An instance's
 * own record wins over a peer entry written by hand for the endpoint and
 * region; configuration alone says which instances are peers and their kind.
 */
export function createInstanceDirectory(opts: {
  self: ConfiguredInstance;
  peers: readonly ConfiguredInstance[];
  records: RecordsRepo;
  /** What this daemon's instance record says of it beyond its configuration: its certificates and peer address. */
  identity?: () => { certificates: Uint8Array[]; peerAddress: string };
  /**
   * A member of the federation now (its signed instance record was checked
   * against the CA and it is not revoked): such an instance, with a peer
   * address in its record, is a peer without being configured.
   */
  isMember?: (instanceId: string) => boolean;
  /** Revoked now: not a peer, even when configured. */
  isRevoked?: (instanceId: string) => boolean;
  now?: () => number;
}) {
  const { self, records } = opts;
  const now = opts.now ?? Date.now;
  const byId = new Map<string, KnownInstance>();
  const configured = new Map(opts.peers.map((p) => [p.id, p]));
  const put = (i: KnownInstance): void => void byId.set(i.id, i);
  for (const p of opts.peers) put({ ...p, peer: true, peerAddress: p.address ?? "" });
  for (const r of records.instances()) if (r.instanceId !== self.id) learnRecord(r);
  put({ ...self, peer: false, peerAddress: "" });

  function learnRecord(r: InstanceRoute): void {
    const had = byId.get(r.instanceId);
    const conf = configured.get(r.instanceId);
    const kind = conf?.kind ?? (r.kind === "" ? had?.kind : (r.kind as InstanceKind));
    put({ id: r.instanceId, region: r.regionId, kind, mqtt: { host: r.mqttHost, port: r.mqttPort }, peer: had?.peer ?? false, peerAddress: conf?.address ?? (r.peerAddress || had?.peerAddress || "") });
  }
  /** A member learned from its record, callable on the peer plane. */
  const learnedPeer = (id: string): ConfiguredInstance | undefined => {
    const k = byId.get(id);
    if (k === undefined || id === self.id || k.peerAddress === "" || k.kind === undefined || opts.isMember?.(id) !== true) return undefined;
    return { id, region: k.region, kind: k.kind, mqtt: k.mqtt, address: k.peerAddress };
  };

  return {
    self,
    /** The instance with this id, if known. */
    get(id: string): KnownInstance | undefined {
      return byId.get(id);
    },
    /** The region of an instance; "" when the instance is unknown. */
    regionOf(id: string): string {
      return byId.get(id)?.region ?? "";
    },
    /** Names an instance for people: `region/instance`, or the bare id when unknown. */
    where(id: string): string {
      const i = byId.get(id);
      return i === undefined ? id : `${i.region}/${i.id}`;
    },
    /** This daemon and its peers: the instances a job may name. */
    members(): ConfiguredInstance[] {
      return [self, ...this.peers()];
    },
    /**
     * A peer (a distribution target, a party of the peer plane): configured,
     * or a member that joined by its signed instance record (no restart).
     * A revoked one is none.
     */
    peer(id: string): ConfiguredInstance | undefined {
      if (opts.isRevoked?.(id) === true) return undefined;
      return configured.get(id) ?? learnedPeer(id);
    },
    peers(): ConfiguredInstance[] {
      const out: ConfiguredInstance[] = [];
      for (const id of byId.keys()) {
        const p = this.peer(id);
        if (p !== undefined) out.push(p);
      }
      return out;
    },
    /** Every known instance. */
    all(): KnownInstance[] {
      return [...byId.values()];
    },
    /** Takes another instance's record from the stream (this daemon's own entry is its configuration). */
    learn(r: InstanceRoute): void {
      if (r.instanceId !== self.id) learnRecord(r);
    },
    /**
     * Commits this daemon's own record when it changed (endpoint, region,
     * kind, certificates, peer address); true when it did. A new
     * certificate goes first and the one before it stays listed, so that
     * records it signed still check until they are signed again.
     */
    announceSelf(): boolean {
      const announced = records.instances().find((i) => i.instanceId === self.id);
      const id = opts.identity?.() ?? { certificates: [], peerAddress: "" };
      const current = id.certificates[0];
      const certificates =
        current === undefined ? [] : [current, ...(announced?.certificates ?? []).filter((c) => !Buffer.from(c).equals(Buffer.from(current))).slice(0, 1)];
      const same = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean => a.length === b.length && a.every((x, i) => Buffer.from(x).equals(Buffer.from(b[i]!)));
      if (
        announced !== undefined &&
        announced.mqttHost === self.mqtt.host &&
        announced.mqttPort === self.mqtt.port &&
        announced.regionId === self.region &&
        announced.kind === self.kind &&
        announced.peerAddress === id.peerAddress &&
        (current === undefined || Buffer.from(announced.certificates[0] ?? []).equals(Buffer.from(current)))
      ) {
        return false;
      }
      const t = now();
      return records.commitOne({
        kind: "instance",
        route: {
          instanceId: self.id,
          regionId: self.region,
          mqttHost: self.mqtt.host,
          mqttPort: self.mqtt.port,
          version: Math.max(t, (announced?.version ?? 0) + 1),
          certificates: same(certificates, announced?.certificates ?? []) ? (announced?.certificates ?? []) : certificates,
          peerAddress: id.peerAddress,
          kind: self.kind,
          committedAt: t,
        },
      });
    },
  };
}
