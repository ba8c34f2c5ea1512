import { InvalidArgumentError } from "./errors.js";

/** ProductKey: 11 chars of [A-Za-z0-9], globally unique (SPEC: Entities). */
export const PRODUCT_KEY_RE = /^[A-Za-z0-9]{11}$/;
/** DeviceName: 4–32 chars of letters, digits and `-_@.:` (SPEC: Entities). */
export const DEVICE_NAME_RE = /^[A-Za-z0-9_@.:-]{4,32}$/;
/** DeviceSecret: 32 chars (SPEC: Entities). */
export const DEVICE_SECRET_LENGTH = 32;
/** Account ids are digits. */
export const ACCOUNT_ID_RE = /^[0-9]{1,20}$/;
/** Account names: 1–64 chars of letters, digits and `-_.@`. */
export const ACCOUNT_NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
/** Product names: 1–64 chars of letters (any script), digits, space and `-_@()`, no edge spaces. */
export const PRODUCT_NAME_RE = /^(?! )[\p{L}\p{N} _@()-]{1,64}(?<! )$/u;
/** Device tag keys. */
export const TAG_KEY_RE = /^[A-Za-z0-9_.-]{1,30}$/;
export const TAG_VALUE_MAX = 128;
export const NICKNAME_MAX = 64;
export const DESCRIPTION_MAX = 256;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function requireValue(field: string, value: string): void {
  if (value.length === 0) throw new InvalidArgumentError(field, "is required");
}

export function checkProductKey(value: string, field = "product_key"): string {
  requireValue(field, value);
  if (!PRODUCT_KEY_RE.test(value)) {
    throw new InvalidArgumentError(field, "must be 11 characters of letters and digits");
  }
  return value;
}

export function isDeviceName(value: string): boolean {
  return DEVICE_NAME_RE.test(value);
}

export function checkDeviceName(value: string, field = "device_name"): string {
  requireValue(field, value);
  if (!isDeviceName(value)) {
    throw new InvalidArgumentError(field, "must be 4-32 characters of letters, digits and -_@.:");
  }
  return value;
}

export function checkAccountId(value: string, field = "account_id"): string {
  requireValue(field, value);
  if (!ACCOUNT_ID_RE.test(value)) throw new InvalidArgumentError(field, "must be digits");
  return value;
}

export function checkAccountName(value: string, field = "account_name"): string {
  requireValue(field, value);
  if (!ACCOUNT_NAME_RE.test(value)) {
    throw new InvalidArgumentError(field, "must be 1-64 characters of letters, digits and -_.@");
  }
  return value;
}

export function checkProductName(value: string, field = "product_name"): string {
  requireValue(field, value);
  if (!PRODUCT_NAME_RE.test(value)) {
    throw new InvalidArgumentError(
      field,
      "must be 1-64 characters of letters, digits, spaces and -_@(), not starting or ending with a space",
    );
  }
  return value;
}

/** Free text: bounded length, no control characters. */
export function checkText(value: string, field: string, max: number): string {
  if (value.length > max) throw new InvalidArgumentError(field, `must be at most ${max} characters`);
  if (CONTROL_RE.test(value)) throw new InvalidArgumentError(field, "must not contain control characters");
  return value;
}

export function checkTag(key: string, value: string, index: number): void {
  if (!TAG_KEY_RE.test(key)) {
    throw new InvalidArgumentError(`props[${index}].key`, "must be 1-30 characters of letters, digits and _.-");
  }
  if (value.length === 0) throw new InvalidArgumentError(`props[${index}].value`, "is required");
  checkText(value, `props[${index}].value`, TAG_VALUE_MAX);
}
