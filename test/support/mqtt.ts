import { createHmac, randomBytes } from "node:crypto";
import mqtt from "mqtt";

/** The device's side of the sign-in, computed here independently of the daemon's code. */
export function signIn(pk: string, dn: string, secret: string, signmethod = "hmacsha256", at = Date.now()) {
  const id = `t${randomBytes(3).toString("hex")}`;
  const timestamp = String(at);
  const hash = { hmacmd5: "md5", hmacsha1: "sha1", hmacsha256: "sha256" }[signmethod]!;
  const password = createHmac(hash, secret).update(`clientId${id}deviceName${dn}productKey${pk}timestamp${timestamp}`).digest("hex");
  return { clientId: `${id}|securemode=3,signmethod=${signmethod},timestamp=${timestamp}|`, username: `${dn}&${pk}`, password };
}

/** Connects; resolves the client, or rejects with the CONNACK refusal. */
export function connect(port: number, creds: { clientId: string; username: string; password: string }): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: "127.0.0.1", port, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...creds });
    c.once("connect", () => resolve(c));
    c.once("error", (e) => {
      c.end(true);
      reject(e);
    });
  });
}

/** 0 when the CONNECT is accepted, else the CONNACK refusal code. */
export const refusalCode = async (p: Promise<mqtt.MqttClient>): Promise<number> => {
  try {
    (await p).end(true);
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
};
