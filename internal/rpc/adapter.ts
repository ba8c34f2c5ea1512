import { create, fromBinary, toBinary, type DescFile, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { InvalidArgumentError } from "../domain/index.js";

/**
 * The one adapter between protobuf-es descriptors and grpc-js:
 * protobuf-es generates messages and service descriptors, grpc-js wants a
 * ServiceDefinition with serializers. Unary methods only for now.
 */
/** A request body that did not decode as its message type. */
export class Undecodable {
  constructor(
    readonly typeName: string,
    readonly cause: unknown,
  ) {}
}

export function serviceDefinition(service: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    if (m.methodKind !== "unary") throw new Error(`${service.typeName}.${m.name}: only unary methods are adapted`);
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      originalName: m.name,
      requestSerialize: (msg: unknown) => Buffer.from(toBinary(m.input, msg as MessageShape<typeof m.input>)),
      // A request that is not a valid message of its type is answered
      // INVALID_ARGUMENT by the handler wrapper, not INTERNAL by grpc-js.
      requestDeserialize: (buf: Buffer) => {
        try {
          return fromBinary(m.input, buf);
        } catch (e) {
          return new Undecodable(m.input.typeName, e);
        }
      },
      responseSerialize: (msg: unknown) => Buffer.from(toBinary(m.output, msg as MessageShape<typeof m.output>)),
      responseDeserialize: (buf: Buffer) => fromBinary(m.output, buf),
    };
  }
  return def;
}

type In<M> = M extends { input: infer I extends DescMessage } ? I : never;
type Out<M> = M extends { output: infer O extends DescMessage } ? O : never;

/** A typed unary implementation: one async function per RPC. */
export type UnaryService<T extends GenServiceMethods, Ctx> = {
  [K in keyof T]: (req: MessageShape<In<T[K]>>, ctx: Ctx) => Promise<MessageInitShape<Out<T[K]>>> | MessageInitShape<Out<T[K]>>;
};

/**
 * Builds the grpc-js implementation. `run` wraps every call (authentication,
 * metrics, error mapping) and gives the handler its context.
 */
export function unaryImplementation<T extends GenServiceMethods, Ctx>(
  service: GenService<T>,
  impl: UnaryService<T, Ctx>,
  run: (method: string, call: grpc.ServerUnaryCall<unknown, unknown>, handler: (ctx: Ctx) => Promise<unknown>) => Promise<{ error: grpc.ServiceError | null; value?: unknown; trailer?: grpc.Metadata }>,
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const m of service.methods) {
    const fn = impl[m.localName as keyof T] as (req: unknown, ctx: Ctx) => unknown;
    out[m.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const bad = call.request instanceof Undecodable ? call.request.typeName : undefined;
      void run(m.name, call, async (ctx) => {
        if (bad !== undefined) throw new InvalidArgumentError("request", `not a valid ${bad} message`);
        return create(m.output, (await fn(call.request, ctx)) as never);
      }).then((r) => {
        if (r.error !== null) callback(r.error);
        else callback(null, r.value);
      });
    };
  }
  return out;
}

/** A typed promise client for a service. */
export type UnaryClient<T extends GenServiceMethods> = {
  [K in keyof T]: (req: MessageInitShape<In<T[K]>>, opts?: { metadata?: grpc.Metadata; deadlineMs?: number }) => Promise<MessageShape<Out<T[K]>>>;
} & {
  close(): void;
  /**
   * True when the server answers the standard health check within `ms`: a
   * real round trip, so a peer that died a moment ago (its channel still
   * looks connected) is not taken for alive.
   */
  probe(ms: number): Promise<boolean>;
};

export function createUnaryClient<T extends GenServiceMethods>(
  service: GenService<T>,
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ClientOptions & { metadata?: () => grpc.Metadata; defaultDeadlineMs?: number } = {},
): UnaryClient<T> {
  const { metadata: baseMetadata, defaultDeadlineMs = 30000, ...clientOptions } = options;
  const client = new grpc.Client(address, credentials, clientOptions);
  const out: Record<string, unknown> = {
    close: () => client.close(),
    probe: (ms: number) =>
      new Promise<boolean>((resolve) => {
        // grpc.health.v1.Health/Check with an empty HealthCheckRequest (the server's overall status).
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          () => Buffer.alloc(0),
          (b: Buffer) => b,
          {},
          baseMetadata?.() ?? new grpc.Metadata(),
          { deadline: Date.now() + ms },
          (err) => resolve(err === null),
        );
      }),
  };
  for (const m of service.methods) {
    const path = `/${service.typeName}/${m.name}`;
    out[m.localName] = (req: MessageInitShape<DescMessage>, opts: { metadata?: grpc.Metadata; deadlineMs?: number } = {}) =>
      new Promise((resolve, reject) => {
        const md = baseMetadata?.() ?? new grpc.Metadata();
        if (opts.metadata !== undefined) md.merge(opts.metadata);
        client.makeUnaryRequest(
          path,
          (msg: unknown) => Buffer.from(toBinary(m.input, create(m.input, msg as never))),
          (buf: Buffer) => fromBinary(m.output, buf),
          req,
          md,
          { deadline: Date.now() + (opts.deadlineMs ?? defaultDeadlineMs) },
          (err, value) => (err ? reject(err) : resolve(value)),
        );
      });
  }
  return out as UnaryClient<T>;
}

/** Serialized FileDescriptorProtos of the services' files and their imports, for server reflection. */
export function fileDescriptorProtos(...services: { file: DescFile }[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    for (const d of f.dependencies) visit(d);
    seen.set(f.name, Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  };
  for (const s of services) visit(s.file);
  return [...seen.values()];
}
