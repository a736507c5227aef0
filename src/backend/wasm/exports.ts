// What the wasm module exports beyond the kernel ABI (src/backend/kernels.ts): the heap base, and functions
// that assembly modules share with each other (`export *` re-exports them); TypeScript never calls these.
import type { Kernels, Ptr } from '../kernels.js';

export interface WasmExports extends Kernels {
  heapBase(): Ptr;
  // threads (assembly/threads.ts, threads_worker.ts; src/backend/wasm/pool.ts)
  threadsSetup(control: Ptr, n: number): void;
  threadInit(control: Ptr, id: number, n: number, scratch: Ptr): void;
  threadsStop(): void;
  threadScratchSize(): number;
  threadWorkerLoop(): void;
  gemmJob(): void;
  convJob(): void;
  poolJob(): void;
  qdwJob(): void;
  maskJob(): void;
  nextU32(rng: Ptr): number;
  nextUniform(rng: Ptr): number;
  setIm2col(H: number, W: number, C: number, Cg: number, c0: number, KW: number, SH: number, SW: number,
    PT: number, PL: number, DH: number, DW: number, OH: number, OW: number): void;
}
