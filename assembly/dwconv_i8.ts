// int8 depthwise convolution: y[n, oy, ox, o] = epilogue(sum_taps (x[n, iy, ix, o / mult] - za) * w[ky, kx, o] + bias[o])
// over NHWC u8 activations (per-tensor zero point za) and s8 weights [KH, KW, C * mult] (the float depthwise
// layout, conv.ts: output channel o = c * mult + m), i32 accumulation, any kernel / stride / padding / dilation /
// multiplier; taps outside the image contribute 0 (they read za). Epilogues as the int8 GEMM's (gemm_i8.ts): raw i32,
// requantized u8, dequantized f32 with ReLU / ReLU6, or that f32 quantized for the next int8 layer (QOUT_U8F).
//
// A K = KH*KW GEMM would waste the GEMM's micro-kernel (conv.ts says the same of the float case), so this is
// direct, with SIMD over channels (one build source, three bodies):
// - interior pixels (every tap inside the image; 3x3 unrolled, other windows from a table of tap offsets), 16
//   channels at a time: the input flipped to s8 (x ^ 0x80 = x - 128) times the weights by
//   i16x8.extmul_i8x16_s, two taps summed in i16 before widening to i32. Exact:
//   |(x - 128) w| <= 128 * 127 = 16256, so two such products fit i16 (|sum| <= 32512), when no weight is -128
//   (then every tap is widened alone); sum (x - za) w = sum (x - 128) w + (128 - za) sum w, the last term per
//   channel precomputed with the bias. (XNNPACK's "mul16-add16" QS8 depthwise does the same pairing.)
// - border pixels the same way, a tap outside the image reading a row of za (its (za - 128) w cancels in the
//   precomputed term); channel tails (C % 16) 8 at a time: (x - za) as i16 times the weight widened.
// - scalar build: plain loops.
// A multiplier above 1 first copies the input into `work` with each channel repeated mult times, so every path
// reads input channel o for output channel o. All sums are exact modulo 2^32 (the reference's wrapping i32).
// Threaded builds share output rows over the pool (JOB_QDW, as the float depthwise does with JOB_CONV), the
// call's state passed to the workers through jobArgs; each output is computed by one thread in the one-thread
// order, so the bytes do not depend on the thread count. (The int8 GEMM is still single-threaded.)
import { truncSatI32 } from './common';
import { quantizeU8 } from './quant';
import { QOUT_I32, QOUT_U8, QOUT_F32, QOUT_U8F } from './gemm_i8';
import { threads, threadIndex, jobArgs, jobChunks, parallelBegin, parallelEnd, claim, chunkDone, shareStart, tileScratch } from './threads';

// byte offsets of the taps from the top-left one, for the interior path
const MAX_TAPS: i32 = 64;
const OFF: usize = memory.data(MAX_TAPS * 4, 16);
// the current call's geometry and epilogue (every entry point sets them first)
let H: i32 = 0, W: i32 = 0, KH: i32 = 0, KW: i32 = 0, CO: i32 = 0, DH: i32 = 1, DW: i32 = 1;
let ZA: i32 = 0, MODE: i32 = 0, ACT: i32 = 0, ZY: i32 = 0, QMIN: i32 = 0, QMAX: i32 = 255;
let WPTR: usize = 0, MULT: usize = 0;
// QOUT_U8F: the pixels run the f32 epilogue (MODE QOUT_F32) into a per-thread stage of STAGE bytes from STAGE0,
// quantized into the u8 output by quantizeU8 (scale YS = mult[CO], zero point ZY) a stretch of a row at a time:
// the bytes of QOUT_F32 + quantizeU8, rounding 16 values a step (4 at a time in emit4 measured 2-3x slower)
let STAGED: bool = false;
let STAGE0: usize = 0, STAGE: i32 = 0;
let YS: f32 = 1;
// per channel: bias (exact (x - za) products) and bias + (128 - za) * sum w (s8 products over every tap)
let TERM0: usize = 0, TERM1: usize = 0;
// CO bytes of za: what a tap outside the image reads on the s8 path ((za - 128) w, which TERM1 cancels)
let ZROW: usize = 0;
// whether two taps' s8 products may be summed in i16 (no weight is -128), and the window's tap count
let PAIRED: bool = true;
let TAPS: i32 = 0;
// the rest of the call: batch, strides, padding, output size, input (or its expansion) and output, the interior
// output columns [OX0, OX1), and whether interior pixels take the s8 path
let NIMG: i32 = 0, SY: i32 = 1, SX: i32 = 1, PADT: i32 = 0, PADL: i32 = 0, OUTH: i32 = 0, OUTW: i32 = 0;
let SRC: usize = 0, YPTR: usize = 0;
let OX0: i32 = 0, OX1: i32 = 0;
let INTERIOR: bool = false;
// a border pixel's tap addresses (ZROW outside the image) go in this thread's 128-byte tileScratch (threads.ts)
const MAX_BORDER_TAPS: i32 = 32;

@inline function roundUp(x: i32, m: i32): i32 { return (x + m - 1) / m * m; }

/** Bytes of one thread's QOUT_U8F stage: at least one pixel of f32. */
@inline function stageBytes(CO: i32): i32 { return max(8192, roundUp(CO * 4, 16)); }

/**
 * Bytes of qdepthwise's scratch: two per-channel i32 terms, a row of za, the input repeated per multiplier
 * (mult > 1), and a QOUT_U8F stage per thread.
 */
export function qdepthwiseWorkSize(N: i32, H: i32, W: i32, C: i32, CO: i32): i32 {
  const expand = CO != C ? N * H * W * CO : 0;
  return roundUp(CO * 8, 16) + roundUp(CO, 16) + expand + threads() * stageBytes(CO) + 64;
}

/** One output value v (the i32 sum with its bias) of channel o, through the epilogue, at out. */
@inline function emit1(out: usize, o: i32, v: i32): void {
  if (MODE == QOUT_I32) {
    store<i32>(out + (<usize>o << 2), v);
  } else if (MODE == QOUT_U8) {
    const f = <f32>v * load<f32>(MULT + (<usize>o << 2));
    let q = truncSatI32(nearest<f32>(f)) + ZY;
    q = q < QMIN ? QMIN : q > QMAX ? QMAX : q;
    store<u8>(out + <usize>o, <u8>q);
  } else {
    // ReLU / ReLU6 as comparisons (the SIMD body's pmax / pmin): -0 and NaN give 0
    let f = <f32>v * load<f32>(MULT + (<usize>o << 2));
    if (ACT != 0) f = <f32>0 < f ? f : <f32>0;
    if (ACT == 2) f = f < <f32>6 ? f : <f32>6;
    store<f32>(out + (<usize>o << 2), f);
  }
}

/** Four output values (channels o..o+3) through the epilogue: f32 in SIMD, the others lane by lane. */
@inline function emit4(out: usize, o: i32, v: v128): void {
  if (ASC_FEATURE_SIMD) {
    if (MODE != QOUT_I32 && MODE != QOUT_U8) {
      // pmax / pmin are one instruction each (f32x4.max / min are a sequence on x86, for their NaN and -0 rules)
      let f = f32x4.mul(f32x4.convert_i32x4_s(v), v128.load(MULT + (<usize>o << 2)));
      if (ACT != 0) f = f32x4.pmax(f32x4.splat(0), f);
      if (ACT == 2) f = f32x4.pmin(f32x4.splat(6), f);
      v128.store(out + (<usize>o << 2), f);
    } else if (MODE == QOUT_I32) {
      v128.store(out + (<usize>o << 2), v);
    } else {
      emitU8x4(out, o, v);
    }
  }
}

/**
 * The u8 epilogue of four channels, lane by lane: a call, not inlined at every emit4 site (each copy of the
 * rounding and clamping would add to every wasm build the page downloads, for a mode that is rarely used).
 */
function emitU8x4(out: usize, o: i32, v: v128): void {
  emit1(out, o, i32x4.extract_lane(v, 0)); emit1(out, o + 1, i32x4.extract_lane(v, 1));
  emit1(out, o + 2, i32x4.extract_lane(v, 2)); emit1(out, o + 3, i32x4.extract_lane(v, 3));
}

/**
 * Output channels [o0, CO) of one pixel, any window (taps outside the image skipped): (x - za) * w exactly,
 * 8 channels per step on the SIMD builds. x: the image (channel stride CO); iy0 / ix0: the top-left tap.
 */
function pixelAny(x: usize, out: usize, iy0: i32, ix0: i32, o0: i32): void {
  let o = o0;
  if (ASC_FEATURE_SIMD && o == 0 && CO >= 16 && TAPS <= MAX_BORDER_TAPS) o = pixelBorder16(x, out, iy0, ix0);
  if (ASC_FEATURE_SIMD) {
    const zv = i16x8.splat(<i16>ZA);
    for (; o + 8 <= CO; o += 8) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * DH;
        if (iy < 0 || iy >= H) continue;
        for (let kx = 0; kx < KW; kx++) {
          const ix = ix0 + kx * DW;
          if (ix < 0 || ix >= W) continue;
          const xv = i16x8.sub(v128.load8x8_u(x + <usize>((iy * W + ix) * CO + o)), zv);
          const wv = v128.load8x8_s(WPTR + <usize>((ky * KW + kx) * CO + o));
          a0 = i32x4.add(a0, i32x4.extmul_low_i16x8_s(xv, wv));
          a1 = i32x4.add(a1, i32x4.extmul_high_i16x8_s(xv, wv));
        }
      }
      emit4(out, o, i32x4.add(a0, v128.load(TERM0 + (<usize>o << 2))));
      emit4(out, o + 4, i32x4.add(a1, v128.load(TERM0 + (<usize>o << 2), 16)));
    }
  }
  for (; o < CO; o++) {
    let s = load<i32>(TERM0 + (<usize>o << 2));
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ix0 + kx * DW;
        if (ix < 0 || ix >= W) continue;
        s += (<i32>load<u8>(x + <usize>((iy * W + ix) * CO + o)) - ZA) * <i32>load<i8>(WPTR + <usize>((ky * KW + kx) * CO + o));
      }
    }
    emit1(out, o, s);
  }
}

/**
 * A border pixel on the s8 path, 16 channels per step: a tap outside the image reads ZROW (za), whose
 * (za - 128) w TERM1's (128 - za) w cancels, so every tap counts and the sum stays exact. Returns the
 * channels done (a multiple of 16); pixelAny does the rest.
 */
function pixelBorder16(x: usize, out: usize, iy0: i32, ix0: i32): i32 {
  let o = 0;
  if (ASC_FEATURE_SIMD) {
    const PTRS = tileScratch;
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ix0 + kx * DW;
        const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
        store<u32>(PTRS + (<usize>(ky * KW + kx) << 2), <u32>(inside ? x + <usize>((iy * W + ix) * CO) : ZROW));
      }
    }
    const wstride = <usize>CO;
    for (; o + 16 <= CO; o += 16) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let wp = WPTR + <usize>o;
      let t = 0;
      if (PAIRED) {
        for (; t + 2 <= TAPS; t += 2) {
          const x0 = ldS8(<usize>load<u32>(PTRS + (<usize>t << 2)) + <usize>o);
          const x1 = ldS8(<usize>load<u32>(PTRS + (<usize>t << 2), 4) + <usize>o);
          const w0 = v128.load(wp), w1 = v128.load(wp + wstride);
          const lo = pairLo(x0, w0, x1, w1), hi = pairHi(x0, w0, x1, w1);
          a0 = i32x4.add(a0, i32x4.extend_low_i16x8_s(lo)); a1 = i32x4.add(a1, i32x4.extend_high_i16x8_s(lo));
          a2 = i32x4.add(a2, i32x4.extend_low_i16x8_s(hi)); a3 = i32x4.add(a3, i32x4.extend_high_i16x8_s(hi));
          wp += wstride + wstride;
        }
      }
      for (; t < TAPS; t++) {
        const x0 = ldS8(<usize>load<u32>(PTRS + (<usize>t << 2)) + <usize>o);
        const w0 = v128.load(wp);
        const lo = i16x8.extmul_low_i8x16_s(x0, w0), hi = i16x8.extmul_high_i8x16_s(x0, w0);
        a0 = i32x4.add(a0, i32x4.extend_low_i16x8_s(lo)); a1 = i32x4.add(a1, i32x4.extend_high_i16x8_s(lo));
        a2 = i32x4.add(a2, i32x4.extend_low_i16x8_s(hi)); a3 = i32x4.add(a3, i32x4.extend_high_i16x8_s(hi));
        wp += wstride;
      }
      const tp = TERM1 + (<usize>o << 2);
      emit4(out, o, i32x4.add(a0, v128.load(tp)));
      emit4(out, o + 4, i32x4.add(a1, v128.load(tp, 16)));
      emit4(out, o + 8, i32x4.add(a2, v128.load(tp, 32)));
      emit4(out, o + 12, i32x4.add(a3, v128.load(tp, 48)));
    }
  }
  return o;
}

/**
 * An interior pixel (every tap inside the image; p: its top-left tap), 16 channels per step, taps at OFF:
 * the s8 products of two taps summed in i16 (paired: no weight is -128), then widened into i32. The channels
 * past the last 16 go through pixelAny.
 */
@inline function pixelInterior(x: usize, p: usize, out: usize, iy0: i32, ix0: i32, taps: i32, paired: bool): void {
  let o = 0;
  if (ASC_FEATURE_SIMD) {
    const flip = i8x16.splat(-128);
    const wstride = <usize>CO;
    for (; o + 16 <= CO; o += 16) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      const po = p + <usize>o;
      let wp = WPTR + <usize>o;
      let t = 0;
      if (paired) {
        for (; t + 2 <= taps; t += 2) {
          const x0 = v128.xor(v128.load(po + <usize>load<u32>(OFF + (<usize>t << 2))), flip);
          const x1 = v128.xor(v128.load(po + <usize>load<u32>(OFF + (<usize>t << 2), 4)), flip);
          const w0 = v128.load(wp), w1 = v128.load(wp + wstride);
          const lo = i16x8.add(i16x8.extmul_low_i8x16_s(x0, w0), i16x8.extmul_low_i8x16_s(x1, w1));
          const hi = i16x8.add(i16x8.extmul_high_i8x16_s(x0, w0), i16x8.extmul_high_i8x16_s(x1, w1));
          a0 = i32x4.add(a0, i32x4.extend_low_i16x8_s(lo)); a1 = i32x4.add(a1, i32x4.extend_high_i16x8_s(lo));
          a2 = i32x4.add(a2, i32x4.extend_low_i16x8_s(hi)); a3 = i32x4.add(a3, i32x4.extend_high_i16x8_s(hi));
          wp += wstride + wstride;
        }
      }
      for (; t < taps; t++) {
        const x0 = v128.xor(v128.load(po + <usize>load<u32>(OFF + (<usize>t << 2))), flip);
        const w0 = v128.load(wp);
        const lo = i16x8.extmul_low_i8x16_s(x0, w0), hi = i16x8.extmul_high_i8x16_s(x0, w0);
        a0 = i32x4.add(a0, i32x4.extend_low_i16x8_s(lo)); a1 = i32x4.add(a1, i32x4.extend_high_i16x8_s(lo));
        a2 = i32x4.add(a2, i32x4.extend_low_i16x8_s(hi)); a3 = i32x4.add(a3, i32x4.extend_high_i16x8_s(hi));
        wp += wstride;
      }
      const tp = TERM1 + (<usize>o << 2);
      emit4(out, o, i32x4.add(a0, v128.load(tp)));
      emit4(out, o + 4, i32x4.add(a1, v128.load(tp, 16)));
      emit4(out, o + 8, i32x4.add(a2, v128.load(tp, 32)));
      emit4(out, o + 12, i32x4.add(a3, v128.load(tp, 48)));
    }
  }
  if (o < CO) pixelAny(x, out, iy0, ix0, o);
}

/** i16 sums of two taps' s8 products, channels 0-7 (lo) or 8-15 (hi) of 16 */
@inline function pairLo(x0: v128, w0: v128, x1: v128, w1: v128): v128 {
  return i16x8.add(i16x8.extmul_low_i8x16_s(x0, w0), i16x8.extmul_low_i8x16_s(x1, w1));
}
@inline function pairHi(x0: v128, w0: v128, x1: v128, w1: v128): v128 {
  return i16x8.add(i16x8.extmul_high_i8x16_s(x0, w0), i16x8.extmul_high_i8x16_s(x1, w1));
}
/**
 * Lanes 0-3 (low) or 4-7 (high) of two i16 vectors summed into i32: interleaved ([a0, b0, a1, b1, ...]) and
 * added pairwise, two instructions for what two widenings and an add would do.
 */
@inline function widen2Low(a: v128, b: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
}
@inline function widen2High(a: v128, b: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15));
}
/** 16 bytes of input at p as s8 (x - 128) */
@inline function ldS8(p: usize): v128 {
  return v128.xor(v128.load(p), i8x16.splat(-128));
}

/**
 * The 3x3 fast path: an interior pixel (p: its top-left tap; dx / dy: the tap steps in bytes), 16 channels per
 * step, the nine taps unrolled as four pairs and one, weights read at w + tap * CO (no weight is -128).
 */
@inline function pixel3x3(x: usize, p: usize, out: usize, iy0: i32, ix0: i32, dx: usize, dy: usize): void {
  let o = 0;
  if (ASC_FEATURE_SIMD) {
    const cs = <usize>CO;
    for (; o + 16 <= CO; o += 16) {
      const q = p + <usize>o, wp = WPTR + <usize>o;
      // taps (0, 1) and (2, 3): two i16 pair sums per channel, interleaved and added pairwise into i32
      let x0 = ldS8(q), x1 = ldS8(q + dx), w0 = v128.load(wp), w1 = v128.load(wp + cs);
      let plo = pairLo(x0, w0, x1, w1), phi = pairHi(x0, w0, x1, w1);
      x0 = ldS8(q + dx + dx); x1 = ldS8(q + dy); w0 = v128.load(wp + cs * 2); w1 = v128.load(wp + cs * 3);
      let qlo = pairLo(x0, w0, x1, w1), qhi = pairHi(x0, w0, x1, w1);
      let a0 = widen2Low(plo, qlo), a1 = widen2High(plo, qlo), a2 = widen2Low(phi, qhi), a3 = widen2High(phi, qhi);
      // taps (4, 5) and (6, 7)
      x0 = ldS8(q + dy + dx); x1 = ldS8(q + dy + dx + dx); w0 = v128.load(wp + cs * 4); w1 = v128.load(wp + cs * 5);
      plo = pairLo(x0, w0, x1, w1); phi = pairHi(x0, w0, x1, w1);
      x0 = ldS8(q + dy + dy); x1 = ldS8(q + dy + dy + dx); w0 = v128.load(wp + cs * 6); w1 = v128.load(wp + cs * 7);
      qlo = pairLo(x0, w0, x1, w1); qhi = pairHi(x0, w0, x1, w1);
      a0 = i32x4.add(a0, widen2Low(plo, qlo)); a1 = i32x4.add(a1, widen2High(plo, qlo));
      a2 = i32x4.add(a2, widen2Low(phi, qhi)); a3 = i32x4.add(a3, widen2High(phi, qhi));
      // tap 8
      x0 = ldS8(q + dy + dy + dx + dx); w0 = v128.load(wp + cs * 8);
      plo = i16x8.extmul_low_i8x16_s(x0, w0); phi = i16x8.extmul_high_i8x16_s(x0, w0);
      a0 = i32x4.add(a0, i32x4.extend_low_i16x8_s(plo)); a1 = i32x4.add(a1, i32x4.extend_high_i16x8_s(plo));
      a2 = i32x4.add(a2, i32x4.extend_low_i16x8_s(phi)); a3 = i32x4.add(a3, i32x4.extend_high_i16x8_s(phi));
      const tp = TERM1 + (<usize>o << 2);
      emit4(out, o, i32x4.add(a0, v128.load(tp)));
      emit4(out, o + 4, i32x4.add(a1, v128.load(tp, 16)));
      emit4(out, o + 8, i32x4.add(a2, v128.load(tp, 32)));
      emit4(out, o + 12, i32x4.add(a3, v128.load(tp, 48)));
    }
  }
  if (o < CO) pixelAny(x, out, iy0, ix0, o);
}

/**
 * Depthwise int8 convolution of x (u8 NHWC [N, H, W, C], zero point za) with w (s8 [KH, KW, CO], CO = C * mult):
 * y [N, OH, OW, CO] is i32 (mode QOUT_I32), u8 (QOUT_U8: clamp(nearest(v * mult[o]) + zy, qmin, qmax)) or f32
 * (QOUT_F32: v * mult[o], then ReLU (act 1) or ReLU6 (act 2)), or that f32 quantized to u8 by scale mult[CO] and
 * zero point zy (QOUT_U8F, as quantizeU8), v = sum + bias[o] (bias: CO i32, or 0).
 * Padding is explicit (top / left; the output size says the rest). work: qdepthwiseWorkSize bytes.
 */
export function qdepthwise(N: i32, h: i32, w: i32, C: i32, kh: i32, kw: i32, SH: i32, SW: i32, PT: i32, PL: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, co: i32, x: usize, za: i32, wts: usize, bias: usize, mode: i32, y: usize, mult: usize, zy: i32, qmin: i32, qmax: i32,
  act: i32, work: usize): void {
  H = h; W = w; KH = kh; KW = kw; CO = co; DH = dh; DW = dw;
  ZA = za; MODE = mode; ACT = act; ZY = zy; QMIN = qmin; QMAX = qmax; WPTR = wts; MULT = mult;
  if (N <= 0 || OH <= 0 || OW <= 0 || CO <= 0 || C <= 0) return;
  STAGED = mode == QOUT_U8F;
  if (STAGED) { MODE = QOUT_F32; YS = load<f32>(mult + (<usize>co << 2)); }
  const taps = KH * KW, m = CO / C;
  TERM0 = (work + 15) & ~<usize>15;
  TERM1 = TERM0 + <usize>(CO << 2);
  ZROW = TERM1 + <usize>(CO << 2);
  memory.fill(ZROW, <u8>za, <usize>CO);
  TAPS = taps;
  let paired = true;
  for (let o = 0; o < CO; o++) {
    let s = 0;
    for (let t = 0; t < taps; t++) {
      const v = <i32>load<i8>(wts + <usize>(t * CO + o));
      s += v;
      if (v == -128) paired = false;
    }
    const b = bias ? load<i32>(bias + (<usize>o << 2)) : 0;
    store<i32>(TERM0 + (<usize>o << 2), b);
    store<i32>(TERM1 + (<usize>o << 2), b + (128 - za) * s);
  }
  PAIRED = paired;
  STAGE = stageBytes(CO);
  STAGE0 = (ZROW + <usize>CO + 15) & ~<usize>15;
  // a multiplier: each input channel repeated m times, so output channel o reads input channel o
  let src = x;
  if (m > 1) {
    src = STAGE0 + <usize>(threads() * STAGE);
    const pixels = N * H * W;
    for (let i = 0; i < pixels; i++) {
      const s = x + <usize>(i * C), d = src + <usize>(i * CO);
      for (let c = 0; c < C; c++) {
        const v = load<u8>(s + <usize>c);
        for (let j = 0; j < m; j++) store<u8>(d + <usize>(c * m + j), v);
      }
    }
  }
  INTERIOR = ASC_FEATURE_SIMD && taps <= MAX_TAPS && CO >= 16;
  if (INTERIOR) {
    for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) store<u32>(OFF + (<usize>(ky * KW + kx) << 2), <u32>((ky * DH * W + kx * DW) * CO));
  }
  // interior output columns: the whole window inside the input (conv.ts depthwiseForward)
  const lim = W - 1 - (KW - 1) * DW + PL;
  OX0 = min(OW, max(0, (PL + SW - 1) / SW));
  OX1 = lim < 0 ? OX0 : max(OX0, min(OW, lim / SW + 1));
  NIMG = N; SY = SH; SX = SW; PADT = PT; PADL = PL; OUTH = OH; OUTW = OW; SRC = src; YPTR = y;
  if (!shareRows(<i64>N * <i64>OH * <i64>OW * <i64>(CO * taps), N * OH)) rows(0, N * OH);
}

/** Output rows [r0, r1) of the N * OH rows (the call's state in the globals). */
function rows(r0: i32, r1: i32): void {
  const OW = OUTW;
  if (STAGED) {
    // f32 pixels into this thread's stage, a stretch of the row at a time, then quantized into the u8 row
    const stage = STAGE0 + <usize>(threadIndex() * STAGE), f32Bytes = <usize>CO << 2;
    const seg = max(1, STAGE / (CO << 2));
    for (let r = r0; r < r1; r++) {
      const n = r / OUTH, oy = r - n * OUTH;
      const row = YPTR + <usize>((n * OUTH + oy) * OW) * <usize>CO;
      for (let s = 0; s < OW; s += seg) {
        const e = min(OW, s + seg);
        // pixel ox lands at stage + (ox - s) * CO floats (the base wraps below 0 where s > 0: u32 arithmetic)
        rowPixels(n, oy, stage - <usize>s * f32Bytes, f32Bytes, s, e);
        quantizeU8((e - s) * CO, stage, YS, ZY, row + <usize>s * <usize>CO);
      }
    }
    return;
  }
  const pixelBytes = <usize>CO * (MODE == QOUT_U8 ? 1 : 4);
  for (let r = r0; r < r1; r++) {
    const n = r / OUTH, oy = r - n * OUTH;
    rowPixels(n, oy, YPTR + <usize>((n * OUTH + oy) * OW) * pixelBytes, pixelBytes, 0, OW);
  }
}

/** Output pixels [oxa, oxb) of row oy of image n, pixel ox at out + ox * pixelBytes. */
function rowPixels(n: i32, oy: i32, row: usize, pixelBytes: usize, oxa: i32, oxb: i32): void {
  const SW = SX, PL = PADL, taps = TAPS;
  const ox0 = max(oxa, min(oxb, OX0)), ox1 = max(ox0, min(oxb, OX1));
  const img = SRC + <usize>(n * H * W * CO);
  const iy0 = oy * SY - PADT;
  if (INTERIOR && iy0 >= 0 && iy0 + (KH - 1) * DH < H) {
    for (let ox = oxa; ox < ox0; ox++) pixelAny(img, row + <usize>ox * pixelBytes, iy0, ox * SW - PL, 0);
    if (PAIRED && KH == 3 && KW == 3) {
      const dx = <usize>(DW * CO), dy = <usize>(DH * W * CO);
      for (let ox = ox0; ox < ox1; ox++) {
        const ix0 = ox * SW - PL;
        pixel3x3(img, img + <usize>((iy0 * W + ix0) * CO), row + <usize>ox * pixelBytes, iy0, ix0, dx, dy);
      }
    } else if (PAIRED) {
      for (let ox = ox0; ox < ox1; ox++) {
        const ix0 = ox * SW - PL;
        pixelInterior(img, img + <usize>((iy0 * W + ix0) * CO), row + <usize>ox * pixelBytes, iy0, ix0, taps, true);
      }
    } else {
      for (let ox = ox0; ox < ox1; ox++) {
        const ix0 = ox * SW - PL;
        pixelInterior(img, img + <usize>((iy0 * W + ix0) * CO), row + <usize>ox * pixelBytes, iy0, ix0, taps, false);
      }
    }
    for (let ox = ox1; ox < oxb; ox++) pixelAny(img, row + <usize>ox * pixelBytes, iy0, ox * SW - PL, 0);
  } else {
    for (let ox = oxa; ox < oxb; ox++) pixelAny(img, row + <usize>ox * pixelBytes, iy0, ox * SW - PL, 0);
  }
}

// ---- threads (threads.ts): output rows shared out as the float depthwise does (conv.ts JOB_CONV) ----
export const JOB_QDW: i32 = 4;
/** Multiply-adds below which a call runs on one thread (conv.ts's threshold). */
const QDW_PARALLEL_MIN_MACS: i64 = 1 << 18;
// argument word i of a JOB_QDW (36 of them: the call's state, read back into a worker's globals)
@inline function putArg(j: usize, i: i32, v: i32): void { store<i32>(j + (<usize>i << 2), v); }
@inline function getArg(j: usize, i: i32): i32 { return load<i32>(j + (<usize>i << 2)); }

/**
 * Rows on the pool in chunks claimed by whichever thread is free (up to 4 per thread). False: no pool or
 * too little work; the caller runs them. Each output is one thread's, in the one-thread order: the same bytes.
 */
function shareRows(macs: i64, units: i32): bool {
  if (threads() < 2 || macs < QDW_PARALLEL_MIN_MACS || units < 2) return false;
  const n = min(units, 4 * threads());
  const j = jobArgs();
  putArg(j, 0, H); putArg(j, 1, W); putArg(j, 2, KH); putArg(j, 3, KW); putArg(j, 4, CO); putArg(j, 5, DH); putArg(j, 6, DW);
  putArg(j, 7, ZA); putArg(j, 8, MODE); putArg(j, 9, ACT); putArg(j, 10, ZY); putArg(j, 11, QMIN); putArg(j, 12, QMAX);
  putArg(j, 13, <i32>WPTR); putArg(j, 14, <i32>MULT); putArg(j, 15, <i32>TERM0); putArg(j, 16, <i32>TERM1); putArg(j, 17, <i32>ZROW);
  putArg(j, 18, PAIRED ? 1 : 0); putArg(j, 19, TAPS); putArg(j, 20, NIMG); putArg(j, 21, SY); putArg(j, 22, SX); putArg(j, 23, PADT);
  putArg(j, 24, PADL); putArg(j, 25, OUTH); putArg(j, 26, OUTW); putArg(j, 27, <i32>SRC); putArg(j, 28, <i32>YPTR); putArg(j, 29, OX0);
  putArg(j, 30, OX1); putArg(j, 31, INTERIOR ? 1 : 0);
  putArg(j, 32, STAGED ? 1 : 0); putArg(j, 33, <i32>STAGE0); putArg(j, 34, STAGE); putArg(j, 35, reinterpret<i32>(YS));
  parallelBegin(JOB_QDW, n);
  for (let ch = claim(); ch >= 0; ch = claim()) { rows(shareStart(units, 1, ch, n), shareStart(units, 1, ch + 1, n)); chunkDone(); }
  parallelEnd();
  return true;
}

/** A worker's part of a JOB_QDW (threads_worker.ts): the state into its globals, then the chunks it claims. */
export function qdwJob(): void {
  if (!ASC_FEATURE_THREADS) return;
  const j = jobArgs();
  H = getArg(j, 0); W = getArg(j, 1); KH = getArg(j, 2); KW = getArg(j, 3); CO = getArg(j, 4); DH = getArg(j, 5); DW = getArg(j, 6);
  ZA = getArg(j, 7); MODE = getArg(j, 8); ACT = getArg(j, 9); ZY = getArg(j, 10); QMIN = getArg(j, 11); QMAX = getArg(j, 12);
  WPTR = <usize><u32>getArg(j, 13); MULT = <usize><u32>getArg(j, 14); TERM0 = <usize><u32>getArg(j, 15);
  TERM1 = <usize><u32>getArg(j, 16); ZROW = <usize><u32>getArg(j, 17); PAIRED = getArg(j, 18) != 0; TAPS = getArg(j, 19);
  NIMG = getArg(j, 20); SY = getArg(j, 21); SX = getArg(j, 22); PADT = getArg(j, 23); PADL = getArg(j, 24);
  OUTH = getArg(j, 25); OUTW = getArg(j, 26); SRC = <usize><u32>getArg(j, 27); YPTR = <usize><u32>getArg(j, 28);
  OX0 = getArg(j, 29); OX1 = getArg(j, 30); INTERIOR = getArg(j, 31) != 0;
  STAGED = getArg(j, 32) != 0; STAGE0 = <usize><u32>getArg(j, 33); STAGE = getArg(j, 34); YS = reinterpret<f32>(getArg(j, 35));
  const n = jobChunks(), units = NIMG * OUTH;
  for (let ch = claim(); ch >= 0; ch = claim()) { rows(shareStart(units, 1, ch, n), shareStart(units, 1, ch + 1, n)); chunkDone(); }
}
