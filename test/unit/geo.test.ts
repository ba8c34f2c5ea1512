import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  KNOWN_REGIONS,
  TIE_KM,
  createClientIpResolver,
  createLocator,
  greatCircleKm,
  nearest,
  normalizeIp,
  parseCidr,
  packagedCityDatabases,
  parseForwarded,
  type Candidate,
  type LatLon,
} from "../../internal/geo/index.js";
import { ConfigError, validateConfig } from "../../internal/config/index.js";
import {
  InvalidArgumentError,
  RuleViolationError,
  assertNotProductOnlyNearest,
  assertSameAccountNearest,
  checkCandidates,
  parseStrategy,
} from "../../internal/domain/index.js";

const packaged = packagedCityDatabases();
const dbDir = dirname(packaged[0]!);
const regionAt = (r: string): LatLon | undefined => KNOWN_REGIONS[r];
const three: Candidate<string>[] = ["cn-shanghai", "eu-central-1", "us-west-1"].map((r) => ({ ...KNOWN_REGIONS[r]!, id: `iot-${r}`, value: r }));

describe("geo: IP location and the nearest candidate (R3)", function () {
  this.timeout(20000);
  const locator = createLocator({ databases: packaged, overrides: [], regionAt, cacheSize: 1000 });

  it("locates well-known public addresses with the packaged city database, IPv4 and IPv6", () => {
    const cases: [string, string, LatLon][] = [
      // address, nearest of cn-shanghai / eu-central-1 / us-west-1, roughly where
      ["8.8.8.8", "us-west-1", { latitude: 37.4, longitude: -122.1 }], // Google DNS, Mountain View
      ["81.2.69.142", "eu-central-1", { latitude: 51.5, longitude: -0.1 }], // London
      ["202.96.209.133", "cn-shanghai", { latitude: 31.2, longitude: 121.5 }], // Shanghai Telecom DNS
      ["2a00:1450:4001::1", "eu-central-1", { latitude: 50.1, longitude: 8.7 }], // Google, Frankfurt
      ["::ffff:81.2.69.142", "eu-central-1", { latitude: 51.5, longitude: -0.1 }], // as a dual-stack socket reports it
    ];
    for (const [ip, region, near] of cases) {
      const loc = locator.locate(ip);
      assert.equal(loc.source, "database", ip);
      assert.ok(greatCircleKm(loc.at!, near) < 300, `${ip} at ${JSON.stringify(loc.at)}, expected near ${JSON.stringify(near)}`);
      assert.equal(nearest(loc.at!, three)!.value, region, ip);
    }
  });

  it("reports loopback, private and malformed addresses as unknown", () => {
    for (const ip of ["127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "not-an-ip", "", "999.1.1.1"]) assert.equal(locator.locate(ip).source, "unknown", ip);
  });

  it("checks operator overrides before the database, the most specific block first", () => {
    const l = createLocator({
      databases: packaged,
      overrides: [
        { cidr: "8.8.0.0/16", region: "cn-shanghai" },
        { cidr: "8.8.8.0/24", latitude: 48.86, longitude: 2.35 },
        { cidr: "fd00::/8", region: "us-west-1" },
      ],
      regionAt,
      cacheSize: 100,
    });
    const paris = l.locate("8.8.8.8");
    assert.equal(paris.source, "override");
    assert.deepEqual(paris.at, { latitude: 48.86, longitude: 2.35 });
    assert.equal(l.locate("8.8.4.4").region, "cn-shanghai");
    assert.equal(l.locate("fd12::5").region, "us-west-1");
    assert.equal(l.locate("1.0.0.1").source, "database");
  });

  it("keeps the location cache bounded", () => {
    const l = createLocator({ databases: [], overrides: [{ cidr: "0.0.0.0/0", region: "eu-central-1" }], regionAt, cacheSize: 16 });
    for (let i = 0; i < 1000; i++) l.locate(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(l.cacheSize() <= 16, `cache holds ${l.cacheSize()}`);
  });

  it("refuses a database file that is not MMDB, naming the key", () => {
    assert.throws(() => createLocator({ databases: [join(dbDir, "package.json")], overrides: [], regionAt, cacheSize: 16 }), /geo\.databases: .* is not a MaxMind DB/);
    assert.throws(() => createLocator({ databases: ["/nonexistent.mmdb"], overrides: [], regionAt, cacheSize: 16 }), /geo\.databases: cannot read \/nonexistent\.mmdb: ENOENT/);
  });

  it("measures great-circle distances", () => {
    const london = { latitude: 51.5074, longitude: -0.1278 };
    const paris = { latitude: 48.8566, longitude: 2.3522 };
    assert.ok(Math.abs(greatCircleKm(london, paris) - 343.9) < 2);
    assert.equal(greatCircleKm(paris, paris), 0);
    // antipodes: half the circumference
    assert.ok(Math.abs(greatCircleKm({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 180 }) - Math.PI * 6371.0088) < 0.01);
    // across the date line is the short way round
    assert.ok(greatCircleKm({ latitude: 0, longitude: 179.5 }, { latitude: 0, longitude: -179.5 }) < 112);
    // Shanghai–Frankfurt, Shanghai–Silicon Valley
    assert.ok(Math.abs(greatCircleKm(KNOWN_REGIONS["cn-shanghai"]!, KNOWN_REGIONS["eu-central-1"]!) - 8870) < 100);
    assert.ok(Math.abs(greatCircleKm(KNOWN_REGIONS["cn-shanghai"]!, KNOWN_REGIONS["us-west-1"]!) - 9900) < 150);
  });

  it("breaks ties deterministically: the holder first, then the smaller instance id", () => {
    const at = { latitude: 10, longitude: 10 };
    const same = (id: string): Candidate<string> => ({ latitude: 20, longitude: 20, id, value: id });
    assert.equal(nearest(at, [same("iot-b"), same("iot-a"), same("iot-c")])!.id, "iot-a");
    assert.equal(nearest(at, [same("iot-c"), same("iot-b"), same("iot-a")])!.id, "iot-a");
    assert.equal(nearest(at, [same("iot-b"), same("iot-a"), same("iot-c")], "iot-c")!.id, "iot-c");
    // within a metre counts as a tie; further than that is nearer
    const nudged: Candidate<string> = { latitude: 20 - (TIE_KM / 4) / 111, longitude: 20, id: "iot-z", value: "iot-z" };
    assert.equal(nearest(at, [same("iot-a"), nudged])!.id, "iot-a");
    const closer: Candidate<string> = { latitude: 19.9, longitude: 20, id: "iot-z", value: "iot-z" };
    assert.equal(nearest(at, [same("iot-a"), closer], "iot-a")!.id, "iot-z");
    assert.equal(nearest(at, []), undefined);
  });
});

describe("geo: the client address behind trusted proxies only", () => {
  const r = createClientIpResolver(["10.0.0.0/8", "fd00::/8"]);

  it("uses the TCP peer and ignores forwarding headers from an untrusted peer", () => {
    assert.equal(r.resolve("203.0.113.9", ["X-Forwarded-For", "81.2.69.142"]), "203.0.113.9");
    assert.equal(r.resolve("203.0.113.9", ["Forwarded", "for=81.2.69.142"]), "203.0.113.9");
    assert.equal(createClientIpResolver([]).resolve("10.0.0.1", ["X-Forwarded-For", "81.2.69.142"]), "10.0.0.1");
  });

  it("reads X-Forwarded-For from a trusted proxy, from the right, skipping trusted hops", () => {
    assert.equal(r.resolve("10.0.0.1", ["X-Forwarded-For", "81.2.69.142"]), "81.2.69.142");
    // the client can prepend anything; the first untrusted hop from the right is what the proxy saw
    assert.equal(r.resolve("10.0.0.1", ["x-forwarded-for", "1.2.3.4, 81.2.69.142, 10.0.0.7"]), "81.2.69.142");
    assert.equal(r.resolve("::ffff:10.0.0.1", ["X-Forwarded-For", "81.2.69.142"]), "81.2.69.142");
    // a garbage hop ends the trusted chain: the proxy's own address is used
    assert.equal(r.resolve("10.0.0.1", ["X-Forwarded-For", "81.2.69.142, bogus"]), "10.0.0.1");
    assert.equal(r.resolve("10.0.0.1", []), "10.0.0.1");
  });

  it("prefers Forwarded (RFC 7239), with quoted IPv6 and ports", () => {
    assert.deepEqual(parseForwarded(['for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"']), ["192.0.2.60", "2001:db8:cafe::17"]);
    assert.equal(r.resolve("fd00::1", ["Forwarded", 'for="[2001:db8:cafe::17]:4711"', "X-Forwarded-For", "81.2.69.142"]), "2001:db8:cafe::17");
    assert.equal(r.resolve("10.1.1.1", ["Forwarded", "for=192.0.2.60:8080"]), "192.0.2.60");
  });

  it("normalises addresses and parses CIDR blocks", () => {
    assert.deepEqual(normalizeIp("::FFFF:127.0.0.2"), { address: "127.0.0.2", family: "ipv4" });
    assert.deepEqual(normalizeIp("2001:DB8::1"), { address: "2001:db8::1", family: "ipv6" });
    assert.equal(normalizeIp("1.2.3"), undefined);
    assert.ok(parseCidr("127.0.0.2/32").contains("127.0.0.2", "ipv4"));
    assert.ok(!parseCidr("127.0.0.2/32").contains("127.0.0.3", "ipv4"));
    assert.throws(() => parseCidr("10.0.0.0/33"), /prefix length must be 0-32/);
    assert.throws(() => parseCidr("example.com/8"), /not an IP address/);
  });

  it("configuration refuses a bad trusted proxy or override, naming the key", () => {
    const bad: [unknown, string][] = [
      [{ placement: { trustedProxies: ["10.0.0.0/40"] } }, "placement.trustedProxies[0]"],
      [{ geo: { overrides: [{ cidr: "nope", region: "eu-central-1" }] } }, "geo.overrides[0].cidr"],
      [{ geo: { overrides: [{ cidr: "10.0.0.0/8" }] } }, "geo.overrides[0]"],
      [{ geo: { overrides: [{ cidr: "10.0.0.0/8", region: "mars-north-1" }] } }, "geo.overrides[0].region"],
      [{ geo: { overrides: [{ cidr: "10.0.0.0/8", region: "eu-central-1", latitude: 1, longitude: 2 }] } }, "geo.overrides[0]"],
      [{ region: { latitude: 10 } }, "region.longitude"],
    ];
    for (const [input, key] of bad) {
      assert.throws(() => validateConfig(input), (e: unknown) => e instanceof ConfigError && e.key === key, `${JSON.stringify(input)} should name ${key}`);
    }
    assert.doesNotThrow(() => validateConfig({ geo: { overrides: [{ cidr: "10.0.0.0/8", region: "mars-north-1" }], regions: { "mars-north-1": { latitude: 1, longitude: 2 } } } }));
  });
});

describe("domain: nearest-strategy requests (R3, R4)", () => {
  const known = [
    { id: "iot-sh-1", region: "cn-shanghai" },
    { id: "iot-sh-2", region: "cn-shanghai" },
    { id: "iot-fra-1", region: "eu-central-1" },
    { id: "iot-sv-1", region: "us-west-1" },
  ];
  const ref = (regionId: string, instanceId: string) => ({ regionId, instanceId });

  it("R3: takes one instance per region, the source included, in request order", () => {
    assert.deepEqual(checkCandidates([ref("eu-central-1", "iot-fra-1"), ref("cn-shanghai", "iot-sh-1"), ref("us-west-1", "iot-sv-1")], known), ["iot-fra-1", "iot-sh-1", "iot-sv-1"]);
  });

  it("R3: refuses a region listed twice, naming the candidate", () => {
    assert.throws(
      () => checkCandidates([ref("cn-shanghai", "iot-sh-1"), ref("cn-shanghai", "iot-sh-2")], known),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === "candidates[1].region_id" && /R3/.test(e.message),
    );
  });

  it("R3: refuses an unknown instance, a wrong region and an empty list", () => {
    assert.throws(() => checkCandidates([ref("us-west-1", "iot-nowhere")], known), (e: unknown) => e instanceof InvalidArgumentError && e.field === "candidates[0].instance_id");
    assert.throws(() => checkCandidates([ref("us-west-1", "iot-fra-1")], known), (e: unknown) => e instanceof InvalidArgumentError && e.field === "candidates[0].region_id");
    assert.throws(() => checkCandidates([], known), (e: unknown) => e instanceof InvalidArgumentError && e.field === "candidates");
  });

  it("R3: refuses product-only distribution by the nearest strategy", () => {
    assert.throws(() => assertNotProductOnlyNearest(0), (e: unknown) => e instanceof RuleViolationError && e.rule === "R3");
    assert.doesNotThrow(() => assertNotProductOnlyNearest(1));
  });

  it("R4: refuses the nearest strategy across accounts", () => {
    assert.throws(() => assertSameAccountNearest("2000", "1000"), (e: unknown) => e instanceof RuleViolationError && e.rule === "R4" && e.field === "target_account_id");
    assert.doesNotThrow(() => assertSameAccountNearest("", "1000"));
    assert.doesNotThrow(() => assertSameAccountNearest("1000", "1000"));
  });

  it("takes specified (or empty) and nearest as strategies", () => {
    assert.equal(parseStrategy(""), "specified");
    assert.equal(parseStrategy("nearest"), "nearest");
    assert.throws(() => parseStrategy("closest"), (e: unknown) => e instanceof InvalidArgumentError && e.field === "strategy");
  });
});
