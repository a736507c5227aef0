// Work sharing for the threaded builds (shared memory + atomics; ASC_FEATURE_THREADS). The TS layer
// (src/backend/wasm/pool.ts) instantiates this same module once per pool worker on the same shared
// memory; each worker parks in threadWorkerLoop (threads_worker.ts). A kernel with a large enough
// parallel section writes its arguments into the control block (jobArgs), calls parallelBegin(kind),
// does its own share (thread 0), and parallelEnd() spins until every worker did its share. Each thread
// computes whole outputs in the single-thread summation order, so results are bit-identical to one thread.
// In the single-threaded builds threads() is 1 and the atomics are never compiled.
//
// Wasm globals are per instance: kernel geometry kept in globals (conv.ts, im2col.ts) is passed to
// workers through jobArgs. Static scratch memory is shared, so each thread has its own (threadInit).

/**
 * Control block (TS-allocated, 64-byte aligned). GEN: the current job's generation (workers wait on it);
 * WORK: (generation << 16) | next chunk, claimed by compare-exchange; DONE: chunks finished; CHUNKS: the
 * job's chunk count. Work is handed out in chunks, claimed by whichever thread is free (the main thread
 * too): a worker that the OS has descheduled, or that is still waking up, delays nothing, because the main
 * thread takes the chunks it does not claim and waits only for chunks, never for a worker. A chunk claimed
 * under a generation belongs to that job (the arguments are not rewritten until every chunk is done).
 */
const GEN: usize = 0, KIND: usize = 8, FAILED: usize = 12, WORK: usize = 16, CHUNKS: usize = 20, DONE: usize = 24;
/** Chunks the workers finished, all jobs together (tests: the workers did take part). */
const WORKER_CHUNKS: usize = 28;
const ARGS: usize = 64;
/** Bytes of the control block: 64 header bytes + 64 argument words. */
export const CONTROL_BYTES: i32 = 64 + 64 * 4;
export const JOB_STOP: i32 = -1;

let ctrl: usize = 0;
let nThreads: i32 = 1;
let tid: i32 = 0;
/** The generation of the job this instance works on (main: the last posted; a worker: the last seen). */
let jobGen: i32 = 0;

// Per-thread scratch: the main instance uses these static blocks; each worker gets its own (threadInit).
export let tileScratch: usize = memory.data(128, 16);
export let row16Scratch: usize = memory.data(128, 16);
/** A worker's packed-A block for the GEMM driver (the main thread uses the caller's workspace). */
export let packScratch: usize = 0;

// @ts-ignore: decorator
@inline export function threads(): i32 { return ASC_FEATURE_THREADS ? nThreads : 1; }
// @ts-ignore: decorator
@inline export function threadIndex(): i32 { return tid; }
// @ts-ignore: decorator
@inline export function jobArgs(): usize { return ctrl + ARGS; }
// @ts-ignore: decorator
@inline export function controlBlock(): usize { return ctrl; }

/** Main instance: the control block and the pool size (1: no pool, every kernel runs on this thread). */
export function threadsSetup(control: usize, n: i32): void {
  ctrl = control;
  nThreads = ASC_FEATURE_THREADS && control != 0 ? max(1, n) : 1;
  tid = 0;
}

/** A worker's instance: its index (1..n-1), the pool size and its scratch (threadScratchSize bytes). */
export function threadInit(control: usize, id: i32, n: i32, scratch: usize): void {
  ctrl = control;
  tid = id;
  nThreads = n;
  tileScratch = scratch;
  row16Scratch = scratch + 128;
  packScratch = scratch + 256;
  // the generation before the worker says it is ready: a job posted right after must not be missed
  startGeneration = generation();
}

/** The generation a worker's loop starts from (threadInit). */
export let startGeneration: i32 = 0;

/** Post job `kind` (arguments already in jobArgs) in `chunks` chunks (<= 65535); then claim() / chunkDone(). */
export function parallelBegin(kind: i32, chunks: i32): void {
  if (ASC_FEATURE_THREADS) {
    jobGen = (jobGen & 0x7fff) + 1;
    atomic.store<i32>(ctrl + DONE, 0);
    atomic.store<i32>(ctrl + CHUNKS, chunks);
    atomic.store<i32>(ctrl + KIND, kind);
    atomic.store<i32>(ctrl + WORK, jobGen << 16);
    atomic.store<i32>(ctrl + GEN, jobGen);
    atomic.notify(ctrl + GEN, nThreads - 1);
  }
}

/** The next unclaimed chunk of the current job, or -1 when none is left (or the job is over). */
export function claim(): i32 {
  if (ASC_FEATURE_THREADS) {
    while (true) {
      const w = atomic.load<i32>(ctrl + WORK);
      if ((w >>> 16) != jobGen) return -1;
      const i = w & 0xffff;
      if (i >= atomic.load<i32>(ctrl + CHUNKS)) return -1;
      if (atomic.cmpxchg<i32>(ctrl + WORK, w, w + 1) == w) return i;
    }
  }
  return -1;
}

/** Count a claimed chunk finished. */
export function chunkDone(): void {
  if (ASC_FEATURE_THREADS) {
    atomic.add<i32>(ctrl + DONE, 1);
    if (tid != 0) atomic.add<i32>(ctrl + WORKER_CHUNKS, 1);
  }
}

/**
 * Main thread: wait until every chunk is finished (after claiming what it could). Spins: a browser's main
 * thread may not block (atomic.wait traps there), and what is left is chunks other threads are running.
 */
export function parallelEnd(): void {
  if (ASC_FEATURE_THREADS) {
    const chunks = atomic.load<i32>(ctrl + CHUNKS);
    while (atomic.load<i32>(ctrl + DONE) < chunks) {
      // a worker that trapped sets FAILED (src/backend/wasm/pool.ts): its chunk will never finish, so this
      // kernel fails; later kernels run on this thread only
      if (atomic.load<i32>(ctrl + FAILED)) {
        nThreads = 1;
        abort();
      }
    }
  }
}

/** Share `part` of `parts` of [0, count) in units of `unit` (the last part takes the rest). */
// @ts-ignore: decorator
@inline export function shareStart(count: i32, unit: i32, part: i32, parts: i32): i32 {
  const units = (count + unit - 1) / unit;
  return min(count, <i32>(<i64>units * part / parts) * unit);
}

/**
 * Loads of the generation word a worker spins through before it sleeps (atomic.wait): a few milliseconds.
 * Kernels come in quick succession inside a model's run, with JS and single-threaded kernels in between
 * (a training step's masks, the optimizer, the batch's slicing); a sleeping worker takes tens to hundreds
 * of microseconds to wake (more in a VM), and a job posted meanwhile is done by the main thread alone. At
 * 400,000 loads the worker slept between the kernels of a LeNet step and did 35% of a conv's chunks; at
 * 4,000,000 it does half. An idle pool still sleeps within a few milliseconds of its last job.
 */
const SPIN_BEFORE_WAIT: i32 = 4000000;

/** Worker: wait until the generation differs from `seen`; the new job becomes this instance's job. */
export function workerWait(seen: i32): i32 {
  if (ASC_FEATURE_THREADS) {
    let spins = 0;
    let g = atomic.load<i32>(ctrl + GEN);
    while (g == seen) {
      if (++spins > SPIN_BEFORE_WAIT) { atomic.wait<i32>(ctrl + GEN, seen, -1); spins = 0; }
      g = atomic.load<i32>(ctrl + GEN);
    }
    jobGen = g;
    return g;
  }
  return seen;
}

export function jobKind(): i32 {
  if (ASC_FEATURE_THREADS) return atomic.load<i32>(ctrl + KIND);
  return JOB_STOP;
}

/** The current job's chunk count. */
export function jobChunks(): i32 {
  if (ASC_FEATURE_THREADS) return atomic.load<i32>(ctrl + CHUNKS);
  return 0;
}

export function generation(): i32 {
  if (ASC_FEATURE_THREADS) return atomic.load<i32>(ctrl + GEN);
  return 0;
}

/** Bytes of a worker's scratch (threadInit): two 128-byte tiles and a packed-A block of the GEMM. */
export function threadScratchSize(): i32 {
  return 256 + (ASC_FEATURE_SIMD ? 128 * 256 * 16 : 128 * 256 * 4);
}

/** Main instance: tell every worker to leave its loop (their instances can then be dropped). */
export function threadsStop(): void {
  if (nThreads > 1) {
    // one chunk per worker: each claims one and leaves its loop (a worker that is away finds none left
    // and keeps waiting; the TS side terminates it)
    parallelBegin(JOB_STOP, 0);
    nThreads = 1;
  }
}
