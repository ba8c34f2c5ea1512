import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
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

/**
 * Device names from an uploaded file: a CSV whose header names a
 * `deviceName` column (the template), or one name per line.
 */
export function namesFromCsv(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length === 0) return [];
  const header = lines[0]!.split(",").map((h) => h.trim().replace(/^"|"$/g, ""));
  const col = header.findIndex((h) => h.toLowerCase() === "devicename");
  if (col < 0) return lines;
  return lines.slice(1).map((l) => (l.split(",")[col] ?? "").trim().replace(/^"|"$/g, "")).filter((n) => n !== "");
}

export const fmtTime = (ms: bigint | number): string => (Number(ms) === 0 ? "—" : new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19));

/** Reads a file the user picked as text. */
export function readFile(input: HTMLInputElement): Promise<string> {
  const f = input.files?.[0];
  return f === undefined ? Promise.resolve("") : f.text();
}

/** A stable ref to the latest value (for timers). */
export function useLatest<T>(v: T): { current: T } {
  const r = useRef(v);
  r.current = v;
  return r;
}
