// IEEE 754 half precision <-> float32, for float16 weight storage (ONNX FLOAT16 initializers, TF.js float16
// weights). Rounding to half is to nearest, ties to even, as hardware converts; values beyond the half range
// become infinities, which the exporter refuses rather than writes.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bits -> float32. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** float32 -> float16 bits, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff, man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): shift the full mantissa, round to nearest even
    if (e < -10) return sign;
    const m = man | 0x800000, shift = 14 - e;
    const half = 1 << (shift - 1), rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // may carry into the exponent: still correct
  return sign | r;
}

/** A float32 array as float16 bits. */
export function toHalfBits(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]);
  return out;
}

/** float16 bits of v and back: v rounded to the nearest half (ties to even; beyond 65504 to ±Infinity). */
export function roundToHalf(v: number): number {
  return halfToFloat(floatToHalf(v));
}

// bfloat16: the upper 16 bits of a float32 (8 exponent bits, 7 mantissa bits), as TPUs and ONNX's BFLOAT16
// store it. Rounding is to nearest, ties to even (ONNX's float32_to_bfloat16 and ONNX Runtime's Cast); a NaN
// stays a NaN (quiet), which plain bit rounding could carry to an infinity.

/** bfloat16 bits -> float32. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** float32 -> bfloat16 bits, round to nearest even. */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if (Number.isNaN(f32[0])) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** v rounded to the nearest bfloat16 (ties to even; overflow to ±Infinity). */
export function roundToBfloat16(v: number): number {
  return bfloat16ToFloat(floatToBfloat16(v));
}
