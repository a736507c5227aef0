// Picks and instantiates the best wasm build this runtime validates: relaxed SIMD (fused multiply-add),
// then SIMD128, then scalar. The builds are embedded (base64), so nothing is fetched or looked up on disk:
// the same code runs in Node, Deno, Bun, browsers, Electron and webviews.
import * as binaries from './binaries.generated.js';
import type { WasmExports } from './exports.js';

export type WasmBuild = 'relaxed' | 'simd' | 'scalar';
export const BUILDS: readonly WasmBuild[] = ['relaxed', 'simd', 'scalar'];

const cache = new Map<WasmBuild, Uint8Array>();

function decode(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function wasmBytes(build: WasmBuild): Uint8Array {
  let b = cache.get(build);
  if (!b) { b = decode(binaries[build]); cache.set(build, b); }
  return b;
}

/** Builds this runtime can run, best first. */
export function supportedBuilds(): WasmBuild[] {
  return BUILDS.filter((b) => WebAssembly.validate(wasmBytes(b) as BufferSource));
}

function imports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`edgegrad: wasm kernel aborted at assembly line ${line}:${col}`);
      },
    },
  };
}

function pick(build?: WasmBuild): WasmBuild {
  const ok = supportedBuilds();
  if (build) {
    if (!ok.includes(build)) throw new Error(`edgegrad: the '${build}' wasm build does not validate in this runtime (supported: ${ok.join(', ') || 'none'})`);
    return build;
  }
  if (ok.length === 0) throw new Error('edgegrad: this runtime cannot run any of the wasm builds');
  return ok[0];
}

export interface Instance { build: WasmBuild; memory: WebAssembly.Memory; kernels: WasmExports }

export async function instantiate(build?: WasmBuild): Promise<Instance> {
  const b = pick(build);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const { instance } = await WebAssembly.instantiate(wasmBytes(b) as BufferSource, imports(memory));
  return { build: b, memory, kernels: instance.exports as unknown as WasmExports };
}

/** Synchronous variant (Node, Deno, Bun, workers); browsers' main threads refuse it for modules this size. */
export function instantiateSync(build?: WasmBuild): Instance {
  const b = pick(build);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes(b) as BufferSource), imports(memory));
  return { build: b, memory, kernels: instance.exports as unknown as WasmExports };
}
