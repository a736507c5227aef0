// Quantized models. QDQ: int8 weights are dequantized once at load (and remembered, so the layer can run
// int8); Q -> DQ on an activation becomes one fake-quantize node (round half to even, saturate), the
// arithmetic ONNX Runtime runs. QOperator: QLinearConv / QLinearMatMul run as qconv2d / qdense on the u8
// input, ConvInteger / MatMulInteger give the exact int32 sums (held in float, Val.itype INT32).
// Raw integers (a uint8 / int8 input, Val.itype): the same ops as float arithmetic on exact integers, a
// requantize node giving the u8 / i8 result (integer.ts); QuantizeLinear per axis, or as a model output, the
// integers themselves.
import { formatShape } from '../../../tensor.js';
import { quantizeValue, type QWeights } from '../../../ops/quant.js';
import type { RequantizeAttrs } from '../../../ops/integer.js';
import { INT8, INT32, UINT8, type OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { oihwToHwioData, tensorFrom } from './tensor.js';
import { fail } from './errors.js';
import { intRange } from './integer.js';
import { convFamily } from './conv.js';
import { denseFamily } from './dense.js';

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
  // raw integers (a uint8 input, say) dequantized: (x - zero point) * scale, per tensor or per axis
  if (n.opType === 'DequantizeLinear' && !v.quant && v.id !== undefined && v.itype !== undefined) return dequantizeIntegers(cx, n, v, scale, zp);
  // per axis: the integers themselves (a DequantizeLinear reads them as raw integers)
  if (n.opType === 'QuantizeLinear' && scale.length !== 1 && v.id !== undefined) return cx.set(n, requantize(cx, n.name!, v, scale, zp, cx.int(n, 'axis', 1), signed, 'divide'));
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

/** The storage axis of ONNX axis `axis` of v, and the shape that puts C values on it (for broadcasting). */
function perAxis(cx: ImportContext, n: string, v: Val, axis: number, C: number): { ax: number; shape: number[] } {
  const r = v.shape.length, a = axis < 0 ? axis + r : axis;
  if (C > 1 && !(a >= 0 && a < r && v.shape[a] === C)) fail(`node '${n}': ${C} scales for axis ${axis} of ${formatShape(v.shape)}`);
  const ax = cx.storageAxis(v, a), rank = cx.g.values[v.id!].shape.length;
  return { ax, shape: C === 1 ? [1] : [C, ...new Array(rank - ax - 1).fill(1)] };
}

/** DequantizeLinear of computed integers: (x - zero point) * scale in float32, as ONNX Runtime computes it. */
function dequantizeIntegers(cx: ImportContext, n: OnnxNode, v: Val, scale: Float32Array, zp: Float32Array): void {
  const { shape } = perAxis(cx, n.name!, v, cx.int(n, 'axis', 1), scale.length);
  let id = v.id!;
  if (zp.some((z) => z !== 0)) id = cx.g.node('sub', [id, cx.g.param(`${n.name}/zero_point`, tensorFrom(zp, shape), false)], {}, `${n.name}/shifted`)[0];
  [id] = cx.g.node('mul', [id, cx.g.param(`${n.name}/scale`, tensorFrom(scale, shape), false)], {}, n.name);
  cx.set(n, { id, nhwc: v.nhwc, shape: v.shape });
}

/**
 * v quantized to u8 / i8 integers (Val.itype), per tensor or per `axis`: saturate(round_half_even(x / scale)
 * + zero point), or x * scale for mode 'multiply' (a QLinear op's sums times its multiplier).
 */
function requantize(cx: ImportContext, name: string, v: Val, scale: ArrayLike<number>, zp: ArrayLike<number>, axis: number, signed: boolean, mode: RequantizeAttrs['mode']): Val {
  const [qmin, qmax] = qrange(signed);
  const { ax } = perAxis(cx, name, v, axis, scale.length);
  const attrs: RequantizeAttrs = { scale: Array.from(scale), zeroPoint: Array.from(scale, (_, c) => zp[zp.length === 1 ? 0 : c] ?? 0), axis: ax, qmin, qmax, mode };
  const [id] = cx.g.node('requantize', [v.id!], attrs as unknown as Record<string, unknown>, name);
  return { id, nhwc: v.nhwc, shape: v.shape, itype: signed ? INT8 : UINT8 };
}

/** A quantized tensor (Val.quant: a QuantizeLinear's, or a QLinear op's held dequantized) as its integers. */
export function quantizedIntegers(cx: ImportContext, name: string, v: Val): Val {
  const q = v.quant!;
  return requantize(cx, `${name}/integers`, v, [q.scale], [q.zeroPoint], 0, q.qmin < 0, 'divide');
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

/**
 * A QOperator op on raw integers (a uint8 / int8 input): float arithmetic on exact integers, the op's Conv or
 * MatMul converter over x - x_zero_point and the frozen weights w - w_zero_point (+ the int32 bias), checked
 * at load to stay within 2^24 (float32's exact integers); QLinear ops requantize the sums (multiplier
 * x_scale * w_scale / y_scale in float32, as ONNX Runtime).
 */
function qoperatorIntegers(cx: ImportContext, n: OnnxNode, linear: boolean, conv: boolean): void {
  const nm = n.name!, xv = cx.get(n, 0), wk = linear ? 3 : 1, xzk = 2, wzk = linear ? 5 : 3;
  const xz = n.input[xzk] ? cx.konst(n, xzk) : new Float32Array(1);
  if (xz.length !== 1) cx.unsupported(n, `${xz.length} zero points for its input: per tensor only`);
  const wv = cx.get(n, wk), ws = wv.shape;
  const wz = n.input[wzk] ? cx.konst(n, wzk) : new Float32Array(1);
  // output channels: axis 0 of a conv's OIHW filter, the columns of a matmul's B
  const O = conv ? ws[0] : ws[ws.length - 1];
  if (wz.length !== 1 && wz.length !== O) cx.unsupported(n, `${wz.length} weight zero points for ${O} output channels`);
  const bias = linear && n.input[8] ? cx.konst(n, 8) : undefined;
  // |x - x_zp| is at most xMax: a bound on every sum, checked within 2^24
  const xMax = maxDistance(intRange(xv.itype!), xz);
  const w = !conv && wv.id !== undefined ? computedB(cx, n, wv, wz, xMax) : constantWeights(cx, n, wk, wz, conv, xMax, bias);
  // the synthetic Conv / MatMul reads x - x_zp and w - w_zp
  const x = xz[0] === 0 ? xv : { ...xv, id: cx.g.node('sub', [xv.id!, cx.scalarParam(`${nm}/x_zero_point`, xz[0])], {}, `${nm}/x_shifted`)[0] };
  const names = [`${nm}/x`, `${nm}/w`, ...(bias ? [`${nm}/bias`] : [])];
  cx.vals.set(names[0], x);
  cx.vals.set(names[1], w);
  if (bias) cx.vals.set(names[2], { shape: [O], konst: { data: bias, int: true } });
  const sum = linear ? `${nm}/sum` : n.output[0];
  const first = cx.g.values.length;
  const op = conv ? 'Conv' : 'MatMul';
  (conv ? convFamily : denseFamily)[op].convert(cx, { ...n, name: linear ? sum : nm, opType: op, input: conv ? names : names.slice(0, 2), output: [sum] });
  for (const v of cx.g.values.slice(first)) if (v.kind === 'param') v.trainable = false;
  let acc = cx.vals.get(sum)!;
  // MatMul's bias (MatMulInteger has none; QLinearMatMul none either): nothing more to add
  if (!linear) return cx.set(n, { ...acc, itype: INT32 });
  const xs = cx.konst(n, 1)[0], wsc = cx.konst(n, 4), ys = cx.konst(n, 6)[0], yz = n.input[7] ? cx.konst(n, 7) : new Float32Array(1);
  for (const sc of [xs, ...wsc, ys]) if (!(sc > 0 && Number.isFinite(sc))) cx.unsupported(n, `scale ${sc}: scales must be positive and finite`);
  const mult = Array.from(wsc, (s) => Math.fround(Math.fround(xs * s) / ys));
  acc = { ...acc, itype: INT32 };
  cx.set(n, requantize(cx, nm, acc, mult, yz, conv ? 1 : acc.shape.length - 1, cx.signedZeroPoint(n, 7), 'multiply'));
}

/** The largest |v - z| over v in [lo, hi] and the zero points z. */
const maxDistance = ([lo, hi]: [number, number], zps: ArrayLike<number>) => Math.max(...Array.from(zps, (z) => Math.max(Math.abs(lo - z), Math.abs(hi - z))));

function checkExact(cx: ImportContext, n: OnnxNode, worst: number): void {
  if (worst > 16777216) cx.unsupported(n, `its integer sums may reach ${worst}, beyond 2^24: edgegrad computes them in float32, exact only up to 2^24`);
}

/** Constant weights as w - w_zp (per tensor or per output channel), the sums bounded by xMax * sum |w - w_zp| + |bias|. */
function constantWeights(cx: ImportContext, n: OnnxNode, wk: number, wz: Float32Array, conv: boolean, xMax: number, bias?: Float32Array): Val {
  const w = cx.konst(n, wk), ws = cx.get(n, wk).shape;
  const O = conv ? ws[0] : ws[ws.length - 1], inner = conv ? w.length / O : 1;
  const chan = (i: number) => (conv ? Math.floor(i / inner) : i % O);
  const wInt = w.map((v, i) => v - wz[wz.length === 1 ? 0 : chan(i)]);
  const sums = new Float64Array(O);
  wInt.forEach((v, i) => { sums[chan(i)] += Math.abs(v) * xMax; });
  checkExact(cx, n, Math.max(...Array.from(sums, (sm, c) => sm + Math.abs(bias?.[c] ?? 0))));
  return { shape: ws, konst: { data: wInt, int: true } };
}

/** A computed B (two integer inputs multiplied): b - b_zp in the graph, the sums bounded by K * xMax * max |b - b_zp|. */
function computedB(cx: ImportContext, n: OnnxNode, bv: Val, bz: Float32Array, xMax: number): Val {
  if (bv.itype === undefined) cx.unsupported(n, `B (input ${n.opType === 'MatMulInteger' ? 1 : 3} ('${n.input[n.opType === 'MatMulInteger' ? 1 : 3]}')) must be integers (uint8 / int8)`);
  const K = bv.shape[bv.shape.length - 2];
  checkExact(cx, n, K * xMax * maxDistance(intRange(bv.itype!), bz));
  const b = cx.asPlain(bv, `${n.name}/b`);
  if (bz.every((z) => z === 0)) return b;
  return { ...b, id: cx.g.node('sub', [b.id!, cx.g.param(`${n.name}/b_zero_point`, tensorFrom(bz, [bz.length]), false)], {}, `${n.name}/b_shifted`)[0] };
}

function qoperator(cx: ImportContext, n: OnnxNode): void {
  const linear = n.opType.startsWith('QLinear'), conv = n.opType.includes('Conv');
  const x = cx.get(n, 0);
  if (!x.quant && x.id !== undefined && x.itype !== undefined) return qoperatorIntegers(cx, n, linear, conv);
  const operands = qoperands(cx, n, linear, conv);
  const id = conv ? qconv(cx, n, linear, operands) : qmatmul(cx, n, linear, operands);
  const shape = conv ? cx.mapShape(id) : [-1, operands.O];
  if (!linear) return cx.set(n, { id, nhwc: conv, shape, itype: INT32 });
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
