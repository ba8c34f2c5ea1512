import { watchFile, unwatchFile } from "node:fs";
import { availableParallelism } from "node:os";
import { ConfigurationError } from "../domain/index.js";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import type { AuditRepo, ProductsRepo, RecordsRepo } from "../store/index.js";
import type { PeerTls } from "../peer/index.js";
import { createRecordGate, type RecordGate, type Refused } from "../replication/index.js";
import { createMembers, createVerifyPool, readRevocations, signingKeyFrom, type Members, type OwnershipView, type SigningKey } from "../trust/index.js";

type Config = LoadedConfig["config"];

export interface Trust {
  /** This daemon's signing key; undefined without a peer certificate (its records then go unsigned). */
  signingKey: SigningKey | undefined;
  members: Members;
  /** What this daemon knows of holders, homes and versions: the ground every ownership check stands on. */
  view: OwnershipView & { instanceVersion(instanceId: string): number };
  gate: RecordGate;
  /**
   * Takes a renewed peer certificate and key (read again on SIGHUP or when
   * the files change): checked like the first, then signing uses it; the
   * previous certificate stays this daemon's until its records are signed
   * again. Throws (changing nothing) when it is not this instance's.
   */
  rotate(next: PeerTls): boolean;
  /** Calls `fn` after the revocation list was read again. */
  onRevocationsChanged(fn: () => void): void;
  /** Writes refused records to the audit log, at most AUDIT_PER_MINUTE a minute (the metric counts them all). */
  auditRefused(refused: readonly Refused[]): void;
  close(): Promise<void>;
}

const AUDIT_PER_MINUTE = 60;

/**
 * Who this daemon trusts (docs/operating/security.md "Threat model"): its
 * own signing key, the federation's members as the CA certifies them and
 * the revocation list names them, and the gate that every replicated
 * record passes. The revocation list is read again when it changes and on
 * SIGHUP; a list that cannot be read keeps the one before.
 */
export function startTrust(o: {
  config: Config;
  peerTls: PeerTls | undefined;
  /** Without peerTls (an edge, which signs nothing): the federation CA and revocation list to check members with. */
  checkOnly?: { ca: Buffer | undefined; revocationFile: string | undefined; key: string };
  records: RecordsRepo;
  products: ProductsRepo;
  audit: AuditRepo;
  logger: Logger;
}): Trust {
  const { config, peerTls, records, products, logger: log } = o;
  const self = config.instance.id;
  let key: SigningKey | undefined;
  if (peerTls !== undefined) {
    try {
      key = signingKeyFrom(self, peerTls.cert, peerTls.key);
    } catch (e) {
      throw new ConfigurationError("peer.tls.certFile", (e as Error).message, { cause: e });
    }
  }
  /** A live view of the current key: whoever holds it signs with the newest (rotate()). */
  const signingKey: SigningKey | undefined =
    key === undefined
      ? undefined
      : {
          instanceId: self,
          get certificate() {
            return key!.certificate;
          },
          get keyId() {
            return key!.keyId;
          },
          sign: (context, data) => key!.sign(context, data),
        };
  const members = createMembers({ caPem: peerTls?.ca ?? o.checkOnly?.ca });
  const revocationFile = o.checkOnly === undefined ? config.peer.tls?.revocationFile : o.checkOnly.revocationFile;
  const revocationKey = o.checkOnly?.key ?? "peer.tls.revocationFile";
  const changed: (() => void)[] = [];
  const loadRevocations = (initial: boolean): void => {
    if (revocationFile === undefined) return;
    try {
      members.setRevocations(readRevocations(revocationFile));
      if (!initial) {
        log.warn({ path: revocationFile }, "revocation list reloaded");
        for (const fn of changed) fn();
      }
    } catch (e) {
      if (initial) throw new ConfigurationError(revocationKey, (e as Error).message, { cause: e });
      log.error({ path: revocationFile, err: (e as Error).message }, "revocation list unreadable; keeping the previous one");
    }
  };
  loadRevocations(true);
  if (key !== undefined) {
    const own = members.admit(self, [key.certificate]);
    if (!own.ok) throw new ConfigurationError("peer.tls.certFile", `this daemon's certificate is not a member's: ${own.detail}`);
  }
  for (const i of records.instances()) if (i.instanceId !== self && i.certificates.length > 0) members.admit(i.instanceId, i.certificates);

  const onHup = (): void => loadRevocations(false);
  process.on("SIGHUP", onHup);
  if (revocationFile !== undefined) watchFile(revocationFile, { interval: 1000 }, () => loadRevocations(false));

  const threads = config.replication?.verifyThreads || Math.min(8, availableParallelism());
  const verifier = createVerifyPool(config.replication === undefined ? 0 : threads);
  const view = {
    self,
    device: (pk: string, dn: string) => records.deviceHead(pk, dn),
    productHome: (pk: string) => products.get(pk)?.ownerInstanceId ?? records.product(pk)?.home,
    accountHome: (id: string) => records.account(id)?.home,
    instanceVersion: (id: string) => records.instance(id)?.version ?? 0,
  };
  const gate = createRecordGate({ members, verifier, required: () => config.replication?.signatures !== "optional", view });

  let minute = 0;
  let audited = 0;
  let skipped = 0;
  return {
    signingKey,
    members,
    view,
    gate,
    onRevocationsChanged: (fn) => void changed.push(fn),
    rotate(next) {
      if (key === undefined) return false;
      const k = signingKeyFrom(self, next.cert, next.key);
      const cas = members.certificateKeys(self, [k.certificate]);
      if (!cas.ok) {
        members.setCa(next.ca);
        const again = members.certificateKeys(self, [k.certificate]);
        if (!again.ok) throw new Error(`the new peer certificate is not a member's: ${again.detail}`);
      } else members.setCa(next.ca);
      if (k.keyId.equals(key.keyId)) return false;
      members.admit(self, [k.certificate, key.certificate]);
      key = k;
      return true;
    },
    auditRefused(refused) {
      const m = Math.floor(Date.now() / 60000);
      if (m !== minute) {
        if (skipped > 0) {
          o.audit.record({ action: "replication.refused", result: "refused", actorKind: "peer", actorAccount: "", actorAddress: "", accountId: "", detail: `${skipped} more refused records in the minute before (see iotfed_replication_refused_total)` });
        }
        minute = m;
        audited = 0;
        skipped = 0;
      }
      for (const r of refused) {
        if (audited >= AUDIT_PER_MINUTE) {
          skipped++;
          continue;
        }
        audited++;
        o.audit.record({
          action: "replication.refused",
          result: "refused",
          actorKind: "peer",
          actorAccount: "",
          actorAddress: r.signer,
          accountId: "",
          instanceId: r.signer,
          subjectId: r.key,
          detail: `${r.reason}: ${r.detail}`,
        });
      }
    },
    async close() {
      process.off("SIGHUP", onHup);
      if (revocationFile !== undefined) unwatchFile(revocationFile);
      await verifier.close();
    },
  };
}
