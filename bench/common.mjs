// Helpers shared by the bench scripts (run.mjs, threads.mjs): timing, buffers in a backend's memory, the
// conv geometry block, and the LeNet-5 of the training rows.
const QUICK = process.argv.includes('--quick');

/** Mean ms of `reps` back-to-back calls of f. */
export function timeMs(f, reps) {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

/**
 * [our median ms, their median ms, median per-round ratio theirs / ours]: `rounds` alternations (each round
 * runs f `reps` times), after a warm-up.
 */
export function compare(ours, theirs, { reps = 3, rounds = QUICK ? 5 : 11, warmMs = QUICK ? 200 : 600 } = {}) {
  // Warm up by time, not by count: V8 runs new wasm code in its baseline tier (Liftoff) and moves hot
  // functions to TurboFan in the background; large kernels (both libraries') need a while of running.
  let spentOurs = 0, spentTheirs = 0;
  for (let i = 0; i < 3 || spentOurs < warmMs || (theirs && spentTheirs < warmMs); i++) {
    let t0 = performance.now(); ours(); spentOurs += performance.now() - t0;
    if (theirs) { t0 = performance.now(); theirs(); spentTheirs += performance.now() - t0; }
  }
  const a = [], b = [], q = [];
  for (let r = 0; r < rounds; r++) {
    const x = timeMs(ours, reps);
    a.push(x);
    if (theirs) { const y = timeMs(theirs, reps); b.push(y); q.push(y / x); }
  }
  // The ratio is the median of per-round ratios: each round times both sides back to back, so a burst of
  // machine noise moves both of its numbers and cancels, where a ratio of medians would not.
  return [median(a), theirs ? median(b) : NaN, theirs ? median(q) : NaN];
}

export const median = (v) => v.slice().sort((x, y) => x - y)[v.length >> 1];

/** n floats of a fixed pseudo-random sequence in backend be's memory (kernels are called on them directly). */
export function bufOn(be, n, seed = 1) {
  const p = be.alloc(n * 4);
  let s = seed >>> 0;
  const v = be.f32(p, n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; v[i] = s / 4294967296 - 0.5; }
  return p;
}

/** The geometry block the conv kernels take (assembly/conv.ts), in be's memory: stride S, 'same' or 'valid'. */
export function convGeometryOn(be, N, H, W, C, KH, KW, S, CO, G, pad) {
  const OH = pad === 'same' ? Math.ceil(H / S) : Math.floor((H - KH) / S) + 1, OW = pad === 'same' ? Math.ceil(W / S) : Math.floor((W - KW) / S) + 1;
  const tot = (n, o, kk) => Math.max((o - 1) * S + kk - n, 0);
  const pt = pad === 'same' ? Math.floor(tot(H, OH, KH) / 2) : 0, pl = pad === 'same' ? Math.floor(tot(W, OW, KW) / 2) : 0;
  const geom = be.alloc(64);
  new Int32Array(be.memory.buffer, geom, 16).set([N, H, W, C, KH, KW, S, S, pt, pl, 1, 1, OH, OW, G, CO]);
  return geom;
}

/** LeNet-5 on 28x28x1 digits (seeded), the model of the training rows: the one the sequence comparison uses. */
export { lenet5 } from '../models/sequences/digits-rows.mjs';
