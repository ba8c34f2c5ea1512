import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createSealer, parseSealKey, SealError, loadSealKey, loadOperatorToken, KeyMaterialError, bearerToken, hashToken, tokenMatches } from "../../internal/security/index.js";

describe("secret sealing (AES-256-GCM)", () => {
  const key = randomBytes(32);

  it("round-trips and never stores the plaintext", () => {
    const s = createSealer(key);
    const secret = "1Mi4JK36FNWFkc3KAHmhSkNNPX1VmCcc";
    const sealed = s.seal(secret, "pk/dn");
    assert.ok(!sealed.includes(Buffer.from(secret)));
    assert.equal(s.open(sealed, "pk/dn"), secret);
    assert.notDeepEqual(s.seal(secret, "pk/dn"), sealed, "a fresh nonce each time");
  });

  it("a sealed secret copied to another device, a wrong key, or a flipped bit does not open", () => {
    const s = createSealer(key);
    const sealed = s.seal("x".repeat(32), "pk/dev-1");
    assert.throws(() => s.open(sealed, "pk/dev-2"), SealError);
    assert.throws(() => createSealer(randomBytes(32)).open(sealed, "pk/dev-1"), SealError);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    assert.throws(() => s.open(tampered, "pk/dev-1"), SealError);
  });

  it("keys are 32 bytes in hex or base64", () => {
    assert.equal(parseSealKey(key.toString("hex")).length, 32);
    assert.equal(parseSealKey(key.toString("base64")).length, 32);
    assert.throws(() => parseSealKey("short"), /32 bytes/);
  });
});

describe("key material", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "iotfed-keys-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("outside the embedded default a missing sealing key is a clear start-up error naming the key", () => {
    assert.throws(
      () => loadSealKey({ key: "security.sealKeyFile", file: undefined, envName: "IOTFED_SEAL_KEY", env: {}, generateAt: undefined }),
      (e: unknown) => e instanceof KeyMaterialError && /security\.sealKeyFile: is required .*IOTFED_SEAL_KEY/.test(e.message),
    );
  });

  it("the embedded default generates the key once, private to the owner, and reuses it", () => {
    const at = join(dir, "seal.key");
    const first = loadSealKey({ key: "k", file: undefined, envName: "X", env: {}, generateAt: at });
    assert.equal(first.generated, true);
    assert.equal(statSync(at).mode & 0o777, 0o600);
    const again = loadSealKey({ key: "k", file: undefined, envName: "X", env: {}, generateAt: at });
    assert.equal(again.generated, false);
    assert.deepEqual(again.key, first.key);
  });

  it("the environment wins over the file, and a bad file names the key", () => {
    const f = join(dir, "op.token");
    writeFileSync(f, "from-file-token-0123456789\n");
    assert.equal(loadOperatorToken({ key: "k", file: f, envName: "T", env: { T: "from-env-token-0123456789" }, generateAt: undefined }).token, "from-env-token-0123456789");
    assert.equal(loadOperatorToken({ key: "k", file: f, envName: "T", env: {}, generateAt: undefined }).token, "from-file-token-0123456789");
    assert.throws(() => loadSealKey({ key: "security.sealKeyFile", file: f, envName: "X", env: {}, generateAt: undefined }), /security\.sealKeyFile: .*32 bytes/);
    assert.throws(() => loadOperatorToken({ key: "security.operatorTokenFile", file: join(dir, "none"), envName: "T", env: {}, generateAt: undefined }), /security\.operatorTokenFile: cannot read/);
    assert.equal(existsSync(join(dir, "none")), false);
  });
});

describe("tokens", () => {
  it("are compared by hash in constant time and parsed from a Bearer header", () => {
    const h = hashToken("iotfed_abcdefghijklmnop");
    assert.equal(tokenMatches("iotfed_abcdefghijklmnop", h), true);
    assert.equal(tokenMatches("iotfed_abcdefghijklmnoq", h), false);
    assert.equal(bearerToken("Bearer iotfed_abcdefghijklmnop"), "iotfed_abcdefghijklmnop");
    assert.equal(bearerToken("Basic abc"), undefined);
    assert.equal(bearerToken("Bearer short"), undefined);
  });
});
