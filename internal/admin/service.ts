import type { AdminService} from "../gen/iotfed/v1/admin_pb.js";
import { PrincipalKind } from "../gen/iotfed/v1/admin_pb.js";
import type { UnaryService } from "../rpc/index.js";
import {
  DESCRIPTION_MAX,
  assertCanRegisterUnder,
  assertDeviceDeletable,
  assertHeldHere,
  assertProductWritable,
  assertRetryable,
  assertNearestAtHome,
  assertNotProductOnlyNearest,
  assertSameAccountNearest,
  checkCandidates,
  parseStrategy,
  IotfedError,
  PermissionDeniedError,
  RuleViolationError,
  assertGrantsAllowedHere,
  assertNoGrants,
  assertNotDistributed,
  assertPublishedForGrant,
  checkAuthCode,
  granteeRefusal,
  newJobId,
  resolveCrossAccountTarget,
  type Account,
  type DistributionRef,
  type InstanceKind,
  type KnownInstanceKind,
  type DescribeInstance,
  type JobDeviceResult,
  InvalidArgumentError,
  MAX_SCRIPT_BYTES,
  NICKNAME_MAX,
  NotFoundError,
  actingAccount,
  checkAccountId,
  checkAccountName,
  checkBatchSize,
  checkDeviceName,
  checkProductKey,
  checkProductName,
  checkTag,
  checkText,
  checkTopicShortName,
  newDeviceName,
  pageSize,
  deviceStatus,
  parseThingModel,
  requireOperator,
  type Principal,
  type Product,
  type TopicClass,
} from "../domain/index.js";
import type { AccountsRepo, AuditEntry, AuditRepo, AuthCodesRepo, BackupResult, DevicesRepo, GrantsRepo, JobsRepo, ProductsRepo, RoutesRepo } from "../store/index.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { IssueAuthCodeRequestSchema, IssueAuthCodeResponse, RedeemAuthCodeRequestSchema, RedeemAuthCodeResponse } from "../gen/iotfed/v1/peer_pb.js";
import { fromPeerError } from "../rpc/index.js";
import * as wire from "./convert.js";

/** The peer calls the admin API makes for cross-account distribution (R4). */
export interface AuthCodePeer {
  issueAuthCode(req: MessageInitShape<typeof IssueAuthCodeRequestSchema>): Promise<IssueAuthCodeResponse>;
  redeemAuthCode(req: MessageInitShape<typeof RedeemAuthCodeRequestSchema>): Promise<RedeemAuthCodeResponse>;
}

export interface AdminContext {
  principal: Principal;
  /** The client's address (for the audit log). */
  address: string;
}

export interface PeerInfo {
  id: string;
  region: string;
  kind: InstanceKind;
}

export interface AdminDeps {
  accounts: AccountsRepo;
  products: ProductsRepo;
  devices: DevicesRepo;
  jobs: JobsRepo;
  regionId: string;
  instanceId: string;
  maxDevicesPerBatch: number;
  /** The federation's other daemons (distribution targets). */
  peers: readonly PeerInfo[];
  where: DescribeInstance;
  /** Tells the job worker there is work: a job was created or retried, a product changed. */
  kickWorker: () => void;
  /** Writes a consistent copy of the store into the backup directory under `name`. */
  backup: (name: string) => Promise<BackupResult>;
  instanceKind: InstanceKind;
  /** The peer plane's client of a configured peer (undefined without peers). */
  peerClient: (instanceId: string) => AuthCodePeer | undefined;
  authCodes: AuthCodesRepo;
  grants: GrantsRepo;
  audit: AuditRepo;
  /** Replicated records (the account directory, the public pool). */
  routes: RoutesRepo;
  /** Tells the replicator a record was committed. */
  kickReplication: () => void;
  /** Instance kinds where grants are allowed (R18). */
  grantInstanceKinds: readonly InstanceKind[];
}

const SHADOW_MAX = 16 * 1024;

/**
 * The admin API: validation, ownership, then one repository call (one
 * transaction) per logical change. An account sees only what it owns; a
 * product or device of another account is reported as not found.
 */
export function createAdminService(deps: AdminDeps): UnaryService<(typeof AdminService)["method"], AdminContext> {
  const { accounts, products, devices, jobs, instanceId, where } = deps;

  const { grants, authCodes } = deps;
  /** A product the caller owns, or was granted (R15: read only). Anything else does not exist for it. */
  const visibleProduct = (ctx: AdminContext, productKey: string): { p: Product; granted: boolean } => {
    checkProductKey(productKey);
    const p = products.get(productKey);
    const account = actingAccount(ctx.principal);
    if (p !== undefined) {
      if (p.accountId === account) return { p, granted: false };
      if (grants.hasProductGrant(productKey, account)) return { p, granted: true };
    }
    throw new NotFoundError(`product ${productKey} does not exist`, { field: "product_key" });
  };
  /** A product the caller owns; a grantee is refused (R15), anyone else finds nothing. */
  const ownedProduct = (ctx: AdminContext, productKey: string): Product => {
    const v = visibleProduct(ctx, productKey);
    if (v.granted) throw granteeRefusal("change, delete, disable, distribute or grant it", productKey, actingAccount(ctx.principal));
    return v.p;
  };
  /** A device the caller owns, or was granted with its product (R15). */
  const visibleDevice = (ctx: AdminContext, productKey: string, deviceName: string) => {
    const v = visibleProduct(ctx, productKey);
    checkDeviceName(deviceName);
    if (v.granted && !grants.hasDeviceGrant(productKey, deviceName, actingAccount(ctx.principal))) {
      throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
    }
    return { d: devices.require(productKey, deviceName), granted: v.granted };
  };
  const self: KnownInstanceKind = { id: instanceId, region: deps.regionId, kind: deps.instanceKind };
  const peerKinds: KnownInstanceKind[] = deps.peers.map((p) => ({ id: p.id, region: p.region, kind: p.kind }));
  const audit = (ctx: AdminContext, e: Omit<AuditEntry, "actorKind" | "actorAccount" | "actorAddress">): void => {
    const p = ctx.principal;
    deps.audit.record({ ...e, actorKind: p.kind, actorAccount: p.kind === "account" ? p.accountId : (p.actingFor ?? ""), actorAddress: ctx.address });
  };
  /** An account of the directory by id or by name (one of them). */
  const directoryAccount = (id: string, name: string, field: string): Account => {
    if (id !== "" && name !== "") throw new InvalidArgumentError(`${field}_id`, `give ${field}_id or ${field}_name, not both`);
    if (id === "" && name === "") throw new InvalidArgumentError(`${field}_id`, `is required (or ${field}_name)`);
    const a = id !== "" ? accounts.get(checkAccountId(id, `${field}_id`)) : accounts.getByName(checkAccountName(name, `${field}_name`));
    if (a === undefined) {
      throw new NotFoundError(`account ${id || name} is not in the account directory of ${where(instanceId)}`, { field: id !== "" ? `${field}_id` : `${field}_name` });
    }
    return a;
  };
  const peerOf = (target: string): AuthCodePeer => {
    const c = deps.peerClient(target);
    if (c === undefined) throw new InvalidArgumentError("target_instance_id", `${target} is not a configured peer of ${instanceId}`);
    return c;
  };
  /** A peer's refusal, told to our caller in its own words (UNAVAILABLE when it cannot be reached). */
  const peerError = (target: string, e: unknown): Error => fromPeerError(`target ${where(target)}`, e) as Error;
  /** R12: what makes a product or device distributed, when anything does. */
  const distribution = (p: Product, device?: { placement: string; holder: string }): DistributionRef | undefined => {
    if (p.ownerInstanceId !== instanceId || p.receivedFrom !== "") return { how: "received", instanceId: p.receivedFrom || p.ownerInstanceId };
    if (p.candidates.length > 0) return { how: "nearest", instanceId };
    const lastJob = jobs.list({ accountId: p.accountId, productKey: p.productKey }, 1, "").items[0];
    const copy = products.copies(p.productKey)[0];
    if (copy !== undefined) return { how: "copy-sent", instanceId: copy.instanceId, ...(lastJob === undefined ? {} : { jobId: lastJob.jobId }) };
    if (lastJob !== undefined && (lastJob.status === "initializing" || lastJob.status === "running")) return { how: "job-active", instanceId: lastJob.targetInstance, jobId: lastJob.jobId };
    if (device?.placement === "leaving") return { how: "device-leaving", instanceId: device.holder };
    if (device?.placement === "away") return { how: "device-away", instanceId: device.holder };
    return undefined;
  };
  /**
   * R4: a cross-account job redeems its code at the target before it
   * exists; the target then accepts the job's handoffs from here only.
   */
  const crossAccountJob = async (ctx: AdminContext, p: Product, req: { targetAccountId: string; targetRegionId: string; targetInstanceId: string; authCode: string }) => {
    const receiver = directoryAccount(req.targetAccountId, "", "target_account");
    const target = resolveCrossAccountTarget(req.targetRegionId, req.targetInstanceId, self, peerKinds);
    const code = checkAuthCode(req.authCode);
    const jobId = newJobId();
    const base = { accountId: p.accountId, otherAccount: receiver.accountId, productKey: p.productKey, instanceId: target.id, subjectId: jobId };
    try {
      await peerOf(target.id).redeemAuthCode({ code, requesterAccountId: p.accountId, targetAccountId: receiver.accountId, jobId, productKey: p.productKey, requesterAddress: ctx.address });
    } catch (e) {
      const err = peerError(target.id, e);
      audit(ctx, { ...base, action: "job.created", result: "refused", detail: err.message });
      throw err;
    }
    return { jobId, receiver, target };
  };
  const crossAccountRequested = (targetAccountId: string, owner: string): boolean => targetAccountId !== "" && targetAccountId !== owner;
  /** R17: the operator, or an account another account granted a device here. */
  const poolViewer = (ctx: AdminContext): void => {
    const p = ctx.principal;
    if (p.kind === "operator" && p.actingFor === undefined) return;
    const account = actingAccount(p);
    if (!grants.receivedFromOthers(account)) {
      throw new PermissionDeniedError(
        `R17: account ${account} cannot view the public pool yet: it opens to an account once another account has granted it a device`,
        { field: "authorization", rule: "R17" },
      );
    }
  };
  const ownedTopic = (ctx: AdminContext, topicId: bigint): TopicClass => {
    if (topicId <= 0n || topicId > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError("topic_id", "must be a positive id");
    const t = products.topic(Number(topicId));
    if (t === undefined) throw new NotFoundError(`topic class ${topicId} does not exist`, { field: "topic_id" });
    ownedProduct(ctx, t.productKey);
    return t;
  };
  const ownedDevice = (ctx: AdminContext, productKey: string, deviceName: string) => {
    ownedProduct(ctx, productKey);
    checkDeviceName(deviceName);
    return devices.require(productKey, deviceName);
  };
  /** R9: only the owner instance changes a product; its copies follow (the worker syncs them). */
  const writableProduct = (ctx: AdminContext, productKey: string): Product => {
    const p = ownedProduct(ctx, productKey);
    assertProductWritable(p, instanceId, where);
    return p;
  };
  const changed = <T>(v: T): T => {
    deps.kickWorker();
    return v;
  };
  const heldDevice = (ctx: AdminContext, productKey: string, deviceName: string) => {
    const d = ownedDevice(ctx, productKey, deviceName);
    assertHeldHere(d, where);
    return d;
  };
  const target = (regionId: string, targetId: string): PeerInfo => {
    if (targetId === "") throw new InvalidArgumentError("target_instance_id", "is required");
    if (targetId === instanceId) throw new InvalidArgumentError("target_instance_id", `${targetId} is this instance; distribute to another one`);
    const peer = deps.peers.find((p) => p.id === targetId);
    if (peer === undefined) {
      throw new InvalidArgumentError("target_instance_id", `${targetId} is not a configured peer of ${instanceId} (known: ${deps.peers.map((p) => p.id).join(", ") || "none"})`);
    }
    if (regionId !== "" && regionId !== peer.region) {
      throw new InvalidArgumentError("target_region_id", `instance ${targetId} is in region ${peer.region}, not ${regionId}`);
    }
    return peer;
  };
  const regionOf = (id: string): string => (id === instanceId ? deps.regionId : (deps.peers.find((p) => p.id === id)?.region ?? ""));
  const known = [{ id: instanceId, region: deps.regionId }, ...deps.peers.map((p) => ({ id: p.id, region: p.region }))];
  const ownedJob = (ctx: AdminContext, jobId: string) => {
    if (jobId === "") throw new InvalidArgumentError("job_id", "is required");
    const j = jobs.get(jobId);
    if (j === undefined || j.accountId !== actingAccount(ctx.principal)) throw new NotFoundError(`job ${jobId} does not exist`, { field: "job_id" });
    return j;
  };

  return {
    whoAmI(_req, ctx) {
      const p = ctx.principal;
      return {
        kind: p.kind === "operator" ? PrincipalKind.OPERATOR : PrincipalKind.ACCOUNT,
        accountId: p.kind === "operator" ? (p.actingFor ?? "") : p.accountId,
        regionId: deps.regionId,
        instanceId,
      };
    },

    async backup(req, ctx) {
      requireOperator(ctx.principal);
      const name = req.name === "" ? `iotfed-${instanceId}-${new Date().toISOString().replace(/[:.]/g, "-")}.db` : req.name;
      const r = await deps.backup(name);
      return { path: r.path, bytes: BigInt(r.bytes), pages: BigInt(r.pages), schemaVersion: r.schemaVersion, lastRevision: BigInt(r.lastRevision), durationMs: BigInt(r.ms) };
    },
    createAccount(req, ctx) {
      requireOperator(ctx.principal);
      return { account: wire.accountToWire(accounts.create(checkAccountName(req.accountName))) };
    },
    queryAccountList(req, ctx) {
      requireOperator(ctx.principal);
      const page = accounts.list(pageSize(req.pageSize), req.pageToken);
      return { accounts: page.items.map(wire.accountToWire), nextPageToken: page.nextPageToken };
    },
    createAccountToken(req, ctx) {
      requireOperator(ctx.principal);
      const { token, secret } = accounts.createToken(checkAccountId(req.accountId), checkText(req.description, "description", DESCRIPTION_MAX));
      return { token: { ...token, createTimeMs: BigInt(token.createdAt), revokeTimeMs: 0n }, secret };
    },
    queryAccountTokenList(req, ctx) {
      requireOperator(ctx.principal);
      return {
        tokens: accounts.listTokens(checkAccountId(req.accountId)).map((t) => ({
          tokenId: t.tokenId,
          accountId: t.accountId,
          description: t.description,
          createTimeMs: BigInt(t.createdAt),
          revokeTimeMs: BigInt(t.revokedAt),
        })),
      };
    },
    revokeAccountToken(req, ctx) {
      requireOperator(ctx.principal);
      if (req.tokenId === "") throw new InvalidArgumentError("token_id", "is required");
      accounts.revokeToken(req.tokenId);
      return {};
    },

    createProduct(req, ctx) {
      const accountId = actingAccount(ctx.principal);
      accounts.require(accountId);
      wire.authTypeFromWire(req.authType);
      const p = products.create({
        accountId,
        productName: checkProductName(req.productName),
        nodeType: wire.nodeTypeFromWire(req.nodeType),
        dataFormat: wire.dataFormatFromWire(req.dataFormat),
        description: checkText(req.description, "description", DESCRIPTION_MAX),
        ownerInstanceId: instanceId,
      });
      return { product: wire.productToWire(p, 0) };
    },
    updateProduct(req, ctx) {
      writableProduct(ctx, req.productKey);
      const change: { productName?: string; description?: string } = {};
      if (req.productName !== undefined) change.productName = checkProductName(req.productName);
      if (req.description !== undefined) change.description = checkText(req.description, "description", DESCRIPTION_MAX);
      if (Object.keys(change).length === 0) throw new InvalidArgumentError("product_name", "nothing to change: set product_name or description");
      const p = changed(products.update(req.productKey, change));
      return { product: wire.productToWire(p, products.deviceCount(p.productKey)) };
    },
    queryProduct(req, ctx) {
      const { p } = visibleProduct(ctx, req.productKey);
      return { product: wire.productToWire(p, products.deviceCount(p.productKey)) };
    },
    queryProductList(req, ctx) {
      const page = products.listByAccount(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { products: page.items.map((p) => wire.productToWire(p, products.deviceCount(p.productKey))), nextPageToken: page.nextPageToken };
    },
    deleteProduct(req, ctx) {
      writableProduct(ctx, req.productKey);
      if (deps.routes.pool(req.productKey) !== undefined) {
        throw new RuleViolationError("R17", `product ${req.productKey} is in the public pool, which cannot be undone: it cannot be deleted`, { field: "product_key" });
      }
      grants.forgetProduct(req.productKey);
      products.delete(req.productKey);
      return {};
    },
    releaseProduct(req, ctx) {
      writableProduct(ctx, req.productKey);
      const p = changed(products.release(req.productKey));
      return { product: wire.productToWire(p, products.deviceCount(p.productKey)) };
    },

    createProductTopic(req, ctx) {
      writableProduct(ctx, req.productKey);
      const op = wire.topicOpFromWire(req.operation);
      const t = changed(products.createTopic(req.productKey, checkTopicShortName(req.topicShortName, op), op, checkText(req.description, "description", 100)));
      return { topic: wire.topicToWire(t) };
    },
    updateProductTopic(req, ctx) {
      const t = ownedTopic(ctx, req.topicId);
      writableProduct(ctx, t.productKey);
      const op = wire.topicOpFromWire(req.operation);
      const u = changed(products.updateTopic(t, checkTopicShortName(req.topicShortName, op), op, checkText(req.description, "description", 100)));
      return { topic: wire.topicToWire(u) };
    },
    deleteProductTopic(req, ctx) {
      const t = ownedTopic(ctx, req.topicId);
      writableProduct(ctx, t.productKey);
      changed(products.deleteTopic(t));
      return {};
    },
    queryProductTopic(req, ctx) {
      visibleProduct(ctx, req.productKey);
      return { topics: products.topics(req.productKey).map(wire.topicToWire) };
    },

    importThingModelTsl(req, ctx) {
      writableProduct(ctx, req.productKey);
      changed(products.setThingModel(req.productKey, parseThingModel(req.tslJson)));
      return {};
    },
    getThingModelTsl(req, ctx) {
      visibleProduct(ctx, req.productKey);
      return { tslJson: products.thingModel(req.productKey) };
    },

    createThingScript(req, ctx) {
      writableProduct(ctx, req.productKey);
      changed(products.setScript(req.productKey, wire.scriptTypeFromWire(req.scriptType), checkScript(req.scriptContent), "create"));
      return {};
    },
    updateThingScript(req, ctx) {
      writableProduct(ctx, req.productKey);
      changed(products.setScript(req.productKey, wire.scriptTypeFromWire(req.scriptType), checkScript(req.scriptContent), "update"));
      return {};
    },
    getThingScript(req, ctx) {
      visibleProduct(ctx, req.productKey);
      const s = products.script(req.productKey);
      if (s === undefined) throw new NotFoundError(`product ${req.productKey} has no script`, { field: "product_key" });
      return { scriptType: wire.scriptTypeToWire(s.scriptType), scriptContent: s.content };
    },

    registerDevice(req, ctx) {
      assertCanRegisterUnder(ownedProduct(ctx, req.productKey), instanceId, where);
      const deviceName = req.deviceName === "" ? newDeviceName() : checkDeviceName(req.deviceName);
      const { device, secret } = devices.register(req.productKey, { deviceName, nickname: checkText(req.nickname, "nickname", NICKNAME_MAX) });
      return { device: wire.deviceToWire(device, secret) };
    },
    batchRegisterDevice(req, ctx) {
      assertCanRegisterUnder(ownedProduct(ctx, req.productKey), instanceId, where);
      let names: string[];
      if (req.deviceNames.length > 0) {
        if (req.count !== 0) throw new InvalidArgumentError("count", "give device_names or count, not both");
        checkBatchSize(req.deviceNames.length, deps.maxDevicesPerBatch, "device_names");
        names = req.deviceNames;
      } else {
        checkBatchSize(req.count, deps.maxDevicesPerBatch, "count");
        names = Array.from({ length: req.count }, newDeviceName);
      }
      const results = devices.registerBatch(
        req.productKey,
        names.map((deviceName) => ({ deviceName, nickname: "" })),
        (d, i) => checkDeviceName(d.deviceName, `device_names[${i}]`),
      );
      let ok = 0;
      const out = results.map((r) => {
        if (r.ok) {
          ok++;
          return { deviceName: r.device.deviceName, success: true, device: wire.deviceToWire(r.device, r.secret) };
        }
        return { deviceName: r.deviceName, success: false, errorMessage: r.error.message, errorCode: r.error.code };
      });
      return { results: out, successCount: ok, failureCount: out.length - ok };
    },
    queryDeviceDetail(req, ctx) {
      let v: ReturnType<typeof visibleDevice>;
      if (req.iotId !== "") {
        if (req.productKey !== "" || req.deviceName !== "") throw new InvalidArgumentError("iot_id", "give iot_id or product_key and device_name, not both");
        const byId = devices.getByIotId(req.iotId);
        if (byId === undefined) throw new NotFoundError(`device ${req.iotId} does not exist`, { field: "iot_id" });
        try {
          v = visibleDevice(ctx, byId.productKey, byId.deviceName);
        } catch (e) {
          if (e instanceof NotFoundError) throw new NotFoundError(`device ${req.iotId} does not exist`, { field: "iot_id" });
          throw e;
        }
      } else v = visibleDevice(ctx, req.productKey, req.deviceName);
      const d = v.d;
      // R15: a grantee sees everything but the DeviceSecret.
      if (req.includeSecret && v.granted) throw granteeRefusal("read its DeviceSecret", d.productKey, actingAccount(ctx.principal));
      const secret = req.includeSecret ? devices.secret(d.productKey, d.deviceName) : undefined;
      return { device: wire.deviceToWire(d, secret) };
    },
    queryDevice(req, ctx) {
      const { granted } = visibleProduct(ctx, req.productKey);
      const status = wire.deviceStatusFromWire(req.status);
      const prefix = checkText(req.deviceNamePrefix, "device_name_prefix", 32);
      if (granted) {
        // A grantee lists the devices granted to it (R15).
        const page = grants.grantedDevicesPage(req.productKey, actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
        const list = page.items
          .map((dn) => devices.get(req.productKey, dn))
          .filter((d) => d !== undefined)
          .filter((d) => (status === undefined || deviceStatus(d) === status) && d.deviceName.startsWith(prefix));
        return { devices: list.map((d) => wire.deviceToWire(d)), nextPageToken: page.nextPageToken };
      }
      const page = devices.list(req.productKey, pageSize(req.pageSize), req.pageToken, {
        ...(status === undefined ? {} : { status }),
        ...(prefix === "" ? {} : { namePrefix: prefix }),
      });
      return { devices: page.items.map((d) => wire.deviceToWire(d)), nextPageToken: page.nextPageToken };
    },
    deleteDevice(req, ctx) {
      assertDeviceDeletable(ownedDevice(ctx, req.productKey, req.deviceName), instanceId, where);
      grants.forgetDevice(req.productKey, req.deviceName);
      devices.delete(req.productKey, req.deviceName);
      return {};
    },
    disableThing(req, ctx) {
      heldDevice(ctx, req.productKey, req.deviceName);
      devices.setDisabled(req.productKey, req.deviceName, true);
      return {};
    },
    enableThing(req, ctx) {
      heldDevice(ctx, req.productKey, req.deviceName);
      devices.setDisabled(req.productKey, req.deviceName, false);
      return {};
    },
    saveDeviceProp(req, ctx) {
      heldDevice(ctx, req.productKey, req.deviceName);
      if (req.props.length === 0) throw new InvalidArgumentError("props", "must hold at least one tag");
      req.props.forEach((p, i) => checkTag(p.key, p.value, i));
      devices.saveTags(req.productKey, req.deviceName, req.props.map((p) => ({ key: p.key, value: p.value })));
      return {};
    },
    queryDeviceProp(req, ctx) {
      visibleDevice(ctx, req.productKey, req.deviceName);
      return { props: devices.tags(req.productKey, req.deviceName) };
    },
    deleteDeviceProp(req, ctx) {
      heldDevice(ctx, req.productKey, req.deviceName);
      if (req.key === "") throw new InvalidArgumentError("key", "is required");
      devices.deleteTag(req.productKey, req.deviceName, req.key);
      return {};
    },
    updateDeviceShadow(req, ctx) {
      heldDevice(ctx, req.productKey, req.deviceName);
      if (Buffer.byteLength(req.shadowJson) > SHADOW_MAX) throw new InvalidArgumentError("shadow_json", `must be at most ${SHADOW_MAX} bytes`);
      let doc: unknown;
      try {
        doc = JSON.parse(req.shadowJson);
      } catch {
        throw new InvalidArgumentError("shadow_json", "is not valid JSON");
      }
      if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new InvalidArgumentError("shadow_json", "must be a JSON object");
      return { version: BigInt(devices.setShadow(req.productKey, req.deviceName, JSON.stringify(doc))) };
    },
    getDeviceShadow(req, ctx) {
      visibleDevice(ctx, req.productKey, req.deviceName);
      const s = devices.shadow(req.productKey, req.deviceName);
      return { shadowJson: s.json, version: BigInt(s.version) };
    },

    async createProductDistributeJob(req, ctx) {
      const p = ownedProduct(ctx, req.productKey);
      if (parseStrategy(req.strategy) === "nearest") assertNotProductOnlyNearest(0);
      assertNoGrants(grants.ofProduct(p.productKey), p.productKey);
      if (crossAccountRequested(req.targetAccountId, p.accountId)) {
        const x = await crossAccountJob(ctx, p, req);
        const job = jobs.create({ jobId: x.jobId, jobType: "product", accountId: p.accountId, productKey: p.productKey, targetRegion: x.target.region, targetInstance: x.target.id, targetAccount: x.receiver.accountId, deviceNames: [] });
        audit(ctx, { action: "job.created", result: "ok", accountId: p.accountId, otherAccount: x.receiver.accountId, productKey: p.productKey, instanceId: x.target.id, subjectId: job.jobId, detail: "product only" });
        deps.kickWorker();
        return { job: wire.jobToWire(job, deps.regionId, instanceId, regionOf) };
      }
      if (req.authCode !== "") throw new InvalidArgumentError("auth_code", "is for cross-account distribution only (R4): set target_account_id to another account");
      const peer = target(req.targetRegionId, req.targetInstanceId);
      const job = jobs.create({ jobType: "product", accountId: p.accountId, productKey: p.productKey, targetRegion: peer.region, targetInstance: peer.id, deviceNames: [] });
      deps.kickWorker();
      return { job: wire.jobToWire(job, deps.regionId, instanceId, regionOf) };
    },
    async createDeviceDistributeJob(req, ctx) {
      const p = ownedProduct(ctx, req.productKey);
      const strategy = parseStrategy(req.strategy);
      const cross = crossAccountRequested(req.targetAccountId, p.accountId);
      let peer: PeerInfo | undefined;
      let candidates: string[] = [];
      if (strategy === "nearest") {
        assertNotProductOnlyNearest(req.deviceNames.length);
        assertSameAccountNearest(req.targetAccountId, p.accountId);
        if (req.targetInstanceId !== "" || req.targetRegionId !== "") {
          throw new InvalidArgumentError(req.targetInstanceId !== "" ? "target_instance_id" : "target_region_id", "is not used by the nearest strategy: list the instances in candidates");
        }
        candidates = checkCandidates(req.candidates, known);
        assertNearestAtHome(p, instanceId, where);
      } else {
        if (req.candidates.length > 0) throw new InvalidArgumentError("candidates", "are for the nearest strategy; the specified strategy names target_instance_id");
        if (!cross) {
          if (req.authCode !== "") throw new InvalidArgumentError("auth_code", "is for cross-account distribution only (R4): set target_account_id to another account");
          peer = target(req.targetRegionId, req.targetInstanceId);
        }
      }
      if (req.deviceNames.length === 0) {
        throw new InvalidArgumentError("device_names", "is empty: use CreateProductDistributeJob to distribute the product alone (R2)");
      }
      checkBatchSize(req.deviceNames.length, deps.maxDevicesPerBatch, "device_names");
      const seen = new Set<string>();
      req.deviceNames.forEach((dn, i) => {
        checkDeviceName(dn, `device_names[${i}]`);
        if (seen.has(dn)) throw new InvalidArgumentError(`device_names[${i}]`, `${dn} is listed twice`);
        seen.add(dn);
      });
      assertNoGrants(grants.ofProduct(p.productKey), p.productKey);
      let jobId: string | undefined;
      let targetAccount = "";
      if (cross) {
        const x = await crossAccountJob(ctx, p, req);
        jobId = x.jobId;
        targetAccount = x.receiver.accountId;
        peer = { id: x.target.id, region: x.target.region, kind: x.target.kind };
      }
      const job = jobs.create({
        ...(jobId === undefined ? {} : { jobId }),
        jobType: "device",
        accountId: p.accountId,
        productKey: p.productKey,
        strategy,
        candidates,
        targetRegion: peer?.region ?? "",
        targetInstance: peer?.id ?? "",
        targetAccount,
        deviceNames: req.deviceNames,
      });
      if (cross) {
        audit(ctx, { action: "job.created", result: "ok", accountId: p.accountId, otherAccount: targetAccount, productKey: p.productKey, instanceId: job.targetInstance, subjectId: job.jobId, detail: `${job.total} devices` });
      }
      deps.kickWorker();
      return { job: wire.jobToWire(job, deps.regionId, instanceId, regionOf) };
    },
    queryDeviceDistributeJob(req, ctx) {
      return { job: wire.jobToWire(ownedJob(ctx, req.jobId), deps.regionId, instanceId, regionOf) };
    },
    listDeviceDistributeJob(req, ctx) {
      const status = wire.jobStatusFromWire(req.status);
      const page = jobs.list(
        {
          accountId: actingAccount(ctx.principal),
          ...(status === undefined ? {} : { status }),
          ...(req.productKey === "" ? {} : { productKey: checkProductKey(req.productKey) }),
          ...(req.targetInstanceId === "" ? {} : { targetInstance: req.targetInstanceId }),
        },
        pageSize(req.pageSize),
        req.pageToken,
      );
      return { jobs: page.items.map((j) => wire.jobToWire(j, deps.regionId, instanceId, regionOf)), nextPageToken: page.nextPageToken };
    },
    queryDeviceDistributeDetail(req, ctx) {
      const j = ownedJob(ctx, req.jobId);
      if (!["", "pending", "succeeded", "failed"].includes(req.result)) throw new InvalidArgumentError("result", "must be pending, succeeded or failed");
      const page = jobs.detail(j.jobId, pageSize(req.pageSize), req.pageToken, req.result as JobDeviceResult | "");
      return {
        results: page.items.map((r) => ({ ...r, generation: BigInt(r.generation) })),
        nextPageToken: page.nextPageToken,
      };
    },
    retryDeviceDistributeJob(req, ctx) {
      const j = ownedJob(ctx, req.jobId);
      assertRetryable(j.jobId, j.status);
      const job = jobs.retry(j.jobId);
      deps.kickWorker();
      return { job: wire.jobToWire(job, deps.regionId, instanceId, regionOf) };
    },
    listDistributedDevice(req, ctx) {
      ownedProduct(ctx, req.productKey);
      const page = devices.listAway(req.productKey, pageSize(req.pageSize), req.pageToken, req.targetInstanceId);
      return {
        devices: page.items.map((d) => ({
          productKey: d.productKey,
          deviceName: d.deviceName,
          targetInstanceId: d.holder,
          targetRegionId: deps.peers.find((p) => p.id === d.holder)?.region ?? "",
          generation: BigInt(d.generation),
        })),
        nextPageToken: page.nextPageToken,
      };
    },
    listDistributedProduct(req, ctx) {
      const account = actingAccount(ctx.principal);
      const page = products.listCopies(pageSize(req.pageSize), req.pageToken);
      const out = [];
      for (const c of page.items) {
        const p = products.get(c.productKey);
        if (p === undefined || p.accountId !== account) continue;
        out.push({
          productKey: p.productKey,
          productName: p.productName,
          targetInstanceId: c.instanceId,
          targetRegionId: deps.peers.find((x) => x.id === c.instanceId)?.region ?? "",
          syncedVersion: BigInt(c.syncedVersion),
          version: BigInt(p.version),
        });
      }
      return { products: out, nextPageToken: page.nextPageToken };
    },
    queryDeviceProvisioning(req, ctx) {
      const { p } = visibleProduct(ctx, req.productKey);
      const { d } = visibleDevice(ctx, req.productKey, req.deviceName);
      return {
        instanceId: d.holder,
        regionId: d.holder === instanceId ? deps.regionId : (deps.peers.find((x) => x.id === d.holder)?.region ?? ""),
        generation: BigInt(d.generation),
        placement: wire.placementToWire(d.placement),
        homeInstanceId: d.homeInstance,
        receivedFromInstanceId: d.receivedFrom,
        productOwnerInstanceId: p.ownerInstanceId,
      };
    },

    async requestAuthCode(req, ctx) {
      const requester = accounts.require(actingAccount(ctx.principal));
      const receiver = directoryAccount(req.targetAccountId, req.targetAccountName, "target_account");
      if (receiver.accountId === requester.accountId) {
        throw new InvalidArgumentError(req.targetAccountId !== "" ? "target_account_id" : "target_account_name", "is your own account: same-account distribution needs no code");
      }
      const target = resolveCrossAccountTarget(req.targetRegionId, req.targetInstanceId, self, peerKinds);
      const base = { accountId: requester.accountId, otherAccount: receiver.accountId, instanceId: target.id };
      let r;
      try {
        r = await peerOf(target.id).issueAuthCode({
          requesterAccountId: requester.accountId,
          requesterAccountName: requester.accountName,
          targetAccountId: receiver.accountId,
          requesterAddress: ctx.address,
        });
      } catch (e) {
        const err = peerError(target.id, e);
        audit(ctx, { ...base, action: "authcode.requested", result: "refused", detail: err.message });
        throw err;
      }
      audit(ctx, { ...base, action: "authcode.requested", result: "ok", subjectId: r.codeId });
      // R4: the requester learns that a code was issued, never the code.
      return { codeId: r.codeId, targetAccountId: receiver.accountId, targetRegionId: target.region, targetInstanceId: target.id, expireTimeMs: r.expireTimeMs };
    },
    listAuthCodes(req, ctx) {
      const page = authCodes.list(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { codes: page.items.map(wire.authCodeToWire), nextPageToken: page.nextPageToken };
    },

    grantDevice(req, ctx) {
      assertGrantsAllowedHere(deps.grantInstanceKinds.includes(self.kind), self, deps.grantInstanceKinds);
      const p = ownedProduct(ctx, req.productKey);
      checkDeviceName(req.deviceName);
      const d = devices.require(req.productKey, req.deviceName);
      const grantee = directoryAccount(req.granteeAccountId, req.granteeAccountName, "grantee_account");
      if (grantee.accountId === p.accountId) throw new InvalidArgumentError(req.granteeAccountId !== "" ? "grantee_account_id" : "grantee_account_name", "is the owner's own account");
      const base = { accountId: p.accountId, otherAccount: grantee.accountId, productKey: p.productKey, deviceName: d.deviceName, instanceId };
      try {
        assertPublishedForGrant(p.status, p.productKey);
        assertNotDistributed(distribution(p, d), `device ${p.productKey}/${d.deviceName}`, where);
        assertHeldHere(d, where);
      } catch (e) {
        if (e instanceof IotfedError) audit(ctx, { ...base, action: "grant.created", result: "refused", detail: e.message });
        throw e;
      }
      const g = grants.grantDevice(p.productKey, d.deviceName, p.accountId, grantee.accountId);
      audit(ctx, { ...base, action: "grant.created", result: "ok", subjectId: g.device.grantId });
      return { deviceGrant: wire.grantToWire(g.device), productGrant: wire.grantToWire(g.product) };
    },
    revokeGrant(req, ctx) {
      if (req.grantId === "") throw new InvalidArgumentError("grant_id", "is required");
      const account = actingAccount(ctx.principal);
      const g = grants.get(req.grantId);
      if (g === undefined || g.grantorAccountId !== account) {
        if (g !== undefined && g.granteeAccountId === account) throw granteeRefusal("revoke its grant", g.productKey, account);
        throw new NotFoundError(`grant ${req.grantId} does not exist`, { field: "grant_id" });
      }
      const base = { accountId: g.grantorAccountId, otherAccount: g.granteeAccountId, productKey: g.productKey, deviceName: g.deviceName, instanceId, subjectId: g.grantId };
      try {
        grants.revoke(g.grantId);
      } catch (e) {
        if (e instanceof IotfedError) audit(ctx, { ...base, action: "grant.revoked", result: "refused", detail: e.message });
        throw e;
      }
      audit(ctx, { ...base, action: "grant.revoked", result: "ok", detail: g.kind });
      return {};
    },
    listGrants(req, ctx) {
      if (!["", "given", "received"].includes(req.side)) throw new InvalidArgumentError("side", "must be given or received");
      const pk = req.productKey === "" ? "" : checkProductKey(req.productKey);
      const page = grants.list(req.side === "received" ? "received" : "given", actingAccount(ctx.principal), pk, pageSize(req.pageSize), req.pageToken);
      return { grants: page.items.map(wire.grantToWire), nextPageToken: page.nextPageToken };
    },

    addProductToPool(req, ctx) {
      const p = ownedProduct(ctx, req.productKey);
      if (!req.confirmIrreversible) {
        throw new InvalidArgumentError("confirm_irreversible", "must be true: a product in the public pool cannot be taken out again (R17)", { rule: "R17" });
      }
      const base = { accountId: p.accountId, productKey: p.productKey, instanceId };
      try {
        if (p.ownerInstanceId !== instanceId) {
          throw new RuleViolationError("R17", `product ${p.productKey} is a read-only copy here (R9); its owner puts it in the pool at ${where(p.ownerInstanceId)}`, { field: "product_key" });
        }
        if (p.status !== "published") {
          throw new RuleViolationError("R17", `product ${p.productKey} is ${p.status}: only a published product can be put in the public pool; release it first`, { field: "product_key" });
        }
      } catch (e) {
        if (e instanceof IotfedError) audit(ctx, { ...base, action: "pool.added", result: "refused", detail: e.message });
        throw e;
      }
      const existing = deps.routes.pool(p.productKey);
      if (existing !== undefined) return { product: wire.poolToWire(existing, true) };
      const entry = products.poolEntry(p, accounts.require(p.accountId).accountName, Date.now(), instanceId);
      deps.routes.commitOne({ kind: "pool", route: entry });
      deps.kickReplication();
      audit(ctx, { ...base, action: "pool.added", result: "ok", subjectId: p.productKey });
      return { product: wire.poolToWire(entry, true) };
    },
    listPoolProducts(req, ctx) {
      poolViewer(ctx);
      const page = deps.routes.poolPage(pageSize(req.pageSize), req.pageToken);
      return { products: page.items.map((p) => wire.poolToWire(p, false)), nextPageToken: page.nextPageToken };
    },
    queryPoolProduct(req, ctx) {
      poolViewer(ctx);
      checkProductKey(req.productKey);
      const p = deps.routes.pool(req.productKey);
      if (p === undefined) throw new NotFoundError(`product ${req.productKey} is not in the public pool`, { field: "product_key" });
      return { product: wire.poolToWire(p, true) };
    },

    listAuditEvents(req, ctx) {
      const p = ctx.principal;
      const account = p.kind === "operator" ? p.actingFor : p.accountId;
      const action = checkText(req.action, "action", 32);
      const page = deps.audit.list(account, action, pageSize(req.pageSize), req.pageToken);
      return { events: page.items.map(wire.auditToWire), nextPageToken: page.nextPageToken };
    },
  };
}

function checkScript(content: string): string {
  if (content.length === 0) throw new InvalidArgumentError("script_content", "is required");
  if (Buffer.byteLength(content) > MAX_SCRIPT_BYTES) throw new InvalidArgumentError("script_content", `must be at most ${MAX_SCRIPT_BYTES} bytes`);
  return content;
}
