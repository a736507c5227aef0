// The backends this runtime has, and the active one. A backend registers itself here (a name, the builds
// it offers in this runtime, how to create one); eg.ready({ backend }) picks one, eg.backends() lists them.
import type { Backend } from './backend.js';
import { WasmBackend } from './wasm/backend.js';
import { loadScalarBuild, loadSimdBuild, supportedBuilds, type WasmBuild } from './wasm/loader.js';
import { hasHardwareAdapter } from './webgpu/adapter.js';
import type { ThreadsInfo } from './wasm/pool.js';
import type { RefBackend } from './ref/backend.js';

export type BackendName = 'wasm' | 'webgpu' | 'ref' | 'auto';
export interface ReadyOptions {
  /**
   * 'auto' (default): WebGPU on a hardware adapter where the runtime has navigator.gpu, else the best wasm
   * build; 'webgpu' (in Node it needs the optional package 'webgpu', in Bun 'bun-webgpu'); 'wasm'; 'ref':
   * the pure-TypeScript reference backend (slow; engines without wasm).
   */
  backend?: BackendName;
  /** Force a wasm build ('relaxed' | 'simd' | 'scalar'); by default the best one this runtime validates. */
  wasmBuild?: WasmBuild;
  /**
   * Threads for the wasm backend's kernels (GEMM, convolution and its gradients, depthwise, pooling),
   * results identical to one thread. Default: the cores this runtime reports. More than one needs shared
   * memory: Node, Deno, Bun, Electron, and pages that are cross-origin isolated (COOP + COEP headers);
   * elsewhere one thread runs, and the returned backend's `threads.reason` says why.
   */
  threads?: number;
}

/** What ready() returns: the backend, and for wasm how many threads run its kernels and why. */
export type ReadyBackend = Backend & { readonly threads?: ThreadsInfo };

interface Registration {
  name: Exclude<BackendName, 'auto'>;
  /** The builds this runtime can run, best first (empty: unavailable here). */
  builds(): string[];
  /** Loads the backend's code where it is a separate chunk (so the main bundle stays small). */
  load?(): Promise<void>;
  create(build?: string, threads?: number): Promise<Backend>;
  createSync(build?: string): Backend;
}

// The reference backend is code only tests and engines without wasm need: a chunk of its own, loaded on
// first use.
let refModule: { RefBackend: typeof RefBackend } | undefined;
const loadRef = async (): Promise<void> => { refModule ??= await import('./ref/backend.js'); };
/** Set once a WebGPU device was created in this runtime. */
let webgpuSeen = false;
const hasNavigatorGpu = (): boolean => !!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;

const registry: Registration[] = [
  {
    name: 'wasm',
    builds: () => (typeof WebAssembly === 'object' ? supportedBuilds() : []),
    load: async () => {
      await loadScalarBuild().catch(() => { /* a bundle without it (the classic script) */ });
      if (supportedBuilds().includes('simd')) await loadSimdBuild();
    },
    create: (build, threads) => WasmBackend.create(build as WasmBuild | undefined, { threads }),
    createSync: (build) => WasmBackend.createSync(build as WasmBuild | undefined),
  },
  {
    name: 'webgpu',
    // a device is found asynchronously: listed where navigator.gpu exists or once one was created
    builds: () => (hasNavigatorGpu() || webgpuSeen ? ['webgpu'] : []),
    async create() {
      const { WebGpuBackend } = await import('./webgpu/backend.js');
      const be = await WebGpuBackend.create();
      webgpuSeen = true;
      return be;
    },
    createSync: () => { throw new Error("edgegrad: a WebGPU device is created asynchronously: call 'await eg.ready({ backend: \"webgpu\" })' first"); },
  },
  {
    name: 'ref',
    builds: () => ['ref'],
    load: loadRef,
    create: async () => { await loadRef(); return refModule!.RefBackend.createSync(); },
    createSync: () => {
      if (!refModule) throw new Error("edgegrad: the 'ref' backend loads on first use: call 'await eg.ready({ backend: \"ref\" })' or 'await eg.loadBackends()' first");
      return refModule.RefBackend.createSync();
    },
  },
];

export interface BackendInfo {
  name: string;
  /** The builds this runtime can run, best first. */
  builds: string[];
}

/** The backends this runtime has, in order of preference ('auto' takes the first). */
export function backends(): BackendInfo[] {
  return registry.map((r) => ({ name: r.name, builds: r.builds() })).filter((b) => b.builds.length > 0);
}

/** Every (backend, build) this runtime has: what a suite that must hold on every backend runs over. */
export function backendBuilds(): Array<{ backend: Exclude<BackendName, 'auto'>; build: string }> {
  return registry.flatMap((r) => r.builds().map((build) => ({ backend: r.name, build })));
}

/** Load the code of every backend this runtime has (those kept in chunks of their own), so all can be created synchronously. */
export async function loadBackends(): Promise<void> {
  for (const r of registry) if (r.builds().length) await r.load?.();
}

/** A new instance of a backend in a given build (tests run every build side by side). */
export function createBackend(name: string, build?: string): Backend {
  return registration(name).createSync(build === name ? undefined : build);
}

function registration(name: string): Registration {
  const r = registry.find((x) => x.name === name);
  if (!r) {
    throw new Error(`edgegrad.ready: unknown backend '${String(name)}' (expected 'auto' or one of ${registry.map((x) => `'${x.name}'`).join(', ')})`);
  }
  if (r.builds().length === 0 && r.name !== 'webgpu') throw new Error(`edgegrad.ready: backend '${name}' is not available in this runtime`);
  return r;
}

let active: Backend | null = null;
let autoTried = false;
/** One instance per backend name, so that tensors can move between backends (`t.to('ref')`). */
const instances = new Map<string, Backend>();
/** The wasm backends ready() created or found active (one per build and thread count asked). */
const wasmMade: WasmBackend[] = [];

function pickName(backend: BackendName, wasmBuild?: WasmBuild): string {
  if (backend === 'auto') return wasmBuild ? 'wasm' : backends().find((b) => b.name !== 'webgpu')?.name ?? 'ref';
  return backend;
}

function wanted(be: Backend | undefined, name: string, wasmBuild?: WasmBuild, threads?: number): boolean {
  return !!be && be.name === name && (!wasmBuild || be.build === wasmBuild) &&
    (threads === undefined || name !== 'wasm' || (be as WasmBackend).threadsAsked === threads || (be as WasmBackend).threads.threads === threads);
}

/** Instantiate (or switch to) a backend. Call once before using tensors; cheap to call again. */
export async function ready(options: ReadyOptions = {}): Promise<ReadyBackend> {
  const { backend = 'auto', wasmBuild, threads } = options;
  if (backend === 'auto' && !wasmBuild && hasNavigatorGpu() && active?.name !== 'webgpu' && !autoTried) {
    // WebGPU only on a hardware adapter: a software one is slower than wasm SIMD
    autoTried = true;
    // asked before the WebGPU code (a chunk of its own) loads: a page without a GPU never downloads it
    if (await hasHardwareAdapter()) try {
      const be = await registration('webgpu').create();
      if (!(be as Backend & { adapter?: { fallback: boolean } }).adapter?.fallback) { setBackend(be); return be; }
    } catch { /* no usable adapter: wasm */ }
  }
  const name = pickName(backend, wasmBuild);
  const r = registration(name);
  // (the active one too: getBackend() may have created it synchronously)
  if (active instanceof WasmBackend && !wasmMade.includes(active)) wasmMade.push(active);
  // (a lost GPU is not reused: ready() starts a new device)
  if (wanted(active ?? undefined, name, wasmBuild, threads) && !(active as Backend & { lost?: string }).lost) return active!;
  // wasm backends created by ready() are kept by build and threads: switching back and forth (a bench, a
  // test comparing thread counts) reuses them instead of starting new worker pools
  const have = [instances.get(name), ...(name === 'wasm' ? wasmMade : [])].find((b) => wanted(b, name, wasmBuild, threads));
  const usable = !!have && !(have as Backend & { lost?: string }).lost;
  const be = usable ? have! : await r.create(wasmBuild, threads);
  if (be instanceof WasmBackend && !wasmMade.includes(be)) wasmMade.push(be);
  setBackend(be);
  return be;
}

/**
 * What an async entry point (loadModel, loadDigits) calls before it makes tensors: the active backend, or
 * the one getBackend() would create (the best wasm build), loaded first where that build is a chunk.
 */
export async function backendReady(): Promise<void> {
  if (!active) await ready({ backend: 'wasm' });
}

/** The active backend; the best wasm build is created synchronously on first use where the runtime allows it. */
export function getBackend(): Backend {
  if (!active) {
    try {
      setBackend(registration(pickName('auto')).createSync());
    } catch (e) {
      const m = (e as Error).message;
      throw new Error(m.includes('eg.ready()') ? m : `edgegrad: no backend yet: call 'await eg.ready()' first (${m})`);
    }
  }
  return active!;
}

/** backendNamed for async callers: a build kept in a chunk (SIMD128 where relaxed SIMD is missing) loads first. */
export async function backendNamedAsync(name: string): Promise<Backend> {
  if (active?.name !== name && !instances.has(name)) await registration(name).load?.();
  return backendNamed(name);
}

/** The instance of a backend by name: the active one if it has that name, else one created for it. */
export function backendNamed(name: string): Backend {
  if (active?.name === name) return active;
  let be = instances.get(name);
  if (!be) {
    be = registration(name).createSync();
    instances.set(name, be);
  }
  return be;
}

/**
 * Run f with the backend of `tensors` active (to describe a model where its weights live), then the active one
 * as before; nothing else changes (no instance is registered). Tensors on several backends: f as it is.
 */
export function whileActive<T>(tensors: Array<{ backend: Backend } | undefined>, f: () => T): T {
  const homes = new Set(tensors.flatMap((t) => (t ? [t.backend] : [])));
  const prev = active;
  if (homes.size === 1) active = [...homes][0];
  try {
    return f();
  } finally {
    active = prev;
  }
}

export function setBackend(b: Backend): void {
  active = b;
  instances.set(b.name, b);
}

export { HeapBackend } from './heap.js';
export { WasmBackend, supportedBuilds };
export type { RefBackend };
export type { Backend, WasmBuild };
export type { Evictable } from './backend.js';
