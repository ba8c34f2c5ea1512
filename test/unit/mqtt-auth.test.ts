import assert from "node:assert/strict";
import { MqttSignInError, parseMqttSignIn, signContent, verifyMqttSign } from "../../internal/domain/index.js";
import { topicMatches } from "../../internal/mqtt/index.js";

const SECRET = "0123456789abcdef0123456789ABCDEF";
/** Computed independently with `openssl dgst -<hash> -hmac SECRET` over the sorted parameters. */
const VECTORS = [
  { signmethod: "hmacsha256", timestamp: "1700000000000", sign: "3e168e45ae2183be2029f19ba87f111d9992c3e4666344f2e6aceb672bdc296d" },
  { signmethod: "hmacsha1", timestamp: "1700000000000", sign: "32aceaf9810acb993c8f29ab69cb839705bb6795" },
  { signmethod: "hmacmd5", timestamp: undefined, sign: "894e9b2fb4b1ca9816bbe29dbca0db47" },
] as const;

describe("MQTT device sign-in", () => {
  for (const v of VECTORS) {
    it(`accepts the ${v.signmethod} signature computed by OpenSSL${v.timestamp === undefined ? ", without a timestamp" : ""}, in either case, and refuses any other`, () => {
      const clientId = `my-1|securemode=3,signmethod=${v.signmethod}${v.timestamp === undefined ? "" : `,timestamp=${v.timestamp}`}|`;
      const s = parseMqttSignIn(clientId, "meter-01&a1B2c3D4e5F", Buffer.from(v.sign));
      assert.equal(s.productKey, "a1B2c3D4e5F");
      assert.equal(s.deviceName, "meter-01");
      assert.equal(verifyMqttSign(s, SECRET), true);
      assert.equal(verifyMqttSign(parseMqttSignIn(clientId, "meter-01&a1B2c3D4e5F", v.sign.toUpperCase()), SECRET), true);
      assert.equal(verifyMqttSign(s, SECRET.toLowerCase()), false, "another secret");
      const flipped = (v.sign[0] === "0" ? "1" : "0") + v.sign.slice(1);
      assert.equal(verifyMqttSign(parseMqttSignIn(clientId, "meter-01&a1B2c3D4e5F", flipped), SECRET), false, "one digit off");
      // the same signature does not sign another device or product
      assert.equal(verifyMqttSign(parseMqttSignIn(clientId, "meter-02&a1B2c3D4e5F", v.sign), SECRET), false);
      assert.equal(verifyMqttSign(parseMqttSignIn(clientId, "meter-01&a1B2c3D4e5G", v.sign), SECRET), false);
    });
  }

  it("signs the parameters sorted by name: clientId, deviceName, productKey, timestamp", () => {
    assert.equal(signContent({ id: "c", deviceName: "dddd", productKey: "a1B2c3D4e5F", timestamp: "1" }), "clientIdcdeviceNameddddproductKeya1B2c3D4e5Ftimestamp1");
    assert.equal(signContent({ id: "c", deviceName: "dddd", productKey: "a1B2c3D4e5F", timestamp: undefined }), "clientIdcdeviceNameddddproductKeya1B2c3D4e5F");
  });

  it("refuses malformed sign-ins with the reason, never echoing the password", () => {
    const ok = "my-1|securemode=3,signmethod=hmacsha1|";
    const pw = "32aceaf9810acb993c8f29ab69cb839705bb6795";
    const bad: [string, string | undefined, string | undefined, RegExp][] = [
      ["my-1", "meter-01&a1B2c3D4e5F", pw, /client id must be/],
      ["my-1|securemode=1,signmethod=hmacsha1|", "meter-01&a1B2c3D4e5F", pw, /securemode/],
      ["my-1|securemode=3,signmethod=sha512|", "meter-01&a1B2c3D4e5F", pw, /signmethod/],
      ["my-1|securemode=3,signmethod=hmacsha1,timestamp=x|", "meter-01&a1B2c3D4e5F", pw, /timestamp/],
      ["my-1|securemode=3,securemode=2,signmethod=hmacsha1|", "meter-01&a1B2c3D4e5F", pw, /twice/],
      [ok, undefined, pw, /username is required/],
      [ok, "meter-01", pw, /username must be/],
      [ok, "meter-01&short", pw, /username must be/],
      [ok, "meter-01&a1B2c3D4e5F", undefined, /password/],
      [ok, "meter-01&a1B2c3D4e5F", "not-hex", /password/],
    ];
    for (const [c, u, p, re] of bad) {
      assert.throws(
        () => parseMqttSignIn(c, u, p),
        (e: unknown) => e instanceof MqttSignInError && re.test(e.message) && (p === undefined || !e.message.includes(p)),
        `${c} ${u} ${p}`,
      );
    }
  });

  it("matches topic filters the MQTT way", () => {
    assert.ok(topicMatches("update", "update"));
    assert.ok(topicMatches("cmd/+", "cmd/reboot"));
    assert.ok(!topicMatches("cmd/+", "cmd/a/b"));
    assert.ok(topicMatches("cmd/#", "cmd/a/b"));
    assert.ok(topicMatches("cmd/#", "cmd"));
    assert.ok(!topicMatches("update", "update/x"));
  });
});
