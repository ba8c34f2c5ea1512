import {
  InvalidArgumentError,
  actingAccount,
  assertAbortable,
  assertNearestAtHome,
  assertNoGrants,
  assertNotProductOnlyNearest,
  assertRetryable,
  assertSameAccountNearest,
  checkBatchSize,
  checkAccountId,
  checkCandidates,
  checkDeviceName,
  checkProductKey,
  pageSize,
  parseStrategy,
  type Job,
  type JobDeviceResult,
  type RuntimeDataChoice,
} from "../domain/index.js";
import type { ConfiguredInstance } from "../routing/index.js";
import type { AdminContext, HandlerKit, Handlers } from "./context.js";
import { forwardJobCall, type ForwardedJobMethod } from "./forward.js";
import { fromPeerError } from "../rpc/index.js";
import type { CrossAccount } from "./cross-account.js";
import * as wire from "./convert.js";

/** The longest an abort call waits for an unreachable target (then the abort goes on in the background). */
const MAX_ABORT_WAIT_MS = 600_000;
/** How long a peer asked for its jobs may take before it is named unreachable. */
const FAN_OUT_DEADLINE_MS = 5_000;

type JobMethods =
  | "createProductDistributeJob"
  | "createDeviceDistributeJob"
  | "queryDeviceDistributeJob"
  | "listDeviceDistributeJob"
  | "queryDeviceDistributeDetail"
  | "retryDeviceDistributeJob"
  | "abortDeviceDistributeJob"
  | "deleteDeviceDistributeJob"
  | "listDistributedDevice"
  | "listDistributedProduct"
  | "queryDeviceProvisioning";

/**
 * Distribution jobs at their source (R1–R6, R13): created here and run by
 * the job worker; their per-device results; what was distributed where.
 */
/** runtime_data of a device job: keep (the seed's rule, R8) unless migrate is asked for. */
function parseRuntimeData(v: string): RuntimeDataChoice {
  if (v === "" || v === "keep") return "keep";
  if (v === "migrate") return "migrate";
  throw new InvalidArgumentError("runtime_data", "must be keep or migrate");
}

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
  /** The job calls for a job (or a source) at another instance go there, for the same account. */
  const elsewhere = (sourceInstanceId: string): boolean => sourceInstanceId !== "" && sourceInstanceId !== self.id;
  const forward = async <M extends ForwardedJobMethod>(instance: string, method: M, ctx: AdminContext, req: Parameters<typeof forwardJobCall<M>>[3], deadlineMs?: number) => {
    const peer = directory.peer(instance) === undefined ? undefined : deps.peerClient(instance);
    if (peer === undefined) throw new InvalidArgumentError("source_instance_id", `${instance} is not a configured peer of ${self.id}`);
    try {
      return await forwardJobCall(peer, method, actingAccount(ctx.principal), req, ctx.address, deadlineMs);
    } catch (e) {
      throw fromPeerError(`source ${directory.where(instance)}`, e);
    }
  };
  /** A job of the caller run here, or — when it is not here and no source was named — at the peer that runs it. */
  const findJob = async <M extends "queryDeviceDistributeJob" | "queryDeviceDistributeDetail">(method: M, ctx: AdminContext, req: { jobId: string; sourceInstanceId: string } & Parameters<typeof forwardJobCall<M>>[3]) => {
    if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, method, ctx, req);
    const local = deps.repos.jobs.get(req.jobId);
    if (local !== undefined || req.sourceInstanceId === self.id) return undefined;
    for (const p of directory.peers()) {
      try {
        return await forward(p.id, method, ctx, { ...req, sourceInstanceId: p.id }, FAN_OUT_DEADLINE_MS);
      } catch {
        // not there (or not reachable): ask the next one
      }
    }
    return undefined;
  };
  const noCodeWithoutAccount = (authCode: string): void => {
    if (authCode !== "") throw new InvalidArgumentError("auth_code", "is for cross-account distribution only (R4): set target_account_id to another account");
  };

  return {
    async createProductDistributeJob(req, ctx) {
      if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, "createProductDistributeJob", ctx, req);
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
      if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, "createDeviceDistributeJob", ctx, req);
      const p = access.ownedProduct(ctx, req.productKey);
      const strategy = parseStrategy(req.strategy);
      const runtimeData = parseRuntimeData(req.runtimeData);
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
        if (runtimeData === "migrate") throw new InvalidArgumentError("runtime_data", "migrate moves data with devices a job moves now; the nearest strategy moves each device later, when it bootstraps (keep)");
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
        runtimeData,
      });
      if (cross) {
        audited.record(ctx, { action: "job.created", result: "ok", accountId: p.accountId, otherAccount: targetAccount, productKey: p.productKey, instanceId: job.targetInstance, subjectId: job.jobId, detail: `${job.total} devices` });
      }
      return started(job);
    },
    async queryDeviceDistributeJob(req, ctx) {
      const remote = await findJob("queryDeviceDistributeJob", ctx, req);
      if (remote !== undefined) return remote;
      return { job: jobToWire(access.ownedJob(ctx, req.jobId)) };
    },
    async listDeviceDistributeJob(req, ctx) {
      const status = wire.jobStatusFromWire(req.status);
      const local = (): { jobs: ReturnType<typeof jobToWire>[]; nextPageToken: string } => {
        const page = jobs.list(
          {
            accountId: actingAccount(ctx.principal),
            ...(status === undefined ? {} : { status }),
            ...(req.productKey === "" ? {} : { productKey: checkProductKey(req.productKey) }),
            ...(req.targetInstanceId === "" ? {} : { targetInstance: req.targetInstanceId }),
            ...(req.targetAccountId === "" ? {} : { targetAccount: checkAccountId(req.targetAccountId, "target_account_id") }),
          },
          pageSize(req.pageSize),
          req.pageToken,
        );
        return { jobs: page.items.map(jobToWire), nextPageToken: page.nextPageToken };
      };
      if (!req.allInstances) {
        if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, "listDeviceDistributeJob", ctx, req);
        if (req.sourceRegionId !== "" && req.sourceRegionId !== self.region) return { jobs: [], nextPageToken: "" };
        return local();
      }
      // Every instance at once (bounded by a deadline each): one view of the federation's jobs.
      if (req.pageToken !== "") throw new InvalidArgumentError("page_token", "is not used with all_instances: each instance answers with its newest page_size jobs");
      const wanted = directory
        .members()
        .filter((m) => (req.sourceInstanceId === "" || m.id === req.sourceInstanceId) && (req.sourceRegionId === "" || m.region === req.sourceRegionId));
      const unreachable: string[] = [];
      const answers = await Promise.all(
        wanted.map(async (m) => {
          if (m.id === self.id) return local().jobs;
          try {
            return (await forward(m.id, "listDeviceDistributeJob", ctx, { ...req, allInstances: false, sourceInstanceId: m.id, sourceRegionId: "" }, FAN_OUT_DEADLINE_MS)).jobs;
          } catch {
            unreachable.push(m.id);
            return [];
          }
        }),
      );
      const merged = answers.flat().sort((x, y) => Number((y.createTimeMs ?? 0n) - (x.createTimeMs ?? 0n)));
      return { jobs: merged, nextPageToken: "", unreachableInstances: unreachable.sort() };
    },
    async queryDeviceDistributeDetail(req, ctx) {
      const remote = await findJob("queryDeviceDistributeDetail", ctx, req);
      if (remote !== undefined) return remote;
      const j = access.ownedJob(ctx, req.jobId);
      if (!["", "pending", "succeeded", "failed", "aborted"].includes(req.result)) throw new InvalidArgumentError("result", "must be pending, succeeded, failed or aborted");
      const page = jobs.detail(j.jobId, pageSize(req.pageSize), req.pageToken, req.result as JobDeviceResult | "");
      return {
        results: page.items.map((r) => ({ ...r, generation: BigInt(r.generation) })),
        nextPageToken: page.nextPageToken,
      };
    },
    async retryDeviceDistributeJob(req, ctx) {
      if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, "retryDeviceDistributeJob", ctx, req);
      const j = access.ownedJob(ctx, req.jobId);
      assertRetryable(j.jobId, j.status);
      return started(jobs.retry(j.jobId));
    },
    async abortDeviceDistributeJob(req, ctx) {
      if (elsewhere(req.sourceInstanceId)) return forward(req.sourceInstanceId, "abortDeviceDistributeJob", ctx, req, req.waitMs + 30_000);
      const j = access.ownedJob(ctx, req.jobId);
      assertAbortable(j.jobId, j.status);
      if (req.waitMs > MAX_ABORT_WAIT_MS) throw new InvalidArgumentError("wait_ms", `must be at most ${MAX_ABORT_WAIT_MS}`);
      const r = await deps.abortJob(j.jobId, req.force, req.waitMs === 0 ? 30_000 : req.waitMs);
      return { job: jobToWire(r.job), moved: r.moved, returned: r.returned };
    },
    deleteDeviceDistributeJob(req, ctx) {
      deps.repos.jobs.delete(access.ownedJob(ctx, req.jobId).jobId);
      return {};
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
