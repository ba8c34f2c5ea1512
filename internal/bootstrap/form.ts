import { IotfedError } from "../domain/index.js";

/**
 * Hand-written parser for the bootstrap form body
 * (`application/x-www-form-urlencoded`). It reads the bytes once, decodes
 * only the fields the protocol knows, refuses repeated known fields and bad
 * percent-encoding, and bounds every field.
 */
export interface BootstrapForm {
  productKey: string | undefined;
  deviceName: string | undefined;
  clientId: string | undefined;
  version: string | undefined;
  timestamp: string | undefined;
  resources: string | undefined;
}

export type FormField = keyof BootstrapForm;

/** Longest accepted value per field (SPEC: clientId ≤ 64). */
export const FIELD_MAX: Record<FormField, number> = {
  productKey: 32,
  deviceName: 64,
  clientId: 64,
  version: 32,
  timestamp: 20,
  resources: 64,
};

export class FormError extends IotfedError {
  override readonly name = "FormError";
  readonly code = "INVALID_ARGUMENT";
  constructor(field: string | undefined, message: string) {
    super(message, field === undefined ? {} : { field });
  }
}

const FIELDS: readonly FormField[] = ["productKey", "deviceName", "clientId", "version", "timestamp", "resources"];

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Which known field the raw key bytes name, or undefined (keys are plain ASCII in practice). */
function fieldOf(body: Buffer, start: number, end: number): FormField | undefined {
  const len = end - start;
  for (const f of FIELDS) {
    if (f.length !== len) continue;
    let eq = true;
    for (let i = 0; i < len; i++) {
      if (body[start + i] !== f.charCodeAt(i)) {
        eq = false;
        break;
      }
    }
    if (eq) return f;
  }
  return undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeValue(body: Buffer, start: number, end: number, field: FormField): string {
  if (end - start > FIELD_MAX[field] * 3) throw new FormError(field, `${field} is too long (at most ${FIELD_MAX[field]} characters)`);
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = body[i]!;
    if (c === 0x25 || c === 0x2b) plain = false;
    else if (c < 0x20 || c > 0x7e) throw new FormError(field, `${field} holds a byte that form encoding does not allow`);
  }
  let value: string;
  if (plain) value = body.toString("latin1", start, end);
  else {
    const out = Buffer.allocUnsafe(end - start);
    let n = 0;
    for (let i = start; i < end; i++) {
      const c = body[i]!;
      if (c === 0x2b) out[n++] = 0x20;
      else if (c === 0x25) {
        const hi = i + 2 < end ? hexVal(body[i + 1]!) : -1;
        const lo = i + 2 < end ? hexVal(body[i + 2]!) : -1;
        if (hi < 0 || lo < 0) throw new FormError(field, `${field} has a malformed percent-encoding`);
        out[n++] = hi * 16 + lo;
        i += 2;
      } else out[n++] = c;
    }
    try {
      value = utf8.decode(out.subarray(0, n));
    } catch {
      throw new FormError(field, `${field} is not valid UTF-8`);
    }
  }
  if (value.length > FIELD_MAX[field]) throw new FormError(field, `${field} is too long (at most ${FIELD_MAX[field]} characters)`);
  return value;
}

export function parseBootstrapForm(body: Buffer): BootstrapForm {
  const form: BootstrapForm = {
    productKey: undefined,
    deviceName: undefined,
    clientId: undefined,
    version: undefined,
    timestamp: undefined,
    resources: undefined,
  };
  let pos = 0;
  const len = body.length;
  while (pos <= len) {
    let amp = body.indexOf(0x26, pos);
    if (amp < 0) amp = len;
    if (amp > pos) {
      let eq = body.indexOf(0x3d, pos);
      if (eq < 0 || eq > amp) eq = amp;
      const field = fieldOf(body, pos, eq);
      if (field !== undefined) {
        if (form[field] !== undefined) throw new FormError(field, `${field} is given more than once`);
        form[field] = decodeValue(body, eq < amp ? eq + 1 : amp, amp, field);
      }
    }
    pos = amp + 1;
  }
  return form;
}
