import { useState } from "preact/hooks";
import { NodeType, ProductStatus, ScriptType, TopicOperation, type Product } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { ActionForm, ErrorBox, Field, Outcome, Table, fmtTime, readFile, useAction, useConsole, useLoad, useT } from "../ui.js";

/** Every product this principal sees, a page at a time (most accounts have few). */
export async function allProducts(admin: ReturnType<typeof useConsole>["admin"]): Promise<Product[]> {
  const out: Product[] = [];
  let token = "";
  do {
    const r = await admin.queryProductList({ pageSize: 200, pageToken: token });
    out.push(...r.products);
    token = r.nextPageToken;
  } while (token !== "" && out.length < 5000);
  return out;
}

function CreateProduct({ onCreated }: { onCreated: (pk: string) => void }) {
  const { admin } = useConsole();
  const t = useT();
  const [name, setName] = useState("");
  const [gateway, setGateway] = useState(false);
  const [desc, setDesc] = useState("");
  return (
    <ActionForm
      id="h-create-product" title={t("createProduct")} submit={t("create")}
      action={async () => {
        const r = await admin.createProduct({ productName: name, nodeType: gateway ? NodeType.GATEWAY : NodeType.DEVICE, description: desc });
        onCreated(r.product!.productKey);
        setName("");
        return t("created", { what: r.product!.productKey });
      }}
    >
      <Field id="p-name" label={t("productName")}>
        <input id="p-name" value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field id="p-desc" label={t("description")}>
        <input id="p-desc" value={desc} onInput={(e) => setDesc(e.currentTarget.value)} />
      </Field>
      <div class="field-row">
        <label>
          <input type="checkbox" checked={gateway} onChange={(e) => setGateway(e.currentTarget.checked)} /> {t("gateway")}
        </label>
      </div>
    </ActionForm>
  );
}

function ProductDetail({ productKey, onChanged }: { productKey: string; onChanged: () => void }) {
  const { admin, self } = useConsole();
  const t = useT();
  const { data, error, reload } = useLoad(
    async () => {
      const [p, topics, tsl, script] = await Promise.all([
        admin.queryProduct({ productKey }),
        admin.queryProductTopic({ productKey }),
        admin.getThingModelTsl({ productKey }).catch(() => ({ tslJson: "" })),
        admin.getThingScript({ productKey }).catch(() => ({ scriptContent: "", scriptType: ScriptType.JAVASCRIPT })),
      ]);
      return { product: p.product!, topics: topics.topics, tsl: tsl.tslJson, script: script.scriptContent };
    },
    [admin, productKey],
  );
  const [name, setName] = useState<string | undefined>(undefined);
  const [desc, setDesc] = useState<string | undefined>(undefined);
  const [topicName, setTopicName] = useState("");
  const [topicOp, setTopicOp] = useState(TopicOperation.PUB);
  const [tslText, setTslText] = useState<string | undefined>(undefined);
  const [scriptText, setScriptText] = useState<string | undefined>(undefined);
  const lifecycle = useAction();
  if (data === undefined) return <ErrorBox error={error} />;
  const p = data.product;
  const copy = p.ownerInstanceId !== self.instanceId;
  const done = (msg: string): string => {
    reload();
    onChanged();
    return msg;
  };
  return (
    <section class="detail" aria-labelledby="h-product">
      <h2 id="h-product">
        {p.productName} <code>{p.productKey}</code>{" "}
        {copy && (
          <span class="badge readonly" data-readonly="true">
            {t("readOnlyCopy", { owner: p.ownerInstanceId })}
          </span>
        )}
      </h2>
      <dl class="facts">
        <dt>{t("status")}</dt>
        <dd>{p.status === ProductStatus.PUBLISHED ? t("published") : t("developing")}</dd>
        <dt>{t("nodeType")}</dt>
        <dd>{p.nodeType === NodeType.GATEWAY ? t("gateway") : t("directDevice")}</dd>
        <dt>{t("owner")}</dt>
        <dd>{p.ownerInstanceId}</dd>
        <dt>{t("version")}</dt>
        <dd>{String(p.version)}</dd>
        <dt>{t("devices")}</dt>
        <dd>{String(p.deviceCount)}</dd>
        <dt>{t("updated")}</dt>
        <dd>{fmtTime(p.updateTimeMs)}</dd>
      </dl>
      <ActionForm
        id="h-edit-product" title={t("editProduct")} submit={t("save")} level={3}
        action={async () => {
          await admin.updateProduct({ productKey: p.productKey, productName: name ?? p.productName, description: desc ?? p.description });
          return done(t("saved"));
        }}
      >
        {copy && <p class="muted">{t("r9Note")}</p>}
        <Field id="e-name" label={t("productName")}>
          <input id="e-name" value={name ?? p.productName} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field id="e-desc" label={t("description")}>
          <input id="e-desc" value={desc ?? p.description} onInput={(e) => setDesc(e.currentTarget.value)} />
        </Field>
      </ActionForm>
      <div class="panel">
        <h3>{t("lifecycle")}</h3>
        <button type="button" disabled={lifecycle.busy} onClick={() => void lifecycle.run(async () => (await admin.releaseProduct({ productKey: p.productKey }), done(t("publishedOk"))))}>
          {t("publish")}
        </button>{" "}
        <button
          type="button"
          disabled={lifecycle.busy}
          onClick={() => {
            if (!confirm(t("poolConfirm"))) return;
            void lifecycle.run(async () => (await admin.addProductToPool({ productKey: p.productKey, confirmIrreversible: true }), done(t("pooledOk"))));
          }}
        >
          {t("addToPool")}
        </button>
        <Outcome outcome={lifecycle.outcome} />
      </div>
      <Table
        caption={t("topicClasses")}
        rows={data.topics}
        rowKey={(x) => String(x.topicId)}
        empty={t("none")}
        cols={[
          { key: "topic", title: t("topic"), cell: (x) => <code>{x.topic}</code> },
          { key: "op", title: t("operation"), cell: (x) => TopicOperation[x.operation] },
          { key: "desc", title: t("description"), cell: (x) => x.description },
        ]}
      />
      <ActionForm
        id="h-topic" title={t("createTopic")} submit={t("create")} level={3} inline
        action={async () => {
          await admin.createProductTopic({ productKey: p.productKey, topicShortName: topicName, operation: topicOp });
          setTopicName("");
          return done(t("saved"));
        }}
      >
        <Field id="t-name" label={t("topicShortName")}>
          <input id="t-name" value={topicName} required onInput={(e) => setTopicName(e.currentTarget.value)} />
        </Field>
        <Field id="t-op" label={t("operation")}>
          <select id="t-op" value={topicOp} onChange={(e) => setTopicOp(Number(e.currentTarget.value))}>
            <option value={TopicOperation.PUB}>{t("opPub")}</option>
            <option value={TopicOperation.SUB}>{t("opSub")}</option>
            <option value={TopicOperation.ALL}>{t("opAll")}</option>
          </select>
        </Field>
      </ActionForm>
      <ActionForm
        id="h-tsl" title={t("thingModel")} submit={t("importTsl")} level={3}
        action={async () => {
          await admin.importThingModelTsl({ productKey: p.productKey, tslJson: tslText ?? data.tsl });
          return done(t("saved"));
        }}
      >
        <Field id="tsl-file" label={t("tslFile")}>
          <input id="tsl-file" type="file" accept=".json,application/json" onChange={(e) => void readFile(e.currentTarget).then(setTslText)} />
        </Field>
        <Field id="tsl" label={t("tslJson")}>
          <textarea id="tsl" rows={8} value={tslText ?? data.tsl} onInput={(e) => setTslText(e.currentTarget.value)} />
        </Field>
      </ActionForm>
      <ActionForm
        id="h-script" title={t("script")} submit={t("save")} level={3}
        action={async () => {
          const content = scriptText ?? data.script;
          if (data.script === "") await admin.createThingScript({ productKey: p.productKey, scriptType: ScriptType.JAVASCRIPT, scriptContent: content });
          else await admin.updateThingScript({ productKey: p.productKey, scriptType: ScriptType.JAVASCRIPT, scriptContent: content });
          return done(t("saved"));
        }}
      >
        <Field id="script" label={t("scriptJs")}>
          <textarea id="script" rows={6} value={scriptText ?? data.script} onInput={(e) => setScriptText(e.currentTarget.value)} />
        </Field>
      </ActionForm>
    </section>
  );
}

export function ProductsPage() {
  const { admin, self } = useConsole();
  const t = useT();
  const { data, error, reload } = useLoad(() => allProducts(admin), [admin]);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  return (
    <section aria-labelledby="h-products">
      <h1 id="h-products">{t("products")}</h1>
      <ErrorBox error={error} />
      <div class="split">
        <div>
          <Table
            caption={t("productList")}
            rows={data ?? []}
            rowKey={(p) => p.productKey}
            empty={t("none")}
            cols={[
              {
                key: "name",
                title: t("productName"),
                cell: (p) => (
                  <button type="button" class="link" onClick={() => setSelected(p.productKey)}>
                    {p.productName}
                  </button>
                ),
              },
              { key: "pk", title: "ProductKey", cell: (p) => <code>{p.productKey}</code> },
              { key: "owner", title: t("owner"), cell: (p) => (p.ownerInstanceId === self.instanceId ? t("here") : <span class="badge readonly">{t("readOnly")}</span>) },
              { key: "devices", title: t("devices"), cell: (p) => String(p.deviceCount) },
            ]}
          />
          <CreateProduct
            onCreated={(pk) => {
              reload();
              setSelected(pk);
            }}
          />
        </div>
        <div>{selected !== undefined ? <ProductDetail key={selected} productKey={selected} onChanged={reload} /> : <p class="muted">{t("pickProduct")}</p>}</div>
      </div>
    </section>
  );
}
