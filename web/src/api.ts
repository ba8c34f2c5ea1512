import { createClient, ConnectError, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "../../internal/gen/iotfed/v1/admin_pb.js";

/** The signed-in principal's token and, for the operator, the account it acts for: in this tab's session only. */
export interface Session {
  token: string;
  actAs: string;
}

const KEY = "iotfed.console.session";

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (raw === null) return undefined;
  try {
    const s = JSON.parse(raw) as Session;
    return typeof s.token === "string" && s.token !== "" ? { token: s.token, actAs: typeof s.actAs === "string" ? s.actAs : "" } : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined): void {
  if (s === undefined) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(s));
}

export type Admin = Client<typeof AdminService>;

/** The admin API over the Connect protocol, from this origin, with the session's token in a header (never a cookie). */
export function adminClient(s: Session): Admin {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${s.token}`);
    if (s.actAs !== "") req.header.set("x-iotfed-account", s.actAs);
    return next(req);
  };
  return createClient(AdminService, createConnectTransport({ baseUrl: location.origin, interceptors: [auth] }));
}

/** A refusal as the console shows it: the server's message and, when it cites one, the rule. */
export interface Refusal {
  message: string;
  rule: string;
  field: string;
  code: string;
}

export function refusal(e: unknown): Refusal {
  if (e instanceof ConnectError) {
    return { message: e.rawMessage, rule: e.metadata.get("iotfed-rule") ?? "", field: e.metadata.get("iotfed-field") ?? "", code: e.metadata.get("iotfed-code") ?? String(e.code) };
  }
  return { message: e instanceof Error ? e.message : String(e), rule: "", field: "", code: "" };
}
