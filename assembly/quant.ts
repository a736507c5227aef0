// Quantize / dequantize between f32 and u8 (ONNX QuantizeLinear / DequantizeLinear: x / scale rounded half
// to even, plus the zero point, saturated); the rounding helpers live in common.ts, shared with the int8 GEMM's
// packer (gemm_i8.ts).
import { quantizeOne, quantize16, quantize16Exact } from './common';

/**
 * u8 = clamp(nearest(x / scale) + zp, 0, 255) (ONNX QuantizeLinear, round half to even; NaN -> zp clamped;
 * +-Infinity and values past the i32 range saturate).
 */
export function quantizeU8(n: i32, x: usize, scale: f32, zp: i32, y: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD && quantize16Exact(zp)) {
    const sv = f32x4.splat(scale), zv = i16x8.splat(<i16>zp);
    for (; i + 16 <= n; i += 16) v128.store(y + <usize>i, quantize16(x + (<usize>i << 2), sv, zv));
  }
  for (; i < n; i++) store<u8>(y + <usize>i, quantizeOne(load<f32>(x + (<usize>i << 2)), scale, zp));
}

/** f32 = (q - zp) * scale (ONNX DequantizeLinear). */
export function dequantizeU8(n: i32, q: usize, scale: f32, zp: i32, y: usize): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), <f32>(<i32>load<u8>(q + <usize>i) - zp) * scale);
}
