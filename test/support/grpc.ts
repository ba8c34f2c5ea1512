import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";

/** Asserts that a call fails with `code` and a message matching `message` (the status name and details on failure). */
export async function rejects(p: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `status ${e.code}: ${e.details}`);
    assert.match(e.details, message);
    return true;
  });
}
