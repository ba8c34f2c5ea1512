import assert from "node:assert/strict";
import { parseBootstrapForm, FormError } from "../../internal/bootstrap/index.js";

const parse = (s: string | Buffer) => parseBootstrapForm(Buffer.isBuffer(s) ? s : Buffer.from(s, "latin1"));

describe("bootstrap form parser", () => {
  it("reads exactly what the device SDK sends", () => {
    const f = parse("productKey=a1B2c3D4e5F&deviceName=dev.1@x:2&clientId=a1B2c3D4e5F.dev.1@x:2&resources=mqtt");
    assert.equal(f.productKey, "a1B2c3D4e5F");
    assert.equal(f.deviceName, "dev.1@x:2");
    assert.equal(f.clientId, "a1B2c3D4e5F.dev.1@x:2");
    assert.equal(f.resources, "mqtt");
  });

  it("decodes percent-encoding and +, and ignores unknown fields and empty pairs", () => {
    const f = parse("&&productKey=a1B2c3D4e5F&x=%FF&deviceName=dev%2E1%40x%3A2&version=1+0&");
    assert.equal(f.deviceName, "dev.1@x:2");
    assert.equal(f.version, "1 0");
  });

  const refused: [string, string | Buffer, RegExp][] = [
    ["a repeated field", "productKey=a&productKey=b", /productKey is given more than once/],
    ["a truncated escape", "deviceName=ab%4", /malformed percent-encoding/],
    ["a non-hex escape", "deviceName=ab%zz", /malformed percent-encoding/],
    ["invalid UTF-8", "deviceName=%C3%28abc", /not valid UTF-8/],
    ["a raw high byte", Buffer.from([0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x4e, 0x61, 0x6d, 0x65, 0x3d, 0xff]), /does not allow/],
    ["an overlong clientId", "clientId=" + "c".repeat(65), /clientId is too long/],
  ];
  for (const [what, body, re] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parse(body), (e: unknown) => e instanceof FormError && re.test(e.message));
    });
  }
});
