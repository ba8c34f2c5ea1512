import { InvalidArgumentError } from "../domain/index.js";

/** Opaque page tokens: the last key of the previous page, base64url JSON. */
export function encodePageToken(lastKey: string): string {
  return Buffer.from(JSON.stringify([lastKey])).toString("base64url");
}

export function decodePageToken(token: string, field = "page_token"): string | undefined {
  if (token === "") return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") return v[0];
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError(field, "is not a token returned by this API");
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** Fetches size+1 rows to know whether there is a next page. */
export function toPage<T>(rows: T[], size: number, keyOf: (t: T) => string): Page<T> {
  if (rows.length <= size) return { items: rows, nextPageToken: "" };
  const items = rows.slice(0, size);
  return { items, nextPageToken: encodePageToken(keyOf(items[items.length - 1]!)) };
}
