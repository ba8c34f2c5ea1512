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
  UnimplementedError,
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
  parseThingModel,
  requireOperator,
  type Principal,
  type Product,
  type TopicClass,
} from "../domain/index.js";
import type { AccountsRepo, BackupResult, DevicesRepo, JobsRepo, ProductsRepo } from "../store/index.js";
import * as wire from "./convert.js";

export interface AdminContext {
  principal: Principal;
}

export interface PeerInfo {
  id: string;
  region: string;
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
}

const SHADOW_MAX = 16 * 1024;

/**
 * The admin API: validation, ownership, then one repository call (one
 * transaction) per logical change. An account sees only what it owns; a
 * product or device of another account is reported as not found.
 */
export function createAdminService(deps: AdminDeps): UnaryService<(typeof AdminService)["method"], AdminContext> {
  const { accounts, products, devices, jobs, instanceId, where } = deps;

  const ownedProduct = (ctx: AdminContext, productKey: string): Product => {
    checkProductKey(productKey);
    const p = products.get(productKey);
    if (p === undefined || p.accountId !== actingAccount(ctx.principal)) {
      throw new NotFoundError(`product ${productKey} does not exist`, { field: "product_key" });
    }
    return p;
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
  /** Cross-account distribution (R4) needs authorization codes, which this daemon does not issue yet. */
  const sameAccountOnly = (targetAccountId: string, owner: string): void => {
    if (targetAccountId !== "" && targetAccountId !== owner) {
      throw new UnimplementedError(`cross-account distribution to account ${targetAccountId} needs an authorization code (R4), which this version does not issue`, { field: "target_account_id" });
    }
  };
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
      const p = ownedProduct(ctx, req.productKey);
      return { product: wire.productToWire(p, products.deviceCount(p.productKey)) };
    },
    queryProductList(req, ctx) {
      const page = products.listByAccount(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { products: page.items.map((p) => wire.productToWire(p, products.deviceCount(p.productKey))), nextPageToken: page.nextPageToken };
    },
    deleteProduct(req, ctx) {
      writableProduct(ctx, req.productKey);
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
      ownedProduct(ctx, req.productKey);
      return { topics: products.topics(req.productKey).map(wire.topicToWire) };
    },

    importThingModelTsl(req, ctx) {
      writableProduct(ctx, req.productKey);
      changed(products.setThingModel(req.productKey, parseThingModel(req.tslJson)));
      return {};
    },
    getThingModelTsl(req, ctx) {
      ownedProduct(ctx, req.productKey);
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
      ownedProduct(ctx, req.productKey);
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
      let d;
      if (req.iotId !== "") {
        if (req.productKey !== "" || req.deviceName !== "") throw new InvalidArgumentError("iot_id", "give iot_id or product_key and device_name, not both");
        d = devices.getByIotId(req.iotId);
        if (d === undefined) throw new NotFoundError(`device ${req.iotId} does not exist`, { field: "iot_id" });
        ownedProduct(ctx, d.productKey);
      } else d = ownedDevice(ctx, req.productKey, req.deviceName);
      const secret = req.includeSecret ? devices.secret(d.productKey, d.deviceName) : undefined;
      return { device: wire.deviceToWire(d, secret) };
    },
    queryDevice(req, ctx) {
      ownedProduct(ctx, req.productKey);
      const status = wire.deviceStatusFromWire(req.status);
      const prefix = checkText(req.deviceNamePrefix, "device_name_prefix", 32);
      const page = devices.list(req.productKey, pageSize(req.pageSize), req.pageToken, {
        ...(status === undefined ? {} : { status }),
        ...(prefix === "" ? {} : { namePrefix: prefix }),
      });
      return { devices: page.items.map((d) => wire.deviceToWire(d)), nextPageToken: page.nextPageToken };
    },
    deleteDevice(req, ctx) {
      assertDeviceDeletable(ownedDevice(ctx, req.productKey, req.deviceName), instanceId, where);
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
      ownedDevice(ctx, req.productKey, req.deviceName);
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
      ownedDevice(ctx, req.productKey, req.deviceName);
      const s = devices.shadow(req.productKey, req.deviceName);
      return { shadowJson: s.json, version: BigInt(s.version) };
    },

    createProductDistributeJob(req, ctx) {
      const p = ownedProduct(ctx, req.productKey);
      if (parseStrategy(req.strategy) === "nearest") assertNotProductOnlyNearest(0);
      sameAccountOnly(req.targetAccountId, p.accountId);
      const peer = target(req.targetRegionId, req.targetInstanceId);
      const job = jobs.create({ jobType: "product", accountId: p.accountId, productKey: p.productKey, targetRegion: peer.region, targetInstance: peer.id, deviceNames: [] });
      deps.kickWorker();
      return { job: wire.jobToWire(job, deps.regionId, instanceId, regionOf) };
    },
    createDeviceDistributeJob(req, ctx) {
      const p = ownedProduct(ctx, req.productKey);
      const strategy = parseStrategy(req.strategy);
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
        sameAccountOnly(req.targetAccountId, p.accountId);
        peer = target(req.targetRegionId, req.targetInstanceId);
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
      const job = jobs.create({
        jobType: "device",
        accountId: p.accountId,
        productKey: p.productKey,
        strategy,
        candidates,
        targetRegion: peer?.region ?? "",
        targetInstance: peer?.id ?? "",
        deviceNames: req.deviceNames,
      });
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
      const p = ownedProduct(ctx, req.productKey);
      const d = ownedDevice(ctx, req.productKey, req.deviceName);
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
  };
}

function checkScript(content: string): string {
  if (content.length === 0) throw new InvalidArgumentError("script_content", "is required");
  if (Buffer.byteLength(content) > MAX_SCRIPT_BYTES) throw new InvalidArgumentError("script_content", `must be at most ${MAX_SCRIPT_BYTES} bytes`);
  return content;
}
