import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { fromPeerError } from "../../internal/rpc/index.js";
import { RemoteError } from "../../internal/domain/index.js";

/** A gRPC error as @grpc/grpc-js hands it to a client. */
function serviceError(code: grpc.status, details: string, trailers: Record<string, string> = {}): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

describe("a peer's refusal passed on to the admin caller", () => {
  it("keeps the peer's code, message, field and rule (R4 refusals reach the source's caller as they are)", () => {
    const e = fromPeerError("target eu-central-1/iot-fra-1", serviceError(grpc.status.FAILED_PRECONDITION, "R4: wrong authorization code (4 tries left)", { "iotfed-field": "auth_code", "iotfed-rule": "R4" }));
    assert.ok(e instanceof RemoteError);
    assert.equal(e.code, "FAILED_PRECONDITION");
    assert.equal(e.message, "R4: wrong authorization code (4 tries left)");
    assert.equal(e.field, "auth_code");
    assert.equal(e.rule, "R4");
  });
  it("an unreachable peer is UNAVAILABLE and says which, and that nothing changed", () => {
    for (const code of [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]) {
      const e = fromPeerError("target eu-central-1/iot-fra-1", serviceError(code, "No connection established")) as RemoteError;
      assert.equal(e.code, "UNAVAILABLE");
      assert.match(e.message, /^target eu-central-1\/iot-fra-1 is unreachable .*nothing was changed$/);
    }
  });
  it("a peer's internal failure is not passed on in its own words", () => {
    const e = fromPeerError("target x", serviceError(grpc.status.INTERNAL, "internal error: stack at /srv/...")) as RemoteError;
    assert.equal(e.code, "UNAVAILABLE");
    assert.ok(!e.message.includes("/srv/"));
  });
  it("anything that is not a gRPC error is returned unchanged", () => {
    const plain = new Error("plain");
    assert.equal(fromPeerError("target x", plain), plain);
  });
});
