import assert from "node:assert/strict";
import { createEdgeLimiter, limitKey } from "../../internal/bootstrap/index.js";

describe("bootstrap edge limits", () => {
  it("limits an IPv4 address by itself and an IPv6 host by its /64", () => {
    assert.equal(limitKey("192.0.2.7"), "192.0.2.7");
    assert.equal(limitKey("::ffff:192.0.2.7"), "192.0.2.7");
    assert.equal(limitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(limitKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(limitKey("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(limitKey("::1"), "0:0:0:0::/64");
  });

  it("a token bucket per address: the burst, then the rate; other addresses are not affected", () => {
    let t = 0;
    const shed: string[] = [];
    const l = createEdgeLimiter({ maxConnections: 10, maxConnectionsPerIp: 2, ratePerIp: 10, burst: 5, maxTracked: 100 }, (r) => shed.push(r), () => t);
    try {
      let ok = 0;
      for (let i = 0; i < 20; i++) if (l.allow("192.0.2.1")) ok++;
      assert.equal(ok, 5, "the burst");
      assert.equal(shed.length, 15);
      assert.ok(l.allow("192.0.2.2"), "another address has its own bucket");
      t += 1000; // 10 requests' worth, capped at the burst
      ok = 0;
      for (let i = 0; i < 20; i++) if (l.allow("192.0.2.1")) ok++;
      assert.equal(ok, 5);
      t += 100; // one request's worth
      assert.ok(l.allow("192.0.2.1"));
      assert.ok(!l.allow("192.0.2.1"));
    } finally {
      l.close();
    }
  });

  it("tracks a bounded number of addresses", () => {
    let t = 0;
    const l = createEdgeLimiter({ maxConnections: 10, maxConnectionsPerIp: 2, ratePerIp: 1, burst: 2, maxTracked: 64 }, () => {}, () => t);
    try {
      for (let i = 0; i < 10_000; i++) {
        l.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
        t += 0.001;
      }
      assert.ok(l.stats().tracked <= 64, `${l.stats().tracked} tracked`);
    } finally {
      l.close();
    }
  });
});
