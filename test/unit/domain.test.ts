import assert from "node:assert/strict";
import {
  InvalidArgumentError,
  PermissionDeniedError,
  actingAccount,
  checkBatchSize,
  checkDeviceName,
  checkProductKey,
  checkProductName,
  checkTopicShortName,
  newDeviceSecret,
  newProductKey,
  DEFAULT_MAX_DEVICES_PER_BATCH,
  pageSize,
  requireOperator,
  topicTemplate,
  bootstrapSuccessBody,
  BOOTSTRAP_BODY_MAX,
} from "../../internal/domain/index.js";

describe("domain: names, keys and secrets", () => {
  it("accepts DeviceNames of 4-32 letters, digits and -_@.: (SPEC Entities)", () => {
    for (const ok of ["abcd", "a-b_c", "meter.01@site:3", "x".repeat(32), "1234"]) assert.equal(checkDeviceName(ok), ok);
  });

  it("refuses DeviceNames that are too short, too long or hold other characters, naming the field", () => {
    for (const bad of ["abc", "x".repeat(33), "has space", "semi;colon", "slash/x", "ünï-code", "star*", "gt>1", ""]) {
      assert.throws(() => checkDeviceName(bad), (e: unknown) => e instanceof InvalidArgumentError && e.field === "device_name", bad);
    }
  });

  it("ProductKeys are 11 letters and digits, and generated ones are valid and distinct", () => {
    const keys = new Set(Array.from({ length: 2000 }, newProductKey));
    assert.equal(keys.size, 2000);
    for (const k of keys) assert.equal(checkProductKey(k), k);
    assert.throws(() => checkProductKey("a1B2c3D4e5"), /product_key/);
    assert.throws(() => checkProductKey("a1B2c3D4e5-"), /product_key/);
  });

  it("DeviceSecrets are 32 characters from the CSPRNG, uniformly spread", () => {
    const secrets = Array.from({ length: 2000 }, newDeviceSecret);
    assert.equal(new Set(secrets).size, secrets.length);
    for (const s of secrets) assert.match(s, /^[A-Za-z0-9]{32}$/);
    // Every one of the 62 symbols appears, none dominates (64,000 draws, ~1,032 each).
    const counts = new Map<string, number>();
    for (const s of secrets) for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 62);
    for (const n of counts.values()) assert.ok(n > 800 && n < 1300, `symbol count ${n} is off`);
  });

  it("product names allow letters of any script but no edge spaces", () => {
    assert.equal(checkProductName("智能电表 v2"), "智能电表 v2");
    assert.throws(() => checkProductName(" lead"), /product_name/);
    assert.throws(() => checkProductName("x".repeat(65)), /product_name/);
  });
});

describe("domain: limits", () => {
  it("R1: a batch of 1,000 devices is allowed, 1,001 is refused naming the rule and field", () => {
    assert.equal(DEFAULT_MAX_DEVICES_PER_BATCH, 1000);
    checkBatchSize(1000, DEFAULT_MAX_DEVICES_PER_BATCH, "device_names");
    assert.throws(
      () => checkBatchSize(1001, DEFAULT_MAX_DEVICES_PER_BATCH, "device_names"),
      (e: unknown) => e instanceof InvalidArgumentError && e.rule === "R1" && e.field === "device_names" && /1001/.test(e.message),
    );
  });

  it("R1: the limit is configurable (the later API allows 10,000)", () => {
    checkBatchSize(10000, 10000, "count");
    assert.throws(() => checkBatchSize(10001, 10000, "count"), /R1|at most 10000/);
  });

  it("page sizes default to 50 and are bounded", () => {
    assert.equal(pageSize(0), 50);
    assert.equal(pageSize(7), 7);
    assert.throws(() => pageSize(5000), /page_size/);
    assert.throws(() => pageSize(-1), /page_size/);
  });
});

describe("domain: access", () => {
  it("an account token acts for its own account only", () => {
    assert.equal(actingAccount({ kind: "account", accountId: "11", tokenId: "t" }), "11");
    assert.throws(() => requireOperator({ kind: "account", accountId: "11", tokenId: "t" }), PermissionDeniedError);
  });

  it("the operator manages accounts, and acts for an account only when it names one", () => {
    requireOperator({ kind: "operator", actingFor: undefined });
    assert.throws(() => actingAccount({ kind: "operator", actingFor: undefined }), /x-iotfed-account/);
    assert.equal(actingAccount({ kind: "operator", actingFor: "42" }), "42");
  });
});

describe("domain: topic classes", () => {
  it("builds the template devices see", () => {
    assert.equal(topicTemplate("a1B2c3D4e5F", "update"), "/a1B2c3D4e5F/${deviceName}/user/update");
  });

  it("allows + and # only for sub, # only last", () => {
    assert.equal(checkTopicShortName("cmd/+/#", "sub"), "cmd/+/#");
    assert.throws(() => checkTopicShortName("cmd/+", "pub"), /only with operation sub/);
    assert.throws(() => checkTopicShortName("#/x", "sub"), /level 1/);
    assert.throws(() => checkTopicShortName("a//b", "all"), /level 2/);
    assert.throws(() => checkTopicShortName("bad-char", "pub"), /topic_short_name/);
  });
});

describe("domain: bootstrap reply", () => {
  it("the success body is exactly the seed's envelope and fits the SDK's 192-byte buffer", () => {
    const body = bootstrapSuccessBody({ host: "iot-as-mqtt.cn-shanghai.aliyuncs.com", port: 1883 });
    assert.equal(body, '{"code":200,"data":{"resources":{"mqtt":{"host":"iot-as-mqtt.cn-shanghai.aliyuncs.com","port":1883}}},"message":"success"}');
    assert.ok(Buffer.byteLength(body) < BOOTSTRAP_BODY_MAX);
  });
});
