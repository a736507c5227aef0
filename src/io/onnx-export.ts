// ONNX export: the inference graph of a model -> ModelProto (opset 17), runnable by ONNX Runtime, with
// layer and node names preserved. Feature maps are NHWC in edgegrad's IR and NCHW in ONNX: filters are
// written OIHW, a map's flatten (NHWC order in a model built here) becomes Transpose + Reshape, and the
// model keeps the layout of its own boundary (NHWC for models built here, NCHW for imported ones).
import type { Graph, Node } from '../graph/ir.js';
import { convGeometry, type Padding } from '../ops/conv.js';
import { poolGeometry } from '../ops/pool.js';
import { toHalfBits } from './half.js';
import { roundHalfEven, type QWeights } from '../ops/quant.js';

const OPSET = 17;
const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, FLOAT16 = 10;

interface Proto {
  ModelProto: { create(o: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } };
}

async function protoRoot(): Promise<Proto> {
  const m = (await import('onnx-proto')) as unknown as { onnx?: unknown; default?: { onnx?: unknown } };
  return (m.onnx ?? m.default?.onnx) as Proto;
}

export interface ExportSource {
  graph: Graph;
  name: string;
  /** whether the model's image input/output are NCHW at its boundary (imported) or NHWC (built here) */
  nchwBoundary: boolean;
  /** weight storage: float32 (default) or float16 (half the size; each weight is cast to float in the graph) */
  weights?: 'float32' | 'float16';
}

function fail(msg: string): never {
  throw new Error(`edgegrad.toOnnx: ${msg}`);
}

export async function exportOnnx(src: ExportSource): Promise<Uint8Array> {
  const { graph: g, name, nchwBoundary } = src;
  const nodes: unknown[] = [];
  const inits: unknown[] = [];
  const used = new Set<string>();
  const unique = (base: string) => { let n = base, i = 1; while (used.has(n)) n = `${base}_${i++}`; used.add(n); return n; };
  const onnxName = new Map<number, string>();
  /** values that are feature maps: NHWC in the IR, NCHW in the ONNX graph */
  const isMap = new Set<number>();
  const shapeOf = (id: number) => g.values[id].shape;
  const half = src.weights === 'float16';
  if (src.weights !== undefined && src.weights !== 'float32' && !half) fail(`weights must be 'float32' or 'float16', got '${String(src.weights)}'`);
  /** a float32 initializer, always (quantization scales must stay float32) */
  const floatInitRaw = (nm: string, dims: number[], data: ArrayLike<number>) => {
    const n = unique(nm);
    inits.push({ name: n, dims, dataType: FLOAT, rawData: new Uint8Array(Float32Array.from(data).buffer) });
    return n;
  };
  /** a weight initializer: float16 storage plus a Cast when asked for and every value fits the half range */
  const floatInit = (nm: string, dims: number[], data: ArrayLike<number>) => {
    if (!(half && data.length >= 16 && Array.prototype.every.call(data, (v: number) => Math.abs(v) <= 65504))) return floatInitRaw(nm, dims, data);
    const n = unique(nm), h = unique(`${n}_f16`);
    inits.push({ name: h, dims, dataType: FLOAT16, rawData: new Uint8Array(toHalfBits(data).buffer) });
    nodes.push({ opType: 'Cast', name: unique(`${n}_cast`), input: [h], output: [n], attribute: [{ name: 'to', type: 2, i: FLOAT }] });
    return n;
  };
  const intInit = (nm: string, data: number[]) => {
    const n = unique(nm);
    const raw = new Uint8Array(BigInt64Array.from(data.map((v) => BigInt(v))).buffer);
    inits.push({ name: n, dims: [data.length], dataType: INT64, rawData: raw });
    return n;
  };
  const byteInit = (nm: string, dims: number[], dataType: number, bytes: Uint8Array | Int8Array) => {
    const n = unique(nm);
    inits.push({ name: n, dims, dataType, rawData: new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) });
    return n;
  };
  /** int8 weights [K, N] (or a filter [KH, KW, Cin, Cout], stored OIHW) with per-output-channel scales, as DequantizeLinear. */
  const int8Weights = (nm: string, w: Int8Array, shape: number[], scale: Float32Array): string => {
    const filter = shape.length === 4;
    const data = filter ? hwioToOihw(w, shape, new Int8Array(w.length)) : w;
    const dims = filter ? [shape[3], shape[2], shape[0], shape[1]] : shape, axis = filter ? 0 : shape.length - 1;
    const q = byteInit(`${nm}_int8`, dims, INT8, data);
    const sc = floatInitRaw(`${nm}_scale`, [scale.length], scale);
    const zp = byteInit(`${nm}_zero_point`, [scale.length], INT8, new Int8Array(scale.length));
    return emit('DequantizeLinear', [q, sc, zp], [attrInt('axis', axis)], `${nm}_dequantize`);
  };
  /** a quantized node's bias as ONNX's QDQ convention has it: int32 at scale input * weight per channel */
  const int32Bias = (nm: string, q: QWeights): string => {
    const mult = Float32Array.from(q.scale, (s) => Math.fround(q.input.scale * s));
    const b = Int32Array.from(q.bias!, (v, i) => roundHalfEven(v / mult[i]));
    const bi = byteInit(`${nm}_int32`, [q.N], INT32, new Uint8Array(b.buffer));
    return emit('DequantizeLinear', [bi, floatInitRaw(`${nm}_scale`, [q.N], mult)], [attrInt('axis', 0)], `${nm}_dequantize`);
  };
  /** x -> QuantizeLinear (u8, per tensor) -> DequantizeLinear: the int8 input of a quantized node. */
  const qdq = (x: string, scale: number, zeroPoint: number, nm: string): string => {
    const sc = floatInitRaw(`${nm}/input_scale`, [], [scale]), zp = byteInit(`${nm}/input_zero_point`, [], UINT8, Uint8Array.of(zeroPoint));
    const q = emit('QuantizeLinear', [x, sc, zp], [], `${nm}/quantize_input`);
    return emit('DequantizeLinear', [q, sc, zp], [], `${nm}/dequantize_input`);
  };
  const attrInts = (name: string, ints: number[]) => ({ name, type: 7, ints });
  const attrInt = (name: string, i: number) => ({ name, type: 2, i });
  const attrFloat = (name: string, f: number) => ({ name, type: 1, f });
  const attrStr = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });
  const emit = (opType: string, inputs: string[], attrs: unknown[], nodeName: string, out?: string) => {
    const o = out ?? unique(`${nodeName}_out`);
    nodes.push({ opType, name: unique(nodeName), input: inputs, output: [o], attribute: attrs });
    return o;
  };
  const param = (id: number, transform?: 'oihw' | 'map-const'): string => {
    const v = g.values[id];
    if (v.int8 && transform !== 'map-const') return int8Weights(v.name, v.int8.w, v.shape, v.int8.scale);
    const d = v.tensor!.dataSync();
    if (transform === 'oihw') {
      const [H, W, I, O] = v.shape;
      return floatInit(v.name, [O, I, H, W], hwioToOihw(d, v.shape, new Float32Array(d.length)));
    }
    if (transform === 'map-const') {
      // a constant broadcast against a map: [1, 1, 1, C] (NHWC) -> [1, C, 1, 1]
      const s = v.shape;
      if (s.length === 4 && s[1] === 1 && s[2] === 1) return floatInit(v.name, [s[0], s[3], 1, 1], d);
      if (d.length === 1) return floatInit(v.name, [1], d);
      fail(`constant '${v.name}' ${JSON.stringify(s)} broadcast against a feature map`);
    }
    return floatInit(v.name, v.shape, d);
  };
  const valueName = (id: number): string => {
    const known = onnxName.get(id);
    if (known) return known;
    const v = g.values[id];
    if (v.kind === 'param' || v.kind === 'state') { const n = param(id); onnxName.set(id, n); return n; }
    return fail(`value '${v.name}' is used before it is computed`);
  };
  /** the activation fused into a producer, as ONNX nodes after it */
  const activation = (x: string, act: string, alpha: number, nodeName: string, out: string | undefined, mapAxis: boolean): string => {
    switch (act) {
      case 'linear': return out ? emit('Identity', [x], [], `${nodeName}/identity`, out) : x;
      case 'relu': return emit('Relu', [x], [], `${nodeName}/relu`, out);
      case 'relu6': return emit('Clip', [x, floatInit(`${nodeName}/min`, [], [0]), floatInit(`${nodeName}/max`, [], [6])], [], `${nodeName}/relu6`, out);
      case 'leakyRelu': return emit('LeakyRelu', [x], [attrFloat('alpha', alpha)], `${nodeName}/leaky_relu`, out);
      case 'elu': return emit('Elu', [x], [attrFloat('alpha', alpha)], `${nodeName}/elu`, out);
      case 'selu': return emit('Selu', [x], [], `${nodeName}/selu`, out);
      case 'sigmoid': return emit('Sigmoid', [x], [], `${nodeName}/sigmoid`, out);
      case 'tanh': return emit('Tanh', [x], [], `${nodeName}/tanh`, out);
      case 'softplus': return emit('Softplus', [x], [], `${nodeName}/softplus`, out);
      case 'sign': return emit('Sign', [x], [], `${nodeName}/sign`, out);
      case 'softmax': return emit('Softmax', [x], [attrInt('axis', mapAxis ? 1 : -1)], `${nodeName}/softmax`, out);
      case 'logSoftmax': return emit('LogSoftmax', [x], [attrInt('axis', mapAxis ? 1 : -1)], `${nodeName}/log_softmax`, out);
      default: return fail(`activation '${act}' (node '${nodeName}') has no ONNX opset ${OPSET} equivalent in this exporter`);
    }
  };

  // the input
  if (g.inputs.length !== 1) fail(`models with ${g.inputs.length} inputs are not exported yet`);
  const xId = g.inputs[0];
  const xs = shapeOf(xId);
  const dim = (d: number) => (d === -1 ? { dimParam: 'batch' } : { dimValue: d });
  let inputInfo: unknown;
  if (xs.length === 4) {
    const [, H, W, C] = xs;
    isMap.add(xId);
    if (nchwBoundary) {
      onnxName.set(xId, unique('input'));
      inputInfo = { name: onnxName.get(xId), type: { tensorType: { elemType: FLOAT, shape: { dim: [dim(-1), dim(C), dim(H), dim(W)] } } } };
    } else {
      const inName = unique('input');
      inputInfo = { name: inName, type: { tensorType: { elemType: FLOAT, shape: { dim: [dim(-1), dim(H), dim(W), dim(C)] } } } };
      onnxName.set(xId, emit('Transpose', [inName], [attrInts('perm', [0, 3, 1, 2])], 'input/to_nchw'));
    }
  } else {
    onnxName.set(xId, unique('input'));
    inputInfo = { name: onnxName.get(xId), type: { tensorType: { elemType: FLOAT, shape: { dim: xs.map(dim) } } } };
  }
  const outId = g.outputs[0];

  for (const n of g.nodes) {
    const out = n.outputs[0] === outId && !isMapOut(g, n) ? 'output' : undefined;
    const setOut = (name: string, map = false) => { onnxName.set(n.outputs[0], name); if (map) isMap.add(n.outputs[0]); };
    const a = n.attrs;
    switch (n.op) {
      case 'conv2d': {
        const [x, w, b] = n.inputs;
        const geo = convGeometry(shapeOf(x), shapeOf(w), a.strides as [number, number], a.pad as Padding, a.dilations as [number, number], 'toOnnx');
        const ins = [valueName(x), param(w, 'oihw')];
        if (b !== undefined) ins.push(param(b));
        const conv = emit('Conv', ins, [
          attrInts('kernel_shape', [geo.KH, geo.KW]), attrInts('strides', [geo.SH, geo.SW]), attrInts('dilations', [geo.DH, geo.DW]),
          attrInts('pads', [geo.PT, geo.PL, geo.PB, geo.PR]), attrInt('group', geo.G),
        ], n.name);
        setOut(activation(conv, a.activation as string, a.alpha as number, n.name, undefined, true), true);
        break;
      }
      case 'fakeQuant': {
        const signed = (a.qmin as number) < 0;
        const sc = floatInitRaw(`${n.name}/scale`, [], [a.scale as number]);
        const zp = signed ? byteInit(`${n.name}/zero_point`, [], INT8, Int8Array.of(a.zeroPoint as number)) : byteInit(`${n.name}/zero_point`, [], UINT8, Uint8Array.of(a.zeroPoint as number));
        const q = emit('QuantizeLinear', [valueName(n.inputs[0]), sc, zp], [], `${n.name}/quantize`);
        setOut(emit('DequantizeLinear', [q, sc, zp], [], n.name, isMap.has(n.inputs[0]) ? undefined : out), isMap.has(n.inputs[0]));
        break;
      }
      case 'qconv2d': {
        const q = a.q as QWeights;
        if (q.raw) fail(`node '${n.name}': integer results (imported ConvInteger) do not export yet`);
        const x = n.inputs[0];
        const geo = convGeometry(shapeOf(x), q.filterShape!, a.strides as [number, number], a.pad as Padding, a.dilations as [number, number], 'toOnnx');
        const ins = [qdq(valueName(x), q.input.scale, q.input.zeroPoint, n.name), int8Weights(`${n.name}/kernel`, q.w, q.filterShape!, q.scale)];
        if (q.bias) ins.push(int32Bias(`${n.name}/bias`, q));
        const conv = emit('Conv', ins, [
          attrInts('kernel_shape', [geo.KH, geo.KW]), attrInts('strides', [geo.SH, geo.SW]), attrInts('dilations', [geo.DH, geo.DW]),
          attrInts('pads', [geo.PT, geo.PL, geo.PB, geo.PR]), attrInt('group', 1),
        ], n.name);
        setOut(activation(conv, a.activation as string, 0, n.name, undefined, true), true);
        break;
      }
      case 'qdense': {
        const q = a.q as QWeights;
        if (q.raw) fail(`node '${n.name}': integer results (imported MatMulInteger) do not export yet`);
        const ins = [qdq(valueName(n.inputs[0]), q.input.scale, q.input.zeroPoint, n.name), int8Weights(`${n.name}/kernel`, q.w, [q.K, q.N], q.scale)];
        if (q.bias) ins.push(int32Bias(`${n.name}/bias`, q));
        const gemm = emit('Gemm', ins, [], n.name, a.activation === 'linear' ? out : undefined);
        setOut(a.activation === 'linear' ? gemm : activation(gemm, a.activation as string, 0, n.name, out, false));
        break;
      }
      case 'dense': {
        const [x, w, b] = n.inputs;
        const ins = [valueName(x), param(w)];
        if (b !== undefined) ins.push(param(b));
        const gemm = emit('Gemm', ins, [], n.name, a.activation === 'linear' ? out : undefined);
        setOut(a.activation === 'linear' ? gemm : activation(gemm, a.activation as string, a.alpha as number, n.name, out, false));
        break;
      }
      case 'activation':
        setOut(activation(valueName(n.inputs[0]), a.activation as string, (a.alpha as number) ?? 1, n.name, out, isMap.has(n.inputs[0])), isMap.has(n.inputs[0]));
        break;
      case 'rrelu':
        setOut(activation(valueName(n.inputs[0]), 'leakyRelu', ((a.lower as number) + (a.upper as number)) / 2, n.name, out, false), isMap.has(n.inputs[0]));
        break;
      case 'prelu': {
        const [x, alpha] = n.inputs;
        const C = shapeOf(alpha)[0];
        const slope = floatInit(g.values[alpha].name, isMap.has(x) ? [C, 1, 1] : [C], g.values[alpha].tensor!.dataSync());
        setOut(emit('PRelu', [valueName(x), slope], [], n.name, out), isMap.has(x));
        break;
      }
      case 'pool': {
        const x = n.inputs[0];
        const geo = poolGeometry(shapeOf(x), a.filterSize as [number, number], a.strides as [number, number], a.pad as Padding, 'toOnnx');
        const pb = (geo.OH - 1) * geo.SH + geo.KH - geo.H - geo.PT, pr = (geo.OW - 1) * geo.SW + geo.KW - geo.W - geo.PL;
        setOut(emit(a.kind === 'max' ? 'MaxPool' : 'AveragePool', [valueName(x)], [
          attrInts('kernel_shape', [geo.KH, geo.KW]), attrInts('strides', [geo.SH, geo.SW]), attrInts('pads', [geo.PT, geo.PL, Math.max(0, pb), Math.max(0, pr)]),
        ], n.name), true);
        break;
      }
      case 'globalAvgPool': {
        const gap = emit('GlobalAveragePool', [valueName(n.inputs[0])], [], n.name);
        setOut(emit('Flatten', [gap], [attrInt('axis', 1)], `${n.name}/flatten`, out));
        break;
      }
      case 'batchNorm': {
        const [x, gamma, beta, mean, variance] = n.inputs;
        setOut(emit('BatchNormalization', [valueName(x), param(gamma), param(beta), param(mean), param(variance)], [attrFloat('epsilon', a.epsilon as number), attrFloat('momentum', (a.momentum as number | undefined) ?? 0.99)], n.name, out), isMap.has(x));
        break;
      }
      case 'dropout':
        setOut(valueName(n.inputs[0]), isMap.has(n.inputs[0]));
        break;
      case 'nhwcToNchw':
        // the ONNX value of a map is NCHW already: this is its plain rank-4 view
        setOut(valueName(n.inputs[0]));
        break;
      case 'nchwToNhwc':
        // and a plain NCHW rank-4 value is a map as it stands
        setOut(valueName(n.inputs[0]), true);
        break;
      case 'transpose': {
        if (isMap.has(n.inputs[0])) fail(`transpose of a feature map (node '${n.name}')`);
        setOut(emit('Transpose', [valueName(n.inputs[0])], [attrInts('perm', a.perm as number[])], n.name, out));
        break;
      }
      case 'slice': {
        const x = n.inputs[0];
        const map = isMap.has(x);
        const axis = map ? [0, 2, 3, 1][a.axis as number] : (a.axis as number);
        setOut(emit('Slice', [valueName(x), intInit(`${n.name}/starts`, [a.start as number]), intInit(`${n.name}/ends`, [a.end as number]), intInit(`${n.name}/axes`, [axis])], [], n.name, out), map);
        break;
      }
      case 'reshape': {
        const x = n.inputs[0];
        let src = valueName(x);
        // a map flattened by a model built here is in NHWC order
        if (isMap.has(x)) src = emit('Transpose', [src], [attrInts('perm', [0, 2, 3, 1])], `${n.name}/to_nhwc`);
        const target = (a.shape as number[]).map((d, i) => (i === 0 ? -1 : d));
        if (target.length === 4 && a.layout === 'map') {
          // a reshape to a feature map (a Keras-style Reshape to [h, w, c]): NHWC order -> NCHW again
          const r = emit('Reshape', [src, intInit(`${n.name}/shape`, target)], [], n.name);
          setOut(emit('Transpose', [r], [attrInts('perm', [0, 3, 1, 2])], `${n.name}/to_nchw`), true);
        } else {
          setOut(emit('Reshape', [src, intInit(`${n.name}/shape`, target)], [], n.name, out));
        }
        break;
      }
      case 'add': case 'sub': case 'mul': case 'div': {
        const [p, q] = n.inputs;
        const map = isMap.has(p) || isMap.has(q);
        const nm = (id: number) => (g.values[id].kind === 'param' && map ? param(id, 'map-const') : valueName(id));
        const opType = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' }[n.op as 'add'];
        setOut(emit(opType, [nm(p), nm(q)], [], n.name, out), map);
        break;
      }
      case 'concat': {
        const map = isMap.has(n.inputs[0]);
        setOut(emit('Concat', n.inputs.map(valueName), [attrInt('axis', map ? 1 : -1)], n.name, out), map);
        break;
      }
      case 'resize2d': {
        const x = n.inputs[0];
        const [, H, W] = shapeOf(x), [OH, OW] = a.size as [number, number];
        // scales whose product with the input size floors to the output size in float32, as ONNX computes it
        const scale = (o: number, i: number) => { let v = Math.fround(o / i); while (Math.floor(Math.fround(i * v)) < o) v = Math.fround(v * (1 + 2 ** -23)); return v; };
        const nearest = a.method === 'nearest';
        const ctm = a.alignCorners ? 'align_corners' : a.halfPixelCenters ? (nearest ? 'tf_half_pixel_for_nn' : 'half_pixel') : 'asymmetric';
        const attrs: unknown[] = [attrStr('mode', nearest ? 'nearest' : 'linear'), attrStr('coordinate_transformation_mode', ctm)];
        if (nearest) attrs.push(attrStr('nearest_mode', a.alignCorners ? 'round_prefer_ceil' : 'floor'));
        const scales = unique(`${n.name}/scales`);
        inits.push({ name: scales, dims: [4], dataType: FLOAT, rawData: new Uint8Array(Float32Array.from([1, 1, scale(OH, H), scale(OW, W)]).buffer) });
        setOut(emit('Resize', [valueName(x), '', scales], attrs, n.name), true);
        break;
      }
      case 'grayscaleToRgb': {
        const x = valueName(n.inputs[0]), map = isMap.has(n.inputs[0]);
        setOut(emit('Concat', [x, x, x], [attrInt('axis', map ? 1 : -1)], n.name, out), map);
        break;
      }
      case 'zeroPad2d': {
        const [[t, b], [l, r]] = a.padding as [[number, number], [number, number]];
        setOut(emit('Pad', [valueName(n.inputs[0]), intInit(`${n.name}/pads`, [0, 0, t, l, 0, 0, b, r])], [], n.name), true);
        break;
      }
      default:
        fail(`graph op '${n.op}' (node '${n.name}') is not exported yet`);
    }
  }

  // the output: a map goes back to the boundary's layout
  let outName = onnxName.get(outId)!;
  const os = shapeOf(outId);
  let outDims: Array<{ dimValue?: number; dimParam?: string }>;
  if (isMap.has(outId)) {
    const [, H, W, C] = os;
    if (nchwBoundary) { outName = emit('Identity', [outName], [], 'output/identity', 'output'); outDims = [dim(-1), dim(C), dim(H), dim(W)]; } else {
      outName = emit('Transpose', [outName], [attrInts('perm', [0, 2, 3, 1])], 'output/to_nhwc', 'output');
      outDims = [dim(-1), dim(H), dim(W), dim(C)];
    }
  } else {
    if (outName !== 'output') outName = emit('Identity', [outName], [], 'output/identity', 'output');
    outDims = os.map(dim);
  }
  const root = await protoRoot();
  const model = root.ModelProto.create({
    irVersion: 8,
    producerName: 'edgegrad',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name,
      node: nodes,
      initializer: inits,
      input: [inputInfo],
      output: [{ name: 'output', type: { tensorType: { elemType: FLOAT, shape: { dim: outDims } } } }],
    },
  });
  return root.ModelProto.encode(model).finish();
}

/** Whether a node's output is a feature map (so the graph output needs a layout transpose after it). */
function isMapOut(g: Graph, n: Node): boolean {
  const s = g.values[n.outputs[0]].shape;
  return s.length === 4 && n.op !== 'nhwcToNchw';
}

/** A filter [KH, KW, Cin, Cout] (edgegrad's HWIO) in ONNX's [Cout, Cin, KH, KW] order, written into out. */
function hwioToOihw<T extends { [i: number]: number }>(d: ArrayLike<number>, [H, W, I, O]: number[], out: T): T {
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    out[((o * I + i) * H + y) * W + x] = d[((y * W + x) * I + i) * O + o];
  }
  return out;
}
