import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { PeerService } from "../gen/iotfed/v1/peer_pb.js";
import { createCallRunner, serviceDefinition, unaryImplementation } from "../rpc/index.js";
import {
  InvalidArgumentError,
  PermissionDeniedError,
  PreconditionError,
  checkAccountId,
  checkAuthCode,
  checkDeviceName,
  checkProductKey,
  UnavailableError,
  type DeviceCertificate,
  type DeviceRelease,
  type Endpoint,
  type HandoffOutcome,
  type Product,
  type ProductBundle,
} from "../domain/index.js";
import { checkBundle, judgeHolding, keyIdOf, releaseProofs, releaseRoot, RELEASE_ROOT_CONTEXT, verifySigned, type Members, type OwnershipView, type SigningKey } from "../trust/index.js";
import { redeemRefusal, type AccountsRepo, type AuditEntry, type AuditRepo, type AuthCodesRepo, type HandoffApplier, type ProductsRepo } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ReplicationStateSchema } from "../gen/iotfed/v1/replication_pb.js";
import type { Logger } from "../log/index.js";
import { bundleFromWire, certFromWire } from "./convert.js";
import { certificateName } from "./tls.js";

export interface PeerContext {
  /** The caller's instance id, from its verified certificate. */
  peerId: string;
  /** The caller's network address. */
  address: string;
  /** The certificate it presented (DER), which the TLS handshake checked against the federation CA. */
  certificate: Buffer;
}

/** Where a nearest-strategy device is after a placement request (PlaceDevice). */
export interface PlaceResult {
  result: "moved" | "pending" | "refused" | "unreachable";
  holder: string;
  generation: number;
  message: string;
}

export interface PeerServerOptions {
  self: string;
  /** This daemon's replication now (DescribeReplication). */
  replication: () => MessageInitShape<typeof ReplicationStateSchema>;
  endpoint: Endpoint;
  /** Whether an instance is a peer: configured, or a member that joined by its signed record. */
  isPeer: (instanceId: string) => boolean;
  applier: HandoffApplier;
  products: ProductsRepo;
  maxDevicesPerCall: number;
  /** Moves a nearest-strategy device held here to `target` (R3), waiting at most `waitMs`. */
  place: (productKey: string, deviceName: string, target: string, waitMs: number) => Promise<PlaceResult>;
  /** Longest wait a caller may ask PlaceDevice for. */
  maxPlaceWaitMs: number;
  /** The account directory (cross-account targets must be in it). */
  accounts: AccountsRepo;
  /** Authorization codes this daemon issues to its accounts (R4). */
  authCodes: AuthCodesRepo;
  audit: AuditRepo;
  /** Delivers a new code to its account (its NATS subject); never to the requester. */
  codeIssued: (e: { codeId: string; code: string; requesterAccountId: string; requesterAccountName: string; targetAccountId: string; expiresAt: number }) => void;
  /**
   * Runs a distribution-job call of the admin API forwarded by a peer for an
   * account it authenticated (admin/forward.ts), with this daemon's own checks.
   */
  forwardedJobCall: (peerId: string, accountId: string, method: string, request: Uint8Array, requesterAddress: string) => Promise<Uint8Array>;
  /** This daemon's key: it signs its acceptance of the releases it is confirmed (docs/operating/security.md). */
  signingKey: SigningKey | undefined;
  /**
   * What this daemon knows of device holders and product homes (internal/
   * trust/ownership.ts); a Handoff takes a device only from its holder.
   */
  ownership: OwnershipView;
  /** A product's route as its owner signed it (its account and home), if replicated here. */
  productRoute: (productKey: string) => { accountId: string; home: string; version: number; candidates: string[] } | undefined;
  /**
   * Replication is on: a product's route is expected here before its first
   * handoff. Without it the caller's bundle is all there is to go by.
   */
  replicated: boolean;
  /** The federation's members: a caller must be one (revoked ones are refused). */
  members: Members;
  /**
   * A confirm must carry the source's signed release (replication.signatures
   * = required); otherwise one without is taken and its routes carry none.
   */
  releasesRequired: () => boolean;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The release a source signed for the devices it confirms (docs/operating/
 * security.md): checked with the key of the certificate the caller
 * presented; each device's proof (its leaf path) is what its route keeps.
 */
function releasesOf(
  ctx: PeerContext,
  self: SigningKey,
  productKey: string,
  /** The account the devices went to here: the one their product copy belongs to. */
  account: string,
  refs: readonly { deviceName: string; generation: number }[],
  nearest: boolean,
  release: { keyId: Uint8Array; rootSignature: Uint8Array } | undefined,
  required: boolean,
): DeviceRelease[] | undefined {
  if (release === undefined) {
    if (required) throw new InvalidArgumentError("release", `is required: ${ctx.peerId} must sign the release of the devices it confirms (replication.signatures = required)`);
    return undefined;
  }
  if (!keyIdOf(ctx.certificate).equals(Buffer.from(release.keyId))) throw new PermissionDeniedError(`the release is signed with a key other than the certificate ${ctx.peerId} presented`, { field: "release.key_id" });
  const { root, proofs } = releaseProofs(ctx.peerId, { productKey, to: self.instanceId, account, nearest }, refs, release, self);
  if (!verifySigned(new X509Certificate(ctx.certificate).publicKey, RELEASE_ROOT_CONTEXT, root, release.rootSignature)) {
    throw new PermissionDeniedError(`the release signature of ${ctx.peerId} does not check for these devices`, { field: "release.root_signature" });
  }
  return proofs;
}

/**
 * The peer plane's server (ARCHITECTURE.md "The handoff", step 3). The
 * caller is whoever its client certificate names; a certificate from
 * another CA never gets here (the TLS handshake fails), and a name that is
 * not a configured peer is refused before anything is read.
 */
/** The (device, generation) list of a confirm or fence, checked. */
function handoffRefs(devices: readonly { deviceName: string; generation: bigint }[], max: number): { deviceName: string; generation: number }[] {
  if (devices.length > max) throw new InvalidArgumentError("devices", `holds ${devices.length} devices; at most ${max} per call`, { rule: "R1" });
  return devices.map((d, i) => {
    checkDeviceName(d.deviceName, `devices[${i}].device_name`);
    if (d.generation < 1n || d.generation >= 2n ** 53n) throw new InvalidArgumentError(`devices[${i}].generation`, "must be at least 1");
    return { deviceName: d.deviceName, generation: Number(d.generation) };
  });
}

export function createPeerServer(opts: PeerServerOptions): grpc.Server {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    // A peer's calls in flight on one connection: jobs (4 at a time) and placements.
    "grpc.max_concurrent_streams": 256,
    // Connections a peer stopped using are closed (it reconnects on demand).
    "grpc.max_connection_idle_ms": 15 * 60 * 1000,
  });
  const { metrics, logger } = opts;
  /** A cross-account action a peer asked for, in the audit log: the peer instance and the address it named. */
  const audit = (ctx: PeerContext, requesterAddress: string, e: Omit<AuditEntry, "actorKind" | "actorAddress">): void =>
    opts.audit.record({ ...e, actorKind: "peer", actorAddress: `${ctx.peerId} ${requesterAddress || ctx.address}` });
  /**
   * A copy is made or updated only as its owner signed the bundle (docs/
   * operating/security.md "Product bundles"): a forwarder relays, never
   * changes. A product owned here is never changed by a peer at all.
   */
  const ownerSigned = (ctx: PeerContext, product: ProductBundle, local: Product | undefined, jobId: string): void => {
    if (opts.signingKey === undefined || local?.ownerInstanceId === opts.self) return;
    const c = checkBundle(opts.members, product);
    if (c.ok) return;
    if (c.reason === "unsigned" && !opts.releasesRequired()) {
      metrics.replicationUnverified.inc({ kind: "bundle", reason: "unsigned" });
      return;
    }
    metrics.peerRefused.inc({ reason: "forged_bundle" });
    audit(ctx, "", { action: "handoff.received", result: "refused", actorAccount: product.accountId, accountId: local?.accountId ?? product.accountId, productKey: product.productKey, instanceId: opts.self, subjectId: jobId, detail: `${c.reason}: ${c.detail}` });
    logger.warn({ from: ctx.peerId, product: product.productKey, reason: c.reason, job: jobId }, "a product bundle not as its owner signed it was refused");
    throw new PermissionDeniedError(`${c.detail} (${c.reason}); a copy is taken only as its owner signed it`, { field: "product.owner_signature" });
  };
  /**
   * Whether the caller holds a device it hands off (internal/trust/
   * ownership.ts judgeHolding): undefined when it does, else why not.
   * Release roots are checked once per call.
   */
  const holdingCheck = (ctx: PeerContext, productKey: string, bundleOwner: string) => {
    const roots = new Map<string, boolean>();
    // One product per call: its home is looked up once. Without replication the bundle's owner is all there is to go by.
    const home = opts.ownership.productHome(productKey) ?? (opts.replicated ? undefined : bundleOwner);
    const view: OwnershipView = { ...opts.ownership, productHome: (pk) => (pk === productKey ? home : opts.ownership.productHome(pk)) };
    return (d: DeviceCertificate): string | undefined => {
      let checked: boolean | undefined;
      const a = d.acquired;
      if (a !== undefined) {
        const root = releaseRoot(productKey, d.deviceName, ctx.peerId, a);
        const key = opts.members.key(a.from, a.keyId);
        const name = `${a.from}/${Buffer.from(a.keyId).toString("hex")}/${root?.toString("hex")}/${Buffer.from(a.rootSignature).toString("hex")}`;
        checked = roots.get(name);
        if (checked === undefined) {
          // Without the replication plane this daemon learns no member's keys: the caller is all it has to go by.
          checked = root !== undefined && (key === undefined ? !opts.replicated : verifySigned(key, RELEASE_ROOT_CONTEXT, root, a.rootSignature));
          roots.set(name, checked);
        }
      }
      const why = judgeHolding(productKey, d.deviceName, ctx.peerId, d.generation - 1, a, checked, view);
      if (why === undefined) return undefined;
      if (why === "stale") return `device ${productKey}/${d.deviceName} has moved on past generation ${d.generation - 1}: ${ctx.peerId} no longer holds it`;
      return `device ${productKey}/${d.deviceName}: ${ctx.peerId} is not its holder (${why}); a device is taken only from its holder, with the release it got it by`;
    };
  };
  server.addService(
    serviceDefinition(PeerService),
    unaryImplementation<(typeof PeerService)["method"], PeerContext>(
      PeerService,
      {
        handoff(req, ctx) {
          const end = metrics.handoffDuration.startTimer({ direction: "in" });
          if (req.jobId === "") throw new InvalidArgumentError("job_id", "is required");
          if (req.devices.length > opts.maxDevicesPerCall) {
            throw new InvalidArgumentError("devices", `holds ${req.devices.length} devices; at most ${opts.maxDevicesPerCall} per call`, { rule: "R1" });
          }
          const product = bundleFromWire(req.product);
          const devices = req.devices.map(certFromWire);
          if (req.strategy !== "" && req.strategy !== "specified" && req.strategy !== "nearest") throw new InvalidArgumentError("strategy", "must be specified or nearest");
          // The bundle's owner is the product's, as its owner signed it; and the account it
          // names — which decides whether the move is cross-account and needs a code (R4) —
          // is the owner's own when the owner sends it, else the one the devices' releases
          // name (a copy's devices went to an account, and the releases say which).
          const route = opts.productRoute(product.productKey);
          const local = opts.products.get(product.productKey);
          const forgedAccount = (why: string): PermissionDeniedError => {
            audit(ctx, "", { action: "handoff.received", result: "refused", actorAccount: product.accountId, accountId: route?.accountId ?? product.accountId, productKey: product.productKey, instanceId: opts.self, subjectId: req.jobId, detail: why });
            metrics.peerRefused.inc({ reason: "forged_bundle" });
            return new PermissionDeniedError(`R4: ${why}`, { field: "product.account_id", rule: "R4" });
          };
          if (route === undefined && opts.replicated && local === undefined) {
            throw new UnavailableError(`product ${product.productKey} has no route here yet (replication); the handoff is retried`);
          }
          ownerSigned(ctx, product, local, req.jobId);
          const targetAccount = req.targetAccountId === "" ? product.accountId : req.targetAccountId;
          if (route !== undefined) {
            if (route.home !== product.ownerInstanceId) throw forgedAccount(`product ${product.productKey} is owned by ${route.home}, not ${product.ownerInstanceId} as ${ctx.peerId}'s bundle says`);
            if (ctx.peerId === route.home && product.accountId !== route.accountId) {
              throw forgedAccount(`product ${product.productKey} belongs to account ${route.accountId} at its owner, not ${product.accountId} as ${ctx.peerId}'s bundle says`);
            }
            const named = devices.find((d) => d.acquired !== undefined && d.acquired.account !== product.accountId);
            if (named !== undefined) throw forgedAccount(`device ${product.productKey}/${named.deviceName} went to account ${named.acquired!.account} at ${ctx.peerId}, not ${product.accountId} as its bundle says`);
            const proven = ctx.peerId === route.home || product.accountId === route.accountId || devices.some((d) => d.acquired !== undefined) || local?.accountId === product.accountId;
            if (!proven && targetAccount === product.accountId && opts.releasesRequired()) throw forgedAccount(`nothing shows that product ${product.productKey} belongs to account ${product.accountId} at ${ctx.peerId}`);
          }
          const crossAccount = targetAccount !== product.accountId;
          if (crossAccount) {
            // R4: the target verifies that this job redeemed a code of the receiving account here.
            checkAccountId(targetAccount, "target_account_id");
            if (!opts.authCodes.redeemedFor(req.jobId, ctx.peerId, product.accountId, targetAccount, product.productKey)) {
              audit(ctx, "", { action: "handoff.received", result: "refused", actorAccount: product.accountId, accountId: product.accountId, otherAccount: targetAccount, productKey: product.productKey, instanceId: opts.self, subjectId: req.jobId, detail: "no authorization code redeemed for the job" });
              throw new PermissionDeniedError(`R4: cross-account job ${req.jobId} from ${ctx.peerId} redeemed no authorization code of account ${targetAccount} here`, { field: "target_account_id", rule: "R4" });
            }
          }
          // A device only from its holder: what this daemon knows of it, or the proof the caller sends.
          const held = holdingCheck(ctx, product.productKey, product.ownerInstanceId);
          const refusedHere = new Map<string, HandoffOutcome>();
          for (const d of devices) {
            const why = held(d);
            if (why !== undefined) refusedHere.set(d.deviceName, { deviceName: d.deviceName, generation: d.generation, accepted: false, errorCode: "PERMISSION_DENIED", errorMessage: why });
          }
          if (refusedHere.size > 0) {
            metrics.peerRefused.inc({ reason: "not_holder" }, refusedHere.size);
            logger.warn({ job: req.jobId, from: ctx.peerId, product: product.productKey, refused: refusedHere.size, first: [...refusedHere.values()][0]!.errorMessage }, "handoff: devices refused, the caller does not hold them");
            audit(ctx, "", { action: "handoff.received", result: "refused", actorAccount: product.accountId, accountId: product.accountId, productKey: product.productKey, instanceId: opts.self, subjectId: req.jobId, detail: `${refusedHere.size} devices the caller does not hold` });
          }
          // Only the owner, or the instance a copy came from, brings a copy here up to a
          // version — and never past the version its owner published.
          const updateCopy =
            (local === undefined || ctx.peerId === local.ownerInstanceId || ctx.peerId === local.receivedFrom) && (route === undefined || product.version <= route.version);
          if (!updateCopy && local !== undefined && product.version > local.version) {
            logger.warn({ job: req.jobId, from: ctx.peerId, product: product.productKey, version: product.version, routeVersion: route?.version }, "handoff: the caller may not update this product copy; its devices are taken, the copy stays");
          }
          const taken = opts.applier.apply({ jobId: req.jobId, sourceInstance: ctx.peerId, product, devices: devices.filter((d) => !refusedHere.has(d.deviceName)), nearest: req.strategy === "nearest", targetAccount, updateCopy });
          const productVersion = taken.productVersion;
          const byName = new Map(taken.outcomes.map((o) => [o.deviceName, o]));
          const outcomes = devices.map((d) => refusedHere.get(d.deviceName) ?? byName.get(d.deviceName)!);
          if (crossAccount) {
            audit(ctx, "", { action: "handoff.received", result: "ok", actorAccount: product.accountId, accountId: product.accountId, otherAccount: targetAccount, productKey: product.productKey, instanceId: opts.self, subjectId: req.jobId, detail: `${outcomes.filter((o) => o.accepted).length} of ${devices.length} devices accepted` });
          }
          for (const o of outcomes) metrics.handoffDevices.inc({ direction: "in", result: o.accepted ? "accepted" : "refused" });
          end();
          logger.info({ job: req.jobId, from: ctx.peerId, product: product.productKey, devices: devices.length, accepted: outcomes.filter((o) => o.accepted).length }, "handoff applied");
          return {
            outcomes: outcomes.map((o) => ({ ...o, generation: BigInt(o.generation) })),
            mqttHost: opts.endpoint.host,
            mqttPort: opts.endpoint.port,
            productVersion: BigInt(productVersion),
          };
        },
        syncProduct(req, ctx) {
          const product = bundleFromWire(req.product);
          const local = opts.products.get(product.productKey);
          if (local === undefined) throw new PreconditionError(`product ${product.productKey} has no copy here`, { field: "product.product_key" });
          if (ctx.peerId !== local.receivedFrom && ctx.peerId !== local.ownerInstanceId) {
            throw new PermissionDeniedError(`${ctx.peerId} neither owns product ${product.productKey} nor sent it here`);
          }
          ownerSigned(ctx, product, local, "");
          const r = opts.applier.sync(product, ctx.peerId);
          return { applied: r.applied, version: BigInt(r.version) };
        },
        issueAuthCode(req, ctx) {
          const requester = checkAccountId(req.requesterAccountId, "requester_account_id");
          const target = checkAccountId(req.targetAccountId, "target_account_id");
          if (requester === target) throw new InvalidArgumentError("target_account_id", "is the requester's own account: same-account distribution needs no code");
          if (opts.accounts.get(target) === undefined) {
            throw new PreconditionError(`account ${target} is not in the account directory of ${opts.self}`, { field: "target_account_id" });
          }
          // The name shown with the code is the account directory's (replicated, signed by the
          // account's home), never the caller's word for it.
          const requesterAccount = opts.accounts.get(requester);
          if (requesterAccount === undefined) {
            throw new PreconditionError(`account ${requester} is not in the account directory of ${opts.self}: a code names a known requester`, { field: "requester_account_id" });
          }
          const requesterName = requesterAccount.accountName;
          const issued = opts.authCodes.issue({ requesterAccount: requester, requesterName, requesterPeer: ctx.peerId, targetAccount: target });
          audit(ctx, req.requesterAddress, { action: "authcode.issued", result: "ok", actorAccount: requester, accountId: requester, otherAccount: target, instanceId: opts.self, subjectId: issued.codeId });
          metrics.authCodes.inc({ result: "issued" });
          opts.codeIssued({ codeId: issued.codeId, code: issued.code, requesterAccountId: requester, requesterAccountName: requesterName, targetAccountId: target, expiresAt: issued.expiresAt });
          logger.info({ code: issued.codeId, requester, target, from: ctx.peerId }, "authorization code issued");
          return { codeId: issued.codeId, expireTimeMs: BigInt(issued.expiresAt) };
        },
        redeemAuthCode(req, ctx) {
          const code = checkAuthCode(req.code);
          const requester = checkAccountId(req.requesterAccountId, "requester_account_id");
          const target = checkAccountId(req.targetAccountId, "target_account_id");
          if (req.jobId === "") throw new InvalidArgumentError("job_id", "is required");
          checkProductKey(req.productKey);
          const o = opts.authCodes.redeem({ code, requesterAccount: requester, targetAccount: target, jobId: req.jobId, productKey: req.productKey, callerPeer: ctx.peerId });
          if (!o.ok) {
            audit(ctx, req.requesterAddress, { action: "authcode.refused", result: "refused", actorAccount: requester, accountId: requester, otherAccount: target, productKey: req.productKey, instanceId: opts.self, subjectId: o.codeId || req.jobId, detail: `${o.reason}: ${o.message}` });
            metrics.authCodes.inc({ result: o.reason === "used" ? "used_before" : o.reason });
            throw redeemRefusal(o);
          }
          if (!o.again) {
            audit(ctx, req.requesterAddress, { action: "authcode.used", result: "ok", actorAccount: requester, accountId: requester, otherAccount: target, productKey: req.productKey, instanceId: opts.self, subjectId: o.codeId, detail: `job ${req.jobId}` });
            metrics.authCodes.inc({ result: "used" });
          }
          return { codeId: o.codeId };
        },
        confirmHandoff(req, ctx) {
          if (req.jobId === "") throw new InvalidArgumentError("job_id", "is required");
          checkProductKey(req.productKey);
          // Only the instance a device came from may release it (checked per device by the store).
          const refs = handoffRefs(req.devices, opts.maxDevicesPerCall);
          const account = opts.products.get(req.productKey)?.accountId ?? "";
          const proofs = opts.signingKey === undefined ? undefined : releasesOf(ctx, opts.signingKey, req.productKey, account, refs, req.nearest, req.release, opts.releasesRequired());
          if (opts.signingKey !== undefined && proofs === undefined) metrics.replicationUnverified.inc({ kind: "confirm", reason: "no_release" }, refs.length);
          const confirmed = opts.applier.confirm(req.jobId, req.productKey, ctx.peerId, refs, req.nearest, proofs);
          if (confirmed > 0) logger.info({ job: req.jobId, from: ctx.peerId, product: req.productKey, devices: confirmed }, "handoff confirmed: the devices sign in here now");
          return { confirmed };
        },
        fenceHandoff(req, ctx) {
          if (req.jobId === "") throw new InvalidArgumentError("job_id", "is required");
          checkProductKey(req.productKey);
          const refs = handoffRefs(req.devices, opts.maxDevicesPerCall);
          const foreign = refs.find((r) => {
            const from = opts.applier.appliedFrom(req.jobId, req.productKey, r.deviceName, r.generation);
            return from !== undefined && from !== ctx.peerId;
          });
          if (foreign !== undefined) throw new PermissionDeniedError(`job ${req.jobId} is not ${ctx.peerId}'s: ${foreign.deviceName} came from another instance`, { field: "job_id" });
          const accepted = opts.applier.fence(req.jobId, req.productKey, ctx.peerId, refs);
          logger.info({ job: req.jobId, from: ctx.peerId, product: req.productKey, devices: refs.length, alreadyAccepted: accepted.length }, "handoff fenced: the job's pending devices are refused here");
          return { acceptedDeviceNames: accepted };
        },
        async forwardJobCall(req, ctx) {
          const response = await opts.forwardedJobCall(ctx.peerId, req.accountId, req.method, req.request, req.requesterAddress);
          return { response };
        },
        describeReplication() {
          return { state: opts.replication() };
        },
        async placeDevice(req, ctx) {
          checkProductKey(req.productKey);
          checkDeviceName(req.deviceName);
          if (req.targetInstanceId === "") throw new InvalidArgumentError("target_instance_id", "is required");
          if (req.waitMs < 0 || req.waitMs > opts.maxPlaceWaitMs) throw new InvalidArgumentError("wait_ms", `must be 0-${opts.maxPlaceWaitMs}`);
          // The caller's role: an instance of the product's placement (its owner or a candidate, by
          // the owner's signed product route) that answered the device's bootstrap (R3).
          const route = opts.productRoute(req.productKey);
          if (route === undefined || (route.home !== ctx.peerId && !route.candidates.includes(ctx.peerId))) {
            metrics.peerRefused.inc({ reason: "not_party" });
            throw new PermissionDeniedError(`R3: ${ctx.peerId} is neither the owner nor a candidate of product ${req.productKey}; only they ask for its devices' placement`, { field: "product_key" });
          }
          const r = await opts.place(req.productKey, req.deviceName, req.targetInstanceId, req.waitMs);
          return { result: r.result, holderInstanceId: r.holder, generation: BigInt(r.generation), message: r.message };
        },
      },
      createCallRunner<PeerContext>({
        context: (call) => {
          const cert = call.getAuthContext()?.sslPeerCertificate;
          const name = certificateName(cert);
          if (name === undefined || cert === undefined) throw new PermissionDeniedError(`caller presents no certificate name; ${opts.self} knows peers by it`);
          // A member first (a revoked one is told so), then a peer of this daemon.
          const member = opts.members.checkPeer(name, cert.raw);
          if (!member.ok) {
            metrics.peerRefused.inc({ reason: member.reason });
            throw new PermissionDeniedError(`caller ${name} is not a member of the federation: ${member.detail}`);
          }
          if (!opts.isPeer(name)) {
            throw new PermissionDeniedError(`caller ${name} is not a peer of ${opts.self} (configured, or a member whose instance record arrived here)`);
          }
          return { peerId: name, address: call.getPeer(), certificate: cert.raw };
        },
        observe: (method, code) => metrics.peerRequests.inc({ method, code }),
        internalError: (method, err) => logger.error({ err, method }, "peer call failed"),
      }),
    ),
  );
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  return server;
}
