import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestDaemon, bootstrap, seedAccount } from "../support/daemon.js";

/**
 * A real iotfedd process driven by the real iotfedctl: every admin operation
 * of a single instance, the access rules between accounts, and bootstrap of
 * the devices it makes.
 */
describe("single instance: admin API through iotfedctl", function () {
  this.timeout(60000);
  const d = new TestDaemon();
  let a: { accountId: string; token: string };
  let b: { accountId: string; token: string };
  const secretsSeen: string[] = [];

  before(async () => {
    await d.start();
    a = await seedAccount(d, "acme");
    b = await seedAccount(d, "globex");
    secretsSeen.push(a.token, b.token, d.operatorToken);
  });
  after(async () => {
    assert.equal(await d.stop(), 0, "SIGTERM stops the daemon cleanly");
    await d.dispose();
  });

  it("whoami tells operator and account apart", async () => {
    const op = await d.ctlJson(["whoami"]);
    assert.equal(op.kind, "PRINCIPAL_KIND_OPERATOR");
    const acct = await d.ctlJson(["whoami"], { token: a.token });
    assert.equal(acct.kind, "PRINCIPAL_KIND_ACCOUNT");
    assert.equal(acct.accountId, a.accountId);
    assert.equal(acct.regionId, "cn-shanghai");
  });

  it("product lifecycle: create, get, list, update, topic classes, thing model, script, publish, delete", async () => {
    const created = await d.ctlJson(["product", "create", "-n", "Smart meter", "--node-type", "gateway", "-d", "first"], { token: a.token });
    const pk = created.product.productKey as string;
    assert.match(pk, /^[A-Za-z0-9]{11}$/);
    assert.equal(created.product.nodeType, "NODE_TYPE_GATEWAY");
    assert.equal(created.product.status, "PRODUCT_STATUS_DEVELOPING");

    const dup = await d.ctl(["product", "create", "-n", "Smart meter"], { token: a.token });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /ALREADY_EXISTS: product_name/);

    const updated = await d.ctlJson(["product", "update", pk, "-n", "Smart meter v2"], { token: a.token });
    assert.equal(updated.product.productName, "Smart meter v2");
    assert.equal(updated.product.description, "first");

    const t1 = await d.ctlJson(["topic", "create", pk, "user/update", "-o", "pub", "-d", "telemetry"], { token: a.token });
    assert.equal(t1.topic.topic, `/${pk}/\${deviceName}/user/user/update`);
    const t2 = await d.ctlJson(["topic", "create", pk, "cmd/+", "-o", "sub"], { token: a.token });
    const badTopic = await d.ctl(["topic", "create", pk, "cmd/+", "-o", "pub"], { token: a.token });
    assert.equal(badTopic.code, 1);
    assert.match(badTopic.stderr, /INVALID_ARGUMENT: topic_short_name: wildcards/);
    await d.ctlJson(["topic", "update", String(t2.topic.topicId), "cmd/#", "-o", "sub"], { token: a.token });
    await d.ctl(["topic", "delete", String(t1.topic.topicId)], { token: a.token });
    const topics = await d.ctlJson(["topic", "list", pk], { token: a.token });
    assert.deepEqual(topics.topics.map((t: { topicShortName: string }) => t.topicShortName), ["cmd/#"]);

    const tslFile = join(d.dataDir, "model.json");
    writeFileSync(tslFile, JSON.stringify({ properties: [{ identifier: "power", name: "Power", accessMode: "rw", dataType: { type: "bool", specs: { "0": "off", "1": "on" } } }] }));
    assert.equal((await d.ctl(["tsl", "import", pk, tslFile], { token: a.token })).code, 0);
    const tsl = await d.ctlJson(["tsl", "get", pk], { token: a.token });
    assert.equal(JSON.parse(tsl.tslJson).properties[0].identifier, "power");
    const badTsl = await d.ctl(["tsl", "import", pk, "-"], { token: a.token, stdin: '{"properties":[{"identifier":"x","name":"X","accessMode":"rw","dataType":{"type":"int","specs":{"min":9,"max":1}}}]}' });
    assert.equal(badTsl.code, 1);
    assert.match(badTsl.stderr, /tsl_json\.properties\[0\]\.dataType\.specs\.min: min must not exceed max/);
    assert.equal(JSON.parse((await d.ctlJson(["tsl", "get", pk], { token: a.token })).tslJson).properties[0].identifier, "power", "a refused import loses nothing");

    assert.equal((await d.ctl(["script", "get", pk], { token: a.token })).code, 4);
    assert.equal((await d.ctl(["script", "create", pk, "-", "--type", "javascript"], { token: a.token, stdin: "function rawDataToProtocol(b){return {};}" })).code, 0);
    assert.equal((await d.ctl(["script", "create", pk, "-"], { token: a.token, stdin: "x" })).code, 1, "create twice is refused");
    assert.equal((await d.ctl(["script", "update", pk, "-", "--type", "python"], { token: a.token, stdin: "def f(x): return x\n" })).code, 0);
    const script = await d.ctlJson(["script", "get", pk], { token: a.token });
    assert.equal(script.scriptType, "SCRIPT_TYPE_PYTHON");
    assert.equal(script.scriptContent, "def f(x): return x\n");

    const published = await d.ctlJson(["product", "publish", pk], { token: a.token });
    assert.equal(published.product.status, "PRODUCT_STATUS_PUBLISHED");
    assert.ok(Number(published.product.version) >= 8, "every change bumped the version");

    await d.ctlJson(["device", "register", pk, "only-dev"], { token: a.token });
    const refused = await d.ctl(["product", "delete", pk], { token: a.token });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /FAILED_PRECONDITION: product .* still has 1 devices/);
    await d.ctl(["device", "delete", pk, "only-dev"], { token: a.token });
    assert.equal((await d.ctl(["product", "delete", pk], { token: a.token })).code, 0);
    assert.equal((await d.ctl(["product", "get", pk], { token: a.token })).code, 4);
  });

  it("devices: register, batch-register with per-device results, get, list, disable/enable, tags, delete — and bootstrap follows", async () => {
    const pk = (await d.ctlJson(["product", "create", "-n", "Thermostat"], { token: a.token })).product.productKey as string;
    const one = await d.ctlJson(["device", "register", pk, "th.01@hall:1", "--nickname", "hall"], { token: a.token });
    assert.match(one.device.deviceSecret, /^[A-Za-z0-9]{32}$/);
    secretsSeen.push(one.device.deviceSecret);
    const generated = await d.ctlJson(["device", "register", pk], { token: a.token });
    assert.match(generated.device.deviceName, /^[A-Za-z0-9]{20}$/);
    secretsSeen.push(generated.device.deviceSecret);

    const csv = join(d.dataDir, "devices.csv");
    writeFileSync(csv, "deviceName\nbatch-0001\nbatch-0002\nno\nth.01@hall:1\nbatch-0001\n");
    const batch = await d.ctl(["--json", "device", "batch-register", pk, "-f", csv], { token: a.token });
    assert.equal(batch.code, 6, "a batch with failed items exits 6");
    const results = JSON.parse(batch.stdout);
    assert.equal(results.successCount, 2);
    assert.equal(results.failureCount, 3);
    assert.deepEqual(
      results.results.map((r: { success: boolean; errorCode: string }) => (r.success ? "ok" : r.errorCode)),
      ["ok", "ok", "INVALID_ARGUMENT", "ALREADY_EXISTS", "ALREADY_EXISTS"],
    );
    for (const r of results.results) if (r.success) secretsSeen.push(r.device.deviceSecret);

    const many = await d.ctl(["device", "batch-register", pk, "--count", "1001"], { token: a.token });
    assert.equal(many.code, 1);
    assert.match(many.stderr, /INVALID_ARGUMENT: count: holds 1001 devices; at most 1000/);
    const full = await d.ctlJson(["device", "batch-register", pk, "--count", "1000"], { token: a.token });
    assert.equal(full.successCount, 1000);

    const noSecret = await d.ctlJson(["device", "get", pk, "th.01@hall:1"], { token: a.token });
    assert.equal(noSecret.device.deviceSecret, "", "the secret only when asked for");
    const withSecret = await d.ctlJson(["device", "get", pk, "th.01@hall:1", "--secret"], { token: a.token });
    assert.equal(withSecret.device.deviceSecret, one.device.deviceSecret);
    const byIotId = await d.ctlJson(["device", "get", "--iot-id", one.device.iotId], { token: a.token });
    assert.equal(byIotId.device.deviceName, "th.01@hall:1");

    const listed = await d.ctlJson(["device", "list", pk, "--prefix", "batch-", "--all", "--page-size", "1"], { token: a.token });
    assert.deepEqual(listed.devices.map((x: { deviceName: string }) => x.deviceName), ["batch-0001", "batch-0002"]);

    const ok = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=${encodeURIComponent("th.01@hall:1")}&clientId=${pk}.th.01@hall:1&resources=mqtt`);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { code: 200, data: { resources: { mqtt: { host: "127.0.0.1", port: 1883 } } }, message: "success" });

    await d.ctl(["device", "disable", pk, "th.01@hall:1"], { token: a.token });
    assert.equal((await d.ctlJson(["device", "list", pk, "--status", "disabled"], { token: a.token })).devices.length, 1);
    const disabled = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=th.01@hall:1`);
    assert.equal(disabled.status, 403);
    assert.equal(disabled.json.code, 403);
    await d.ctl(["device", "enable", pk, "th.01@hall:1"], { token: a.token });
    assert.equal((await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=th.01@hall:1`)).status, 200);

    assert.equal((await d.ctl(["device", "tag", "set", pk, "th.01@hall:1", "room=hall", "floor=2"], { token: a.token })).code, 0);
    await d.ctl(["device", "tag", "delete", pk, "th.01@hall:1", "floor"], { token: a.token });
    const tags = await d.ctlJson(["device", "tag", "list", pk, "th.01@hall:1"], { token: a.token });
    assert.deepEqual(tags.props, [{ key: "room", value: "hall" }]);
    const badTag = await d.ctl(["device", "tag", "set", pk, "th.01@hall:1", "bad key=x"], { token: a.token });
    assert.match(badTag.stderr, /props\[0\]\.key/);

    assert.equal((await d.ctl(["device", "delete", pk, "th.01@hall:1"], { token: a.token })).code, 0);
    const gone = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=th.01@hall:1`);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.message, "device not found");
  });

  it("an account sees and changes only its own products and devices", async () => {
    const pk = (await d.ctlJson(["product", "create", "-n", "Private"], { token: a.token })).product.productKey as string;
    await d.ctlJson(["device", "register", pk, "secret-dev"], { token: a.token });
    for (const args of [
      ["product", "get", pk],
      ["product", "update", pk, "-d", "mine now"],
      ["product", "delete", pk],
      ["device", "get", pk, "secret-dev", "--secret"],
      ["device", "delete", pk, "secret-dev"],
      ["device", "register", pk, "intruder"],
      ["topic", "list", pk],
    ]) {
      const r = await d.ctl(args, { token: b.token });
      assert.equal(r.code, 4, `${args.join(" ")} by another account: ${r.stderr}`);
      assert.match(r.stderr, /NOT_FOUND: product .* does not exist/);
    }
    const bList = await d.ctlJson(["product", "list"], { token: b.token });
    assert.equal(bList.products.length, 0);
    assert.equal((await d.ctlJson(["device", "get", pk, "secret-dev"], { token: a.token })).device.deviceName, "secret-dev", "nothing changed");
  });

  it("the operator manages accounts; accounts cannot; bad, missing and revoked tokens are refused", async () => {
    const r1 = await d.ctl(["account", "create", "sneaky"], { token: a.token });
    assert.equal(r1.code, 3);
    assert.match(r1.stderr, /PERMISSION_DENIED: this call needs the operator token/);
    const r2 = await d.ctl(["product", "list"], { token: "iotfed_not-a-real-token-at-all" });
    assert.equal(r2.code, 3);
    assert.match(r2.stderr, /UNAUTHENTICATED/);
    const r3 = await d.ctl(["product", "create", "-n", "Orphan"]);
    assert.equal(r3.code, 3, "the operator must say which account it acts for");
    const asA = await d.ctlJson(["product", "list"], { asAccount: a.accountId });
    assert.ok(asA.products.length >= 1, "the operator acting for an account sees its products");

    const t = await d.ctlJson(["account", "token", "create", b.accountId, "-d", "short-lived"]);
    assert.equal((await d.ctl(["whoami"], { token: t.secret })).code, 0);
    await d.ctl(["account", "token", "revoke", t.token.tokenId]);
    assert.equal((await d.ctl(["whoami"], { token: t.secret })).code, 3);
    const list = await d.ctlJson(["account", "token", "list", b.accountId]);
    assert.ok(list.tokens.some((x: { tokenId: string; revokeTimeMs: string }) => x.tokenId === t.token.tokenId && x.revokeTimeMs !== "0"));
    assert.equal(JSON.stringify(list).includes(t.secret), false, "token values are never listed");
  });

  it("bad input gets an error naming the field, with the documented exit code", async () => {
    const cases: [string[], number, RegExp][] = [
      [["account", "create", "has space"], 1, /INVALID_ARGUMENT: account_name/],
      [["product", "get", "short"], 1, /INVALID_ARGUMENT: product_key/],
      [["device", "get", "a1B2c3D4e5F", "x"], 4, /NOT_FOUND: product a1B2c3D4e5F/],
      [["product", "list", "--page-size", "5000"], 1, /INVALID_ARGUMENT: page_size/],
      [["product", "list", "--page-token", "nonsense"], 1, /INVALID_ARGUMENT: page_token/],
      [["product", "frobnicate"], 2, /unknown command|error/],
    ];
    for (const [args, code, re] of cases) {
      const r = await d.ctl(args, { asAccount: a.accountId });
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  it("no DeviceSecret or token ever reaches the daemon's logs", () => {
    const logs = d.logs.join("\n") + d.stderr;
    assert.ok(secretsSeen.length >= 6);
    for (const s of secretsSeen) assert.equal(logs.includes(s), false, "a secret was logged");
  });
});
