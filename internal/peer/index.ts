export { createPeerServer, type PeerServerOptions, type PeerContext, type PlaceResult } from "./server.js";
export { createPeerClients, type PeerClient, type PeerAddress } from "./client.js";
export { loadPeerTls, peerServerCredentials, PeerServerCredentials, peerClientCredentials, type PeerTls, type PeerTlsFiles } from "./tls.js";
export { bundleToWire, certToWire, signedBundle } from "./convert.js";
