// Shared checks and the reference-array type. Errors name the op, the argument and the shapes.
import { Tensor, formatShape, sizeOf, tensor, type TensorLike } from '../tensor.js';
import { getBackend, type Backend } from '../backend/index.js';
import { backendLabel } from '../graph/finite.js';

/** Reference implementations work on plain arrays in float64, so finite differences on them are accurate. */
export interface Arr {
  shape: number[];
  data: ArrayLike<number>;
}

export function arr(shape: readonly number[], data?: ArrayLike<number>): { shape: number[]; data: Float64Array } {
  const n = sizeOf(shape);
  if (data && data.length !== n) throw new Error(`reference: ${data.length} values for shape ${formatShape(shape)}`);
  return { shape: shape.slice(), data: data ? Float64Array.from(data) : new Float64Array(n) };
}

export function fail(op: string, msg: string): never {
  throw new Error(`edgegrad.${op}: ${msg}`);
}

/** Accept a Tensor (or something eg.tensor() takes) as a float32 input of `op`. */
export function input(x: Tensor | TensorLike, op: string, name: string, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  const t = x instanceof Tensor ? x : tensor(x as TensorLike, undefined, dtype);
  if (t.isDisposed) fail(op, `'${name}' was disposed`);
  if (t.dtype !== dtype) fail(op, `'${name}' must be ${dtype}, got ${t.dtype} ${formatShape(t.shape)}`);
  if (t.backend !== getBackend()) {
    const be = getBackend(), how = t.backend.syncRead ? `${name}.to('${be.name}')` : `await ${name}.copyTo('${be.name}')`;
    fail(op, `'${name}' lives on backend '${backendLabel(t.backend)} but the active one is '${backendLabel(be)}: move it with ${how}`);
  }
  return t;
}

export function rankIs(t: Tensor, rank: number, op: string, name: string, layout = ''): void {
  if (t.rank !== rank) fail(op, `'${name}' must be rank ${rank}${layout ? ` ${layout}` : ''}, got shape ${formatShape(t.shape)}`);
}

export function finite(v: number, op: string, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, `'${name}' must be a finite number, got ${String(v)}`);
  return v;
}

export function backend(): Backend {
  return getBackend();
}

/** Normalize a scalar-or-pair argument such as strides or a pool size. */
export function pair(v: number | readonly number[] | undefined, dflt: number, op: string, name: string): [number, number] {
  const p: number[] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= 1)) {
    fail(op, `'${name}' must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

export { Tensor, formatShape, sizeOf };
