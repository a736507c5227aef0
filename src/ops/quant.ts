// int8 inference: dense, conv2d (groups 1) and depthwise conv2d (groups = input channels, any multiplier) with s8
// weights (symmetric, per output channel) on u8 activations (affine, per tensor), i32 accumulation, and a float32
// output (scale, bias, ReLU/ReLU6 fused) - the arithmetic of an ONNX QDQ model's DequantizeLinear -> Conv/Gemm.
// Quantize / dequantize helpers round half to even, as ONNX QuantizeLinear does. Kernels: assembly/gemm_i8.ts
// (dense, conv: a GEMM over the patch matrix), assembly/dwconv_i8.ts (depthwise: direct).
import { registerOp } from '../graph/registry.js';
import type { Backend } from '../backend/index.js';
import { getBackend } from '../backend/index.js';
import { Tensor, formatShape } from '../tensor.js';
import { convGeometry, geometryBlock, type ConvGeometry, type Padding } from './conv.js';
import { Act } from '../backend/kernels.js';
import { fail } from './util.js';
import type { DeviceNumeric } from '../backend/webgpu/numeric.js';

const QOUT_I32 = 0, QOUT_F32 = 2, QOUT_U8F = 3;

/** Round half to even (ONNX QuantizeLinear, f32.nearest). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
}

/** ONNX QuantizeLinear of one value: x / scale (in float32) rounded half to even, plus zp, saturated. */
export function quantizeValue(x: number, scale: number, zp: number, qmin: number, qmax: number): number {
  const v = roundHalfEven(Math.fround(x / scale)) + zp;
  return v < qmin ? qmin : v > qmax ? qmax : v;
}

/** Per-tensor affine u8 quantization of an activation. */
export interface ActQuant { scale: number; zeroPoint: number }

/** u8 quantization of the range [min, max] (widened to hold 0, so zero is exact). */
export function actQuantFromRange(min: number, max: number): ActQuant {
  const lo = Math.min(min, 0), hi = Math.max(max, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`edgegrad.quantize: activation range [${min}, ${max}] is not finite`);
  const scale = hi > lo ? Math.fround((hi - lo) / 255) : 1;
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale, zeroPoint };
}

/** The int8 weights of one dense or conv2d layer. */
export interface QWeights {
  /**
   * K x N row-major s8 (K = KH * KW * Cin for a conv, whose filter shape is [KH, KW, Cin, N]; a depthwise
   * filter is [KH, KW, 1, C * multiplier], K = KH * KW)
   */
  w: Int8Array;
  K: number;
  N: number;
  /** per output channel: w_real = w * scale[n] */
  scale: Float32Array;
  bias?: Float32Array;
  /** the input's quantization (from calibration) */
  input: ActQuant;
  filterShape?: number[];
  /** the exact integer sums as floats (ONNX MatMulInteger / ConvInteger): multiplier 1, no bias */
  raw?: boolean;
}

/** Symmetric per-output-channel s8 quantization of K x N float weights, to [-limit, limit]. */
export function quantizeWeights(w: ArrayLike<number>, K: number, N: number, limit = 127): { w: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N), q = new Int8Array(K * N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + n]));
    if (!Number.isFinite(m)) throw new Error(`edgegrad.quantize: output channel ${n} has a non-finite weight`);
    scale[n] = m > 0 ? Math.fround(m / limit) : 1;
    for (let k = 0; k < K; k++) q[k * N + n] = quantizeValue(w[k * N + n], scale[n], 0, -limit, limit);
  }
  return { w: q, scale };
}

interface Epilogue { biasQ: Tensor; mult: Tensor }
interface Packed extends Epilogue { pb: Tensor; colSums: Tensor; relaxed7: number }
interface DwPacked extends Epilogue { w: Tensor }

/** What `make` builds for (weights, backend), built once and kept while both live. */
function perBackend<T>(cache: WeakMap<QWeights, WeakMap<Backend, T>>, q: QWeights, be: Backend, make: () => T): T {
  let byBe = cache.get(q);
  if (!byBe) cache.set(q, (byBe = new WeakMap()));
  let p = byBe.get(be);
  if (!p) byBe.set(be, (p = make()));
  return p;
}

/**
 * The epilogue's per-channel multipliers (input scale x weight scale) and the bias quantized by them; mult has
 * one more float, the output scale of a u8 epilogue (set per call: outScale).
 */
function epilogue(q: QWeights, be: Backend): Epilogue {
  const e = { biasQ: Tensor.empty([q.N], 'int32', be), mult: Tensor.empty([q.N + 1], 'float32', be) };
  const mult = be.f32(e.mult.ptr, q.N), biasQ = be.i32(e.biasQ.ptr, q.N);
  for (let n = 0; n < q.N; n++) {
    mult[n] = q.raw ? 1 : Math.fround(q.input.scale * q.scale[n]);
    biasQ[n] = q.bias && !q.raw ? roundHalfEven(q.bias[n] / mult[n]) : 0;
  }
  return e;
}

const packs = new WeakMap<QWeights, WeakMap<Backend, Packed>>();

/** The weights packed for this backend's kernels (once), with the quantized bias and output multipliers. */
function packed(q: QWeights, be: Backend): Packed {
  return perBackend(packs, q, be, () => {
    const k = be.kernels;
    const w = be.alloc(q.w.length);
    be.write(w, q.w);
    const relaxed7 = be.relaxedDotOk() && k.qWeightsAre7Bit(q.K, q.N, w, q.N) ? 1 : 0;
    const i32 = (n: number) => Tensor.empty([Math.max(1, Math.ceil(n / 4))], 'int32', be);
    const p = { pb: i32(k.qgemmPackedBSize(q.K, q.N)), colSums: i32(q.N * 4), relaxed7, ...epilogue(q, be) };
    k.qgemmPackB(q.K, q.N, w, q.N, p.pb.ptr, p.colSums.ptr, relaxed7);
    be.free(w);
    return p;
  });
}

const dwPacks = new WeakMap<QWeights, WeakMap<Backend, DwPacked>>();

/** A depthwise layer's weights in this backend's heap as they are ([KH * KW, CO] s8), with its bias and multipliers. */
function dwPacked(q: QWeights, be: Backend): DwPacked {
  return perBackend(dwPacks, q, be, () => {
    const w = Tensor.empty([Math.max(1, Math.ceil(q.w.length / 4))], 'int32', be);
    be.write(w.ptr, q.w);
    return { w, ...epilogue(q, be) };
  });
}

const ACTS: Record<string, number> = { linear: 0, relu: 1, relu6: 2 };

/**
 * The kernels' output mode and zero point: the raw i32 sums, f32, or (yq: the next int8 layer's input
 * quantization, src/quantize/u8-links.ts) u8, its scale written after the multipliers.
 */
function outMode(be: Backend, e: Epilogue, N: number, raw: boolean, yq: ActQuant | undefined): { mode: number; zy: number } {
  if (raw) return { mode: QOUT_I32, zy: 0 };
  if (!yq) return { mode: QOUT_F32, zy: 0 };
  be.f32(e.mult.ptr, N + 1)[N] = yq.scale;
  return { mode: QOUT_U8F, zy: yq.zeroPoint };
}

/** Scratch layout for one int8 GEMM call: quantized input, packed A, column terms. */
function scratch(be: Backend, inBytes: number, M: number, K: number, N: number): { xq: number; pa: number; work: number } {
  const al = (n: number) => Math.ceil(n / 64) * 64;
  const paBytes = be.kernels.qgemmPackedASize(M, K);
  const ws = be.workspace(al(inBytes) + al(paBytes) + al(be.kernels.qgemmWorkSize(N, K)));
  return { xq: ws, pa: ws + al(inBytes), work: ws + al(inBytes) + al(paBytes) };
}

/**
 * y[M, N] = act(dequantized int8 GEMM of x[M, K] and q): a 1x1 convolution over M pixels; x f32 (quantized
 * here) or u8 (xIsU8), y f32 or u8 (yq).
 */
function runDense(be: Backend, q: QWeights, M: number, x: number, y: number, act: number, xIsU8 = false, yq?: ActQuant): void {
  runConv(be, q, [1, 1, q.K, q.N], [1, 1, M, q.K], POINTWISE, x, y, act, false, xIsU8, yq);
}

interface ConvAttrs { strides: [number, number]; pad: Padding; dilations: [number, number] }
const POINTWISE: ConvAttrs = { strides: [1, 1], pad: 'valid', dilations: [1, 1] };

/**
 * The int8 kernels' one call site: y = act(dequantized int8 convolution of x with q) as f32, or the raw i32
 * sums, or (yq) that f32 quantized to u8 by the next int8 layer's input quantization; x is f32 (quantized
 * here) or, with xIsU8, already u8. A dense layer is the 1x1 case.
 */
function runConv(be: Backend, q: QWeights, filterShape: readonly number[], xShape: number[], a: ConvAttrs, x: number, y: number, act: number,
  raw = false, xIsU8 = false, yq?: ActQuant): void {
  const g = convGeometry(xShape, filterShape, a.strides, a.pad, a.dilations, 'qconv2d');
  // (no u8 links on such a backend: GraphModel.plan links only where the int8 kernels run)
  if (!raw && !xIsU8 && !yq && lacksInt8(be)) return runFloatPath(be, q, g, x, y, act);
  if (g.G !== 1 && g.G === g.C) return runDepthwise(be, q, g, x, y, act, raw, xIsU8, yq);
  if (g.G !== 1) fail('qconv2d', `grouped convolution (${g.G} groups of ${g.C / g.G} channels) has no int8 kernel (groups 1 or depthwise only)`);
  const k = be.kernels, p = packed(q, be);
  const M = g.N * g.OH * g.OW, inBytes = g.N * g.H * g.W * g.C;
  const pointwise = g.KH === 1 && g.KW === 1 && g.SH === 1 && g.SW === 1 && g.PT === 0 && g.PL === 0 && g.PB === 0 && g.PR === 0;
  const s = scratch(be, xIsU8 || pointwise ? 0 : inBytes, M, q.K, q.N);
  const xq = xIsU8 ? x : s.xq;
  // a 1x1 convolution is a GEMM over the pixels: quantize straight into the packed rows
  if (pointwise && !xIsU8) k.qQuantizePackA(M, q.K, x, g.C, q.input.scale, q.input.zeroPoint, s.pa);
  else if (pointwise) k.qgemmPackA(M, q.K, xq, g.C, s.pa);
  else if (!xIsU8) k.quantizeU8(inBytes, x, q.input.scale, q.input.zeroPoint, xq);
  if (!pointwise) k.qim2col(g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, xq, q.input.zeroPoint, s.pa);
  const o = outMode(be, p, q.N, raw, yq);
  k.qgemm(M, q.N, q.K, s.pa, q.input.zeroPoint, p.pb.ptr, p.colSums.ptr, raw ? 0 : p.biasQ.ptr, p.relaxed7, o.mode,
    y, q.N, p.mult.ptr, o.zy, 0, 255, act, s.work);
}

/** The depthwise case of runConv (groups = input channels): one direct kernel, no patch matrix. */
function runDepthwise(be: Backend, q: QWeights, g: ConvGeometry, x: number, y: number, act: number, raw: boolean, xIsU8: boolean,
  yq?: ActQuant): void {
  const k = be.kernels, p = dwPacked(q, be);
  const al = (n: number) => Math.ceil(n / 64) * 64;
  const inBytes = xIsU8 ? 0 : g.N * g.H * g.W * g.C;
  const ws = be.workspace(al(inBytes) + al(k.qdepthwiseWorkSize(g.N, g.H, g.W, g.C, g.CO)));
  const xq = xIsU8 ? x : ws;
  if (!xIsU8) k.quantizeU8(inBytes, x, q.input.scale, q.input.zeroPoint, xq);
  const o = outMode(be, p, q.N, raw, yq);
  k.qdepthwise(g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, g.CO, xq, q.input.zeroPoint, p.w.ptr,
    raw ? 0 : p.biasQ.ptr, o.mode, y, p.mult.ptr, o.zy, 0, 255, act, ws + al(inBytes));
}

const lacking = new WeakMap<Backend, boolean>();

/** Whether a backend has no int8 kernels (webgpu): its int8 layers take their float path. */
export function lacksInt8(be: Backend): boolean {
  let v = lacking.get(be);
  if (v === undefined) lacking.set(be, (v = be.lacks().includes('qgemm')));
  return v;
}

/**
 * summary()'s line on where a graph's nodes run: the active backend, and the int8 nodes that take their float
 * path there (a backend without int8 kernels). Nothing runs on another backend behind the user's back.
 */
export function placementLine(nodes: ReadonlyArray<{ attrs: Record<string, unknown> }>): string {
  const be = getBackend(), q = nodes.filter((n) => n.attrs.q !== undefined).length;
  const float = q > 0 && lacksInt8(be) ? `; its ${q} int8 node${q > 1 ? 's take their' : ' takes its'} float path there (the '${be.name}' backend has no int8 kernels)` : '';
  return `Runs on: the '${be.name}' backend (${be.build}), every node${float}`;
}

interface FloatWeights { w: Tensor; bias: Tensor }
const floatWeights = new WeakMap<QWeights, WeakMap<Backend, FloatWeights>>();

/**
 * An int8 layer's weights for its float path: w * (input scale x weight scale) / input scale, so that the float
 * convolution of the fake-quantized input ((u8 - zero point) x input scale) sums the int8 kernel's products
 * times its multipliers; the bias as the int8 epilogue adds it (quantized by the multipliers).
 */
function floatWeightsOf(q: QWeights, be: Backend): FloatWeights {
  return perBackend(floatWeights, q, be, () => {
    const w = new Float32Array(q.w.length), bias = new Float32Array(q.N), per = new Float32Array(q.N);
    for (let n = 0; n < q.N; n++) {
      const mult = q.raw ? 1 : Math.fround(q.input.scale * q.scale[n]);
      per[n] = mult / q.input.scale;
      bias[n] = q.bias && !q.raw ? Math.fround(roundHalfEven(q.bias[n] / mult) * mult) : 0;
    }
    for (let i = 0; i < w.length; i++) w[i] = q.w[i] * per[i % q.N];
    const t = { w: Tensor.empty([w.length], 'float32', be), bias: Tensor.empty([q.N], 'float32', be) };
    be.write(t.w.ptr, w);
    be.write(t.bias.ptr, bias);
    return t;
  });
}

/**
 * The float path of an int8 dense / conv / depthwise layer on a backend without int8 kernels: the input
 * quantized and dequantized (the u8 values the int8 kernel reads), the float convolution with the weights and
 * bias of floatWeightsOf and the fused ReLU / ReLU6. It equals the int8 result up to the float32 rounding of
 * the sums (the int8 kernel sums exactly in i32).
 */
function runFloatPath(be: Backend, q: QWeights, g: ConvGeometry, x: number, y: number, act: number): void {
  const p = floatWeightsOf(q, be), size = g.N * g.H * g.W * g.C;
  const al = (n: number) => Math.ceil(n / 256) * 256;
  const ws = be.workspace(al(size * 4) + be.kernels.convWorkspaceSize(geometryBlock(be, g)));
  const { scale, zeroPoint } = q.input;
  const gpu = (be as { numeric?: DeviceNumeric }).numeric;
  if (gpu) gpu.fakeQuant(size, x, ws, scale, zeroPoint, 0, 255);
  else fakeQuantize(be.f32(x, size), be.f32(ws, size), scale, zeroPoint, 0, 255);
  const code = [Act.linear, Act.relu, Act.relu6][act];
  // the geometry block after the quantization, which may use the descriptor slot itself
  be.kernels.conv2dForward(geometryBlock(be, g), ws, p.w.ptr, p.bias.ptr, y, code, 0, ws + al(size * 4));
}

function actCode(name: unknown, op: string): number {
  const c = ACTS[String(name ?? 'linear')];
  if (c === undefined) fail(op, `activation '${String(name)}' cannot be fused into the int8 epilogue (linear, relu, relu6)`);
  return c;
}

registerOp({
  name: 'qdense',
  infer([x], a, node) {
    const q = a.q as QWeights;
    if (x.length !== 2 || x[1] !== q.K) fail('qdense', `node '${node}': input ${formatShape(x)} does not match ${q.K} x ${q.N} int8 weights`);
    return [[x[0], q.N]];
  },
  run(ctx, n) {
    const q = n.attrs.q as QWeights;
    runDense(ctx.be, q, ctx.shape(n.inputs[0])[0], ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), actCode(n.attrs.activation, 'qdense'),
      n.attrs.inU8 === true, n.attrs.outQ as ActQuant | undefined);
  },
  flops: ([x], [y]) => 2 * x[0] * x[1] * y[1],
});

registerOp({
  name: 'qconv2d',
  infer([x], a, node) {
    const q = a.q as QWeights;
    try {
      const g = convGeometry(x, q.filterShape!, a.strides as [number, number], a.pad as Padding, a.dilations as [number, number], 'qconv2d');
      return [[x[0], g.OH, g.OW, g.CO]];
    } catch (e) {
      throw new Error(`${(e as Error).message} (node '${node}')`);
    }
  },
  run(ctx, n) {
    const q = n.attrs.q as QWeights;
    runConv(ctx.be, q, q.filterShape!, ctx.shape(n.inputs[0]), n.attrs as unknown as ConvAttrs, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]),
      actCode(n.attrs.activation, 'qconv2d'), false, n.attrs.inU8 === true, n.attrs.outQ as ActQuant | undefined);
  },
  flops: ([x], [y], a) => { const f = (a.q as QWeights).filterShape!; return 2 * y[0] * y[1] * y[2] * y[3] * f[0] * f[1] * f[2]; },
});

/** ONNX QuantizeLinear -> DequantizeLinear on an activation (an imported QDQ model): y = (q(x) - zp) * s. */
export function fakeQuantize(x: Float32Array, y: Float32Array, scale: number, zp: number, qmin: number, qmax: number): void {
  for (let i = 0; i < x.length; i++) y[i] = Math.fround((quantizeValue(x[i], scale, zp, qmin, qmax) - zp) * scale);
}

registerOp({
  name: 'fakeQuant',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const size = ctx.shape(n.inputs[0]).reduce((a, b) => a * b, 1);
    const a = n.attrs as { scale: number; zeroPoint: number; qmin: number; qmax: number };
    // the webgpu backend's kernel (the same bits: src/backend/webgpu/numeric.ts), else on the host
    const gpu = ctx.be.syncRead ? undefined : (ctx.be as { numeric?: DeviceNumeric }).numeric;
    if (gpu) return gpu.fakeQuant(size, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), a.scale, a.zeroPoint, a.qmin, a.qmax);
    fakeQuantize(ctx.be.f32(ctx.ptr(n.inputs[0]), size), ctx.be.f32(ctx.ptr(n.outputs[0]), size), a.scale, a.zeroPoint, a.qmin, a.qmax);
  },
});

// ---- the integer kernels as plain functions, for tests and benchmarks ----

/** sum_k (a[m, k] - za) * w[k, n] exactly (i32), through the int8 GEMM of the active build. */
export function int8MatMul(a: Uint8Array, M: number, K: number, za: number, w: Int8Array, N: number, be: Backend = getBackend()): Int32Array {
  if (a.length !== M * K || w.length !== K * N) fail('int8MatMul', `a has ${a.length} values for ${M} x ${K}, w ${w.length} for ${K} x ${N}`);
  const q: QWeights = { w, K, N, scale: new Float32Array(N).fill(1), input: { scale: 1, zeroPoint: za } };
  const x = be.alloc(M * K), y = Tensor.empty([M, N], 'int32', be);
  try {
    be.write(x, a);
    runConv(be, q, [1, 1, K, N], [1, 1, M, K], POINTWISE, x, y.ptr, 0, true, true);
    return be.i32(y.ptr, M * N).slice();
  } finally {
    be.free(x);
    y.dispose();
  }
}

/**
 * The i32 sums of an NHWC u8 convolution with s8 filter [KH, KW, C, CO] (padding reads za); a filter
 * [KH, KW, 1, C * multiplier] is a depthwise convolution (its own kernel).
 */
export function int8Conv2d(x: Uint8Array, xShape: number[], za: number, w: Int8Array, filterShape: number[], strides: number | [number, number],
  pad: Padding, be: Backend = getBackend()): { y: Int32Array; shape: number[] } {
  const st: [number, number] = typeof strides === 'number' ? [strides, strides] : strides;
  const g = convGeometry(xShape, filterShape, st, pad, [1, 1], 'int8Conv2d');
  if (g.G !== 1 && g.G !== g.C) fail('int8Conv2d', `grouped convolution (${g.G} groups) has no int8 kernel`);
  const [KH, KW, C, CO] = filterShape;
  const q: QWeights = { w, K: KH * KW * C, N: CO, scale: new Float32Array(CO).fill(1), input: { scale: 1, zeroPoint: za }, filterShape };
  const xp = be.alloc(x.length), y = Tensor.empty([g.N * g.OH * g.OW, CO], 'int32', be);
  try {
    be.write(xp, x);
    runConv(be, q, filterShape, xShape, { strides: st, pad, dilations: [1, 1] }, xp, y.ptr, 0, true, true);
    return { y: be.i32(y.ptr, y.size).slice(), shape: [g.N, g.OH, g.OW, CO] };
  } finally {
    be.free(xp);
    y.dispose();
  }
}
