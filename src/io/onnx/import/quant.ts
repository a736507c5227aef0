// Quantized models. QDQ: int8 weights are dequantized once at load (and remembered, so the layer can run
// int8); Q -> DQ on an activation becomes one fake-quantize node (round half to even, saturate), the
// arithmetic ONNX Runtime runs. QOperator: QLinearConv / QLinearMatMul run as qconv2d / qdense on the u8
// input, ConvInteger / MatMulInteger give the exact int32 sums (held in float; only a Cast reads them).
import { formatShape } from '../../../tensor.js';
import { quantizeValue, type QWeights } from '../../../ops/quant.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { oihwToHwioData, tensorFrom } from './tensor.js';

/** the range of the quantized type: int8 or uint8 */
const qrange = (signed: boolean): [number, number] => (signed ? [-128, 127] : [0, 255]);

function qdq(cx: ImportContext, n: OnnxNode): void {
  const v = cx.get(n, 0);
  const scale = cx.konst(n, 1), zp = n.input[2] ? cx.konst(n, 2) : new Float32Array(scale.length);
  for (const sc of scale) if (!(sc > 0 && Number.isFinite(sc))) cx.unsupported(n, `scale ${sc}: scales must be positive and finite`);
  // the zero point's type is the quantized type (uint8 when absent)
  const signed = cx.signedZeroPoint(n, 2);
  const [qmin, qmax] = qrange(signed);
  if (v.konst) return quantizeConstant(cx, n, v, scale, zp, signed);
  if (scale.length !== 1) cx.unsupported(n, 'per-axis quantization of a computed value (per-tensor only)');
  if (n.opType === 'QuantizeLinear') {
    if (v.id === undefined) cx.unsupported(n, 'its input is neither a constant nor computed');
    return cx.set(n, { ...v, quant: { scale: scale[0], zeroPoint: zp[0], qmin, qmax } });
  }
  const q = v.quant;
  if (!q) cx.unsupported(n, 'dequantizing a computed value that no QuantizeLinear produced');
  if (q!.exact) {
    // a QOperator result is held dequantized already
    if (q!.scale !== scale[0] || q!.zeroPoint !== zp[0]) cx.unsupported(n, `dequantizes with scale ${scale[0]}, zero point ${zp[0]} a tensor quantized with ${q!.scale}, ${q!.zeroPoint}`);
    return cx.set(n, { id: v.id, nhwc: v.nhwc, shape: v.shape });
  }
  if (q!.scale !== scale[0] || q!.zeroPoint !== zp[0]) cx.unsupported(n, `QuantizeLinear (scale ${q!.scale}, zero point ${q!.zeroPoint}) and DequantizeLinear (scale ${scale[0]}, zero point ${zp[0]}) disagree`);
  const [id] = cx.g.node('fakeQuant', [v.id!], { scale: q!.scale, zeroPoint: q!.zeroPoint, qmin: q!.qmin, qmax: q!.qmax }, n.name);
  cx.set(n, { id, nhwc: v.nhwc, shape: v.shape });
}

/** (De)quantizing a constant, per tensor or per axis: folded at load */
function quantizeConstant(cx: ImportContext, n: OnnxNode, v: Val, scale: Float32Array, zp: Float32Array, signed: boolean): void {
  const [qmin, qmax] = qrange(signed);
  const axis = cx.int(n, 'axis', 1), d = v.shape;
  const ax = axis < 0 ? axis + d.length : axis;
  const inner = d.slice(ax + 1).reduce((a, b) => a * b, 1), C = scale.length;
  if (C > 1 && d[ax] !== C) cx.unsupported(n, `${C} scales for axis ${axis} of ${formatShape(d)}`);
  const out = new Float32Array(v.konst!.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = C === 1 ? 0 : Math.floor(i / inner) % C;
    const x = v.konst!.data[i];
    out[i] = n.opType === 'DequantizeLinear' ? Math.fround((x - zp[c]) * scale[c]) : quantizeValue(x, scale[c], zp[c], qmin, qmax);
  }
  // int8 weights dequantized per channel (zero points 0): remembered, so the layer can run int8
  const int8 = n.opType === 'DequantizeLinear' && signed && zp.every((z) => z === 0) && ax >= 0
    ? { q: Int8Array.from(v.konst!.data), scale: Float32Array.from(scale), axis: ax } : undefined;
  cx.set(n, { shape: d, konst: { data: out, int: n.opType === 'QuantizeLinear', int8 } });
}

/** what a QOperator node reads: its u8 input (checked against the scale it says), and its weights as w - zero point */
interface QOperand { xv: Val; input: { scale: number; zeroPoint: number }; ws: number[]; O: number; wInt: Float32Array; scales: Float32Array }

// inputs: QLinear*: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, B]; *Integer: x, w[, x_zp, w_zp]
function qoperands(cx: ImportContext, n: OnnxNode, linear: boolean, conv: boolean): QOperand {
  const xv = cx.get(n, 0);
  if (!xv.quant || xv.id === undefined) cx.unsupported(n, 'its input must be a quantized tensor (QuantizeLinear or a QLinear op)');
  const xq = xv.quant!;
  if (xq.qmin !== 0) cx.unsupported(n, 'int8 (signed) activations: edgegrad runs u8 activations');
  const xs = linear ? cx.konst(n, 1)[0] : xq.scale, xz = linear ? cx.konst(n, 2)[0] : (n.input[2] ? cx.konst(n, 2)[0] : 0);
  if (xs !== xq.scale || xz !== xq.zeroPoint) cx.unsupported(n, `reads a tensor quantized with scale ${xq.scale}, zero point ${xq.zeroPoint} as scale ${xs}, zero point ${xz}`);
  const wv = cx.get(n, linear ? 3 : 1);
  if (!wv.konst) cx.unsupported(n, 'the weights must be an initializer');
  const wScale = linear ? cx.konst(n, 4) : new Float32Array([1]);
  const wZero = linear ? (n.input[5] ? cx.konst(n, 5) : new Float32Array(1)) : (n.input[3] ? cx.konst(n, 3) : new Float32Array(1));
  for (const sc of [xs, ...wScale, ...(linear ? [cx.konst(n, 6)[0]] : [])]) if (!(sc > 0 && Number.isFinite(sc))) cx.unsupported(n, `scale ${sc}: scales must be positive and finite`);
  // weights as integers w - zero point, per output channel (conv: axis 0 of OIHW; matmul: columns)
  const ws = wv.shape, O = conv ? ws[0] : ws[1];
  const per = (a: Float32Array, c: number) => (a.length === 1 ? a[0] : a[c]);
  const wInt = new Float32Array(wv.konst!.data.length);
  const inner = conv ? ws[1] * ws[2] * ws[3] : 1;
  for (let i = 0; i < wInt.length; i++) {
    const c = conv ? Math.floor(i / inner) : i % O;
    wInt[i] = wv.konst!.data[i] - per(wZero, c);
    if (wInt[i] < -128 || wInt[i] > 127) cx.unsupported(n, `weight ${wv.konst!.data[i]} minus zero point ${per(wZero, c)} is outside int8`);
  }
  // ConvInteger / MatMulInteger give the exact int32 sums: a multiplier of 1
  const scales = Float32Array.from({ length: O }, (_, c) => (linear ? per(wScale, c) : 1));
  return { xv, input: { scale: xs, zeroPoint: xz }, ws, O, wInt, scales };
}

/** QLinearConv / ConvInteger: qconv2d (groups 1 or depthwise), or (other groups) a float conv2d of the dequantized weights */
function qconv(cx: ImportContext, n: OnnxNode, linear: boolean, { xv, input, ws, O, wInt, scales }: QOperand): number {
  const bias = linear && n.input[8] ? Float32Array.from(cx.konst(n, 8), (b, c) => b * Math.fround(input.scale * scales[c])) : undefined;
  const x = xv.nhwc || xv.shape.length !== 4 ? xv : cx.asMap(xv, n.name!);
  const group = cx.int(n, 'group', 1);
  const [, Ig, kh, kw] = ws;
  const strides = cx.ints(n, 'strides', [1, 1]), dil = cx.ints(n, 'dilations', [1, 1]);
  const pad = cx.padsOf(n, x.shape[2], x.shape[3], [kh, kw], strides, dil);
  const filter = oihwToHwioData(wInt, ws);
  // depthwise (one input channel per group, groups = channels): the int8 depthwise kernel, filter [kh, kw, 1, O]
  if (group === 1 || Ig === 1) {
    const q: QWeights = { w: Int8Array.from(filter), K: kh * kw * Ig, N: O, scale: scales, bias, input, filterShape: [kh, kw, Ig, O], raw: !linear };
    return cx.g.node('qconv2d', [x.id!], { q, strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, n.name)[0];
  }
  // grouped: float convolution of the dequantized values (no int8 kernel for groups of several channels)
  const wf = tensorFrom(filter.map((v, i) => v * (linear ? scales[i % O] : 1)), [kh, kw, Ig, O]);
  const ins = [x.id!, cx.param(`${n.name}/W`, wf)];
  if (bias) ins.push(cx.param(`${n.name}/B`, tensorFrom(bias, [O])));
  if (!linear) cx.unsupported(n, `ConvInteger with ${group} groups (only groups 1)`);
  return cx.g.node('conv2d', ins, { strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, n.name)[0];
}

function qmatmul(cx: ImportContext, n: OnnxNode, linear: boolean, { xv, input, ws, wInt, scales }: QOperand): number {
  if (xv.shape.length !== 2) cx.unsupported(n, `input ${formatShape(xv.shape)} must be rank 2`);
  const [K, N] = ws;
  const q: QWeights = { w: Int8Array.from(wInt), K, N, scale: scales, input, raw: !linear };
  return cx.g.node('qdense', [xv.id!], { q, activation: 'linear', alpha: 0 }, n.name)[0];
}

function qoperator(cx: ImportContext, n: OnnxNode): void {
  const linear = n.opType.startsWith('QLinear'), conv = n.opType.includes('Conv');
  const operands = qoperands(cx, n, linear, conv);
  const id = conv ? qconv(cx, n, linear, operands) : qmatmul(cx, n, linear, operands);
  const shape = conv ? cx.mapShape(id) : [-1, operands.O];
  if (!linear) return cx.set(n, { id, nhwc: conv, shape, integer: true });
  // the u8 / int8 output, held dequantized (exact: a DequantizeLinear of the same scale is free)
  const ys = cx.konst(n, 6)[0], yz = n.input[7] ? cx.konst(n, 7)[0] : 0;
  const [qmin, qmax] = qrange(cx.signedZeroPoint(n, 7));
  const [yid] = cx.g.node('fakeQuant', [id], { scale: ys, zeroPoint: yz, qmin, qmax }, `${n.name}/output`);
  cx.set(n, { id: yid, nhwc: conv, shape, quant: { scale: ys, zeroPoint: yz, qmin, qmax, exact: true } });
}

// the order of the quantized-tensor readers is the order the error message lists them in
export const quantFamily: Family = {
  QuantizeLinear: { convert: qdq },
  DequantizeLinear: { convert: qdq, quantized: 'reads' },
  QLinearConv: { convert: qoperator, quantized: 'reads' },
  QLinearMatMul: { convert: qoperator, quantized: 'reads' },
  MatMulInteger: { convert: qoperator, quantized: 'reads' },
  ConvInteger: { convert: qoperator, quantized: 'reads' },
};
