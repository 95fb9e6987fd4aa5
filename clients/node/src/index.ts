// The xmodal TypeScript client: ts-proto message types and @grpc/grpc-js service clients generated from
// protos/ (scripts/gen_protos.sh), plus the few helpers every caller needs.
import { Metadata, type ServiceError } from "@grpc/grpc-js";

import { Vector } from "./gen/xmodal/v1/common";

// One namespace per .proto file (the generated modules share helper names such as DeepPartial).
export * as health from "./gen/grpc/health/v1/health";
export * as collection from "./gen/xmodal/v1/collection";
export * as common from "./gen/xmodal/v1/common";
export * as embedding from "./gen/xmodal/v1/embedding";
export * as info from "./gen/xmodal/v1/info";
export * as search from "./gen/xmodal/v1/search";

/** A shared-space vector: `dim` float32 values packed little-endian in `data`. */
export function unpackVector(v: Vector): Float32Array {
  if (v.data.length !== 4 * v.dim) {
    throw new Error(`vector has ${v.data.length} bytes for dim ${v.dim}`);
  }
  const view = new DataView(v.data.buffer, v.data.byteOffset, v.data.byteLength);
  const out = new Float32Array(v.dim);
  for (let i = 0; i < v.dim; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** The inverse of unpackVector, for AddItems with precomputed vectors. */
export function packVector(values: ArrayLike<number>): Vector {
  const data = Buffer.alloc(4 * values.length);
  for (let i = 0; i < values.length; i++) data.writeFloatLE(values[i], 4 * i);
  return Vector.create({ data, dim: values.length });
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls a generated unary method as a promise with a deadline: `await unary(c, c.embedText, req)`. */
export function unary<C, Req, Res>(client: C, method: UnaryMethod<Req, Res>, request: Req, timeoutMs = 120_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}
