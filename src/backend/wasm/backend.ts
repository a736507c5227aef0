// The wasm backend: one instantiated build (relaxed SIMD, SIMD128 or scalar), its WebAssembly.Memory carved
// by the shared heap machinery (src/backend/heap.ts), and the AssemblyScript kernels as its kernel table.
// With threads (create(build, { threads })), the threaded variant of the build runs on a shared memory and
// a pool of workers takes shares of the large kernels (src/backend/wasm/pool.ts, assembly/threads.ts).
import { HeapBackend } from '../heap.js';
import type { Int8Path } from '../backend.js';
import { instantiate, instantiateSync, supportedBuilds, type Instance, type WasmBuild } from './loader.js';
import type { WasmExports } from './exports.js';
import { MAX_THREADS, coreCount, threadsImpossible } from './cores.js';
import type { Pool, ThreadsInfo, ThreadsWanted } from './pool.js';

/** The worker pool's module (with the threaded builds): loaded only where threads may run. */
type PoolModule = typeof import('./pool.js');

export class WasmBackend extends HeapBackend {
  readonly name = 'wasm';
  readonly build: WasmBuild;
  declare readonly kernels: WasmExports;
  declare readonly memory: WebAssembly.Memory;
  private dotOk?: boolean;
  private path?: Int8Path;
  /** Threads that run kernels (1: this thread only), and why not more (or why these). */
  threads: ThreadsInfo = { threads: 1, reason: "created synchronously by the first op, before any eg.ready(): call 'await eg.ready()' before the first tensor for threads" };
  /** The `threads` this backend was created for (undefined: the default, the cores there are). */
  threadsAsked?: number;
  private pool: Pool | null = null;
  private ctrl = 0;

  /** The compiled threaded module (what pool workers instantiate); absent in the single-threaded builds. */
  private readonly module?: WebAssembly.Module;

  private constructor(inst: Instance & { module?: WebAssembly.Module }) {
    super(inst.memory, inst.kernels, inst.kernels.heapBase());
    this.build = inst.build;
    this.module = inst.module;
  }

  /**
   * A backend in `build` (default: the best this runtime validates) with `threads` threads (default: the
   * cores there are). Where threads cannot run, the single-threaded build, with the reason in `threads`.
   */
  static async create(build?: WasmBuild, opts: ThreadsWanted = {}): Promise<WasmBackend> {
    // an unknown or unsupported build: the loader's error
    if (build !== undefined && !supportedBuilds().includes(build)) await instantiate(build);
    const b = build ?? supportedBuilds()[0];
    const asked = opts.threads;
    if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1)) {
      throw new Error(`edgegrad.ready: threads must be a whole number >= 1 (got ${String(asked)})`);
    }
    const cores = await coreCount();
    const made = (be: WasmBackend): WasmBackend => { be.threadsAsked = asked; return be; };
    const want = Math.min(asked ?? cores, MAX_THREADS);
    const single = async (reason: string): Promise<WasmBackend> => {
      const be = new WasmBackend(await instantiate(b));
      be.threads = { threads: 1, reason };
      return made(be);
    };
    if (want <= 1) return single(asked === 1 ? 'threads: 1 asked' : `${cores} core${cores === 1 ? '' : 's'} reported`);
    // the reasons known without a download first: a page that is not cross-origin isolated never loads the pool
    const impossible = threadsImpossible();
    if (impossible) return single(impossible);
    const pool = await import('./pool.js');
    const why = await pool.threadsUnavailable(b);
    if (why) return single(why);
    let be: WasmBackend | undefined;
    try {
      be = new WasmBackend(await pool.instantiateThreaded(b));
      await be.startPool(want, pool);
      const capped = asked !== undefined && asked > MAX_THREADS ? ` (at most ${MAX_THREADS})` : '';
      be.threads = { threads: want, reason: asked !== undefined ? `threads: ${asked} asked${capped}` : `${cores} cores reported` };
      return made(be);
    } catch (e) {
      be?.dispose();
      return single(`the worker pool did not start: ${(e as Error).message}`);
    }
  }

  static createSync(build?: WasmBuild): WasmBackend {
    return new WasmBackend(instantiateSync(build));
  }

  private async startPool(n: number, pool: PoolModule): Promise<void> {
    const k = this.kernels;
    const ctrl = (this.ctrl = this.arena.alloc(pool.CONTROL_BYTES));
    new Uint8Array(this.memory.buffer, ctrl, pool.CONTROL_BYTES).fill(0);
    const scratch: number[] = [];
    for (let i = 1; i < n; i++) scratch.push(this.arena.alloc(k.threadScratchSize()));
    this.pool = await pool.Pool.start({ module: this.module!, memory: this.memory, ctrl, scratch, n });
    k.threadsSetup(ctrl, n);
  }

  /** Jobs shared out to the pool so far, modulo 32768 (tests: a kernel that should split did). */
  threadJobs(): number {
    return this.ctrl ? this.i32(this.ctrl, 1)[0] : 0;
  }

  /** Chunks of those jobs that pool workers (not this thread) finished. */
  workerChunks(): number {
    return this.ctrl ? this.i32(this.ctrl + 28, 1)[0] : 0;
  }

  /** Stop the pool's workers; kernels run on this thread from then on. */
  dispose(): void {
    if (!this.pool) return;
    this.kernels.threadsStop();
    this.pool.terminate();
    this.pool = null;
    this.threads = { threads: 1, reason: 'disposed' };
  }

  /**
   * Whether the int8 GEMM takes its relaxed-dot path: this engine's i32x4.relaxed_dot_i8x16_i7x16_add_s
   * gives the exact sums the GEMM relies on (a known-answer test: Node 20's V8, relaxed SIMD behind a flag,
   * clobbers accumulators) and is faster here than the SIMD128 path (i16 products), timed once on a
   * 96x256x512 product (not every CPU has a fast i8 dot: VNNI makes it one instruction, others emulate it).
   */
  override relaxedDotOk(): boolean {
    if (this.dotOk === undefined) this.path = this.chooseDot();
    return (this.dotOk = this.path!.dot === 'relaxed-dot');
  }

  /** The int8 GEMM's inner product here and why (decided on first read or first int8 use, then kept). */
  override get int8Path(): Int8Path {
    this.relaxedDotOk();
    return { ...this.path! };
  }

  private chooseDot(): Int8Path {
    if (this.build === 'scalar') return { dot: 'scalar', reason: 'the scalar build (no SIMD)' };
    if (this.build !== 'relaxed') return { dot: 'simd128', reason: `the ${this.build} build has no relaxed dot` };
    if (!this.dotAnswers()) return { dot: 'simd128', reason: 'this engine\'s relaxed i8 dot failed the known-answer test (its sums are not exact)', relaxedExact: false };
    const [relaxedMs, simd128Ms] = this.timeDots();
    return relaxedMs < simd128Ms
      ? { dot: 'relaxed-dot', reason: `the relaxed i8 dot is exact and faster here (${relaxedMs.toFixed(3)} ms vs ${simd128Ms.toFixed(3)} ms on SIMD128)`, relaxedExact: true, relaxedMs, simd128Ms }
      : { dot: 'simd128', reason: `the relaxed i8 dot is exact but not faster here (${relaxedMs.toFixed(3)} ms vs ${simd128Ms.toFixed(3)} ms on SIMD128)`, relaxedExact: true, relaxedMs, simd128Ms };
  }

  /** Best of 5 runs of one int8 GEMM (96x256x512, 7-bit weights) on each path: [relaxed, simd128] ms. */
  private timeDots(): [number, number] {
    const k = this.kernels, M = 96, N = 256, K = 512;
    const A = this.alloc(M * K), W = this.alloc(K * N), pa = this.alloc(k.qgemmPackedASize(M, K)), C = this.alloc(M * N * 4), work = this.alloc(k.qgemmWorkSize(N, K));
    const packs = [1, 0].map(() => ({ pb: this.alloc(k.qgemmPackedBSize(K, N)), cs: this.alloc(N * 4) }));
    try {
      const a = new Uint8Array(this.memory.buffer, A, M * K), w = new Int8Array(this.memory.buffer, W, K * N);
      for (let i = 0; i < a.length; i++) a[i] = (i * 37 + 11) & 255;
      for (let i = 0; i < w.length; i++) w[i] = ((i * 29 + 7) % 127) - 63;
      k.qgemmPackA(M, K, A, K, pa);
      const now = () => globalThis.performance?.now() ?? Date.now();
      return ([1, 0] as const).map((relaxed7, j) => {
        k.qgemmPackB(K, N, W, N, packs[j].pb, packs[j].cs, relaxed7);
        let best = Infinity;
        for (let r = 0; r < 6; r++) {
          const t0 = now();
          k.qgemm(M, N, K, pa, 128, packs[j].pb, packs[j].cs, 0, relaxed7, 0, C, N, 0, 0, 0, 255, 0, work);
          if (r > 0) best = Math.min(best, now() - t0);
        }
        return best;
      }) as [number, number];
    } finally {
      for (const p of [A, W, pa, C, work, ...packs.flatMap((p) => [p.pb, p.cs])]) this.free(p);
    }
  }

  /** The known-answer test of the relaxed i8 dot: exact int32 sums on a small product. */
  private dotAnswers(): boolean {
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
      return ok;
    } finally {
      for (const p of [A, W, pb, cs, pa, C, work]) this.free(p);
    }
  }

}
