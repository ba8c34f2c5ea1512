import assert from "node:assert/strict";
import { writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { bootstrapSuccessBody, BOOTSTRAP_BODY_MAX } from "../../internal/domain/index.js";
import { ConfigError, defaultConfig, loadConfig, validateConfig } from "../../internal/config/index.js";

describe("configuration", () => {
  it("the embedded default is a complete single instance on loopback in cn-shanghai with data in ./data", () => {
    const c = defaultConfig();
    assert.equal(c.region.id, "cn-shanghai");
    assert.equal(c.dataDir, "./data");
    for (const addr of Object.values(c.listen)) assert.match(addr ?? "", /^127\.0\.0\.1:\d+$/);
    assert.equal(loadConfig(undefined, {}).config.listen.console, "127.0.0.1:8081", "npm start shows the console");
    assert.equal(c.limits.devicesPerBatch, 1000);
    assert.equal(loadConfig(undefined, {}).embedded, true);
  });

  it("replication is off by default and takes defaults for what a section omits", () => {
    assert.equal(defaultConfig().replication, undefined);
    const r = validateConfig({ replication: { servers: ["nats://127.0.0.1:4222", "10.0.0.2:4222"] } }).replication!;
    assert.equal(r.bucket, "iotfed-routes");
    assert.equal(r.replicas, 1);
    assert.equal(r.staleAfterMs, 5000);
  });

  it("a partial file keeps the defaults of the keys it omits", () => {
    const c = validateConfig({ instance: { id: "iot-sg-1", mqtt: { host: "mqtt.sg.example" } } });
    assert.equal(c.instance.mqtt.port, 1883);
    assert.equal(c.region.id, "cn-shanghai");
  });

  const bad: [string, unknown, string][] = [
    ["an unknown top-level key", { regoin: {} }, "regoin"],
    ["an unknown nested key", { instance: { mqtt: { hots: "x" } } }, "instance.mqtt.hots"],
    ["a bad instance kind", { instance: { kind: "private" } }, "instance.kind"],
    ["a bad listen address", { listen: { admin: "localhost" } }, "listen.admin"],
    ["a port out of range", { listen: { bootstrap: "127.0.0.1:70000" } }, "listen.bootstrap"],
    ["a latitude out of range", { region: { latitude: 91 } }, "region.latitude"],
    ["a batch limit above 10,000", { limits: { devicesPerBatch: 20000 } }, "limits.devicesPerBatch"],
    ["an MQTT host longer than 100 characters", { instance: { mqtt: { host: "h".repeat(101) } } }, "instance.mqtt.host"],
    ["TLS without a key file", { tls: { admin: { certFile: "c.pem" } } }, "tls.admin.keyFile"],
    ["a NATS server that is not a URL", { replication: { servers: ["nats:4222 extra"] } }, "replication.servers[0]"],
    ["replication without servers", { replication: { bucket: "r" } }, "replication.servers"],
    ["a bucket name NATS refuses", { replication: { servers: ["nats://127.0.0.1:4222"], bucket: "routes.v1" } }, "replication.bucket"],
    ["two replicas", { replication: { servers: ["nats://127.0.0.1:4222"], replicas: 2 } }, "replication.replicas"],
    ["a mirror without a stream", { replication: { servers: ["nats://127.0.0.1:4222"], mirror: { cluster: "c-eu" } } }, "replication.mirror.stream"],
  ];
  for (const [what, doc, key] of bad) {
    it(`refuses ${what}, naming ${key}`, () => {
      assert.throws(() => validateConfig(doc), (e: unknown) => e instanceof ConfigError && e.key === key && e.message.startsWith(key));
    });
  }

  it("the longest MQTT endpoint allowed still fits the device SDK's 192-byte reply buffer", () => {
    const c = validateConfig({ instance: { mqtt: { host: "h".repeat(100), port: 65535 } } });
    assert.ok(Buffer.byteLength(bootstrapSuccessBody(c.instance.mqtt)) < BOOTSTRAP_BODY_MAX);
  });

  it("names the file when it is not YAML or not a mapping", () => {
    const f = join(tmpdir(), `iotfed-cfg-${process.pid}.yaml`);
    try {
      writeFileSync(f, "region: [unclosed");
      assert.throws(() => loadConfig(f), /is not valid YAML/);
      writeFileSync(f, "- a\n- b\n");
      assert.throws(() => loadConfig(f), /must hold a mapping/);
      assert.throws(() => loadConfig(f + ".missing"), /cannot read configuration file/);
    } finally {
      rmSync(f, { force: true });
    }
  });

  it("deploy/iotfedd.example.yaml is valid and equals the defaults", () => {
    const example = loadConfig(fileURLToPath(new URL("../../../deploy/iotfedd.example.yaml", import.meta.url)));
    assert.deepEqual(example.config, defaultConfig());
  });

  it("reads the path from IOTFED_CONFIG when no flag is given", () => {
    const f = join(tmpdir(), `iotfed-cfg-env-${process.pid}.yaml`);
    try {
      writeFileSync(f, "region:\n  id: ap-southeast-1\n");
      const loaded = loadConfig(undefined, { IOTFED_CONFIG: f });
      assert.equal(loaded.embedded, false);
      assert.equal(loaded.config.region.id, "ap-southeast-1");
    } finally {
      rmSync(f, { force: true });
    }
  });
});
