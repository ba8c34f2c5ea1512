/** `/sys/{pk}/{dn}/thing/bootstrap/notify` (R7); the device answers on the same topic + `_reply`. */
export const notifyTopic = (pk: string, dn: string): string => `/sys/${pk}/${dn}/thing/bootstrap/notify`;

/** R7's message: cmd 0 tells the device to bootstrap again. */
export const notifyPayload = (id: string): string => JSON.stringify({ id, version: "1.0", method: "thing.bootstrap.notify", params: { cmd: 0 } });

/** MQTT topic filter matching (`+` one level, `#` the rest, including the parent). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
