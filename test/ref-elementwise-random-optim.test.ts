// The reference backend's elementwise, reduction, random and optimizer kernels against the wasm kernels of
// every build: identical inputs written into both heaps, outputs (and the sentinel floats after every buffer)
// compared. Exact where the reference is bit-exact (broadcast binary ops, max/min/argmax, reduceBackward,
// the uniform streams, dropout, rrelu, rprop, clamp, max-norm, the float64 sums); otherwise within
// 1e-5 * max(1, max|want|). Normal draws: wasm's float32 logf/cosf vs Math.log/Math.cos rounded to float32,
// so values within 1e-6 * max(1, |want|) per element, with the generator state after the draws bit-exact.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import { RefMemory } from '../src/backend/ref/memory.js';
import { elementwiseRandomOptimKernels } from '../src/backend/ref/elementwise-random-optim.js';
import { BUILDS, rng } from './helpers.js';

const PAD = 8; // sentinel floats after every buffer: a kernel that writes past its output shows up there
const SENTINEL = 12345.5;
const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 31, 64, 97, 257];

type Buf = { w: number; r: number; n: number };

/** One wasm backend and one reference heap, with buffers allocated and filled identically in both. */
class Pair {
  readonly ref = new RefMemory(256);
  readonly rk = elementwiseRandomOptimKernels(this.ref);
  private top = 64;
  private wptrs: number[] = [];
  constructor(readonly be: WasmBackend) {}
  get wk() { return this.be.kernels; }

  private alloc(n: number): Buf {
    const bytes = (n + PAD) * 4;
    const w = this.be.alloc(bytes);
    this.wptrs.push(w);
    const r = this.top;
    this.top += Math.ceil(bytes / 64) * 64;
    return { w, r, n };
  }
  /** Floats (with the sentinel tail), the same in both heaps. */
  f32(data: ArrayLike<number>): Buf {
    const b = this.alloc(data.length);
    for (const [buf, p] of [[this.be.memory.buffer, b.w], [this.ref.buffer, b.r]] as const) {
      const v = new Float32Array(buf, p, data.length + PAD);
      v.set(data); v.fill(SENTINEL, data.length);
    }
    return b;
  }
  zeros(n: number): Buf { return this.f32(new Float32Array(n)); }
  i32(data: ArrayLike<number>): Buf {
    const b = this.alloc(data.length);
    new Int32Array(this.be.memory.buffer, b.w, data.length).set(data);
    new Int32Array(this.ref.buffer, b.r, data.length).set(data);
    return b;
  }
  /** [wasm, ref] copies of a buffer, sentinel tail included. */
  read(b: Buf): [Float32Array, Float32Array] {
    return [new Float32Array(this.be.memory.buffer, b.w, b.n + PAD).slice(), new Float32Array(this.ref.buffer, b.r, b.n + PAD).slice()];
  }
  readI32(b: Buf): [Int32Array, Int32Array] {
    return [new Int32Array(this.be.memory.buffer, b.w, b.n + PAD).slice(), new Int32Array(this.ref.buffer, b.r, b.n + PAD).slice()];
  }
  readU32(b: Buf, n: number): [Uint32Array, Uint32Array] {
    return [new Uint32Array(this.be.memory.buffer, b.w, n).slice(), new Uint32Array(this.ref.buffer, b.r, n).slice()];
  }
  reset(): void {
    for (const p of this.wptrs) this.be.free(p);
    this.wptrs = [];
    this.top = 64;
  }
}

const bits = new Uint32Array(1), fbits = new Float32Array(bits.buffer);
function f32bits(v: number): number { fbits[0] = v; return bits[0]; }

/** Bit-identical, any NaN matching any NaN. */
function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (f32bits(g) !== f32bits(w)) throw new Error(`${what}: at ${i} got ${g} (0x${f32bits(g).toString(16)}), want ${w} (0x${f32bits(w).toString(16)})`);
  }
}

/** NaN and infinities where wanted; finite values within tol * max(1, max finite |want|) (or per element). */
function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string, perElement = false): void {
  expect(got.length, what).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) throw new Error(`${what}: at ${i} got ${g}, want ${w}`);
      continue;
    }
    const lim = tol * (perElement ? Math.max(Math.abs(w), 1e-30) : scale);
    if (!(Math.abs(g - w) <= lim)) throw new Error(`${what}: at ${i} got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${lim})`);
  }
}

/** The first n floats within tol (as expectNear), the sentinel tail after them bit-identical. */
function expectNearBuf(got: Float32Array, want: Float32Array, n: number, tol: number, what: string, perElement = false): void {
  expectNear(got.subarray(0, n), want.subarray(0, n), tol, what, perElement);
  expectSame(got.subarray(n), want.subarray(n), `${what} (sentinels)`);
}

/** Random floats in [lo, hi) with a fraction `special` of NaN, +-0, +-Infinity and tiny values sprinkled in. */
function data(n: number, seed: number, lo = -1, hi = 1, special = 0): Float32Array {
  const r = rng(seed), out = new Float32Array(n);
  const specials = [NaN, 0, -0, Infinity, -Infinity, 1e-40, -1e-30];
  for (let i = 0; i < n; i++) out[i] = special && r() < special ? specials[Math.floor(r() * specials.length)] : lo + (hi - lo) * r();
  return out;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Element strides of `shape` (right-aligned) seen through the broadcast to `out`: as src/ops/elementwise.ts. */
function stridesIn(shape: readonly number[], out: readonly number[]): number[] {
  const r = out.length, st = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    const d = shape[shape.length - r + i] ?? 1;
    st[i] = d === 1 && out[i] !== 1 ? 0 : s;
    s *= d;
  }
  return st;
}

/** Merge neighbouring axes every operand walks the same way (as src/ops/elementwise.ts). */
function collapse(shape: number[], strides: number[][]): [number[], number[][]] {
  const sh = [shape[0]], st = strides.map((s) => [s[0]]);
  for (let i = 1; i < shape.length; i++) {
    const last = sh.length - 1;
    if (strides.every((s, k) => st[k][last] === s[i] * shape[i])) {
      sh[last] *= shape[i];
      strides.forEach((s, k) => { st[k][last] = s[i]; });
    } else {
      sh.push(shape[i]);
      strides.forEach((s, k) => st[k].push(s[i]));
    }
  }
  return [sh, st];
}

/** A random output shape and two operand shapes that broadcast to it. */
function broadcastCase(r: () => number, rank: number, maxSize = 3000): { out: number[]; a: number[]; b: number[] } {
  const DIMS = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17];
  let out: number[];
  do out = Array.from({ length: rank }, () => DIMS[Math.floor(r() * DIMS.length)]); while (prod(out) > maxSize);
  const operand = () => {
    const drop = Math.floor(r() * rank * 0.5);
    return out.slice(drop).map((d) => (r() < 0.35 ? 1 : d));
  };
  return { out, a: operand(), b: operand() };
}

const NAMES = ['binary', 'sumToShape', 'axpy', 'affine', 'unary', 'countNonFinite', 'reduce', 'argmax', 'reduceBackward',
  'rngSeed', 'rngUniform', 'rngNormal', 'dropoutMask', 'rreluTrain', 'sgdUpdate', 'adagradUpdate', 'adadeltaUpdate',
  'rmspropUpdate', 'adamUpdate', 'nadamUpdate', 'rpropUpdate', 'regularizeGrad', 'penalty', 'sumSquares', 'sumSquaresTo',
  'scaleByNorm', 'clampValues', 'maxNormColumns'] as const;

describe.each(BUILDS)('reference elementwise / reduce / random / optim kernels vs wasm (%s build)', (build) => {
  let p: Pair;
  beforeAll(() => { p = new Pair(WasmBackend.createSync(build)); });
  afterEach(() => p.reset());

  it('implements every kernel with the ABI parameter count', () => {
    const rk = p.rk as unknown as Record<string, (...a: number[]) => unknown>;
    const wk = p.wk as unknown as Record<string, (...a: number[]) => unknown>;
    expect(Object.keys(rk).sort()).toEqual([...NAMES].sort());
    for (const k of NAMES) expect(rk[k].length, k).toBe(wk[k].length);
  });

  it('binary: every op over random broadcasts (collapsed and not, ranks 1..8), NaN/inf/zeros, bit-exact', () => {
    const r = rng(11);
    let seed = 100;
    for (let c = 0; c < 60; c++) {
      const rank = c === 59 ? 8 : 1 + (c % 5);
      const { out, a, b } = broadcastCase(r, rank, rank === 8 ? 800 : 3000);
      const A = data(prod(a), seed++, -2, 2, 0.05), B = data(prod(b), seed++, -2, 2, 0.05);
      for (const collapsed of [false, true]) {
        let sh = out, sa = stridesIn(a, out), sb = stridesIn(b, out);
        if (collapsed) [sh, [sa, sb]] = collapse(out, [sa, sb]);
        for (let op = 0; op < 6; op++) {
          const desc = p.i32([...sh, ...sa, ...sb]), pa = p.f32(A), pb = p.f32(B), po = p.f32(data(prod(out), 7));
          p.wk.binary(op, sh.length, desc.w, pa.w, pb.w, po.w);
          p.rk.binary(op, sh.length, desc.r, pa.r, pb.r, po.r);
          const [w, f] = p.read(po);
          expectSame(f, w, `binary op ${op} out [${out}] a [${a}] b [${b}] collapsed ${collapsed}`);
          p.reset();
        }
      }
    }
  });

  it('sumToShape: reductions over broadcast axes, leading axes, zero-size big, overwriting small', () => {
    const r = rng(12);
    let seed = 200;
    const cases: Array<{ big: number[]; small: number[] }> = [
      { big: [0, 3], small: [3] }, { big: [4, 0], small: [4, 1] }, { big: [1], small: [1] }, { big: [7], small: [1] },
      { big: [3, 5], small: [] }, { big: [2, 3, 4], small: [3, 1] }, { big: [1, 1, 9], small: [9] },
    ];
    for (let c = 0; c < 50; c++) {
      const { out } = broadcastCase(r, 1 + (c % 4));
      cases.push({ big: out, small: out.slice(Math.floor(r() * out.length * 0.5)).map((d) => (r() < 0.5 ? 1 : d)) });
    }
    for (const { big, small } of cases) {
      const full = big.length ? big : [1];
      for (const collapsed of [false, true]) {
        let sh = full, ss = stridesIn(small, full);
        if (collapsed) [sh, [ss]] = collapse(full, [ss]);
        const desc = p.i32([...sh, ...ss]), pb = p.f32(data(prod(big), seed++, -1, 1)), ps = p.f32(data(prod(small), 3, 5, 9));
        p.wk.sumToShape(sh.length, desc.w, pb.w, ps.w, prod(small));
        p.rk.sumToShape(sh.length, desc.r, pb.r, ps.r, prod(small));
        const [w, f] = p.read(ps);
        expectNearBuf(f, w, prod(small), 1e-5, `sumToShape [${big}] -> [${small}] collapsed ${collapsed}`);
        p.reset();
      }
    }
  });

  it('axpy, affine (also in place), unary of every kind, countNonFinite', () => {
    let seed = 300;
    for (const n of SIZES) {
      const x = data(n, seed++, -3, 3, 0.05), y = data(n, seed++, -3, 3, 0.05);
      {
        const px = p.f32(x), py = p.f32(y);
        p.wk.axpy(n, -0.7, px.w, py.w); p.rk.axpy(n, -0.7, px.r, py.r);
        const [w, f] = p.read(py);
        expectNearBuf(f, w, n, 1e-6, `axpy n=${n}`);
      }
      for (const inPlace of [false, true]) {
        const px = p.f32(x), po = inPlace ? px : p.f32(y);
        p.wk.affine(n, px.w, 1.3, -0.25, po.w); p.rk.affine(n, px.r, 1.3, -0.25, po.r);
        const [w, f] = p.read(po);
        expectNearBuf(f, w, n, 1e-6, `affine n=${n} inPlace ${inPlace}`);
      }
      for (let kind = 0; kind < 7; kind++) {
        const xs = kind === 2 ? data(n, seed++, -100, 100, 0.05) : x; // exp: overflow and underflow too
        const px = p.f32(xs), py = p.f32(y);
        p.wk.unary(kind, n, px.w, py.w); p.rk.unary(kind, n, px.r, py.r);
        const [w, f] = p.read(py);
        // exp and log: AssemblyScript's float32 expf/logf against Math.exp/Math.log rounded: 2 ulps
        if (kind === 2 || kind === 3) expectNearBuf(f, w, n, 2 ** -22, `unary ${kind} n=${n}`, true);
        else expectSame(f, w, `unary ${kind} n=${n}`);
      }
      const px = p.f32(x);
      expect(p.rk.countNonFinite(n, px.r), `countNonFinite n=${n}`).toBe(p.wk.countNonFinite(n, px.w));
      p.reset();
    }
  });

  it('reduce, argmax, reduceBackward over [outer, n, inner] views, zero sizes, ties and NaN', () => {
    let seed = 400;
    for (const outer of [0, 1, 3]) for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 13, 33]) for (const inner of [0, 1, 2, 3, 4, 5, 9]) {
      const size = outer * n * inner;
      const x = data(size, seed++, -1, 1);
      const ties = Float32Array.from(data(size, seed++), (v) => Math.round(v * 2) / 2); // many ties and +-0
      const withNaN = data(size, seed++, -1, 1, 0.08);
      for (const [label, xs] of [['random', x], ['ties', ties], ['specials', withNaN]] as const) {
        for (let op = 0; op < 4; op++) {
          if (n === 0 && op >= 2) continue; // callers reject max/min over an empty axis (wasm reads past x)
          const px = p.f32(xs), py = p.f32(data(outer * inner, 9));
          p.wk.reduce(op, outer, n, inner, px.w, py.w); p.rk.reduce(op, outer, n, inner, px.r, py.r);
          const [w, f] = p.read(py);
          const what = `reduce op ${op} ${label} [${outer}, ${n}, ${inner}]`;
          if (op >= 2) expectSame(f, w, what);
          else expectNearBuf(f, w, outer * inner, 1e-5, what);
          const pdy = p.f32(data(outer * inner, seed++)), pdx = p.f32(data(size, 5));
          p.wk.reduceBackward(op, outer, n, inner, px.w, pdy.w, pdx.w); p.rk.reduceBackward(op, outer, n, inner, px.r, pdy.r, pdx.r);
          const [wd, fd] = p.read(pdx);
          expectSame(fd, wd, `reduceBackward op ${op} ${label} [${outer}, ${n}, ${inner}]`);
        }
        const px = p.f32(xs), pi = p.i32(new Int32Array(outer * inner + PAD).fill(-7));
        pi.n = outer * inner;
        p.wk.argmax(outer, n, inner, px.w, pi.w); p.rk.argmax(outer, n, inner, px.r, pi.r);
        const [wi, fi] = p.readI32(pi);
        expect(Array.from(fi), `argmax ${label} [${outer}, ${n}, ${inner}]`).toEqual(Array.from(wi));
        p.reset();
      }
    }
  });

  const SEEDS = [0, 1, 42, 0x5eed, 0x61c88647 /* first splitmix word 0 -> 1 */, 0x7fffffff, 0x80000000, 0xffffffff];

  it('rngSeed gives the same state; rngUniform the same bits and state, call after call', () => {
    for (const seed of SEEDS) {
      const st = p.zeros(4);
      p.wk.rngSeed(st.w, seed); p.rk.rngSeed(st.r, seed);
      const [ws, fs] = p.readU32(st, 4);
      expect(Array.from(fs), `seed ${seed}`).toEqual(Array.from(ws));
      for (const [n, lo, hi] of [[0, 0, 1], [1, 0, 1], [7, -3, 7.5], [1000, 0, 1], [33, 0.1, 0.1], [257, -1e-3, 2e5]]) {
        const po = p.f32(new Float32Array(n));
        p.wk.rngUniform(st.w, n, po.w, lo, hi); p.rk.rngUniform(st.r, n, po.r, lo, hi);
        const [w, f] = p.read(po);
        expectSame(f, w, `rngUniform seed ${seed} n ${n} [${lo}, ${hi})`);
        const [ws2, fs2] = p.readU32(st, 4);
        expect(Array.from(fs2), `state after rngUniform seed ${seed} n ${n}`).toEqual(Array.from(ws2));
      }
      p.reset();
    }
  });

  it('rngNormal (plain and truncated) draws the same stream: values within float32 rounding of log/cos', () => {
    let identical = 0, total = 0;
    for (const seed of SEEDS) {
      const st = p.zeros(4);
      p.wk.rngSeed(st.w, seed); p.rk.rngSeed(st.r, seed);
      for (const [n, mean, std, trunc] of [[0, 0, 1, 0], [1, 0, 1, 1], [2000, 0, 1, 0], [2000, 0, 1, 1], [13, 1.5, 0.3, 0], [97, -2, 4, 1]]) {
        const po = p.f32(new Float32Array(n));
        p.wk.rngNormal(st.w, n, po.w, mean, std, trunc); p.rk.rngNormal(st.r, n, po.r, mean, std, trunc);
        const [w, f] = p.read(po);
        // within float32 rounding of log/cos in z, whose error mean + std z scales by std (mean - 2 + 4 z can cancel)
        for (let i = 0; i < n; i++) {
          const lim = 1e-6 * (Math.abs(mean) + Math.abs(w[i] - mean)) + 1e-30;
          if (!(Math.abs(f[i] - w[i]) <= lim)) throw new Error(`rngNormal seed ${seed} n ${n} mean ${mean} std ${std} truncated ${trunc}: at ${i} got ${f[i]}, want ${w[i]} (|diff| ${Math.abs(f[i] - w[i])} > ${lim})`);
        }
        for (let i = 0; i < n; i++) { total++; if (f32bits(f[i]) === f32bits(w[i])) identical++; }
        if (trunc) for (let i = 0; i < n; i++) expect(Math.abs(f[i] - mean)).toBeLessThanOrEqual(2 * std * (1 + 1e-6));
        const [ws, fs] = p.readU32(st, 4);
        expect(Array.from(fs), `state after rngNormal seed ${seed} n ${n}`).toEqual(Array.from(ws));
      }
      p.reset();
    }
    // Most draws agree to the bit: the float32 steps are mirrored and only logf/cosf round differently (the
    // builds use AssemblyScript's compact logf/cosf at Binaryen shrink level 1: 96.6% identical with these seeds)
    expect(identical / total).toBeGreaterThan(0.95);
  });

  it('dropoutMask and rreluTrain: the same bits and state', () => {
    let seed = 500;
    for (const s of SEEDS.slice(0, 4)) {
      const st = p.zeros(4);
      p.wk.rngSeed(st.w, s); p.rk.rngSeed(st.r, s);
      for (const n of SIZES) {
        for (const rate of [0, 0.1, 0.5, 0.9, 0.999]) {
          const pm = p.f32(data(n, 3));
          p.wk.dropoutMask(st.w, n, pm.w, rate); p.rk.dropoutMask(st.r, n, pm.r, rate);
          const [w, f] = p.read(pm);
          expectSame(f, w, `dropoutMask n ${n} rate ${rate}`);
        }
        for (const [lower, upper] of [[1 / 8, 1 / 3], [0.2, 0.2], [-0.5, 0.7]]) {
          const px = p.f32(data(n, seed++, -2, 2, 0.1)), py = p.f32(data(n, 3)), ps = p.f32(data(n, 4));
          p.wk.rreluTrain(n, px.w, py.w, ps.w, lower, upper, st.w); p.rk.rreluTrain(n, px.r, py.r, ps.r, lower, upper, st.r);
          expectSame(p.read(py)[1], p.read(py)[0], `rreluTrain y n ${n}`);
          expectSame(p.read(ps)[1], p.read(ps)[0], `rreluTrain slopes n ${n}`);
        }
        const [ws, fs] = p.readU32(st, 4);
        expect(Array.from(fs), `state after n ${n}`).toEqual(Array.from(ws));
      }
      p.reset();
    }
  });

  /** Run an update on identical inputs in both heaps; compare every buffer (float kernels within tol, else exact). */
  function update(label: string, arrays: Float32Array[], run: (k: typeof p.rk | typeof p.wk, ptrs: number[]) => unknown, tol: number | 'exact'): void {
    const bufs = arrays.map((a) => p.f32(a));
    const rw = run(p.wk, bufs.map((b) => b.w)), rf = run(p.rk, bufs.map((b) => b.r));
    if (typeof rw === 'number') expect(rf, `${label} return`).toBe(rw);
    bufs.forEach((b, i) => {
      const [w, f] = p.read(b);
      if (tol === 'exact') expectSame(f, w, `${label} array ${i}`);
      else expectNearBuf(f, w, b.n, tol, `${label} array ${i}`);
    });
    p.reset();
  }

  it('optimizer updates: sgd (momentum, nesterov), adagrad, adadelta, rmsprop, adam, nadam', () => {
    let seed = 600;
    for (const n of SIZES) {
      const w = () => data(n, seed++, -1, 1), g = () => data(n, seed++, -0.5, 0.5), pos = () => data(n, seed++, 0, 0.1);
      update(`sgd n ${n}`, [w(), g(), data(n, 1)], (k, [W, G, V]) => k.sgdUpdate(n, W, G, V, 0.01, 0, 0), 1e-6);
      update(`sgd n ${n} (v pointer 0)`, [w(), g()], (k, [W, G]) => k.sgdUpdate(n, W, G, 0, 0.01, 0, 1), 1e-6);
      for (const nesterov of [0, 1]) {
        update(`sgd momentum n ${n} nesterov ${nesterov}`, [w(), g(), g()], (k, [W, G, V]) => k.sgdUpdate(n, W, G, V, 0.05, 0.9, nesterov), 1e-6);
      }
      update(`adagrad n ${n}`, [w(), g(), pos()], (k, [W, G, A]) => k.adagradUpdate(n, W, G, A, 0.01, 1e-7), 1e-6);
      update(`adadelta n ${n}`, [w(), g(), pos(), pos()], (k, [W, G, EG, ED]) => k.adadeltaUpdate(n, W, G, EG, ED, 1, 0.95, 1e-6), 1e-6);
      for (const momentum of [0, 0.9]) {
        update(`rmsprop n ${n} momentum ${momentum}`, [w(), g(), pos(), g()], (k, [W, G, S, V]) => k.rmspropUpdate(n, W, G, S, V, 0.01, 0.9, momentum, 1e-7), 1e-6);
      }
      for (const t of [1, 2, 10, 1000]) {
        update(`adam n ${n} t ${t}`, [w(), g(), g(), pos()], (k, [W, G, M, V]) => k.adamUpdate(n, W, G, M, V, 0.01, 0.9, 0.999, 1e-7, t), 1e-6);
        update(`nadam n ${n} t ${t}`, [w(), g(), g(), pos()], (k, [W, G, M, V]) => k.nadamUpdate(n, W, G, M, V, 0.01, 0.9, 0.999, 1e-7, t), 1e-6);
      }
    }
  });

  it('rprop, regularizeGrad, penalty, sumSquares, clampValues, maxNormColumns', () => {
    let seed = 700;
    for (const n of SIZES) {
      // signs of g * prev: positive, negative, zero, and products that underflow float32 (count as zero)
      const signy = () => Float32Array.from(data(n, seed++), (v) => (v < -0.6 ? -1e-25 : v < -0.2 ? -0.3 : v < 0.2 ? 0 : v < 0.6 ? 0.4 : 1e-25));
      update(`rprop n ${n}`, [data(n, seed++), signy(), signy(), data(n, seed++, 1e-6, 1)],
        (k, [W, G, P, S]) => k.rpropUpdate(n, W, G, P, S, 0.5, 1.2, 1e-3, 0.8), 'exact');
      const ws = data(n, seed++, -2, 2, 0.1);
      update(`regularizeGrad n ${n}`, [ws, data(n, seed++)], (k, [W, G]) => k.regularizeGrad(n, W, G, 0.01, 0.003), 1e-6);
      update(`penalty n ${n}`, [data(n, seed++, -2, 2)], (k, [W]) => k.penalty(n, W, 0.01, 0.003), 'exact');
      update(`sumSquares n ${n}`, [data(n, seed++, -2, 2)], (k, [X]) => k.sumSquares(n, X), 'exact');
      // the norm kept in memory (clipNorm on a GPU): accumulated, then each gradient scaled where it exceeds the clip
      update(`sumSquaresTo + scaleByNorm n ${n}`, [data(n, seed++, -2, 2), Float32Array.of(0.75)], (k, [X, A]) => {
        k.sumSquaresTo(n, X, A);
        k.scaleByNorm(n, X, A, 1.5);
      }, 1e-6);
      update(`clampValues n ${n}`, [data(n, seed++, -2, 2, 0.1)], (k, [X]) => k.clampValues(n, X, -0.5, 0.7), 'exact');
      update(`clampValues lo > hi n ${n}`, [data(n, seed++, -2, 2, 0.1)], (k, [X]) => k.clampValues(n, X, 0.5, -0.5), 'exact');
    }
    for (const rows of [0, 1, 2, 3, 5, 8, 17]) for (const cols of [0, 1, 3, 4, 7, 9]) for (const c of [0.5, 1.5, 100]) {
      update(`maxNormColumns ${rows}x${cols} c ${c}`, [data(rows * cols, seed++, -1, 1)], (k, [W]) => k.maxNormColumns(rows, cols, W, c), 'exact');
    }
  });
});
