// What the wasm backend asks before threads: how many cores there are, and the reasons threads cannot run
// that need no download. The worker pool itself (./pool.ts, with the threaded builds) loads only where
// threads may run, so a page that is not cross-origin isolated never downloads it.

/** Most threads a pool gets (the control block and scratch are sized per thread). */
export const MAX_THREADS = 16;

const g = globalThis as {
  process?: { versions?: { node?: string } };
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  SharedArrayBuffer?: unknown;
  Worker?: unknown;
};
export const isNode = (): boolean => !!g.process?.versions?.node;

/** Cores this runtime reports (navigator.hardwareConcurrency, Node's os.availableParallelism). */
export async function coreCount(): Promise<number> {
  const hc = g.navigator?.hardwareConcurrency;
  if (typeof hc === 'number' && hc > 0) return hc;
  if (isNode()) {
    try {
      const spec = 'node:os'; // a variable: the library needs no Node typings, and bundlers leave it
      const os = (await import(spec)) as { availableParallelism?: () => number; cpus(): unknown[] };
      return os.availableParallelism?.() ?? os.cpus().length;
    } catch { /* no os module */ }
  }
  return 1;
}

/** Why this runtime cannot run threads at all, known without loading anything (null: it may). */
export function threadsImpossible(): string | null {
  if (typeof g.SharedArrayBuffer !== 'function') {
    return 'SharedArrayBuffer is not available (a page must be cross-origin isolated: COOP same-origin + COEP require-corp)';
  }
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated (COOP same-origin + COEP require-corp)';
  if (!isNode() && typeof g.Worker !== 'function') return 'this runtime has no Worker';
  return null;
}
