import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { AdminService, ScriptType, TopicOperation } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;
type Method = keyof (typeof AdminService)["method"];
type Call = (c: AdminClient) => Promise<unknown>;

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x));

/**
 * One account's token against another account's things, through every
 * method of the admin API: each call is refused as not found or not
 * allowed, or answers only with the caller's own things — and afterwards
 * the other account's products, devices, jobs, grants, codes and audit log
 * are exactly as they were.
 */
describe("account isolation through every admin RPC", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember;
  const clients: AdminClient[] = [];
  let alice: AdminClient; // the owner
  let mallory: AdminClient; // another account with its own token at A
  let aliceId = "";
  const v = { p1: "", p2: "", topicId: 0n, jobId: "", grantId: "", productGrantId: "", codeId: "", code: "", iotId: "", tokenId: "", groupId: "" };
  /** What must never reach mallory. */
  let forbidden: string[] = [];

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, {
      regions: ["cn-shanghai", "eu-central-1"],
      kinds: ["legacy-public", "public"],
      config: { replication: { servers: [nats.url], staleAfterMs: 1000 } },
    });
    [A, B] = fed.members as [FederationMember, FederationMember];
    const mk = async (name: string) => (await A.daemon.ctlJson(["account", "create", name])).account.accountId as string;
    aliceId = await mk("alice");
    const malloryId = await mk("mallory");
    const carolId = await mk("carol");
    const token = async (m: FederationMember, id: string): Promise<{ secret: string; token: { tokenId: string } }> => m.daemon.ctlJson(["account", "token", "create", id]);
    const at = await token(A, aliceId);
    v.tokenId = at.token.tokenId;
    alice = A.daemon.adminWithToken(at.secret);
    mallory = A.daemon.adminWithToken((await token(A, malloryId)).secret);
    await waitFor("carol in B's directory", async () => ((await B.daemon.admin().queryAccountList({ pageSize: 100 })).accounts.some((a) => a.accountId === carolId) ? true : undefined), 20000, 100);
    const carolB = B.daemon.adminWithToken((await token(B, carolId)).secret);
    clients.push(alice, mallory, carolB);

    // alice's things at A: a distributed product with devices, tags, shadow, topic,
    // thing model, script and a job; a published product with a granted device;
    // a code carol asked for; audit events.
    v.p1 = (await alice.createProduct({ productName: "AliceMeter" })).product!.productKey;
    v.topicId = (await alice.createProductTopic({ productKey: v.p1, topicShortName: "update", operation: TopicOperation.PUB })).topic!.topicId;
    await alice.importThingModelTsl({ productKey: v.p1, tslJson: '{"properties":[{"identifier":"kwh","name":"kWh","accessMode":"r","dataType":{"type":"double","specs":{}}}]}' });
    await alice.createThingScript({ productKey: v.p1, scriptType: ScriptType.JAVASCRIPT, scriptContent: "function protocolToRawData(j){return [];}" });
    await alice.batchRegisterDevice({ productKey: v.p1, deviceNames: ["alice-dev-1", "alice-dev-2", "alice-dev-3"] });
    v.iotId = (await alice.queryDeviceDetail({ productKey: v.p1, deviceName: "alice-dev-1" })).device!.iotId;
    await alice.saveDeviceProp({ productKey: v.p1, deviceName: "alice-dev-1", props: [{ key: "site", value: "roof" }] });
    await alice.updateDeviceShadow({ productKey: v.p1, deviceName: "alice-dev-1", shadowJson: '{"kwh":1}' });
    v.groupId = (await alice.createDeviceGroup({ groupName: "alice-roof" })).group!.groupId;
    await alice.batchAddDeviceGroupRelations({ groupId: v.groupId, devices: [{ productKey: v.p1, deviceName: "alice-dev-1" }] });
    v.jobId = (await alice.createDeviceDistributeJob({ productKey: v.p1, targetInstanceId: B.id, deviceNames: ["alice-dev-3"] })).job!.jobId;
    await waitJob(() => alice, v.jobId);
    v.p2 = (await alice.createProduct({ productName: "AliceShared" })).product!.productKey;
    await alice.releaseProduct({ productKey: v.p2 });
    await alice.registerDevice({ productKey: v.p2, deviceName: "alice-shared-1" });
    const g = await alice.grantDevice({ productKey: v.p2, deviceName: "alice-shared-1", granteeAccountId: carolId });
    v.grantId = g.deviceGrant!.grantId;
    v.productGrantId = g.productGrant!.grantId;
    await carolB.requestAuthCode({ targetAccountId: aliceId, targetRegionId: A.region, targetInstanceId: A.id });
    const code = (await alice.listAuthCodes({})).codes[0]!;
    v.codeId = code.codeId;
    v.code = code.code;
    forbidden = [v.p1, v.p2, "alice-dev-", "alice-shared-", v.jobId, v.grantId, v.productGrantId, v.codeId, v.iotId, v.tokenId, `"${v.code}"`, v.groupId, "alice-roof"];
  });
  after(async () => {
    for (const c of clients) c.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  /** Everything alice has, as alice reads it. */
  const snapshot = async (): Promise<string> => {
    const all = [];
    all.push(await alice.queryProductList({ pageSize: 1000 }));
    for (const pk of [v.p1, v.p2]) {
      all.push(await alice.queryProduct({ productKey: pk }), await alice.queryDevice({ productKey: pk, pageSize: 1000 }), await alice.queryProductTopic({ productKey: pk }));
      all.push(await alice.getThingModelTsl({ productKey: pk }), await alice.listDistributedDevice({ productKey: pk }));
    }
    all.push(await alice.getThingScript({ productKey: v.p1 }));
    for (const dn of ["alice-dev-1", "alice-dev-2"]) {
      all.push(await alice.queryDeviceDetail({ productKey: v.p1, deviceName: dn, includeSecret: true }));
      all.push(await alice.queryDeviceProp({ productKey: v.p1, deviceName: dn }), await alice.getDeviceShadow({ productKey: v.p1, deviceName: dn }));
    }
    all.push(await alice.listDeviceDistributeJob({ pageSize: 1000 }), await alice.queryDeviceDistributeDetail({ jobId: v.jobId }));
    all.push(await alice.listGrants({}), await alice.listAuthCodes({}), await alice.listAuditEvents({ pageSize: 1000 }));
    all.push(await A.daemon.admin().queryAccountTokenList({ accountId: aliceId }));
    all.push(await alice.queryDeviceGroupList({}), await alice.queryDeviceListByDeviceGroup({ groupId: v.groupId }), await alice.queryDevicePropertyStatus({ productKey: v.p1, deviceName: "alice-dev-1" }));
    return json(all);
  };

  /** Each admin method, called with alice's identifiers (a test fails when a method is added without a case). */
  const CASES: Record<Method, Call[]> = {
    whoAmI: [(c) => c.whoAmI({})],
    queryFederation: [(c) => c.queryFederation({})],
    backup: [(c) => c.backup({ name: "mine.db" })],
    createAccount: [(c) => c.createAccount({ accountName: "mallory2" })],
    queryAccountList: [(c) => c.queryAccountList({})],
    createAccountToken: [(c) => c.createAccountToken({ accountId: aliceId })],
    queryAccountTokenList: [(c) => c.queryAccountTokenList({ accountId: aliceId })],
    revokeAccountToken: [(c) => c.revokeAccountToken({ tokenId: v.tokenId })],
    createProduct: [(c) => c.createProduct({ productName: "MalloryOwn" })],
    updateProduct: [(c) => c.updateProduct({ productKey: v.p1, productName: "Stolen" })],
    queryProduct: [(c) => c.queryProduct({ productKey: v.p1 }), (c) => c.queryProduct({ productKey: v.p2 })],
    queryProductList: [(c) => c.queryProductList({ pageSize: 1000 })],
    deleteProduct: [(c) => c.deleteProduct({ productKey: v.p2 })],
    releaseProduct: [(c) => c.releaseProduct({ productKey: v.p1 })],
    createProductTopic: [(c) => c.createProductTopic({ productKey: v.p1, topicShortName: "mine", operation: TopicOperation.SUB })],
    updateProductTopic: [(c) => c.updateProductTopic({ topicId: v.topicId, topicShortName: "mine", operation: TopicOperation.SUB })],
    deleteProductTopic: [(c) => c.deleteProductTopic({ topicId: v.topicId })],
    queryProductTopic: [(c) => c.queryProductTopic({ productKey: v.p1 })],
    importThingModelTsl: [(c) => c.importThingModelTsl({ productKey: v.p1, tslJson: '{"properties":[]}' })],
    getThingModelTsl: [(c) => c.getThingModelTsl({ productKey: v.p1 })],
    createThingScript: [(c) => c.createThingScript({ productKey: v.p2, scriptType: ScriptType.JAVASCRIPT, scriptContent: "x" })],
    updateThingScript: [(c) => c.updateThingScript({ productKey: v.p1, scriptType: ScriptType.JAVASCRIPT, scriptContent: "x" })],
    getThingScript: [(c) => c.getThingScript({ productKey: v.p1 })],
    registerDevice: [(c) => c.registerDevice({ productKey: v.p1, deviceName: "mallory-dev" })],
    batchRegisterDevice: [(c) => c.batchRegisterDevice({ productKey: v.p1, deviceNames: ["mallory-dev"] })],
    queryDeviceDetail: [
      (c) => c.queryDeviceDetail({ productKey: v.p1, deviceName: "alice-dev-1", includeSecret: true }),
      (c) => c.queryDeviceDetail({ iotId: v.iotId }),
    ],
    queryDevice: [(c) => c.queryDevice({ productKey: v.p1 })],
    deleteDevice: [(c) => c.deleteDevice({ productKey: v.p1, deviceName: "alice-dev-2" })],
    disableThing: [(c) => c.disableThing({ productKey: v.p1, deviceName: "alice-dev-1" })],
    enableThing: [(c) => c.enableThing({ productKey: v.p1, deviceName: "alice-dev-1" })],
    saveDeviceProp: [(c) => c.saveDeviceProp({ productKey: v.p1, deviceName: "alice-dev-1", props: [{ key: "site", value: "mine" }] })],
    queryDeviceProp: [(c) => c.queryDeviceProp({ productKey: v.p1, deviceName: "alice-dev-1" })],
    deleteDeviceProp: [(c) => c.deleteDeviceProp({ productKey: v.p1, deviceName: "alice-dev-1", key: "site" })],
    updateDeviceShadow: [(c) => c.updateDeviceShadow({ productKey: v.p1, deviceName: "alice-dev-1", shadowJson: "{}" })],
    getDeviceShadow: [(c) => c.getDeviceShadow({ productKey: v.p1, deviceName: "alice-dev-1" })],
    createProductDistributeJob: [(c) => c.createProductDistributeJob({ productKey: v.p1, targetInstanceId: B.id })],
    createDeviceDistributeJob: [(c) => c.createDeviceDistributeJob({ productKey: v.p1, targetInstanceId: B.id, deviceNames: ["alice-dev-1"] })],
    queryDeviceDistributeJob: [(c) => c.queryDeviceDistributeJob({ jobId: v.jobId })],
    listDeviceDistributeJob: [(c) => c.listDeviceDistributeJob({ pageSize: 1000 }), (c) => c.listDeviceDistributeJob({ productKey: v.p1 })],
    queryDeviceDistributeDetail: [(c) => c.queryDeviceDistributeDetail({ jobId: v.jobId })],
    retryDeviceDistributeJob: [(c) => c.retryDeviceDistributeJob({ jobId: v.jobId })],
    abortDeviceDistributeJob: [(c) => c.abortDeviceDistributeJob({ jobId: v.jobId, force: true })],
    deleteDeviceDistributeJob: [(c) => c.deleteDeviceDistributeJob({ jobId: v.jobId })],
    listDistributedDevice: [(c) => c.listDistributedDevice({ productKey: v.p1 })],
    listDistributedProduct: [(c) => c.listDistributedProduct({ pageSize: 1000 })],
    queryDeviceProvisioning: [(c) => c.queryDeviceProvisioning({ productKey: v.p1, deviceName: "alice-dev-3" })],
    // Asking for a code addressed to alice is what the feature is for; inside
    // her own legacy public instance it is refused (R5) and reaches nothing of hers.
    requestAuthCode: [(c) => c.requestAuthCode({ targetAccountId: aliceId, targetRegionId: A.region, targetInstanceId: A.id })],
    listAuthCodes: [(c) => c.listAuthCodes({ pageSize: 1000 })],
    grantDevice: [(c) => c.grantDevice({ productKey: v.p2, deviceName: "alice-shared-1", granteeAccountName: "mallory" })],
    revokeGrant: [(c) => c.revokeGrant({ grantId: v.grantId }), (c) => c.revokeGrant({ grantId: v.productGrantId })],
    listGrants: [(c) => c.listGrants({}), (c) => c.listGrants({ side: "received" }), (c) => c.listGrants({ productKey: v.p2 })],
    addProductToPool: [(c) => c.addProductToPool({ productKey: v.p2, confirmIrreversible: true })],
    listPoolProducts: [(c) => c.listPoolProducts({})],
    queryPoolProduct: [(c) => c.queryPoolProduct({ productKey: v.p2 })],
    listAuditEvents: [(c) => c.listAuditEvents({ pageSize: 1000 })],
    queryDevicePropertyStatus: [(c) => c.queryDevicePropertyStatus({ productKey: v.p1, deviceName: "alice-dev-1" })],
    queryDevicePropertyData: [(c) => c.queryDevicePropertyData({ productKey: v.p1, deviceName: "alice-dev-1", identifier: "kwh" })],
    queryDeviceEventData: [(c) => c.queryDeviceEventData({ productKey: v.p1, deviceName: "alice-dev-1" })],
    setDeviceProperty: [(c) => c.setDeviceProperty({ productKey: v.p1, deviceName: "alice-dev-1", itemsJson: '{"kwh":1}' })],
    invokeThingService: [(c) => c.invokeThingService({ productKey: v.p1, deviceName: "alice-dev-1", identifier: "reboot", argsJson: "{}" })],
    createDeviceGroup: [(c) => c.createDeviceGroup({ groupName: "mallory-own" })],
    deleteDeviceGroup: [(c) => c.deleteDeviceGroup({ groupId: v.groupId })],
    queryDeviceGroupList: [(c) => c.queryDeviceGroupList({})],
    batchAddDeviceGroupRelations: [(c) => c.batchAddDeviceGroupRelations({ groupId: v.groupId, devices: [{ productKey: v.p1, deviceName: "alice-dev-2" }] })],
    batchDeleteDeviceGroupRelations: [(c) => c.batchDeleteDeviceGroupRelations({ groupId: v.groupId, devices: [{ productKey: v.p1, deviceName: "alice-dev-1" }] })],
    queryDeviceListByDeviceGroup: [(c) => c.queryDeviceListByDeviceGroup({ groupId: v.groupId })],
    queryDeviceGroupByDevice: [(c) => c.queryDeviceGroupByDevice({ productKey: v.p1, deviceName: "alice-dev-1" })],
    getThingTopo: [(c) => c.getThingTopo({ productKey: v.p1, deviceName: "alice-dev-1" })],
    batchAddThingTopo: [(c) => c.batchAddThingTopo({ productKey: v.p1, deviceName: "alice-dev-1", subDevices: [{ productKey: v.p1, deviceName: "alice-dev-2" }] })],
    removeThingTopo: [(c) => c.removeThingTopo({ productKey: v.p1, deviceName: "alice-dev-1", subDevices: [{ productKey: v.p1, deviceName: "alice-dev-2" }] })],
  };

  it("the cases cover every AdminService method", () => {
    assert.deepEqual(Object.keys(CASES).sort(), Object.keys(AdminService.method).sort());
  });

  it("another account's token reads and changes nothing of alice's (products, devices, jobs, grants, codes, audit) through every admin RPC", async () => {
    const before = await snapshot();
    const outcomes: string[] = [];
    for (const [method, calls] of Object.entries(CASES) as [Method, Call[]][]) {
      for (const [i, call] of calls.entries()) {
        const what = `${method}#${i}`;
        try {
          const res = json(await call(mallory));
          for (const f of forbidden) assert.ok(!res.includes(f), `${what} answered mallory with alice's ${f}: ${res.slice(0, 300)}`);
          outcomes.push(`${what}:OK`);
        } catch (e) {
          const se = e as grpc.ServiceError;
          if (typeof se.code !== "number") throw e;
          const allowed = [grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, ...(method === "requestAuthCode" ? [grpc.status.FAILED_PRECONDITION] : [])];
          assert.ok(allowed.includes(se.code), `${what}: ${grpc.status[se.code]}: ${se.details}`);
          for (const f of forbidden) assert.ok(!se.details.includes(f) || f === v.p1 || f === v.p2 || f === v.jobId || f === v.grantId || f === v.productGrantId || f === v.iotId || f === v.tokenId || f === v.groupId, `${what}'s refusal tells mallory ${f}`);
          outcomes.push(`${what}:${grpc.status[se.code]}`);
        }
      }
    }
    const ok = outcomes.filter((o) => o.endsWith(":OK")).map((o) => o.split("#")[0]);
    assert.deepEqual(ok.sort(), ["createDeviceGroup", "queryDeviceGroupList", "createProduct", "listAuditEvents", "listAuthCodes", "listDeviceDistributeJob", "listDeviceDistributeJob", "listDistributedProduct", "listGrants", "listGrants", "listGrants", "queryFederation", "queryProductList", "whoAmI"].sort(), outcomes.join(", "));
    // The federation's counts span every account: an account gets the instances, not the counts.
    const fed = await mallory.queryFederation({});
    assert.equal(fed.routeDevices, 0n);
    assert.deepEqual(fed.jobsByStatus, {});
    assert.ok(fed.instances.every((i) => i.deviceRoutes === 0n));
    assert.equal(await snapshot(), before, "alice's things changed");
  });

  it("without a valid token every admin RPC is UNAUTHENTICATED", async () => {
    const nobody = A.daemon.adminWithToken("iotfed_notARealTokenAtAll0000000000000000000000");
    clients.push(nobody);
    for (const [method, calls] of Object.entries(CASES) as [Method, Call[]][]) {
      await assert.rejects(calls[0]!(nobody), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNAUTHENTICATED, `${method}: ${grpc.status[e.code]}`);
        return true;
      });
    }
  });
});
