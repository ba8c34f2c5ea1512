import { MqttSignInError, parseMqttSignIn, verifyMqttSign, type Device } from "../domain/index.js";
import type { DevicesRepo, ProductsRepo } from "../store/index.js";
import { topicMatches } from "./topics.js";

/** A device known to be signed in. */
export interface SignedInDevice {
  productKey: string;
  deviceName: string;
}

export type SignInResult =
  | { ok: true; device: SignedInDevice }
  | { ok: false; result: "malformed" | "unknown" | "not_held" | "disabled" | "bad_signature" | "stale_timestamp" | "no_timestamp"; returnCode: 4 | 5; why: string };

/** How old (or how far ahead) a sign-in's timestamp may be, and whether one is required. */
export interface SignInClock {
  timestampWindowMs: number;
  requireTimestamp: boolean;
  now: () => number;
}

export type DeviceAuth = ReturnType<typeof createDeviceAuth>;

/**
 * At most one instance accepts a device at a time: its source until the
 * target accepted it (leaving counts as held), the target once the source
 * confirmed the release (arriving does not).
 */
const signsInHere = (d: Pick<Device, "placement" | "arriving">): boolean => (d.placement === "here" || d.placement === "leaving") && !d.arriving;

/**
 * Who may connect and what a device may do, the same for the embedded
 * broker and for an external one asking over HTTP: a device signs in the
 * platform's way and is accepted only where it is held now: here, or
 * leaving in a job whose target has not accepted it yet (cut-over at
 * commit); unknown, disabled, distributed-away devices and devices still
 * arriving (their source has not released them) are refused. It may
 * publish and subscribe under its own `/sys/{pk}/{dn}/` and to its
 * product's topic classes (`/{pk}/{dn}/user/…`) by their operation.
 */
export function createDeviceAuth(opts: { devices: DevicesRepo; products: ProductsRepo; clock?: SignInClock }) {
  const { devices, products } = opts;
  const clock = opts.clock ?? { timestampWindowMs: 0, requireTimestamp: false, now: Date.now };
  const worksHere = (productKey: string, deviceName: string): boolean => {
    const d = devices.get(productKey, deviceName);
    return d !== undefined && signsInHere(d) && !d.disabled;
  };
  return {
    signIn(clientId: string, username: string | undefined, password: Buffer | string | undefined): SignInResult {
      let s;
      try {
        s = parseMqttSignIn(clientId, username, password);
      } catch (e) {
        if (e instanceof MqttSignInError) return { ok: false, result: "malformed", returnCode: 4, why: e.message };
        throw e;
      }
      if (s.timestamp === undefined && clock.requireTimestamp) return { ok: false, result: "no_timestamp", returnCode: 4, why: "the client id carries no timestamp (mqtt.requireTimestamp)" };
      if (s.timestamp !== undefined && clock.timestampWindowMs > 0 && Math.abs(clock.now() - Number(s.timestamp)) > clock.timestampWindowMs) {
        return { ok: false, result: "stale_timestamp", returnCode: 4, why: `the sign-in's timestamp is more than ${clock.timestampWindowMs} ms from this instance's clock (mqtt.timestampWindowMs)` };
      }
      const d = devices.get(s.productKey, s.deviceName);
      // Unknown, away and arriving devices are all "not here": the device bootstraps again.
      if (d === undefined) return { ok: false, result: "unknown", returnCode: 5, why: "the device is not held by this instance" };
      if (!signsInHere(d)) return { ok: false, result: "not_held", returnCode: 5, why: "the device is not held by this instance" };
      if (d.disabled) return { ok: false, result: "disabled", returnCode: 5, why: "the device is disabled" };
      if (!verifyMqttSign(s, devices.secret(s.productKey, s.deviceName))) return { ok: false, result: "bad_signature", returnCode: 4, why: "signature mismatch" };
      return { ok: true, device: { productKey: s.productKey, deviceName: s.deviceName } };
    },
    /** Whether the device works here now: held here and enabled (each publish and subscription is checked against it). */
    worksHere,
    /**
     * Whether the device may publish to (or subscribe to the filter) `topic`:
     * its own `/sys/…` and `/ext/session/…` topics, a sub-device's `/sys/…`
     * topics while it speaks for it (`speaksFor`: the sub-device logged in
     * through its session and works here), its product's topic classes.
     */
    allowed(dev: SignedInDevice, topic: string, op: "pub" | "sub", speaksFor?: (productKey: string, deviceName: string) => boolean): boolean {
      const wildcardsOk = !topic.includes("#") || topic.endsWith("/#");
      if (topic.startsWith(`/sys/${dev.productKey}/${dev.deviceName}/`)) return wildcardsOk;
      if (topic.startsWith(`/ext/session/${dev.productKey}/${dev.deviceName}/`)) return wildcardsOk && !topic.includes("+");
      const sys = /^\/sys\/([^/+#]+)\/([^/+#]+)\//.exec(topic);
      if (sys !== null && speaksFor !== undefined) return wildcardsOk && speaksFor(sys[1]!, sys[2]!) && worksHere(sys[1]!, sys[2]!);
      const user = `/${dev.productKey}/${dev.deviceName}/user/`;
      if (!topic.startsWith(user)) return false;
      const rest = topic.slice(user.length);
      for (const t of products.topics(dev.productKey)) {
        if (t.operation !== "all" && t.operation !== op) continue;
        // a subscription is allowed to the class itself, or to a topic the class covers
        if (op === "pub" ? topicMatches(t.shortName, rest) : t.shortName === rest || (!rest.includes("+") && !rest.includes("#") && topicMatches(t.shortName, rest))) return true;
      }
      return false;
    },
    /** The device a username names (`<deviceName>&<productKey>`), for webhooks. */
    fromUsername(username: string): SignedInDevice | undefined {
      const amp = username.lastIndexOf("&");
      if (amp <= 0) return undefined;
      return { deviceName: username.slice(0, amp), productKey: username.slice(amp + 1) };
    },
  };
}
