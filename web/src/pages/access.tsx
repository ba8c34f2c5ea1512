import { useState } from "preact/hooks";
import { ActionForm, ErrorBox, Field, Table, fmtTime, useAction, useConsole, useLoad, useT } from "../ui.js";

/** Device and product grants, given and received (R14–R18). */
export function GrantsPage() {
  const { admin } = useConsole();
  const t = useT();
  const [side, setSide] = useState<"given" | "received">("given");
  const { data, error, reload } = useLoad(() => admin.listGrants({ side, pageSize: 200 }), [admin, side]);
  const [pk, setPk] = useState("");
  const [dn, setDn] = useState("");
  const [grantee, setGrantee] = useState("");
  const act = useAction();
  return (
    <section aria-labelledby="h-grants">
      <h1 id="h-grants">{t("grants")}</h1>
      <div role="tablist" class="tabs">
        {(["given", "received"] as const).map((s) => (
          <button key={s} type="button" role="tab" aria-selected={side === s} onClick={() => setSide(s)}>
            {t(s)}
          </button>
        ))}
      </div>
      <ErrorBox error={error} />
      <Table
        rows={data?.grants ?? []}
        rowKey={(g) => g.grantId}
        empty={t("none")}
        cols={[
          { key: "kind", title: t("kind"), cell: (g) => g.kind },
          { key: "pk", title: "ProductKey", cell: (g) => <code>{g.productKey}</code> },
          { key: "dn", title: "DeviceName", cell: (g) => g.deviceName || "—" },
          { key: "from", title: t("grantor"), cell: (g) => g.grantorAccountId },
          { key: "to", title: t("grantee"), cell: (g) => g.granteeAccountId },
          { key: "time", title: t("createdAt"), cell: (g) => fmtTime(g.createTimeMs) },
          {
            key: "revoke",
            title: "",
            cell: (g) =>
              side === "given" ? (
                <button type="button" class="danger" onClick={() => void act.run(async () => (await admin.revokeGrant({ grantId: g.grantId }), reload(), t("revoked")))}>
                  {t("revoke")}
                </button>
              ) : null,
          },
        ]}
      />
      <ActionForm
        id="h-grant" title={t("grantDevice")} submit={t("grant")} inline
        action={async () => {
          await admin.grantDevice({ productKey: pk, deviceName: dn, granteeAccountId: grantee });
          reload();
          return t("saved");
        }}
      >
        <Field id="g-pk" label="ProductKey">
          <input id="g-pk" value={pk} required onInput={(e) => setPk(e.currentTarget.value)} />
        </Field>
        <Field id="g-dn" label="DeviceName">
          <input id="g-dn" value={dn} required onInput={(e) => setDn(e.currentTarget.value)} />
        </Field>
        <Field id="g-to" label={t("granteeAccount")}>
          <input id="g-to" value={grantee} required onInput={(e) => setGrantee(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </section>
  );
}

export function PoolPage() {
  const { admin } = useConsole();
  const t = useT();
  const { data, error } = useLoad(() => admin.listPoolProducts({ pageSize: 200 }), [admin]);
  return (
    <section aria-labelledby="h-pool">
      <h1 id="h-pool">{t("pool")}</h1>
      <ErrorBox error={error} />
      <Table
        rows={data?.products ?? []}
        rowKey={(p) => p.productKey}
        empty={t("none")}
        cols={[
          { key: "name", title: t("productName"), cell: (p) => p.productName },
          { key: "pk", title: "ProductKey", cell: (p) => <code>{p.productKey}</code> },
          { key: "acct", title: t("account"), cell: (p) => p.accountName || p.accountId },
          { key: "home", title: t("home"), cell: (p) => p.homeInstanceId },
          { key: "topics", title: t("topicClasses"), cell: (p) => String(p.topics.length) },
          { key: "time", title: t("pooledAt"), cell: (p) => fmtTime(p.poolTimeMs) },
        ]}
      />
    </section>
  );
}

export function AuditPage() {
  const { admin } = useConsole();
  const t = useT();
  const [action, setAction] = useState("");
  const { data, error } = useLoad(() => admin.listAuditEvents({ pageSize: 200, action }), [admin, action], 5000);
  return (
    <section aria-labelledby="h-audit">
      <h1 id="h-audit">{t("audit")}</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <Field id="a-action" label={t("action")}>
          <input id="a-action" value={action} onInput={(e) => setAction(e.currentTarget.value)} />
        </Field>
      </form>
      <ErrorBox error={error} />
      <Table
        rows={data?.events ?? []}
        rowKey={(e) => String(e.seq)}
        empty={t("none")}
        cols={[
          { key: "time", title: t("time"), cell: (e) => fmtTime(e.timeMs) },
          { key: "action", title: t("action"), cell: (e) => e.action },
          { key: "result", title: t("result"), cell: (e) => e.result },
          { key: "actor", title: t("actor"), cell: (e) => `${e.actorKind} ${e.actorAccountId}`.trim() },
          { key: "acct", title: t("account"), cell: (e) => e.accountId || "—" },
          { key: "subject", title: t("subject"), cell: (e) => [e.productKey, e.deviceName, e.subjectId].filter((x) => x !== "").join(" ") || "—" },
          { key: "detail", title: t("detail"), cell: (e) => e.detail || "—" },
        ]}
      />
    </section>
  );
}
