// TensorFlow.js layers-model import: model.json (Keras topology, sequential or functional) + weight bytes
// -> graph IR. Keras is NHWC with HWIO kernels like edgegrad, so weights load as they are; quantized
// weights (uint8 / uint16 affine, float16) are dequantized at load. Recurrent layers (LSTM, GRU, SimpleRNN,
// Bidirectional of one of them) become the graph's lstm / gru / simpleRnn nodes, whose weight layouts are
// Keras's (kernel [F, gU], recurrent_kernel [U, gU], gate columns i f c o / z r h).
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

/** Keras's recurrent activations (tfjs writes snake case) -> the recurrent ops' names. */
const RNN_ACT: Record<string, string> = { tanh: 'tanh', sigmoid: 'sigmoid', hard_sigmoid: 'hardSigmoid', hardSigmoid: 'hardSigmoid', relu: 'relu', linear: 'linear' };
const RNN_OP: Record<string, { op: string; gates: number }> = { LSTM: { op: 'lstm', gates: 4 }, GRU: { op: 'gru', gates: 3 }, SimpleRNN: { op: 'simpleRnn', gates: 1 } };
/** Layers that pass a sequence mask (Masking, Embedding mask_zero) on unchanged, as tfjs's supportsMasking layers do. */
const MASK_PASS = new Set(['Dense', 'TimeDistributed', 'Activation', 'ReLU', 'Dropout', 'GaussianNoise', 'BatchNormalization']);

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
  const outs = new Map<string, number[]>(); // layer name -> its output values (a recurrent layer's states after its output)
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
    const map: Record<string, ActivationName> = { linear: 'linear', relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', tanh: 'tanh', softmax: 'softmax', elu: 'elu', selu: 'selu', softplus: 'softplus', gelu: 'gelu', hard_sigmoid: 'hardSigmoid', hardSigmoid: 'hardSigmoid' };
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
      const h = (Array.isArray(ref) ? ref : (ref as { config?: { keras_history?: unknown[] } }).config?.keras_history ?? []) as unknown[];
      const src = h[0] as string, k = (h[2] as number | undefined) ?? 0;
      const id = outs.get(src)?.[k];
      if (id === undefined) fail(`layer '${l.name}' reads '${src}'${k ? ` output ${k}` : ''}, which is not defined before it`);
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
  /** Dense on the last axis (Keras applies it per step of a sequence: a batched product for [B, T, F]). */
  const dense = (x: number, c: Record<string, unknown>, nm: string, scope: string): number => {
    const ps = [g.param(`${nm}/kernel`, weight(scope, 'kernel'), true)];
    if (c.use_bias !== false) ps.push(g.param(`${nm}/bias`, weight(scope, 'bias'), true));
    return withActivation(g.node(g.values[x].shape.length > 2 ? 'matMul' : 'dense', [x, ...ps], { activation: 'linear', alpha: 0 }, nm, nm)[0], act(c.activation, nm), nm);
  };
  /**
   * An LSTM / GRU / SimpleRNN on x [B, T, F] as one recurrent node named `node`, its weights under `scope` in
   * tfjs's order (kernel, recurrent_kernel, bias). `reverse` runs it backward with outputs aligned to the input's
   * steps (Bidirectional's backward copy). A mask on x skips the padded steps (state carried over, as tfjs does).
   * Returns [output (last step or sequence), final states if return_state].
   * Ignored on purpose: dropout and recurrent_dropout act in training only; implementation and unroll choose how
   * Keras computes the same function; unit_forget_bias only initializes the bias, which the weights replace.
   */
  const recurrent = (cls: string, c: Record<string, unknown>, x: number, nm: string, node: string, scope: string, reverse = false): number[] => {
    const spec = RNN_OP[cls];
    if (!spec) fail(`layer '${nm}' wraps a ${cls}: Bidirectional of LSTM, GRU or SimpleRNN only`);
    const no = (opt: string, why: string) => { if (c[opt] !== undefined && c[opt] !== null && c[opt] !== false) fail(`layer '${nm}' (${cls}): ${opt} ${JSON.stringify(c[opt])} is not supported (${why})`); };
    no('stateful', 'an imported model keeps no states from batch to batch; save it with stateful false, or build it with eg.layers');
    no('time_major', 'inputs are [batch, steps, features]');
    const ra = (v: unknown, opt: string, d: string) => RNN_ACT[(v ?? d) as string] ?? fail(`layer '${nm}' (${cls}): ${opt} '${v}' is not supported (${Object.keys(RNN_ACT).join(', ')})`);
    const xs = g.values[x].shape;
    if (xs.length !== 3) fail(`layer '${nm}' (${cls}): input ${formatShape(xs)} is not [batch, steps, features]`);
    const U = c.units as number;
    if (!(Number.isInteger(U) && U > 0)) fail(`layer '${nm}' (${cls}): units ${JSON.stringify(c.units)} is not a positive integer`);
    const { op, gates } = spec;
    const resetAfter = op === 'gru' && c.reset_after === true;
    const take = (w: string, shape: number[]) => {
      const t = weight(scope, w);
      if (t.shape.join() !== shape.join()) fail(`layer '${nm}' (${cls}): weight '${w}' is ${formatShape(t.shape)}, not ${formatShape(shape)} (${xs[2]} features, ${U} units)`);
      return t;
    };
    const W = take('kernel', [xs[2], gates * U]), R = take('recurrent_kernel', [U, gates * U]);
    // GRU reset_after: Keras's bias [2, 3U] (input bias row, recurrent bias row), as the op takes it
    const useBias = c.use_bias !== false, b = useBias ? [g.param(`${node}/bias`, take('bias', resetAfter ? [2, gates * U] : [gates * U]), true)] : [];
    const mask = g.masks.get(x);
    const attrs: Record<string, unknown> = { units: U, activation: ra(c.activation, 'activation', 'tanh'), goBackwards: !reverse && c.go_backwards === true, reverse, bias: useBias, masked: mask !== undefined };
    // tfjs's default recurrent activation is hard_sigmoid (Keras's is sigmoid, which it always writes)
    if (op !== 'simpleRnn') attrs.recurrentActivation = ra(c.recurrent_activation, 'recurrent_activation', 'hard_sigmoid');
    if (op === 'gru') attrs.resetAfter = resetAfter;
    const o = g.node(op, [x, g.param(`${node}/kernel`, W, true), g.param(`${node}/recurrent_kernel`, R, true), ...b, ...(mask === undefined ? [] : [mask])], attrs, node, nm);
    const y = c.return_sequences === true ? o[0] : o[1];
    return c.return_state === true ? [y, o[1], ...(op === 'lstm' ? [o[2]] : [])] : [y];
  };
  // an input that an Embedding reads holds token ids: int32
  const embedded = new Set<string>();
  layers.forEach((l, i) => {
    if (l.class_name !== 'Embedding') return;
    if (sequential) embedded.add(i === 0 || (i === 1 && layers[0].class_name === 'InputLayer') ? 'input' : '');
    else for (const n of (l.inbound_nodes ?? []) as unknown[][]) for (const r of (Array.isArray(n) ? n : []) as unknown[][]) if (Array.isArray(r)) embedded.add(r[0] as string);
  });
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
      prev = g.input('input', [-1, ...inputShape], embedded.has('input') ? 'int32' : 'float32');
    }
    const ins = inboundOf(l, prev);
    let out: number, extra: number[] = [];
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = batchShape(c.batch_input_shape ?? c.batch_shape, nm, 'batch_input_shape');
        if (inputShape) fail('edgegrad imports models with one input');
        inputShape = shape;
        out = g.input(nm, [-1, ...shape], embedded.has(sequential ? 'input' : nm) ? 'int32' : 'float32');
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
      case 'Dense':
        out = dense(ins[0], c, nm, nm);
        break;
      case 'TimeDistributed': {
        const inner = c.layer as KerasLayer | undefined;
        if (inner?.class_name === 'Dense') out = dense(ins[0], inner.config, nm, nm);
        else if (inner?.class_name === 'Dropout') out = ins[0];
        else fail(`layer '${nm}': TimeDistributed of ${inner?.class_name ?? JSON.stringify(inner)} (of Dense only: other layers take per-step inputs edgegrad does not import yet)`);
        break;
      }
      case 'LSTM': case 'GRU': case 'SimpleRNN': {
        if (ins.length !== 1) fail(`layer '${nm}' (${l.class_name}): initial states given as inputs (${ins.length} inputs) are not supported`);
        [out, ...extra] = recurrent(l.class_name, c, ins[0], nm, nm, nm);
        break;
      }
      case 'Bidirectional': {
        const inner = c.layer as KerasLayer | undefined;
        if (!inner || typeof inner.config !== 'object') fail(`layer '${nm}': Bidirectional without a layer config`);
        if (ins.length !== 1) fail(`layer '${nm}' (Bidirectional): initial states given as inputs (${ins.length} inputs) are not supported`);
        const ic = inner.config, iname = String(ic.name ?? inner.class_name.toLowerCase());
        const mode = c.merge_mode === undefined ? 'concat' : c.merge_mode;
        if (mode !== null && !['concat', 'sum', 'mul', 'ave'].includes(mode as string)) fail(`layer '${nm}': merge_mode ${JSON.stringify(mode)} is not supported (concat, sum, mul, ave, null)`);
        // the backward copy is the layer with go_backwards flipped; tfjs reverses its sequence to the input's order
        if (ic.go_backwards === true && ic.return_sequences === true) fail(`layer '${nm}': Bidirectional of a go_backwards layer with return_sequences (its backward copy's sequence is reversed in time; not supported)`);
        const fw = recurrent(inner.class_name, ic, ins[0], nm, `${nm}/forward`, `${nm}/forward_${iname}`);
        // Keras's explicit backward_layer (its go_backwards is the forward layer's flipped) has its own name
        const back = c.backward_layer as KerasLayer | undefined, bc = back?.config ?? ic;
        const bname = back ? String(bc.name ?? `backward_${iname}`) : `backward_${iname}`;
        const bw = recurrent(back?.class_name ?? inner.class_name, { ...bc, go_backwards: false }, ins[0], nm, `${nm}/backward`, `${nm}/${bname}`, ic.go_backwards !== true);
        // merge_mode null: the two outputs, forward then backward, before the states (tfjs's order)
        if (mode === null) [out, extra] = [fw[0], [bw[0]]];
        else if (mode === 'concat') out = g.node('concat', [fw[0], bw[0]], {}, nm, nm)[0];
        else if (mode === 'ave') out = g.node('mul', [g.node('add', [fw[0], bw[0]], {}, `${nm}/sum`, nm)[0], g.node('constant', [], { value: 0.5 }, `${nm}/half`, nm)[0]], {}, nm, nm)[0];
        else out = g.node(mode === 'sum' ? 'add' : 'mul', [fw[0], bw[0]], {}, nm, nm)[0];
        extra = [...extra, ...fw.slice(1), ...bw.slice(1)];
        break;
      }
      case 'Embedding': {
        if (g.values[ins[0]].dtype !== 'int32') fail(`layer '${nm}' (Embedding) reads a computed value; edgegrad embeds the model's input (token ids) only`);
        const table = weight(nm, 'embeddings');
        out = g.node('embedding', [g.param(`${nm}/embeddings`, table, true), ins[0]], {}, nm, nm)[0];
        if (c.mask_zero === true) {
          // the mask [B, T, 1] (0 for token 0, padding) by the same lookup in a constant (state, not trained) column of ones but row 0
          const ones = new Float32Array(table.shape[0]).fill(1);
          ones[0] = 0;
          const col = Tensor.empty([table.shape[0], 1]);
          col.write(ones);
          g.masks.set(out, g.node('embedding', [g.state(`${nm}/mask_zero`, col), ins[0]], {}, `${nm}/mask`, nm)[0]);
        }
        break;
      }
      case 'Masking': {
        // Keras's Masking: a step whose features all equal mask_value is padding; its values become 0
        const m = g.node('sequenceMask', [ins[0]], { maskValue: (c.mask_value as number) ?? 0 }, `${nm}/mask`, nm)[0];
        out = g.node('mul', [ins[0], m], {}, nm, nm)[0];
        g.masks.set(out, m);
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
      case 'GlobalAveragePooling1D': case 'GlobalMaxPooling1D': {
        // over the steps of [B, T, U]: the 2-d poolings on [B, T, 1, U]
        const s = g.values[ins[0]].shape;
        if (s.length !== 3 || c.keepdims === true || (c.data_format && c.data_format !== 'channels_last')) fail(`layer '${nm}': ${l.class_name} of ${formatShape(s)} (of [batch, steps, features], channels_last, no keepdims)`);
        const x4 = g.node('reshape', [ins[0]], { shape: [-1, s[1], 1, s[2]] }, `${nm}/steps`, nm)[0];
        out = l.class_name === 'GlobalAveragePooling1D' ? g.node('globalAvgPool', [x4], {}, nm, nm)[0]
          : g.node('reshape', [g.node('pool', [x4], { kind: 'max', filterSize: [s[1], 1], strides: [1, 1], pad: 'valid' }, nm, nm)[0]], { shape: [-1, s[2]] }, `${nm}/flatten`, nm)[0];
        break;
      }
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
    // a mask reaches the next layers through those that take it: recurrent layers pass it on with their
    // sequences (tfjs passes it unreversed after go_backwards too); other layers would not run in tfjs
    const mask = ins.map((i) => g.masks.get(i)).find((m) => m !== undefined);
    if (mask !== undefined && !g.masks.has(out)) {
      const rnn = RNN_OP[l.class_name] ? c : l.class_name === 'Bidirectional' ? (c.layer as KerasLayer).config : undefined;
      if (!rnn && !MASK_PASS.has(l.class_name)) fail(`layer '${nm}' (${l.class_name}) receives the mask of padded steps (from Masking or an Embedding's mask_zero), which it does not take`);
      if (!rnn || rnn.return_sequences === true) g.masks.set(out, mask);
    }
    outs.set(nm, [out, ...extra]);
    prev = out;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/^edgegrad/.test(msg)) throw msg.includes(`'${nm}'`) ? e : new Error(`${msg} (layer '${nm}', ${l.class_name})`);
      fail(`layer '${nm}' (${l.class_name}): malformed config (${(e as Error).name}: ${msg})`);
    }
  }
  if (!inputShape) fail('no input layer (and no batch_input_shape on the first layer)');
  const outRef = sequential ? undefined : (mc.config as { output_layers?: unknown[][] }).output_layers?.[0];
  const outName = outRef?.[0] as string | undefined;
  const outId = outName ? outs.get(outName)?.[(outRef?.[2] as number | undefined) ?? 0] : prev;
  if (outId === undefined) fail(`output layer '${outName}' not found`);
  g.outputs = [outId];
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  if (unused.length) fail(`weights ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''} belong to no layer (the topology and the weights do not match)`);
  fuseActivations(g);
  const input = g.values[g.inputs[0]];
  return new GraphModel(g, name, inputShape, false, false, { format: 'TensorFlow.js layers', opset: 0, producer: `keras ${topo.keras_version ?? ''}`.trim() },
    { inputs: [{ name: input.name, shape: inputShape, nchw: false, dtype: input.dtype === 'int32' ? 'int32' : 'float32' }], outputs: [{ name: 'output', nchw: false }] });
}
