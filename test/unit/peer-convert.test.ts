import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DeviceCertificateSchema } from "../../internal/gen/iotfed/v1/peer_pb.js";
import { certFromWire, certToWire } from "../../internal/peer/convert.js";

/*
 * What a peer may send with a migrating device (runtime_data: migrate,
 * docs/guides/thing-model.md): well-formed, bounded runtime data, each value
 * JSON — anything else refuses the certificate, naming the field.
 */
describe("peer plane: a migrating device's runtime data is checked as it arrives", () => {
  const cert = (runtime: unknown) =>
    create(DeviceCertificateSchema, {
      ...certToWire({ deviceName: "dev-1", deviceSecret: "s".repeat(32), iotId: "iot-1", generation: 2, homeInstance: "iot-a", nickname: "", createdAt: 1 }),
      runtime: runtime as never,
    });

  it("values and the shadow travel as they were kept", () => {
    const c = certFromWire(cert({ properties: [{ identifier: "temp", valueJson: "21.5", timeMs: 5n }], shadowJson: '{"a":1}', shadowVersion: 3n }), 0);
    assert.deepEqual(c.runtime, { properties: [{ identifier: "temp", value: "21.5", time: 5 }], shadow: { json: '{"a":1}', version: 3 } });
    assert.equal(certFromWire(cert({ properties: [], shadowJson: "", shadowVersion: 0n }), 0).runtime?.shadow, undefined);
  });

  it("refuses an identifier that is not a thing-model identifier, a value that is not JSON or too large, too many values, a shadow that is not JSON", () => {
    const cases: [unknown, RegExp][] = [
      [{ properties: [{ identifier: "a.b", valueJson: "1", timeMs: 1n }] }, /devices\[0\]\.runtime\.properties\[0\]\.identifier/],
      [{ properties: [{ identifier: "temp", valueJson: "{not json", timeMs: 1n }] }, /properties\[0\]\.value_json: is not valid JSON/],
      [{ properties: [{ identifier: "temp", valueJson: `"${"x".repeat(70_000)}"`, timeMs: 1n }] }, /value_json: must be at most 65536 bytes/],
      [{ properties: Array.from({ length: 1001 }, (_, i) => ({ identifier: `p${i}`, valueJson: "1", timeMs: 1n })) }, /properties: holds more than 1000 values/],
      [{ properties: [], shadowJson: "{", shadowVersion: 1n }, /shadow_json: is not valid JSON/],
    ];
    for (const [runtime, why] of cases) assert.throws(() => certFromWire(cert(runtime), 0), why);
  });
});
