// Shared helpers for every kernel family. One source, three builds: the compile-time constants
// ASC_FEATURE_SIMD and ASC_FEATURE_RELAXED_SIMD pick the body, and the untaken branch is never compiled.

/** a*b + c on four lanes: one fused instruction where relaxed SIMD validates, mul+add otherwise. */
// @ts-ignore: decorator
@inline export function madd4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// Activation codes shared by the GEMM/conv epilogues and act.ts. Keep in sync with src/backend/wasm/codes.ts.
export const ACT_LINEAR: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_RELU6: i32 = 2;
export const ACT_LEAKY_RELU: i32 = 3;
export const ACT_ELU: i32 = 4;
export const ACT_SELU: i32 = 5;
export const ACT_SIGMOID: i32 = 6;
export const ACT_TANH: i32 = 7;
export const ACT_SOFTPLUS: i32 = 8;
export const ACT_GELU: i32 = 9;
export const ACT_STEP: i32 = 10;
export const ACT_SIGN: i32 = 11;
/** Recurrent gates only (assembly/recurrent.ts): clip(0.2 x + 0.5, 0, 1), Keras's hard sigmoid. */
export const ACT_HARD_SIGMOID: i32 = 12;

// SELU constants from Klambauer et al. 2017, "Self-Normalizing Neural Networks".
export const SELU_ALPHA: f32 = 1.6732632423543772;
export const SELU_SCALE: f32 = 1.0507009873554805;

/**
 * e^x on four lanes: Cephes' expf (a degree-6 polynomial after a ln 2 range reduction, ~1 ulp), with x clamped
 * to [-87, 88] so 2^n stays a normal float; NaN stays NaN.
 */
// @ts-ignore: decorator
@inline export function expV(x: v128): v128 {
  const v = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(v, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(v, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = madd4(f32x4.splat(1.9875691500e-4), r, f32x4.splat(1.3981999507e-3));
  p = madd4(p, r, f32x4.splat(8.3334519073e-3));
  p = madd4(p, r, f32x4.splat(4.1665795894e-2));
  p = madd4(p, r, f32x4.splat(1.6666665459e-1));
  p = madd4(p, r, f32x4.splat(5.0000001201e-1));
  p = madd4(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1)));
  return f32x4.mul(p, i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23));
}

/** The logistic function on four lanes: 1 / (1 + e^-x), exact limits at both ends. */
// @ts-ignore: decorator
@inline export function sigmoidV(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, expV(f32x4.neg(x))));
}

/** tanh on four lanes: 1 - 2 / (e^2x + 1), exact limits at both ends, ~1e-7 absolute near 0. */
// @ts-ignore: decorator
@inline export function tanhV(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.sub(one, f32x4.div(f32x4.splat(2), f32x4.add(expV(f32x4.add(x, x)), one)));
}

/** Numerically stable logistic function: never evaluates exp of a large positive number. */
// @ts-ignore: decorator
@inline export function sigmoidf(x: f32): f32 {
  if (x >= 0) {
    return 1.0 / (1.0 + Mathf.exp(-x));
  }
  const e = Mathf.exp(x);
  return e / (1.0 + e);
}

/**
 * erf(x) to ~1e-7 absolute: W. J. Cody's rational approximations as used by many libms, evaluated in f64.
 * Needed for the exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
 */
export function erf64(x: f64): f64 {
  const ax = Math.abs(x);
  let r: f64;
  if (ax < 0.46875) {
    // erf(x) = x * P(x^2)/Q(x^2) on |x| < 0.46875
    const t = x * x;
    const p = 3.20937758913846947e03 + t * (3.77485237685302021e02 + t * (1.13864154151050156e02 + t * (3.16112374387056560e00 + t * 1.85777706184603153e-1)));
    const q = 2.84423683343917062e03 + t * (1.28261652607737228e03 + t * (2.44024637934444173e02 + t * (2.36012909523441209e01 + t)));
    return x * p / q;
  } else if (ax < 4.0) {
    const p = 1.23033935479799725e03 + ax * (2.05107837782607147e03 + ax * (1.71204761263407058e03 + ax * (8.81952221241769090e02 + ax * (2.98635138197400131e02 + ax * (6.61191906371416295e01 + ax * (8.88314979438837594e00 + ax * (5.64188496988670089e-1 + ax * 2.15311535474403846e-8)))))));
    const q = 1.23033935480374942e03 + ax * (3.43936767414372164e03 + ax * (4.36261909014324716e03 + ax * (3.29079923573345963e03 + ax * (1.62138957456669019e03 + ax * (5.37181101862009858e02 + ax * (1.17693950891312499e02 + ax * (1.57449261107098347e01 + ax)))))));
    r = 1.0 - Math.exp(-ax * ax) * p / q;
  } else {
    r = 1.0;
  }
  return x < 0 ? -r : r;
}

/** Scratch words for kernels that need a few bytes of static state; part of the data segment, never allocated. */
export const SCRATCH: usize = memory.data(1024, 16);

/**
 * i32.trunc_sat_f32_s in every build: toward zero, saturated to the i32 range, NaN -> 0. Where nontrapping
 * float-to-int is enabled a plain conversion is that instruction; the scalar build disables the feature,
 * and there a plain conversion traps on NaN and on values outside the i32 range.
 */
// @ts-ignore: decorator
@inline export function truncSatI32(f: f32): i32 {
  if (ASC_FEATURE_NONTRAPPING_F2I) return <i32>f;
  return f != f ? 0 : f >= 2147483648.0 ? 2147483647 : f < -2147483648.0 ? -2147483648 : <i32>f;
}

// ---- u8 quantization (ONNX QuantizeLinear): x / scale, rounded half to even, plus the zero point, saturated ----
// Saturation is exact for every input: +Infinity and values past the i32 range give 255, -Infinity gives 0,
// NaN gives the zero point (clamped), as ONNX QuantizeLinear and the reference backend (src/backend/ref/quant.ts).

/** One value. The sum with the zero point is taken in f64, where it is exact, so it cannot wrap. */
// @ts-ignore: decorator
@inline export function quantizeOne(v: f32, scale: f32, zp: i32): u8 {
  const f = nearest<f32>(v / scale);
  const q: f64 = f != f ? <f64>zp : <f64>f + <f64>zp;
  return q <= 0 ? 0 : q >= 255 ? 255 : <u8><i32>q;
}

/**
 * Whether quantize16 is exact for the zero point zp (every u8 zero point is): it saturates to i16 before
 * adding zp, which loses nothing while 32767 + zp >= 255 and -32768 + zp <= 0.
 */
// @ts-ignore: decorator
@inline export function quantize16Exact(zp: i32): bool {
  return zp >= -32512 && zp <= 32767;
}

/**
 * 16 floats -> 16 saturated u8 (round half to even), as one v128; zp16 = i16x8.splat(zp), zp with
 * quantize16Exact. i32 (trunc_sat) -> i16 (saturating narrow), + zp with i16 saturation, -> u8 (saturating
 * narrow): no step wraps, so +Infinity gives 255 whatever zp is (NaN truncates to 0, giving zp).
 */
// @ts-ignore: decorator
@inline export function quantize16(src: usize, scale: v128, zp16: v128): v128 {
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(src), scale)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(src, 16), scale)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(src, 32), scale)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(src, 48), scale)));
  return i8x16.narrow_i16x8_u(i16x8.add_sat_s(i16x8.narrow_i32x4_s(q0, q1), zp16), i16x8.add_sat_s(i16x8.narrow_i32x4_s(q2, q3), zp16));
}
