import { useState } from "preact/hooks";
import { DevicePlacement, DeviceStatus, type Device } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { ActionForm, ErrorBox, Field, Outcome, Table, fmtTime, namesFromCsv, readFile, useAction, useConsole, useLoad, useT } from "../ui.js";
import { allProducts } from "./products.js";

const STATUS_KEYS: Record<number, string> = {
  [DeviceStatus.INACTIVE]: "st_inactive",
  [DeviceStatus.ONLINE]: "st_online",
  [DeviceStatus.OFFLINE]: "st_offline",
  [DeviceStatus.DISABLED]: "st_disabled",
};
const PLACEMENT_KEYS: Record<number, string> = {
  [DevicePlacement.HERE]: "pl_here",
  [DevicePlacement.LEAVING]: "pl_leaving",
  [DevicePlacement.AWAY]: "pl_away",
};

export function StatusBadge({ status }: { status: DeviceStatus }) {
  const t = useT();
  const k = STATUS_KEYS[status] ?? "st_inactive";
  return <span class={`badge ${k}`}>{t(k as never)}</span>;
}

function DeviceDetail({ productKey, deviceName, onChanged }: { productKey: string; deviceName: string; onChanged: () => void }) {
  const { admin } = useConsole();
  const t = useT();
  const { data, error, reload } = useLoad(
    async () => {
      const [d, shadow, props, status] = await Promise.all([
        admin.queryDeviceDetail({ productKey, deviceName }),
        admin.getDeviceShadow({ productKey, deviceName }).catch(() => ({ shadowJson: "", version: 0n })),
        admin.queryDeviceProp({ productKey, deviceName }).catch(() => ({ props: [] })),
        admin.queryDevicePropertyStatus({ productKey, deviceName }).catch(() => ({ properties: [] })),
      ]);
      return { device: d.device!, shadow: shadow.shadowJson, tags: props.props, properties: status.properties };
    },
    [admin, productKey, deviceName],
  );
  const act = useAction();
  if (data === undefined) return <ErrorBox error={error} />;
  const d = data.device;
  const change = (fn: () => Promise<unknown>, ok: string) =>
    void act.run(async () => {
      await fn();
      reload();
      onChanged();
      return ok;
    });
  return (
    <section class="detail" aria-labelledby="h-device">
      <h2 id="h-device">
        {d.deviceName} <StatusBadge status={d.status} />
      </h2>
      <dl class="facts">
        <dt>ProductKey</dt>
        <dd>
          <code>{d.productKey}</code>
        </dd>
        <dt>IotId</dt>
        <dd>
          <code>{d.iotId}</code>
        </dd>
        <dt>{t("placement")}</dt>
        <dd>{t((PLACEMENT_KEYS[d.placement] ?? "pl_here") as never)}</dd>
        <dt>{t("holder")}</dt>
        <dd>{d.instanceId}</dd>
        <dt>{t("home")}</dt>
        <dd>{d.homeInstanceId}</dd>
        <dt>{t("generation")}</dt>
        <dd>{String(d.generation)}</dd>
        <dt>{t("createdAt")}</dt>
        <dd>{fmtTime(d.createTimeMs)}</dd>
        <dt>{t("lastOnline")}</dt>
        <dd>{fmtTime(d.lastOnlineTimeMs)}</dd>
      </dl>
      <div class="panel">
        <button type="button" disabled={act.busy} onClick={() => change(() => admin.enableThing({ productKey, deviceName }), t("enabled"))}>
          {t("enable")}
        </button>{" "}
        <button type="button" disabled={act.busy} onClick={() => change(() => admin.disableThing({ productKey, deviceName }), t("disabled"))}>
          {t("disable")}
        </button>{" "}
        <button
          type="button"
          class="danger"
          disabled={act.busy}
          onClick={() => {
            if (confirm(t("deleteConfirm", { name: deviceName }))) change(() => admin.deleteDevice({ productKey, deviceName }), t("deleted"));
          }}
        >
          {t("delete")}
        </button>
        <Outcome outcome={act.outcome} />
      </div>
      <h3>{t("tags")}</h3>
      <Table rows={data.tags} rowKey={(x) => x.key} empty={t("none")} cols={[{ key: "k", title: t("key"), cell: (x) => x.key }, { key: "v", title: t("value"), cell: (x) => x.value }]} />
      <h3>{t("runtimeData")}</h3>
      <Table
        rows={data.properties}
        rowKey={(x) => x.identifier}
        empty={t("none")}
        cols={[
          { key: "id", title: t("identifier"), cell: (x) => x.identifier },
          { key: "name", title: t("name"), cell: (x) => x.name },
          { key: "v", title: t("value"), cell: (x) => <code>{x.valueJson || "—"}</code> },
          { key: "time", title: t("time"), cell: (x) => fmtTime(x.timeMs) },
        ]}
      />
      <h3>{t("shadow")}</h3>
      <pre class="json">{data.shadow || "—"}</pre>
    </section>
  );
}

export function DevicesPage() {
  const { admin } = useConsole();
  const t = useT();
  const { data: products } = useLoad(() => allProducts(admin), [admin]);
  const [pk, setPk] = useState("");
  const [status, setStatus] = useState(0);
  const [prefix, setPrefix] = useState("");
  const [pages, setPages] = useState<string[]>([""]);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [one, setOne] = useState("");
  const productKey = pk !== "" ? pk : (products?.[0]?.productKey ?? "");
  const pageToken = pages[pages.length - 1]!;
  const { data, error, reload } = useLoad(
    async () => (productKey === "" ? { devices: [] as Device[], nextPageToken: "" } : admin.queryDevice({ productKey, pageSize: 50, pageToken, status, deviceNamePrefix: prefix })),
    [admin, productKey, pageToken, status, prefix],
  );
  const batch = useAction();
  return (
    <section aria-labelledby="h-devices">
      <h1 id="h-devices">{t("devices")}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <Field id="d-product" label={t("product")}>
          <select
            id="d-product"
            value={productKey}
            onChange={(e) => {
              setPk(e.currentTarget.value);
              setPages([""]);
              setSelected(undefined);
            }}
          >
            {(products ?? []).map((p) => (
              <option key={p.productKey} value={p.productKey}>
                {p.productName} ({p.productKey})
              </option>
            ))}
          </select>
        </Field>
        <Field id="d-status" label={t("status")}>
          <select
            id="d-status"
            value={status}
            onChange={(e) => {
              setStatus(Number(e.currentTarget.value));
              setPages([""]);
            }}
          >
            <option value={0}>{t("all")}</option>
            {Object.entries(STATUS_KEYS).map(([v, k]) => (
              <option key={v} value={v}>
                {t(k as never)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="d-prefix" label={t("namePrefix")}>
          <input
            id="d-prefix"
            value={prefix}
            onInput={(e) => {
              setPrefix(e.currentTarget.value);
              setPages([""]);
            }}
          />
        </Field>
      </form>
      <ErrorBox error={error} />
      <div class="split">
        <div>
          <Table
            caption={t("deviceList")}
            rows={data?.devices ?? []}
            rowKey={(d) => d.deviceName}
            empty={t("none")}
            cols={[
              {
                key: "name",
                title: "DeviceName",
                cell: (d) => (
                  <button type="button" class="link" onClick={() => setSelected(d.deviceName)}>
                    {d.deviceName}
                  </button>
                ),
              },
              { key: "status", title: t("status"), cell: (d) => <StatusBadge status={d.status} /> },
              { key: "holder", title: t("holder"), cell: (d) => d.instanceId },
              { key: "gen", title: t("generation"), cell: (d) => String(d.generation) },
            ]}
          />
          <div class="pager">
            <button type="button" disabled={pages.length <= 1} onClick={() => setPages(pages.slice(0, -1))}>
              {t("prev")}
            </button>{" "}
            <button type="button" disabled={(data?.nextPageToken ?? "") === ""} onClick={() => setPages([...pages, data!.nextPageToken])}>
              {t("next")}
            </button>
          </div>
          <ActionForm
            id="h-register" title={t("registerDevice")} submit={t("register")} inline disabled={productKey === ""}
            action={async () => {
              await admin.registerDevice({ productKey, deviceName: one });
              setOne("");
              reload();
              return t("created", { what: one });
            }}
          >
            <Field id="r-name" label="DeviceName">
              <input id="r-name" value={one} required onInput={(e) => setOne(e.currentTarget.value)} />
            </Field>
          </ActionForm>
          <form class="panel" aria-labelledby="h-batch" onSubmit={(e) => e.preventDefault()}>
            <h2 id="h-batch">{t("batchRegister")}</h2>
            <Field id="b-file" label={t("csvFile")} hint={t("csvHint")}>
              <input
                id="b-file"
                type="file"
                accept=".csv,text/csv,text/plain"
                aria-describedby="b-file-hint"
                disabled={productKey === ""}
                onChange={(e) => {
                  const input = e.currentTarget;
                  void batch.run(async () => {
                    const names = namesFromCsv(await readFile(input), productKey);
                    const r = await admin.batchRegisterDevice({ productKey, deviceNames: names });
                    input.value = "";
                    reload();
                    const failed = r.results.filter((x) => !x.success);
                    return t("batchResult", { ok: r.successCount, failed: r.failureCount }) + (failed.length > 0 ? ` — ${failed.slice(0, 5).map((x) => `${x.deviceName}: ${x.errorMessage}`).join("; ")}` : "");
                  });
                }}
              />
            </Field>
            <Outcome outcome={batch.outcome} />
          </form>
        </div>
        <div>{selected !== undefined ? <DeviceDetail key={`${productKey}/${selected}`} productKey={productKey} deviceName={selected} onChanged={reload} /> : <p class="muted">{t("pickDevice")}</p>}</div>
      </div>
    </section>
  );
}
