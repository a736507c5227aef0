// The reference activation / batch-norm / loss kernels (src/backend/ref/act-norm-loss.ts) against the wasm
// kernels of every build: identical inputs (odd and prime sizes, zero sizes, special values, aliasing,
// pointers that are 0), then every buffer is compared after the call (outputs, and inputs left alone).
import { describe, expect, it, beforeAll } from 'vitest';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import { loadScalarBuild, loadSimdBuild } from '../src/backend/wasm/loader.js';

// the scalar build is a chunk loaded on demand
await loadScalarBuild();
await loadSimdBuild();
import { RefMemory } from '../src/backend/ref/memory.js';
import { actNormLossKernels } from '../src/backend/ref/act-norm-loss.js';
import type { Kernels } from '../src/backend/kernels.js';
import { Act, Loss } from '../src/backend/kernels.js';

type K = ReturnType<typeof actNormLossKernels>;
type Buf = Float32Array | Int32Array | null; // null: pass pointer 0
/** A buffer that both sides see at the same pointer slot; `same` makes it alias an earlier buffer. */
type Arg = Buf | { same: number };

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
const rand = (n: number, seed: number, lo = -3, hi = 3): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
};
/** Garbage that an output buffer starts with (the same on both sides). */
const junk = (n: number, seed = 99): Float32Array => rand(n, seed, -50, 50);

const SPECIAL = [0, -0, 1, -1, 6, -6, 1e-30, -1e-30, 20, -20, 90, -90, Infinity, -Infinity, NaN, 5.999999, 6.000001];

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rel = 1e-4): void {
  expect(got.length, what).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    if (!(Math.abs(g - w) <= rel * scale)) expect.fail(`${what}: [${i}] ref ${g} vs wasm ${w} (scale ${scale})`);
  }
}

describe.each(['relaxed', 'simd', 'scalar'] as const)('reference act/norm/loss kernels vs wasm (%s build)', (build) => {
  let be: WasmBackend;
  let mem: RefMemory;
  let ref: K;
  beforeAll(() => {
    be = WasmBackend.createSync(build);
    mem = new RefMemory(64);
    ref = actNormLossKernels(mem);
  });

  /**
   * Write args into both heaps, call both kernel tables with the pointers, compare the return values and
   * every buffer afterwards except the workspaces (indices in `scratch`). Returns the wasm return value.
   */
  function both(args: Arg[], call: (k: K | Kernels, p: number[]) => number | void, what: string, scratch: number[] = []): number | void {
    const rel = 1e-4;
    // reference side: bump allocation from 64, 64-byte aligned
    let top = 64;
    const rp: number[] = [], wp: number[] = [], owned: number[] = [];
    for (const a of args) {
      if (a === null) { rp.push(0); wp.push(0); continue; }
      if (!(a instanceof Float32Array || a instanceof Int32Array)) { rp.push(rp[a.same]); wp.push(wp[a.same]); continue; }
      const bytes = Math.max(a.byteLength, 4);
      rp.push(top); top += Math.ceil(bytes / 64) * 64;
      if (top > mem.buffer.byteLength) throw new Error('test: reference heap too small');
      const p = be.alloc(bytes);
      wp.push(p); owned.push(p);
      const Ctor = a instanceof Float32Array ? Float32Array : Int32Array;
      new Ctor(mem.buffer, rp[rp.length - 1], a.length).set(a as never);
      new Ctor(be.memory.buffer, p, a.length).set(a as never);
    }
    try {
      const rr = call(ref, rp);
      const wr = call(be.kernels, wp);
      if (typeof wr === 'number') close([rr as number], [wr], `${what}: return value`, rel);
      args.forEach((a, i) => {
        if (!(a instanceof Float32Array || a instanceof Int32Array) || scratch.includes(i)) return;
        const Ctor = a instanceof Float32Array ? Float32Array : Int32Array;
        const got = new Ctor(mem.buffer, rp[i], a.length), want = new Ctor(be.memory.buffer, wp[i], a.length);
        if (a instanceof Int32Array) expect(Array.from(got), `${what}: int buffer ${i}`).toEqual(Array.from(want));
        else close(got, want, `${what}: buffer ${i}`, rel);
      });
      return wr;
    } finally {
      for (const p of owned) be.free(p);
    }
  }

  it('has the interface parameter counts', () => {
    for (const [name, fn] of Object.entries(ref)) {
      expect((fn as (...a: unknown[]) => unknown).length, name).toBe((be.kernels as unknown as Record<string, (...a: unknown[]) => unknown>)[name].length);
    }
  });

  const ACTS = Object.entries(Act);
  const SIZES = [0, 1, 3, 4, 7, 8, 13, 16, 17, 31, 64, 97];

  it('actForward: every activation, odd sizes, special values, in place', () => {
    let seed = 1;
    for (const [name, code] of ACTS) {
      for (const n of SIZES) {
        for (const p of [0.2, 1, -0.3]) {
          const x = rand(n, seed++, -8, 8);
          for (let i = 0; i < n; i += 3) x[i] = SPECIAL[(i / 3) % SPECIAL.length];
          both([x, junk(n)], (k, [px, py]) => k.actForward(code, n, px, py, p), `${name} n=${n} p=${p}`);
          both([x], (k, [px]) => k.actForward(code, n, px, px, p), `${name} in place n=${n}`);
        }
      }
    }
  });

  it('actBackward: from x and y, with x or y not given (0), and dx aliasing dy', () => {
    let seed = 100;
    for (const [name, code] of ACTS) {
      for (const n of SIZES) {
        for (const p of [0.2, 1.5]) {
          const x = rand(n, seed++, -8, 8);
          for (let i = 0; i < n; i += 4) x[i] = SPECIAL[(i / 4) % SPECIAL.length];
          const y = new Float32Array(n);
          // y = f(x) from the wasm kernel itself, so both sides get the same y
          const px = be.alloc(n * 4 + 4), py = be.alloc(n * 4 + 4);
          be.f32(px, n).set(x); be.kernels.actForward(code, n, px, py, p); y.set(be.f32(py, n));
          be.free(px); be.free(py);
          const dy = rand(n, seed++);
          both([x, y, dy, junk(n)], (k, [a, b, c, d]) => k.actBackward(code, n, a, b, c, d, p), `${name}' n=${n}`);
          both([x, y, dy], (k, [a, b, c]) => k.actBackward(code, n, a, b, c, c, p), `${name}' dx=dy n=${n}`);
          // y not given: the rules that read x only (and matmul's fused-gradient use: y in the x slot)
          if (['linear', 'relu', 'relu6', 'leakyRelu', 'softplus', 'gelu', 'step', 'sign'].includes(name)) {
            both([x, null, dy, junk(n)], (k, [a, b, c, d]) => k.actBackward(code, n, a, b, c, d, p), `${name}' y=0 n=${n}`);
            both([y, null, dy, junk(n)], (k, [a, b, c, d]) => k.actBackward(code, n, a, b, c, d, p), `${name}' from y n=${n}`);
          }
          // x not given: the rules that read y only, and relu/leaky (x then reads as zeros)
          if (['linear', 'relu', 'leakyRelu', 'sigmoid', 'tanh', 'step', 'sign'].includes(name)) {
            both([null, y, dy, junk(n)], (k, [a, b, c, d]) => k.actBackward(code, n, a, b, c, d, p), `${name}' x=0 n=${n}`);
          }
          // ELU/SELU with x = 0 take the x >= 0 branch everywhere
          if (name === 'elu' || name === 'selu') {
            both([null, y, dy, junk(n)], (k, [a, b, c, d]) => k.actBackward(code, n, a, b, c, d, p), `${name}' x=0 n=${n}`);
          }
        }
      }
    }
  });

  it('softmax / log-softmax forward and backward over odd shapes, in place, with extreme rows', () => {
    let seed = 200;
    for (const [rows, cols] of [[0, 5], [3, 0], [1, 1], [1, 7], [5, 1], [4, 13], [7, 31], [2, 100], [13, 8]]) {
      for (const log of [0, 1]) {
        const n = rows * cols;
        const x = rand(n, seed++, -10, 10);
        if (n > 2) { x[0] = 80; x[1] = -80; }
        both([x, junk(n)], (k, [a, b]) => k.softmaxForward(rows, cols, a, b, log), `softmax fwd ${rows}x${cols} log=${log}`);
        both([x], (k, [a]) => k.softmaxForward(rows, cols, a, a, log), `softmax fwd in place ${rows}x${cols} log=${log}`);
        // y from wasm, then backward
        const px = be.alloc(n * 4 + 4), py = be.alloc(n * 4 + 4);
        be.f32(px, n).set(x); be.kernels.softmaxForward(rows, cols, px, py, log);
        const y = be.f32(py, n).slice();
        be.free(px); be.free(py);
        const dy = rand(n, seed++);
        both([y, dy, junk(n)], (k, [a, b, c]) => k.softmaxBackward(rows, cols, a, b, c, log), `softmax bwd ${rows}x${cols} log=${log}`);
        both([y, dy], (k, [a, b]) => k.softmaxBackward(rows, cols, a, b, b, log), `softmax bwd dx=dy ${rows}x${cols} log=${log}`);
      }
    }
    // rows of -Infinity and NaN
    const x = Float32Array.of(-Infinity, -Infinity, -Infinity, 1, NaN, 2, 3, Infinity, 0);
    for (const log of [0, 1]) both([x, junk(9)], (k, [a, b]) => k.softmaxForward(3, 3, a, b, log), `softmax specials log=${log}`);
  });

  it('maxout forward and backward, with ties and NaN', () => {
    let seed = 300;
    for (const [rows, units, k] of [[0, 3, 2], [1, 1, 1], [1, 1, 5], [3, 2, 3], [5, 7, 4], [2, 13, 1], [4, 3, 11]]) {
      const n = rows * units * k;
      const x = rand(n, seed++);
      for (let i = 0; i + 1 < n; i += 5) x[i + 1] = x[i]; // ties: the first arg-max gets the gradient
      if (n > 3) x[3] = NaN;
      both([x, junk(rows * units)], (kk, [a, b]) => kk.maxoutForward(rows, units, k, a, b), `maxout fwd ${rows}x${units}x${k}`);
      both([x, rand(rows * units, seed++), junk(n)], (kk, [a, b, c]) => kk.maxoutBackward(rows, units, k, a, b, c), `maxout bwd ${rows}x${units}x${k}`);
    }
  });

  it('PReLU forward and backward (dalpha overwritten)', () => {
    let seed = 400;
    for (const [n, C] of [[0, 3], [1, 1], [7, 1], [12, 3], [35, 5], [102, 17], [64, 64]]) {
      const x = rand(n, seed++);
      for (let i = 0; i < n; i += 6) x[i] = 0;
      const a = rand(C, seed++, -0.5, 0.5);
      both([x, a, junk(n)], (k, [px, pa, py]) => k.preluForward(n, C, px, pa, py), `prelu fwd n=${n} C=${C}`);
      both([x, a, rand(n, seed++), junk(n), junk(C)], (k, [px, pa, pg, pdx, pda]) => k.preluBackward(n, C, px, pa, pg, pdx, pda),
        `prelu bwd n=${n} C=${C}`);
    }
  });

  it('batch norm: train (running stats in place, or not given), infer, backward', () => {
    let seed = 500;
    for (const [M, C] of [[1, 1], [1, 5], [2, 3], [7, 4], [13, 9], [64, 17], [300, 8], [5, 33]]) {
      const n = M * C;
      const x = rand(n, seed++, -2, 5);
      for (let i = 0; i < n; i += 7) x[i] += 1000; // a large offset: the two-pass variance matters
      const g = rand(C, seed++, 0.5, 2), b = rand(C, seed++);
      const rm = rand(C, seed++), rv = rand(C, seed++, 0.5, 3);
      for (const [eps, mom] of [[1e-3, 0.99], [1e-5, 0.9], [0.1, 0]]) {
        both([x, g, b, junk(n), junk(C), junk(C), rm, rv, junk(4 * C)],
          (k, [px, pg, pb, py, pm, pi, prm, prv, ws]) => k.batchNormTrain(M, C, px, pg, pb, eps, mom, py, pm, pi, prm, prv, ws),
          `bn train ${M}x${C} eps=${eps} mom=${mom}`, [8]);
        both([x, g, b, junk(n), junk(C), junk(C), null, null, junk(4 * C)],
          (k, [px, pg, pb, py, pm, pi, prm, prv, ws]) => k.batchNormTrain(M, C, px, pg, pb, eps, mom, py, pm, pi, prm, prv, ws),
          `bn train no running ${M}x${C}`, [8]);
        both([x, g, b, rm, rv, junk(n), junk(C)],
          (k, [px, pg, pb, pm, pv, py, ws]) => k.batchNormInfer(M, C, px, pg, pb, pm, pv, eps, py, ws), `bn infer ${M}x${C}`, [6]);
        both([x, g, b, rm, rv, junk(C)],
          (k, [px, pg, pb, pm, pv, ws]) => k.batchNormInfer(M, C, px, pg, pb, pm, pv, eps, px, ws), `bn infer in place ${M}x${C}`, [5]);
      }
      // backward with the saved statistics of a wasm training pass
      const px = be.alloc(n * 4), pg = be.alloc(C * 4), pb = be.alloc(C * 4), py = be.alloc(n * 4), pm = be.alloc(C * 4),
        pi = be.alloc(C * 4), ws = be.alloc(C * 16);
      be.f32(px, n).set(x); be.f32(pg, C).set(g); be.f32(pb, C).set(b);
      be.kernels.batchNormTrain(M, C, px, pg, pb, 1e-3, 0.99, py, pm, pi, 0, 0, ws);
      const mean = be.f32(pm, C).slice(), inv = be.f32(pi, C).slice();
      [px, pg, pb, py, pm, pi, ws].forEach((p) => be.free(p));
      const dy = rand(n, seed++);
      both([x, dy, g, mean, inv, junk(n), junk(C), junk(C), junk(4 * C)],
        (k, [a, b2, c, d, e, f, h, i, w]) => k.batchNormBackward(M, C, a, b2, c, d, e, f, h, i, w), `bn bwd ${M}x${C}`, [8]);
      // the same in two blocks of rows: sums carried in ws (zeroed), then dx of each block (the second in place)
      const r1 = M >> 1, o = r1 * C * 4;
      both([x, dy, g, mean, inv, junk(n), junk(C), junk(C), new Float32Array(4 * C)], (k, [a, b2, c, d, e, f, h, i, w]) => {
        k.batchNormBackwardSums(r1, C, a, b2, d, e, h, i, w);
        k.batchNormBackwardSums(M - r1, C, a + o, b2 + o, d, e, h, i, w);
        k.batchNormBackwardApply(r1, M, C, a, b2, c, d, e, h, i, f);
        k.batchNormBackwardApply(M - r1, M, C, a + o, b2 + o, c, d, e, h, i, b2 + o);
      }, `bn bwd sums + apply ${M}x${C}`);
    }
  });

  it('elementwise losses: every kind, odd sizes, grad given or not (0)', () => {
    let seed = 600;
    for (const [name, code] of Object.entries(Loss)) {
      for (const n of [1, 2, 5, 8, 13, 31, 100]) {
        for (const param of name === 'huber' ? [1, 0.5, 2.5] : name === 'bce' ? [1e-7, 1e-3] : [0]) {
          let p = rand(n, seed++), t = rand(n, seed++);
          if (name === 'bce') {
            p = rand(n, seed++, 0, 1); t = rand(n, seed++, 0, 1);
            for (let i = 0; i < n; i += 4) { p[i] = [0, 1, 1e-9, 0.9999999][(i / 4) % 4]; t[i] = i % 8 ? 1 : 0; }
          }
          if (name === 'hinge') for (let i = 0; i < n; i++) t[i] = [0, 1, -1, 0.5][i % 4];
          if (name === 'mae' || name === 'mse') for (let i = 0; i < n; i += 3) t[i] = p[i];
          if (name === 'bceLogits') for (let i = 0; i < n; i += 3) p[i] = [60, -60, 0][(i / 3) % 3];
          both([p, t, junk(n)], (k, [a, b, g]) => k.lossElementwise(code, n, a, b, g, param, 0), `${name} n=${n} param=${param}`);
          both([p, t, null], (k, [a, b, g]) => k.lossElementwise(code, n, a, b, g, param, 0), `${name} no grad n=${n}`);
        }
      }
    }
  });

  it('hinge margins that round to 0 in f32 (no loss, no gradient, as in the kernel)', () => {
    // 1 - 1.1 * 0.90909088 = 1.4e-8 exactly, but 0 in f32; 1 - 2^-26 rounds to 1 in f32
    both([Float32Array.of(0.9090908765792847, 0.5), Float32Array.of(1.1, 1), junk(2)],
      (k, [a, b, g]) => k.lossElementwise(Loss.hinge, 2, a, b, g, 0, 0), 'hinge f32 margin');
    // row 0: 2^-26 - 1 + 1 is 0 in f32 (no loss); row 1: margin 1.5
    both([Float32Array.of(1, 2 ** -26, 0.5, 0.25), Float32Array.of(1, 0, 0, 0), junk(4)],
      (k, [a, b, g]) => k.categoricalHinge(2, 2, a, b, g, 0), 'categorical hinge f32 margin');
  });

  it('softmax cross-entropy: soft/one-hot and sparse targets, grad given or not', () => {
    let seed = 700;
    for (const [rows, cols] of [[1, 1], [1, 2], [3, 5], [7, 13], [16, 10], [5, 97]]) {
      const n = rows * cols;
      const z = rand(n, seed++, -10, 10);
      if (n > 3) { z[0] = 100; z[1] = -100; }
      const soft = rand(n, seed++, 0, 1);
      const r = rng(seed++);
      const labels = Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
      const onehot = new Float32Array(n);
      labels.forEach((l, i) => { onehot[i * cols + l] = 1; });
      for (const [tgt, sparse] of [[soft, 0], [onehot, 0], [labels, 1]] as const) {
        both([z, tgt, junk(n)], (k, [a, b, g]) => k.softmaxCrossEntropy(rows, cols, a, b, sparse, g, 0), `sce ${rows}x${cols} sparse=${sparse}`);
        both([z, tgt, null], (k, [a, b, g]) => k.softmaxCrossEntropy(rows, cols, a, b, sparse, g, 0), `sce no grad ${rows}x${cols}`);
      }
    }
  });

  it('categorical hinge: one-hot and soft targets, margins on both sides of 0', () => {
    let seed = 800;
    for (const [rows, cols] of [[1, 1], [1, 3], [4, 5], [9, 7], [16, 10], [3, 37]]) {
      const n = rows * cols;
      const p = rand(n, seed++, -2, 2);
      const r = rng(seed++);
      const onehot = new Float32Array(n);
      for (let i = 0; i < rows; i++) {
        const l = Math.floor(r() * cols);
        onehot[i * cols + l] = 1;
        if (i % 3 === 0) p[i * cols + l] = 5; // margin <= 0: no loss, zero gradient
      }
      const soft = rand(n, seed++, 0, 1);
      for (const t of [onehot, soft]) {
        both([p, t, junk(n)], (k, [a, b, g]) => k.categoricalHinge(rows, cols, a, b, g, 0), `cat hinge ${rows}x${cols}`);
        both([p, t, null], (k, [a, b, g]) => k.categoricalHinge(rows, cols, a, b, g, 0), `cat hinge no grad ${rows}x${cols}`);
      }
    }
  });
});
