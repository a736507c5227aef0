// The wasm backend: one instantiated build (relaxed SIMD, SIMD128 or scalar), its WebAssembly.Memory carved
// by the shared heap machinery (src/backend/heap.ts), and the AssemblyScript kernels as its kernel table.
import { HeapBackend } from '../heap.js';
import { instantiate, instantiateSync, type Instance, type WasmBuild } from './loader.js';
import type { WasmExports } from './exports.js';

export class WasmBackend extends HeapBackend {
  readonly name = 'wasm';
  readonly build: WasmBuild;
  declare readonly kernels: WasmExports;
  declare readonly memory: WebAssembly.Memory;
  private dotOk?: boolean;

  private constructor(inst: Instance) {
    super(inst.memory, inst.kernels, inst.kernels.heapBase());
    this.build = inst.build;
  }

  static async create(build?: WasmBuild): Promise<WasmBackend> {
    return new WasmBackend(await instantiate(build));
  }

  static createSync(build?: WasmBuild): WasmBackend {
    return new WasmBackend(instantiateSync(build));
  }

  /**
   * Whether this engine's i32x4.relaxed_dot_i8x16_i7x16_add_s gives the exact sums the int8 GEMM relies on
   * (a known-answer test, run once). Node 20's V8 (relaxed SIMD behind a flag) clobbers accumulators; the
   * int8 GEMM then takes its SIMD128 path, which computes the same integers.
   */
  override relaxedDotOk(): boolean {
    if (this.dotOk !== undefined) return this.dotOk;
    if (this.build !== 'relaxed') return (this.dotOk = false);
    const k = this.kernels, M = 4, N = 8, K = 8;
    const a = Uint8Array.from({ length: M * K }, (_, i) => (i * 37 + 11) & 255);
    const w = Int8Array.from({ length: K * N }, (_, i) => ((i * 29 + 7) % 127) - 64);
    const A = this.alloc(M * K), W = this.alloc(K * N), pb = this.alloc(k.qgemmPackedBSize(K, N)), cs = this.alloc(N * 4);
    const pa = this.alloc(k.qgemmPackedASize(M, K)), C = this.alloc(M * N * 4), work = this.alloc(k.qgemmWorkSize(N, K));
    try {
      new Uint8Array(this.memory.buffer, A, M * K).set(a);
      new Int8Array(this.memory.buffer, W, K * N).set(w);
      k.qgemmPackB(K, N, W, N, pb, cs, 1);
      k.qgemmPackA(M, K, A, K, pa);
      k.qgemm(M, N, K, pa, 3, pb, cs, 0, 1, 0, C, N, 0, 0, 0, 255, 0, work);
      const c = this.i32(C, M * N);
      let ok = true;
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        let s = 0;
        for (let q = 0; q < K; q++) s += (a[m * K + q] - 3) * w[q * N + n];
        if (s !== c[m * N + n]) ok = false;
      }
      return (this.dotOk = ok);
    } finally {
      for (const p of [A, W, pb, cs, pa, C, work]) this.free(p);
    }
  }

}
