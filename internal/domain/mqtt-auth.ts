import { createHmac, timingSafeEqual } from "node:crypto";
import { DEVICE_NAME_RE, PRODUCT_KEY_RE } from "./names.js";
import { IotfedError } from "./errors.js";

export type SignMethod = "hmacmd5" | "hmacsha1" | "hmacsha256";
const HASH: Record<SignMethod, string> = { hmacmd5: "md5", hmacsha1: "sha1", hmacsha256: "sha256" };

/** What a device's MQTT CONNECT says about who it is, before its signature is checked. */
export interface MqttSignIn {
  /** The `<id>` before the first `|` of the MQTT client id. */
  id: string;
  securemode: "2" | "3";
  signmethod: SignMethod;
  timestamp: string | undefined;
  productKey: string;
  deviceName: string;
  /** The password: hex HMAC of the sorted parameters with the DeviceSecret. */
  sign: string;
}

/** Why a CONNECT is refused, without any secret in it. */
export class MqttSignInError extends IotfedError {
  override readonly name = "MqttSignInError";
  readonly code = "UNAUTHENTICATED";
}

/**
 * Parses the platform's device sign-in: client id
 * `<id>|securemode=2|3,signmethod=hmacmd5|hmacsha1|hmacsha256[,timestamp=<ms>]|`,
 * username `<deviceName>&<productKey>`, password the hex HMAC.
 */
export function parseMqttSignIn(clientId: string, username: string | undefined, password: Buffer | string | undefined): MqttSignIn {
  const bar = clientId.indexOf("|");
  if (bar < 0 || !clientId.endsWith("|") || bar === clientId.length - 1) throw new MqttSignInError("client id must be <id>|securemode=…,signmethod=…|");
  const id = clientId.slice(0, bar);
  if (id.length === 0 || id.length > 64) throw new MqttSignInError("client id: <id> must be 1-64 characters");
  const params = new Map<string, string>();
  for (const kv of clientId.slice(bar + 1, -1).split(",")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new MqttSignInError(`client id: parameter ${JSON.stringify(kv.slice(0, 32))} is not key=value`);
    const k = kv.slice(0, eq);
    if (params.has(k)) throw new MqttSignInError(`client id: ${k} is given twice`);
    params.set(k, kv.slice(eq + 1));
  }
  const securemode = params.get("securemode");
  if (securemode !== "2" && securemode !== "3") throw new MqttSignInError("client id: securemode must be 2 (TLS) or 3 (TCP)");
  const signmethod = params.get("signmethod");
  if (signmethod !== "hmacmd5" && signmethod !== "hmacsha1" && signmethod !== "hmacsha256") throw new MqttSignInError("client id: signmethod must be hmacmd5, hmacsha1 or hmacsha256");
  const timestamp = params.get("timestamp");
  if (timestamp !== undefined && !/^\d{1,16}$/.test(timestamp)) throw new MqttSignInError("client id: timestamp must be milliseconds");
  if (username === undefined) throw new MqttSignInError("username is required: <deviceName>&<productKey>");
  const amp = username.lastIndexOf("&");
  const deviceName = username.slice(0, amp);
  const productKey = username.slice(amp + 1);
  if (amp < 0 || !DEVICE_NAME_RE.test(deviceName) || !PRODUCT_KEY_RE.test(productKey)) throw new MqttSignInError("username must be <deviceName>&<productKey>");
  const sign = password === undefined ? "" : password.toString();
  if (!/^[0-9a-fA-F]{32,64}$/.test(sign)) throw new MqttSignInError("password must be the hex HMAC of the sign-in parameters");
  return { id, securemode, signmethod, timestamp, productKey, deviceName, sign };
}

/** The signed text: the parameters sorted by name, each name followed by its value. */
export function signContent(s: Pick<MqttSignIn, "id" | "deviceName" | "productKey" | "timestamp">): string {
  return `clientId${s.id}deviceName${s.deviceName}productKey${s.productKey}${s.timestamp === undefined ? "" : `timestamp${s.timestamp}`}`;
}

/** True when the password is the HMAC of the parameters with this DeviceSecret (compared in constant time). */
export function verifyMqttSign(s: MqttSignIn, deviceSecret: string): boolean {
  const want = createHmac(HASH[s.signmethod], deviceSecret).update(signContent(s)).digest();
  const got = Buffer.from(s.sign, "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}
