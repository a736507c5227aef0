// What every backend with a host-visible heap shares (wasm; the reference backend): an arena over one
// growable memory, buffer handles that are byte offsets into it, least-recently-used eviction of
// tensors' and plans' bytes under memory pressure, the kernel workspace (with guard bytes in tests), the
// broadcast descriptor slot and the kernel RNG state. A backend adds its kernel table and its memory.
import { Arena } from './arena.js';
import { lackedKernels, type Backend, type Evictable, type HeapMemory, type Int8Path } from './backend.js';
import type { Kernels, Ptr } from './kernels.js';

const GUARD_BYTES = 256, GUARD_PATTERN = 0xa5;
const RECLAIM_FLOOR = 64 * 1024 * 1024;
/**
 * Allocations after which an unused plan counts as cold. Code may hold a plan's pointers across fewer
 * allocations than this (a view taken, an output tensor allocated, then read): it is never evicted from
 * under them; a running plan is held (hold()) for the whole run.
 */
const COLD_TICKS = 32;

export abstract class HeapBackend implements Backend {
  abstract readonly name: string;
  /** The build of this backend ('relaxed' | 'simd' | 'scalar' for wasm; the name where there is one). */
  abstract readonly build: string;
  readonly kernels: Kernels;
  readonly memory: HeapMemory;
  readonly arena: Arena;
  readonly syncRead: boolean = true;
  /** 16 bytes of xoshiro128** state for kernels that draw random numbers. */
  readonly rng: number;
  private ws = 0;
  private wsSize = 0;
  private desc: number;

  protected constructor(memory: HeapMemory, kernels: Kernels, heapBase: number) {
    this.kernels = kernels;
    this.memory = memory;
    this.arena = new Arena(memory, heapBase);
    this.rng = this.arena.alloc(16);
    this.kernels.rngSeed(this.rng, 0x5eed);
    this.desc = this.arena.alloc(256);
  }

  /** Counts allocations: the clock of least-recent use (tensors and plans stamp it when used). */
  tick = 0;
  /**
   * What holds arena bytes that can be given back: tensors' data and plans' scratch, while resident. Held
   * strongly but small: a record never points back at its tensor or plan, so a dropped tensor is still
   * collected, and once evicted its record leaves this set (its data goes with the tensor, to the JS heap,
   * where the collector finds it even inside a synchronous loop).
   */
  private readonly resident = new Set<Evictable>();
  /** Below this much wasm memory nothing is evicted: small programs never pay for it. */
  reclaimFloor = RECLAIM_FLOOR;
  /** Bytes given back by evictions so far (for memory reports and tests). */
  evictedBytes = 0;

  /** Register arena bytes that can be given back under memory pressure (until forget or eviction). */
  track(e: Evictable): void {
    this.resident.add(e);
  }

  forget(e: Evictable): void {
    this.resident.delete(e);
  }

  /**
   * Arena bytes. When none are free and the memory is past reclaimFloor, the coldest records (not used in
   * the last COLD_TICKS allocations) are evicted, least recent first, until the block fits with some room
   * to spare (so that reclaiming is rare); only then does the memory grow. So a long-lived process's memory
   * follows its working set, not the garbage its collector has not found yet.
   */
  alloc(bytes: number): number {
    this.tick++;
    const p = this.arena.tryAlloc(bytes);
    if (p >= 0) return p;
    if (this.memory.buffer.byteLength >= this.reclaimFloor) this.reclaim(bytes);
    return this.arena.alloc(bytes);
  }

  private holds = 0;
  private heldSince = Infinity;

  /**
   * Nothing used from now until the returned release is called is evicted (a plan's run: its weights are
   * paged in one by one, and must all stay in until its kernels ran).
   */
  hold(): () => void {
    if (this.holds++ === 0) this.heldSince = this.tick;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.holds === 0) this.heldSince = Infinity;
    };
  }

  private reclaim(bytes: number): void {
    const cold = Math.min(this.tick - COLD_TICKS, this.heldSince);
    const candidates = [...this.resident].filter((e) => e.lastUse < cold).sort((a, b) => a.lastUse - b.lastUse);
    // evict until the block fits and an eighth of the memory is free besides: one reclaim serves many allocations
    const spare = bytes + this.memory.buffer.byteLength / 8;
    for (const e of candidates) {
      if (this.arena.fits(bytes) && this.arena.freeBytes() >= spare) return;
      this.evictedBytes += e.residentBytes();
      e.evict();
      this.resident.delete(e);
    }
  }


  free(ptr: number): void {
    this.arena.release(ptr);
  }

  write(ptr: Ptr, data: ArrayBufferView): void {
    new Uint8Array(this.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  copy(dst: Ptr, src: Ptr, bytes: number): void {
    if (dst !== src) new Uint8Array(this.memory.buffer).copyWithin(dst, src, src + bytes);
  }

  readSync(ptr: Ptr, bytes: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, bytes).slice();
  }

  async read(ptr: Ptr, bytes: number): Promise<Uint8Array> {
    return this.readSync(ptr, bytes);
  }

  /** Kernels of the ABI this backend does not implement (each throws a clear error when called). */
  lacks(): string[] {
    return lackedKernels(this.kernels);
  }

  /** Whether the int8 GEMM may take its relaxed-dot path (only a wasm build that passed its known-answer test). */
  relaxedDotOk(): boolean {
    return false;
  }

  /** The int8 GEMM's inner product (the wasm backend decides it; the others say what they have). */
  get int8Path(): Int8Path {
    return this.lacks().includes('qgemm')
      ? { dot: 'none', reason: `the '${this.name}' backend has no int8 kernels: int8 models run on wasm` }
      : { dot: 'scalar', reason: `the '${this.name}' backend computes int8 products one at a time in TypeScript` };
  }

  /** A fresh Float32Array view (views detach when the memory grows: never keep one across an allocation). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  /**
   * Tests turn this on: guard bytes right after each workspace handed out, checked when the next one is
   * asked for (and by checkWorkspace): a kernel that writes past the size its caller asked for is named
   * at once instead of corrupting whatever the arena placed next.
   */
  guardWorkspace = false;
  private guardAt = 0;

  /** Scratch space for one kernel call; reused by the next call, so never hold it across calls. */
  workspace(bytes: number): number {
    if (this.guardWorkspace) this.checkWorkspace();
    const need = bytes + (this.guardWorkspace ? GUARD_BYTES : 0);
    if (need > this.wsSize) {
      if (this.ws) this.arena.release(this.ws);
      this.wsSize = Math.max(need, this.wsSize * 2, 1 << 16);
      this.ws = this.arena.alloc(this.wsSize);
    }
    if (this.guardWorkspace) {
      this.guardAt = this.ws + bytes;
      new Uint8Array(this.memory.buffer, this.guardAt, GUARD_BYTES).fill(GUARD_PATTERN);
    }
    return this.ws;
  }

  /** With guardWorkspace: throws if the last workspace's guard bytes changed. */
  checkWorkspace(): void {
    if (!this.guardAt) return;
    const g = new Uint8Array(this.memory.buffer, this.guardAt, GUARD_BYTES);
    const at = g.findIndex((b) => b !== GUARD_PATTERN);
    const size = this.guardAt - this.ws;
    this.guardAt = 0;
    if (at >= 0) throw new Error(`edgegrad: a kernel wrote past its workspace of ${size} bytes (at +${at} beyond it)`);
  }

  /** Write a small i32 descriptor (broadcast shapes/strides) into its scratch slot; at most 64 ints. */
  descriptor(values: readonly number[]): number {
    if (values.length > 64) throw new Error(`edgegrad: descriptor of ${values.length} ints exceeds 64`);
    this.i32(this.desc, values.length).set(values);
    return this.desc;
  }

  seed(seed: number): void {
    this.kernels.rngSeed(this.rng, seed >>> 0);
  }

  /** Bytes of linear memory (the wasm heap as the OS sees it). */
  memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }
}
