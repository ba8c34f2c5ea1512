import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { refusal, type Admin, type Refusal } from "./api.js";
import { translate, type Lang, type MessageKey } from "./i18n.js";

/** What every page gets: the admin client, who is signed in, and the language. */
export interface ConsoleContext {
  admin: Admin;
  lang: Lang;
  /** This daemon's instance and region, and the principal. */
  self: { instanceId: string; regionId: string; operator: boolean; accountId: string };
}

export const Ctx = createContext<ConsoleContext>(undefined as unknown as ConsoleContext);
export const useConsole = (): ConsoleContext => useContext(Ctx);

export function useT(): (key: MessageKey, vars?: Record<string, string | number>) => string {
  const { lang } = useConsole();
  return (key, vars) => translate(lang, key, vars);
}

/** Loads with `fn` when `deps` change; `reload()` again. With `everyMs`, reloads that often while the page is shown. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], everyMs?: number): { data: T | undefined; error: Refusal | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Refusal | undefined>(undefined);
  const [n, setN] = useState(0);
  const reload = useCallback(() => setN((x) => x + 1), []);
  useEffect(() => {
    let live = true;
    fn().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (e: unknown) => live && setError(refusal(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  useEffect(() => {
    if (everyMs === undefined) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [everyMs, reload]);
  return { data, error, reload };
}

/** Runs an action; its refusal (with the rule it cites) or its success message is shown by <Outcome>. */
export function useAction(): {
  run: (fn: () => Promise<string | undefined | void>) => Promise<void>;
  busy: boolean;
  outcome: { ok?: string; error?: Refusal } | undefined;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok?: string; error?: Refusal } | undefined>(undefined);
  const run = async (fn: () => Promise<string | undefined | void>): Promise<void> => {
    setBusy(true);
    setOutcome(undefined);
    try {
      const ok = await fn();
      setOutcome(typeof ok === "string" ? { ok } : undefined);
    } catch (e) {
      setOutcome({ error: refusal(e) });
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, outcome, clear: () => setOutcome(undefined) };
}

export function ErrorBox({ error }: { error: Refusal | undefined }) {
  const t = useT();
  if (error === undefined) return null;
  return (
    <div class="refusal" role="alert">
      {error.rule !== "" && <span class="rule">{error.rule}</span>}
      <span>{error.message}</span>
      {error.field !== "" && <span class="field">{t("field")}: {error.field}</span>}
    </div>
  );
}

export function Outcome({ outcome }: { outcome: { ok?: string; error?: Refusal } | undefined }) {
  if (outcome === undefined) return null;
  if (outcome.error !== undefined) return <ErrorBox error={outcome.error} />;
  return (
    <div class="ok" role="status">
      {outcome.ok}
    </div>
  );
}

export interface Column<R> {
  key: string;
  title: string;
  cell: (r: R) => ComponentChildren;
}

export function Table<R>({ rows, cols, rowKey, caption, empty }: { rows: readonly R[]; cols: Column<R>[]; rowKey: (r: R) => string; caption?: string; empty?: string }) {
  return (
    <table>
      {caption !== undefined && <caption>{caption}</caption>}
      <thead>
        <tr>
          {cols.map((c) => (
            <th scope="col" key={c.key}>
              {c.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={cols.length} class="empty">
              {empty ?? "—"}
            </td>
          </tr>
        ) : (
          rows.map((r) => (
            <tr key={rowKey(r)} data-row={rowKey(r)}>
              {cols.map((c) => (
                <td key={c.key}>{c.cell(r)}</td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

/** A labelled input; `id` ties the label to it. */
export function Field({ id, label, children, hint }: { id: string; label: string; children: ComponentChildren; hint?: string }) {
  return (
    <div class="field-row">
      <label for={id}>{label}</label>
      {children}
      {hint !== undefined && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

/** Saves text as a file the browser downloads. */
export function download(name: string, text: string, type = "text/csv;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A CSV cell, quoted when it must be. */
export const csvCell = (v: string | number | bigint): string => {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** The cells of one CSV line (quoted cells with "" inside them too). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      cells.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

/**
 * Device names from an uploaded file: a CSV whose header names a
 * `deviceName` column (the template), or one name per line. With
 * `productKey`, a record of another product refuses the file, as
 * `iotfedctl job create --file` does: a job moves devices of one product.
 */
export function namesFromCsv(text: string, productKey?: string): string[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = csvCells(lines[0] ?? "").map((h) => h.toLowerCase());
  const dn = header.indexOf("devicename");
  if (dn < 0) return lines.map((l) => l.trim()).filter((l) => l !== "");
  const pk = header.indexOf("productkey");
  const names: string[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const cells = csvCells(line);
    const name = cells[dn] ?? "";
    if (productKey !== undefined && pk >= 0 && cells[pk] !== productKey) {
      throw new Error(`line ${i + 2}: device ${name} belongs to product ${cells[pk] ?? "(none)"}, not ${productKey}; a job moves devices of one product`);
    }
    if (name !== "") names.push(name);
  });
  return names;
}

export const fmtTime = (ms: bigint | number): string => (Number(ms) === 0 ? "—" : new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19));

/** Reads a file the user picked as text. */
export function readFile(input: HTMLInputElement): Promise<string> {
  const f = input.files?.[0];
  return f === undefined ? Promise.resolve("") : f.text();
}

/**
 * A form that runs one action when submitted: its heading, its fields, a
 * submit button (off while the action runs) and, below it, the action's
 * success message or refusal (<Outcome>).
 */
export function ActionForm({
  id,
  title,
  submit,
  action,
  level = 2,
  inline = false,
  disabled = false,
  children,
}: {
  id: string;
  title: string;
  submit: string;
  action: () => Promise<string | undefined | void>;
  level?: 2 | 3;
  inline?: boolean;
  disabled?: boolean;
  children: ComponentChildren;
}) {
  const act = useAction();
  const Heading = level === 2 ? "h2" : "h3";
  return (
    <form
      class={inline ? "panel inline" : "panel"}
      aria-labelledby={id}
      onSubmit={(e) => {
        e.preventDefault();
        void act.run(action);
      }}
    >
      <Heading id={id}>{title}</Heading>
      {children}
      <button type="submit" disabled={act.busy || disabled}>
        {submit}
      </button>
      <Outcome outcome={act.outcome} />
    </form>
  );
}
