// The threaded wasm backend's worker pool. Where the runtime allows shared memory (Node, Deno, Bun,
// Electron, cross-origin isolated pages) the threaded build (shared memory + atomics) is instantiated on
// the main thread and once more in each of N-1 workers, all on the same WebAssembly.Memory. Workers park
// in the module's own loop (assembly/threads_worker.ts) and kernels share their work out through a
// control block in that memory (assembly/threads.ts): no message passing per kernel. Where anything is
// missing (no SharedArrayBuffer, a page that is not cross-origin isolated, workers refused by a CSP, a
// runtime without the threads feature) the single-threaded builds run, and the reason is kept.
import { wasmImports, type WasmBuild } from './loader.js';
import type { WasmExports } from './exports.js';

import { isNode, threadsImpossible } from './cores.js';

/** Control block bytes (assembly/threads.ts CONTROL_BYTES). */
const CONTROL_BYTES = 64 + 64 * 4;
export { MAX_THREADS, coreCount } from './cores.js';

export interface ThreadsWanted {
  /** Threads wanted (>= 1); undefined: the cores this runtime reports. */
  threads?: number;
}

/** What ready() reports about threads: how many run kernels, and why not more. */
export interface ThreadsInfo {
  threads: number;
  reason: string;
}

export interface ThreadedInstance {
  build: WasmBuild;
  memory: WebAssembly.Memory;
  kernels: WasmExports;
  module: WebAssembly.Module;
}

interface WorkerLike {
  terminate(): unknown;
}

/** What the pool uses of a worker_threads Worker. */
interface NodeWorker extends WorkerLike {
  unref(): void;
  once(event: 'message', f: (m: { ready?: number; error?: string }) => void): void;
  once(event: 'error', f: (e: Error) => void): void;
}

const g = globalThis as {
  process?: { versions?: { node?: string } };
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  SharedArrayBuffer?: unknown;
  Worker?: new (url: string, opts?: { type?: string; name?: string }) => {
    postMessage(m: unknown): void; terminate(): void;
    onmessage: ((e: { data: unknown }) => void) | null; onerror: ((e: unknown) => void) | null;
  };
  Blob?: new (parts: string[], opts: { type: string }) => unknown;
  URL?: { createObjectURL(b: unknown): string; revokeObjectURL(u: string): void };
};
const threadedCache = new Map<WasmBuild, Uint8Array>();
/** The threaded builds' base64 (a chunk of its own, loaded only where threads can run). */
let threadBinaries: { relaxed_threads: string; simd_threads: string } | undefined;
/** The threaded variant of a single-threaded build ('relaxed' -> 'relaxed-threads'); scalar has none. */
export async function threadedBytes(build: WasmBuild): Promise<Uint8Array | null> {
  if (build === 'scalar') return null;
  let b = threadedCache.get(build);
  if (!b) {
    threadBinaries ??= await import('./binaries-threads.generated.js');
    const b64 = build === 'relaxed' ? threadBinaries.relaxed_threads : threadBinaries.simd_threads;
    if (!b64) throw new Error('this bundle carries no threaded build');
    const s = atob(b64);
    b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    threadedCache.set(build, b);
  }
  return b;
}

/** Why this runtime cannot run threads (null: it can try). */
export async function threadsUnavailable(build: WasmBuild): Promise<string | null> {
  const impossible = threadsImpossible();
  if (impossible) return impossible;
  if (build === 'scalar') return `the '${build}' build has no threaded variant`;
  let bytes: Uint8Array | null;
  try {
    bytes = await threadedBytes(build);
  } catch (e) {
    return `the threaded build did not load: ${(e as Error).message}`;
  }
  if (!bytes) return `the '${build}' build has no threaded variant`;
  if (!WebAssembly.validate(bytes as BufferSource)) return 'this runtime does not validate wasm threads (atomics)';
  return null;
}

/** Shared memory of the threaded builds (they import a shared memory of at most 65536 pages). */
export function sharedMemory(): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
  } catch {
    // some engines refuse to reserve 4 GiB for a shared memory: ask for 1 GiB
    return new WebAssembly.Memory({ initial: 16, maximum: 16384, shared: true });
  }
}

/** Instantiate the threaded variant of `build` on a new shared memory (main thread side). */
export async function instantiateThreaded(build: WasmBuild): Promise<ThreadedInstance> {
  const bytes = (await threadedBytes(build))!;
  const memory = sharedMemory();
  const module = await WebAssembly.compile(bytes as BufferSource);
  const instance = await WebAssembly.instantiate(module, wasmImports(memory));
  return { build, memory, module, kernels: instance.exports as unknown as WasmExports };
}

// The worker's code: instantiate the module on the shared memory, take its thread index and scratch,
// report ready, then run the job loop until told to stop. Runs as a Node worker_threads script (eval) or
// as a Web Worker / Deno / Bun worker from a blob: URL; nothing is looked up on disk.
const WORKER_BODY = `
function start(d, post) {
  var inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory, abort: function (m, f, l, c) {
    throw new Error('edgegrad: wasm kernel aborted in a pool worker at assembly line ' + l + ':' + c);
  } } });
  inst.exports.threadInit(d.ctrl, d.id, d.n, d.scratch);
  post({ ready: d.id });
  try { inst.exports.threadWorkerLoop(); post({ stopped: d.id }); }
  catch (e) {
    // a trap inside a job: mark the pool failed, so the main thread's kernel, waiting for this worker's
    // chunk, fails instead of waiting forever (assembly/threads.ts parallelEnd)
    Atomics.store(new Int32Array(d.memory.buffer), (d.ctrl >> 2) + 3, 1);
    post({ error: String(e && e.message || e) });
  }
}`;
const NODE_WORKER = `${WORKER_BODY}
const wt = require('node:worker_threads');
start(wt.workerData, function (m) { wt.parentPort.postMessage(m); });`;
const WEB_WORKER = `${WORKER_BODY}
self.onmessage = function (e) { self.onmessage = null; start(e.data, function (m) { self.postMessage(m); }); };`;

export interface PoolInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: number;
  /** One scratch block per worker (index 0 is worker 1). */
  scratch: number[];
  n: number;
}

/** N-1 started workers, each parked in the module's job loop; terminate() ends them. */
export class Pool {
  private constructor(readonly threads: number, private readonly workers: WorkerLike[], private readonly revoke: () => void) {}

  static async start(init: PoolInit, timeoutMs = 10000): Promise<Pool> {
    const workers: WorkerLike[] = [];
    let revoke = (): void => {};
    const readies: Promise<void>[] = [];
    try {
      if (isNode()) {
        const spec = 'node:worker_threads';
        const { Worker } = (await import(spec)) as { Worker: new (code: string, opts: { eval: boolean; execArgv?: string[]; workerData: unknown }) => NodeWorker };
        for (let id = 1; id < init.n; id++) {
          const w = new Worker(NODE_WORKER, {
            eval: true,
            execArgv: workerExecArgv(),
            workerData: { module: init.module, memory: init.memory, ctrl: init.ctrl, id, n: init.n, scratch: init.scratch[id - 1] },
          });
          w.unref();
          workers.push(w);
          readies.push(new Promise<void>((resolve, reject) => {
            w.once('message', (m: { ready?: number; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
            w.once('error', reject);
          }));
        }
      } else {
        const url = g.URL!.createObjectURL(new g.Blob!([WEB_WORKER], { type: 'text/javascript' }));
        revoke = () => g.URL!.revokeObjectURL(url);
        for (let id = 1; id < init.n; id++) {
          const w = new g.Worker!(url, { type: 'module', name: `edgegrad-thread-${id}` });
          workers.push(w);
          readies.push(new Promise<void>((resolve, reject) => {
            w.onmessage = (e) => { const m = e.data as { ready?: number; error?: string }; if (m.ready) resolve(); else reject(new Error(m.error)); };
            w.onerror = (e) => reject(new Error(String((e as { message?: string }).message ?? 'worker failed to start')));
          }));
          w.postMessage({ module: init.module, memory: init.memory, ctrl: init.ctrl, id, n: init.n, scratch: init.scratch[id - 1] });
        }
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`pool workers did not start within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([Promise.all(readies), timeout]);
      } finally {
        clearTimeout(timer);
      }
      return new Pool(init.n, workers, revoke);
    } catch (e) {
      for (const w of workers) w.terminate();
      revoke();
      throw e;
    }
  }

  /** End the workers (the main instance must have left threaded mode: threadsStop). */
  terminate(): void {
    for (const w of this.workers) w.terminate();
    this.revoke();
  }
}

/**
 * The Node flags a worker gets: its parent's (the default), unless they say how a main script is read
 * (--input-type, --eval, --print), which Node refuses for a worker whose code is a file or a string of
 * CommonJS: then none (V8's flags, such as --experimental-wasm-relaxed-simd, hold for the whole process).
 */
export function workerExecArgv(): string[] | undefined {
  const argv = (globalThis as { process?: { execArgv?: string[] } }).process?.execArgv ?? [];
  return argv.some((a) => /^(--input-type|--eval|--print|-e|-p)(=|$)/.test(a)) ? [] : undefined;
}

export { CONTROL_BYTES };
