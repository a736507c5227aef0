// Reference (oracle) kernels for data augmentation: the contracts of assembly/augment.ts in plain TypeScript
// with float64 arithmetic (an affine resampling per image; a per-image, per-channel value adjustment).
import type { Kernels } from '../kernels.js';
import { type HeapMemory, f32 } from './memory.js';

type AugmentKernels = Pick<Kernels, 'imageAffine' | 'imageAffineBackward' | 'imageAdjust' | 'imageAdjustBackward'>;

const CONSTANT = 0, WRAP = 2, NEAREST = 3;

/** Index i on an axis of `size` after the fill mode (reflect, wrap, nearest), or -1 for constant fill. */
function mapIndex(i: number, size: number, mode: number): number {
  if (i >= 0 && i < size) return i;
  if (mode === CONSTANT) return -1;
  if (mode === NEAREST) return i < 0 ? 0 : size - 1;
  if (mode === WRAP) return ((i % size) + size) % size;
  const period = 2 * size, r = ((i % period) + period) % period;
  return r < size ? r : period - 1 - r;
}

/** The sample points of output pixel (ox, oy): [input pixel index or -1, weight] pairs. */
function taps(m: Float32Array, ox: number, oy: number, H: number, W: number, interp: number, fill: number): Array<[number, number, number]> {
  const fr = Math.fround;
  const fx = fr(fr(fr(m[0] * ox) + fr(m[1] * oy)) + m[2]), fy = fr(fr(fr(m[3] * ox) + fr(m[4] * oy)) + m[5]);
  if (interp === 0) return [[mapIndex(Math.floor(fx + 0.5), W, fill), mapIndex(Math.floor(fy + 0.5), H, fill), 1]];
  const x0 = Math.floor(fx), y0 = Math.floor(fy), wx = fx - x0, wy = fy - y0;
  return [
    [mapIndex(x0, W, fill), mapIndex(y0, H, fill), (1 - wx) * (1 - wy)],
    [mapIndex(x0 + 1, W, fill), mapIndex(y0, H, fill), wx * (1 - wy)],
    [mapIndex(x0, W, fill), mapIndex(y0 + 1, H, fill), (1 - wx) * wy],
    [mapIndex(x0 + 1, W, fill), mapIndex(y0 + 1, H, fill), wx * wy],
  ];
}

export function augmentKernels(mem: HeapMemory): AugmentKernels {
  return {
    imageAffine(N, H, W, C, OH, OW, x, mats, y, interp, fill, fillValue) {
      const xv = f32(mem, x, N * H * W * C), yv = f32(mem, y, N * OH * OW * C), mv = f32(mem, mats, N * 6);
      const fv = Math.fround(fillValue);
      for (let n = 0; n < N; n++) {
        const m = mv.subarray(n * 6, n * 6 + 6);
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            const tp = taps(m, ox, oy, H, W, interp, fill);
            for (let c = 0; c < C; c++) {
              let v = 0;
              for (const [ix, iy, w] of tp) v += w * (ix < 0 || iy < 0 ? fv : xv[((n * H + iy) * W + ix) * C + c]);
              yv[((n * OH + oy) * OW + ox) * C + c] = v;
            }
          }
        }
      }
    },
    imageAffineBackward(N, H, W, C, OH, OW, dy, mats, dx, interp, fill) {
      const dyv = f32(mem, dy, N * OH * OW * C), mv = f32(mem, mats, N * 6);
      const acc = new Float64Array(N * H * W * C);
      for (let n = 0; n < N; n++) {
        const m = mv.subarray(n * 6, n * 6 + 6);
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            for (const [ix, iy, w] of taps(m, ox, oy, H, W, interp, fill)) {
              if (ix < 0 || iy < 0) continue;
              for (let c = 0; c < C; c++) acc[((n * H + iy) * W + ix) * C + c] += w * dyv[((n * OH + oy) * OW + ox) * C + c];
            }
          }
        }
      }
      f32(mem, dx, acc.length).set(acc);
    },
    imageAdjust(N, HW, C, x, params, lo, hi, y) {
      const xv = f32(mem, x, N * HW * C), yv = f32(mem, y, N * HW * C), p = f32(mem, params, N * C * 4);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let i = 0; i < HW; i++) s += xv[(n * HW + i) * C + c];
          const q = (n * C + c) * 4;
          p[q + 3] = s / HW;
          for (let i = 0; i < HW; i++) {
            const o = (n * HW + i) * C + c;
            yv[o] = Math.min(Math.max(p[q] * xv[o] + p[q + 1] * p[q + 3] + p[q + 2], lo), hi);
          }
        }
      }
    },
    imageAdjustBackward(N, HW, C, x, dy, params, lo, hi, dx, _ws) {
      const xv = f32(mem, x, N * HW * C), dyv = f32(mem, dy, N * HW * C), dxv = f32(mem, dx, N * HW * C), p = f32(mem, params, N * C * 4);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          const q = (n * C + c) * 4, g = new Float64Array(HW);
          let s = 0;
          for (let i = 0; i < HW; i++) {
            const o = (n * HW + i) * C + c, v = p[q] * xv[o] + p[q + 1] * p[q + 3] + p[q + 2];
            g[i] = v >= lo && v <= hi ? dyv[o] : 0;
            s += g[i];
          }
          for (let i = 0; i < HW; i++) dxv[(n * HW + i) * C + c] = p[q] * g[i] + p[q + 1] * s / HW;
        }
      }
    },
  };
}
