// The reference backend's elementwise, reduction, random-number and optimizer kernels: plain loops that
// compute what assembly/elementwise.ts, reduce.ts, random.ts, act.ts (rreluTrain) and optim.ts compute,
// with float64 arithmetic rounded once to float32 where the result is stored. The xoshiro128** generator
// (splitmix32 seeding, 16 bytes of state at `rng`) is reproduced bit-exactly, so both backends draw one stream.
import type { Kernels } from '../kernels.js';
import { Bin, Red, Un } from '../kernels.js';
import { type HeapMemory, f32, i32, u32 } from './memory.js';

type ElementwiseRandomOptimKernels = Pick<Kernels, 'binary' | 'sumToShape' | 'axpy' | 'affine' | 'unary' | 'countNonFinite'
  | 'reduce' | 'argmax' | 'reduceBackward' | 'rngSeed' | 'rngUniform' | 'rngNormal' | 'dropoutMask' | 'rreluTrain'
  | 'sgdUpdate' | 'adagradUpdate' | 'adadeltaUpdate' | 'rmspropUpdate' | 'adamUpdate' | 'nadamUpdate' | 'rpropUpdate'
  | 'regularizeGrad' | 'penalty' | 'sumSquares' | 'sumSquaresTo' | 'scaleByNorm' | 'clampValues' | 'maxNormColumns'>;

// wasm receives f32 parameters rounded to float32 and i32 parameters wrapped to 32 bits: do the same.
const fr = Math.fround;
const int = (v: number): number => v | 0;

// ---- xoshiro128** (Blackman & Vigna 2018), seeded through splitmix32, as assembly/random.ts ----

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** The next 32 random bits; advances the four state words s[0..4). */
function nextU32(s: Uint32Array): number {
  const s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
  const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
  const t = (s1 << 9) >>> 0;
  let n2 = (s2 ^ s0) >>> 0, n3 = (s3 ^ s1) >>> 0;
  const n1 = (s1 ^ n2) >>> 0, n0 = (s0 ^ n3) >>> 0;
  n2 = (n2 ^ t) >>> 0;
  n3 = rotl(n3, 11);
  s[0] = n0; s[1] = n1; s[2] = n2; s[3] = n3;
  return result;
}

/** Uniform in [0, 1): the top 24 bits times 2^-24 (exact in float32). */
const nextUniform = (s: Uint32Array): number => (nextU32(s) >>> 8) * 2 ** -24;

const TWO_PI_F32 = fr(2 * Math.PI);

/**
 * Standard normal by Box-Muller, one of the pair, with wasm's float32 steps. The one difference: wasm uses
 * AssemblyScript's float32 logf/cosf, here float64 Math.log/Math.cos rounded to float32 (within an ulp or so).
 */
function nextNormal(s: Uint32Array): number {
  let u1 = nextUniform(s);
  while (u1 <= 0) u1 = nextUniform(s);
  const u2 = nextUniform(s);
  const r = fr(Math.sqrt(fr(-2 * fr(Math.log(u1)))));
  return fr(r * fr(Math.cos(fr(TWO_PI_F32 * u2))));
}

/** max/min of float32 values as wasm's f32.max/f32.min (NaN propagates, max(-0, +0) = +0): Math.max/min. */
const binOp = (op: number, a: number, b: number): number => {
  switch (op) {
    case Bin.add: return a + b;
    case Bin.sub: return a - b;
    case Bin.mul: return a * b;
    case Bin.div: return a / b;
    case Bin.max: return Math.max(a, b);
    case Bin.pow: return Math.fround(Math.pow(a, b));
    default: return Math.min(a, b);
  }
};

/**
 * The offsets, per row of the innermost axis, of an odometer over axes 0..rank-2 of `shape` with `strides`:
 * row r (row-major over the outer axes) starts at offsets[r] elements.
 */
function rowOffsets(shape: Int32Array, strides: Int32Array): number[] {
  const rank = shape.length;
  let outer = 1;
  for (let d = 0; d < rank - 1; d++) outer *= shape[d];
  const offs = new Array<number>(outer);
  for (let r = 0; r < outer; r++) {
    let rem = r, off = 0;
    for (let d = rank - 2; d >= 0; d--) {
      off += (rem % shape[d]) * strides[d];
      rem = Math.floor(rem / shape[d]);
    }
    offs[r] = off;
  }
  return offs;
}

export function elementwiseRandomOptimKernels(mem: HeapMemory): ElementwiseRandomOptimKernels {
  return {
    // ---- elementwise.ts ----

    /** out (contiguous, desc's shape) = a op b; desc = [shape[rank], aStrides[rank], bStrides[rank]], 0 on broadcast axes. */
    binary(op: number, rank: number, desc: number, a: number, b: number, out: number): void {
      rank = int(rank);
      const d = i32(mem, desc, 3 * rank);
      const shape = d.subarray(0, rank), sa = d.subarray(rank, 2 * rank), sb = d.subarray(2 * rank, 3 * rank);
      const L = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
      const offA = rowOffsets(shape, sa), offB = rowOffsets(shape, sb);
      const outer = offA.length;
      // extents of the inputs (the last element each reads, plus one)
      let spanA = 1, spanB = 1;
      for (let k = 0; k < rank; k++) { spanA += (shape[k] - 1) * sa[k]; spanB += (shape[k] - 1) * sb[k]; }
      if (outer * L === 0) return;
      const A = f32(mem, a, spanA), B = f32(mem, b, spanB), Y = f32(mem, out, outer * L);
      for (let r = 0; r < outer; r++) {
        for (let i = 0; i < L; i++) Y[r * L + i] = binOp(op, A[offA[r] + i * ia], B[offB[r] + i * ib]);
      }
    },

    /** small (smallSize floats, overwritten) = big summed over the broadcast axes; desc = [bigShape[rank], smallStrides[rank]]. */
    sumToShape(rank: number, desc: number, big: number, small: number, smallSize: number): void {
      rank = int(rank); smallSize = int(smallSize);
      const d = i32(mem, desc, 2 * rank);
      const shape = d.subarray(0, rank), ss = d.subarray(rank, 2 * rank);
      const L = shape[rank - 1], is = ss[rank - 1];
      const offs = rowOffsets(shape, ss);
      const acc = new Float64Array(smallSize);
      const X = f32(mem, big, offs.length * L);
      for (let r = 0; r < offs.length; r++) {
        for (let i = 0; i < L; i++) acc[offs[r] + i * is] += X[r * L + i];
      }
      f32(mem, small, smallSize).set(acc);
    },

    /** y += alpha * x. */
    axpy(n: number, alpha: number, x: number, y: number): void {
      n = int(n); alpha = fr(alpha);
      const X = f32(mem, x, n), Y = f32(mem, y, n);
      for (let i = 0; i < n; i++) Y[i] = Y[i] + alpha * X[i];
    },

    /** out = x * scale + shift (out may be x). */
    affine(n: number, x: number, scale: number, shift: number, out: number): void {
      n = int(n); scale = fr(scale); shift = fr(shift);
      const X = f32(mem, x, n), Y = f32(mem, out, n);
      for (let i = 0; i < n; i++) Y[i] = X[i] * scale + shift;
    },

    unary(kind: number, n: number, x: number, y: number): void {
      n = int(n);
      const X = f32(mem, x, n), Y = f32(mem, y, n);
      for (let i = 0; i < n; i++) {
        const v = X[i];
        switch (kind) {
          case Un.neg: Y[i] = -v; break;
          case Un.abs: Y[i] = Math.abs(v); break;
          case Un.exp: Y[i] = Math.exp(v); break;
          case Un.log: Y[i] = Math.log(v); break;
          case Un.sqrt: Y[i] = Math.sqrt(v); break;
          case Un.square: Y[i] = v * v; break;
          default: Y[i] = 1 / v; // reciprocal, and any other code, as wasm
        }
      }
    },

    countNonFinite(n: number, x: number): number {
      n = int(n);
      const X = f32(mem, x, n);
      let c = 0;
      for (let i = 0; i < n; i++) if (!Number.isFinite(X[i])) c++;
      return c;
    },

    // ---- reduce.ts: the middle axis of an [outer, n, inner] view ----

    /** out[outer, inner] = sum / mean / max / min over n of x[outer, n, inner]. */
    reduce(op: number, outer: number, n: number, inner: number, x: number, out: number): void {
      outer = int(outer); n = int(n); inner = int(inner);
      const isExt = op === Red.max || op === Red.min;
      const Y = f32(mem, out, outer * inner);
      if (isExt && n === 0) {
        // callers reject an empty max/min; wasm then copies the first `inner` floats at x (past x's extent)
        const X0 = f32(mem, x, inner);
        for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) Y[o * inner + j] = X0[j];
        return;
      }
      const X = f32(mem, x, outer * n * inner);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const at = (i: number) => X[(o * n + i) * inner + j];
          let s: number;
          if (isExt) {
            s = at(0);
            for (let i = 1; i < n; i++) s = op === Red.max ? Math.max(s, at(i)) : Math.min(s, at(i));
          } else {
            s = 0;
            for (let i = 0; i < n; i++) s += at(i);
            if (op === Red.mean) s /= n; // n = 0: 0/0 = NaN, as wasm
          }
          Y[o * inner + j] = s;
        }
      }
    },

    /** out[outer, inner] (i32) = the index along n of the first maximum (NaN never wins; 0 when n = 0). */
    argmax(outer: number, n: number, inner: number, x: number, out: number): void {
      outer = int(outer); n = int(n); inner = int(inner);
      const X = f32(mem, x, outer * n * inner), Y = i32(mem, out, outer * inner);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          let arg = 0;
          if (n > 0) {
            let m = X[o * n * inner + j];
            for (let i = 1; i < n; i++) {
              const v = X[(o * n + i) * inner + j];
              if (v > m) { m = v; arg = i; }
            }
          }
          Y[o * inner + j] = arg;
        }
      }
    },

    /** dx[outer, n, inner] (fully written): sum broadcasts dy, mean dy * f32(1/n), max/min route dy to the first extremum. */
    reduceBackward(op: number, outer: number, n: number, inner: number, x: number, dy: number, dx: number): void {
      outer = int(outer); n = int(n); inner = int(inner);
      const X = f32(mem, x, outer * n * inner), G = f32(mem, dy, outer * inner), D = f32(mem, dx, outer * n * inner);
      const scale = op === Red.mean ? fr(1 / n) : 1;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const g = G[o * inner + j];
          const idx = (i: number) => (o * n + i) * inner + j;
          if (op === Red.max || op === Red.min) {
            let arg = 0;
            if (n > 0) {
              let m = X[idx(0)];
              for (let i = 1; i < n; i++) {
                const v = X[idx(i)];
                if (op === Red.max ? v > m : v < m) { m = v; arg = i; }
              }
            }
            for (let i = 0; i < n; i++) D[idx(i)] = i === arg ? g : 0;
          } else {
            const v = fr(g * scale);
            for (let i = 0; i < n; i++) D[idx(i)] = v;
          }
        }
      }
    },

    // ---- random.ts ----

    /** splitmix32 from `seed` (as u32) fills the four state words; an all-zero first word becomes 1. */
    rngSeed(rng: number, seed: number): void {
      const s = u32(mem, rng, 4);
      let z = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        z = (z + 0x9e3779b9) >>> 0;
        let t = z;
        t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
        t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
        t = (t ^ (t >>> 16)) >>> 0;
        s[i] = t === 0 && i === 0 ? 1 : t;
      }
    },

    /** out = lo + (hi - lo) * u, in float32 steps (bit-exact with wasm). */
    rngUniform(rng: number, n: number, out: number, lo: number, hi: number): void {
      n = int(n); lo = fr(lo); hi = fr(hi);
      const s = u32(mem, rng, 4), Y = f32(mem, out, n);
      const w = fr(hi - lo);
      for (let i = 0; i < n; i++) Y[i] = lo + fr(w * nextUniform(s));
    },

    /** Normal(mean, std); truncated != 0 redraws samples with |z| > 2. */
    rngNormal(rng: number, n: number, out: number, mean: number, std: number, truncated: number): void {
      n = int(n); mean = fr(mean); std = fr(std);
      const s = u32(mem, rng, 4), Y = f32(mem, out, n);
      for (let i = 0; i < n; i++) {
        let z = nextNormal(s);
        if (int(truncated) !== 0) while (Math.abs(z) > 2) z = nextNormal(s);
        Y[i] = mean + fr(std * z);
      }
    },

    /** mask = 0 where u < rate, else f32(1 / f32(1 - rate)). */
    dropoutMask(rng: number, n: number, mask: number, rate: number): void {
      n = int(n); rate = fr(rate);
      const s = u32(mem, rng, 4), M = f32(mem, mask, n);
      const keep = fr(1 / fr(1 - rate));
      for (let i = 0; i < n; i++) M[i] = nextUniform(s) < rate ? 0 : keep;
    },

    // ---- act.ts ----

    /** Randomized leaky ReLU (training): slope uniform in [lower, upper) drawn only where x < 0, else 1; y = x * slope. */
    rreluTrain(n: number, x: number, y: number, slopes: number, lower: number, upper: number, rng: number): void {
      n = int(n); lower = fr(lower); upper = fr(upper);
      const s = u32(mem, rng, 4), X = f32(mem, x, n), Y = f32(mem, y, n), S = f32(mem, slopes, n);
      const w = fr(upper - lower);
      for (let i = 0; i < n; i++) {
        const v = X[i];
        const sl = v < 0 ? fr(lower + fr(w * nextUniform(s))) : 1;
        S[i] = sl;
        Y[i] = v * sl;
      }
    },

    // ---- optim.ts: Keras formulas, state arrays updated in place ----

    /** v = m v - lr g; w += v (Nesterov: w += m v - lr g). momentum == 0: w -= lr g, v untouched. */
    sgdUpdate(n: number, w: number, g: number, v: number, lr: number, momentum: number, nesterov: number): void {
      n = int(n); lr = fr(lr); momentum = fr(momentum);
      const W = f32(mem, w, n), G = f32(mem, g, n);
      if (momentum === 0) {
        for (let i = 0; i < n; i++) W[i] = W[i] - lr * G[i];
        return;
      }
      const V = f32(mem, v, n);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        V[i] = momentum * V[i] - lr * gi;
        const vi = V[i];
        W[i] = W[i] + (int(nesterov) !== 0 ? momentum * vi - lr * gi : vi);
      }
    },

    /** a += g^2; w -= lr g / (sqrt(a) + eps). */
    adagradUpdate(n: number, w: number, g: number, a: number, lr: number, eps: number): void {
      n = int(n); lr = fr(lr); eps = fr(eps);
      const W = f32(mem, w, n), G = f32(mem, g, n), A = f32(mem, a, n);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        A[i] = A[i] + gi * gi;
        W[i] = W[i] - lr * gi / (Math.sqrt(A[i]) + eps);
      }
    },

    /** Eg = rho Eg + (1 - rho) g^2; d = sqrt(Ed + eps) / sqrt(Eg + eps) g; Ed = rho Ed + (1 - rho) d^2; w -= lr d. */
    adadeltaUpdate(n: number, w: number, g: number, eg: number, ed: number, lr: number, rho: number, eps: number): void {
      n = int(n); lr = fr(lr); rho = fr(rho); eps = fr(eps);
      const W = f32(mem, w, n), G = f32(mem, g, n), EG = f32(mem, eg, n), ED = f32(mem, ed, n);
      const c = fr(1 - rho);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        EG[i] = rho * EG[i] + c * gi * gi;
        const d = Math.sqrt(ED[i] + eps) / Math.sqrt(EG[i] + eps) * gi;
        ED[i] = rho * ED[i] + c * d * d;
        W[i] = W[i] - lr * d;
      }
    },

    /** s = rho s + (1 - rho) g^2; step = lr g / (sqrt(s) + eps); with momentum v = m v + step, w -= v; else w -= step. */
    rmspropUpdate(n: number, w: number, g: number, s: number, v: number, lr: number, rho: number, momentum: number, eps: number): void {
      n = int(n); lr = fr(lr); rho = fr(rho); momentum = fr(momentum); eps = fr(eps);
      const W = f32(mem, w, n), G = f32(mem, g, n), S = f32(mem, s, n);
      const V = momentum !== 0 ? f32(mem, v, n) : undefined;
      const c = fr(1 - rho);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        S[i] = rho * S[i] + c * gi * gi;
        const step = lr * gi / (Math.sqrt(S[i]) + eps);
        if (V) {
          V[i] = momentum * V[i] + step;
          W[i] = W[i] - V[i];
        } else {
          W[i] = W[i] - step;
        }
      }
    },

    /** Adam with the bias correction folded into lr_t = f32(lr sqrt(1 - b2^t) / (1 - b1^t)) (computed in float64). */
    adamUpdate(n: number, w: number, g: number, m: number, v: number, lr: number, b1: number, b2: number, eps: number, t: number): void {
      n = int(n); lr = fr(lr); b1 = fr(b1); b2 = fr(b2); eps = fr(eps); t = int(t);
      const W = f32(mem, w, n), G = f32(mem, g, n), M = f32(mem, m, n), V = f32(mem, v, n);
      const lrT = fr(lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t)));
      const c1 = fr(1 - b1), c2 = fr(1 - b2);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        M[i] = b1 * M[i] + c1 * gi;
        V[i] = b2 * V[i] + c2 * gi * gi;
        W[i] = W[i] - lrT * M[i] / (Math.sqrt(V[i]) + eps);
      }
    },

    /** Nadam: m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t); w -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps), corrections as f32. */
    nadamUpdate(n: number, w: number, g: number, m: number, v: number, lr: number, b1: number, b2: number, eps: number, t: number): void {
      n = int(n); lr = fr(lr); b1 = fr(b1); b2 = fr(b2); eps = fr(eps); t = int(t);
      const W = f32(mem, w, n), G = f32(mem, g, n), M = f32(mem, m, n), V = f32(mem, v, n);
      const k1 = fr(1 - Math.pow(b1, t)), k1n = fr(1 - Math.pow(b1, t + 1)), k2 = fr(1 - Math.pow(b2, t));
      const c1 = fr(1 - b1), c2 = fr(1 - b2);
      for (let i = 0; i < n; i++) {
        const gi = G[i];
        M[i] = b1 * M[i] + c1 * gi;
        V[i] = b2 * V[i] + c2 * gi * gi;
        const mh = b1 * M[i] / k1n + c1 * gi / k1;
        W[i] = W[i] - lr * mh / (Math.sqrt(V[i] / k2) + eps);
      }
    },

    /**
     * iRprop-: step grows by etaPlus (capped at stepMax) while g * prev > 0, shrinks by etaMinus (floored at
     * stepMin) when < 0, and then g counts as 0 (no move, stored as prev); w -= sign(g) step. Bit-exact.
     */
    rpropUpdate(n: number, w: number, g: number, prev: number, step: number, etaMinus: number, etaPlus: number, stepMin: number, stepMax: number): void {
      n = int(n); etaMinus = fr(etaMinus); etaPlus = fr(etaPlus); stepMin = fr(stepMin); stepMax = fr(stepMax);
      const W = f32(mem, w, n), G = f32(mem, g, n), P = f32(mem, prev, n), S = f32(mem, step, n);
      for (let i = 0; i < n; i++) {
        let gi = G[i];
        // the float32 product, as wasm: a product that underflows to 0 counts as "no sign information"
        const s = fr(gi * P[i]);
        let st = S[i];
        if (s > 0) st = Math.min(fr(st * etaPlus), stepMax);
        else if (s < 0) { st = Math.max(fr(st * etaMinus), stepMin); gi = 0; }
        S[i] = st;
        P[i] = gi;
        if (gi > 0) W[i] = W[i] - st;
        else if (gi < 0) W[i] = W[i] + st;
      }
    },

    /** g += l1 sign(w) + 2 l2 w (sign(0) = 0, sign(NaN) = 0). */
    regularizeGrad(n: number, w: number, g: number, l1: number, l2: number): void {
      n = int(n); l1 = fr(l1); l2 = fr(l2);
      const W = f32(mem, w, n), G = f32(mem, g, n);
      for (let i = 0; i < n; i++) {
        const wi = W[i];
        const sgn = wi > 0 ? 1 : wi < 0 ? -1 : 0;
        G[i] = G[i] + l1 * sgn + 2 * l2 * wi;
      }
    },

    /** l1 sum|w| + l2 sum w^2 in float64 (same order as wasm: bit-exact). */
    penalty(n: number, w: number, l1: number, l2: number): number {
      n = int(n); l1 = fr(l1); l2 = fr(l2);
      const W = f32(mem, w, n);
      let s = 0;
      for (let i = 0; i < n; i++) { const wi = W[i]; s += l1 * Math.abs(wi) + l2 * wi * wi; }
      return s;
    },

    /** sum x^2 in float64 (bit-exact). */
    sumSquares(n: number, x: number): number {
      n = int(n);
      const X = f32(mem, x, n);
      let s = 0;
      for (let i = 0; i < n; i++) s += X[i] * X[i];
      return s;
    },

    /** x = min(max(x, lo), hi) in place (NaN stays NaN; lo > hi gives hi). */
    /** acc += sum x^2 (f32 storage, float64 sum). */
    sumSquaresTo(n: number, x: number, acc: number): void {
      n = int(n);
      const X = f32(mem, x, n), A = f32(mem, acc, 1);
      let s = 0;
      for (let i = 0; i < n; i++) s += X[i] * X[i];
      A[0] = A[0] + s;
    },

    /** x *= f32(clip / f32(sqrt(acc))) where the norm exceeds clip. */
    scaleByNorm(n: number, x: number, acc: number, clip: number): void {
      n = int(n); clip = fr(clip);
      const norm = fr(Math.sqrt(f32(mem, acc, 1)[0]));
      if (!(norm > clip)) return;
      const k = fr(clip / norm), X = f32(mem, x, n);
      for (let i = 0; i < n; i++) X[i] = X[i] * k;
    },

    clampValues(n: number, x: number, lo: number, hi: number): void {
      n = int(n); lo = fr(lo); hi = fr(hi);
      const X = f32(mem, x, n);
      for (let i = 0; i < n; i++) X[i] = Math.min(Math.max(X[i], lo), hi);
    },

    /** Every column of w [rows, cols] whose L2 norm (float64, rounded to f32) exceeds c is scaled by f32(c / norm). */
    maxNormColumns(rows: number, cols: number, w: number, c: number): void {
      rows = int(rows); cols = int(cols); c = fr(c);
      const W = f32(mem, w, rows * cols);
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let i = 0; i < rows; i++) s += W[i * cols + j] * W[i * cols + j];
        const norm = fr(Math.sqrt(s));
        if (norm > c) {
          const k = fr(c / norm);
          for (let i = 0; i < rows; i++) W[i * cols + j] = W[i * cols + j] * k;
        }
      }
    },
  };
}
