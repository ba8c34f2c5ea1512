import assert from "node:assert/strict";
import { CompactKeyTable, RouteTable, LOOKUP_DISABLED, LOOKUP_UNKNOWN_DEVICE, LOOKUP_UNKNOWN_PRODUCT } from "../../internal/routes/index.js";

/** Small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@.:";
function name(r: () => number): string {
  const len = 4 + Math.floor(r() * 29);
  let s = "";
  for (let i = 0; i < len; i++) s += ALPHA[Math.floor(r() * ALPHA.length)];
  return s;
}

describe("CompactKeyTable (off-heap route entries)", () => {
  it("agrees with a Map model through 200,000 random inserts, updates and deletes across growth", () => {
    const r = rng(7);
    const table = new CompactKeyTable(16);
    const model = new Map<string, { endpoint: number; flags: number; generation: number }>();
    const keys: [number, string][] = [];
    for (let i = 0; i < 200_000; i++) {
      const op = r();
      if (op < 0.6 || keys.length === 0) {
        const k: [number, string] = [Math.floor(r() * 50), name(r)];
        const v = { endpoint: Math.floor(r() * 65535), flags: Math.floor(r() * 256), generation: Math.floor(r() * 2 ** 32) };
        table.set(k[0], k[1], v);
        if (!model.has(`${k[0]}/${k[1]}`)) keys.push(k);
        model.set(`${k[0]}/${k[1]}`, v);
      } else if (op < 0.8) {
        const k = keys[Math.floor(r() * keys.length)]!;
        const v = { endpoint: Math.floor(r() * 65535), flags: 1, generation: 9 };
        table.set(k[0], k[1], v);
        model.set(`${k[0]}/${k[1]}`, v);
      } else {
        const idx = Math.floor(r() * keys.length);
        const k = keys[idx]!;
        keys[idx] = keys[keys.length - 1]!;
        keys.pop();
        assert.equal(table.delete(k[0], k[1]), true);
        model.delete(`${k[0]}/${k[1]}`);
      }
    }
    assert.equal(table.size, model.size);
    for (const [k, v] of model) {
      const slash = k.indexOf("/");
      assert.deepEqual(table.get(Number(k.slice(0, slash)), k.slice(slash + 1)), v);
    }
  });

  it("is exact: a key that differs by one character, by product, or by length is not found", () => {
    const t = new CompactKeyTable();
    t.set(1, "device-0001", { endpoint: 3, flags: 0, generation: 1 });
    assert.equal(t.endpointOf(1, "device-0001"), 3);
    for (const [p, n] of [
      [1, "device-0002"],
      [2, "device-0001"],
      [1, "device-000"],
      [1, "device-00011"],
      [1, "Device-0001"],
    ] as const) {
      assert.equal(t.endpointOf(p, n), -1, `${p}/${n}`);
    }
  });

  it("keeps a million entries in well under 100 bytes each, off the JS heap", () => {
    const t = new CompactKeyTable(16);
    for (let i = 0; i < 1_000_000; i++) t.set(i % 100, `dev-${i.toString(36).padStart(8, "0")}`, { endpoint: 0, flags: 0, generation: 0 });
    assert.equal(t.size, 1_000_000);
    const perEntry = t.byteSize / t.size;
    assert.ok(perEntry < 100, `bytes per entry ${perEntry.toFixed(1)}`);
    assert.equal(t.endpointOf(99, `dev-${(999_999).toString(36).padStart(8, "0")}`), 0);
  });
});

describe("RouteTable lookups", () => {
  const home = { host: "mqtt.sh.example", port: 1883 };
  const away = { host: "mqtt.sg.example", port: 8883 };

  it("answers a device entry first, then the product's home, with pre-serialised replies", () => {
    const rt = new RouteTable();
    rt.setProduct("a1B2c3D4e5F", home, false);
    rt.setDevice("a1B2c3D4e5F", "moved-1", away, false);
    const moved = rt.lookup("a1B2c3D4e5F", "moved-1");
    assert.equal(JSON.parse(rt.reply(moved).toString()).data.resources.mqtt.host, "mqtt.sg.example");
    const other = rt.lookup("a1B2c3D4e5F", "never-moved");
    assert.deepEqual(rt.endpointAt(other), home);
  });

  it("on the authoritative instance an unknown device is unknown, a disabled one is refused", () => {
    const rt = new RouteTable();
    rt.setProduct("a1B2c3D4e5F", home, true);
    rt.setDevice("a1B2c3D4e5F", "dev-1", home, false);
    rt.setDevice("a1B2c3D4e5F", "dev-2", home, true);
    assert.ok(rt.lookup("a1B2c3D4e5F", "dev-1") >= 0);
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-2"), LOOKUP_DISABLED);
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-3"), LOOKUP_UNKNOWN_DEVICE);
    assert.equal(rt.lookup("zzzzzzzzzzz", "dev-1"), LOOKUP_UNKNOWN_PRODUCT);
    rt.deleteDevice("a1B2c3D4e5F", "dev-1");
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-1"), LOOKUP_UNKNOWN_DEVICE);
  });

  it("interns endpoints: many devices on one endpoint share one reply buffer", () => {
    const rt = new RouteTable();
    rt.setProduct("a1B2c3D4e5F", home, true);
    for (let i = 0; i < 100; i++) rt.setDevice("a1B2c3D4e5F", `dev-${i}xx`, { ...home }, false);
    assert.equal(rt.stats().endpoints, 1);
    assert.equal(rt.reply(rt.lookup("a1B2c3D4e5F", "dev-1xx")), rt.reply(rt.lookup("a1B2c3D4e5F", "dev-99xx")));
  });
});
