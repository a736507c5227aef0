// 2-D pooling over NHWC: max and average with any window, stride and padding, and their backward passes.
// Average pooling divides by the number of in-bounds elements (TF.js/Keras 'same' semantics: padding is
// not counted). SIMD runs across channels, which are contiguous in NHWC.
import { threads, jobArgs, jobChunks, parallelBegin, parallelEnd, claim, chunkDone, shareStart } from './threads';

export const POOL_MAX: i32 = 0;
export const POOL_AVG: i32 = 1;
export const JOB_POOL: i32 = 3;
/** Window reads below which pooling runs on one thread. */
const POOL_PARALLEL_MIN: i64 = 1 << 16;

/**
 * Run a pooling pass on the pool (threads.ts) when there is one and enough work, in chunks claimed by
 * whichever thread is free: forward by output rows, backward by images (or channel quads for fewer images
 * than threads). False (nothing run): the caller runs it.
 */
function sharePool(backward: bool, kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, dy: usize, out: usize): bool {
  const T = threads();
  if (T < 2 || <i64>N * <i64>OH * <i64>OW * <i64>C * <i64>(KH * KW) < POOL_PARALLEL_MIN) return false;
  const units = !backward ? N * OH : N >= T ? N : (C + 3) / 4;
  if (units < 2) return false;
  const n = min(units, (!backward || N >= T ? 4 : 1) * T);
  const j = jobArgs();
  store<i32>(j, backward ? 1 : 0); store<i32>(j, kind, 4); store<i32>(j, N, 8); store<i32>(j, H, 12); store<i32>(j, W, 16);
  store<i32>(j, C, 20); store<i32>(j, KH, 24); store<i32>(j, KW, 28); store<i32>(j, SH, 32); store<i32>(j, SW, 36);
  store<i32>(j, PT, 40); store<i32>(j, PL, 44); store<i32>(j, OH, 48); store<i32>(j, OW, 52);
  store<u32>(j, <u32>x, 56); store<u32>(j, <u32>dy, 60); store<u32>(j, <u32>out, 64); store<i32>(j, T, 68);
  parallelBegin(JOB_POOL, n);
  for (let ch = claim(); ch >= 0; ch = claim()) {
    poolChunk(backward, kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, out, ch, n, T);
    chunkDone();
  }
  parallelEnd();
  return true;
}

// @ts-ignore: decorator
@inline function poolChunk(backward: bool, kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, dy: usize, out: usize, ch: i32, n: i32, T: i32): void {
  if (!backward) {
    poolForwardRows(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, out, shareStart(N * OH, 1, ch, n), shareStart(N * OH, 1, ch + 1, n));
  } else if (N >= T) {
    const n0 = shareStart(N, 1, ch, n), n1 = shareStart(N, 1, ch + 1, n);
    const img = <usize>(H * W * C) << 2;
    memory.fill(out + img * <usize>n0, 0, img * <usize>(n1 - n0));
    poolBackwardRange(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, out, n0, n1, 0, C);
  } else {
    poolBackwardRange(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, out, 0, N, shareStart(C, 4, ch, n), shareStart(C, 4, ch + 1, n));
  }
}

/** A worker's part of a JOB_POOL: the chunks it claims. */
export function poolJob(): void {
  if (!ASC_FEATURE_THREADS) return;
  const j = jobArgs();
  const backward = load<i32>(j) != 0, kind = load<i32>(j, 4), N = load<i32>(j, 8), H = load<i32>(j, 12), W = load<i32>(j, 16);
  const C = load<i32>(j, 20), KH = load<i32>(j, 24), KW = load<i32>(j, 28), SH = load<i32>(j, 32), SW = load<i32>(j, 36);
  const PT = load<i32>(j, 40), PL = load<i32>(j, 44), OH = load<i32>(j, 48), OW = load<i32>(j, 52);
  const x = <usize>load<u32>(j, 56), dy = <usize>load<u32>(j, 60), out = <usize>load<u32>(j, 64), T = load<i32>(j, 68);
  const n = jobChunks();
  for (let ch = claim(); ch >= 0; ch = claim()) {
    poolChunk(backward, kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, out, ch, n, T);
    chunkDone();
  }
}

export function pool2dForward(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, y: usize): void {
  if (!sharePool(false, kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, 0, y)) {
    poolForwardRows(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, y, 0, N * OH);
  }
}

/** Output rows [r0, r1) of the N * OH rows. */
function poolForwardRows(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, y: usize, r0: i32, r1: i32): void {
  const isMax = kind == POOL_MAX;
  for (let r = r0; r < r1; r++) {
    const n = r / OH, oy = r - n * OH;
    {
      const y0 = max(0, oy * SH - PT), y1 = min(H, oy * SH - PT + KH);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = max(0, ox * SW - PL), x1 = min(W, ox * SW - PL + KW);
        const cnt = (y1 - y0) * (x1 - x0);
        const inv: f32 = cnt > 0 ? 1 / <f32>cnt : 0;
        const out = y + (<usize>(((n * OH + oy) * OW + ox) * C) << 2);
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          for (; c + 15 < C; c += 16) {
            const init = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0);
            let a0 = init, a1 = init, a2 = init, a3 = init;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const p = x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2);
                if (isMax) {
                  a0 = f32x4.max(a0, v128.load(p)); a1 = f32x4.max(a1, v128.load(p, 16));
                  a2 = f32x4.max(a2, v128.load(p, 32)); a3 = f32x4.max(a3, v128.load(p, 48));
                } else {
                  a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
                  a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
                }
              }
            }
            if (!isMax) {
              const vi = f32x4.splat(inv);
              a0 = f32x4.mul(a0, vi); a1 = f32x4.mul(a1, vi); a2 = f32x4.mul(a2, vi); a3 = f32x4.mul(a3, vi);
            }
            const q = out + (<usize>c << 2);
            v128.store(q, a0); v128.store(q, a1, 16); v128.store(q, a2, 32); v128.store(q, a3, 48);
          }
          for (; c + 3 < C; c += 4) {
            let a = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0);
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const v = v128.load(x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2));
                a = isMax ? f32x4.max(a, v) : f32x4.add(a, v);
              }
            }
            if (!isMax) a = f32x4.mul(a, f32x4.splat(inv));
            v128.store(out + (<usize>c << 2), a);
          }
        }
        for (; c < C; c++) {
          let a: f32 = isMax ? -Infinity : 0;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const v = load<f32>(x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2));
              a = isMax ? max(a, v) : a + v;
            }
          }
          store<f32>(out + (<usize>c << 2), isMax ? a : a * inv);
        }
      }
    }
  }
}

/** dx (overwritten) from dy. Max routes each dy to the first arg-max of its window; avg spreads dy / count. */
export function pool2dBackward(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, dy: usize, dx: usize): void {
  // each dx element gets its contributions in the single-thread order: images and channels are independent.
  // Shared by images, each chunk zeroes its own images' dx; by channels, dx is zeroed here first.
  const T = threads();
  if (T > 1 && N < T) memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
  if (!sharePool(true, kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, dx)) {
    if (!(T > 1 && N < T)) memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
    poolBackwardRange(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, dx, 0, N, 0, C);
  }
}

/** dx (zeroed by the caller) for images [n0, n1) and channels [c0, c1) (c0 a multiple of 4). */
function poolBackwardRange(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, dy: usize, dx: usize, n0: i32, n1: i32, c0: i32, c1: i32): void {
  for (let n = n0; n < n1; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = max(0, oy * SH - PT), y1 = min(H, oy * SH - PT + KH);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = max(0, ox * SW - PL), x1 = min(W, ox * SW - PL + KW);
        const g = dy + (<usize>(((n * OH + oy) * OW + ox) * C) << 2);
        if (kind == POOL_MAX) {
          let c = c0;
          if (ASC_FEATURE_SIMD) {
            // four channels at once: each lane keeps its first arg-max (the scalar loop's rule, NaN included:
            // a NaN never replaces, and the window's first element is taken whatever it is)
            for (; c + 3 < c1; c += 4) {
              if (y0 >= y1 || x0 >= x1) break;
              const first = ((n * H + y0) * W + x0) * C + c;
              let m = v128.load(x + (<usize>first << 2));
              let arg = i32x4.splat(first);
              for (let iy = y0; iy < y1; iy++) {
                for (let ix = x0; ix < x1; ix++) {
                  const off = ((n * H + iy) * W + ix) * C + c;
                  const v = v128.load(x + (<usize>off << 2));
                  const gt = f32x4.gt(v, m);
                  m = v128.bitselect(v, m, gt);
                  arg = v128.bitselect(i32x4.splat(off), arg, gt);
                }
              }
              const q = g + (<usize>c << 2);
              let p = dx + (<usize>(i32x4.extract_lane(arg, 0)) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(q));
              p = dx + (<usize>(i32x4.extract_lane(arg, 1) + 1) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(q, 4));
              p = dx + (<usize>(i32x4.extract_lane(arg, 2) + 2) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(q, 8));
              p = dx + (<usize>(i32x4.extract_lane(arg, 3) + 3) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(q, 12));
            }
          }
          for (; c < c1; c++) {
            let m: f32 = -Infinity;
            let arg: i32 = -1;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const off = ((n * H + iy) * W + ix) * C + c;
                const v = load<f32>(x + (<usize>off << 2));
                if (v > m || arg < 0) { m = v; arg = off; }
              }
            }
            if (arg >= 0) {
              const p = dx + (<usize>arg << 2);
              store<f32>(p, load<f32>(p) + load<f32>(g + (<usize>c << 2)));
            }
          }
        } else {
          const cnt = (y1 - y0) * (x1 - x0);
          if (cnt == 0) continue;
          const inv: f32 = 1 / <f32>cnt;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const p = dx + (<usize>(((n * H + iy) * W + ix) * C) << 2);
              let c = c0;
              if (ASC_FEATURE_SIMD) {
                const vi = f32x4.splat(inv);
                for (; c + 3 < c1; c += 4) {
                  const q = <usize>c << 2;
                  v128.store(p + q, f32x4.add(v128.load(p + q), f32x4.mul(v128.load(g + q), vi)));
                }
              }
              for (; c < c1; c++) {
                const q = <usize>c << 2;
                store<f32>(p + q, load<f32>(p + q) + load<f32>(g + q) * inv);
              }
            }
          }
        }
      }
    }
  }
}
