// Reference (oracle) kernels for activations, batch normalization and losses: plain TypeScript loops with
// float64 arithmetic that reproduce the contracts of assembly/act.ts, assembly/norm.ts and assembly/loss.ts
// (which outputs are written, which pointers may be 0, return values). Scalar f32 parameters are rounded to
// float32 first, as the wasm ABI does; a few f32 roundings that decide branches or clip bounds are kept.
import type { Kernels } from '../kernels.js';
import { type HeapMemory, f32, i32, u32 } from './memory.js';

type ActNormLossKernels = Pick<Kernels,
  'actForward' | 'actBackward' | 'actMask' | 'actMaskedBackward' | 'softmaxForward' | 'softmaxBackward' | 'maxoutForward' | 'maxoutBackward' |
  'preluForward' | 'preluBackward' | 'batchNormTrain' | 'batchNormInfer' | 'batchNormBackward' | 'batchNormBackwardSums' | 'batchNormBackwardApply' |
  'lossElementwise' | 'softmaxCrossEntropy' | 'categoricalHinge'>;

const fr = Math.fround;

// Activation codes (assembly/common.ts; Act in ../kernels.ts).
const LINEAR = 0, RELU = 1, RELU6 = 2, LEAKY_RELU = 3, ELU = 4, SELU = 5, SIGMOID = 6, TANH = 7, SOFTPLUS = 8,
  GELU = 9, STEP = 10, SIGN = 11, HARD_SIGMOID = 12;
// Loss codes (assembly/loss.ts; Loss in ../kernels.ts). Any other code is the binary hinge, as in wasm.
const MSE = 0, MAE = 1, HUBER = 2, BCE = 3, BCE_LOGITS = 4;

// SELU constants (Klambauer et al. 2017), as the f32 values the kernels use.
const SELU_ALPHA = fr(1.6732632423543772);
const SELU_SCALE = fr(1.0507009873554805);
const INV_SQRT2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;

/** Stable logistic function. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** erf(x), W. J. Cody's rational approximations (~1e-7 absolute), the same formula the kernels use. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.46875) {
    const t = x * x;
    const p = 3.20937758913846947e03 + t * (3.77485237685302021e02 + t * (1.13864154151050156e02 + t * (3.16112374387056560e00 + t * 1.85777706184603153e-1)));
    const q = 2.84423683343917062e03 + t * (1.28261652607737228e03 + t * (2.44024637934444173e02 + t * (2.36012909523441209e01 + t)));
    return x * p / q;
  }
  let r = 1;
  if (ax < 4) {
    const p = 1.23033935479799725e03 + ax * (2.05107837782607147e03 + ax * (1.71204761263407058e03 + ax * (8.81952221241769090e02 + ax * (2.98635138197400131e02 + ax * (6.61191906371416295e01 + ax * (8.88314979438837594e00 + ax * (5.64188496988670089e-1 + ax * 2.15311535474403846e-8)))))));
    const q = 1.23033935480374942e03 + ax * (3.43936767414372164e03 + ax * (4.36261909014324716e03 + ax * (3.29079923573345963e03 + ax * (1.62138957456669019e03 + ax * (5.37181101862009858e02 + ax * (1.17693950891312499e02 + ax * (1.57449261107098347e01 + ax)))))));
    r = 1 - Math.exp(-ax * ax) * p / q;
  }
  return x < 0 ? -r : r;
}

/** f(x) for any activation code (the conv epilogue applies them all too); p: the leaky-ReLU slope or the ELU alpha. */
export function act(kind: number, x: number, p: number): number {
  switch (kind) {
    case LINEAR: return x;
    case RELU: return Math.max(x, 0);
    case RELU6: return Math.min(Math.max(x, 0), 6);
    case LEAKY_RELU: return x >= 0 ? x : p * x;
    case ELU: return x >= 0 ? x : p * (Math.exp(x) - 1);
    case SELU: return SELU_SCALE * (x >= 0 ? x : SELU_ALPHA * (Math.exp(x) - 1));
    case SIGMOID: return sigmoid(x);
    case TANH: return Math.tanh(x);
    case SOFTPLUS: return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    case GELU: return 0.5 * x * (1 + erf(x * INV_SQRT2)); // exact GELU, x Phi(x)
    case STEP: return x > 0 ? 1 : 0;
    case SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case HARD_SIGMOID: return Math.min(Math.max(fr(0.2) * x + 0.5, 0), 1);
    default: throw new RangeError(`edgegrad: unknown activation code ${kind}`);
  }
}

/**
 * f'(x) from x and/or y = f(x): relu, relu6, leaky, softplus, gelu read x; sigmoid, tanh read y; elu and selu
 * read x for the branch and y for the negative side. A missing input (pointer 0) reads as 0.
 */
function actGrad(kind: number, x: number, y: number, p: number): number {
  switch (kind) {
    case LINEAR: return 1;
    case RELU: return x > 0 ? 1 : 0;
    case RELU6: return x > 0 && x < 6 ? 1 : 0;
    case LEAKY_RELU: return x >= 0 ? 1 : p;
    case ELU: return x >= 0 ? 1 : y + p;
    case SELU: return x >= 0 ? SELU_SCALE : y + SELU_SCALE * SELU_ALPHA;
    case SIGMOID: return y * (1 - y);
    case TANH: return 1 - y * y;
    case SOFTPLUS: return sigmoid(x);
    case GELU: return 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case STEP: return 0;
    case SIGN: return 0;
    case HARD_SIGMOID: return x > -2.5 && x < 2.5 ? fr(0.2) : 0;
    default: throw new RangeError(`edgegrad: unknown activation code ${kind}`);
  }
}

/** The mean, stored as f32 at `out` when it is not 0 (assembly/loss.ts `mean`). */
function storeMean(v: number, out: number, mem?: HeapMemory): number {
  if (out && mem) f32(mem, out, 1)[0] = v;
  return v;
}

/** Sizes are converted to i32 (`|= 0`) on entry, as the wasm ABI does with its i32 parameters. */
export function actNormLossKernels(mem: HeapMemory): ActNormLossKernels {
  const F = (p: number, n: number): Float32Array => f32(mem, p, n);

  return {
    // ---- act.ts ----

    /** y = f(x); y may alias x. */
    actForward(kind, n, x, y, p) {
      n |= 0;
      const pf = fr(p);
      const xs = F(x, n).slice(), ys = F(y, n);
      for (let i = 0; i < n; i++) ys[i] = act(kind, xs[i], pf);
    },

    /** dx = dy * f'(x); x or y may be 0 (read as zeros); dx may alias dy. */
    actBackward(kind, n, x, y, dy, dx, p) {
      n |= 0;
      const pf = fr(p);
      const xs = x ? F(x, n).slice() : new Float32Array(n);
      const ys = y ? F(y, n).slice() : new Float32Array(n);
      const gs = F(dy, n).slice(), out = F(dx, n);
      for (let i = 0; i < n; i++) out[i] = gs[i] * actGrad(kind, xs[i], ys[i], pf);
    },

    /** Per row of y [rows, per], ceil(per / 32) words: bit j of word w set where f'(x) is 1 at element 32 w + j (read from y). */
    actMask(kind, rows, per, y, mask) {
      rows |= 0; per |= 0;
      const words = (per + 31) >> 5, ys = F(y, rows * per), out = u32(mem, mask, rows * words);
      for (let r = 0; r < rows; r++) {
        for (let w = 0; w < words; w++) {
          let bits = 0;
          for (let j = 0; j < 32 && w * 32 + j < per; j++) {
            const v = ys[r * per + w * 32 + j];
            if (kind === RELU6 ? v > 0 && v < 6 : kind === LEAKY_RELU ? v >= 0 : v > 0) bits |= 1 << j;
          }
          out[r * words + w] = bits >>> 0;
        }
      }
    },

    /** dx = dy where actMask's bit is set, else p * dy; dx may alias dy. */
    actMaskedBackward(rows, per, mask, dy, dx, p) {
      rows |= 0; per |= 0;
      const words = (per + 31) >> 5, bits = u32(mem, mask, rows * words).slice(), pf = fr(p);
      const gs = F(dy, rows * per).slice(), out = F(dx, rows * per);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < per; i++) out[r * per + i] = (bits[r * words + (i >> 5)] >>> (i & 31)) & 1 ? gs[r * per + i] : fr(pf * gs[r * per + i]);
      }
    },

    /** Row-wise softmax (log != 0: log-softmax) over [rows, cols]; y may alias x. */
    softmaxForward(rows, cols, x, y, log) {
      rows |= 0; cols |= 0;
      const xs = F(x, rows * cols).slice(), ys = F(y, rows * cols);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let m = -Infinity;
        for (let c = 0; c < cols; c++) m = Math.max(m, xs[o + c]);
        let s = 0;
        for (let c = 0; c < cols; c++) s += Math.exp(xs[o + c] - m);
        const ls = Math.log(s);
        for (let c = 0; c < cols; c++) ys[o + c] = log ? (xs[o + c] - m) - ls : Math.exp(xs[o + c] - m) / s;
      }
    },

    /** Softmax: dx = y (dy - sum dy y); log-softmax (y = log-probabilities): dx = dy - exp(y) sum dy. */
    softmaxBackward(rows, cols, y, dy, dx, log) {
      rows |= 0; cols |= 0;
      const ys = F(y, rows * cols).slice(), gs = F(dy, rows * cols).slice(), out = F(dx, rows * cols);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let s = 0;
        for (let c = 0; c < cols; c++) s += log ? gs[o + c] : gs[o + c] * ys[o + c];
        const sf = fr(s); // the kernel rounds the row sum to f32 before using it
        for (let c = 0; c < cols; c++) {
          out[o + c] = log ? gs[o + c] - Math.exp(ys[o + c]) * sf : ys[o + c] * (gs[o + c] - sf);
        }
      }
    },

    /** [rows, units * k] -> [rows, units]: max over each group of k consecutive inputs. */
    maxoutForward(rows, units, k, x, y) {
      rows |= 0; units |= 0; k |= 0;
      const xs = F(x, rows * units * k), ys = F(y, rows * units);
      for (let g = 0; g < rows * units; g++) {
        let m = xs[g * k];
        for (let j = 1; j < k; j++) m = Math.max(m, xs[g * k + j]);
        ys[g] = m;
      }
    },

    /** dx fully written: dy to the first arg-max of each group (strict >, so NaN never wins), 0 elsewhere. */
    maxoutBackward(rows, units, k, x, dy, dx) {
      rows |= 0; units |= 0; k |= 0;
      const xs = F(x, rows * units * k).slice(), gs = F(dy, rows * units).slice(), out = F(dx, rows * units * k);
      for (let g = 0; g < rows * units; g++) {
        let m = xs[g * k], arg = 0;
        for (let j = 1; j < k; j++) if (xs[g * k + j] > m) { m = xs[g * k + j]; arg = j; }
        for (let j = 0; j < k; j++) out[g * k + j] = j === arg ? gs[g] : 0;
      }
    },

    /** y = x >= 0 ? x : alpha[i % C] x. */
    preluForward(n, C, x, alpha, y) {
      n |= 0; C |= 0;
      const xs = F(x, n).slice(), a = F(alpha, C).slice(), ys = F(y, n);
      for (let i = 0; i < n; i++) ys[i] = xs[i] >= 0 ? xs[i] : xs[i] * a[i % C];
    },

    /** dx = dy (x >= 0) or dy alpha[c]; dalpha[c] = sum over x < 0 of dy x (overwritten). */
    preluBackward(n, C, x, alpha, dy, dx, dalpha) {
      n |= 0; C |= 0;
      const xs = F(x, n).slice(), a = F(alpha, C).slice(), gs = F(dy, n).slice();
      const da = new Float64Array(C), out = F(dx, n);
      for (let i = 0; i < n; i++) {
        const c = i % C;
        if (xs[i] >= 0) {
          out[i] = gs[i];
        } else {
          out[i] = gs[i] * a[c];
          da[c] += gs[i] * xs[i];
        }
      }
      F(dalpha, C).set(da);
    },

    // ---- norm.ts: per channel (last axis) of [M, C] ----

    /**
     * Batch statistics (mean, biased variance) -> saveMean, saveInvStd = 1/sqrt(var + eps), y; running stats
     * (pointers may be 0) become momentum * run + (1 - momentum) * batch. ws is not used.
     */
    batchNormTrain(M, C, x, gamma, beta, eps, momentum, y, saveMean, saveInvStd, runMean, runVar, ws) {
      M |= 0; C |= 0;
      void ws;
      const xs = F(x, M * C).slice(), epsf = fr(eps), mom = fr(momentum);
      const mean = new Float64Array(C), v = new Float64Array(C);
      for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) mean[c] += xs[r * C + c];
      for (let c = 0; c < C; c++) mean[c] /= M;
      for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) { const d = xs[r * C + c] - mean[c]; v[c] += d * d; }
      for (let c = 0; c < C; c++) v[c] /= M;
      const sm = F(saveMean, C), si = F(saveInvStd, C);
      for (let c = 0; c < C; c++) {
        sm[c] = mean[c];
        si[c] = 1 / Math.sqrt(v[c] + epsf);
      }
      if (runMean) { const rm = F(runMean, C); for (let c = 0; c < C; c++) rm[c] = mom * rm[c] + (1 - mom) * fr(mean[c]); }
      if (runVar) { const rv = F(runVar, C); for (let c = 0; c < C; c++) rv[c] = mom * rv[c] + (1 - mom) * fr(v[c]); }
      // normalize with the saved (f32) statistics, as the kernel does
      normalize(M, C, xs, F(gamma, C), F(beta, C), sm.slice(), si.slice(), F(y, M * C));
    },

    /** y = gamma (x - mean) / sqrt(variance + eps) + beta with the given (running) statistics. ws is not used. */
    batchNormInfer(M, C, x, gamma, beta, mean, variance, eps, y, ws) {
      M |= 0; C |= 0;
      void ws;
      const epsf = fr(eps), vs = F(variance, C);
      const inv = new Float32Array(C);
      for (let c = 0; c < C; c++) inv[c] = 1 / Math.sqrt(vs[c] + epsf);
      normalize(M, C, F(x, M * C).slice(), F(gamma, C), F(beta, C), F(mean, C).slice(), inv, F(y, M * C));
    },

    /**
     * xhat = (x - mean) invStd; dbeta = sum dy, dgamma = sum dy xhat (f32 outputs);
     * dx = gamma invStd / M (M dy - dbeta - xhat dgamma) with the f32 dbeta, dgamma. ws is not used.
     */
    batchNormBackward(M, C, x, dy, gamma, mean, invStd, dx, dgamma, dbeta, ws) {
      M |= 0; C |= 0;
      void ws;
      const xs = F(x, M * C).slice(), gs = F(dy, M * C).slice();
      const g = F(gamma, C).slice(), mu = F(mean, C).slice(), is = F(invStd, C).slice();
      const sb = new Float64Array(C), sg = new Float64Array(C);
      for (let r = 0; r < M; r++) {
        for (let c = 0; c < C; c++) {
          const xh = (xs[r * C + c] - mu[c]) * is[c];
          sb[c] += gs[r * C + c];
          sg[c] += gs[r * C + c] * xh;
        }
      }
      const db = F(dbeta, C), dg = F(dgamma, C);
      db.set(sb); dg.set(sg);
      const dbf = db.slice(), dgf = dg.slice(), out = F(dx, M * C);
      for (let r = 0; r < M; r++) {
        for (let c = 0; c < C; c++) {
          const xh = (xs[r * C + c] - mu[c]) * is[c];
          out[r * C + c] = g[c] * is[c] / M * (M * gs[r * C + c] - dbf[c] - xh * dgf[c]);
        }
      }
    },

    /** batchNormBackward's sums over M more rows, in float64 at ws (2*C doubles); the totals so far to dbeta, dgamma. */
    batchNormBackwardSums(M, C, x, dy, mean, invStd, dgamma, dbeta, ws) {
      M |= 0; C |= 0;
      const xs = F(x, M * C), gs = F(dy, M * C), mu = F(mean, C), is = F(invStd, C);
      const sums = new DataView(mem.buffer, ws, C * 16);
      for (let c = 0; c < C; c++) {
        let sb = sums.getFloat64(c * 8, true), sg = sums.getFloat64((C + c) * 8, true);
        for (let r = 0; r < M; r++) {
          sb += gs[r * C + c];
          sg += gs[r * C + c] * ((xs[r * C + c] - mu[c]) * is[c]);
        }
        sums.setFloat64(c * 8, sb, true); sums.setFloat64((C + c) * 8, sg, true);
        F(dbeta, C)[c] = sb; F(dgamma, C)[c] = sg;
      }
    },

    /** batchNormBackward's dx over M rows of a batch of `total`, from the f32 dbeta and dgamma. */
    batchNormBackwardApply(M, total, C, x, dy, gamma, mean, invStd, dgamma, dbeta, dx) {
      M |= 0; total |= 0; C |= 0;
      const xs = F(x, M * C).slice(), gs = F(dy, M * C).slice(), out = F(dx, M * C);
      const g = F(gamma, C), mu = F(mean, C), is = F(invStd, C), db = F(dbeta, C), dg = F(dgamma, C);
      for (let r = 0; r < M; r++) {
        for (let c = 0; c < C; c++) {
          const xh = (xs[r * C + c] - mu[c]) * is[c];
          out[r * C + c] = g[c] * is[c] / total * (total * gs[r * C + c] - db[c] - xh * dg[c]);
        }
      }
    },

    // ---- loss.ts: return the mean loss; grad (0 = not wanted) gets d(mean loss)/d(pred), overwritten ----

    /** Elementwise losses, mean over n. param: Huber's delta, BCE's epsilon. n = 0 returns NaN. */
    lossElementwise(kind, n, pred, target, grad, param, out) {
      n |= 0;
      const ps = F(pred, n).slice(), ts = F(target, n).slice(), prm = fr(param);
      const gs = new Float64Array(n);
      let s = 0;
      for (let i = 0; i < n; i++) {
        const p = ps[i], t = ts[i];
        let l = 0, g = 0;
        switch (kind) {
          case MSE: { const d = p - t; l = d * d; g = 2 * d; break; }
          case MAE: { const d = p - t; l = Math.abs(d); g = d > 0 ? 1 : d < 0 ? -1 : 0; break; }
          case HUBER: {
            const d = fr(p - t), a = Math.abs(d); // the f32 difference decides the branch, as in the kernel
            if (a <= prm) { l = 0.5 * d * d; g = d; } else { l = prm * (a - 0.5 * prm); g = d > 0 ? prm : -prm; }
            break;
          }
          case BCE: {
            // probabilities clipped to [eps, 1 - eps] (the f32 bounds); zero gradient where clipped
            const hi = fr(1 - prm);
            const pc = Math.min(Math.max(p, prm), hi);
            l = -(t * Math.log(pc) + (1 - t) * Math.log(1 - pc));
            g = p > prm && p < hi ? (pc - t) / (pc * (1 - pc)) : 0;
            break;
          }
          case BCE_LOGITS: {
            l = Math.max(p, 0) - p * t + Math.log1p(Math.exp(-Math.abs(p)));
            g = sigmoid(p) - t;
            break;
          }
          default: {
            // binary hinge; 0/1 targets map to -1/1
            const y = t === 0 ? -1 : t === 1 ? 1 : t;
            const m = fr(1 - fr(y * p)); // the f32 margin decides the branch, as in the kernel
            if (m > 0) { l = m; g = -y; }
          }
        }
        s += l;
        gs[i] = g / n;
      }
      if (grad) F(grad, n).set(gs);
      return storeMean(s / n, out, mem);
    },

    /**
     * Softmax cross-entropy from logits: per row sum(t) logsumexp(z) - sum t z, mean over rows; targets soft
     * [rows, cols] (sparse = 0) or i32 labels [rows]; grad = (softmax(z) sum t - t) / rows.
     */
    softmaxCrossEntropy(rows, cols, logits, target, sparse, grad, out) {
      rows |= 0; cols |= 0;
      const zs = F(logits, rows * cols).slice();
      const labels = sparse ? i32(mem, target, rows).slice() : undefined;
      const ts = sparse ? undefined : F(target, rows * cols).slice();
      const gs = new Float64Array(rows * cols);
      let total = 0;
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let m = -Infinity;
        for (let c = 0; c < cols; c++) m = Math.max(m, zs[o + c]);
        let se = 0;
        for (let c = 0; c < cols; c++) se += Math.exp(zs[o + c] - m);
        const lse = m + Math.log(se);
        let tsum = 0, tz = 0;
        if (labels) {
          tsum = 1;
          tz = zs[o + labels[r]];
        } else {
          for (let c = 0; c < cols; c++) { tsum += ts![o + c]; tz += ts![o + c] * zs[o + c]; }
        }
        total += tsum * lse - tz;
        for (let c = 0; c < cols; c++) {
          const tv = labels ? (c === labels[r] ? 1 : 0) : ts![o + c];
          gs[o + c] = (Math.exp(zs[o + c] - lse) * tsum - tv) / rows;
        }
      }
      if (grad) F(grad, rows * cols).set(gs);
      return storeMean(total / rows, out, mem);
    },

    /**
     * Keras categorical_hinge: per row max(0, 1 + max_j (1 - t_j) p_j - sum_j t_j p_j), mean over rows;
     * grad where the margin is positive: -t, plus (1 - t) at the first arg-max of (1 - t) p. The margin is
     * computed in f32 exactly as the kernel does (it decides which rows have a loss and a gradient).
     */
    categoricalHinge(rows, cols, pred, target, grad, out) {
      rows |= 0; cols |= 0;
      const ps = F(pred, rows * cols).slice(), ts = F(target, rows * cols).slice();
      const gs = new Float64Array(rows * cols);
      let total = 0;
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let pos = 0, neg = -Infinity, arg = -1;
        for (let c = 0; c < cols; c++) {
          pos = fr(pos + fr(ts[o + c] * ps[o + c]));
          const nv = fr(fr(1 - ts[o + c]) * ps[o + c]);
          if (nv > neg) { neg = nv; arg = c; }
        }
        const m = fr(fr(neg - pos) + 1);
        if (m > 0) {
          total += m;
          for (let c = 0; c < cols; c++) gs[o + c] = (-ts[o + c] + (c === arg ? 1 - ts[o + c] : 0)) / rows;
        }
      }
      if (grad) F(grad, rows * cols).set(gs);
      return storeMean(total / rows, out, mem);
    },
  };
}

/** y = (x - mean) invStd gamma + beta per channel of [M, C]. */
function normalize(M: number, C: number, x: Float32Array, gamma: Float32Array, beta: Float32Array, mean: Float32Array,
  invStd: Float32Array, y: Float32Array): void {
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mean[c]) * invStd[c] * gamma[c] + beta[c];
  }
}
