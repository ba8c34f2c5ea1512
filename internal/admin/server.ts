import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ReflectionService } from "@grpc/reflection";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import { connectHandler, createCallRunner, fileDescriptorProtos, serviceDefinition, unaryImplementation } from "../rpc/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { createAdminService } from "./service.js";
import type { AdminContext, AdminDeps, AdminHandlers } from "./context.js";
import { createAuthenticator } from "./auth.js";

export interface AdminServerOptions extends AdminDeps {
  operatorTokenHash: Buffer;
  metrics: Metrics;
  logger: Logger;
  maxMessageBytes: number;
}

/**
 * The operator plane's gRPC server: AdminService, the standard health
 * service and server reflection. Every call is authenticated, timed,
 * counted by method and status, and its errors mapped by the one table in
 * rpc/status.ts; internal errors are logged here and never sent.
 */
export function createAdminServer(opts: AdminServerOptions): {
  server: grpc.Server;
  health: HealthImplementation;
  service: AdminHandlers;
  /** The same service with the Connect protocol, for the console and JSON clients (internal/console). */
  connect: ReturnType<typeof connectHandler>;
} {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_concurrent_streams": 100,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_connection_idle_ms": 15 * 60 * 1000,
  });
  const authenticate = createAuthenticator(opts.operatorTokenHash, opts.repos.accounts);
  const impl = createAdminService(opts);
  const { metrics, logger } = opts;
  const observe = (method: string, code: string, seconds: number): void => {
    metrics.adminDuration.observe({ method }, seconds);
    metrics.adminRequests.inc({ method, code });
  };
  const internalError = (method: string, err: unknown): void => logger.error({ err, method }, "admin call failed");

  server.addService(
    serviceDefinition(AdminService),
    unaryImplementation<(typeof AdminService)["method"], AdminContext>(
      AdminService,
      impl,
      createCallRunner<AdminContext>({
        context: (call) => ({
          principal: authenticate((name) => {
            const v = call.metadata.get(name)[0];
            return typeof v === "string" ? v : undefined;
          }),
          address: call.getPeer(),
        }),
        observe,
        internalError,
      }),
    ),
  );

  const health = new HealthImplementation({ "": "NOT_SERVING", [AdminService.typeName]: "NOT_SERVING" });
  health.addToServer(server);
  // @grpc/reflection reads only `fileDescriptorProtos` of each package entry.
  const pkg = { [AdminService.typeName]: { fileDescriptorProtos: fileDescriptorProtos(AdminService) } };
  new ReflectionService(pkg as never).addToServer(server);
  const connect = connectHandler<(typeof AdminService)["method"], AdminContext>(AdminService, impl, {
    context: (header, address) => ({ principal: authenticate(header), address }),
    observe,
    internalError,
    readMaxBytes: opts.maxMessageBytes,
  });
  return { server, health, service: impl, connect };
}
