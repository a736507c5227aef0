// Tensor: a shape, a dtype and a buffer in the backend's memory. Buffers are freed by dispose() or, when a
// tensor is garbage collected, by a FinalizationRegistry. The collector does not feel wasm memory and runs
// finalizers only between tasks, so that alone cannot bound it: under memory pressure the backend also
// evicts the data of tensors nobody used for a while to the JavaScript heap, where the collector does see
// it (even inside a synchronous loop), and `ptr` pages it back in when a kernel needs it again. So the
// common path needs no dispose and no tidy.
import { backendNamed, backendNamedAsync, getBackend, type Backend, type Evictable } from './backend/index.js';

export type DType = 'float32' | 'int32';
export type TypedArray = Float32Array | Int32Array;
export type NestedArray = number | NestedArray[];
/** Data a tensor is made from; a Float64Array's values are rounded to float32 (edgegrad computes in float32). */
export type TensorLike = TypedArray | Float64Array | number[] | NestedArray;

/** A tensor's data while evicted: held by the tensor alone, so it goes when the tensor goes. */
interface Box { host?: Uint8Array }

/**
 * Where a tensor's bytes are in the arena (`ptr`, or -1 when evicted or disposed). The backend holds this
 * record while the bytes are resident, to evict them, and the finalization registry holds it until the
 * tensor's finalizer ran; neither may keep evicted data alive (a synchronous loop runs no finalizer), so
 * the record lets go of the box when it evicts into it, and never points back at the tensor.
 */
class Cell implements Evictable {
  lastUse: number;
  constructor(readonly be: Backend, public ptr: number, readonly bytes: number, public box: Box | undefined) { this.lastUse = be.tick; }
  residentBytes(): number { return this.ptr >= 0 ? this.bytes : 0; }
  evict(): void {
    if (this.ptr < 0 || !this.box) return;
    this.box.host = this.be.readSync(this.ptr, this.bytes);
    this.be.free(this.ptr);
    this.ptr = -1;
    this.box = undefined;
  }
  /** Back into the arena (allocates: may evict others, may grow the memory). */
  pageIn(box: Box): void {
    const p = this.be.alloc(this.bytes);
    this.be.write(p, box.host!);
    box.host = undefined;
    this.ptr = p;
    this.box = box;
    this.be.track(this);
  }
}

const registry = new FinalizationRegistry<Cell>((c) => { if (c.ptr >= 0) { c.be.forget(c); c.be.free(c.ptr); c.ptr = -1; } });

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
  /** @internal The backend whose memory holds the data (see `location`). */ readonly backend: Backend;
  private readonly cell: Cell;
  private readonly box: Box = {};
  private disposed = false;
  /**
   * @internal Bumped by every library write to a weight in place (optimizer steps, moving statistics,
   * setWeights): plans that keep copies derived from it (folded batch norms, packed panels) compare it.
   */
  version = 0;

  /** @internal Use eg.tensor() and friends; this takes ownership of `ptr`. */
  constructor(shape: readonly number[], dtype: DType, backend: Backend, ptr: number) {
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.backend = backend;
    this.cell = new Cell(backend, ptr, this.size * 4, this.box);
    registry.register(this, this.cell, this);
    backend.track(this.cell);
  }

  /** @internal Allocate an uninitialized tensor on the active backend. */
  static empty(shape: readonly number[], dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`edgegrad: invalid shape ${formatShape(shape)}: dimensions must be non-negative integers`);
    }
    return new Tensor(shape, dtype, backend, backend.alloc(sizeOf(shape) * 4));
  }

  /** Where the data lives: the name of its backend ('wasm', 'ref'). */
  get location(): string {
    return this.backend.name;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * @internal Byte offset of the data in the backend memory, paging it back in if it was evicted (which
   * allocates: read it right before the kernel call, take views after it, never before).
   */
  get ptr(): number {
    if (this.disposed) throw new Error(`edgegrad: tensor ${formatShape(this.shape)} was disposed`);
    const c = this.cell;
    c.lastUse = this.backend.tick;
    if (c.ptr < 0) { c.pageIn(this.box); c.lastUse = this.backend.tick; }
    return c.ptr;
  }

  /**
   * @internal A live view of the data (of its copy in the JS heap while evicted: taking it never
   * allocates); invalid after any allocation or kernel call.
   */
  view(): TypedArray {
    if (this.disposed) throw new Error(`edgegrad: tensor ${formatShape(this.shape)} was disposed`);
    const c = this.cell;
    c.lastUse = this.backend.tick;
    const h = this.box.host;
    if (c.ptr < 0) return this.dtype === 'int32' ? new Int32Array(h!.buffer, h!.byteOffset, this.size) : new Float32Array(h!.buffer, h!.byteOffset, this.size);
    return this.dtype === 'int32' ? this.backend.i32(c.ptr, this.size) : this.backend.f32(c.ptr, this.size);
  }

  /** A copy of the data, now (refused on a backend that reads back only asynchronously: use `await data()`). */
  dataSync(): TypedArray {
    if (!this.backend.syncRead && this.cell.ptr >= 0) {
      throw new Error(`edgegrad: dataSync() cannot read a ${formatShape(this.shape)} tensor on backend '${this.backend.name}' synchronously: use 'await t.data()'`);
    }
    return this.view().slice();
  }

  /** A copy of the data, on every backend. */
  async data(): Promise<TypedArray> {
    if (this.disposed) throw new Error(`edgegrad: tensor ${formatShape(this.shape)} was disposed`);
    await readChecks.get(this)?.();
    if (this.backend.syncRead || this.cell.ptr < 0) return this.dataSync();
    // a lost GPU took its memory along: a weight's last known values (loaded, set, or read after a fit epoch)
    const kept = (this.backend as { lost?: string }).lost ? hostCopies.get(this) : undefined;
    if (kept) return kept.slice();
    const bytes = await this.backend.read(this.ptr, this.size * 4);
    return this.dtype === 'int32' ? new Int32Array(bytes.buffer, bytes.byteOffset, this.size) : new Float32Array(bytes.buffer, bytes.byteOffset, this.size);
  }

  /**
   * This tensor on another backend ('wasm', 'ref'): a copy there (this one stays), or this tensor itself
   * if it lives there already. Ops never move data between backends implicitly.
   */
  to(backend: string): Tensor {
    const be = backendNamed(backend);
    if (be === this.backend) return this;
    if (!this.backend.syncRead) {
      throw new Error(`edgegrad: a tensor on '${this.location}' reads back only asynchronously: use 'await t.copyTo('${backend}')'`);
    }
    const t = Tensor.empty(this.shape, this.dtype, be);
    be.write(t.ptr, this.backend.readSync(this.ptr, this.size * 4));
    return t;
  }

  /** This tensor on another backend, from any backend (a GPU reads back asynchronously). */
  async copyTo(backend: string): Promise<Tensor> {
    const be = await backendNamedAsync(backend);
    if (be === this.backend) return this;
    const data = await this.data();
    const t = Tensor.empty(this.shape, this.dtype, be);
    be.write(t.ptr, data);
    return t;
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
    if (this.disposed) return;
    registry.unregister(this);
    const c = this.cell;
    if (c.ptr >= 0) { this.backend.forget(c); this.backend.free(c.ptr); }
    c.ptr = -1;
    c.box = undefined;
    this.box.host = undefined;
    this.disposed = true;
  }

  /** A tensor of another shape over a copy of the same data. */
  reshape(shape: readonly number[]): Tensor {
    const s = resolveShape(shape, this.size, 'reshape');
    const t = Tensor.empty(s, this.dtype, this.backend);
    const dst = t.ptr;
    // an evicted source is copied from where it is, without paging it in
    if (this.cell.ptr < 0 && !this.disposed) this.backend.write(dst, this.box.host!);
    else this.backend.copy(dst, this.ptr, this.size * 4);
    // a copy of a weight on a lost GPU (getWeights after a device loss) answers from the same last known values
    const kept = (this.backend as { lost?: string }).lost ? hostCopies.get(this) : undefined;
    if (kept) hostCopies.set(t, kept);
    return t;
  }

  /** @internal Overwrite the data with `values` (as many as the tensor has), on any backend. */
  write(values: ArrayLike<number>): void {
    if (values.length !== this.size) throw new Error(`edgegrad: ${values.length} values for a tensor of ${this.size} ${formatShape(this.shape)}`);
    const host = this.dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
    this.backend.write(this.ptr, host);
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
  if (values instanceof Float32Array || values instanceof Int32Array || values instanceof Float64Array) {
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
  t.write(flat);
  return t;
}

export function fill(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const t = Tensor.empty(shape, dtype);
  const host = dtype === 'int32' ? new Int32Array(t.size) : new Float32Array(t.size);
  t.backend.write(t.ptr, host.fill(value));
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

/**
 * Host copies of weights that live on a GPU, as of their last known state (loaded, set with setWeights, or read
 * back at the end of each fit epoch): what stays readable when the device is lost and its memory with it.
 * Only weights get one (never inputs or activations), so the host holds at most the model's size.
 */
const hostCopies = new WeakMap<Tensor, TypedArray>();

/** Keep `data` as t's last known values (a tensor on a GPU; elsewhere nothing is kept). */
export function keepHostCopy(t: Tensor, data: TypedArray): void {
  if (!t.backend.syncRead) hostCopies.set(t, data);
}

/** t's kept host copy, if it has one. */
export function hostCopyOf(t: Tensor | undefined): TypedArray | undefined {
  return t && hostCopies.get(t);
}

/**
 * @internal What a read of a tensor (`await t.data()`, copyTo) awaits first, and rejects with: a GPU predict's output
 * checks its inputs were finite (counted on the device as it ran: src/backend/webgpu/read-guard.ts).
 */
export const readChecks = new WeakMap<Tensor, () => Promise<void>>();
