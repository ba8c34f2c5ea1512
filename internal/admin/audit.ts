import { checkText, pageSize } from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

/** The audit log of cross-account actions: an account reads the events that name it, the operator all. */
export function auditHandlers({ deps }: HandlerKit): Handlers<"listAuditEvents"> {
  return {
    listAuditEvents(req, ctx) {
      const p = ctx.principal;
      const account = p.kind === "operator" ? p.actingFor : p.accountId;
      const action = checkText(req.action, "action", 32);
      const page = deps.repos.audit.list(account, action, pageSize(req.pageSize), req.pageToken);
      return { events: page.items.map(wire.auditToWire), nextPageToken: page.nextPageToken };
    },
  };
}
