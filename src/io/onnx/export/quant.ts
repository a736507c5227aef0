// Quantization in QDQ form: fakeQuant as QuantizeLinear -> DequantizeLinear, and the pieces the int8 conv and
// dense exporters share (the u8 input's Q -> DQ, an int32 bias).
import { roundHalfEven, type QWeights } from '../../../ops/quant.js';
import { INT8, INT32, UINT8 } from '../proto.js';
import { attrInt, type ExportContext, type ExportFamily } from './context.js';

/** x -> QuantizeLinear (u8, per tensor) -> DequantizeLinear: the int8 input of a quantized node. */
export function qdqInput(cx: ExportContext, x: string, scale: number, zeroPoint: number, nm: string): string {
  const sc = cx.floatInitRaw(`${nm}/input_scale`, [], [scale]), zp = cx.byteInit(`${nm}/input_zero_point`, [], UINT8, Uint8Array.of(zeroPoint));
  const q = cx.emit('QuantizeLinear', [x, sc, zp], [], `${nm}/quantize_input`);
  return cx.emit('DequantizeLinear', [q, sc, zp], [], `${nm}/dequantize_input`);
}

/** a quantized node's bias as ONNX's QDQ convention has it: int32 at scale input * weight per channel */
export function int32Bias(cx: ExportContext, nm: string, q: QWeights): string {
  const mult = Float32Array.from(q.scale, (s) => Math.fround(q.input.scale * s));
  const b = Int32Array.from(q.bias!, (v, i) => roundHalfEven(v / mult[i]));
  const bi = cx.byteInit(`${nm}_int32`, [q.N], INT32, new Uint8Array(b.buffer));
  return cx.emit('DequantizeLinear', [bi, cx.floatInitRaw(`${nm}_scale`, [q.N], mult)], [attrInt('axis', 0)], `${nm}_dequantize`);
}

export const quantFamily: ExportFamily = {
  fakeQuant: (cx, n, out) => {
    const a = n.attrs, x = n.inputs[0], map = cx.isMap.has(x);
    const sc = cx.floatInitRaw(`${n.name}/scale`, [], [a.scale as number]);
    const zp = (a.qmin as number) < 0 ? cx.byteInit(`${n.name}/zero_point`, [], INT8, Int8Array.of(a.zeroPoint as number)) : cx.byteInit(`${n.name}/zero_point`, [], UINT8, Uint8Array.of(a.zeroPoint as number));
    const q = cx.emit('QuantizeLinear', [cx.valueName(x), sc, zp], [], `${n.name}/quantize`);
    cx.setOut(n, cx.emit('DequantizeLinear', [q, sc, zp], [], n.name, map ? undefined : out), map);
  },
};
