// int8 GEMM: C = requantize(sum_k (A[m,k] - za) * W[k,n] + bias[n]), with u8 activations A (per-tensor zero
// point za), s8 weights W (symmetric per output channel: zero point 0) and i32 accumulation. Epilogues:
// the raw i32 (tests), requantized u8 (per-channel f32 multiplier, output zero point, clamp; ReLU/ReLU6
// are the clamp bounds) or dequantized f32 (per-channel multiplier, optional ReLU/ReLU6).
//
// Weights are packed once: NR = 8 column panels, K in quads, 32 bytes per (panel, quad): columns 0-3 (4 k
// each), then columns 4-7. Activations are packed per call into rows of Kq * 4 bytes with their row sums.
// Every build computes the same integers:
// - relaxed SIMD: i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies a signed i8 operand by one whose top bit
//   must be clear to be deterministic. When every weight lies in [-64, 63] (7-bit weights, as quantize()
//   makes them), weights are packed as w + 64 (in [0, 127]) and activations go in as a - 128 (signed):
//   sum (a - 128)(w + 64) = sum a w + 64 sum a - 128 sum w - 8192 K, so sum a w comes back exactly from the
//   row and column sums. 16 multiply-adds per instruction. Full-range weights take the SIMD128 path.
// - SIMD128: i32x4.dot_i16x8_s, 8 multiply-adds per instruction. K up to WIDE_MAX_K: the weights are packed already widened to i16
//   (the "wide" layout: per pair of k, columns 0-3 then 4-7, each as [w(k), w(k+1)]); each 4-row block of A is
//   widened once into i16 rows, and the kernel splats one row's pair of k ([a(k), a(k+1)] x 4, one load) against
//   both column halves: every accumulator lane is one output column, so nothing is reduced at the end, the
//   accumulators start from the column terms (bias - za colSum) and the f32 epilogue runs on them in registers
//   (XNNPACK's "c2" qs8 GEMMs, dot16x2 on wasm SIMD). Longer K: the quad layout, each quad of a row extended
//   to i16 and doubled ([a0..a3, a0..a3]) against two columns' quads per dot, pairs summed at the end.
// - scalar: plain loops over the quad layout.
// Requantization rounds half to even (f32.nearest), as ONNX QuantizeLinear and ONNX Runtime do.
// QOUT_U8F is the epilogue that links two int8 layers (src/quantize/u8-links.ts): the f32 epilogue's value
// quantized by the next layer's input scale and zero point: the bytes that quantizeU8 of QOUT_F32's output
// would give, without the f32 tensor in between. Each block of 4 rows is staged as f32 in the scratch (in
// cache) and quantized by quantizeU8's loop, 16 values a step: rounding 4 or 8 values at a time inside the
// tile loop measured 2-3x slower than the f32 epilogue and a separate quantizeU8 pass together.
import { quantizeOne, quantize16, quantize16Exact, truncSatI32 } from './common';
import { quantizeU8 } from './quant';
import { setIm2col, walkPatchPixel } from './im2col';

export const QNR: i32 = 8;
export const QMR: i32 = 4;

export const QOUT_I32: i32 = 0;
export const QOUT_U8: i32 = 1;
export const QOUT_F32: i32 = 2;
export const QOUT_U8F: i32 = 3;

@inline function roundUp(x: i32, m: i32): i32 { return (x + m - 1) / m * m; }

/** K (rounded up to 4) up to which SIMD128 takes the wide layout: measured 12-15% faster at K 16-24, even at 64, 10% slower from ~500. */
const WIDE_MAX_K: i32 = 64;

/** Bytes of packed weights for K x N (the wide layout's: two bytes a weight). */
export function qgemmPackedBSize(K: i32, N: i32): i32 {
  return roundUp(N, QNR) * roundUp(K, 4) * (roundUp(K, 4) <= WIDE_MAX_K ? 2 : 1);
}

/** Whether qgemmPackB / qgemm use the wide (i16) layout: SIMD builds, short K, unless on the relaxed dot path. */
@inline function wideLayout(K: i32, relaxed7: i32): bool {
  return ASC_FEATURE_SIMD && roundUp(K, 4) <= WIDE_MAX_K && !(ASC_FEATURE_RELAXED_SIMD && relaxed7 != 0);
}

/** Bytes of packed activations for M rows of K (rows of Kq*4 bytes, plus M i32 row sums). */
export function qgemmPackedASize(M: i32, K: i32): i32 {
  return roundUp(M, QMR) * (roundUp(K, 4) + 4);
}

/**
 * Bytes of qgemm's scratch for N columns of K: column terms, 4 rows expanded for the SIMD128 kernel, and 4 rows
 * of f32 (QOUT_U8F stages a row block there).
 */
export function qgemmWorkSize(N: i32, K: i32): i32 {
  return N * 4 + 16 * roundUp(K, 4) + 16 * N + 96;
}

/** Whether every weight of W (K x N s8, row stride ldw) lies in [-64, 63]: the relaxed kernel's range. */
export function qWeightsAre7Bit(K: i32, N: i32, W: usize, ldw: i32): i32 {
  for (let k = 0; k < K; k++) {
    const row = W + <usize>(k * ldw);
    for (let n = 0; n < N; n++) {
      const v = load<i8>(row + <usize>n);
      if (v < -64 || v > 63) return 0;
    }
  }
  return 1;
}

/**
 * Pack s8 weights W (K x N, row stride ldw) into panels; padding is zero. With relaxed7 (relaxed build and
 * 7-bit weights) each byte is stored as w + 64. colSums (N i32) receives sum_k W[k, n].
 */
export function qgemmPackB(K: i32, N: i32, W: usize, ldw: i32, dst: usize, colSums: usize, relaxed7: i32): void {
  const Kq = roundUp(K, 4) >> 2, Np = roundUp(N, QNR);
  const off: i32 = relaxed7 ? 64 : 0;
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += <i32>load<i8>(W + <usize>(k * ldw + n));
    store<i32>(colSums + (<usize>n << 2), s);
  }
  if (wideLayout(K, relaxed7)) {
    // panels of Kq * 64 bytes: per pair of k, 8 columns of [w(k), w(k+1)] as i16
    for (let nb = 0; nb < Np; nb += QNR) {
      const panel = dst + <usize>nb * <usize>(Kq << 3);
      for (let p = 0; p < Kq * 2; p++) {
        for (let c = 0; c < QNR; c++) {
          const n = nb + c;
          for (let i = 0; i < 2; i++) {
            const k = p * 2 + i;
            const v: i32 = n < N && k < K ? <i32>load<i8>(W + <usize>(k * ldw + n)) : 0;
            store<i16>(panel + <usize>(p * 32 + c * 4 + i * 2), <i16>v);
          }
        }
      }
    }
    return;
  }
  for (let nb = 0; nb < Np; nb += QNR) {
    const panel = dst + <usize>nb * <usize>(Kq << 2);
    for (let q = 0; q < Kq; q++) {
      for (let c = 0; c < QNR; c++) {
        const n = nb + c;
        const at = panel + <usize>(q * 32 + (c >> 2) * 16 + (c & 3) * 4);
        for (let i = 0; i < 4; i++) {
          const k = q * 4 + i;
          const v: i32 = n < N && k < K ? <i32>load<i8>(W + <usize>(k * ldw + n)) : 0;
          store<u8>(at + <usize>i, <u8>(v + off));
        }
      }
    }
  }
}

/**
 * Pack u8 activations A (M x K, row stride lda) into rows of Kq*4 bytes (zero padding) followed by the M row
 * sums (i32) at dst + roundUp(M, 4) * Kq * 4. The relaxed kernel reads them as a - 128.
 */
export function qgemmPackA(M: i32, K: i32, A: usize, lda: i32, dst: usize): void {
  const Kp = roundUp(K, 4);
  const sums = dst + <usize>(roundUp(M, QMR) * Kp);
  for (let m = 0; m < M; m++) {
    const src = A + <usize>(m * lda), row = dst + <usize>(m * Kp);
    let s = 0, k = 0;
    if (ASC_FEATURE_SIMD) {
      // 16 bytes at a time: copied, and summed by two pairwise widenings (a byte loop here cost as much as
      // the GEMM itself on a short row)
      let acc = i32x4.splat(0);
      for (; k + 16 <= K; k += 16) {
        const v = v128.load(src + <usize>k);
        v128.store(row + <usize>k, v);
        acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(v)));
      }
      s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    }
    for (; k < K; k++) { const v = load<u8>(src + <usize>k); store<u8>(row + <usize>k, v); s += <i32>v; }
    for (; k < Kp; k++) store<u8>(row + <usize>k, 0);
    store<i32>(sums + (<usize>m << 2), s);
  }
  // rows past M (up to the tile) are zero so full tiles can run over them
  for (let m = M; m < roundUp(M, QMR); m++) {
    memory.fill(dst + <usize>(m * Kp), 0, <usize>Kp);
    store<i32>(sums + (<usize>m << 2), 0);
  }
}

// A 4 x 8 tile of i32 accumulators.
const ACC: usize = memory.data(QMR * QNR * 4, 16);

// ---- micro-kernels: 4 rows of packed A (stride Kp bytes) x one 8-column panel, over Kq quads -> ACC ----

@inline function kernelRelaxed(a: usize, b: usize, Kq: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // a: 4 rows of Kq quads, each splatted to 16 bytes and flipped to a - 128 (expandRowsRelaxed)
    let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
    let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
    const stride = <usize>(Kq << 4);
    let a0 = a, bp = b;
    for (let q = 0; q < Kq; q++) {
      const b0 = v128.load(bp), b1 = v128.load(bp + 16);
      let x = v128.load(a0);
      c00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b0, c00);
      c01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b1, c01);
      x = v128.load(a0 + stride);
      c10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b0, c10);
      c11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b1, c11);
      x = v128.load(a0 + stride * 2);
      c20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b0, c20);
      c21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b1, c21);
      x = v128.load(a0 + stride * 3);
      c30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b0, c30);
      c31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, b1, c31);
      bp += 32; a0 += 16;
    }
    v128.store(ACC, c00); v128.store(ACC, c01, 16);
    v128.store(ACC, c10, 32); v128.store(ACC, c11, 48);
    v128.store(ACC, c20, 64); v128.store(ACC, c21, 80);
    v128.store(ACC, c30, 96); v128.store(ACC, c31, 112);
  }
}

/** 4 packed rows -> 4 rows of Kq quads splatted to 16 bytes as a - 128, for kernelRelaxed. */
@inline function expandRowsRelaxed(a: usize, Kp: i32, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    const Kq = Kp >> 2, flip = i8x16.splat(-128);
    for (let r = 0; r < QMR; r++) {
      const src = a + <usize>(r * Kp);
      let d = dst + <usize>(r * (Kq << 4));
      for (let q = 0; q < Kq; q++) {
        v128.store(d, v128.xor(i32x4.splat(load<i32>(src + <usize>(q << 2))), flip));
        d += 16;
      }
    }
  }
}

/**
 * 4 rows of i16 A (expandRowsWide: rows of Kq * 8 bytes) x one wide panel of 8 columns over Kq quads, the
 * accumulators starting from the column terms t (8 i32): per pair of k, one splat of each row's pair against
 * the panel's two halves. QOUT_F32 with a full panel (f32 at out, row stride ld floats, mr rows, ReLU /
 * ReLU6 by act) runs the epilogue on the registers; otherwise (epi false) the sums go to ACC.
 */
@inline function tileWide(a: usize, b: usize, Kq: i32, t: usize, epi: bool, mult: usize, out: usize, ld: i32, mr: i32, act: i32): void {
  if (ASC_FEATURE_SIMD) {
    const t0 = v128.load(t), t1 = v128.load(t, 16);
    let c00 = t0, c01 = t1, c10 = t0, c11 = t1, c20 = t0, c21 = t1, c30 = t0, c31 = t1;
    const stride = <usize>(Kq << 3);
    let a0 = a, bp = b;
    // two pairs of k (a quad) per step
    for (let q = 0; q < Kq; q++) {
      let w0 = v128.load(bp), w1 = v128.load(bp, 16);
      let x = v128.load32_splat(a0);
      c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride);
      c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride * 2);
      c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride * 3);
      c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
      w0 = v128.load(bp, 32); w1 = v128.load(bp, 48);
      x = v128.load32_splat(a0, 4);
      c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride, 4);
      c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride * 2, 4);
      c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
      x = v128.load32_splat(a0 + stride * 3, 4);
      c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
      bp += 64; a0 += 8;
    }
    if (!epi) {
      // the generic epilogue reads the sums without the column terms
      v128.store(ACC, i32x4.sub(c00, t0)); v128.store(ACC, i32x4.sub(c01, t1), 16);
      v128.store(ACC, i32x4.sub(c10, t0), 32); v128.store(ACC, i32x4.sub(c11, t1), 48);
      v128.store(ACC, i32x4.sub(c20, t0), 64); v128.store(ACC, i32x4.sub(c21, t1), 80);
      v128.store(ACC, i32x4.sub(c30, t0), 96); v128.store(ACC, i32x4.sub(c31, t1), 112);
      return;
    }
    const s0 = v128.load(mult), s1 = v128.load(mult, 16);
    const rowBytes = <usize>ld << 2;
    emitRowF32(out, c00, c01, s0, s1, act);
    if (mr > 1) emitRowF32(out + rowBytes, c10, c11, s0, s1, act);
    if (mr > 2) emitRowF32(out + rowBytes * 2, c20, c21, s0, s1, act);
    if (mr > 3) emitRowF32(out + rowBytes * 3, c30, c31, s0, s1, act);
  }
}

/** One row of 8 sums through the f32 epilogue (the generic loop's operations) to out. */
@inline function emitRowF32(out: usize, c0: v128, c1: v128, s0: v128, s1: v128, act: i32): void {
  let y0 = f32x4.mul(f32x4.convert_i32x4_s(c0), s0), y1 = f32x4.mul(f32x4.convert_i32x4_s(c1), s1);
  if (act != 0) { y0 = f32x4.max(y0, f32x4.splat(0)); y1 = f32x4.max(y1, f32x4.splat(0)); }
  if (act == 2) { y0 = f32x4.min(y0, f32x4.splat(6)); y1 = f32x4.min(y1, f32x4.splat(6)); }
  v128.store(out, y0); v128.store(out, y1, 16);
}

/** 4 packed rows (Kp bytes each, Kp a multiple of 4) -> 4 rows of Kp i16 (zero-extended), for tileWide. */
@inline function expandRowsWide(a: usize, Kp: i32, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    // the 4 rows are contiguous in packed A: one pass widens them all
    const n = Kp * QMR;
    let k = 0;
    for (; k + 8 <= n; k += 8) v128.store(dst + (<usize>k << 1), v128.load8x8_u(a + <usize>k));
    if (k < n) v128.store64_lane(dst + (<usize>k << 1), i16x8.extend_low_i8x16_u(v128.load32_zero(a + <usize>k)), 0);
  }
}

/** pairwise sums of two dot_i16x8 accumulators [c0 p0, c0 p1, c1 p0, c1 p1] x 2 -> 4 columns */
@inline function pairs(x: v128, y: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(x, y, 0, 2, 4, 6), v128.shuffle<i32>(x, y, 1, 3, 5, 7));
}

@inline function kernelSimd(a: usize, b: usize, Kq: i32): void {
  if (ASC_FEATURE_SIMD) {
    // a: 4 rows of Kq quads, each quad pre-extended to i16 and doubled ([a0..a3, a0..a3]), 16 bytes;
    // two passes of 4 rows x 4 columns (8 accumulators each) keep the registers from spilling
    const stride = <usize>(Kq << 4);
    for (let h = 0; h < 2; h++) {
      let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
      let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
      let a0 = a;
      let bp = b + <usize>(h << 4);
      for (let q = 0; q < Kq; q++) {
        const w = v128.load(bp);
        const w0 = i16x8.extend_low_i8x16_s(w), w1 = i16x8.extend_high_i8x16_s(w);
        let x = v128.load(a0);
        c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
        x = v128.load(a0 + stride);
        c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
        x = v128.load(a0 + stride * 2);
        c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
        x = v128.load(a0 + stride * 3);
        c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
        bp += 32; a0 += 16;
      }
      const t = ACC + <usize>(h << 4);
      v128.store(t, pairs(c00, c01));
      v128.store(t, pairs(c10, c11), 32);
      v128.store(t, pairs(c20, c21), 64);
      v128.store(t, pairs(c30, c31), 96);
    }
  }
}

/** 4 packed rows (Kp bytes each) -> 4 rows of Kq i16x8 quads [a0..a3, a0..a3] for kernelSimd. */
@inline function expandRows(a: usize, Kp: i32, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    const Kq = Kp >> 2;
    for (let r = 0; r < QMR; r++) {
      const src = a + <usize>(r * Kp);
      let d = dst + <usize>(r * (Kq << 4));
      for (let q = 0; q < Kq; q++) {
        v128.store(d, i16x8.extend_low_i8x16_u(i32x4.splat(load<i32>(src + <usize>(q << 2)))));
        d += 16;
      }
    }
  }
}

function kernelScalar(a: usize, Kp: i32, b: usize, Kq: i32): void {
  for (let r = 0; r < QMR; r++) {
    const ar = a + <usize>(r * Kp);
    for (let c = 0; c < QNR; c++) {
      let s = 0;
      let bp = b + <usize>((c >> 2) * 16 + (c & 3) * 4);
      for (let q = 0; q < Kq; q++) {
        const ap = ar + <usize>(q << 2);
        s += <i32>load<u8>(ap) * <i32>load<i8>(bp) + <i32>load<u8>(ap, 1) * <i32>load<i8>(bp, 1)
          + <i32>load<u8>(ap, 2) * <i32>load<i8>(bp, 2) + <i32>load<u8>(ap, 3) * <i32>load<i8>(bp, 3);
        bp += 32;
      }
      store<i32>(ACC + <usize>((r * QNR + c) << 2), s);
    }
  }
}

// per-call column terms: bias - za * colSum (+ the relaxed corrections), and row terms (relaxed: -64 sum a)
let colTerm: usize = 0;

/**
 * C (M x N, row stride ldc elements) from packed A (qgemmPackA) and packed weights (qgemmPackB with the
 * same relaxed7). bias: N i32 or 0. mult: N f32 (requantize / dequantize multipliers; unused for QOUT_I32).
 * QOUT_U8: clamp(nearest(acc * mult[n]) + zy, qmin, qmax) as u8; QOUT_F32: acc * mult[n], then ReLU
 * (act 1) or ReLU6 (act 2); QOUT_U8F: QOUT_F32's value f, then u8 = quantizeOne(f, mult[N], zy) (x / scale
 * rounded half to even, plus zy, saturated: quant.ts quantizeU8; mult holds N + 1 floats, qmin / qmax unused).
 * work: qgemmWorkSize(N, K) bytes of scratch.
 */
export function qgemm(M: i32, N: i32, K: i32, pa: usize, za: i32, pb: usize, colSums: usize, bias: usize, relaxed7: i32,
  mode: i32, C: usize, ldc: i32, mult: usize, zy: i32, qmin: i32, qmax: i32, act: i32, work: usize): void {
  const Kp = roundUp(K, 4), Kq = Kp >> 2, Mp = roundUp(M, QMR), Np = roundUp(N, QNR);
  const rowSums = pa + <usize>(Mp * Kp);
  const useRelaxed = ASC_FEATURE_RELAXED_SIMD && relaxed7 != 0, wide = wideLayout(K, relaxed7);
  colTerm = work;
  const exp = (work + <usize>(N * 4) + 15) & ~<usize>15;
  // QOUT_U8F: the f32 epilogue into 4 staged rows of N floats, quantized into C after each row block
  const staged = mode == QOUT_U8F, em = staged ? QOUT_F32 : mode;
  const stage = (exp + <usize>(16 * Kp) + 15) & ~<usize>15;
  const out0 = staged ? stage : C, ld = staged ? N : ldc;
  for (let n = 0; n < N; n++) {
    const cs = load<i32>(colSums + (<usize>n << 2));
    let t = (bias ? load<i32>(bias + (<usize>n << 2)) : 0) - za * cs;
    if (useRelaxed) t += 128 * cs + 8192 * Kp;
    store<i32>(colTerm + (<usize>n << 2), t);
  }
  for (let m0 = 0; m0 < Mp; m0 += QMR) {
    const a = pa + <usize>(m0 * Kp);
    if (useRelaxed) expandRowsRelaxed(a, Kp, exp);
    else if (wide) expandRowsWide(a, Kp, exp);
    else if (ASC_FEATURE_SIMD) expandRows(a, Kp, exp);
    for (let n0 = 0; n0 < Np; n0 += QNR) {
      const mr = min(QMR, M - m0), nr = min(QNR, N - n0);
      // the output row of tile row r: C's row m0 + r, or staged row r
      const r0 = staged ? 0 : m0;
      if (useRelaxed) kernelRelaxed(exp, pb + <usize>n0 * <usize>(Kq << 2), Kq);
      else if (wide) {
        const epi = em == QOUT_F32 && nr == QNR;
        tileWide(exp, pb + <usize>n0 * <usize>(Kq << 3), Kq, colTerm + (<usize>n0 << 2), epi, mult + (<usize>n0 << 2),
          out0 + ((<usize>r0 * <usize>ld + <usize>n0) << 2), ld, mr, act);
        if (epi) continue;
      } else if (ASC_FEATURE_SIMD) kernelSimd(exp, pb + <usize>n0 * <usize>(Kq << 2), Kq);
      else kernelScalar(a, Kp, pb + <usize>n0 * <usize>(Kq << 2), Kq);
      if (ASC_FEATURE_SIMD && em == QOUT_F32 && nr == QNR) {
        const t0 = v128.load(colTerm + (<usize>n0 << 2)), t1 = v128.load(colTerm + (<usize>n0 << 2), 16);
        const s0 = v128.load(mult + (<usize>n0 << 2)), s1 = v128.load(mult + (<usize>n0 << 2), 16);
        const zero = f32x4.splat(0), six = f32x4.splat(6);
        for (let r = 0; r < mr; r++) {
          const rt = i32x4.splat(useRelaxed ? -64 * load<i32>(rowSums + (<usize>(m0 + r) << 2)) : 0);
          const acc = ACC + <usize>(r * QNR * 4);
          let y0 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(i32x4.add(v128.load(acc), t0), rt)), s0);
          let y1 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(i32x4.add(v128.load(acc, 16), t1), rt)), s1);
          if (act != 0) { y0 = f32x4.max(y0, zero); y1 = f32x4.max(y1, zero); }
          if (act == 2) { y0 = f32x4.min(y0, six); y1 = f32x4.min(y1, six); }
          const out = out0 + ((<usize>(r0 + r) * <usize>ld + <usize>n0) << 2);
          v128.store(out, y0); v128.store(out, y1, 16);
        }
        continue;
      }
      for (let r = 0; r < mr; r++) {
        const rt: i32 = useRelaxed ? -64 * load<i32>(rowSums + (<usize>(m0 + r) << 2)) : 0;
        const row = <usize>(r0 + r) * <usize>ld + <usize>n0;
        for (let c = 0; c < nr; c++) {
          const v = load<i32>(ACC + <usize>((r * QNR + c) << 2)) + load<i32>(colTerm + (<usize>(n0 + c) << 2)) + rt;
          if (em == QOUT_I32) {
            store<i32>(C + ((row + <usize>c) << 2), v);
          } else if (em == QOUT_U8) {
            const f = <f32>v * load<f32>(mult + (<usize>(n0 + c) << 2));
            // trunc_sat in every build (the scalar one would trap on NaN or a product past the i32 range)
            let q = truncSatI32(nearest<f32>(f)) + zy;
            q = q < qmin ? qmin : q > qmax ? qmax : q;
            store<u8>(C + row + <usize>c, <u8>q);
          } else {
            let f = <f32>v * load<f32>(mult + (<usize>(n0 + c) << 2));
            if (act == 1) f = max<f32>(f, 0);
            else if (act == 2) f = min<f32>(max<f32>(f, 0), 6);
            store<f32>(out0 + ((row + <usize>c) << 2), f);
          }
        }
      }
    }
    if (staged) {
      const ys = load<f32>(mult + (<usize>N << 2));
      for (let r = 0, mr = min(QMR, M - m0); r < mr; r++) quantizeU8(N, stage + (<usize>(r * N) << 2), ys, zy, C + <usize>(m0 + r) * <usize>ldc);
    }
  }
}

/**
 * Quantize f32 rows (M x K, row stride ldx floats) straight into qgemm's packed-A layout with row sums: one
 * pass instead of quantizeU8 + qgemmPackA.
 */
export function qQuantizePackA(M: i32, K: i32, x: usize, ldx: i32, scale: f32, zp: i32, dst: usize): void {
  const Kp = roundUp(K, 4);
  const sums = dst + <usize>(roundUp(M, QMR) * Kp);
  for (let m = 0; m < M; m++) {
    const src = x + (<usize>(m * ldx) << 2), row = dst + <usize>(m * Kp);
    let k = 0, s = 0;
    if (ASC_FEATURE_SIMD && quantize16Exact(zp)) {
      const sv = f32x4.splat(scale), zv = i16x8.splat(<i16>zp);
      let acc = i32x4.splat(0);
      for (; k + 16 <= K; k += 16) {
        const q = quantize16(src + (<usize>k << 2), sv, zv);
        v128.store(row + <usize>k, q);
        acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(q)));
      }
      s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    }
    for (; k < K; k++) { const q = quantizeOne(load<f32>(src + (<usize>k << 2)), scale, zp); store<u8>(row + <usize>k, q); s += <i32>q; }
    for (; k < Kp; k++) store<u8>(row + <usize>k, 0);
    store<i32>(sums + (<usize>m << 2), s);
  }
  for (let m = M; m < roundUp(M, QMR); m++) {
    memory.fill(dst + <usize>(m * Kp), 0, <usize>Kp);
    store<i32>(sums + (<usize>m << 2), 0);
  }
}


// the padding byte of the current qim2col (its input zero point)
let qPad: u8 = 0;

/** Patch rows of u8 (the im2col walk's visitor, im2col.ts), each visit returning the sum of its bytes. */
@unmanaged class ColU8 {
  // @ts-ignore: decorator
  @inline copy(x: usize, row: usize, k: i32, s: i32, len: i32): i32 {
    const dst = row + <usize>k, src = x + <usize>s;
    let sum = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD && len >= 16) {
      // 16 bytes at a time, summed by two pairwise widenings (as qgemmPackA)
      let acc = i32x4.splat(0);
      for (; c + 16 <= len; c += 16) {
        const v = v128.load(src + <usize>c);
        v128.store(dst + <usize>c, v);
        acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(v)));
      }
      sum = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    }
    for (; c < len; c++) { const v = load<u8>(src + <usize>c); store<u8>(dst + <usize>c, v); sum += <i32>v; }
    return sum;
  }
  // @ts-ignore: decorator
  @inline pad(x: usize, row: usize, k: i32, len: i32): i32 {
    const dst = row + <usize>k, za = qPad;
    if (len < 16) { for (let c = 0; c < len; c++) store<u8>(dst + <usize>c, za); } else memory.fill(dst, za, <usize>len);
    return <i32>za * len;
  }
}

/**
 * The patch matrix of an NHWC u8 convolution (groups 1) straight into qgemm's packed-A layout: one row of
 * Kp = roundUp(KH*KW*C, 4) bytes per output pixel, positions outside the image set to the input zero point
 * za (real 0), the row sums after the rows (as qgemmPackA).
 */
export function qim2col(N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32, PT: i32, PL: i32, DH: i32, DW: i32,
  OH: i32, OW: i32, x: usize, za: i32, dst: usize): void {
  const K = KH * KW * C, Kp = roundUp(K, 4), M = N * OH * OW, Mp = roundUp(M, QMR);
  const sums = dst + <usize>(Mp * Kp);
  setIm2col(H, W, C, C, 0, KW, SH, SW, PT, PL, DH, DW, OH, OW);
  qPad = <u8>za;
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const row = dst + <usize>(m * Kp);
        const s = walkPatchPixel<ColU8>(changetype<ColU8>(0), n, oy, ox, 0, K, x, row);
        for (let k = K; k < Kp; k++) store<u8>(row + <usize>k, 0);
        store<i32>(sums + (<usize>m << 2), s);
        m++;
      }
    }
  }
  for (; m < Mp; m++) {
    memory.fill(dst + <usize>(m * Kp), 0, <usize>Kp);
    store<i32>(sums + (<usize>m << 2), 0);
  }
}
