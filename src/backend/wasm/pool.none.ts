// Stands in for pool.ts in the classic-script build (dist/edgegrad.js), which never runs threads: a page
// that can (cross-origin isolated, so not one from file://) takes the ES module build. The worker pool's
// code stays out, and ready() reports why one thread runs kernels.
import type { WasmBuild } from './loader.js';
import type { WasmExports } from './exports.js';

const CONTROL_BYTES = 64 + 64 * 4;
export const MAX_THREADS = 16;
const ONE_THREAD = 'the classic script (dist/edgegrad.js) runs one thread: threads need a cross-origin isolated page and the ES module build (dist/index.js)';

export interface ThreadsWanted { threads?: number }
export interface ThreadsInfo { threads: number; reason: string }
export interface ThreadedInstance { build: WasmBuild; memory: WebAssembly.Memory; kernels: WasmExports; module: WebAssembly.Module }
export interface PoolInit { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: number; scratch: number[]; n: number }

export async function coreCount(): Promise<number> {
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof hc === 'number' && hc > 0 ? hc : 1;
}
export async function threadedBytes(_build: WasmBuild): Promise<Uint8Array | null> { return null; }
export async function threadsUnavailable(_build: WasmBuild): Promise<string | null> { return ONE_THREAD; }
export function sharedMemory(): WebAssembly.Memory { throw new Error(`edgegrad: ${ONE_THREAD}`); }
export async function instantiateThreaded(_build: WasmBuild): Promise<ThreadedInstance> { throw new Error(`edgegrad: ${ONE_THREAD}`); }

export class Pool {
  private constructor(readonly threads: number) {}
  static async start(_init: PoolInit): Promise<Pool> { throw new Error(`edgegrad: ${ONE_THREAD}`); }
  terminate(): void {}
}

export function workerExecArgv(): string[] | undefined { return undefined; }

export { CONTROL_BYTES };
