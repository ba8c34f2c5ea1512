import type { Config } from "../config/index.js";

export interface CodeIssued {
  codeId: string;
  code: string;
  requesterAccountId: string;
  requesterAccountName: string;
  targetAccountId: string;
  expiresAt: number;
}

/**
 * R4: a code is delivered to the target account only: its admin API, and
 * this event on `<prefix>.<accountId>.authcode` for integrations. The
 * digits are in the event only where configured (`crossAccount.eventsIncludeCode`,
 * for NATS permissions that let only that account subscribe).
 */
export function authCodeEvents(o: {
  crossAccount: Config["crossAccount"];
  self: { id: string; region: string };
  publish: (subject: string, data: Uint8Array) => void;
}): (e: CodeIssued) => void {
  return (e) => {
    const event = {
      type: "authcode.issued",
      codeId: e.codeId,
      ...(o.crossAccount.eventsIncludeCode ? { code: e.code } : {}),
      requesterAccountId: e.requesterAccountId,
      requesterAccountName: e.requesterAccountName,
      targetAccountId: e.targetAccountId,
      regionId: o.self.region,
      instanceId: o.self.id,
      expireTimeMs: e.expiresAt,
    };
    o.publish(`${o.crossAccount.eventSubjectPrefix}.${e.targetAccountId}.authcode`, new TextEncoder().encode(JSON.stringify(event)));
  };
}
