// Data augmentation on NHWC images: an affine resampling per image (flips, rotations, translations, zooms and
// crops are all one 2x3 matrix from output to input pixel coordinates), and a per-image, per-channel affine
// adjustment of values (contrast, brightness), forward and backward. The op (src/ops/augment.ts) draws the
// random parameters; these kernels only apply them.

const FILL_CONSTANT: i32 = 0;
const FILL_REFLECT: i32 = 1;
const FILL_WRAP: i32 = 2;
const FILL_NEAREST: i32 = 3;

/**
 * Pixel index i on an axis of `size` pixels after the fill mode: reflect about the edge pixels' outer
 * border (d c b a | a b c d | d c b a), wrap (a b c d | a b c d), nearest (a a a | a b c d | d d d), or -1 where
 * constant mode fills instead.
 */
// @ts-ignore: decorator
@inline function mapIndex(i: i32, size: i32, mode: i32): i32 {
  if (i >= 0 && i < size) return i;
  if (mode == FILL_CONSTANT) return -1;
  if (mode == FILL_NEAREST) return i < 0 ? 0 : size - 1;
  if (mode == FILL_WRAP) {
    const r = i % size;
    return r < 0 ? r + size : r;
  }
  const period = size << 1;
  let r = i % period;
  if (r < 0) r += period;
  return r < size ? r : period - 1 - r;
}

// @ts-ignore: decorator
@inline function pixel(x: usize, n: i32, H: i32, W: i32, C: i32, iy: i32, ix: i32): usize {
  return x + ((((<usize>n * <usize>H + <usize>iy) * <usize>W + <usize>ix) * <usize>C) << 2);
}

/** A tap's pixel address, or 0 where it falls outside (mapIndex gave -1). */
// @ts-ignore: decorator
@inline function tapAt(img: usize, n: i32, H: i32, W: i32, C: i32, iy: i32, ix: i32): usize {
  return iy >= 0 && ix >= 0 ? pixel(img, n, H, W, C, iy, ix) : 0;
}

/**
 * One pass over the output pixels of an affine resampling, forward (res[n, oy, ox, :] = img[n] sampled at
 * (ix, iy) = M_n (ox, oy, 1)) or backward (img += the transpose applied to res): the same taps and weights
 * both ways. M_n: the 2x3 matrix at mats + 24 n (row for ix, then row for iy; pixel centres at integers).
 * interp: 0 nearest, 1 bilinear. Points outside the image follow the fill mode (constant: fillValue, and no
 * gradient). A tap's address is 0 where it falls outside.
 */
// @ts-ignore: decorator
@inline function affinePass(back: bool, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, img: usize, mats: usize, res: usize,
  interp: i32, fill: i32, fillValue: f32): void {
  for (let n = 0; n < N; n++) {
    const m = mats + (<usize>n * 24);
    const a0 = load<f32>(m), a1 = load<f32>(m, 4), a2 = load<f32>(m, 8), b0 = load<f32>(m, 12), b1 = load<f32>(m, 16), b2 = load<f32>(m, 20);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const fx = a0 * <f32>ox + a1 * <f32>oy + a2, fy = b0 * <f32>ox + b1 * <f32>oy + b2;
        const q = pixel(res, n, OH, OW, C, oy, ox);
        if (interp == 0) {
          const p = tapAt(img, n, H, W, C, mapIndex(<i32>Mathf.floor(fy + 0.5), H, fill), mapIndex(<i32>Mathf.floor(fx + 0.5), W, fill));
          for (let c = 0; c < C; c++) {
            const o = <usize>c << 2;
            if (back) { if (p) store<f32>(p + o, load<f32>(p + o) + load<f32>(q + o)); } else store<f32>(q + o, p ? load<f32>(p + o) : fillValue);
          }
          continue;
        }
        const x0f = Mathf.floor(fx), y0f = Mathf.floor(fy), wx = fx - x0f, wy = fy - y0f;
        const x0 = <i32>x0f, y0 = <i32>y0f;
        const ix0 = mapIndex(x0, W, fill), ix1 = mapIndex(x0 + 1, W, fill), iy0 = mapIndex(y0, H, fill), iy1 = mapIndex(y0 + 1, H, fill);
        const p00 = tapAt(img, n, H, W, C, iy0, ix0), p01 = tapAt(img, n, H, W, C, iy0, ix1);
        const p10 = tapAt(img, n, H, W, C, iy1, ix0), p11 = tapAt(img, n, H, W, C, iy1, ix1);
        const ux: f32 = 1 - wx, uy: f32 = 1 - wy, w00 = ux * uy, w01 = wx * uy, w10 = ux * wy, w11 = wx * wy;
        for (let c = 0; c < C; c++) {
          const o = <usize>c << 2;
          if (back) {
            const v = load<f32>(q + o);
            if (p00) store<f32>(p00 + o, load<f32>(p00 + o) + w00 * v);
            if (p01) store<f32>(p01 + o, load<f32>(p01 + o) + w01 * v);
            if (p10) store<f32>(p10 + o, load<f32>(p10 + o) + w10 * v);
            if (p11) store<f32>(p11 + o, load<f32>(p11 + o) + w11 * v);
          } else {
            const v00 = p00 ? load<f32>(p00 + o) : fillValue, v01 = p01 ? load<f32>(p01 + o) : fillValue;
            const v10 = p10 ? load<f32>(p10 + o) : fillValue, v11 = p11 ? load<f32>(p11 + o) : fillValue;
            store<f32>(q + o, w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11);
          }
        }
      }
    }
  }
}

/** y[n, oy, ox, :] = x[n] sampled at M_n (ox, oy, 1) (affinePass). */
export function imageAffine(N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, x: usize, mats: usize, y: usize,
  interp: i32, fill: i32, fillValue: f32): void {
  affinePass(false, N, H, W, C, OH, OW, x, mats, y, interp, fill, fillValue);
}

/** dx = the transpose of imageAffine applied to dy (dx is overwritten; filled points take no gradient). */
export function imageAffineBackward(N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, dy: usize, mats: usize, dx: usize,
  interp: i32, fill: i32): void {
  memory.fill(dx, 0, (<usize>N * <usize>H * <usize>W * <usize>C) << 2);
  affinePass(true, N, H, W, C, OH, OW, dx, mats, dy, interp, fill, 0);
}

/**
 * y = clamp(a x + beta mean + delta, lo, hi) per image n and channel c, with (a, beta, delta, mean) at
 * params + 16 (n C + c); mean (of x over the image's pixels, for that channel) is written by this kernel.
 * Contrast: a = f, beta = 1 - f; brightness: a = 1, beta = 0, delta the shift.
 */
export function imageAdjust(N: i32, HW: i32, C: i32, x: usize, params: usize, lo: f32, hi: f32, y: usize): void {
  for (let n = 0; n < N; n++) {
    const img = <usize>n * <usize>HW * <usize>C, pn = params + ((<usize>n * <usize>C) << 4);
    for (let c = 0; c < C; c++) {
      let s: f64 = 0;
      for (let i = 0; i < HW; i++) s += <f64>load<f32>(x + ((img + <usize>i * <usize>C + <usize>c) << 2));
      store<f32>(pn + (<usize>c << 4), <f32>(s / <f64>HW), 12);
    }
    for (let i = 0; i < HW; i++) {
      for (let c = 0; c < C; c++) {
        const p = pn + (<usize>c << 4), o = (img + <usize>i * <usize>C + <usize>c) << 2;
        const v = load<f32>(p) * load<f32>(x + o) + load<f32>(p, 4) * load<f32>(p, 12) + load<f32>(p, 8);
        store<f32>(y + o, min(max(v, lo), hi));
      }
    }
  }
}

/** dx of imageAdjust (points the clamp moved take no gradient); ws: C floats. */
export function imageAdjustBackward(N: i32, HW: i32, C: i32, x: usize, dy: usize, params: usize, lo: f32, hi: f32, dx: usize, ws: usize): void {
  for (let n = 0; n < N; n++) {
    const img = <usize>n * <usize>HW * <usize>C, pn = params + ((<usize>n * <usize>C) << 4);
    memory.fill(ws, 0, <usize>C << 2);
    // g = dy where the output was not clamped; sum g per channel for the mean's share
    for (let i = 0; i < HW; i++) {
      for (let c = 0; c < C; c++) {
        const p = pn + (<usize>c << 4), o = (img + <usize>i * <usize>C + <usize>c) << 2;
        const v = load<f32>(p) * load<f32>(x + o) + load<f32>(p, 4) * load<f32>(p, 12) + load<f32>(p, 8);
        const g: f32 = v >= lo && v <= hi ? load<f32>(dy + o) : 0;
        store<f32>(dx + o, g);
        store<f32>(ws + (<usize>c << 2), load<f32>(ws + (<usize>c << 2)) + g);
      }
    }
    for (let i = 0; i < HW; i++) {
      for (let c = 0; c < C; c++) {
        const p = pn + (<usize>c << 4), o = (img + <usize>i * <usize>C + <usize>c) << 2;
        store<f32>(dx + o, load<f32>(p) * load<f32>(dx + o) + load<f32>(p, 4) * load<f32>(ws + (<usize>c << 2)) / <f32>HW);
      }
    }
  }
}
