// The wasm backend: one instantiated build, its memory and arena, a reusable kernel workspace, and the
// typed kernels. It knows nothing of layers or models; ops in src/ops/ call its kernels on tensor buffers.
import { Arena } from './arena.js';
import { instantiate, instantiateSync, type Instance, type WasmBuild } from './loader.js';
import type { Kernels } from './kernels.js';

export class WasmBackend {
  readonly name = 'wasm';
  readonly build: WasmBuild;
  readonly kernels: Kernels;
  readonly memory: WebAssembly.Memory;
  readonly arena: Arena;
  /** 16 bytes of xoshiro128** state for kernels that draw random numbers. */
  readonly rng: number;
  private ws = 0;
  private wsSize = 0;
  private desc: number;

  private constructor(inst: Instance) {
    this.build = inst.build;
    this.kernels = inst.kernels;
    this.memory = inst.memory;
    this.arena = new Arena(this.memory, this.kernels.heapBase());
    this.rng = this.arena.alloc(16);
    this.kernels.rngSeed(this.rng, 0x5eed);
    this.desc = this.arena.alloc(256);
  }

  static async create(build?: WasmBuild): Promise<WasmBackend> {
    return new WasmBackend(await instantiate(build));
  }

  static createSync(build?: WasmBuild): WasmBackend {
    return new WasmBackend(instantiateSync(build));
  }

  alloc(bytes: number): number {
    return this.arena.alloc(bytes);
  }

  free(ptr: number): void {
    this.arena.release(ptr);
  }

  /** A fresh Float32Array view (views detach when the memory grows: never keep one across an allocation). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  /** Scratch space for one kernel call; reused by the next call, so never hold it across calls. */
  workspace(bytes: number): number {
    if (bytes > this.wsSize) {
      if (this.ws) this.arena.release(this.ws);
      this.wsSize = Math.max(bytes, this.wsSize * 2, 1 << 16);
      this.ws = this.arena.alloc(this.wsSize);
    }
    return this.ws;
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
