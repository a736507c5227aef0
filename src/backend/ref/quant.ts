// The reference backend's int8 GEMM and u8 quantization kernels: plain loops that compute the integers and
// floats of assembly/gemm_i8.ts and assembly/quant.ts. Packed layouts are private and plain: packed B is a
// row-major K x N copy of the s8 weights, packed A a row-major M x K copy of the u8 activations (no row
// sums, no padding); qgemm needs no workspace. colSums (read by qgemm through its pointer) match wasm's.
import type { Kernels } from '../kernels.js';
import { type HeapMemory, f32, i32, u8, i8 } from './memory.js';

type QuantKernels = Pick<Kernels, 'qgemmPackedBSize' | 'qgemmPackedASize' | 'qgemmWorkSize' | 'qWeightsAre7Bit' | 'qgemmPackB'
  | 'qgemmPackA' | 'qgemm' | 'qim2col' | 'qQuantizePackA' | 'quantizeU8' | 'dequantizeU8' | 'qdepthwiseWorkSize' | 'qdepthwise'>;

const QOUT_I32 = 0, QOUT_U8 = 1, QOUT_U8F = 3;

/** f32.nearest: round half to even (the argument is a float32 value; infinities and NaN pass through). */
function nearest(v: number): number {
  if (!Number.isFinite(v)) return v;
  const fl = Math.floor(v), d = v - fl;
  return d < 0.5 ? fl : d > 0.5 ? fl + 1 : fl % 2 === 0 ? fl : fl + 1;
}

/** i32.trunc_sat_f32_s: truncate toward zero, saturating to the i32 range, NaN -> 0. */
function truncSat(v: number): number {
  if (v !== v) return 0;
  if (v >= 2147483647) return 2147483647;
  if (v <= -2147483648) return -2147483648;
  return Math.trunc(v) | 0;
}

/**
 * ONNX QuantizeLinear to u8: clamp(nearest(x / scale) + zp, 0, 255) with the division in float32, NaN -> zp
 * (clamped). Saturation is exact: no i32 wraparound for |x / scale| beyond 2^31 (see the report on the wasm
 * quantizeOne / quantize16 overflow).
 */
function quantizeOne(x: number, scale: number, zp: number): number {
  const f = nearest(Math.fround(x / scale));
  const q = f !== f ? zp : f + zp;
  return q < 0 ? 0 : q > 255 ? 255 : q;
}

export function quantKernels(mem: HeapMemory): QuantKernels {
  return {
    // packed B: K x N s8 row-major; packed A: M x K u8 row-major; no scratch
    qgemmPackedBSize(K: number, N: number): number {
      return K * N;
    },
    qgemmPackedASize(M: number, K: number): number {
      return M * K;
    },
    qgemmWorkSize(_N: number, _K: number): number {
      return 0;
    },

    qWeightsAre7Bit(K: number, N: number, W: number, ldw: number): number {
      for (let k = 0; k < K; k++) {
        const row = i8(mem, W + k * ldw, N);
        for (let n = 0; n < N; n++) if (row[n] < -64 || row[n] > 63) return 0;
      }
      return 1;
    },

    /**
     * colSums[n] = sum_k W[k, n] (as wasm, whatever relaxed7 is). relaxed7 only selects wasm's relaxed-dot
     * encoding (w + 64, with exact corrections in qgemm), which yields the same integers for 7-bit weights:
     * the reference ignores it.
     */
    qgemmPackB(K: number, N: number, W: number, ldw: number, dst: number, colSums: number, _relaxed7: number): void {
      const sums = new Int32Array(N), packed = new Int8Array(K * N);
      for (let k = 0; k < K; k++) {
        const row = i8(mem, W + k * ldw, N);
        for (let n = 0; n < N; n++) {
          packed[k * N + n] = row[n];
          sums[n] = (sums[n] + row[n]) | 0;
        }
      }
      i32(mem, colSums, N).set(sums);
      i8(mem, dst, K * N).set(packed);
    },

    qgemmPackA(M: number, K: number, A: number, lda: number, dst: number): void {
      const packed = new Uint8Array(M * K);
      for (let m = 0; m < M; m++) packed.set(u8(mem, A + m * lda, K), m * K);
      u8(mem, dst, M * K).set(packed);
    },

    /**
     * v[m, n] = sum_k A[m, k] * W[k, n] + bias[n] - za * colSums[n] (i32, wrapping), colSums read from its
     * pointer. mode 0: v as i32; mode 1: clamp(trunc_sat(nearest(f32(v) * mult[n])) + zy, qmin, qmax) stored
     * as a byte; any other mode: f32(v) * mult[n] in float32, then ReLU (act 1) or ReLU6 (act 2); mode 3 (QOUT_U8F)
     * then quantizes that float as quantizeU8 does, by scale mult[N] and zero point zy (a byte).
     */
    qgemm(M: number, N: number, K: number, pa: number, za: number, pb: number, colSums: number, bias: number, _relaxed7: number,
      mode: number, C: number, ldc: number, mult: number, zy: number, qmin: number, qmax: number, act: number, _work: number): void {
      if (M <= 0 || N <= 0) return;
      const a = u8(mem, pa, M * K), w = i8(mem, pb, K * N), cs = i32(mem, colSums, N);
      const b = bias ? i32(mem, bias, N) : null;
      const colTerm = new Int32Array(N);
      for (let n = 0; n < N; n++) colTerm[n] = ((b ? b[n] : 0) - Math.imul(za, cs[n])) | 0;
      const acc = new Int32Array(M * N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s = (s + a[m * K + k] * w[k * N + n]) | 0;
          acc[m * N + n] = (s + colTerm[n]) | 0;
        }
      }
      const rowsSpan = (M - 1) * ldc + N;
      if (mode === QOUT_I32) {
        const c = i32(mem, C, rowsSpan);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) c[m * ldc + n] = acc[m * N + n];
        return;
      }
      const s = f32(mem, mult, N);
      if (mode === QOUT_U8) {
        const c = u8(mem, C, rowsSpan);
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < N; n++) {
            const f = Math.fround(Math.fround(acc[m * N + n]) * s[n]);
            let q = (truncSat(nearest(f)) + zy) | 0;
            q = q < qmin ? qmin : q > qmax ? qmax : q;
            c[m * ldc + n] = q & 255;
          }
        }
        return;
      }
      const c = mode === QOUT_U8F ? u8(mem, C, rowsSpan) : f32(mem, C, rowsSpan);
      const ys = mode === QOUT_U8F ? f32(mem, mult, N + 1)[N] : 1;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let f = Math.fround(Math.fround(acc[m * N + n]) * s[n]);
          if (act === 1) f = Math.max(f, 0);
          else if (act === 2) f = Math.min(Math.max(f, 0), 6);
          c[m * ldc + n] = mode === QOUT_U8F ? quantizeOne(f, ys, zy) : f;
        }
      }
    },

    /**
     * The NHWC patch matrix (groups 1) in packed-A layout: row m = (n, oy, ox), column (ky, kx, c); positions
     * outside the image read the input zero point za (stored as a byte).
     */
    qim2col(N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number, PT: number, PL: number,
      DH: number, DW: number, OH: number, OW: number, x: number, za: number, dst: number): void {
      const K = KH * KW * C, M = N * OH * OW;
      const src = u8(mem, x, N * H * W * C), out = new Uint8Array(M * K);
      let m = 0;
      for (let n = 0; n < N; n++) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            let col = m * K;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * SH - PT + ky * DH;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * SW - PL + kx * DW;
                const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                const at = ((n * H + iy) * W + ix) * C;
                for (let c = 0; c < C; c++) out[col + c] = inside ? src[at + c] : za & 255;
                col += C;
              }
            }
            m++;
          }
        }
      }
      u8(mem, dst, M * K).set(out);
    },

    /** quantizeU8 of each row of x (M x K, row stride ldx floats) into the packed-A layout. */
    qQuantizePackA(M: number, K: number, x: number, ldx: number, scale: number, zp: number, dst: number): void {
      const sc = Math.fround(scale), out = new Uint8Array(M * K);
      for (let m = 0; m < M; m++) {
        const row = f32(mem, x + m * ldx * 4, K);
        for (let k = 0; k < K; k++) out[m * K + k] = quantizeOne(row[k], sc, zp);
      }
      u8(mem, dst, M * K).set(out);
    },

    quantizeU8(n: number, x: number, scale: number, zp: number, y: number): void {
      const sc = Math.fround(scale), src = f32(mem, x, n), out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = quantizeOne(src[i], sc, zp);
      u8(mem, y, n).set(out);
    },

    /** qdepthwise needs no scratch here */
    qdepthwiseWorkSize(_N: number, _H: number, _W: number, _C: number, _CO: number): number {
      return 0;
    },

    /**
     * The depthwise convolution by its definition: v[n, oy, ox, o] = bias[o] + sum over the taps inside the
     * image of (x[n, iy, ix, floor(o / mult)] - za) * w[ky, kx, o] (i32, wrapping; mult = CO / C), then the
     * epilogue of qgemm (mode 0: i32; 1: requantized u8; 2: f32 with ReLU / ReLU6, where NaN and -0 give 0; 3: that
     * f32 quantized by scale mult[CO] and zero point zy, as quantizeU8).
     */
    qdepthwise(N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number, PT: number, PL: number,
      DH: number, DW: number, OH: number, OW: number, CO: number, x: number, za: number, w: number, bias: number, mode: number, y: number,
      mult: number, zy: number, qmin: number, qmax: number, act: number, _work: number): void {
      if (N <= 0 || OH <= 0 || OW <= 0 || CO <= 0 || C <= 0) return;
      const m = CO / C, P = N * OH * OW;
      const src = u8(mem, x, N * H * W * C), wt = i8(mem, w, KH * KW * CO), b = bias ? i32(mem, bias, CO) : null;
      const acc = new Int32Array(P * CO);
      let p = 0;
      for (let n = 0; n < N; n++) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++, p++) {
            for (let o = 0; o < CO; o++) {
              const c = Math.floor(o / m);
              let s = b ? b[o] : 0;
              for (let ky = 0; ky < KH; ky++) {
                const iy = oy * SH - PT + ky * DH;
                if (iy < 0 || iy >= H) continue;
                for (let kx = 0; kx < KW; kx++) {
                  const ix = ox * SW - PL + kx * DW;
                  if (ix < 0 || ix >= W) continue;
                  s = (s + Math.imul(src[((n * H + iy) * W + ix) * C + c] - za, wt[(ky * KW + kx) * CO + o])) | 0;
                }
              }
              acc[p * CO + o] = s;
            }
          }
        }
      }
      if (mode === QOUT_I32) { i32(mem, y, P * CO).set(acc); return; }
      const sc = f32(mem, mult, CO);
      if (mode === QOUT_U8) {
        const out = u8(mem, y, P * CO);
        for (let i = 0; i < P * CO; i++) {
          const f = Math.fround(Math.fround(acc[i]) * sc[i % CO]);
          let q = (truncSat(nearest(f)) + zy) | 0;
          q = q < qmin ? qmin : q > qmax ? qmax : q;
          out[i] = q & 255;
        }
        return;
      }
      // ReLU / ReLU6 as wasm's pmax(0, f) / pmin(6, f): -0 and NaN give 0
      const out = mode === QOUT_U8F ? u8(mem, y, P * CO) : f32(mem, y, P * CO);
      const ys = mode === QOUT_U8F ? f32(mem, mult, CO + 1)[CO] : 1;
      for (let i = 0; i < P * CO; i++) {
        let f = Math.fround(Math.fround(acc[i]) * sc[i % CO]);
        if (act !== 0) f = 0 < f ? f : 0;
        if (act === 2) f = f < 6 ? f : 6;
        out[i] = mode === QOUT_U8F ? quantizeOne(f, ys, zy) : f;
      }
    },

    /** f32 = f32(q - zp) * scale, in float32. */
    dequantizeU8(n: number, q: number, scale: number, zp: number, y: number): void {
      const sc = Math.fround(scale), src = u8(mem, q, n), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.fround(Math.fround((src[i] - zp) | 0) * sc);
      f32(mem, y, n).set(out);
    },
  };
}
