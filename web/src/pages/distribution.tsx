import { useState } from "preact/hooks";
import { JobStatus, type DistributeJob, type FederationInstance } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { ActionForm, ErrorBox, Field, Outcome, Table, csvCell, download, fmtTime, namesFromCsv, readFile, useAction, useConsole, useLoad, useT } from "../ui.js";
import { allProducts } from "./products.js";

/** R1: devices in one job (the daemon's limits.devicesPerBatch; 1,000 as the platform has it). */
const JOB_LIMIT = 1000;
const TEMPLATE = "productKey,deviceName\n";

const STATUS_NAMES: Record<number, string> = {
  [JobStatus.INITIALIZING]: "initializing",
  [JobStatus.RUNNING]: "running",
  [JobStatus.COMPLETED]: "completed",
  [JobStatus.FAILED]: "failed",
  [JobStatus.ABORTED]: "aborted",
};

function JobForm({ instances, onCreated }: { instances: FederationInstance[]; onCreated: (job: DistributeJob) => void }) {
  const { admin } = useConsole();
  const t = useT();
  const { data: products } = useLoad(() => allProducts(admin), [admin]);
  // Any product the account sees here: its own, and a copy it received (distributed onward from here).
  const own = products ?? [];
  const [pk, setPk] = useState("");
  const productKey = pk !== "" ? pk : (own[0]?.productKey ?? "");
  const { data: page } = useLoad(async () => (productKey === "" ? { devices: [] } : admin.queryDevice({ productKey, pageSize: 100 })), [admin, productKey]);
  const others = instances.filter((i) => i.reachability !== "self");
  const [strategy, setStrategy] = useState<"specified" | "nearest">("specified");
  const [target, setTarget] = useState("");
  const targetId = target !== "" ? target : (others[0]?.instanceId ?? "");
  const targetRegion = instances.find((i) => i.instanceId === targetId)?.regionId ?? "";
  const [candidates, setCandidates] = useState<string[]>([]);
  const [cross, setCross] = useState(false);
  const [targetAccount, setTargetAccount] = useState("");
  const [code, setCode] = useState("");
  const [productOnly, setProductOnly] = useState(false);
  const [picked, setPicked] = useState<string[]>([]);
  const [uploaded, setUploaded] = useState<string[]>([]);
  const [runtime, setRuntime] = useState("keep");
  const names = [...new Set([...picked, ...uploaded])];
  const over = names.length > JOB_LIMIT;
  const codeAct = useAction();
  const csvAct = useAction();
  const toggle = (list: string[], v: string, on: boolean): string[] => (on ? [...list, v] : list.filter((x) => x !== v));
  return (
    <ActionForm
      id="h-new-job" title={t("newJob")} submit={t("createJob")} disabled={productKey === ""}
      action={async () => {
        const account = cross ? { targetAccountId: targetAccount, authCode: code } : {};
        const where =
          strategy === "nearest"
            ? { strategy: "nearest", candidates: candidates.map((id) => ({ instanceId: id, regionId: instances.find((i) => i.instanceId === id)?.regionId ?? "" })) }
            : { strategy: "specified", targetInstanceId: targetId, targetRegionId: targetRegion };
        const r = productOnly
          ? await admin.createProductDistributeJob({ productKey, ...(strategy === "nearest" ? { strategy: "nearest" } : { targetInstanceId: targetId, targetRegionId: targetRegion, strategy: "specified" }), ...account })
          : await admin.createDeviceDistributeJob({ productKey, deviceNames: names, runtimeData: runtime, ...where, ...account });
        onCreated(r.job!);
        setPicked([]);
        setUploaded([]);
        return t("jobCreated", { id: r.job!.jobId });
      }}
    >
      <Field id="j-product" label={t("product")}>
        <select id="j-product" value={productKey} onChange={(e) => (setPk(e.currentTarget.value), setPicked([]))}>
          {own.map((p) => (
            <option key={p.productKey} value={p.productKey}>
              {p.productName} ({p.productKey})
            </option>
          ))}
        </select>
      </Field>
      <fieldset>
        <legend>{t("strategy")}</legend>
        <label>
          <input type="radio" name="strategy" checked={strategy === "specified"} onChange={() => setStrategy("specified")} /> {t("specified")}
        </label>{" "}
        <label>
          <input type="radio" name="strategy" checked={strategy === "nearest"} onChange={() => setStrategy("nearest")} /> {t("nearest")}
        </label>
      </fieldset>
      {strategy === "specified" ? (
        <Field id="j-target" label={t("target")}>
          <select id="j-target" value={targetId} onChange={(e) => setTarget(e.currentTarget.value)}>
            {others.map((i) => (
              <option key={i.instanceId} value={i.instanceId}>
                {i.regionId} / {i.instanceId}
              </option>
            ))}
          </select>
        </Field>
      ) : (
        <fieldset>
          <legend>{t("candidates")}</legend>
          {instances.map((i) => (
            <label key={i.instanceId} class="check">
              <input type="checkbox" checked={candidates.includes(i.instanceId)} onChange={(e) => setCandidates(toggle(candidates, i.instanceId, e.currentTarget.checked))} /> {i.regionId} / {i.instanceId}
            </label>
          ))}
        </fieldset>
      )}
      <fieldset>
        <legend>{t("account")}</legend>
        <label>
          <input type="checkbox" checked={cross} onChange={(e) => setCross(e.currentTarget.checked)} /> {t("crossAccount")}
        </label>
        {cross && (
          <>
            <Field id="j-account" label={t("targetAccount")}>
              <input id="j-account" value={targetAccount} required onInput={(e) => setTargetAccount(e.currentTarget.value)} />
            </Field>
            <button
              type="button"
              disabled={codeAct.busy || targetAccount === ""}
              onClick={() =>
                void codeAct.run(async () => {
                  const r = await admin.requestAuthCode({ targetAccountId: targetAccount, targetInstanceId: targetId, targetRegionId: targetRegion });
                  return t("codeRequested", { id: r.codeId, until: fmtTime(r.expireTimeMs) });
                })
              }
            >
              {t("requestCode")}
            </button>
            <Outcome outcome={codeAct.outcome} />
            <Field id="j-code" label={t("authCode")} hint={t("authCodeHint")}>
              <input id="j-code" value={code} inputMode="numeric" required onInput={(e) => setCode(e.currentTarget.value)} />
            </Field>
          </>
        )}
      </fieldset>
      <label>
        <input type="checkbox" checked={productOnly} onChange={(e) => setProductOnly(e.currentTarget.checked)} /> {t("productOnly")}
      </label>
      {!productOnly && (
        <fieldset>
          <legend>{t("devicesToMove")}</legend>
          <div class="picklist" role="group" aria-label={t("pickDevices")}>
            {(page?.devices ?? []).map((d) => (
              <label key={d.deviceName} class="check">
                <input type="checkbox" checked={picked.includes(d.deviceName)} onChange={(e) => setPicked(toggle(picked, d.deviceName, e.currentTarget.checked))} /> {d.deviceName}
              </label>
            ))}
          </div>
          <Field id="j-csv" label={t("csvFile")} hint={t("jobCsvHint")}>
            <input
              id="j-csv"
              type="file"
              accept=".csv,text/csv,text/plain"
              onChange={(e) => {
                const input = e.currentTarget;
                void csvAct.run(async () => {
                  setUploaded([]);
                  setUploaded(namesFromCsv(await readFile(input), productKey));
                });
              }}
            />
            <Outcome outcome={csvAct.outcome} />
          </Field>
          <button type="button" class="link" onClick={() => download("device-list-template.csv", TEMPLATE)}>
            {t("downloadTemplate")}
          </button>
          <Field id="j-runtime" label={t("runtimeDataMove")}>
            <select id="j-runtime" value={runtime} onChange={(e) => setRuntime(e.currentTarget.value)}>
              <option value="keep">{t("rtKeep")}</option>
              <option value="migrate">{t("rtMigrate")}</option>
            </select>
          </Field>
          <p class={over ? "warn" : "muted"} data-count={names.length} role={over ? "alert" : undefined}>
            {t("selectedCount", { n: names.length, limit: JOB_LIMIT })} {over && t("overLimit", { limit: JOB_LIMIT })}
          </p>
        </fieldset>
      )}
    </ActionForm>
  );
}

function JobDetail({ job, onChanged }: { job: DistributeJob; onChanged: () => void }) {
  const { admin } = useConsole();
  const t = useT();
  const src = job.sourceInstanceId;
  const { data, error } = useLoad(
    async () => {
      const out = [];
      let token = "";
      do {
        const r = await admin.queryDeviceDistributeDetail({ jobId: job.jobId, pageSize: 1000, pageToken: token, sourceInstanceId: src });
        out.push(...r.results);
        token = r.nextPageToken;
      } while (token !== "" && out.length < 20000);
      return out;
    },
    [admin, job.jobId, job.status, job.succeeded, job.failed],
  );
  const act = useAction();
  const results = data ?? [];
  return (
    <section class="detail" aria-labelledby="h-job">
      <h2 id="h-job">
        {t("job")} <code>{job.jobId}</code> <span class={`badge job-${STATUS_NAMES[job.status]}`}>{t(`job_${STATUS_NAMES[job.status] ?? "running"}` as never)}</span>
      </h2>
      <ErrorBox error={error} />
      <div class="panel">
        <button
          type="button"
          onClick={() =>
            download(
              `${job.jobId}-results.csv`,
              ["deviceName,result,generation,errorCode,errorMessage,note", ...results.map((r) => [r.deviceName, r.result, r.generation, r.errorCode, r.errorMessage, r.note].map(csvCell).join(","))].join("\n") + "\n",
            )
          }
        >
          {t("downloadResults")}
        </button>{" "}
        <button type="button" disabled={act.busy} onClick={() => void act.run(async () => (await admin.retryDeviceDistributeJob({ jobId: job.jobId, sourceInstanceId: src }), onChanged(), t("retried")))}>
          {t("retry")}
        </button>{" "}
        <button type="button" class="danger" disabled={act.busy} onClick={() => void act.run(async () => (await admin.abortDeviceDistributeJob({ jobId: job.jobId, sourceInstanceId: src, waitMs: 5000 }), onChanged(), t("aborted")))}>
          {t("abort")}
        </button>
        <Outcome outcome={act.outcome} />
      </div>
      <Table
        caption={t("perDevice")}
        rows={results}
        rowKey={(r) => r.deviceName}
        empty={t("none")}
        cols={[
          { key: "dn", title: "DeviceName", cell: (r) => r.deviceName },
          { key: "result", title: t("result"), cell: (r) => r.result },
          { key: "gen", title: t("generation"), cell: (r) => String(r.generation) },
          { key: "err", title: t("error"), cell: (r) => r.errorMessage || "—" },
          { key: "note", title: t("note"), cell: (r) => r.note || "—" },
        ]}
      />
    </section>
  );
}

function AuthCodes() {
  const { admin } = useConsole();
  const t = useT();
  const { data, error } = useLoad(() => admin.listAuthCodes({ pageSize: 100 }), [admin], 5000);
  return (
    <section aria-labelledby="h-codes">
      <h2 id="h-codes">{t("authCodes")}</h2>
      <ErrorBox error={error} />
      <Table
        rows={data?.codes ?? []}
        rowKey={(c) => c.codeId}
        empty={t("none")}
        cols={[
          { key: "code", title: t("authCode"), cell: (c) => <code data-code={c.code}>{c.code || "—"}</code> },
          { key: "from", title: t("requester"), cell: (c) => `${c.requesterAccountName} (${c.requesterAccountId})` },
          { key: "at", title: t("atInstance"), cell: (c) => c.requesterInstanceId },
          { key: "state", title: t("state"), cell: (c) => c.state },
          { key: "exp", title: t("expires"), cell: (c) => fmtTime(c.expireTimeMs) },
        ]}
      />
    </section>
  );
}

export function DistributionPage() {
  const { admin } = useConsole();
  const t = useT();
  const { data: fed } = useLoad(() => admin.queryFederation({}), [admin]);
  const { data: jobs, error, reload } = useLoad(() => admin.listDeviceDistributeJob({ pageSize: 50, allInstances: true }), [admin], 1000);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const job = jobs?.jobs.find((j) => j.jobId === selected);
  return (
    <section aria-labelledby="h-distribution">
      <h1 id="h-distribution">{t("distribution")}</h1>
      <div class="split">
        <div>{fed !== undefined && <JobForm instances={fed.instances} onCreated={(j) => (reload(), setSelected(j.jobId))} />}</div>
        <div>
          <ErrorBox error={error} />
          {(jobs?.unreachableInstances.length ?? 0) > 0 && <p class="warn">{t("unreachableList", { list: jobs!.unreachableInstances.join(", ") })}</p>}
          <Table
            caption={t("jobList")}
            rows={jobs?.jobs ?? []}
            rowKey={(j) => j.jobId}
            empty={t("none")}
            cols={[
              {
                key: "id",
                title: t("job"),
                cell: (j) => (
                  <button type="button" class="link" onClick={() => setSelected(j.jobId)}>
                    {j.jobId}
                  </button>
                ),
              },
              { key: "pk", title: t("product"), cell: (j) => <code>{j.productKey}</code> },
              { key: "route", title: t("fromTo"), cell: (j) => `${j.sourceInstanceId} → ${j.targetInstanceId || t("nearest")}` },
              { key: "status", title: t("status"), cell: (j) => <span class={`badge job-${STATUS_NAMES[j.status]}`} data-status={STATUS_NAMES[j.status]}>{t(`job_${STATUS_NAMES[j.status] ?? "running"}` as never)}</span> },
              {
                key: "progress",
                title: t("progress"),
                cell: (j) => (
                  <span>
                    <progress max={Math.max(1, j.total)} value={j.succeeded + j.failed} aria-label={t("progress")} /> {j.succeeded + j.failed}/{j.total}
                  </span>
                ),
              },
              { key: "time", title: t("createdAt"), cell: (j) => fmtTime(j.createTimeMs) },
            ]}
          />
          {job !== undefined && <JobDetail key={job.jobId} job={job} onChanged={reload} />}
          <AuthCodes />
        </div>
      </div>
    </section>
  );
}
