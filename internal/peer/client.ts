import { PeerService } from "../gen/iotfed/v1/peer_pb.js";
import { createUnaryClient, type UnaryClient } from "../rpc/index.js";
import { peerClientCredentials, type PeerTls } from "./tls.js";

export type PeerClient = UnaryClient<(typeof PeerService)["method"]>;

export interface PeerAddress {
  id: string;
  address: string;
}

/** One long-lived client per configured peer, each verifying that peer's certificate name. */
export function createPeerClients(peers: PeerAddress[], tls: PeerTls, callTimeoutMs: number): Map<string, PeerClient> {
  return new Map(
    peers.map((p) => [
      p.id,
      createUnaryClient(PeerService, p.address, peerClientCredentials(tls, p.id), {
        defaultDeadlineMs: callTimeoutMs,
        // TLS server name = the instance id (what its certificate names), not the IP address.
        "grpc.ssl_target_name_override": p.id,
        "grpc.default_authority": p.id,
        "grpc.max_send_message_length": 64 * 1024 * 1024,
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 5000,
      }),
    ]),
  );
}
