// The messages between a thread and its edgegrad worker. A call names an operation on the worker (or on
// one of the models it holds) with plain arguments; tensors travel as their bytes (transferred, never
// copied twice) and models stay where they are, named by an id.
import { Tensor, type DType, type TypedArray } from '../tensor.js';

/** A tensor on the wire: its bytes, shape and dtype. */
export interface WireTensor { $tensor: { data: ArrayBuffer; shape: number[]; dtype: DType } }
/** A model held by the worker. */
export interface WireModel { $model: number; name: string }

export type Call = { id: number; op: string; target?: number; args: unknown[] };
export type Abort = { abort: number };
export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string } }
  | { id: number; event: string; args: unknown[] };

export function isWireTensor(v: unknown): v is WireTensor {
  return typeof v === 'object' && v !== null && '$tensor' in v;
}

export function isWireModel(v: unknown): v is WireModel {
  return typeof v === 'object' && v !== null && '$model' in v;
}

const ARRAYS: Record<string, new (b: ArrayBuffer) => TypedArray> = { float32: Float32Array, int32: Int32Array };

/** A tensor's bytes, copied off its backend (awaited where reads are asynchronous), ready to transfer. */
export async function wireTensor(t: Tensor, transfer: Transferable[]): Promise<WireTensor> {
  const d = (await t.data()).slice();
  transfer.push(d.buffer as ArrayBuffer);
  return { $tensor: { data: d.buffer as ArrayBuffer, shape: t.shape.slice(), dtype: t.dtype } };
}

/** The tensor a wire tensor carries, on this thread's backend. */
export function fromWire(w: WireTensor, where: string): Tensor {
  const { data, shape, dtype } = w.$tensor;
  const A = ARRAYS[dtype];
  if (!A) throw new Error(`edgegrad.worker: ${where}: tensors of dtype '${dtype}' cannot cross to a worker`);
  const t = Tensor.empty(shape, dtype);
  t.write(new A(data));
  return t;
}

/**
 * A value with `f` applied to every leaf inside arrays and plain objects (the tensors in a call's arguments,
 * its options' validationData included).
 */
export async function deepMap(v: unknown, f: (leaf: unknown) => unknown | Promise<unknown>): Promise<unknown> {
  if (Array.isArray(v)) return Promise.all(v.map((x) => deepMap(x, f)));
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype && !isWireTensor(v) && !isWireModel(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await deepMap(x, f);
    return out;
  }
  return f(v);
}

/** An error rebuilt from the worker's, named as there, with the worker's stack below this thread's. */
export function rebuildError(e: { name: string; message: string; stack?: string }): Error {
  const err = e.name === 'AbortError' && typeof DOMException === 'function' ? new DOMException(e.message, 'AbortError') as unknown as Error : new Error(e.message);
  if (e.name !== 'AbortError') err.name = e.name;
  if (e.stack) Object.defineProperty(err, 'workerStack', { value: e.stack });
  return err;
}
