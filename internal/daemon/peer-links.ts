import { unwatchFile, watchFile } from "node:fs";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import type { RecordsRepo } from "../store/index.js";
import type { InstanceDirectory } from "../routing/index.js";
import { createPeerClients, loadPeerTls, type PeerClient, type PeerTls } from "../peer/index.js";
import { checkPrivateFile } from "./files.js";
import type { Trust } from "./trust.js";

type Config = LoadedConfig["config"];

export interface PeerLinks {
  /** One client per peer, by instance id; changes as members join, are revoked, or the certificate is renewed. */
  clients: Map<string, PeerClient>;
  /** Brings the clients up to the directory's peers (call when instance records arrive). */
  followMembers(): void;
  /** Calls `fn` with each renewed certificate and key once checked (the peer listener takes them). */
  onRenewed(fn: (t: PeerTls) => void): void;
  close(): void;
}

/**
 * This daemon's clients on the peer plane (docs/operating/security.md
 * "Membership and revocation"):
 * - configured peers, and members that joined by their signed instance
 *   record (a client at the address the record gives, no restart); a
 *   revoked member loses its client;
 * - a renewed peer certificate and key, read again when the files change
 *   and on SIGHUP: checked (a member's, the key its certificate's, 0600),
 *   then every client is made anew with it, the peer listener presents it
 *   to new connections, this daemon's instance record lists it first, and
 *   every record it owns is published again signed with it.
 */
export function startPeerLinks(o: { config: Config; peerTls: PeerTls | undefined; directory: InstanceDirectory; trust: Trust; records: RecordsRepo; logger: Logger }): PeerLinks {
  const { config, directory, trust, records, logger: log } = o;
  const timeout = config.peer.callTimeoutMs;
  let tls = o.peerTls;
  const clients: Map<string, PeerClient> = tls === undefined ? new Map<string, PeerClient>() : createPeerClients(config.peers, tls, timeout);
  const address = new Map<string, string>(config.peers.map((p) => [p.id, p.address]));
  const renewed: ((t: PeerTls) => void)[] = [];
  const connect = (id: string, at: string, with_: PeerTls): void => {
    clients.get(id)?.close();
    clients.set(id, createPeerClients([{ id, address: at }], with_, timeout).get(id)!);
    address.set(id, at);
  };

  function followMembers(): void {
    if (tls === undefined) return;
    for (const p of directory.peers()) {
      if (p.address === undefined || address.get(p.id) === p.address) continue;
      connect(p.id, p.address, tls);
      log.info({ peer: p.id, address: p.address, region: p.region }, "a member joined (its signed instance record): it is a peer now");
    }
    for (const id of [...clients.keys()]) {
      if (!trust.members.isRevoked(id)) continue;
      clients.get(id)?.close();
      clients.delete(id);
      address.delete(id);
      log.warn({ peer: id }, "a revoked member is no longer a peer");
    }
  }

  function reload(): void {
    const files = config.peer.tls;
    if (files === undefined || tls === undefined) return;
    try {
      checkPrivateFile(files.keyFile, "peer.tls.keyFile");
      const next = loadPeerTls(files);
      if (next.ca.equals(tls.ca) && next.cert.equals(tls.cert) && next.key.equals(tls.key)) return;
      const rotated = trust.rotate(next);
      tls = next;
      for (const id of [...clients.keys()]) {
        const at = address.get(id);
        if (at !== undefined) connect(id, at, next);
      }
      for (const fn of renewed) fn(next);
      if (rotated) {
        directory.announceSelf();
        const requeued = records.useSigningKey(trust.signingKey!.keyId.toString("hex"), directory.self.id);
        log.warn({ records: requeued }, "peer certificate renewed: new connections use it, and this daemon's records are published again signed with it");
      } else log.warn("peer CA or certificate files reloaded");
    } catch (e) {
      log.error({ err: (e as Error).message }, "renewed peer certificate files refused; keeping the current ones");
    }
  }

  followMembers();
  trust.onRevocationsChanged(followMembers);
  const files = config.peer.tls === undefined ? [] : [config.peer.tls.certFile, config.peer.tls.keyFile, config.peer.tls.caFile];
  if (files.length > 0) {
    process.on("SIGHUP", reload);
    for (const f of files) watchFile(f, { interval: 1000 }, reload);
  }
  let closed = false;
  return {
    clients,
    followMembers,
    onRenewed(fn) {
      renewed.push(fn);
    },
    close() {
      if (closed) return;
      closed = true;
      process.off("SIGHUP", reload);
      for (const f of files) unwatchFile(f, reload);
      for (const c of clients.values()) c.close();
    },
  };
}
