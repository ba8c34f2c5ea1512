import { readFileSync } from "node:fs";
import { ConfigurationError } from "../domain/index.js";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";

export interface PeerTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface PeerTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A peer-plane certificate, key or CA file that cannot be read. */
export class PeerTlsError extends ConfigurationError {
  override readonly name = "PeerTlsError";
}

export function loadPeerTls(files: PeerTlsFiles): PeerTls {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new PeerTlsError(`peer.tls.${key}`, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  };
  return { ca: read("caFile", files.caFile), cert: read("certFile", files.certFile), key: read("keyFile", files.keyFile) };
}

/**
 * The peer listener's credentials: mutual TLS, a client certificate signed by
 * the federation CA is required (as `createSsl(ca, …, true)`), and renew()
 * puts a renewed certificate, key or CA into the running listener: grpc-js
 * sets the new secure context on its TLS server, so new connections get it
 * and established ones keep theirs.
 */
export class PeerServerCredentials extends grpc.ServerCredentials {
  constructor(t: PeerTls) {
    super({ requestCert: true, rejectUnauthorized: true }, { ca: t.ca, cert: t.cert, key: t.key });
  }
  renew(t: PeerTls): void {
    this.updateSecureContextOptions({ ca: t.ca, cert: t.cert, key: t.key });
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function peerServerCredentials(t: PeerTls): PeerServerCredentials {
  return new PeerServerCredentials(t);
}

/** A peer's identity is its certificate's common name, which must equal its instance id. */
export function certificateName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN;
  return typeof cn === "string" && cn.length > 0 ? cn : undefined;
}

/**
 * Credentials for calling one peer: present our certificate, trust only the
 * federation CA, and accept the server only if its certificate names the
 * instance we meant to call (the address alone proves nothing).
 */
export function peerClientCredentials(t: PeerTls, expectedInstanceId: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(t.ca, t.key, t.cert, {
    checkServerIdentity: (_host, cert) => {
      const name = certificateName(cert);
      if (name !== expectedInstanceId) {
        return new Error(`peer certificate names ${name ?? "nobody"}, expected ${expectedInstanceId}`);
      }
      return undefined;
    },
  });
}
