export {
  serviceDefinition,
  unaryImplementation,
  createUnaryClient,
  fileDescriptorProtos,
  type UnaryService,
  type UnaryClient,
} from "./adapter.js";
export { fromPeerError, GRPC_STATUS_OF, statusName, createCallRunner, type CallRunnerOptions } from "./status.js";
export { connectHandler, type ConnectHandlerOptions } from "./connect.js";
