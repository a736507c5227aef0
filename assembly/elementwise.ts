// Elementwise binary ops with NumPy/TF.js broadcasting, the reduction that undoes a broadcast (for
// gradients), and a few unary/vector helpers. Broadcasting is described by a small i32 descriptor that the
// TS side writes: [shape[rank], aStride[rank], bStride[rank]] in elements, stride 0 on a broadcast axis.
// The innermost axis runs as a contiguous SIMD loop when both strides are 1 or one of them is 0.
import { SCRATCH } from './common';

export const BIN_ADD: i32 = 0;
export const BIN_SUB: i32 = 1;
export const BIN_MUL: i32 = 2;
export const BIN_DIV: i32 = 3;
export const BIN_MAX: i32 = 4;
export const BIN_MIN: i32 = 5;
export const BIN_POW: i32 = 6;

// @ts-ignore: decorator
@inline function bin1(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    case BIN_MAX: return max(a, b);
    case BIN_POW: return Mathf.pow(a, b);
    default: return min(a, b);
  }
}

// @ts-ignore: decorator
@inline function bin4(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case BIN_ADD: return f32x4.add(a, b);
    case BIN_SUB: return f32x4.sub(a, b);
    case BIN_MUL: return f32x4.mul(a, b);
    case BIN_DIV: return f32x4.div(a, b);
    case BIN_MAX: return f32x4.max(a, b);
    default: return f32x4.min(a, b);
  }
}

/** out[0..L) = a[i*sa] op b[i*sb], the innermost axis. */
// @ts-ignore: decorator
@inline function innerRun(op: i32, L: i32, a: usize, sa: i32, b: usize, sb: i32, out: usize): void {
  let i = 0;
  // pow has no four-lane form: it runs one value at a time
  if (ASC_FEATURE_SIMD && op != BIN_POW) {
    if (sa == 1 && sb == 1) {
      for (; i + 3 < L; i += 4) {
        const o = <usize>i << 2;
        v128.store(out + o, bin4(op, v128.load(a + o), v128.load(b + o)));
      }
    } else if (sa == 1 && sb == 0) {
      const vb = v128.load32_splat(b);
      for (; i + 3 < L; i += 4) {
        const o = <usize>i << 2;
        v128.store(out + o, bin4(op, v128.load(a + o), vb));
      }
    } else if (sa == 0 && sb == 1) {
      const va = v128.load32_splat(a);
      for (; i + 3 < L; i += 4) {
        const o = <usize>i << 2;
        v128.store(out + o, bin4(op, va, v128.load(b + o)));
      }
    }
  }
  for (; i < L; i++) {
    store<f32>(out + (<usize>i << 2), bin1(op, load<f32>(a + (<usize>(i * sa) << 2)), load<f32>(b + (<usize>(i * sb) << 2))));
  }
}

/** out (contiguous, shape from desc) = a op b with broadcasting strides from desc. rank >= 1, <= 8. */
export function binary(op: i32, rank: i32, desc: usize, a: usize, b: usize, out: usize): void {
  const shape = desc, sa = desc + (<usize>rank << 2), sb = desc + (<usize>(2 * rank) << 2);
  const L = load<i32>(shape + (<usize>(rank - 1) << 2));
  const ia = load<i32>(sa + (<usize>(rank - 1) << 2)), ib = load<i32>(sb + (<usize>(rank - 1) << 2));
  let outer = 1;
  for (let d = 0; d < rank - 1; d++) outer *= load<i32>(shape + (<usize>d << 2));
  const idx = SCRATCH;
  memory.fill(idx, 0, 32);
  let offA = 0, offB = 0;
  for (let r = 0; r < outer; r++) {
    innerRun(op, L, a + (<usize>offA << 2), ia, b + (<usize>offB << 2), ib, out + (<usize>(r * L) << 2));
    // odometer over the outer axes
    for (let d = rank - 2; d >= 0; d--) {
      const dp = <usize>d << 2;
      const v = load<i32>(idx + dp) + 1;
      const sad = load<i32>(sa + dp), sbd = load<i32>(sb + dp);
      if (v < load<i32>(shape + dp)) {
        store<i32>(idx + dp, v);
        offA += sad; offB += sbd;
        break;
      }
      store<i32>(idx + dp, 0);
      offA -= sad * (v - 1); offB -= sbd * (v - 1);
    }
  }
}

/**
 * The adjoint of broadcasting: small[...] = sum of big over the broadcast axes. desc = [shape[rank] of big,
 * strides[rank] into small (0 on the summed axes)]; small has `smallSize` floats and is overwritten.
 */
export function sumToShape(rank: i32, desc: usize, big: usize, small: usize, smallSize: i32): void {
  memory.fill(small, 0, <usize>smallSize << 2);
  const shape = desc, ss = desc + (<usize>rank << 2);
  const L = load<i32>(shape + (<usize>(rank - 1) << 2));
  const is = load<i32>(ss + (<usize>(rank - 1) << 2));
  let outer = 1;
  for (let d = 0; d < rank - 1; d++) outer *= load<i32>(shape + (<usize>d << 2));
  const idx = SCRATCH;
  memory.fill(idx, 0, 32);
  let off = 0;
  for (let r = 0; r < outer; r++) {
    const src = big + (<usize>(r * L) << 2);
    const dst = small + (<usize>off << 2);
    if (is == 0) {
      let s: f32 = 0;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        for (; i + 3 < L; i += 4) acc = f32x4.add(acc, v128.load(src + (<usize>i << 2)));
        s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      }
      for (; i < L; i++) s += load<f32>(src + (<usize>i << 2));
      store<f32>(dst, load<f32>(dst) + s);
    } else {
      axpy(L, 1, src, dst);
    }
    for (let d = rank - 2; d >= 0; d--) {
      const dp = <usize>d << 2;
      const v = load<i32>(idx + dp) + 1;
      const sd = load<i32>(ss + dp);
      if (v < load<i32>(shape + dp)) {
        store<i32>(idx + dp, v);
        off += sd;
        break;
      }
      store<i32>(idx + dp, 0);
      off -= sd * (v - 1);
    }
  }
}

/** y += alpha * x over n floats (contiguous). */
export function axpy(n: i32, alpha: f32, x: usize, y: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(alpha);
    for (; i + 3 < n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(va, v128.load(x + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** out = x * scale + shift over n floats. */
export function affine(n: i32, x: usize, scale: f32, shift: f32, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale), vt = f32x4.splat(shift);
    for (; i + 3 < n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.add(f32x4.mul(v128.load(x + o), vs), vt));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * scale + shift);
  }
}

export const UN_NEG: i32 = 0;
export const UN_ABS: i32 = 1;
export const UN_EXP: i32 = 2;
export const UN_LOG: i32 = 3;
export const UN_SQRT: i32 = 4;
export const UN_SQUARE: i32 = 5;
export const UN_RECIPROCAL: i32 = 6;

export function unary(kind: i32, n: i32, x: usize, y: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    let r: f32;
    switch (kind) {
      case UN_NEG: r = -v; break;
      case UN_ABS: r = Mathf.abs(v); break;
      case UN_EXP: r = Mathf.exp(v); break;
      case UN_LOG: r = Mathf.log(v); break;
      case UN_SQRT: r = Mathf.sqrt(v); break;
      case UN_SQUARE: r = v * v; break;
      default: r = 1 / v;
    }
    store<f32>(y + o, r);
  }
}

/** Count of non-finite values among n floats (NaN guards, input checks). */
export function countNonFinite(n: i32, x: usize): i32 {
  let c = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // |v| < Infinity is false exactly for NaN and the infinities; each such lane adds 1 (its mask is -1)
    const inf = f32x4.splat(Infinity);
    let acc = i32x4.splat(0);
    for (; i + 3 < n; i += 4) acc = i32x4.add(acc, v128.not(f32x4.lt(f32x4.abs(v128.load(x + (<usize>i << 2))), inf)));
    c = -(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (!isFinite(v)) c++;
  }
  return c;
}
