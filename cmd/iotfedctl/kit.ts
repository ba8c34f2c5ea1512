import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { connect, type AdminClient, type GlobalOptions } from "./client.js";
import { UsageError } from "./output.js";

/** What a command does with a connected client; `json` is the global --json. */
export type Action = (client: AdminClient, json: boolean) => Promise<void>;

/** Wraps an action: connects with the global options, runs, closes. */
export function act(program: Command, fn: (...args: never[]) => Action) {
  return async (...args: unknown[]): Promise<void> => {
    const g = program.opts<GlobalOptions>();
    const client = connect(g);
    try {
      await (fn as (...a: unknown[]) => Action)(...args)(client, g.json === true);
    } finally {
      client.close();
    }
  };
}

/** A flag's value looked up in `table`, or a usage error listing the choices. */
export function choice<T>(flag: string, value: string, table: Record<string, T>): T {
  const v = table[value];
  if (v === undefined) throw new UsageError(`${flag} must be one of: ${Object.keys(table).join(", ")}`);
  return v;
}

/** A file's text, or standard input for `-`. */
export function readInput(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export function topicId(s: string): bigint {
  if (!/^[1-9][0-9]{0,15}$/.test(s)) throw new UsageError("<topicId> must be a positive number");
  return BigInt(s);
}

/** `a,b, c` as ["a", "b", "c"]. */
export const commaList = (s: string): string[] => s.split(",").map((x) => x.trim()).filter(Boolean);

export interface PageOptions {
  pageSize: string;
  pageToken: string;
  all?: boolean;
}

/**
 * A list command: --page-size, --page-token and --all the same everywhere.
 * `fetch` reads one page; with --all every page is followed. JSON output
 * carries the next page token; people's output prints a hint with it (on
 * standard error when the output is data, e.g. CSV).
 */
export function pagedList<O extends PageOptions, T>(
  program: Command,
  cmd: Command,
  spec: {
    fetch(c: AdminClient, page: { pageSize: number; pageToken: string }, o: O, args: string[]): Promise<{ items: T[]; next: string }>;
    printJson(items: T[], next: string): void;
    /** Prints the items for people; returns "data" when the output is data (the hint goes to standard error). */
    print(items: T[], o: O): void | "data";
  },
): void {
  cmd
    .option("--page-size <n>", "items per page (default 50, at most 1000)", "0")
    .option("--page-token <token>", "continue from a previous page", "")
    .option("--all", "follow every page")
    .action(
      act(program, (...raw: unknown[]) => async (c, json) => {
        const n = cmd.registeredArguments.length;
        const args = raw.slice(0, n) as string[];
        const o = raw[n] as O;
        const items: T[] = [];
        let token = o.pageToken;
        let next: string;
        for (;;) {
          const page = await spec.fetch(c, { pageSize: Number(o.pageSize), pageToken: token }, o, args);
          items.push(...page.items);
          next = page.next;
          if (!o.all || next === "") break;
          token = next;
        }
        if (json) return spec.printJson(items, next);
        const kind = spec.print(items, o);
        if (next !== "") (kind === "data" ? process.stderr : process.stdout).write(`next page: --page-token ${next}\n`);
      }),
    );
}

/** Every page of a list, for commands that always want the whole list. */
export async function allPages<T>(fetch: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const page = await fetch(token);
    items.push(...page.items);
    token = page.next;
  } while (token !== "");
  return items;
}
