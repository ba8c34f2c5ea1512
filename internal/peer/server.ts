import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { PeerService } from "../gen/iotfed/v1/peer_pb.js";
import { createCallRunner, serviceDefinition, unaryImplementation } from "../rpc/index.js";
import { InvalidArgumentError, PermissionDeniedError, PreconditionError, checkDeviceName, checkProductKey, type Endpoint } from "../domain/index.js";
import type { HandoffApplier, ProductsRepo } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { bundleFromWire, certFromWire } from "./convert.js";
import { certificateName } from "./tls.js";

export interface PeerContext {
  /** The caller's instance id, from its verified certificate. */
  peerId: string;
}

/** Where a nearest-strategy device is after a placement request (PlaceDevice). */
export interface PlaceResult {
  result: "moved" | "pending" | "refused" | "unreachable";
  holder: string;
  generation: number;
  message: string;
}

export interface PeerServerOptions {
  self: string;
  endpoint: Endpoint;
  /** Configured peers by instance id. */
  peers: ReadonlySet<string>;
  applier: HandoffApplier;
  products: ProductsRepo;
  maxDevicesPerCall: number;
  /** Moves a nearest-strategy device held here to `target` (R3), waiting at most `waitMs`. */
  place: (productKey: string, deviceName: string, target: string, waitMs: number) => Promise<PlaceResult>;
  /** Longest wait a caller may ask PlaceDevice for. */
  maxPlaceWaitMs: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The peer plane's server (ARCHITECTURE.md "The handoff", step 3). The
 * caller is whoever its client certificate names; a certificate from
 * another CA never gets here (the TLS handshake fails), and a name that is
 * not a configured peer is refused before anything is read.
 */
export function createPeerServer(opts: PeerServerOptions): grpc.Server {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    // A peer's calls in flight on one connection: jobs (4 at a time) and placements.
    "grpc.max_concurrent_streams": 256,
    // Connections a peer stopped using are closed (it reconnects on demand).
    "grpc.max_connection_idle_ms": 15 * 60 * 1000,
  });
  const { metrics, logger } = opts;
  server.addService(
    serviceDefinition(PeerService),
    unaryImplementation<(typeof PeerService)["method"], PeerContext>(
      PeerService,
      {
        handoff(req, ctx) {
          const end = metrics.handoffDuration.startTimer({ direction: "in" });
          if (req.jobId === "") throw new InvalidArgumentError("job_id", "is required");
          if (req.devices.length > opts.maxDevicesPerCall) {
            throw new InvalidArgumentError("devices", `holds ${req.devices.length} devices; at most ${opts.maxDevicesPerCall} per call`, { rule: "R1" });
          }
          const product = bundleFromWire(req.product);
          const devices = req.devices.map(certFromWire);
          if (req.strategy !== "" && req.strategy !== "specified" && req.strategy !== "nearest") throw new InvalidArgumentError("strategy", "must be specified or nearest");
          const { outcomes, productVersion } = opts.applier.apply({ jobId: req.jobId, sourceInstance: ctx.peerId, product, devices, nearest: req.strategy === "nearest" });
          for (const o of outcomes) metrics.handoffDevices.inc({ direction: "in", result: o.accepted ? "accepted" : "refused" });
          end();
          logger.info({ job: req.jobId, from: ctx.peerId, product: product.productKey, devices: devices.length, accepted: outcomes.filter((o) => o.accepted).length }, "handoff applied");
          return {
            outcomes: outcomes.map((o) => ({ ...o, generation: BigInt(o.generation) })),
            mqttHost: opts.endpoint.host,
            mqttPort: opts.endpoint.port,
            productVersion: BigInt(productVersion),
          };
        },
        syncProduct(req, ctx) {
          const product = bundleFromWire(req.product);
          const local = opts.products.get(product.productKey);
          if (local === undefined) throw new PreconditionError(`product ${product.productKey} has no copy here`, { field: "product.product_key" });
          if (ctx.peerId !== local.receivedFrom && ctx.peerId !== local.ownerInstanceId) {
            throw new PermissionDeniedError(`${ctx.peerId} neither owns product ${product.productKey} nor sent it here`);
          }
          const r = opts.applier.sync(product, ctx.peerId);
          return { applied: r.applied, version: BigInt(r.version) };
        },
        async placeDevice(req) {
          checkProductKey(req.productKey);
          checkDeviceName(req.deviceName);
          if (req.targetInstanceId === "") throw new InvalidArgumentError("target_instance_id", "is required");
          if (req.waitMs < 0 || req.waitMs > opts.maxPlaceWaitMs) throw new InvalidArgumentError("wait_ms", `must be 0-${opts.maxPlaceWaitMs}`);
          const r = await opts.place(req.productKey, req.deviceName, req.targetInstanceId, req.waitMs);
          return { result: r.result, holderInstanceId: r.holder, generation: BigInt(r.generation), message: r.message };
        },
      },
      createCallRunner<PeerContext>({
        context: (call) => {
          const name = certificateName(call.getAuthContext()?.sslPeerCertificate);
          if (name === undefined || !opts.peers.has(name)) {
            throw new PermissionDeniedError(`caller ${name ?? "(no certificate name)"} is not a configured peer of ${opts.self}`);
          }
          return { peerId: name };
        },
        observe: (method, code) => metrics.peerRequests.inc({ method, code }),
        internalError: (method, err) => logger.error({ err, method }, "peer call failed"),
      }),
    ),
  );
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  return server;
}
