// Tensor: a shape, a dtype and a buffer in the backend's memory. Buffers are freed by dispose() or, when a
// tensor is garbage collected, by a FinalizationRegistry, so the common path needs no manual memory care.
import { getBackend, type WasmBackend } from './backend/index.js';

export type DType = 'float32' | 'int32';
export type TypedArray = Float32Array | Int32Array;
export type NestedArray = number | NestedArray[];
export type TensorLike = TypedArray | number[] | NestedArray;

const registry = new FinalizationRegistry<{ backend: WasmBackend; ptr: number }>(({ backend, ptr }) => backend.free(ptr));

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** @internal */ readonly backend: WasmBackend;
  private _ptr: number;
  /**
   * @internal Bumped by every library write to a weight in place (optimizer steps, moving statistics,
   * setWeights): plans that keep copies derived from it (folded batch norms, packed panels) compare it.
   */
  version = 0;

  /** @internal Use eg.tensor() and friends; this takes ownership of `ptr`. */
  constructor(shape: readonly number[], dtype: DType, backend: WasmBackend, ptr: number) {
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.backend = backend;
    this._ptr = ptr;
    registry.register(this, { backend, ptr }, this);
  }

  /** @internal Allocate an uninitialized tensor on the active backend. */
  static empty(shape: readonly number[], dtype: DType = 'float32', backend: WasmBackend = getBackend()): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`edgegrad: invalid shape ${formatShape(shape)}: dimensions must be non-negative integers`);
    }
    return new Tensor(shape, dtype, backend, backend.alloc(sizeOf(shape) * 4));
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this._ptr < 0;
  }

  /** @internal Byte offset of the data in the backend memory. */
  get ptr(): number {
    if (this._ptr < 0) throw new Error(`edgegrad: tensor ${formatShape(this.shape)} was disposed`);
    return this._ptr;
  }

  /** @internal A live view of the data; invalid after any allocation (the memory may grow). */
  view(): TypedArray {
    return this.dtype === 'int32' ? this.backend.i32(this.ptr, this.size) : this.backend.f32(this.ptr, this.size);
  }

  /** A copy of the data. */
  dataSync(): TypedArray {
    return this.view().slice();
  }

  async data(): Promise<TypedArray> {
    return this.dataSync();
  }

  /** The data as nested arrays of the tensor's shape. */
  arraySync(): NestedArray {
    const d = this.dataSync();
    const build = (dim: number, off: number): NestedArray => {
      if (dim === this.shape.length) return d[off];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  dispose(): void {
    if (this._ptr < 0) return;
    registry.unregister(this);
    this.backend.free(this._ptr);
    this._ptr = -1;
  }

  /** A tensor of another shape over a copy of the same data. */
  reshape(shape: readonly number[]): Tensor {
    const s = resolveShape(shape, this.size, 'reshape');
    const t = Tensor.empty(s, this.dtype, this.backend);
    new Uint8Array(this.backend.memory.buffer).copyWithin(t.ptr, this.ptr, this.ptr + this.size * 4);
    return t;
  }

  clone(): Tensor {
    return this.reshape(this.shape);
  }

  toString(): string {
    return `Tensor ${this.dtype} ${formatShape(this.shape)}`;
  }
}

/** Replace a single -1 by the size that makes the element count match. */
export function resolveShape(shape: readonly number[], size: number, op: string): number[] {
  const s = shape.slice();
  const neg = s.filter((d) => d === -1).length;
  if (neg > 1) throw new Error(`edgegrad.${op}: at most one -1 in shape ${formatShape(shape)}`);
  if (neg === 1) {
    const known = sizeOf(s.filter((d) => d !== -1));
    if (known === 0 || size % known !== 0) throw new Error(`edgegrad.${op}: cannot reshape ${size} elements into ${formatShape(shape)}`);
    s[s.indexOf(-1)] = size / known;
  }
  if (sizeOf(s) !== size) throw new Error(`edgegrad.${op}: cannot reshape ${size} elements into ${formatShape(shape)}`);
  return s;
}

function inferShape(v: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

function flatten(v: NestedArray, shape: number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (typeof v !== 'number') throw new Error(`edgegrad.tensor: ragged nested array: expected a number at depth ${dim}`);
    out.push(v);
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[dim]) {
    throw new Error(`edgegrad.tensor: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(v) ? v.length : typeof v}`);
  }
  for (const e of v) flatten(e, shape, dim + 1, out);
}

/** Create a tensor from a typed array, a flat array with a shape, or nested arrays. */
export function tensor(values: TensorLike, shape?: readonly number[], dtype?: DType): Tensor {
  let flat: ArrayLike<number>;
  let s: number[];
  if (values instanceof Float32Array || values instanceof Int32Array) {
    flat = values;
    s = shape ? shape.slice() : [values.length];
    dtype ??= values instanceof Int32Array ? 'int32' : 'float32';
  } else if (typeof values === 'number') {
    flat = [values];
    s = shape ? shape.slice() : [];
  } else {
    const inferred = inferShape(values);
    const out: number[] = [];
    flatten(values, inferred, 0, out);
    flat = out;
    s = shape ? shape.slice() : inferred;
  }
  dtype ??= 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`edgegrad.tensor: unsupported dtype '${String(dtype)}' (float32 or int32)`);
  if (sizeOf(s) !== flat.length) {
    throw new Error(`edgegrad.tensor: ${flat.length} values do not fill shape ${formatShape(s)} (${sizeOf(s)} elements)`);
  }
  const t = Tensor.empty(s, dtype);
  t.view().set(flat);
  return t;
}

export function fill(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const t = Tensor.empty(shape, dtype);
  t.view().fill(value);
  return t;
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return fill(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return fill(shape, 1, dtype);
}

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor([value], [], dtype);
}
