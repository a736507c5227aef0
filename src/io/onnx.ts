// ONNX import: ModelProto (parsed by onnx-proto / protobufjs) -> graph IR. Images keep NCHW at the model's
// boundary; inside, feature maps are NHWC and convolution filters are converted once, here, from OIHW to
// HWIO. Flatten / Reshape of a feature map goes through an explicit NHWC -> NCHW transpose so the flattened
// order is ONNX's. Shape / Gather / Unsqueeze / Concat / Cast chains on static shapes fold to constants.
import { Graph, type Node } from '../graph/ir.js';
import { GraphModel } from '../graph-model.js';
import { fuseActivations } from '../graph/passes.js';
import { Tensor, formatShape } from '../tensor.js';
import '../ops/index.js';
import { halfToFloat } from './half.js';
import { quantizeValue, type QWeights } from '../ops/quant.js';
import type { QuantizationReport } from '../quantize/index.js';

type Long = number | { toNumber(): number };
interface OnnxTensor { name?: string; dims?: Long[]; dataType?: number; rawData?: Uint8Array; floatData?: number[]; int64Data?: Long[]; int32Data?: number[]; doubleData?: number[]; dataLocation?: number; externalData?: Array<{ key?: string; value?: string }> }
interface OnnxAttr { name: string; type?: number; f?: number; i?: Long; s?: Uint8Array; t?: OnnxTensor; ints?: Long[]; floats?: number[] }
interface OnnxNode { input: string[]; output: string[]; name?: string; opType: string; attribute: OnnxAttr[] }
interface OnnxValueInfo { name: string; type?: { tensorType?: { elemType?: number; shape?: { dim: Array<{ dimValue?: Long; dimParam?: string }> } } } }
interface OnnxModel {
  irVersion?: Long; producerName?: string; opsetImport: Array<{ domain?: string; version?: Long }>;
  graph?: { node: OnnxNode[]; initializer: OnnxTensor[]; input: OnnxValueInfo[]; output: OnnxValueInfo[]; name?: string };
}

const num = (v: Long | undefined, d = 0): number => (v === undefined || v === null ? d : typeof v === 'number' ? v : v.toNumber());

/** A value while converting: a graph value (4-D ones stored NHWC) or a compile-time constant. */
interface Val {
  id?: number;
  nhwc?: boolean;
  /** ONNX shape (NCHW for maps), batch as -1 */
  shape: number[];
  konst?: { data: Float32Array; int: boolean; int8?: { q: Int8Array; scale: Float32Array; axis: number } };
  /** the output of QuantizeLinear on a computed value: only a DequantizeLinear may read it */
  quant?: { scale: number; zeroPoint: number; qmin: number; qmax: number; exact?: boolean };
  /** integers computed exactly in float (MatMulInteger / ConvInteger outputs): only Cast to float reads them */
  integer?: boolean;
}

/** ops that take quantized tensors: the QOperator ops, and ops that move values without changing them */
const READS_QUANTIZED = new Set(['DequantizeLinear', 'QLinearConv', 'QLinearMatMul', 'MatMulInteger', 'ConvInteger', 'MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);
const MOVES_VALUES = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11;
const MAX_ELEMENTS = 1 << 28; // 1 GiB of float32: a declared dimension beyond this is refused before allocating

async function protoRoot(): Promise<{ ModelProto: { decode(b: Uint8Array): OnnxModel } }> {
  const m = (await import('onnx-proto')) as unknown as { onnx?: unknown; default?: { onnx?: unknown } };
  return (m.onnx ?? m.default?.onnx) as { ModelProto: { decode(b: Uint8Array): OnnxModel } };
}

function fail(msg: string): never {
  throw new Error(`edgegrad.loadModel: ${msg}`);
}

/** Numbers of a TensorProto (float data as Float32Array; integers exactly as doubles). */
function tensorData(t: OnnxTensor, where: string): { data: Float32Array; dims: number[]; int: boolean } {
  const dims = (t.dims ?? []).map((d) => num(d));
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => d < 0) || n > MAX_ELEMENTS) fail(`${where} declares dims ${formatShape(dims)} (${n} elements), more than edgegrad accepts (${MAX_ELEMENTS})`);
  const type = t.dataType ?? 0;
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const out = new Float32Array(n);
  const check = (have: number) => {
    if (have !== n) fail(`${where} declares ${formatShape(dims)} = ${n} elements but holds ${Number.isInteger(have) ? have : `${raw!.length} bytes, not a whole number of elements`}`);
  };
  if (type === FLOAT) {
    if (raw) { check(raw.length / 4); out.set(new Float32Array(copyBytes(raw))); } else { check(t.floatData?.length ?? 0); out.set(t.floatData!); }
    return { data: out, dims, int: false };
  }
  if (type === FLOAT16) {
    // raw little-endian halves, or (ONNX's packing) one half per int32Data entry
    if (raw) check(raw.length / 2);
    const bits = raw ? new Uint16Array(copyBytes(raw)) : Uint16Array.from(t.int32Data ?? []);
    if (!raw) check(bits.length);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(bits[i]);
    return { data: out, dims, int: false };
  }
  if (type === DOUBLE) {
    if (raw) { check(raw.length / 8); out.set(new Float64Array(copyBytes(raw))); } else { check(t.doubleData?.length ?? 0); out.set(t.doubleData!); }
    return { data: out, dims, int: false };
  }
  if (type === UINT8 || type === INT8) {
    // raw bytes, or (ONNX's packing) one value per int32Data entry
    const src = raw ? (type === INT8 ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : raw) : Int32Array.from(t.int32Data ?? []);
    check(src.length);
    out.set(src);
    return { data: out, dims, int: true };
  }
  if (type === INT64 || type === INT32) {
    const vals: number[] = [];
    if (raw) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const size = type === INT64 ? 8 : 4;
      check(raw.length / size);
      for (let i = 0; i < n; i++) vals.push(type === INT64 ? Number(dv.getBigInt64(i * 8, true)) : dv.getInt32(i * 4, true));
    } else {
      const src = type === INT64 ? (t.int64Data ?? []).map((v) => num(v)) : t.int32Data ?? [];
      check(src.length);
      vals.push(...src);
    }
    out.set(vals);
    return { data: out, dims, int: true };
  }
  return fail(`${where} has data type ${type}, which edgegrad does not read (float, float16, double, int8, uint8, int32, int64)`);
}

/** The bytes in a fresh, aligned buffer (a Node Buffer's slice() is a view into a shared pool). */
function copyBytes(b: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out.buffer;
}

/** OIHW (ONNX conv filters) -> HWIO (edgegrad's). */
function oihwToHwio(d: Float32Array, [O, I, H, W]: number[]): Tensor {
  const t = Tensor.empty([H, W, I, O]);
  const v = t.view();
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    v[((y * W + x) * I + i) * O + o] = d[((o * I + i) * H + y) * W + x];
  }
  return t;
}

/** A weight tensor of exactly this shape: fewer or more values than it needs are an error, never garbage. */
function tensorFrom(data: Float32Array, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) fail(`a weight has ${data.length} values where ${formatShape(shape)} needs ${n}`);
  const t = Tensor.empty(shape);
  t.view().set(data);
  return t;
}

/** Where external-data files are read from: the location string in the model, and the bytes it needs of it. */
export type ExternalReader = (location: string, maxBytes: number) => Promise<Uint8Array>;

const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2, 11: 8 };

/**
 * Fill rawData of initializers kept in external files (ONNX external data: location, offset, length,
 * relative to the model file). Each file is read once.
 */
async function loadExternal(inits: OnnxTensor[], read: ExternalReader | undefined): Promise<void> {
  const files = new Map<string, Promise<Uint8Array>>();
  const ext = inits.filter((t) => t.dataLocation === 1).map((t) => {
    const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    const loc = kv.location;
    if (!loc) fail(`initializer '${t.name}' is external but names no location`);
    if (!read) fail(`initializer '${t.name}' lives in the external file '${loc}': load the model from its path or URL so the file can be found beside it`);
    // the bytes its dims need, unless it says how many it takes
    const need = (t.dims ?? []).reduce((a: number, d) => a * num(d), 1) * (ELEMENT_BYTES[t.dataType ?? 0] ?? 4);
    // decimal digits only: '1e1', ' 4' or '0x10' are not byte counts, whatever Number() makes of them
    const count = (v: string | undefined, def: number) => (v === undefined ? def : /^\d{1,15}$/.test(v) ? Number(v) : NaN);
    const offset = count(kv.offset, 0), length = count(kv.length, need);
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length))) fail(`initializer '${t.name}': external offset ${JSON.stringify(kv.offset)} / length ${JSON.stringify(kv.length)} are not byte counts`);
    return { t, loc, offset, length };
  });
  // each file is read once, up to the last byte any initializer takes from it: never beyond what the model declares
  const ends = new Map<string, number>();
  for (const e of ext) ends.set(e.loc, Math.max(ends.get(e.loc) ?? 0, e.offset + e.length));
  for (const { t, loc, offset, length } of ext) {
    if (!files.has(loc)) files.set(loc, read!(loc, ends.get(loc)!).catch((e) => fail(`external data file '${loc}' for initializer '${t.name}': ${(e as Error).message.replace(/^edgegrad[.\w]*: /, '')}`)));
    const data = await files.get(loc)!;
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) fail(`initializer '${t.name}' wants bytes [${offset}, ${offset + length}) of '${loc}', which holds ${data.length}`);
    t.rawData = data.subarray(offset, offset + length);
  }
}

export async function importOnnx(bytes: Uint8Array, name = 'onnx-model', readExternal?: ExternalReader): Promise<GraphModel> {
  const root = await protoRoot();
  let m: OnnxModel;
  try {
    m = root.ModelProto.decode(bytes);
  } catch (e) {
    return fail(`not a valid ONNX file (${(e as Error).message})`);
  }
  const og = m.graph;
  if (!og || !og.node?.length) fail(`no graph in the file (${bytes.length} bytes): not an ONNX model`);
  const opsetEntry = m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = num(opsetEntry?.version);
  if (opset < 11 || opset > 21) fail(`ONNX opset ${opset} is not supported (opsets 11-21)`);

  await loadExternal(og.initializer, readExternal);
  const vals = new Map<string, Val>();
  for (const init of og.initializer) {
    const t = tensorData(init, `initializer '${init.name}'`);
    vals.set(init.name!, { shape: t.dims, konst: { data: t.data, int: t.int } });
  }
  const realInputs = og.input.filter((i) => !vals.has(i.name));
  if (realInputs.length !== 1) fail(`edgegrad imports models with one input; this one has ${realInputs.length} (${realInputs.map((i) => i.name).join(', ')})`);
  const inInfo = realInputs[0];
  const inDims = (inInfo.type?.tensorType?.shape?.dim ?? []).map((d, i) => (i === 0 ? -1 : num(d.dimValue, -1)));
  if (inDims.slice(1).some((d) => d < 1)) fail(`input '${inInfo.name}' has dynamic dimensions ${JSON.stringify(inDims)} beyond the batch`);
  // bounded before anything is planned: a declared [3, 224, 2^31] input would ask for terabytes at predict
  if (inDims.slice(1).reduce((a, b) => a * b, 1) > MAX_ELEMENTS) fail(`input '${inInfo.name}' declares ${JSON.stringify(inDims.slice(1))} per example, more than edgegrad accepts (${MAX_ELEMENTS} elements)`);
  const g = new Graph();
  // A rank-4 input is NCHW, unless its only use is a Transpose to NCHW: then it is NHWC (models exported
  // from NHWC frameworks, edgegrad's own included), and that Transpose costs nothing (see 'Transpose').
  const uses = og.node.filter((nd) => nd.input.includes(inInfo.name));
  const permOf = (nd: OnnxNode) => nd.attribute.find((a) => a.name === 'perm')?.ints?.map((v) => num(v)).join(',');
  const nhwcInput = inDims.length === 4 && uses.length === 1 && uses[0].opType === 'Transpose' && permOf(uses[0]) === '0,3,1,2';
  const inNchw = inDims.length === 4 && !nhwcInput;
  const xId = g.input(inInfo.name, inNchw ? [-1, inDims[2], inDims[3], inDims[1]] : inDims);
  vals.set(inInfo.name, { id: xId, nhwc: inNchw, shape: inDims });

  const get = (n: OnnxNode, k: number): Val => {
    const v = vals.get(n.input[k]);
    if (!v) fail(`node '${n.name}' (${n.opType}) reads '${n.input[k]}', which nothing produced`);
    if (v.quant && !READS_QUANTIZED.has(n.opType)) fail(`node '${n.name}' (${n.opType}) reads the quantized '${n.input[k]}': edgegrad reads quantized tensors in ${[...READS_QUANTIZED].join(', ')}`);
    if (v.integer && n.opType !== 'Cast') fail(`node '${n.name}' (${n.opType}) reads the int32 '${n.input[k]}': edgegrad reads integer results only through a Cast to float`);
    return v;
  };
  const konst = (n: OnnxNode, k: number): Float32Array => {
    const v = get(n, k);
    if (!v.konst) fail(`node '${n.name}' (${n.opType}): input ${k} ('${n.input[k]}') must be a constant (an initializer)`);
    return v.konst.data;
  };
  const attr = (n: OnnxNode, key: string) => n.attribute.find((a) => a.name === key);
  const ints = (n: OnnxNode, key: string, d: number[]): number[] => attr(n, key)?.ints?.map((v) => num(v)) ?? d;
  const int = (n: OnnxNode, key: string, d: number): number => { const a = attr(n, key); return a?.i !== undefined && a.i !== null ? num(a.i) : d; };
  const float = (n: OnnxNode, key: string, d: number): number => attr(n, key)?.f ?? d;
  const str = (n: OnnxNode, key: string, d: string): string => { const s = attr(n, key)?.s; return s?.length ? new TextDecoder().decode(s) : d; };
  const graphVal = (n: OnnxNode, k: number): Val => {
    const v = get(n, k);
    if (v.id === undefined) fail(`node '${n.name}' (${n.opType}): input ${k} ('${n.input[k]}') must be computed by the graph, not a constant`);
    return v;
  };
  const unsupported = (n: OnnxNode, why: string): never => fail(`ONNX op '${n.opType}' (node '${n.name}', opset ${opset}): ${why}`);
  const set = (n: OnnxNode, v: Val) => vals.set(n.output[0], v);
  const param = (nm: string, t: Tensor) => g.param(nm, t, true);
  /** padding of a conv / pool node as [[top, bottom], [left, right]], from pads or auto_pad */
  const padsOf = (n: OnnxNode, inH: number, inW: number, k: number[], s: number[], d: number[]): [[number, number], [number, number]] => {
    const auto = str(n, 'auto_pad', 'NOTSET');
    if (auto === 'VALID') return [[0, 0], [0, 0]];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const tot = [inH, inW].map((sz, i) => Math.max((Math.ceil(sz / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - sz, 0));
      const split = (t: number): [number, number] => (auto === 'SAME_UPPER' ? [Math.floor(t / 2), t - Math.floor(t / 2)] : [t - Math.floor(t / 2), Math.floor(t / 2)]);
      return [split(tot[0]), split(tot[1])];
    }
    const p = ints(n, 'pads', [0, 0, 0, 0]);
    return [[p[0], p[2]], [p[1], p[3]]];
  };
  /** a map (NHWC inside) as a plain value in ONNX's NCHW order, and back */
  const asPlain = (v: Val, nm: string): Val => (v.nhwc ? { id: g.node('nhwcToNchw', [v.id!], {}, `${nm}/nchw`)[0], shape: v.shape } : v);
  const asMap = (v: Val, nm: string): Val => (v.nhwc || v.shape.length !== 4 ? v : { id: g.node('nchwToNhwc', [v.id!], {}, `${nm}/nhwc`)[0], nhwc: true, shape: v.shape });
  const mapIn = (n: OnnxNode): Val => {
    const v = asMap(graphVal(n, 0), n.name ?? n.opType);
    if (!v.nhwc) unsupported(n, `needs a rank-4 NCHW input, got ${formatShape(v.shape)}`);
    return v;
  };
  const scalarParam = (nm: string, v: number) => g.param(nm, tensorFrom(Float32Array.of(v), [1]), false);
  const plainShape = (id: number): number[] => g.values[id].shape.slice();
  /** an ONNX axis of a value, as the axis of its storage (maps: NCHW axis -> NHWC) */
  const storageAxis = (v: Val, axis: number): number => (v.nhwc ? [0, 3, 1, 2][axis] : axis);
  const mapShape = (id: number): number[] => { const s = g.values[id].shape; return [s[0], s[3], s[1], s[2]]; };
  /** [N, C, H, W] map -> [N, C*H*W] in ONNX order */
  const flattenMap = (n: OnnxNode, v: Val): Val => {
    const [, C, H, W] = v.shape;
    const src = H * W === 1 ? v.id! : g.node('nhwcToNchw', [v.id!], {}, `${n.name}/nchw`)[0];
    const [id] = g.node('reshape', [src], { shape: [-1, C * H * W] }, n.name);
    return { id, shape: [-1, C * H * W] };
  };

  for (const n of og.node) {
    const op = n.opType;
    const nodeName = n.name || `${op}_${n.output[0]}`;
    n.name = nodeName;
    try {
    switch (op) {
      case 'Conv': {
        const x = mapIn(n);
        const wv = get(n, 1);
        if (!wv.konst || wv.shape.length !== 4) unsupported(n, 'the filter must be a rank-4 initializer');
        const [O, Ig, kh, kw] = wv.shape;
        const C = x.shape[1];
        const group = int(n, 'group', 1);
        if (Ig * group !== C) unsupported(n, `filter ${formatShape(wv.shape)} with group ${group} does not fit ${C} input channels`);
        const strides = ints(n, 'strides', [1, 1]), dil = ints(n, 'dilations', [1, 1]);
        const pad = padsOf(n, x.shape[2], x.shape[3], [kh, kw], strides, dil);
        const ins = [x.id!, param(`${nodeName}/W`, oihwToHwio(wv.konst!.data, wv.shape))];
        const i8 = wv.konst!.int8;
        if (i8 && i8.axis === 0 && i8.scale.length === O) {
          const hwio = oihwToHwio(Float32Array.from(i8.q), wv.shape);
          g.values[ins[1]].int8 = { w: Int8Array.from(hwio.dataSync()), scale: i8.scale };
          hwio.dispose();
        }
        if (n.input[2]) ins.push(param(`${nodeName}/B`, tensorFrom(konst(n, 2), [O])));
        const [id] = g.node('conv2d', ins, { strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, nodeName);
        set(n, { id, nhwc: true, shape: mapShape(id) });
        break;
      }
      case 'Relu': case 'Sigmoid': case 'Tanh': case 'LeakyRelu': case 'Elu': case 'Selu': case 'Softplus': case 'Softmax': case 'LogSoftmax': case 'Clip': {
        const x = graphVal(n, 0);
        let activation = ({ Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', LeakyRelu: 'leakyRelu', Elu: 'elu', Selu: 'selu', Softplus: 'softplus', Softmax: 'softmax', LogSoftmax: 'logSoftmax', Clip: '' } as Record<string, string>)[op];
        let alpha = op === 'LeakyRelu' ? float(n, 'alpha', 0.01) : op === 'Elu' ? float(n, 'alpha', 1) : 1;
        if (op === 'Selu' && (Math.abs(float(n, 'alpha', 1.67326) - 1.6732632) > 1e-4 || Math.abs(float(n, 'gamma', 1.0507) - 1.0507010) > 1e-4)) unsupported(n, 'only the standard SELU constants are supported');
        if (op === 'Softmax' || op === 'LogSoftmax') {
          const rank = x.shape.length;
          let axis = int(n, 'axis', opset >= 13 ? -1 : 1);
          if (axis < 0) axis += rank;
          const last = x.nhwc ? axis === 1 : axis === rank - 1;
          if (!last && !(opset < 13 && rank === 2 && axis === 1)) unsupported(n, `softmax over axis ${axis} of ${formatShape(x.shape)} (edgegrad takes it over the channels / last axis)`);
        }
        if (op === 'Clip') {
          const lo = n.input[1] ? konst(n, 1)[0] : -Infinity, hi = n.input[2] ? konst(n, 2)[0] : Infinity;
          if (lo === 0 && hi === 6) activation = 'relu6';
          else if (lo === 0 && hi === Infinity) activation = 'relu';
          else unsupported(n, `Clip to [${lo}, ${hi}] (edgegrad maps [0, 6] and [0, inf))`);
          alpha = 1;
        }
        const [id] = g.node('activation', [x.id!], { activation, alpha }, nodeName);
        set(n, { ...x, id });
        break;
      }
      case 'MaxPool': case 'AveragePool': {
        const x = mapIn(n);
        const k = ints(n, 'kernel_shape', []), s = ints(n, 'strides', [1, 1]);
        if (ints(n, 'dilations', [1, 1]).some((d) => d !== 1)) unsupported(n, 'dilated pooling');
        const pad = padsOf(n, x.shape[2], x.shape[3], k, s, [1, 1]);
        if (int(n, 'ceil_mode', 0)) {
          // ceil mode = more bottom/right padding: windows are clipped to the input, so max pooling never
          // sees it; the last window must start inside the input or the left padding (PyTorch's rule)
          if (op !== 'MaxPool') unsupported(n, 'ceil_mode 1 for average pooling');
          [0, 1].forEach((a) => {
            const size = x.shape[2 + a], [b0, b1] = pad[a];
            let out = Math.ceil((size + b0 + b1 - k[a]) / s[a]) + 1;
            if ((out - 1) * s[a] >= size + b0) out--;
            pad[a][1] = Math.max(b1, (out - 1) * s[a] + k[a] - size - b0);
          });
        }
        if (op === 'AveragePool' && int(n, 'count_include_pad', 0) && pad.flat().some((p) => p > 0)) unsupported(n, 'count_include_pad 1 with padding');
        const [id] = g.node('pool', [x.id!], { kind: op === 'MaxPool' ? 'max' : 'avg', filterSize: k, strides: s, pad }, nodeName);
        set(n, { id, nhwc: true, shape: mapShape(id) });
        break;
      }
      case 'GlobalAveragePool': {
        const x = mapIn(n);
        const [gid] = g.node('globalAvgPool', [x.id!], {}, nodeName);
        const C = x.shape[1];
        // [N, C] as ONNX's [N, C, 1, 1] (plain; the same bytes as an NHWC [N, 1, 1, C] map)
        const [id] = g.node('reshape', [gid], { shape: [-1, C, 1, 1] }, `${nodeName}/nc11`);
        set(n, { id, shape: [-1, C, 1, 1] });
        break;
      }
      case 'Flatten': {
        const x = graphVal(n, 0);
        if (int(n, 'axis', 1) !== 1) unsupported(n, 'axis other than 1');
        const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
        set(n, x.nhwc ? flattenMap(n, x) : x.shape.length === 2 ? x : { id: g.node('reshape', [x.id!], { shape: [-1, per] }, nodeName)[0], shape: [-1, per] });
        break;
      }
      case 'Reshape': {
        const x = asPlain(graphVal(n, 0), nodeName);
        const target = Array.from(konst(n, 1));
        const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
        const rest = target.slice(1).map((d, i) => (d === 0 ? x.shape[i + 1] : d));
        const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        const resolved = rest.map((d) => (d === -1 ? per / known : d));
        if ((target[0] !== -1 && target[0] !== 0 && x.shape[0] !== -1) || resolved.reduce((a, b) => a * b, 1) !== per) {
          unsupported(n, `reshape of ${formatShape(x.shape)} to ${JSON.stringify(target)} (the batch dimension must stay first)`);
        }
        const [id] = g.node('reshape', [x.id!], { shape: [-1, ...resolved] }, nodeName);
        set(n, { id, shape: [-1, ...resolved] });
        break;
      }
      case 'Transpose': {
        const x0 = graphVal(n, 0);
        const p0 = ints(n, 'perm', x0.shape.map((_, i) => x0.shape.length - 1 - i)).join(',');
        // layout identities, free: a map (NHWC bytes) transposed to NHWC is those bytes as a plain tensor,
        // and a plain NHWC tensor transposed to NCHW is a map with the same bytes
        if (x0.nhwc && p0 === '0,2,3,1') { set(n, { id: x0.id, shape: [x0.shape[0], x0.shape[2], x0.shape[3], x0.shape[1]] }); break; }
        if (!x0.nhwc && x0.shape.length === 4 && p0 === '0,3,1,2') { set(n, { id: x0.id, nhwc: true, shape: [x0.shape[0], x0.shape[3], x0.shape[1], x0.shape[2]] }); break; }
        const x = asPlain(x0, nodeName);
        const perm = ints(n, 'perm', x.shape.map((_, i) => x.shape.length - 1 - i));
        if (perm[0] !== 0) unsupported(n, `perm ${JSON.stringify(perm)} moves the batch dimension`);
        const [id] = g.node('transpose', [x.id!], { perm }, nodeName);
        set(n, { id, shape: plainShape(id) });
        break;
      }
      case 'Squeeze': case 'Unsqueeze': {
        const v0 = get(n, 0);
        if (v0.konst) { set(n, { shape: [v0.konst.data.length], konst: v0.konst }); break; }
        const x = asPlain(v0, nodeName);
        const axes = (n.input[1] ? Array.from(konst(n, 1)) : ints(n, 'axes', [])).map((a) => (a < 0 ? a + x.shape.length + (op === 'Unsqueeze' ? 1 : 0) : a));
        let shape = x.shape.slice();
        if (op === 'Squeeze') shape = shape.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1));
        else for (const a of [...axes].sort((p, q) => p - q)) shape.splice(a, 0, 1);
        if (shape[0] !== -1 || axes.includes(0)) unsupported(n, `${op.toLowerCase()} of the batch dimension`);
        const [id] = g.node('reshape', [x.id!], { shape }, nodeName);
        set(n, { id, shape });
        break;
      }
      case 'Split': {
        const x = graphVal(n, 0);
        let axis = int(n, 'axis', 0);
        if (axis < 0) axis += x.shape.length;
        if (axis === 0) unsupported(n, 'splitting the batch dimension');
        const size = x.shape[axis];
        const sizes = n.input[1] ? Array.from(konst(n, 1)) : ints(n, 'split', []);
        const parts = sizes.length ? sizes : new Array(n.output.length).fill(size / n.output.length);
        if (parts.reduce((a, b) => a + b, 0) !== size || parts.some((p) => !Number.isInteger(p))) unsupported(n, `split ${JSON.stringify(parts)} of axis ${axis} (${size})`);
        let start = 0;
        parts.forEach((len, k) => {
          const [id] = g.node('slice', [x.id!], { axis: storageAxis(x, axis), start, end: start + len }, `${nodeName}:${k}`);
          vals.set(n.output[k], { id, nhwc: x.nhwc, shape: x.shape.map((d, i) => (i === axis ? len : d)) });
          start += len;
        });
        break;
      }
      case 'Slice': {
        let x = graphVal(n, 0);
        const starts = Array.from(konst(n, 1)), ends = Array.from(konst(n, 2));
        const axes = n.input[3] ? Array.from(konst(n, 3)) : starts.map((_, i) => i);
        const steps = n.input[4] ? Array.from(konst(n, 4)) : starts.map(() => 1);
        axes.forEach((a0, k) => {
          const axis = a0 < 0 ? a0 + x.shape.length : a0;
          if (steps[k] !== 1) unsupported(n, `step ${steps[k]} (unit steps only)`);
          if (axis === 0) unsupported(n, 'slicing the batch dimension');
          const size = x.shape[axis];
          const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
          const st = clampIdx(starts[k]), en = Math.max(st, clampIdx(ends[k]));
          const [id] = g.node('slice', [x.id!], { axis: storageAxis(x, axis), start: st, end: en }, k === axes.length - 1 ? nodeName : `${nodeName}/${k}`);
          x = { id, nhwc: x.nhwc, shape: x.shape.map((d, i) => (i === axis ? en - st : d)) };
        });
        set(n, x);
        break;
      }
      case 'Pad': {
        const x = mapIn(n);
        if (str(n, 'mode', 'constant') !== 'constant') unsupported(n, `mode '${str(n, 'mode', 'constant')}' (constant only)`);
        if (n.input[2] && konst(n, 2)[0] !== 0) unsupported(n, 'a non-zero pad value');
        const pads = n.input[1] ? Array.from(konst(n, 1)) : ints(n, 'pads', []);
        if (pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) unsupported(n, `pads ${JSON.stringify(pads)} (height and width only, non-negative)`);
        const [id] = g.node('zeroPad2d', [x.id!], { padding: [[pads[2], pads[6]], [pads[3], pads[7]]] }, nodeName);
        set(n, { id, nhwc: true, shape: mapShape(id) });
        break;
      }
      case 'Resize': {
        const x = mapIn(n);
        const [, C, H, W] = x.shape;
        const mode = str(n, 'mode', 'nearest'), ctm = str(n, 'coordinate_transformation_mode', 'half_pixel'), nm = str(n, 'nearest_mode', 'round_prefer_floor');
        // inputs: X, roi, scales, sizes (opset 11+; the sizes, when given, win)
        const sizes = n.input[3] ? konst(n, 3) : undefined, scales = n.input[2] ? konst(n, 2) : undefined;
        if ((sizes && sizes.length !== 4) || (!sizes && scales?.length !== 4)) unsupported(n, 'needs 4 scales or 4 sizes');
        if (sizes ? sizes[1] !== C : scales![0] !== 1 || scales![1] !== 1) unsupported(n, 'resizing the batch or channel dimension');
        const OH = sizes ? sizes[2] : Math.floor(H * scales![2]), OW = sizes ? sizes[3] : Math.floor(W * scales![3]);
        if (!(OH > 0 && OW > 0)) unsupported(n, `an output size of ${OH}x${OW}`);
        if (mode !== 'linear' && mode !== 'nearest') unsupported(n, `mode '${mode}' (linear and nearest)`);
        // the coordinate rules edgegrad's resize shares with TF: asymmetric, align_corners, half_pixel (linear),
        // tf_half_pixel_for_nn (nearest)
        const rule = mode === 'linear'
          ? ({ asymmetric: 'plain', align_corners: 'align', half_pixel: 'half', pytorch_half_pixel: OH > 1 && OW > 1 ? 'half' : undefined } as Record<string, string | undefined>)[ctm]
          : ({ asymmetric: nm === 'floor' ? 'plain' : undefined, align_corners: nm === 'round_prefer_ceil' ? 'align' : undefined, tf_half_pixel_for_nn: nm === 'floor' ? 'half' : undefined } as Record<string, string | undefined>)[ctm];
        if (!rule) unsupported(n, `mode '${mode}' with coordinate_transformation_mode '${ctm}'${mode === 'nearest' ? ` and nearest_mode '${nm}'` : ''}`);
        const [id] = g.node('resize2d', [x.id!], { size: [OH, OW], method: mode === 'linear' ? 'bilinear' : 'nearest', alignCorners: rule === 'align', halfPixelCenters: rule === 'half' }, nodeName);
        set(n, { id, nhwc: true, shape: mapShape(id) });
        break;
      }
      case 'QuantizeLinear': case 'DequantizeLinear': {
        // QDQ models: int8 weights are dequantized once at load; Q -> DQ on an activation becomes one
        // fake-quantize node (round half to even, saturate), the arithmetic ONNX Runtime runs
        const v = get(n, 0);
        const scale = konst(n, 1), zp = n.input[2] ? konst(n, 2) : new Float32Array(scale.length);
        for (const sc of scale) if (!(sc > 0 && Number.isFinite(sc))) unsupported(n, `scale ${sc}: scales must be positive and finite`);
        // the zero point's type is the quantized type (uint8 when absent)
        const signed = !!n.input[2] && og.initializer.find((t) => t.name === n.input[2])?.dataType === INT8;
        const [qmin, qmax] = signed ? [-128, 127] : [0, 255];
        if (v.konst) {
          const axis = int(n, 'axis', 1), d = v.shape;
          const ax = axis < 0 ? axis + d.length : axis;
          const inner = d.slice(ax + 1).reduce((a, b) => a * b, 1), C = scale.length;
          if (C > 1 && d[ax] !== C) unsupported(n, `${C} scales for axis ${axis} of ${formatShape(d)}`);
          const out = new Float32Array(v.konst.data.length);
          for (let i = 0; i < out.length; i++) {
            const c = C === 1 ? 0 : Math.floor(i / inner) % C;
            const x = v.konst.data[i];
            out[i] = n.opType === 'DequantizeLinear' ? Math.fround((x - zp[c]) * scale[c]) : quantizeValue(x, scale[c], zp[c], qmin, qmax);
          }
          // int8 weights dequantized per channel (zero points 0): remembered, so the layer can run int8
          const int8 = n.opType === 'DequantizeLinear' && signed && zp.every((z) => z === 0) && ax >= 0
            ? { q: Int8Array.from(v.konst.data), scale: Float32Array.from(scale), axis: ax } : undefined;
          set(n, { shape: d, konst: { data: out, int: n.opType === 'QuantizeLinear', int8 } });
          break;
        }
        if (scale.length !== 1) unsupported(n, 'per-axis quantization of a computed value (per-tensor only)');
        if (n.opType === 'QuantizeLinear') {
          if (v.id === undefined) unsupported(n, 'its input is neither a constant nor computed');
          set(n, { ...v, quant: { scale: scale[0], zeroPoint: zp[0], qmin, qmax } });
          break;
        }
        const q = v.quant;
        if (!q) unsupported(n, 'dequantizing a computed value that no QuantizeLinear produced');
        if (q!.exact) {
          // a QOperator result is held dequantized already
          if (q!.scale !== scale[0] || q!.zeroPoint !== zp[0]) unsupported(n, `dequantizes with scale ${scale[0]}, zero point ${zp[0]} a tensor quantized with ${q!.scale}, ${q!.zeroPoint}`);
          set(n, { id: v.id, nhwc: v.nhwc, shape: v.shape });
          break;
        }
        if (q!.scale !== scale[0] || q!.zeroPoint !== zp[0]) unsupported(n, `QuantizeLinear (scale ${q!.scale}, zero point ${q!.zeroPoint}) and DequantizeLinear (scale ${scale[0]}, zero point ${zp[0]}) disagree`);
        const [id] = g.node('fakeQuant', [v.id!], { scale: q!.scale, zeroPoint: q!.zeroPoint, qmin: q!.qmin, qmax: q!.qmax }, nodeName);
        set(n, { id, nhwc: v.nhwc, shape: v.shape });
        break;
      }
      case 'QLinearConv': case 'ConvInteger': case 'QLinearMatMul': case 'MatMulInteger': {
        // inputs: QLinear*: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, B]; *Integer: x, w[, x_zp, w_zp]
        const linear = op.startsWith('QLinear'), conv = op.includes('Conv');
        const xv = get(n, 0);
        if (!xv.quant || xv.id === undefined) unsupported(n, 'its input must be a quantized tensor (QuantizeLinear or a QLinear op)');
        const xq = xv.quant!;
        if (xq.qmin !== 0) unsupported(n, 'int8 (signed) activations: edgegrad runs u8 activations');
        const xs = linear ? konst(n, 1)[0] : xq.scale, xz = linear ? konst(n, 2)[0] : (n.input[2] ? konst(n, 2)[0] : 0);
        if (xs !== xq.scale || xz !== xq.zeroPoint) unsupported(n, `reads a tensor quantized with scale ${xq.scale}, zero point ${xq.zeroPoint} as scale ${xs}, zero point ${xz}`);
        const wk = linear ? 3 : 1;
        const wv = get(n, wk);
        if (!wv.konst) unsupported(n, 'the weights must be an initializer');
        const wScale = linear ? konst(n, 4) : new Float32Array([1]);
        const wZero = linear ? (n.input[5] ? konst(n, 5) : new Float32Array(1)) : (n.input[3] ? konst(n, 3) : new Float32Array(1));
        for (const sc of [xs, ...wScale, ...(linear ? [konst(n, 6)[0]] : [])]) if (!(sc > 0 && Number.isFinite(sc))) unsupported(n, `scale ${sc}: scales must be positive and finite`);
        // weights as integers w - zero point, per output channel (conv: axis 0 of OIHW; matmul: columns)
        const ws = wv.shape, O = conv ? ws[0] : ws[1];
        const per = (a: Float32Array, c: number) => (a.length === 1 ? a[0] : a[c]);
        const wInt = new Float32Array(wv.konst!.data.length);
        const inner = conv ? ws[1] * ws[2] * ws[3] : 1;
        for (let i = 0; i < wInt.length; i++) {
          const c = conv ? Math.floor(i / inner) : i % O;
          wInt[i] = wv.konst!.data[i] - per(wZero, c);
          if (wInt[i] < -128 || wInt[i] > 127) unsupported(n, `weight ${wv.konst!.data[i]} minus zero point ${per(wZero, c)} is outside int8`);
        }
        const scales = Float32Array.from({ length: O }, (_, c) => (linear ? per(wScale, c) : 1));
        // ConvInteger / MatMulInteger give the exact int32 sums: a multiplier of 1
        const input = { scale: xs, zeroPoint: xz };
        let bias: Float32Array | undefined;
        if (linear && conv && n.input[8]) bias = Float32Array.from(konst(n, 8), (b, c) => b * Math.fround(xs * scales[c]));
        let id: number;
        if (conv) {
          const x = xv.nhwc || xv.shape.length !== 4 ? xv : asMap(xv, nodeName);
          const group = int(n, 'group', 1);
          const [, Ig, kh, kw] = ws;
          const strides = ints(n, 'strides', [1, 1]), dil = ints(n, 'dilations', [1, 1]);
          const pad = padsOf(n, x.shape[2], x.shape[3], [kh, kw], strides, dil);
          const hwio = oihwToHwio(wInt, ws);
          const filter = hwio.dataSync();
          if (group === 1) {
            const q: QWeights = { w: Int8Array.from(filter), K: kh * kw * Ig, N: O, scale: scales, bias, input, filterShape: [kh, kw, Ig, O], raw: !linear };
            hwio.dispose();
            [id] = g.node('qconv2d', [x.id!], { q, strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, nodeName);
          } else {
            // grouped / depthwise: float convolution of the dequantized values (no int8 kernel for groups)
            const wf = Tensor.empty([kh, kw, Ig, O]);
            const wd = wf.view();
            for (let i = 0; i < wd.length; i++) wd[i] = filter[i] * (linear ? scales[i % O] : 1);
            hwio.dispose();
            const ins = [x.id!, param(`${nodeName}/W`, wf)];
            if (bias) ins.push(param(`${nodeName}/B`, tensorFrom(bias, [O])));
            if (!linear) unsupported(n, `ConvInteger with ${group} groups (only groups 1)`);
            [id] = g.node('conv2d', ins, { strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, nodeName);
          }
        } else {
          if (xv.shape.length !== 2) unsupported(n, `input ${formatShape(xv.shape)} must be rank 2`);
          const [K, N] = ws;
          const q: QWeights = { w: Int8Array.from(wInt), K, N, scale: scales, input, raw: !linear };
          [id] = g.node('qdense', [xv.id!], { q, activation: 'linear', alpha: 0 }, nodeName);
        }
        const shape = conv ? mapShape(id) : [-1, O];
        if (linear) {
          const ys = konst(n, 6)[0], yz = n.input[7] ? konst(n, 7)[0] : 0;
          const signed = !!n.input[7] && og.initializer.find((t) => t.name === n.input[7])?.dataType === INT8;
          const [yid] = g.node('fakeQuant', [id], { scale: ys, zeroPoint: yz, qmin: signed ? -128 : 0, qmax: signed ? 127 : 255 }, `${nodeName}/output`);
          set(n, { id: yid, nhwc: conv, shape, quant: { scale: ys, zeroPoint: yz, qmin: signed ? -128 : 0, qmax: signed ? 127 : 255, exact: true } });
        } else {
          set(n, { id, nhwc: conv, shape, integer: true });
        }
        break;
      }
      case 'PRelu': {
        const x = graphVal(n, 0);
        const slope = konst(n, 1);
        const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
        if (slope.length !== C && slope.length !== 1) unsupported(n, `slope of ${slope.length} values for ${C} channels`);
        const alpha = slope.length === C ? slope : new Float32Array(C).fill(slope[0]);
        const [id] = g.node('prelu', [x.id!, param(`${nodeName}/slope`, tensorFrom(alpha, [C]))], {}, nodeName);
        set(n, { ...x, id });
        break;
      }
      case 'HardSigmoid': case 'HardSwish': {
        // clamp(alpha x + beta, 0, 1) = relu6(6 alpha x + 6 beta) / 6; HardSwish = x * HardSigmoid(x) (1/6, 1/2)
        const x = graphVal(n, 0);
        const alpha = op === 'HardSigmoid' ? float(n, 'alpha', 0.2) : 1 / 6, beta = op === 'HardSigmoid' ? float(n, 'beta', 0.5) : 0.5;
        const z = g.node('mul', [x.id!, scalarParam(`${nodeName}/scale`, 6 * alpha)], {}, `${nodeName}/scale`)[0];
        const zb = g.node('add', [z, scalarParam(`${nodeName}/shift`, 6 * beta)], {}, `${nodeName}/shift`)[0];
        const r = g.node('activation', [zb], { activation: 'relu6', alpha: 1 }, `${nodeName}/clamp`)[0];
        let id = g.node('mul', [r, scalarParam(`${nodeName}/sixth`, 1 / 6)], {}, op === 'HardSigmoid' ? nodeName : `${nodeName}/hsig`)[0];
        if (op === 'HardSwish') id = g.node('mul', [x.id!, id], {}, nodeName)[0];
        set(n, { ...x, id });
        break;
      }
      case 'Gemm': case 'MatMul': {
        const a = graphVal(n, 0);
        if (a.shape.length !== 2) unsupported(n, `input ${formatShape(a.shape)} must be rank 2`);
        if (op === 'Gemm' && int(n, 'transA', 0)) unsupported(n, 'transA 1');
        const bv = get(n, 1);
        if (!bv.konst || bv.shape.length !== 2) unsupported(n, 'B must be a rank-2 initializer');
        const transB = op === 'Gemm' && int(n, 'transB', 0) === 1;
        const [K, N] = transB ? [bv.shape[1], bv.shape[0]] : bv.shape;
        if (K !== a.shape[1]) unsupported(n, `A ${formatShape(a.shape)} does not match B ${formatShape(bv.shape)}${transB ? ' (transposed)' : ''}`);
        const alpha = op === 'Gemm' ? float(n, 'alpha', 1) : 1, beta = op === 'Gemm' ? float(n, 'beta', 1) : 1;
        const w = Tensor.empty([K, N]);
        const wv = w.view(), bd = bv.konst!.data;
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wv[k * N + j] = alpha * (transB ? bd[j * K + k] : bd[k * N + j]);
        const ins = [a.id!, param(`${nodeName}/W`, w)];
        const i8 = bv.konst!.int8;
        if (i8 && alpha === 1 && i8.scale.length === N && i8.axis === (transB ? 0 : 1)) {
          const q = new Int8Array(K * N);
          for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) q[k * N + j] = transB ? i8.q[j * K + k] : i8.q[k * N + j];
          g.values[ins[1]].int8 = { w: q, scale: i8.scale };
        }
        if (op === 'Gemm' && n.input[2]) {
          const c = get(n, 2);
          if (!c.konst || c.konst.data.length !== N) unsupported(n, `bias C ${formatShape(c.shape)} must be an initializer of ${N} values`);
          ins.push(param(`${nodeName}/B`, tensorFrom(c.konst!.data.map((v) => v * beta), [N])));
        }
        const [id] = g.node('dense', ins, { activation: 'linear', alpha: 0 }, nodeName);
        set(n, { id, shape: [-1, N] });
        break;
      }
      case 'Add': case 'Mul': case 'Sub': case 'Div': {
        let [p, q] = [get(n, 0), get(n, 1)];
        // two computed operands in different layouts meet as maps
        if (p.id !== undefined && q.id !== undefined && p.nhwc !== q.nhwc) { p = asMap(p, `${nodeName}/a`); q = asMap(q, `${nodeName}/b`); }
        const toGraph = (v: Val, other: Val, k: number): number => {
          if (v.id !== undefined) return v.id;
          // a constant operand: an NCHW [1, C, 1, 1] / [C, 1, 1] one becomes NHWC [1, 1, 1, C]
          let shape = v.shape;
          if (other.nhwc) {
            const s = v.shape.length === 3 ? [1, ...v.shape] : v.shape;
            if (s.length === 4 && s[2] === 1 && s[3] === 1) shape = [s[0], 1, 1, s[1]];
            else if (v.konst!.data.length !== 1) unsupported(n, `constant ${formatShape(v.shape)} broadcast against a feature map`);
          }
          return g.param(`${nodeName}/${k}`, tensorFrom(v.konst!.data, shape), true);
        };
        if (p.konst && q.konst) unsupported(n, 'two constant operands');
        const [id] = g.node(op.toLowerCase(), [toGraph(p, q, 0), toGraph(q, p, 1)], {}, nodeName);
        const main = p.id !== undefined ? p : q;
        set(n, { id, nhwc: main.nhwc, shape: main.nhwc ? mapShape(id) : g.values[id].shape });
        break;
      }
      case 'Concat': {
        if (n.input.every((_, k) => get(n, k).konst)) {
          // shape arithmetic: join constant vectors
          const parts = n.input.map((_, k) => Array.from(get(n, k).konst!.data));
          set(n, { shape: [parts.flat().length], konst: { data: Float32Array.from(parts.flat()), int: true } });
          break;
        }
        let xs = n.input.map((_, k) => graphVal(n, k));
        const rank = xs[0].shape.length;
        let axis = int(n, 'axis', 1);
        if (axis < 0) axis += rank;
        if (rank === 4 && axis === 1) xs = xs.map((v, k) => asMap(v, `${nodeName}/${k}`));
        else xs = xs.map((v, k) => asPlain(v, `${nodeName}/${k}`));
        if (!(xs[0].nhwc ? axis === 1 : axis === rank - 1)) unsupported(n, `concatenation over axis ${axis} of ${formatShape(xs[0].shape)} (edgegrad joins channels / the last axis)`);
        const [id] = g.node('concat', xs.map((v) => v.id!), {}, nodeName);
        set(n, { id, nhwc: xs[0].nhwc, shape: xs[0].nhwc ? mapShape(id) : g.values[id].shape });
        break;
      }
      case 'BatchNormalization': {
        const x = asMap(graphVal(n, 0), nodeName);
        const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
        const t = (k: number) => tensorFrom(konst(n, k), [C]);
        const [id] = g.node('batchNorm', [x.id!, param(`${nodeName}/scale`, t(1)), param(`${nodeName}/B`, t(2)), g.state(`${nodeName}/mean`, t(3)), g.state(`${nodeName}/var`, t(4))],
          // ONNX's momentum is Keras's: running = running * momentum + batch * (1 - momentum)
          { epsilon: float(n, 'epsilon', 1e-5), momentum: float(n, 'momentum', 0.9) }, nodeName);
        set(n, { ...x, id });
        break;
      }
      case 'Dropout': case 'Identity':
        set(n, get(n, 0));
        break;
      case 'Constant': {
        const t = attr(n, 'value')?.t;
        if (!t) unsupported(n, 'only tensor constants (the value attribute)');
        const d = tensorData(t!, `constant '${nodeName}'`);
        set(n, { shape: d.dims, konst: { data: d.data, int: d.int } });
        break;
      }
      case 'Shape': {
        const v = get(n, 0);
        set(n, { shape: [v.shape.length], konst: { data: Float32Array.from(v.shape), int: true } });
        break;
      }
      case 'Gather': {
        const data = get(n, 0), idx = konst(n, 1);
        if (!data.konst || data.shape.length !== 1) unsupported(n, 'only gathering from a constant vector (shape arithmetic)');
        const len = data.shape[0];
        const bad = Array.from(idx).find((i) => !(Number.isInteger(i) && i >= -len && i < len));
        if (bad !== undefined) fail(`node '${nodeName}' (Gather): index ${bad} is outside [${-len}, ${len})`);
        const out = Array.from(idx, (i) => data.konst!.data[i < 0 ? i + len : i]);
        set(n, { shape: get(n, 1).shape, konst: { data: Float32Array.from(out), int: data.konst!.int } });
        break;
      }
      case 'Cast': {
        // constants only: shape arithmetic, and float16-stored weights cast to float
        const v = get(n, 0);
        const to = int(n, 'to', FLOAT);
        if (v.id !== undefined && v.integer && to === FLOAT) { set(n, { id: v.id, nhwc: v.nhwc, shape: v.shape }); break; }
        if (!v.konst) unsupported(n, 'only on constants (shape arithmetic, float16-stored weights) and on MatMulInteger / ConvInteger results to float');
        // integer types: UINT8..INT64 (2-7), BOOL (9), UINT32/UINT64 (12, 13)
        const toInt = (to >= 2 && to <= 7) || to === 9 || to === 12 || to === 13;
        const data = toInt ? Float32Array.from(v.konst!.data, Math.trunc) : v.konst!.data;
        set(n, { shape: v.shape, konst: { data, int: toInt } });
        break;
      }
      case 'Unsqueeze': case 'Squeeze': {
        const v = get(n, 0);
        if (!v.konst) unsupported(n, 'only on constants (shape arithmetic)');
        set(n, { shape: [v.konst!.data.length], konst: v.konst });
        break;
      }
      default:
        unsupported(n, 'not supported');
    }
    } catch (e) {
      // a malformed field that the checks above missed still says where it was
      const msg = (e as Error).message ?? String(e);
      if (/^edgegrad/.test(msg)) throw e;
      fail(`node '${nodeName}' (${op}): malformed (${(e as Error).name}: ${msg})`);
    }
    // a quantized tensor stays quantized through ops that only move its values (max pooling included)
    const q0 = n.input[0] ? vals.get(n.input[0])?.quant : undefined;
    if (q0 && MOVES_VALUES.has(op)) { const o = vals.get(n.output[0]); if (o && o.id !== undefined) o.quant = q0; }
  }
  const outName = og.output[0]?.name;
  const out = outName ? vals.get(outName) : undefined;
  if (!out || out.id === undefined) fail(`the model output '${outName}' is not computed by the graph`);
  g.outputs = [out.id!];
  const report = int8FromQdq(g);
  fuseActivations(g);
  const model = new GraphModel(g, og.name || name, inDims.slice(1), inNchw, !!out.nhwc, { format: 'ONNX', opset, producer: m.producerName ?? '' });
  if (report) model.quantization = report;
  // a file that stores its weights as float16 saves that way again
  if (og.initializer.some((t) => t.dataType === FLOAT16)) model.storage = 'float16';
  return model;
}

/**
 * QDQ -> int8 kernels: a conv2d (groups 1) or dense whose input is a u8 fake-quantize and whose weights
 * came from int8 DequantizeLinear (per output channel, zero points 0) runs as qconv2d / qdense on the
 * quantized input. Returns the report of what runs int8 and what stays float, or undefined for a float model.
 */
function int8FromQdq(g: Graph): QuantizationReport | undefined {
  const producer = new Map<number, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const nodes: QuantizationReport['nodes'] = [];
  let any = false;
  g.nodes.forEach((n, i) => {
    if (n.op === 'fakeQuant') any = true;
    if (n.op === 'qconv2d' || n.op === 'qdense') { any = true; nodes.push({ name: n.name, op: n.op === 'qconv2d' ? 'conv2d' : 'dense', as: 'int8', input: (n.attrs.q as QWeights).input }); return; }
    if (n.op !== 'conv2d' && n.op !== 'dense') return;
    const w = g.values[n.inputs[1]], fq = producer.get(n.inputs[0]);
    if (w.int8) any = true;
    const why = !w.int8 ? 'float weights' : fq?.op !== 'fakeQuant' || fq.attrs.qmin !== 0 || fq.attrs.qmax !== 255 ? 'its input is not u8-quantized'
      : n.op === 'conv2d' && g.values[n.inputs[0]].shape[3] !== w.shape[2] ? 'grouped / depthwise convolution: no int8 kernel' : undefined;
    if (why) { nodes.push({ name: n.name, op: n.op, as: 'float32', reason: why }); return; }
    const K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
    const input = { scale: fq!.attrs.scale as number, zeroPoint: fq!.attrs.zeroPoint as number };
    const bias = n.inputs[2] !== undefined ? g.values[n.inputs[2]].tensor!.dataSync() as Float32Array : undefined;
    const q: QWeights = { w: w.int8!.w, K, N, scale: w.int8!.scale, bias, input, filterShape: n.op === 'conv2d' ? w.shape.slice() : undefined };
    g.nodes[i] = { ...n, op: n.op === 'conv2d' ? 'qconv2d' : 'qdense', inputs: [fq!.inputs[0]], attrs: { ...n.attrs, q } };
    nodes.push({ name: n.name, op: n.op, as: 'int8', input });
  });
  if (!any) return undefined;
  // fake-quantize nodes that only fed int8 nodes are dead now
  const used = new Set(g.nodes.flatMap((n) => n.inputs).concat(g.outputs));
  for (let i = g.nodes.length - 1; i >= 0; i--) if (g.nodes[i].op === 'fakeQuant' && !used.has(g.nodes[i].outputs[0])) g.nodes.splice(i, 1);
  g.nodes.forEach((nd, k) => { nd.id = k; });
  return { weights: 'int8', activations: nodes.some((x) => x.as === 'int8') ? 'int8' : 'float32', nodes };
}
