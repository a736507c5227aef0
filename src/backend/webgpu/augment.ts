// Data augmentation on the GPU (assembly/augment.ts): the affine resampling of NHWC images (a 2x3 matrix
// per image, output to input pixel coordinates) and the per-image, per-channel value adjustment. Forward
// resampling is a thread per output pixel. Its transpose scatters each output pixel into up to four input
// pixels, and several output pixels share one (reflect and wrap fill modes fold many onto it): a thread per
// (image, channel) owns its slice of dx and scatters in wasm's order, so there are no races and the sums are
// wasm's. The adjustment's per-channel means and gradient sums are a thread per (image, channel).
import type { Kernels } from '../kernels.js';
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

/** Fill modes (constant 0, reflect 1, wrap 2, nearest 3): an index on an axis of `size`, or -1 to fill. */
const MAP_INDEX = /* wgsl */ `
fn mapIndex(i: i32, size: i32, mode: u32) -> i32 {
  if (i >= 0 && i < size) { return i; }
  if (mode == 0u) { return -1; }
  if (mode == 3u) { return select(size - 1, 0, i < 0); }
  if (mode == 2u) { let r = i % size; return select(r, r + size, r < 0); }
  let period = size * 2;
  var r = i % period;
  if (r < 0) { r += period; }
  return select(period - 1 - r, r, r < size);
}
// the element offset of pixel (iy, ix) of image n, or -1 where a tap falls outside
fn tap(img: u32, n: u32, H: u32, W: u32, C: u32, iy: i32, ix: i32) -> i32 {
  if (iy < 0 || ix < 0) { return -1; }
  return i32(img + ((n * H + u32(iy)) * W + u32(ix)) * C);
}
struct Taps { p: vec4i, w: vec4f };
// the four bilinear taps (or one nearest tap, weight 1) of output pixel (oy, ox) of image n
fn taps(n: u32, oy: u32, ox: u32, img: u32, H: u32, W: u32, C: u32, mats: u32, interp: u32, fill: u32) -> Taps {
  let m = mats + n * 6u;
  let fx = mem[m] * f32(ox) + mem[m + 1u] * f32(oy) + mem[m + 2u];
  let fy = mem[m + 3u] * f32(ox) + mem[m + 4u] * f32(oy) + mem[m + 5u];
  if (interp == 0u) {
    let p = tap(img, n, H, W, C, mapIndex(i32(floor(fy + 0.5)), i32(H), fill), mapIndex(i32(floor(fx + 0.5)), i32(W), fill));
    return Taps(vec4i(p, -1, -1, -1), vec4f(1.0, 0.0, 0.0, 0.0));
  }
  let x0f = floor(fx); let y0f = floor(fy); let wx = fx - x0f; let wy = fy - y0f;
  let x0 = i32(x0f); let y0 = i32(y0f);
  let ix0 = mapIndex(x0, i32(W), fill); let ix1 = mapIndex(x0 + 1, i32(W), fill);
  let iy0 = mapIndex(y0, i32(H), fill); let iy1 = mapIndex(y0 + 1, i32(H), fill);
  let ux = 1.0 - wx; let uy = 1.0 - wy;
  return Taps(vec4i(tap(img, n, H, W, C, iy0, ix0), tap(img, n, H, W, C, iy0, ix1), tap(img, n, H, W, C, iy1, ix0), tap(img, n, H, W, C, iy1, ix1)),
    vec4f(ux * uy, wx * uy, ux * wy, wx * wy));
}`;

// imageAffine: a thread per output pixel. u: N H W C OH OW x mats y interp fill; f: fillValue
const AFFINE_RESAMPLE = MAP_INDEX + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let N = ai(0u); let H = ai(1u); let W = ai(2u); let C = ai(3u); let OH = ai(4u); let OW = ai(5u);
  if (t >= N * OH * OW) { return; }
  let ox = t % OW; let oy = (t / OW) % OH; let n = t / (OW * OH);
  let tp = taps(n, oy, ox, ai(6u), H, W, C, ai(7u), ai(9u), ai(10u));
  let fv = af(11u); let q = ai(8u) + t * C;
  for (var c = 0u; c < C; c++) {
    var s: f32 = 0.0;
    for (var k = 0u; k < select(4u, 1u, ai(9u) == 0u); k++) {
      let p = tp.p[k];
      let v = select(fv, mem[u32(max(p, 0)) + c], p >= 0);
      // as wasm: w00 v00 + w01 v01 + w10 v10 + w11 v11, left to right (nearest: the value itself)
      s = select(s + tp.w[k] * v, v, ai(9u) == 0u);
    }
    mem[q + c] = s;
  }
}`;

// imageAffineBackward: a thread per (image, channel). u: N H W C OH OW dy mats dx interp fill
const AFFINE_RESAMPLE_BACKWARD = MAP_INDEX + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let N = ai(0u); let H = ai(1u); let W = ai(2u); let C = ai(3u); let OH = ai(4u); let OW = ai(5u);
  if (t >= N * C) { return; }
  let n = t / C; let c = t % C; let dx = ai(8u);
  for (var i = 0u; i < H * W; i++) { mem[dx + (n * H * W + i) * C + c] = 0.0; }
  for (var oy = 0u; oy < OH; oy++) {
    for (var ox = 0u; ox < OW; ox++) {
      let tp = taps(n, oy, ox, dx, H, W, C, ai(7u), ai(9u), ai(10u));
      let v = mem[ai(6u) + ((n * OH + oy) * OW + ox) * C + c];
      for (var k = 0u; k < select(4u, 1u, ai(9u) == 0u); k++) {
        let p = tp.p[k];
        if (p >= 0) { mem[u32(p) + c] += select(tp.w[k] * v, v, ai(9u) == 0u); }
      }
    }
  }
}`;

// imageAdjust, pass 1: each (image, channel)'s mean into its params. u: N HW C x params
const ADJUST_MEAN = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let HW = ai(1u); let C = ai(2u);
  if (t >= ai(0u) * C) { return; }
  let n = t / C; let c = t % C;
  var s: f32 = 0.0;
  for (var i = 0u; i < HW; i++) { s += mem[ai(3u) + (n * HW + i) * C + c]; }
  mem[ai(4u) + t * 4u + 3u] = s / f32(HW);
}`;

// imageAdjust, pass 2: a thread per element. u: N HW C x params y; f: lo hi
const ADJUST_APPLY = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let HW = ai(1u); let C = ai(2u);
  if (i >= ai(0u) * HW * C) { return; }
  let p = ai(4u) + ((i / (HW * C)) * C + i % C) * 4u;
  let v = mem[p] * mem[ai(3u) + i] + mem[p + 1u] * mem[p + 3u] + mem[p + 2u];
  mem[ai(5u) + i] = min(max(v, af(6u)), af(7u));
}`;

// imageAdjustBackward: a thread per (image, channel). u: N HW C x dy params dx; f: lo hi
const ADJUST_BACKWARD = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let HW = ai(1u); let C = ai(2u);
  if (t >= ai(0u) * C) { return; }
  let n = t / C; let c = t % C; let p = ai(5u) + t * 4u;
  let a = mem[p]; let beta = mem[p + 1u]; let bm = beta * mem[p + 3u]; let delta = mem[p + 2u];
  // g = dy where the output was not clamped, and its sum over the image for the mean's share
  var s: f32 = 0.0;
  for (var i = 0u; i < HW; i++) {
    let o = (n * HW + i) * C + c;
    let v = a * mem[ai(3u) + o] + bm + delta;
    let gv = select(0.0, mem[ai(4u) + o], v >= af(7u) && v <= af(8u));
    mem[ai(6u) + o] = gv;
    s += gv;
  }
  for (var i = 0u; i < HW; i++) { let o = (n * HW + i) * C + c; mem[ai(6u) + o] = a * mem[ai(6u) + o] + beta * s / f32(HW); }
}`;

export function augmentKernels(gpu: GpuHeap): Pick<Kernels, 'imageAffine' | 'imageAffineBackward' | 'imageAdjust' | 'imageAdjustBackward'> {
  return {
    imageAffine: (N, H, W, C, OH, OW, x, mats, y, interp, fill, fillValue) =>
      gpu.run(AFFINE_RESAMPLE, N * OH * OW, { u: [N, H, W, C, OH, OW, e(x), e(mats), e(y), interp, fill], f: [fillValue] }),
    imageAffineBackward: (N, H, W, C, OH, OW, dy, mats, dx, interp, fill) =>
      gpu.run(AFFINE_RESAMPLE_BACKWARD, N * C, { u: [N, H, W, C, OH, OW, e(dy), e(mats), e(dx), interp, fill] }),
    imageAdjust(N, HW, C, x, params, lo, hi, y) {
      gpu.run(ADJUST_MEAN, N * C, { u: [N, HW, C, e(x), e(params)] });
      gpu.run(ADJUST_APPLY, N * HW * C, { u: [N, HW, C, e(x), e(params), e(y)], f: [lo, hi] });
    },
    // ws (C floats on wasm) is not needed: a thread keeps its channel's sum in a register
    imageAdjustBackward: (N, HW, C, x, dy, params, lo, hi, dx) =>
      gpu.run(ADJUST_BACKWARD, N * C, { u: [N, HW, C, e(x), e(dy), e(params), e(dx)], f: [lo, hi] }),
  };
}
