// Activations, forward and derivative, elementwise over n floats, plus the row-wise ones (softmax,
// log-softmax, maxout) and the ones with parameters or state (PReLU, randomized leaky ReLU).
import {
  ACT_LINEAR, ACT_RELU, ACT_RELU6, ACT_LEAKY_RELU, ACT_ELU, ACT_SELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTPLUS,
  ACT_GELU, ACT_STEP, ACT_SIGN, ACT_HARD_SIGMOID, SELU_ALPHA, SELU_SCALE, sigmoidf, erf64, sigmoidV, tanhV,
} from './common';
import { nextUniform } from './random';
import { threads, jobArgs, jobChunks, parallelBegin, parallelEnd, claim, chunkDone, shareStart } from './threads';

const INV_SQRT2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;

/** f(x) for one activation; p is the slope (leaky ReLU) or alpha (ELU). */
// @ts-ignore: decorator
@inline function actOne(kind: i32, x: f32, p: f32): f32 {
  switch (kind) {
    case ACT_LINEAR: return x;
    case ACT_RELU: return max(x, 0);
    case ACT_RELU6: return min(max(x, 0), 6);
    case ACT_LEAKY_RELU: return x >= 0 ? x : p * x;
    case ACT_ELU: return x >= 0 ? x : p * (Mathf.exp(x) - 1);
    case ACT_SELU: return SELU_SCALE * (x >= 0 ? x : SELU_ALPHA * (Mathf.exp(x) - 1));
    case ACT_SIGMOID: return sigmoidf(x);
    case ACT_TANH: return Mathf.tanh(x);
    // softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for both signs
    case ACT_SOFTPLUS: return max(x, 0) + <f32>Math.log1p(Math.exp(-<f64>Mathf.abs(x)));
    // exact GELU (Hendrycks & Gimpel 2016): x Phi(x)
    case ACT_GELU: return <f32>(0.5 * <f64>x * (1.0 + erf64(<f64>x * INV_SQRT2)));
    case ACT_STEP: return x > 0 ? 1 : 0;
    case ACT_SIGN: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case ACT_HARD_SIGMOID: return min(max(<f32>0.2 * x + <f32>0.5, <f32>0), <f32>1);
    default: return unreachable();
  }
}

/** f'(x) given x and y = f(x) (whichever is cheaper); p as in actOne. Step and sign have f' = 0 a.e. */
// @ts-ignore: decorator
@inline function gradOne(kind: i32, x: f32, y: f32, p: f32): f32 {
  switch (kind) {
    case ACT_LINEAR: return 1;
    case ACT_RELU: return x > 0 ? 1 : 0;
    case ACT_RELU6: return x > 0 && x < 6 ? 1 : 0;
    case ACT_LEAKY_RELU: return x >= 0 ? 1 : p;
    case ACT_ELU: return x >= 0 ? 1 : y + p;
    case ACT_SELU: return x >= 0 ? SELU_SCALE : y + SELU_SCALE * SELU_ALPHA;
    case ACT_SIGMOID: return y * (1 - y);
    case ACT_TANH: return 1 - y * y;
    case ACT_SOFTPLUS: return sigmoidf(x);
    case ACT_GELU: {
      const xd = <f64>x;
      return <f32>(0.5 * (1.0 + erf64(xd * INV_SQRT2)) + xd * INV_SQRT_2PI * Math.exp(-0.5 * xd * xd));
    }
    case ACT_STEP: return 0;
    case ACT_SIGN: return 0;
    case ACT_HARD_SIGMOID: return x > -2.5 && x < 2.5 ? <f32>0.2 : <f32>0;
    default: return unreachable();
  }
}

/** y[i] = f(x[i]), i < n. y may alias x. */
export function actForward(kind: i32, n: i32, x: usize, y: usize, p: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // One straight loop per kind: no per-element dispatch in the hot loops of the cheap activations.
    // pmax(v, 0) = v < 0 ? 0 : v is one maxps in V8; f32x4.max must also order -0/+0 and pick NaN, which
    // costs a sequence. NaN inputs still come out NaN (the comparison is false), as relu(NaN) should.
    const z = f32x4.splat(0), six = f32x4.splat(6), vp = f32x4.splat(p);
    const n8 = n & ~7;
    if (kind == ACT_RELU) {
      const n16 = n & ~15;
      for (; i < n16; i += 16) {
        const o = <usize>i << 2;
        const v0 = v128.load(x + o), v1 = v128.load(x + o, 16), v2 = v128.load(x + o, 32), v3 = v128.load(x + o, 48);
        v128.store(y + o, f32x4.pmax(v0, z));
        v128.store(y + o, f32x4.pmax(v1, z), 16);
        v128.store(y + o, f32x4.pmax(v2, z), 32);
        v128.store(y + o, f32x4.pmax(v3, z), 48);
      }
    } else if (kind == ACT_RELU6) {
      for (; i < n8; i += 8) {
        const o = <usize>i << 2;
        v128.store(y + o, f32x4.pmin(f32x4.pmax(v128.load(x + o), z), six));
        v128.store(y + o, f32x4.pmin(f32x4.pmax(v128.load(x + o, 16), z), six), 16);
      }
    } else if (kind == ACT_LEAKY_RELU) {
      for (; i < n8; i += 8) {
        const o = <usize>i << 2;
        const v0 = v128.load(x + o), v1 = v128.load(x + o, 16);
        v128.store(y + o, v128.bitselect(v0, f32x4.mul(v0, vp), f32x4.ge(v0, z)));
        v128.store(y + o, v128.bitselect(v1, f32x4.mul(v1, vp), f32x4.ge(v1, z)), 16);
      }
    } else if (kind == ACT_SIGMOID) {
      // a polynomial exp on four lanes (common.ts): SiLU / swish networks (EfficientNet) spend their time here
      for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), sigmoidV(v128.load(x + (<usize>i << 2))));
    } else if (kind == ACT_TANH) {
      for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), tanhV(v128.load(x + (<usize>i << 2))));
    } else if (kind == ACT_LINEAR) {
      if (x != y) memory.copy(y, x, <usize>n << 2);
      return;
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, actOne(kind, load<f32>(x + o), p));
  }
}

/**
 * dx[i] = dy[i] * f'(x[i]); dx may alias dy. x or y may be 0 (absent) when the rule does not need it; an absent
 * operand reads as zeros in every build (for ReLU and leaky ReLU without x that is their slope at 0: 0 and 1),
 * as in the reference backend. Callers holding only y pass it as x where the slope reads the same from either
 * (ReLU, ReLU6, leaky ReLU with a positive slope: the fused dense backward, src/ops/matmul.ts, does this).
 */
export function actBackward(kind: i32, n: i32, x: usize, y: usize, dy: usize, dx: usize, p: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // the vector loop reads x: without it the scalar loop below gives the zeros-for-x rule
    if (x != 0 && (kind == ACT_RELU || kind == ACT_LEAKY_RELU)) {
      const z = f32x4.splat(0), vp = f32x4.splat(p);
      for (; i + 3 < n; i += 4) {
        const o = <usize>i << 2;
        const v = v128.load(x + o), g = v128.load(dy + o);
        const r = kind == ACT_RELU
          ? v128.and(g, f32x4.gt(v, z))
          : v128.bitselect(g, f32x4.mul(g, vp), f32x4.ge(v, z));
        v128.store(dx + o, r);
      }
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const xv: f32 = x ? load<f32>(x + o) : 0;
    const yv: f32 = y ? load<f32>(y + o) : 0;
    store<f32>(dx + o, load<f32>(dy + o) * gradOne(kind, xv, yv, p));
  }
}

/** Whether f'(x) is 1 (else 0 for ReLU and ReLU6, the slope for leaky ReLU), read from y = f(x). */
// @ts-ignore: decorator
@inline function passes(kind: i32, y: f32): bool {
  return kind == ACT_RELU6 ? y > 0 && y < 6 : kind == ACT_LEAKY_RELU ? y >= 0 : y > 0;
}

/**
 * The 1-bit masks of a piecewise-linear activation's derivative (ReLU, ReLU6, leaky ReLU), from its output
 * y [rows, per]: per row, ceil(per / 32) words, bit j of word w for element 32 w + j (TinyTL keeps these in
 * place of the float activations: 1/32 of their memory).
 */
export function actMask(kind: i32, rows: i32, per: i32, y: usize, mask: usize): void {
  if (!shareMask(MJ_MASK, kind, rows, per, y, mask, 0, 0)) maskRows(kind, per, y, mask, 0, rows);
}

function maskRows(kind: i32, per: i32, y: usize, mask: usize, r0: i32, r1: i32): void {
  const words = (per + 31) >> 5;
  for (let r = r0; r < r1; r++) {
    const yr = y + (<usize>r * <usize>per << 2), mr = mask + (<usize>r * <usize>words << 2);
    let w = 0;
    if (ASC_FEATURE_SIMD) {
      const z = f32x4.splat(0), six = f32x4.splat(6);
      for (; (w + 1) << 5 <= per; w++) {
        let bits: u32 = 0;
        for (let k = 0; k < 8; k++) {
          const v = v128.load(yr + (<usize>(w * 32 + k * 4) << 2));
          const on = kind == ACT_RELU6 ? v128.and(f32x4.gt(v, z), f32x4.lt(v, six)) : kind == ACT_LEAKY_RELU ? f32x4.ge(v, z) : f32x4.gt(v, z);
          bits |= <u32>i32x4.bitmask(on) << (k * 4);
        }
        store<u32>(mr + (<usize>w << 2), bits);
      }
    }
    for (; w < words; w++) {
      let bits: u32 = 0;
      const end = min(32, per - w * 32);
      for (let j = 0; j < end; j++) if (passes(kind, load<f32>(yr + (<usize>(w * 32 + j) << 2)))) bits |= <u32>1 << j;
      store<u32>(mr + (<usize>w << 2), bits);
    }
  }
}

/** dx = dy where the mask's bit is set, else p * dy (0 for ReLU and ReLU6, the slope for leaky ReLU); dx may alias dy. */
export function actMaskedBackward(rows: i32, per: i32, mask: usize, dy: usize, dx: usize, p: f32): void {
  if (!shareMask(MJ_MASKED_BACKWARD, 0, rows, per, mask, dy, dx, p)) maskedBackwardRows(per, mask, dy, dx, p, 0, rows);
}

function maskedBackwardRows(per: i32, mask: usize, dy: usize, dx: usize, p: f32, r0: i32, r1: i32): void {
  const words = (per + 31) >> 5;
  for (let r = r0; r < r1; r++) {
    const base = <usize>r * <usize>per << 2, mr = mask + (<usize>r * <usize>words << 2);
    let w = 0;
    if (ASC_FEATURE_SIMD) {
      const lanes = i32x4(1, 2, 4, 8), vp = f32x4.splat(p);
      for (; (w + 1) << 5 <= per; w++) {
        const bits = load<u32>(mr + (<usize>w << 2));
        for (let k = 0; k < 8; k++) {
          const o = base + (<usize>(w * 32 + k * 4) << 2);
          const on = i32x4.ne(v128.and(i32x4.splat(<i32>(bits >> (k * 4))), lanes), i32x4.splat(0));
          const g = v128.load(dy + o);
          v128.store(dx + o, v128.bitselect(g, f32x4.mul(g, vp), on));
        }
      }
    }
    for (; w < words; w++) {
      const bits = load<u32>(mr + (<usize>w << 2)), end = min(32, per - w * 32);
      for (let j = 0; j < end; j++) {
        const o = base + (<usize>(w * 32 + j) << 2), g = load<f32>(dy + o);
        store<f32>(dx + o, (bits >> j) & 1 ? g : p * g);
      }
    }
  }
}

// ---- threads (threads.ts): the mask passes of a training step shared out by rows (each row is
// independent, so the result is the one-thread result) ----
export const JOB_MASK: i32 = 5;
const MJ_MASK: i32 = 0, MJ_MASKED_BACKWARD: i32 = 1;
/**
 * Elements below which a mask pass runs on one thread: a memory-bound pass over data the main thread just
 * wrote gains nothing below about a million (LeNet's at batch 32, 150K: twice as slow on two threads).
 */
const MASK_PARALLEL_MIN: i32 = 1 << 20;

function shareMask(sub: i32, kind: i32, rows: i32, per: i32, a: usize, b: usize, c: usize, p: f32): bool {
  if (threads() < 2 || rows < 2 || <i64>rows * <i64>per < <i64>MASK_PARALLEL_MIN) return false;
  const n = min(rows, 4 * threads());
  const j = jobArgs();
  store<i32>(j, sub); store<i32>(j, kind, 4); store<i32>(j, rows, 8); store<i32>(j, per, 12);
  store<u32>(j, <u32>a, 16); store<u32>(j, <u32>b, 20); store<u32>(j, <u32>c, 24); store<f32>(j, p, 28);
  parallelBegin(JOB_MASK, n);
  for (let ch = claim(); ch >= 0; ch = claim()) { maskChunk(sub, kind, rows, per, a, b, c, p, ch, n); chunkDone(); }
  parallelEnd();
  return true;
}

// @ts-ignore: decorator
@inline function maskChunk(sub: i32, kind: i32, rows: i32, per: i32, a: usize, b: usize, c: usize, p: f32, ch: i32, n: i32): void {
  const r0 = shareStart(rows, 1, ch, n), r1 = shareStart(rows, 1, ch + 1, n);
  if (sub == MJ_MASK) maskRows(kind, per, a, b, r0, r1);
  else maskedBackwardRows(per, a, b, c, p, r0, r1);
}

/** A worker's part of a JOB_MASK (threads_worker.ts): the chunks it claims. */
export function maskJob(): void {
  if (!ASC_FEATURE_THREADS) return;
  const j = jobArgs();
  const sub = load<i32>(j), kind = load<i32>(j, 4), rows = load<i32>(j, 8), per = load<i32>(j, 12);
  const a = <usize>load<u32>(j, 16), b = <usize>load<u32>(j, 20), c = <usize>load<u32>(j, 24), p = load<f32>(j, 28);
  const n = jobChunks();
  for (let ch = claim(); ch >= 0; ch = claim()) { maskChunk(sub, kind, rows, per, a, b, c, p, ch, n); chunkDone(); }
}

/** Numerically stable softmax (or log-softmax) over the last axis of [rows, cols]. */
export function softmaxForward(rows: i32, cols: i32, x: usize, y: usize, log: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + (<usize>(r * cols) << 2), yr = y + (<usize>(r * cols) << 2);
    let m: f32 = -Infinity;
    for (let c = 0; c < cols; c++) m = max(m, load<f32>(xr + (<usize>c << 2)));
    let s: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const e = Mathf.exp(load<f32>(xr + (<usize>c << 2)) - m);
      s += e;
      if (!log) store<f32>(yr + (<usize>c << 2), e);
    }
    if (log) {
      // (x - m) - log s, not x - (m + log s): at |x| ~ 1e4 the float32 sum m + log s loses the digits
      const ls = <f32>Math.log(s);
      for (let c = 0; c < cols; c++) store<f32>(yr + (<usize>c << 2), (load<f32>(xr + (<usize>c << 2)) - m) - ls);
    } else {
      const inv = <f32>(1.0 / s);
      for (let c = 0; c < cols; c++) store<f32>(yr + (<usize>c << 2), load<f32>(yr + (<usize>c << 2)) * inv);
    }
  }
}

/**
 * Softmax: dx = y * (dy - sum(dy * y)). Log-softmax: dx = dy - exp(y) * sum(dy). Row-wise over [rows, cols].
 */
export function softmaxBackward(rows: i32, cols: i32, y: usize, dy: usize, dx: usize, log: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * cols) << 2;
    let s: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const q = o + (<usize>c << 2);
      s += log ? <f64>load<f32>(dy + q) : <f64>load<f32>(dy + q) * <f64>load<f32>(y + q);
    }
    const sf = <f32>s;
    for (let c = 0; c < cols; c++) {
      const q = o + (<usize>c << 2);
      const g = load<f32>(dy + q), yv = load<f32>(y + q);
      store<f32>(dx + q, log ? g - Mathf.exp(yv) * sf : yv * (g - sf));
    }
  }
}

/**
 * Maxout (Goodfellow et al. 2013): [rows, units * k] -> [rows, units], unit u = max of inputs u*k .. u*k+k-1.
 */
export function maxoutForward(rows: i32, units: i32, k: i32, x: usize, y: usize): void {
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < units; u++) {
      const base = x + (<usize>((r * units + u) * k) << 2);
      let m = load<f32>(base);
      for (let j = 1; j < k; j++) m = max(m, load<f32>(base + (<usize>j << 2)));
      store<f32>(y + (<usize>(r * units + u) << 2), m);
    }
  }
}

/** The gradient goes to the first arg-max of each group only. dx is fully written. */
export function maxoutBackward(rows: i32, units: i32, k: i32, x: usize, dy: usize, dx: usize): void {
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < units; u++) {
      const g = (r * units + u) * k;
      const base = x + (<usize>g << 2);
      let m = load<f32>(base), arg = 0;
      for (let j = 1; j < k; j++) {
        const v = load<f32>(base + (<usize>j << 2));
        if (v > m) { m = v; arg = j; }
      }
      const gy = load<f32>(dy + (<usize>(r * units + u) << 2));
      for (let j = 0; j < k; j++) store<f32>(dx + (<usize>(g + j) << 2), j == arg ? gy : 0);
    }
  }
}

/** PReLU (He et al. 2015) with one learnable slope per channel (last axis): y = x >= 0 ? x : a[c] x. */
export function preluForward(n: i32, C: i32, x: usize, alpha: usize, y: usize): void {
  for (let i = 0; i < n; i++) {
    const c = i % C;
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v >= 0 ? v : v * load<f32>(alpha + (<usize>c << 2)));
  }
}

/** dx = dy * (x >= 0 ? 1 : a[c]); dalpha[c] = sum over x < 0 of dy * x (overwritten). */
export function preluBackward(n: i32, C: i32, x: usize, alpha: usize, dy: usize, dx: usize, dalpha: usize): void {
  memory.fill(dalpha, 0, <usize>C << 2);
  for (let i = 0; i < n; i++) {
    const c = i % C;
    const o = <usize>i << 2;
    const v = load<f32>(x + o), g = load<f32>(dy + o);
    if (v >= 0) {
      store<f32>(dx + o, g);
    } else {
      const ac = alpha + (<usize>c << 2);
      store<f32>(dx + o, g * load<f32>(ac));
      store<f32>(dalpha + (<usize>c << 2), load<f32>(dalpha + (<usize>c << 2)) + g * v);
    }
  }
}

/**
 * Randomized leaky ReLU (Xu et al. 2015), training: each negative input gets a slope drawn uniformly from
 * [lower, upper); the slopes are written to `slopes` for the backward pass (1 where x >= 0).
 * At inference use actForward(LEAKY_RELU) with (lower + upper) / 2.
 */
export function rreluTrain(n: i32, x: usize, y: usize, slopes: usize, lower: f32, upper: f32, rng: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    let s: f32 = 1;
    if (v < 0) s = lower + (upper - lower) * nextUniform(rng);
    store<f32>(slopes + o, s);
    store<f32>(y + o, v * s);
  }
}
