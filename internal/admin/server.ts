import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ReflectionService } from "@grpc/reflection";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import { fileDescriptorProtos, serviceDefinition, toServiceError, unaryImplementation } from "../rpc/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { createAdminService, type AdminContext, type AdminDeps } from "./service.js";
import { createAuthenticator } from "./auth.js";

export interface AdminServerOptions extends AdminDeps {
  operatorTokenHash: Buffer;
  metrics: Metrics;
  logger: Logger;
  maxMessageBytes: number;
}

const STATUS_NAME = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k])) as Record<number, string>;

/**
 * The operator plane's gRPC server: AdminService, the standard health
 * service and server reflection. Every call is authenticated, timed,
 * counted by method and status, and its errors mapped by the one table in
 * rpc/status.ts; internal errors are logged here and never sent.
 */
export function createAdminServer(opts: AdminServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_concurrent_streams": 100,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const authenticate = createAuthenticator(opts.operatorTokenHash, opts.accounts);
  const impl = createAdminService(opts);
  const { metrics, logger } = opts;

  server.addService(
    serviceDefinition(AdminService),
    unaryImplementation<(typeof AdminService)["method"], AdminContext>(AdminService, impl, async (method, call, handler) => {
      const end = metrics.adminDuration.startTimer({ method });
      let code = grpc.status.OK;
      try {
        const principal = authenticate(call.metadata);
        const value = await handler({ principal });
        return { error: null, value };
      } catch (e) {
        const err = toServiceError(e);
        code = err.code;
        if (err.internal) logger.error({ err: e, method }, "admin call failed");
        return { error: err };
      } finally {
        end();
        metrics.adminRequests.inc({ method, code: STATUS_NAME[code] ?? String(code) });
      }
    }),
  );

  const health = new HealthImplementation({ "": "NOT_SERVING", [AdminService.typeName]: "NOT_SERVING" });
  health.addToServer(server);
  // @grpc/reflection reads only `fileDescriptorProtos` of each package entry.
  const pkg = { [AdminService.typeName]: { fileDescriptorProtos: fileDescriptorProtos(AdminService) } };
  new ReflectionService(pkg as never).addToServer(server);
  return { server, health };
}
