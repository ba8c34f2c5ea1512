import {
  InvalidArgumentError,
  actingAccount,
  assertNearestAtHome,
  assertNoGrants,
  assertNotProductOnlyNearest,
  assertRetryable,
  assertSameAccountNearest,
  checkBatchSize,
  checkCandidates,
  checkDeviceName,
  checkProductKey,
  pageSize,
  parseStrategy,
  type Job,
  type JobDeviceResult,
} from "../domain/index.js";
import type { ConfiguredInstance } from "../routing/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import type { CrossAccount } from "./cross-account.js";
import * as wire from "./convert.js";

type JobMethods =
  | "createProductDistributeJob"
  | "createDeviceDistributeJob"
  | "queryDeviceDistributeJob"
  | "listDeviceDistributeJob"
  | "queryDeviceDistributeDetail"
  | "retryDeviceDistributeJob"
  | "listDistributedDevice"
  | "listDistributedProduct"
  | "queryDeviceProvisioning";

/**
 * Distribution jobs at their source (R1–R6, R13): created here and run by
 * the job worker; their per-device results; what was distributed where.
 */
export function jobHandlers({ deps, access, audited }: HandlerKit, crossAccount: CrossAccount): Handlers<JobMethods> {
  const { products, devices, jobs, grants } = deps.repos;
  const { directory } = deps;
  const self = directory.self;
  const regionOf = (id: string): string => directory.regionOf(id);
  const jobToWire = (j: Job) => wire.jobToWire(j, self.region, self.id, regionOf);
  const started = (j: Job) => {
    deps.kickWorker();
    return { job: jobToWire(j) };
  };
  /** A same-account target: a configured peer, in the region given if one is. */
  const target = (regionId: string, targetId: string): ConfiguredInstance => {
    if (targetId === "") throw new InvalidArgumentError("target_instance_id", "is required");
    if (targetId === self.id) throw new InvalidArgumentError("target_instance_id", `${targetId} is this instance; distribute to another one`);
    const peer = directory.peer(targetId);
    if (peer === undefined) {
      const known = directory.peers().map((p) => p.id).join(", ") || "none";
      throw new InvalidArgumentError("target_instance_id", `${targetId} is not a configured peer of ${self.id} (known: ${known})`);
    }
    if (regionId !== "" && regionId !== peer.region) {
      throw new InvalidArgumentError("target_region_id", `instance ${targetId} is in region ${peer.region}, not ${regionId}`);
    }
    return peer;
  };
  const noCodeWithoutAccount = (authCode: string): void => {
    if (authCode !== "") throw new InvalidArgumentError("auth_code", "is for cross-account distribution only (R4): set target_account_id to another account");
  };

  return {
    async createProductDistributeJob(req, ctx) {
      const p = access.ownedProduct(ctx, req.productKey);
      if (parseStrategy(req.strategy) === "nearest") assertNotProductOnlyNearest(0);
      assertNoGrants(grants.ofProduct(p.productKey), p.productKey);
      if (crossAccount.requested(req.targetAccountId, p.accountId)) {
        const x = await crossAccount.redeemForJob(ctx, p, req);
        const job = jobs.create({ jobId: x.jobId, jobType: "product", accountId: p.accountId, productKey: p.productKey, targetRegion: x.target.region, targetInstance: x.target.id, targetAccount: x.receiver.accountId, deviceNames: [] });
        audited.record(ctx, { action: "job.created", result: "ok", accountId: p.accountId, otherAccount: x.receiver.accountId, productKey: p.productKey, instanceId: x.target.id, subjectId: job.jobId, detail: "product only" });
        return started(job);
      }
      noCodeWithoutAccount(req.authCode);
      const peer = target(req.targetRegionId, req.targetInstanceId);
      return started(jobs.create({ jobType: "product", accountId: p.accountId, productKey: p.productKey, targetRegion: peer.region, targetInstance: peer.id, deviceNames: [] }));
    },
    async createDeviceDistributeJob(req, ctx) {
      const p = access.ownedProduct(ctx, req.productKey);
      const strategy = parseStrategy(req.strategy);
      const cross = crossAccount.requested(req.targetAccountId, p.accountId);
      let peer: { id: string; region: string } | undefined;
      let candidates: string[] = [];
      if (strategy === "nearest") {
        assertNotProductOnlyNearest(req.deviceNames.length);
        assertSameAccountNearest(req.targetAccountId, p.accountId);
        if (req.targetInstanceId !== "" || req.targetRegionId !== "") {
          throw new InvalidArgumentError(req.targetInstanceId !== "" ? "target_instance_id" : "target_region_id", "is not used by the nearest strategy: list the instances in candidates");
        }
        candidates = checkCandidates(req.candidates, directory.members());
        assertNearestAtHome(p, self.id, access.where);
      } else {
        if (req.candidates.length > 0) throw new InvalidArgumentError("candidates", "are for the nearest strategy; the specified strategy names target_instance_id");
        if (!cross) {
          noCodeWithoutAccount(req.authCode);
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
        const x = await crossAccount.redeemForJob(ctx, p, req);
        jobId = x.jobId;
        targetAccount = x.receiver.accountId;
        peer = x.target;
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
        audited.record(ctx, { action: "job.created", result: "ok", accountId: p.accountId, otherAccount: targetAccount, productKey: p.productKey, instanceId: job.targetInstance, subjectId: job.jobId, detail: `${job.total} devices` });
      }
      return started(job);
    },
    queryDeviceDistributeJob(req, ctx) {
      return { job: jobToWire(access.ownedJob(ctx, req.jobId)) };
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
      return { jobs: page.items.map(jobToWire), nextPageToken: page.nextPageToken };
    },
    queryDeviceDistributeDetail(req, ctx) {
      const j = access.ownedJob(ctx, req.jobId);
      if (!["", "pending", "succeeded", "failed"].includes(req.result)) throw new InvalidArgumentError("result", "must be pending, succeeded or failed");
      const page = jobs.detail(j.jobId, pageSize(req.pageSize), req.pageToken, req.result as JobDeviceResult | "");
      return {
        results: page.items.map((r) => ({ ...r, generation: BigInt(r.generation) })),
        nextPageToken: page.nextPageToken,
      };
    },
    retryDeviceDistributeJob(req, ctx) {
      const j = access.ownedJob(ctx, req.jobId);
      assertRetryable(j.jobId, j.status);
      return started(jobs.retry(j.jobId));
    },
    listDistributedDevice(req, ctx) {
      access.ownedProduct(ctx, req.productKey);
      const page = devices.listAway(req.productKey, pageSize(req.pageSize), req.pageToken, req.targetInstanceId);
      return {
        devices: page.items.map((d) => ({
          productKey: d.productKey,
          deviceName: d.deviceName,
          targetInstanceId: d.holder,
          targetRegionId: regionOf(d.holder),
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
          targetRegionId: regionOf(c.instanceId),
          syncedVersion: BigInt(c.syncedVersion),
          version: BigInt(p.version),
        });
      }
      return { products: out, nextPageToken: page.nextPageToken };
    },
    queryDeviceProvisioning(req, ctx) {
      const { p } = access.visibleProduct(ctx, req.productKey);
      const { d } = access.visibleDevice(ctx, req.productKey, req.deviceName);
      return {
        instanceId: d.holder,
        regionId: regionOf(d.holder),
        generation: BigInt(d.generation),
        placement: wire.placementToWire(d.placement),
        homeInstanceId: d.homeInstance,
        receivedFromInstanceId: d.receivedFrom,
        productOwnerInstanceId: p.ownerInstanceId,
      };
    },
  };
}
