// TensorFlow.js layers-model import: model.json (Keras topology, sequential or functional) + weight bytes
// -> graph IR. Keras is NHWC with HWIO kernels like edgegrad, so weights load as they are; quantized
// weights (uint8 / uint16 affine, float16) are dequantized at load.
import { Graph } from '../graph/ir.js';
import { GraphModel } from '../graph-model.js';
import { fuseActivations } from '../graph/passes.js';
import { ACTIVATIONS, type ActivationName } from '../ops/activation.js';
import { Tensor, fill as filled, formatShape } from '../tensor.js';
import '../ops/index.js';
import { halfToFloat } from './half.js';

interface WeightSpec { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string } }
export interface TfjsModelJson {
  modelTopology: { model_config?: KerasModelConfig; keras_version?: string; class_name?: string; config?: unknown } & Record<string, unknown>;
  weightsManifest: Array<{ paths: string[]; weights: WeightSpec[] }>;
  format?: string;
  generatedBy?: string;
}
interface KerasLayer { class_name: string; name?: string; config: Record<string, unknown>; inbound_nodes?: unknown[] }
interface KerasModelConfig { class_name: string; config: { layers: KerasLayer[]; input_layers?: unknown[][]; output_layers?: unknown[][]; name?: string } | KerasLayer[] }

function fail(msg: string): never {
  throw new Error(`edgegrad.loadModel (TensorFlow.js): ${msg}`);
}

const MAX_ELEMENTS = 1 << 28;

const DTYPE_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 };

/** Bytes of one weight as stored (its quantized dtype if quantized), checking every field it is read from. */
function specBytes(w: unknown, where: string): number {
  const s = w as WeightSpec;
  if (!s || typeof s !== 'object') fail(`${where} is ${JSON.stringify(w)}, not a weight spec`);
  if (typeof s.name !== 'string') fail(`${where} has no name`);
  if (!Array.isArray(s.shape) || s.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`weight '${s.name}': shape ${JSON.stringify(s.shape)} is not a list of non-negative integers`);
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) fail(`weight '${s.name}' declares shape ${formatShape(s.shape)}, beyond what edgegrad accepts`);
  const kind = s.quantization ? s.quantization.dtype : s.dtype;
  const size = DTYPE_BYTES[kind];
  if (!size) fail(`weight '${s.name}' has dtype '${kind}', which edgegrad does not read`);
  return n * size;
}

/**
 * The weight groups of a model.json's manifest: their shard paths and the bytes their weights declare (so
 * shards are never read beyond that). Every field is checked, naming the group and the weight.
 */
export function manifestGroupBytes(json: TfjsModelJson, file: string): Array<{ paths: string[]; bytes: number }> {
  const m = (json as { weightsManifest?: unknown }).weightsManifest;
  if (m === undefined) return [];
  if (!Array.isArray(m)) fail(`'${file}': weightsManifest is not a list`);
  return m.map((gr: unknown, i: number) => {
    const g = gr as { paths?: unknown; weights?: unknown };
    if (!g || typeof g !== 'object') fail(`'${file}': weightsManifest[${i}] is ${JSON.stringify(gr)}, not a group`);
    if (!Array.isArray(g.paths) || g.paths.some((p) => typeof p !== 'string')) fail(`'${file}': weightsManifest[${i}].paths is not a list of file names`);
    if (!Array.isArray(g.weights)) fail(`'${file}': weightsManifest[${i}].weights is not a list`);
    return { paths: g.paths as string[], bytes: g.weights.reduce((s: number, w: unknown, k: number) => s + specBytes(w, `weightsManifest[${i}].weights[${k}]`), 0) };
  });
}

/** Decode every weight of the manifest from the concatenated shard bytes. */
function decodeWeights(manifest: TfjsModelJson['weightsManifest'], bytes: Uint8Array): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  let off = 0;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const group of manifest) {
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const kind = q ? q.dtype : w.dtype;
      const size = DTYPE_BYTES[kind];
      if (off + n * size > bytes.length) fail(`weight '${w.name}' ${formatShape(w.shape)} needs bytes [${off}, ${off + n * size}) but the shards hold ${bytes.length} (a shard is missing or short)`);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = off + i * size;
        let v: number;
        if (kind === 'uint8') v = dv.getUint8(p);
        else if (kind === 'uint16') v = dv.getUint16(p, true);
        else if (kind === 'float16') v = halfToFloat(dv.getUint16(p, true));
        else if (kind === 'int32') v = dv.getInt32(p, true);
        else v = dv.getFloat32(p, true);
        // affine quantization (tfjs-converter): value = min + scale * q
        data[i] = q && (kind === 'uint8' || kind === 'uint16') ? (q.min ?? 0) + (q.scale ?? 1) * v : v;
      }
      off += n * size;
      out.set(w.name, { shape: w.shape, data });
    }
  }
  if (off !== bytes.length) fail(`the shards hold ${bytes.length} bytes but the manifest's weights take ${off} (the weights and the manifest do not match)`);
  return out;
}

const pair = (v: unknown, d: number): [number, number] => (v === undefined || v === null ? [d, d] : typeof v === 'number' ? [v, v] : [(v as number[])[0], (v as number[])[1]]);

export function importTfjs(json: TfjsModelJson, weightBytes: Uint8Array, name = 'tfjs-model'): GraphModel {
  if (!json || typeof json !== 'object') fail('model.json is not a JSON object');
  const topo = json.modelTopology;
  if (!topo || typeof topo !== 'object') fail('model.json has no modelTopology object');
  const mc = (topo.model_config ?? topo) as KerasModelConfig;
  if (!mc || typeof mc.class_name !== 'string' || !mc.config || typeof mc.config !== 'object') fail('model.json has no Keras model_config (is it a graph model? edgegrad reads layers models)');
  manifestGroupBytes(json, 'model.json');
  const weights = decodeWeights(json.weightsManifest ?? [], weightBytes);
  const layers: KerasLayer[] = Array.isArray(mc.config) ? mc.config : mc.config.layers;
  if (!Array.isArray(layers) || !layers.length) fail('model_config.config.layers is not a list of layers');
  layers.forEach((l, i) => {
    if (!l || typeof l !== 'object' || typeof l.class_name !== 'string') fail(`layers[${i}] is not a layer (no class_name)`);
    if (!l.config || typeof l.config !== 'object') fail(`layer ${JSON.stringify(l.name ?? i)} (${l.class_name}) has no config object (config: ${JSON.stringify(l.config)})`);
  });
  const sequential = mc.class_name === 'Sequential';
  const g = new Graph();
  const outs = new Map<string, number>(); // layer name -> output value
  let inputShape: number[] | undefined;
  const used = new Set<string>();
  const weight = (layer: string, w: string): Tensor => {
    const key = [...weights.keys()].find((k) => k === `${layer}/${w}` || k.endsWith(`/${layer}/${w}`) || k.startsWith(`${layer}/`) && k.endsWith(`/${w}`));
    if (!key) fail(`layer '${layer}' needs weight '${w}', which the manifest does not list`);
    used.add(key);
    const { shape, data } = weights.get(key)!;
    const t = Tensor.empty(shape);
    t.write(data);
    return t;
  };
  const act = (a: unknown, layer: string): ActivationName => {
    const s = (a ?? 'linear') as string;
    const map: Record<string, ActivationName> = { linear: 'linear', relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', tanh: 'tanh', softmax: 'softmax', elu: 'elu', selu: 'selu', softplus: 'softplus', gelu: 'gelu' };
    const name = map[s];
    if (!name || !ACTIVATIONS.includes(name)) fail(`layer '${layer}': activation '${s}' is not supported`);
    return name;
  };
  const withActivation = (id: number, a: ActivationName, layer: string) =>
    a === 'linear' ? id : g.node('activation', [id], { activation: a, alpha: 1 }, `${layer}/${a}`, layer)[0];
  const inboundOf = (l: KerasLayer, prev?: number): number[] => {
    if (sequential) return prev === undefined ? [] : [prev];
    const nodes = l.inbound_nodes ?? [];
    if (nodes.length === 0) return [];
    if (nodes.length > 1) fail(`layer '${l.name}' is called ${nodes.length} times (shared layers are not supported)`);
    const first = nodes[0] as unknown;
    const list = (Array.isArray(first) ? first : (first as { args?: unknown[] }).args ?? []) as unknown[][];
    return list.map((ref) => {
      const src = Array.isArray(ref) ? (ref[0] as string) : ((ref as { config?: { keras_history?: unknown[] } }).config?.keras_history?.[0] as string);
      const id = outs.get(src);
      if (id === undefined) fail(`layer '${l.name}' reads '${src}', which is not defined before it`);
      return id;
    });
  };

  /** A Keras batch shape [null, ...dims]: the dims, checked to be positive and bounded. */
  const batchShape = (v: unknown, nm: string, field: string): number[] => {
    if (!Array.isArray(v) || v.length < 2) fail(`layer '${nm}': ${field} ${JSON.stringify(v)} is not a batch shape [null, ...]`);
    const dims = v.slice(1) as number[];
    if (dims.some((d) => !(Number.isInteger(d) && d > 0))) fail(`layer '${nm}': ${field} ${JSON.stringify(v)} has dynamic or invalid dimensions beyond the batch`);
    if (dims.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) fail(`layer '${nm}': ${field} ${JSON.stringify(v)} is beyond what edgegrad accepts (${MAX_ELEMENTS} elements per example)`);
    return dims;
  };
  let prev: number | undefined;
  for (const l of layers) {
    const c = l.config;
    const nm = String(l.name ?? c.name ?? l.class_name);
    try {
    if (sequential && prev === undefined && l.class_name !== 'InputLayer') {
      // Keras's sequential models may start with the first real layer, which carries the input shape
      const bs = c.batch_input_shape ?? c.batch_shape;
      if (bs === undefined) fail(`the first layer '${nm}' has no batch_input_shape (and there is no InputLayer)`);
      inputShape = batchShape(bs, nm, 'batch_input_shape');
      prev = g.input('input', [-1, ...inputShape]);
    }
    const ins = inboundOf(l, prev);
    let out: number;
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = batchShape(c.batch_input_shape ?? c.batch_shape, nm, 'batch_input_shape');
        if (inputShape) fail('edgegrad imports models with one input');
        inputShape = shape;
        out = g.input(nm, [-1, ...shape]);
        break;
      }
      case 'Conv2D': case 'DepthwiseConv2D': case 'SeparableConv2D': {
        if (c.data_format && c.data_format !== 'channels_last') fail(`layer '${nm}': data_format '${c.data_format}' (channels_last only)`);
        const attrs = { strides: pair(c.strides, 1), pad: c.padding as string, dilations: pair(c.dilation_rate, 1), activation: 'linear', alpha: 0 };
        let x = ins[0];
        if (l.class_name !== 'Conv2D') {
          const dk = weight(nm, 'depthwise_kernel');
          const [kh, kw, C, m] = dk.shape;
          const k = dk.reshape([kh, kw, 1, C * m]);
          dk.dispose();
          const bias = l.class_name === 'DepthwiseConv2D' && c.use_bias !== false ? [g.param(`${nm}/bias`, weight(nm, 'bias'), true)] : [];
          x = g.node('conv2d', [x, g.param(`${nm}/depthwise_kernel`, k, true), ...bias], attrs, l.class_name === 'DepthwiseConv2D' ? nm : `${nm}/depthwise`, nm)[0];
          if (l.class_name === 'DepthwiseConv2D') { out = withActivation(x, act(c.activation, nm), nm); break; }
          const pw = [g.param(`${nm}/pointwise_kernel`, weight(nm, 'pointwise_kernel'), true)];
          if (c.use_bias !== false) pw.push(g.param(`${nm}/bias`, weight(nm, 'bias'), true));
          x = g.node('conv2d', [x, ...pw], { strides: [1, 1], pad: 'valid', dilations: [1, 1], activation: 'linear', alpha: 0 }, nm, nm)[0];
          out = withActivation(x, act(c.activation, nm), nm);
          break;
        }
        const ps = [g.param(`${nm}/kernel`, weight(nm, 'kernel'), true)];
        if (c.use_bias !== false) ps.push(g.param(`${nm}/bias`, weight(nm, 'bias'), true));
        out = withActivation(g.node('conv2d', [x, ...ps], attrs, nm, nm)[0], act(c.activation, nm), nm);
        break;
      }
      case 'Dense': {
        const ps = [g.param(`${nm}/kernel`, weight(nm, 'kernel'), true)];
        if (c.use_bias !== false) ps.push(g.param(`${nm}/bias`, weight(nm, 'bias'), true));
        out = withActivation(g.node('dense', [ins[0], ...ps], { activation: 'linear', alpha: 0 }, nm, nm)[0], act(c.activation, nm), nm);
        break;
      }
      case 'BatchNormalization': {
        const axis = c.axis as number | number[];
        const ax = Array.isArray(axis) ? axis[0] : axis;
        const rank = g.values[ins[0]].shape.length;
        if (ax !== -1 && ax !== rank - 1) fail(`layer '${nm}': batch normalization over axis ${ax} (the last axis only)`);
        const C = g.values[ins[0]].shape[rank - 1];
        const fill = (v: number) => filled([C], v);
        const gamma = c.scale === false ? fill(1) : weight(nm, 'gamma');
        const beta = c.center === false ? fill(0) : weight(nm, 'beta');
        out = g.node('batchNorm', [ins[0], g.param(`${nm}/gamma`, gamma, true), g.param(`${nm}/beta`, beta, true),
          g.state(`${nm}/moving_mean`, weight(nm, 'moving_mean')), g.state(`${nm}/moving_variance`, weight(nm, 'moving_variance'))],
        { epsilon: (c.epsilon as number) ?? 1e-3, momentum: (c.momentum as number) ?? 0.99 }, nm, nm)[0];
        break;
      }
      case 'ReLU': case 'LeakyReLU': case 'ELU': case 'Softmax': case 'Activation': {
        let a: ActivationName, alpha = 1;
        if (l.class_name === 'ReLU') {
          const mx = c.max_value as number | null | undefined, slope = (c.negative_slope as number) ?? 0, th = (c.threshold as number) ?? 0;
          if (th !== 0) fail(`layer '${nm}': ReLU threshold ${th}`);
          if (slope !== 0) { if (mx !== null && mx !== undefined) fail(`layer '${nm}': ReLU with both max_value and negative_slope`); a = 'leakyRelu'; alpha = slope; } else a = mx === 6 ? 'relu6' : mx === null || mx === undefined ? 'relu' : fail(`layer '${nm}': ReLU max_value ${mx} (6 or none)`);
        } else if (l.class_name === 'LeakyReLU') { a = 'leakyRelu'; alpha = (c.alpha as number) ?? 0.3; } else if (l.class_name === 'ELU') { a = 'elu'; alpha = (c.alpha as number) ?? 1; } else if (l.class_name === 'Softmax') a = 'softmax';
        else a = act(c.activation, nm);
        out = g.node('activation', [ins[0]], { activation: a, alpha }, nm, nm)[0];
        break;
      }
      case 'ZeroPadding2D': {
        const p = c.padding as number | number[] | number[][];
        const padding = typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : p;
        out = g.node('zeroPad2d', [ins[0]], { padding }, nm, nm)[0];
        break;
      }
      case 'MaxPooling2D': case 'AveragePooling2D': {
        const size = pair(c.pool_size, 2);
        out = g.node('pool', [ins[0]], { kind: l.class_name === 'MaxPooling2D' ? 'max' : 'avg', filterSize: size, strides: pair(c.strides ?? size, 1), pad: (c.padding as string) ?? 'valid' }, nm, nm)[0];
        break;
      }
      case 'GlobalAveragePooling2D':
        out = g.node('globalAvgPool', [ins[0]], {}, nm, nm)[0];
        break;
      case 'Flatten': {
        const s = g.values[ins[0]].shape;
        out = g.node('reshape', [ins[0]], { shape: [-1, s.slice(1).reduce((a, b) => a * b, 1)] }, nm, nm)[0];
        break;
      }
      case 'Reshape':
        out = g.node('reshape', [ins[0]], { shape: [-1, ...(c.target_shape as number[])] }, nm, nm)[0];
        break;
      case 'Add': {
        let acc = ins[0];
        for (let i = 1; i < ins.length; i++) acc = g.node('add', [acc, ins[i]], {}, i === ins.length - 1 ? nm : `${nm}_${i}`, nm)[0];
        out = acc;
        break;
      }
      case 'Concatenate': {
        const ax = (c.axis as number) ?? -1;
        if (ax !== -1 && ax !== g.values[ins[0]].shape.length - 1) fail(`layer '${nm}': concatenation over axis ${ax} (the last axis only)`);
        out = g.node('concat', ins, {}, nm, nm)[0];
        break;
      }
      case 'Dropout': case 'SpatialDropout2D': case 'GaussianNoise':
        out = ins[0];
        break;
      default:
        fail(`layer class '${l.class_name}' (layer '${nm}') is not supported`);
    }
    outs.set(nm, out);
    prev = out;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/^edgegrad/.test(msg)) throw msg.includes(`'${nm}'`) ? e : new Error(`${msg} (layer '${nm}', ${l.class_name})`);
      fail(`layer '${nm}' (${l.class_name}): malformed config (${(e as Error).name}: ${msg})`);
    }
  }
  if (!inputShape) fail('no input layer (and no batch_input_shape on the first layer)');
  const outName = sequential ? undefined : ((mc.config as { output_layers?: unknown[][] }).output_layers?.[0]?.[0] as string | undefined);
  const outId = outName ? outs.get(outName) : prev;
  if (outId === undefined) fail(`output layer '${outName}' not found`);
  g.outputs = [outId];
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  if (unused.length) fail(`weights ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''} belong to no layer (the topology and the weights do not match)`);
  fuseActivations(g);
  return new GraphModel(g, name, inputShape, false, false, { format: 'TensorFlow.js layers', opset: 0, producer: `keras ${topo.keras_version ?? ''}`.trim() });
}
