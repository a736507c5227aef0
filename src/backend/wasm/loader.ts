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

let scalarB64 = '';
let simdB64 = '';

/**
 * The SIMD128 build is a chunk of its own, which only engines without relaxed SIMD need (Safari, Node 20
 * without its flag): loaded by ready() there (or when asked for by name), and by loadBackends().
 */
export async function loadSimdBuild(): Promise<void> {
  if (!simdB64) simdB64 = (await import('./binaries-simd.generated.js')).simd;
}

/** WebAssembly SIMD128 in 40 bytes: a function returning v128.const 0 (what a build needs to be worth loading). */
const SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, ...new Array<number>(16).fill(0), 11);
const hasSimd = (): boolean => WebAssembly.validate(SIMD_PROBE as BufferSource);
const relaxedRuns = (): boolean => !!binaries.relaxed && WebAssembly.validate(wasmBytes('relaxed') as BufferSource);

/**
 * The scalar build is a chunk of its own, which only engines without WebAssembly SIMD need: loaded by
 * ready() there (or when asked for by name), and by loadBackends().
 */
export async function loadScalarBuild(): Promise<void> {
  if (!scalarB64) scalarB64 = (await import('./binaries-scalar.generated.js')).scalar;
}

/** Whether no SIMD build runs here: the engine needs the scalar one. */
export function needsScalar(): boolean {
  return !relaxedRuns() && !hasSimd();
}

/**
 * A build's base64: embedded (relaxed), loaded (simd, scalar), or (the classic-script build, which leaves the
 * scalar build out to stay small) set by the add-on script dist/edgegrad-scalar.js, loaded before it.
 */
function base64Of(build: WasmBuild): string {
  if (build === 'relaxed') return binaries.relaxed;
  if (build === 'simd') return simdB64;
  return scalarB64 || (globalThis as { edgegradScalarBuild?: string }).edgegradScalarBuild || '';
}

export function wasmBytes(build: WasmBuild): Uint8Array {
  let b = cache.get(build);
  if (!b) {
    const b64 = base64Of(build);
    if (!b64) throw new Error(`edgegrad: no '${build}' wasm build loaded${build === 'scalar' ? " (it loads on demand: 'await eg.ready({ wasmBuild: \"scalar\" })' or 'await eg.loadBackends()' first; the classic script leaves it out: load dist/edgegrad-scalar.js before it, for engines without WebAssembly SIMD)" : build === 'simd' ? " (this engine lacks relaxed SIMD and the SIMD128 build loads on demand: 'await eg.ready()' first, or 'await eg.loadBackends()' to keep another backend active)" : ''}`);
    b = decode(b64);
    cache.set(build, b);
  }
  return b;
}

/** Builds this runtime can run, best first (of those the bundle carries; the SIMD128 build whenever SIMD validates: it loads on demand). */
export function supportedBuilds(): WasmBuild[] {
  return BUILDS.filter((b) => (b === 'simd' && !simdB64 ? hasSimd() : base64Of(b) !== '' && WebAssembly.validate(wasmBytes(b) as BufferSource)));
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
    if (!BUILDS.includes(build)) throw new Error(`edgegrad: unknown wasm build '${String(build)}' (the builds: ${BUILDS.join(', ')}; this runtime runs ${ok.join(', ') || 'none'})`);
    if (!ok.includes(build) && !base64Of(build)) wasmBytes(build); // throws: which script carries it
    if (!ok.includes(build)) throw new Error(`edgegrad: the '${build}' wasm build does not validate in this runtime (supported: ${ok.join(', ') || 'none'})`);
    return build;
  }
  if (ok.length === 0) throw new Error('edgegrad: this runtime cannot run any of the wasm builds');
  return ok[0];
}

export interface Instance { build: WasmBuild; memory: WebAssembly.Memory; kernels: WasmExports }

export async function instantiate(build?: WasmBuild): Promise<Instance> {
  if (build === 'scalar' || (!build && needsScalar())) await loadScalarBuild().catch(() => { /* the classic script: its add-on or nothing */ });
  if (build === 'simd' || (!build && !relaxedRuns() && hasSimd())) await loadSimdBuild();
  const b = pick(build);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const { instance } = await WebAssembly.instantiate(wasmBytes(b) as BufferSource, imports(memory)).catch((e: Error) => {
    // a Content Security Policy without 'wasm-unsafe-eval' refuses to compile; V8's message names 'unsafe-eval',
    // which would allow eval as well
    throw /Content Security Policy|unsafe-eval/i.test(String(e?.message)) ? new Error("edgegrad: this page's Content Security Policy refuses to compile WebAssembly: add 'wasm-unsafe-eval' to its script-src directive (script-src 'self' 'wasm-unsafe-eval'); 'unsafe-eval' is not needed", { cause: e }) : e;
  });
  return { build: b, memory, kernels: instance.exports as unknown as WasmExports };
}

/** Synchronous variant (Node, Deno, Bun, workers); browsers' main threads refuse it for modules this size. */
export function instantiateSync(build?: WasmBuild): Instance {
  const b = pick(build);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes(b) as BufferSource), imports(memory));
  return { build: b, memory, kernels: instance.exports as unknown as WasmExports };
}

/** The imports every build takes (the threaded builds' pool workers too: src/backend/wasm/pool.ts). */
export const wasmImports = imports;
