import { create, fromBinary, toBinary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import { InvalidArgumentError, checkAccountId } from "../domain/index.js";
import type { AdminHandlers, PeerCalls } from "./context.js";

/** The admin calls one daemon may run at another for an account: the distribution-job calls. */
export const FORWARDED_JOB_METHODS = [
  "listDeviceDistributeJob",
  "queryDeviceDistributeJob",
  "queryDeviceDistributeDetail",
  "retryDeviceDistributeJob",
  "abortDeviceDistributeJob",
  "createDeviceDistributeJob",
  "createProductDistributeJob",
] as const;
export type ForwardedJobMethod = (typeof FORWARDED_JOB_METHODS)[number];
type Method<M extends ForwardedJobMethod> = (typeof AdminService)["method"][M];

const BY_NAME = new Map<string, ForwardedJobMethod>(FORWARDED_JOB_METHODS.map((m) => [AdminService.method[m].name, m]));

/**
 * Runs `method` at another daemon over the peer plane, for the account the
 * caller authenticated here; the other daemon decides whether it may.
 */
export async function forwardJobCall<M extends ForwardedJobMethod>(
  peer: PeerCalls,
  method: M,
  accountId: string,
  req: MessageInitShape<Method<M>["input"]>,
  requesterAddress: string,
  deadlineMs?: number,
): Promise<MessageShape<Method<M>["output"]>> {
  const desc = AdminService.method[method] as Method<M>;
  const request = toBinary(desc.input, create(desc.input, req as never));
  const res = await peer.forwardJobCall({ accountId, method: desc.name, request, requesterAddress }, deadlineMs === undefined ? {} : { deadlineMs });
  return fromBinary(desc.output, res.response) as MessageShape<Method<M>["output"]>;
}

/**
 * The receiving side: runs a forwarded job call through this daemon's own
 * admin service — the same checks as for its own callers, with the account
 * the calling peer authenticated. Other methods are refused.
 */
export function createForwardedJobCalls(service: AdminHandlers) {
  return async (peerId: string, accountId: string, methodName: string, request: Uint8Array, requesterAddress: string): Promise<Uint8Array> => {
    const m = BY_NAME.get(methodName);
    if (m === undefined) throw new InvalidArgumentError("method", `${methodName} is not a job call that can be forwarded`);
    checkAccountId(accountId, "account_id");
    const desc = AdminService.method[m];
    const handler = service[m] as (req: unknown, ctx: unknown) => unknown;
    const out = await handler(fromBinary(desc.input, request), {
      principal: { kind: "account", accountId, tokenId: `peer:${peerId}` },
      address: `${peerId} for ${requesterAddress || "?"}`,
    });
    return toBinary(desc.output, create(desc.output, out as never));
  };
}
