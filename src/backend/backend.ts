// The backend seam. A backend owns buffers and runs kernels; nothing above src/backend/ knows which one
// runs. Buffers are opaque handles (`Ptr`: for the heap backends a byte offset into their one memory,
// valid for offset arithmetic within one allocation). The kernel table is the backend's `kernels`: one
// implementation of the ABI in ./kernels.ts per backend, so a kernel is found by (op, backend). A backend
// that lacks a kernel says so (`lacks()`), and calling it throws an error that names both.
import { KERNEL_NAMES, type Kernels, type Ptr } from './kernels.js';

/** A growable memory with the shape of a WebAssembly.Memory: what a heap backend's arena carves. */
export interface HeapMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** Something whose bytes can be given back under memory pressure and taken again on next use. */
export interface Evictable {
  /** The allocation tick of its last use. */
  lastUse: number;
  residentBytes(): number;
  /** Give the bytes back; the next use takes them again. */
  evict(): void;
}

export interface Backend {
  /** 'wasm', 'ref' (later 'webgpu'): where tensors on it live. */
  readonly name: string;
  /** The build ('relaxed' | 'simd' | 'scalar' for wasm; the name otherwise). */
  readonly build: string;
  /** The kernel table: this backend's implementation of every kernel of the ABI (or a refusal). */
  readonly kernels: Kernels;
  /** Whether buffers can be read synchronously (`readSync`, `f32`/`i32` views, `Tensor.dataSync`). */
  readonly syncRead: boolean;
  /** Handles of the RNG state (16 bytes) and the descriptor slot that kernels take. */
  readonly rng: Ptr;

  alloc(bytes: number): Ptr;
  free(ptr: Ptr): void;
  write(ptr: Ptr, data: ArrayBufferView): void;
  read(ptr: Ptr, bytes: number): Promise<Uint8Array>;
  /** Where syncRead: a copy of the bytes now. */
  readSync(ptr: Ptr, bytes: number): Uint8Array;
  /** Where syncRead: live views of a buffer, invalid after any allocation. */
  f32(ptr: Ptr, n: number): Float32Array;
  i32(ptr: Ptr, n: number): Int32Array;
  /** Copy bytes between buffers of this backend (ranges may overlap). */
  copy(dst: Ptr, src: Ptr, bytes: number): void;
  /** Scratch for one kernel call, reused by the next: never hold it across calls. */
  workspace(bytes: number): Ptr;
  /** A small i32 block (broadcast shapes and strides) in the descriptor slot. */
  descriptor(values: readonly number[]): Ptr;
  seed(seed: number): void;

  // memory ownership: what may be evicted under pressure, and what must stay in while it runs
  /** The allocation clock of least-recent use. */
  tick: number;
  track(e: Evictable): void;
  forget(e: Evictable): void;
  /** Nothing used from now until the release is called is evicted. */
  hold(): () => void;
  reclaimFloor: number;
  evictedBytes: number;
  memoryBytes(): number;

  /** Whether the int8 GEMM may take its relaxed-dot path (wasm builds that pass a known-answer test). */
  relaxedDotOk(): boolean;
  /** The int8 GEMM's inner product on this backend, and why (decided once, on first use or first read). */
  readonly int8Path: Int8Path;
  /** Kernels of the ABI this backend does not implement. */
  lacks(): string[];
  /** Tests: guard bytes after each workspace, checked by the next workspace() or checkWorkspace(). */
  guardWorkspace: boolean;
  checkWorkspace(): void;
}

const LACKING = Symbol('lacking');

/**
 * A complete kernel table from a backend's implementations: each missing kernel becomes one that throws
 * "backend 'x' lacks kernel 'y'", and is listed by lacks().
 */
/**
 * How the int8 GEMM multiplies: 'relaxed-dot' (i32x4.relaxed_dot_i8x16_i7x16_add_s, for weights quantized
 * to 7 bits), 'simd128' (i16 products and pairwise adds), 'scalar' (one product at a time: the scalar wasm
 * build, the TypeScript reference), or 'none' (no int8 kernels on this backend). reason says why;
 * relaxedMs / simd128Ms are the timings the choice was made on.
 */
export interface Int8Path {
  dot: 'relaxed-dot' | 'simd128' | 'scalar' | 'none';
  reason: string;
  /** The relaxed build: whether its i8 dot passed the known-answer test (exact sums). */
  relaxedExact?: boolean;
  relaxedMs?: number;
  simd128Ms?: number;
}

export function kernelTable(backend: string, impl: Partial<Kernels>): Kernels {
  const table = { ...impl } as Record<string, unknown>;
  for (const name of KERNEL_NAMES) {
    if (typeof table[name] === 'function') continue;
    const refuse = (): never => { throw new Error(`edgegrad: backend '${backend}' lacks kernel '${name}'`); };
    (refuse as unknown as Record<symbol, boolean>)[LACKING] = true;
    table[name] = refuse;
  }
  return table as unknown as Kernels;
}

export function lackedKernels(k: Kernels): string[] {
  const t = k as unknown as Record<string, unknown>;
  return KERNEL_NAMES.filter((n) => typeof t[n] !== 'function' || (t[n] as unknown as Record<symbol, boolean>)[LACKING]);
}
