// Reductions over the middle axis of a [outer, n, inner] view: sum, mean, max, min, argmax, and their
// backward passes. inner == 1 reduces contiguous runs; inner > 1 accumulates whole rows (SIMD over inner).
export const RED_SUM: i32 = 0;
export const RED_MEAN: i32 = 1;
export const RED_MAX: i32 = 2;
export const RED_MIN: i32 = 3;

/** out[outer, inner] = reduce over n of x[outer, n, inner]. */
export function reduce(op: i32, outer: i32, n: i32, inner: i32, x: usize, out: usize): void {
  const isExt = op == RED_MAX || op == RED_MIN;
  for (let o = 0; o < outer; o++) {
    const xo = x + (<usize>(o * n * inner) << 2);
    const yo = out + (<usize>(o * inner) << 2);
    if (inner == 1) {
      let s: f32 = isExt ? load<f32>(xo) : 0;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        if (n >= 4) {
          let acc = isExt ? v128.load(xo) : f32x4.splat(0);
          if (isExt) i = 4;
          for (; i + 3 < n; i += 4) {
            const v = v128.load(xo + (<usize>i << 2));
            acc = op == RED_MAX ? f32x4.max(acc, v) : op == RED_MIN ? f32x4.min(acc, v) : f32x4.add(acc, v);
          }
          const a0 = f32x4.extract_lane(acc, 0), a1 = f32x4.extract_lane(acc, 1);
          const a2 = f32x4.extract_lane(acc, 2), a3 = f32x4.extract_lane(acc, 3);
          s = op == RED_MAX ? max(max(a0, a1), max(a2, a3)) : op == RED_MIN ? min(min(a0, a1), min(a2, a3)) : a0 + a1 + a2 + a3;
        }
      }
      for (; i < n; i++) {
        const v = load<f32>(xo + (<usize>i << 2));
        s = op == RED_MAX ? max(s, v) : op == RED_MIN ? min(s, v) : s + v;
      }
      store<f32>(yo, op == RED_MEAN ? s / <f32>n : s);
      continue;
    }
    if (isExt) memory.copy(yo, xo, <usize>inner << 2);
    else memory.fill(yo, 0, <usize>inner << 2);
    for (let i = isExt ? 1 : 0; i < n; i++) {
      const row = xo + (<usize>(i * inner) << 2);
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        for (; j + 3 < inner; j += 4) {
          const q = <usize>j << 2;
          const a = v128.load(yo + q), v = v128.load(row + q);
          v128.store(yo + q, op == RED_MAX ? f32x4.max(a, v) : op == RED_MIN ? f32x4.min(a, v) : f32x4.add(a, v));
        }
      }
      for (; j < inner; j++) {
        const q = <usize>j << 2;
        const a = load<f32>(yo + q), v = load<f32>(row + q);
        store<f32>(yo + q, op == RED_MAX ? max(a, v) : op == RED_MIN ? min(a, v) : a + v);
      }
    }
    if (op == RED_MEAN) {
      const inv: f32 = 1 / <f32>n;
      for (let j = 0; j < inner; j++) store<f32>(yo + (<usize>j << 2), load<f32>(yo + (<usize>j << 2)) * inv);
    }
  }
}

/** out[outer, inner] (i32) = index along n of the first maximum. */
export function argmax(outer: i32, n: i32, inner: i32, x: usize, out: usize): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = x + (<usize>(o * n * inner + j) << 2);
      let m = load<f32>(base), arg = 0;
      for (let i = 1; i < n; i++) {
        const v = load<f32>(base + (<usize>(i * inner) << 2));
        if (v > m) { m = v; arg = i; }
      }
      store<i32>(out + (<usize>(o * inner + j) << 2), arg);
    }
  }
}

/**
 * dx[outer, n, inner] from dy[outer, inner]: sum broadcasts dy, mean broadcasts dy / n, max/min route dy to
 * the first extremum of x only. dx is fully written.
 */
export function reduceBackward(op: i32, outer: i32, n: i32, inner: i32, x: usize, dy: usize, dx: usize): void {
  const scale: f32 = op == RED_MEAN ? 1 / <f32>n : 1;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const g = load<f32>(dy + (<usize>(o * inner + j) << 2));
      const base = <usize>(o * n * inner + j) << 2;
      if (op == RED_MAX || op == RED_MIN) {
        let m = load<f32>(x + base), arg = 0;
        for (let i = 1; i < n; i++) {
          const v = load<f32>(x + base + (<usize>(i * inner) << 2));
          if (op == RED_MAX ? v > m : v < m) { m = v; arg = i; }
        }
        for (let i = 0; i < n; i++) store<f32>(dx + base + (<usize>(i * inner) << 2), i == arg ? g : 0);
      } else {
        const v = g * scale;
        for (let i = 0; i < n; i++) store<f32>(dx + base + (<usize>(i * inner) << 2), v);
      }
    }
  }
}
