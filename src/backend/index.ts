// The active backend. Only wasm exists today; WebGPU will register here and be picked by ready({ backend }).
import { WasmBackend } from './wasm/backend.js';
import type { WasmBuild } from './wasm/loader.js';

export type BackendName = 'wasm' | 'auto';
export interface ReadyOptions {
  backend?: BackendName;
  /** Force a wasm build ('relaxed' | 'simd' | 'scalar'); by default the best one this runtime validates. */
  wasmBuild?: WasmBuild;
}

let active: WasmBackend | null = null;

/** Instantiate (or switch) the backend. Call once before using tensors; cheap to call again. */
export async function ready(options: ReadyOptions = {}): Promise<WasmBackend> {
  const { backend = 'auto', wasmBuild } = options;
  if (backend !== 'wasm' && backend !== 'auto') {
    throw new Error(`edgegrad.ready: unknown backend '${String(backend)}' (expected 'wasm' or 'auto')`);
  }
  if (active && (!wasmBuild || active.build === wasmBuild)) return active;
  active = await WasmBackend.create(wasmBuild);
  return active;
}

/** The active backend; created synchronously on first use where the runtime allows it. */
export function getBackend(): WasmBackend {
  if (!active) {
    try {
      active = WasmBackend.createSync();
    } catch (e) {
      throw new Error(`edgegrad: no backend yet: call 'await eg.ready()' first (${(e as Error).message})`);
    }
  }
  return active;
}

export function setBackend(b: WasmBackend): void {
  active = b;
}

export { WasmBackend };
export type { WasmBuild };
