import { Option, type Command } from "commander";
import { create } from "@bufbuild/protobuf";
import {
  AbortDeviceDistributeJobResponseSchema,
  CreateDeviceDistributeJobResponseSchema,
  JobStatus,
  ListDeviceDistributeJobResponseSchema,
  ListDistributedDeviceResponseSchema,
  ListDistributedProductResponseSchema,
  QueryDeviceDistributeDetailResponseSchema,
  QueryDeviceDistributeJobResponseSchema,
} from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { DeadlineExceededError, PreconditionError } from "../../../internal/domain/index.js";
import { CsvError, DEVICE_LIST_TEMPLATE, parseDeviceList, toCsv } from "../../../internal/jobs/index.js";
import { act, allPages, choice, commaList, pagedList, readInput, type PageOptions } from "../kit.js";
import { UsageError, enumText, printJson, printTable, time } from "../output.js";
import { showJob } from "../show.js";

/** --source-instance of the calls on one job: the instance that runs it. */
const sourceInstance = (): Option =>
  new Option("--source-instance <instanceId>", "the instance that runs the job, when it is another one (asked over the peer plane)").default("");

/** `job …` and `distributed …`: distribution jobs at their source and what they moved. */
export function addJobCommands(program: Command): void {
  const job = program.command("job").description("distribution jobs (same account; specified region+instance or nearest)");
  job.command("template").description("print the CSV template of a device list (at most 1,000 records by default, R1)").action(() => {
    process.stdout.write(DEVICE_LIST_TEMPLATE);
  });
  const targetOptions = (cmd: Command): Command =>
    cmd
      .option("--target-instance <instanceId>", "target instance (a configured peer)", "")
      .option("--target-region <regionId>", "target region (checked against the peer's)", "")
      .option("--target-account <accountId>", "receiving account of a cross-account distribution (R4)", "")
      .option("--auth-code <digits>", "the authorization code the receiving account got (R4)", "")
      .option("--source-instance <instanceId>", "create the job at this instance (where the product is); that instance decides whether the account may", "");
  targetOptions(job.command("create-product <productKey>").description("distribute the product alone (CreateProductDistributeJob, R2)")).action(
    act(program, (pk: string, o: { targetInstance: string; targetRegion: string; targetAccount: string; authCode: string; sourceInstance: string }) => async (c, json) => {
      if (o.targetInstance === "" && (o.targetAccount === "" || o.targetRegion === "")) throw new UsageError("give --target-instance (or, cross-account to a legacy public instance, --target-region)");
      const r = await c.createProductDistributeJob({ productKey: pk, targetInstanceId: o.targetInstance, targetRegionId: o.targetRegion, targetAccountId: o.targetAccount, authCode: o.authCode, sourceInstanceId: o.sourceInstance });
      if (json) return printJson(CreateDeviceDistributeJobResponseSchema, create(CreateDeviceDistributeJobResponseSchema, { job: r.job! }));
      showJob(r.job!);
    }),
  );
  job
    .command("create <productKey>")
    .description("distribute the product and listed devices (CreateDeviceDistributeJob)")
    .option("--target-instance <instanceId>", "target instance (a configured peer; specified strategy)")
    .option("--target-region <regionId>", "target region (checked against the peer's)", "")
    .option("--strategy <strategy>", "specified, or nearest (R3: each device goes to the candidate nearest to it when it bootstraps)", "specified")
    .option("--candidate <region/instance>", "a nearest-strategy candidate, one per region (repeat the option)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--devices <list>", "comma-separated device names")
    .option("-f, --file <csv>", "device list CSV (see `job template`; - for stdin)")
    .option("--target-account <accountId>", "receiving account of a cross-account distribution (R4)", "")
    .option("--auth-code <digits>", "the authorization code the receiving account got (R4; see `authcode request`)", "")
    .option("--source-instance <instanceId>", "create the job at this instance (where the product and devices are); that instance decides whether the account may", "")
    .option("--runtime-data <keep|migrate>", "keep: runtime data stays at the source (R8); migrate: the latest property values and the shadow go with each device", "keep")
    .action(
    act(program, (pk: string, o: { targetInstance?: string; targetRegion: string; strategy: string; candidate: string[]; devices?: string; file?: string; targetAccount: string; authCode: string; sourceInstance: string; runtimeData: string }) => async (c, json) => {
      if ((o.devices === undefined) === (o.file === undefined)) throw new UsageError("give exactly one of --devices or --file");
      if (o.strategy === "nearest" ? o.candidate.length === 0 : o.targetInstance === undefined && (o.targetAccount === "" || o.targetRegion === "")) {
        throw new UsageError(o.strategy === "nearest" ? "the nearest strategy needs --candidate region/instance (one per region)" : "give --target-instance (or, cross-account to a legacy public instance, --target-region)");
      }
      const candidates = o.candidate.map((v) => {
        const slash = v.indexOf("/");
        if (slash <= 0 || slash === v.length - 1) throw new UsageError(`--candidate ${v}: must be region/instance`);
        return { regionId: v.slice(0, slash), instanceId: v.slice(slash + 1) };
      });
      let deviceNames: string[];
      try {
        deviceNames = o.devices !== undefined ? commaList(o.devices) : parseDeviceList(readInput(o.file!), pk, 10000);
      } catch (e) {
        if (e instanceof CsvError) throw new UsageError(`${o.file}: ${e.message}`);
        throw e;
      }
      const r = await c.createDeviceDistributeJob({
        productKey: pk,
        targetInstanceId: o.targetInstance ?? "",
        targetRegionId: o.targetRegion,
        deviceNames,
        strategy: o.strategy,
        runtimeData: o.runtimeData,
        candidates,
        targetAccountId: o.targetAccount,
        authCode: o.authCode,
        sourceInstanceId: o.sourceInstance,
      });
      if (json) return printJson(CreateDeviceDistributeJobResponseSchema, r);
      showJob(r.job!);
    }),
  );
  job.command("get <jobId>").description("show a job, run here or at another instance (QueryDeviceDistributeJob)").addOption(sourceInstance()).action(
    act(program, (id: string, o: { sourceInstance: string }) => async (c, json) => {
      const r = await c.queryDeviceDistributeJob({ jobId: id, sourceInstanceId: o.sourceInstance });
      if (json) return printJson(QueryDeviceDistributeJobResponseSchema, r);
      showJob(r.job!);
    }),
  );
  job
    .command("wait <jobId>")
    .description("wait until the job is completed, failed or aborted; exits 1 when it failed")
    .option("--max-wait <seconds>", "give up after this long (exit 5)", "600")
    .addOption(sourceInstance())
    .action(
      act(program, (id: string, o: { maxWait: string; sourceInstance: string }) => async (c, json) => {
        const deadline = Date.now() + Number(o.maxWait) * 1000;
        for (;;) {
          const r = await c.queryDeviceDistributeJob({ jobId: id, sourceInstanceId: o.sourceInstance });
          const st = r.job!.status;
          if (st === JobStatus.COMPLETED || st === JobStatus.FAILED || st === JobStatus.ABORTED) {
            if (json) printJson(QueryDeviceDistributeJobResponseSchema, r);
            else showJob(r.job!);
            if (st === JobStatus.FAILED) throw new PreconditionError(`job ${id} failed: ${r.job!.message}`);
            return;
          }
          if (Date.now() > deadline) throw new DeadlineExceededError(`job ${id} is still ${enumText(JobStatus, st)} after ${o.maxWait} s`);
          await new Promise((res) => setTimeout(res, 200));
        }
      }),
    );
  const statuses = { initializing: JobStatus.INITIALIZING, running: JobStatus.RUNNING, completed: JobStatus.COMPLETED, failed: JobStatus.FAILED, aborted: JobStatus.ABORTED };
  pagedList(
    program,
    job
      .command("list")
      .description("list jobs, newest first (ListDeviceDistributeJob)")
      .addOption(new Option("--status <status>", "only this status").choices(Object.keys(statuses)))
      .option("--product <productKey>", "only this product", "")
      .option("--target <instanceId>", "only this target", "")
      .option("--target-account <accountId>", "only jobs to this receiving account", "")
      .option("--all-instances", "the jobs of every instance of the federation (each asked at once; one that does not answer is named)")
      .option("--source-instance <instanceId>", "only jobs run by this instance", "")
      .option("--source-region <regionId>", "only jobs run by instances of this region", ""),
    {
      fetch: async (c, page, o: PageOptions & { status?: string; product: string; target: string; targetAccount: string; allInstances?: boolean; sourceInstance: string; sourceRegion: string }) => {
        const p = await c.listDeviceDistributeJob({
          ...page,
          status: o.status === undefined ? JobStatus.UNSPECIFIED : choice("--status", o.status, statuses),
          productKey: o.product,
          targetInstanceId: o.target,
          targetAccountId: o.targetAccount,
          allInstances: o.allInstances === true,
          sourceInstanceId: o.sourceInstance,
          sourceRegionId: o.sourceRegion,
        });
        for (const u of p.unreachableInstances) process.stderr.write(`iotfedctl: ${u} did not answer: its jobs are missing\n`);
        return { items: p.jobs, next: p.nextPageToken };
      },
      printJson: (jobs, nextPageToken) => printJson(ListDeviceDistributeJobResponseSchema, create(ListDeviceDistributeJobResponseSchema, { jobs, nextPageToken })),
      print: (items) =>
        printTable(
          ["JOB ID", "TYPE", "STATUS", "PRODUCT", "SOURCE", "TARGET", "OK", "FAILED", "PENDING", "CREATED"],
          items.map((j) => [j.jobId, j.jobType, enumText(JobStatus, j.status), j.productKey, `${j.sourceRegionId}/${j.sourceInstanceId}`, `${j.targetRegionId}/${j.targetInstanceId}`, j.succeeded, j.failed, j.pending, time(j.createTimeMs)]),
        ),
    },
  );
  job
    .command("detail <jobId>")
    .description("per-device results (QueryDeviceDistributeDetail); --csv to download")
    .addOption(new Option("--result <result>", "only pending, succeeded, failed or aborted").choices(["pending", "succeeded", "failed", "aborted"]))
    .option("--csv", "print every result as CSV")
    .addOption(sourceInstance())
    .action(
      act(program, (id: string, o: { result?: string; csv?: boolean; sourceInstance: string }) => async (c, json) => {
        const results = await allPages(async (t) => {
          const p = await c.queryDeviceDistributeDetail({ jobId: id, pageSize: 1000, pageToken: t, result: o.result ?? "", sourceInstanceId: o.sourceInstance });
          return { items: p.results, next: p.nextPageToken };
        });
        if (json) return printJson(QueryDeviceDistributeDetailResponseSchema, create(QueryDeviceDistributeDetailResponseSchema, { results }));
        const rows = results.map((x) => [x.deviceName, x.result, Number(x.generation), x.errorCode, x.errorMessage]);
        if (o.csv) process.stdout.write(toCsv(["deviceName", "result", "generation", "errorCode", "errorMessage"], rows));
        else printTable(["DEVICE NAME", "RESULT", "GENERATION", "CODE", "REASON"], rows);
      }),
    );
  job.command("retry <jobId>").description("run a failed job again (RetryDeviceDistributeJob)").addOption(sourceInstance()).action(
    act(program, (id: string, o: { sourceInstance: string }) => async (c, json) => {
      const r = await c.retryDeviceDistributeJob({ jobId: id, sourceInstanceId: o.sourceInstance });
      if (json) return printJson(QueryDeviceDistributeJobResponseSchema, create(QueryDeviceDistributeJobResponseSchema, { job: r.job! }));
      showJob(r.job!);
    }),
  );
  job
    .command("abort <jobId>")
    .description("abort a job that is not completed (AbortDeviceDistributeJob, R6, R13): devices the target accepted stay moved, the others come back and work here at once")
    .option("--force", "release the pending devices even if the target cannot be reached to fence them (a late batch there then loses to their new generation and never signs in)")
    .option("--wait <seconds>", "how long to wait for an unreachable target (then the abort goes on in the background)", "30")
    .addOption(sourceInstance())
    .action(
      act(program, (id: string, o: { force?: boolean; wait: string; sourceInstance: string }) => async (c, json) => {
        const seconds = Number(o.wait);
        if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) throw new UsageError("--wait must be 1-600 seconds");
        const r = await c.abortDeviceDistributeJob({ jobId: id, force: o.force === true, waitMs: Math.round(seconds * 1000), sourceInstanceId: o.sourceInstance }, { deadlineMs: seconds * 1000 + 60_000 });
        if (json) return printJson(AbortDeviceDistributeJobResponseSchema, r);
        showJob(r.job!);
        process.stdout.write(`${r.moved} moved before the abort, ${r.returned} back at the source\n`);
        if (r.job!.status !== JobStatus.ABORTED) throw new DeadlineExceededError(`job ${id} is still aborting: its target did not answer within ${seconds} s; the daemon keeps trying (or abort with --force)`);
      }),
    );
  job.command("delete <jobId>").description("remove a completed or aborted job's record (DeleteDeviceDistributeJob)").action(
    act(program, (id: string) => async (c) => {
      await c.deleteDeviceDistributeJob({ jobId: id });
    }),
  );
  const distributed = program.command("distributed").description("what was distributed away from this instance");
  pagedList(
    program,
    distributed
      .command("devices <productKey>")
      .description("devices of a product distributed away (ListDistributedDevice)")
      .option("--target <instanceId>", "only those now at this instance", ""),
    {
      fetch: async (c, page, o: PageOptions & { target: string }, [pk]) => {
        const p = await c.listDistributedDevice({ ...page, productKey: pk!, targetInstanceId: o.target });
        return { items: p.devices, next: p.nextPageToken };
      },
      printJson: (devices, nextPageToken) => printJson(ListDistributedDeviceResponseSchema, create(ListDistributedDeviceResponseSchema, { devices, nextPageToken })),
      print: (items) => printTable(["DEVICE NAME", "NOW AT", "GENERATION"], items.map((d) => [d.deviceName, `${d.targetRegionId}/${d.targetInstanceId}`, d.generation])),
    },
  );
  pagedList(program, distributed.command("products").description("products with copies elsewhere (ListDistributedProduct)"), {
    fetch: async (c, page) => {
      const p = await c.listDistributedProduct(page);
      return { items: p.products, next: p.nextPageToken };
    },
    printJson: (products, nextPageToken) => printJson(ListDistributedProductResponseSchema, create(ListDistributedProductResponseSchema, { products, nextPageToken })),
    print: (items) => printTable(["PRODUCT KEY", "NAME", "COPY AT", "SYNCED", "VERSION"], items.map((p) => [p.productKey, p.productName, `${p.targetRegionId}/${p.targetInstanceId}`, p.syncedVersion, p.version])),
  });
}
