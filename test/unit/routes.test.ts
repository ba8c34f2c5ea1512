import assert from "node:assert/strict";
import { rng } from "../support/rng.js";
import { FingerprintTable, RouteTable, SipKey, sip128, sip128Parts, sip13Parts, LOOKUP_DISABLED, LOOKUP_UNKNOWN_DEVICE, LOOKUP_UNKNOWN_PRODUCT } from "../../internal/routes/index.js";

const ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@.:";
function name(r: () => number): string {
  const len = 4 + Math.floor(r() * 29);
  let s = "";
  for (let i = 0; i < len; i++) s += ALPHA[Math.floor(r() * ALPHA.length)];
  return s;
}

/** Vectors made independently by OpenSSL 3: `printf 'a\0b' | openssl mac -macopt hexkey:00..0f -macopt size:16 [-macopt c-rounds:1 -macopt d-rounds:3] SIPHASH`. */
const SIP_VECTORS: [string, string, string, string][] = [
  ["a1B2c3D4e5F", "dev-1@x.y:z", "58C50C7293D2A77947A3A955EDB11F00", "C84D17E7AECD14B9EA69B3CB29ED301F"],
  ["pk", "", "C3728BE65153C2210A5E6AB6ABC1B265", "75BD8C8B08EEDECF0CB59ED2C7785484"],
  ["", "abcdefg", "CEA77931C1F41D15DA472C2184358127", "0A32088D3F144FCD4194A4871811B219"],
  ["abcdef", "g", "1E62DD1941FF3460617077D942B21FE9", "18A0B2086FB8A0B8EE70E0D5B55308C0"],
  ["a1B2c3D4e5F", "device-name-that-is-32-chars-long", "9A54251052091DA45DBFEBAC3C2C8D8F", "40501A3E7C1D25DA4E898F3828E18E7D"],
];

describe("SipHash-128 fingerprints", () => {
  const key = new SipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
  const hex = (out: Int32Array) => Buffer.from(out.buffer, out.byteOffset, 16).toString("hex").toUpperCase();

  it("matches OpenSSL's SipHash-1-3 (JavaScript and WebAssembly rounds) and SipHash-2-4 (128-bit output) on pk ‖ 0 ‖ dn", () => {
    const out = new Int32Array(4);
    for (const [a, b, want13, want24] of SIP_VECTORS) {
      assert.equal(sip128(key, a, b, out, 1, 3), true);
      assert.equal(hex(out), want13, `SipHash-1-3 of ${a}/${b}`);
      assert.equal(sip13Parts(key, a, 0, a.length, b, 0, b.length, out), true);
      assert.equal(hex(out), want13, `SipHash-1-3 (fast path) of ${a}/${b}`);
      assert.equal(sip128(key, a, b, out, 2, 4), true);
      assert.equal(hex(out), want24, `SipHash-2-4 of ${a}/${b}`);
    }
  });

  it("the WebAssembly rounds equal the JavaScript rounds on 5,000 random keys of every length 0-200", () => {
    const k = new SipKey(Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff));
    assert.ok(k.wasm !== undefined, "WebAssembly is available on Node 20");
    const r = rng(3);
    const a = new Int32Array(4);
    const b = new Int32Array(4);
    for (let n = 0; n < 5000; n++) {
      const pk = name(r).slice(0, Math.floor(r() * 12));
      let dn = "";
      const len = n % 200;
      for (let i = 0; i < len; i++) dn += ALPHA[Math.floor(r() * ALPHA.length)];
      assert.equal(sip13Parts(k, pk, 0, pk.length, dn, 0, dn.length, a), true);
      assert.equal(sip128Parts(k, pk, 0, pk.length, dn, 0, dn.length, b, 1, 3), true);
      assert.deepEqual(a, b, `${pk}/${dn}`);
    }
  });

  it("refuses a non-ASCII key instead of folding it onto an ASCII one", () => {
    const out = new Int32Array(4);
    assert.equal(sip128(key, "a1B2c3D4e5F", "dev-\u0141", out), false);
    const t = new FingerprintTable(16);
    t.set("a1B2c3D4e5F", "dev-A", 1, 0);
    assert.equal(t.get("a1B2c3D4e5F", "dev-\u0141"), -1);
    assert.throws(() => t.set("a1B2c3D4e5F", "dev-\u0141", 1, 0), /not ASCII/);
  });
});

describe("FingerprintTable (off-heap route entries)", () => {
  it("agrees with a Map model through 200,000 random inserts, updates and deletes across growth", () => {
    const r = rng(7);
    const table = new FingerprintTable(16);
    const model = new Map<string, number>();
    const keys: [string, string][] = [];
    for (let i = 0; i < 200_000; i++) {
      const op = r();
      if (op < 0.6 || keys.length === 0) {
        const k: [string, string] = [`pk${Math.floor(r() * 50)}`, name(r)];
        const payload = Math.floor(r() * 0x7ffffe);
        const flags = Math.floor(r() * 256);
        table.set(k[0], k[1], payload, flags);
        if (!model.has(`${k[0]}/${k[1]}`)) keys.push(k);
        model.set(`${k[0]}/${k[1]}`, payload * 256 + flags);
      } else if (op < 0.8) {
        const k = keys[Math.floor(r() * keys.length)]!;
        const payload = Math.floor(r() * 65535);
        table.set(k[0], k[1], payload, 1);
        model.set(`${k[0]}/${k[1]}`, payload * 256 + 1);
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
      assert.equal(table.get(k.slice(0, slash), k.slice(slash + 1)), v, k);
    }
  });

  it("is exact: a key that differs by one character, by product, by length or by the split point is not found", () => {
    const t = new FingerprintTable();
    t.set("a1B2c3D4e5F", "device-0001", 3, 0);
    assert.equal(t.get("a1B2c3D4e5F", "device-0001") >>> 8, 3);
    for (const [p, n] of [
      ["a1B2c3D4e5F", "device-0002"],
      ["a1B2c3D4e5G", "device-0001"],
      ["a1B2c3D4e5F", "device-000"],
      ["a1B2c3D4e5F", "device-00011"],
      ["a1B2c3D4e5F", "Device-0001"],
      ["a1B2c3D4e5Fd", "evice-0001"],
    ] as const) {
      assert.equal(t.get(p, n), -1, `${p}/${n}`);
    }
  });

  it("keeps a million entries in at most 40 bytes each, off the JS heap, at every fill level", () => {
    const t = new FingerprintTable(16);
    let worst = 0;
    for (let i = 0; i < 1_000_000; i++) {
      t.set(`pk${i % 100}`, `dev-${i.toString(36).padStart(8, "0")}`, 0, 0);
      if (i > 1000 && i % 997 === 0) worst = Math.max(worst, t.byteSize / t.size);
    }
    assert.equal(t.size, 1_000_000);
    assert.ok(worst <= 40, `worst bytes per entry ${worst.toFixed(1)}`);
    assert.equal(t.get("pk99", `dev-${(999_999).toString(36).padStart(8, "0")}`), 0);
  });
});

describe("bulk load (blocks, staging, sorted insertion)", () => {
  it("a staged load equals one insert at a time, across stage flushes and growth", () => {
    const r = rng(11);
    const key = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
    const one = new FingerprintTable(16, key);
    const bulk = new FingerprintTable(16, key);
    bulk.setStageSize(97); // many flushes, each sorted
    const model = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const pk = `pk${Math.floor(r() * 20)}`;
      const dn = name(r);
      const payload = Math.floor(r() * 1000);
      one.set(pk, dn, payload, 0);
      const text = `x${pk}|${dn}`;
      bulk.stageParts(text, 1, 1 + pk.length, text, 2 + pk.length, text.length, payload, 0);
      model.set(`${pk}/${dn}`, payload);
    }
    bulk.setStageSize(0);
    assert.equal(bulk.size, model.size);
    assert.equal(one.size, model.size);
    for (const [k, v] of model) {
      const slash = k.indexOf("/");
      assert.equal(bulk.get(k.slice(0, slash), k.slice(slash + 1)) >>> 8, v, k);
    }
  });

  it("RouteTable.loadDeviceBlock reads 'productKey holder deviceName' records and answers only after endLoad", () => {
    const rt = new RouteTable();
    rt.setEndpoint("iot-b-1", { host: "mqtt.b", port: 1883 });
    const recs = Array.from({ length: 5000 }, (_, i) => `a1B2c3D4e5F ${i % 2 ? "iot-b-1" : "iot-c-1"} dev.${i}@x:y`);
    assert.equal(rt.loadDeviceBlock(recs.join("\n")), 5000);
    rt.endLoad();
    assert.equal(rt.stats().devices, 5000);
    assert.equal(rt.deviceHolder("a1B2c3D4e5F", "dev.7@x:y"), "iot-b-1");
    assert.equal(rt.deviceHolder("a1B2c3D4e5F", "dev.8@x:y"), "iot-c-1");
    assert.throws(() => rt.loadDeviceBlock("a1B2c3D4e5F iot-b-1"), /malformed/);
  });
});

describe("RouteTable lookups", () => {
  const home = { host: "mqtt.sh.example", port: 1883 };
  const away = { host: "mqtt.sg.example", port: 8883 };

  it("answers a device entry first, then the product's home, with pre-serialised replies", () => {
    const rt = new RouteTable();
    rt.setEndpoint("sh-1", home);
    rt.setEndpoint("sg-1", away);
    rt.setProduct("a1B2c3D4e5F", "sh-1", false);
    rt.setDevice("a1B2c3D4e5F", "moved-1", "sg-1", false);
    const moved = rt.lookup("a1B2c3D4e5F", "moved-1");
    assert.equal(JSON.parse(rt.reply(moved)!.toString()).data.resources.mqtt.host, "mqtt.sg.example");
    const other = rt.lookup("a1B2c3D4e5F", "never-moved");
    assert.deepEqual(rt.endpointAt(other), home);
    assert.equal(rt.instanceAt(other), "sh-1");
  });

  it("on the authoritative instance an unknown device is unknown, a disabled one is refused", () => {
    const rt = new RouteTable();
    rt.setEndpoint("sh-1", home);
    rt.setProduct("a1B2c3D4e5F", "sh-1", true);
    rt.setDevice("a1B2c3D4e5F", "dev-1", "sh-1", false);
    rt.setDevice("a1B2c3D4e5F", "dev-2", "sh-1", true);
    assert.ok(rt.lookup("a1B2c3D4e5F", "dev-1") >= 0);
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-2"), LOOKUP_DISABLED);
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-3"), LOOKUP_UNKNOWN_DEVICE);
    assert.equal(rt.lookup("zzzzzzzzzzz", "dev-1"), LOOKUP_UNKNOWN_PRODUCT);
    rt.deleteDevice("a1B2c3D4e5F", "dev-1");
    assert.equal(rt.lookup("a1B2c3D4e5F", "dev-1"), LOOKUP_UNKNOWN_DEVICE);
  });

  it("a device route answers even before its product's record arrives", () => {
    const rt = new RouteTable();
    rt.setEndpoint("sg-1", away);
    rt.setDevice("a1B2c3D4e5F", "moved-1", "sg-1", false);
    assert.equal(rt.instanceAt(rt.lookup("a1B2c3D4e5F", "moved-1")), "sg-1");
    assert.equal(rt.lookup("a1B2c3D4e5F", "other-1"), LOOKUP_UNKNOWN_PRODUCT);
  });

  it("routes point at instances: many devices share one reply, and a new endpoint is one update", () => {
    const rt = new RouteTable();
    rt.setEndpoint("sh-1", home);
    rt.setProduct("a1B2c3D4e5F", "sh-1", true);
    for (let i = 0; i < 100; i++) rt.setDevice("a1B2c3D4e5F", `dev-${i}xx`, "sh-1", false);
    assert.equal(rt.stats().instances, 1);
    assert.equal(rt.reply(rt.lookup("a1B2c3D4e5F", "dev-1xx")), rt.reply(rt.lookup("a1B2c3D4e5F", "dev-99xx")));
    rt.setEndpoint("sh-1", away);
    assert.deepEqual(rt.endpointAt(rt.lookup("a1B2c3D4e5F", "dev-7xx")), away);
  });

  it("an instance whose endpoint is not known yet has no reply", () => {
    const rt = new RouteTable();
    rt.setDevice("a1B2c3D4e5F", "moved-1", "far-away-1", false);
    assert.equal(rt.reply(rt.lookup("a1B2c3D4e5F", "moved-1")), undefined);
  });
});
