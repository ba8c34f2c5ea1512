import { createHmac } from "node:crypto";
import type mqtt from "mqtt";
import { signContent } from "../../internal/domain/index.js";
import { waitFor } from "./daemon.js";
import { connect, signIn } from "./mqtt.js";

/** A thermostat's thing model: one property of every data type, an event, a service. */
export const THERMO_TSL = JSON.stringify({
  properties: [
    { identifier: "temp", name: "Temperature", accessMode: "r", dataType: { type: "float", specs: { min: "-40", max: "85", unit: "°C" } } },
    { identifier: "power", name: "Power", accessMode: "rw", dataType: { type: "bool", specs: { "0": "off", "1": "on" } } },
    { identifier: "mode", name: "Mode", accessMode: "rw", dataType: { type: "enum", specs: { "0": "auto", "1": "eco" } } },
    { identifier: "label", name: "Label", accessMode: "rw", dataType: { type: "text", specs: { length: "8" } } },
    { identifier: "level", name: "Level", accessMode: "rw", dataType: { type: "int", specs: { min: "0", max: "10" } } },
    { identifier: "pos", name: "Position", accessMode: "r", dataType: { type: "struct", specs: [{ identifier: "x", name: "x", dataType: { type: "int", specs: {} } }, { identifier: "y", name: "y", dataType: { type: "int", specs: {} } }] } },
    { identifier: "samples", name: "Samples", accessMode: "r", dataType: { type: "array", specs: { size: "3", item: { type: "int", specs: {} } } } },
    { identifier: "since", name: "Since", accessMode: "r", dataType: { type: "date", specs: {} } },
  ],
  events: [{ identifier: "overheat", name: "Overheat", type: "alert", outputData: [{ identifier: "temp", name: "t", dataType: { type: "float", specs: {} } }] }],
  services: [
    {
      identifier: "reboot",
      name: "Reboot",
      callType: "async",
      inputData: [{ identifier: "delay", name: "delay", dataType: { type: "int", specs: { min: "0", max: "60" } } }],
      outputData: [{ identifier: "ok", name: "ok", dataType: { type: "bool", specs: { "0": "no", "1": "yes" } } }],
    },
  ],
});

/** A device's MQTT session that collects what arrives on its topics. */
export class Device {
  readonly inbox: { topic: string; doc: Record<string, unknown> }[] = [];
  private seq = 0;
  private constructor(
    readonly client: mqtt.MqttClient,
    readonly pk: string,
    readonly dn: string,
  ) {
    client.on("message", (topic, payload) => {
      try {
        this.inbox.push({ topic, doc: JSON.parse(payload.toString()) as Record<string, unknown> });
      } catch {
        this.inbox.push({ topic, doc: { raw: payload.toString() } });
      }
    });
  }
  static async open(port: number, pk: string, dn: string, secret: string): Promise<Device> {
    const c = await connect(port, signIn(pk, dn, secret));
    const d = new Device(c, pk, dn);
    await c.subscribeAsync(`/sys/${pk}/${dn}/thing/#`);
    return d;
  }
  /** Publishes an Alink request on `topic` and waits for the reply on `topic_reply`. */
  async request(topic: string, params: unknown, method?: string, raw?: string): Promise<{ code: number; message: string; data: unknown }> {
    const id = String(++this.seq);
    const body = raw ?? JSON.stringify({ id, version: "1.0", params, ...(method === undefined ? {} : { method }) });
    const replyId = raw === undefined ? id : "";
    await this.client.publishAsync(topic, body, { qos: 1 });
    const r = await waitFor(`a reply on ${topic}_reply`, () => Promise.resolve(this.inbox.find((m) => m.topic === `${topic}_reply` && (typeof m.doc.id === "string" ? m.doc.id : "") === replyId)), 5000, 10);
    this.inbox.splice(this.inbox.indexOf(r), 1);
    return r.doc as { code: number; message: string; data: unknown };
  }
  post(params: unknown): Promise<{ code: number; message: string }> {
    return this.request(`/sys/${this.pk}/${this.dn}/thing/event/property/post`, params, "thing.event.property.post");
  }
  /** Answers the next request on `/sys/…/thing/service/<suffix>` with `code` and `data`. */
  async answerNext(suffix: string, code: number, data: unknown = {}): Promise<Record<string, unknown>> {
    const topic = `/sys/${this.pk}/${this.dn}/thing/service/${suffix}`;
    const m = await waitFor(`a request on ${topic}`, () => Promise.resolve(this.inbox.find((x) => x.topic === topic)), 5000, 10);
    this.inbox.splice(this.inbox.indexOf(m), 1);
    await this.client.publishAsync(`${topic}_reply`, JSON.stringify({ id: m.doc.id, code, data, message: code === 200 ? "success" : "no" }), { qos: 1 });
    return m.doc;
  }
  end(): void {
    this.client.end(true);
  }
}

/** A sub-device's proof as its gateway sends it (the sub-device's own HMAC). */
export function subDeviceSign(pk: string, dn: string, secret: string, at = Date.now()) {
  const clientId = `${pk}.${dn}`;
  const timestamp = String(at);
  const sign = createHmac("sha256", secret).update(signContent({ id: clientId, deviceName: dn, productKey: pk, timestamp })).digest("hex");
  return { productKey: pk, deviceName: dn, clientId, timestamp, signMethod: "hmacSha256", sign };
}

