// Post-training quantization: eg.quantize(model, { weights, activations, calibration }).
//   weights 'int8': symmetric per output channel, activations 'int8': affine per tensor (u8) over the range
//   each quantized layer's input takes on the calibration batches (calibrate.ts): min / max, a percentile, the
//   MSE-optimal or the entropy (KL) clip (ranges.ts), or per layer whichever of these gives the least error at
//   the layer's output ('auto', measured by layer-error.ts). Bias correction subtracts each output channel's mean int8 error.
//   maxLoss keeps float the layers whose int8 version alone costs the model most, until the whole model is
//   within the bound (max-loss.ts).
//   Dense layers and convolutions (groups 1, at least minInputChannels inputs) run the int8 GEMM, depthwise
//   convolutions (groups = input channels, any multiplier) the int8 depthwise kernel; other grouped convolutions
//   compute in float on int8-stored weights; the report says what runs how, and why.
//   activations 'float32': weight-only int8 (stored int8, computed in float: the size without the speed).
//   weights 'float16': weights rounded to half precision and saved as float16 (half the file).
// Batch norms are folded into the convolutions first, so their scale is quantized with the filter.
import { Graph, type Node } from '../graph/ir.js';
import { GraphModel } from '../graph-model.js';
import { optimizeForInference } from '../graph/passes.js';
import { Model } from '../model.js';
import { quantizeWeights, type ActQuant, type QWeights } from '../ops/quant.js';
import { calibrate, rangeOf, type RangeChoice } from './calibrate.js';
import './u8-links.js'; // int8 models link u8 between their layers at plan time
import { measureLayers, relativeError, type LayerTrial } from './layer-error.js';
import { checkMaxLoss, keepWorstFloat, type LayerAlone, type MaxLossResult } from './max-loss.js';
import { floatToHalf, halfToFloat } from '../io/half.js';
import { Tensor } from '../tensor.js';
import { backendNamedAsync, getBackend, setBackend } from '../backend/index.js';

export interface QuantizeOptions {
  /** 'int8' (default) or 'float16' */
  weights?: 'int8' | 'float16';
  /** with int8 weights: 'int8' (default; needs calibration) or 'float32' (weight-only) */
  activations?: 'int8' | 'float32';
  /** representative inputs [n, ...inputShape] (the model's boundary layout), at least one example */
  calibration?: Tensor;
  /**
   * activation ranges: 'minmax' (the whole range), 'percentile' (clip the tails: see percentile), 'mse' (the clip
   * with the least quantization error of the tensor itself), 'entropy' (the least KL divergence, as TensorRT) or
   * 'auto' (default: per layer, whichever of these gives the least error at the layer's output on the
   * calibration set)
   */
  method?: 'minmax' | 'percentile' | 'mse' | 'entropy' | 'auto';
  /** for method 'percentile' (and one of the choices of 'auto'): (100 - percentile)% of the values clipped at each end, default 99.99 */
  percentile?: number;
  /**
   * subtract from each int8 layer's bias the mean error of its output channels on the calibration set (where it
   * makes that layer's error smaller there); default true
   */
  biasCorrection?: boolean;
  /**
   * keep float the layers whose int8 version alone costs most (report: nodes[].alone) until the int8 model is
   * within maxLoss points of float: accuracy on `data` if given, else agreement of the top class with float on
   * the calibration set
   */
  maxLoss?: number;
  /** labelled examples for maxLoss: x as calibration, y the class indices */
  data?: { x: Tensor; y: Tensor | ArrayLike<number> };
  /** node names to keep in float32 (e.g. the first convolution or the classifier) */
  keepFloat?: string[];
  /** batch size of the calibration passes (default 32) */
  batchSize?: number;
  /** progress of the calibration passes: examples done of total (long for big models) */
  onProgress?: (done: number, total: number) => void | Promise<void>;
  /** weights in [-63, 63] instead of [-127, 127]: the relaxed-SIMD i8 x i7 dot path (less precise) */
  reduceRange?: boolean;
  /**
   * convolutions (not depthwise) over fewer input channels stay float (default 4: an image's first layer, where the float
   * direct kernel is faster and the int8 patch matrix costs more than it saves); 1 quantizes them all
   */
  minInputChannels?: number;
}

export interface QuantizationReport {
  weights: 'int8' | 'float16';
  activations: 'int8' | 'float32';
  /** every dense / conv node: int8, or float with the reason */
  nodes: QuantizedNode[];
  /** with maxLoss: the bound, what was measured, and which layers it kept float (worst first) */
  maxLoss?: MaxLossResult;
}

export interface QuantizedNode {
  name: string;
  op: string;
  as: 'int8' | 'float32' | 'float16';
  reason?: string;
  /** int8 activations: the input's quantization, and the range choice that made it */
  input?: ActQuant;
  method?: RangeChoice;
  /** int8 activations: ||int8 - float|| / ||float|| at the layer's output, on the calibration set */
  error?: number;
  /** the same with each range choice tried (method 'auto'), by choice */
  errors?: Record<string, number>;
  /** whether bias correction changed this layer */
  biasCorrected?: boolean;
  /** with maxLoss: the model with only this layer int8, against float */
  alone?: LayerAlone;
}

function fail(msg: string): never {
  throw new Error(`edgegrad.quantize: ${msg}`);
}

/**
 * A quantized copy of model (its weights are copied; the original is untouched). A model on webgpu is quantized
 * from its weights read back, on wasm, and the int8 model returned lives there.
 */
export async function quantize(model: Model | GraphModel, opts: QuantizeOptions = {}): Promise<GraphModel> {
  const src = model instanceof Model
    ? new GraphModel(model.inferenceGraph(), model.name, model.inputShapeOf, false, false, { format: 'edgegrad', opset: 17, producer: 'edgegrad' })
    : model;
  const active = getBackend(), tensors = [...src.graph.values.map((v) => v.tensor), opts.calibration, opts.data?.x, opts.data?.y];
  if (active.syncRead && !tensors.some((t) => t instanceof Tensor && !t.backend.syncRead)) return quantizeHere(src, opts);
  // weights or data on a GPU (or the GPU active): read back, and quantized on wasm, where the int8 kernels run
  // and calibration reads its values; the model returned lives there (the source stays as it is). wasm is the
  // active backend until quantize returns (its plans run on the active one).
  const be = active.syncRead ? active : await backendNamedAsync('wasm');
  const copies = new Map<Tensor, Tensor>();
  for (const t of tensors) {
    if (!(t instanceof Tensor) || t.backend.syncRead || copies.has(t)) continue;
    const c = Tensor.empty(t.shape, t.dtype, be);
    be.write(c.ptr, await t.data());
    copies.set(t, c);
  }
  const on = <T>(t: T) => (t instanceof Tensor ? copies.get(t) ?? t : t) as T;
  const g = new Graph();
  g.values.push(...src.graph.values.map((v) => ({ ...v, tensor: on(v.tensor), sources: v.sources?.map(on) })));
  g.nodes.push(...src.graph.nodes);
  g.inputs = src.graph.inputs;
  g.outputs = src.graph.outputs;
  for (const [k, v] of src.graph.masks) g.masks.set(k, v);
  const copy = new GraphModel(g, src.name, src.inputShape, src.inputNchw, src.outputNchw, src.info, src.boundary);
  copy.classNames = src.classNames;
  setBackend(be);
  try {
    return await quantizeHere(copy, { ...opts, calibration: on(opts.calibration), data: opts.data && { x: on(opts.data.x), y: on(opts.data.y) } });
  } finally {
    setBackend(active);
  }
}

async function quantizeHere(src: GraphModel, opts: QuantizeOptions): Promise<GraphModel> {
  const weights = opts.weights ?? 'int8';
  if (weights !== 'int8' && weights !== 'float16') fail(`weights must be 'int8' or 'float16', got '${String(weights)}'`);
  const activations = opts.activations ?? (weights === 'int8' ? 'int8' : 'float32');
  if (activations !== 'int8' && activations !== 'float32') fail(`activations must be 'int8' or 'float32', got '${String(activations)}'`);
  if (weights === 'float16' && activations === 'int8') fail("int8 activations need int8 weights (weights: 'int8')");
  const keep = new Set(opts.keepFloat ?? []);
  for (const k of keep) if (!src.graph.nodes.some((n) => n.name === k)) fail(`keepFloat names '${k}', which is not a node of '${src.name}' (see model.nodeNames)`);
  if (opts.maxLoss !== undefined) checkMaxLoss(src, opts);
  const g = optimizeForInference(src.graph);

  if (weights === 'float16') {
    const report: QuantizationReport = { weights, activations, nodes: [] };
    for (const v of g.values) {
      if (v.kind !== 'param' || !v.tensor) continue;
      const d = v.tensor.dataSync() as Float32Array;
      const t = Tensor.empty(v.shape.slice());
      t.view().set(d.map((x) => (Math.abs(x) <= 65504 ? halfToFloat(floatToHalf(x)) : x)));
      v.tensor = t;
    }
    for (const n of g.nodes) if (n.op === 'conv2d' || n.op === 'dense') report.nodes.push({ name: n.name, op: n.op, as: 'float16' });
    return finish(src, g, report, 'float16');
  }

  const candidates = candidatesOf(g, keep, opts);
  const chosen = candidates.filter((c) => !c.reason).map((c) => c.node);
  const limit = opts.reduceRange ? 63 : 127;
  const qws = new Map<string, QWeights>(), info = new Map<string, Partial<QuantizedNode>>();
  if (activations === 'int8') {
    const method = opts.method ?? 'auto';
    if (!['minmax', 'percentile', 'mse', 'entropy', 'auto'].includes(method)) fail(`method must be 'minmax', 'percentile', 'mse', 'entropy' or 'auto', got '${String(method)}'`);
    const methods = rangeChoices(method, opts.percentile);
    const stats = await calibrate(src, g, chosen.map((n) => n.inputs[0]), opts);
    const layers = chosen.map((n) => {
      const w = g.values[n.inputs[1]], K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
      const q = quantizeWeights(w.tensor!.dataSync(), K, N, limit);
      const bias = n.inputs[2] !== undefined ? g.values[n.inputs[2]].tensor!.dataSync() as Float32Array : undefined;
      const st = stats.get(n.inputs[0])!;
      // choices that give the same quantization (a small sample's high percentiles are its min / max) run once
      const qws: QWeights[] = [], of: number[] = [];
      for (const m of methods) {
        const input = rangeOf(st, m), k = qws.findIndex((o) => o.input.scale === input.scale && o.input.zeroPoint === input.zeroPoint);
        of.push(k >= 0 ? k : qws.push({ w: q.w, K, N, scale: q.scale, bias, input, filterShape: n.op === 'conv2d' ? w.shape.slice() : undefined }) - 1);
      }
      return { node: n, qws, of };
    });
    const bs = opts.batchSize ?? 32, x = opts.calibration!;
    const measured = layers.length ? await measureLayers(src, g, x, layers, bs) : [];
    const trials = layers.map((l, li) => l.of.map((k) => measured[li][k]));
    // per layer: the choice with the least error at its output (the first of equals), then its bias corrected
    const picks = layers.map((l, li) => {
      let k = 0;
      trials[li].forEach((t, j) => { if (t.err < trials[li][k].err) k = j; });
      return { qw: l.qws[l.of[k]], trial: trials[li][k], method: methods[k] };
    });
    const corrected = opts.biasCorrection === false ? [] : picks.map((p) => correctBias(p.qw, p.trial));
    const after = corrected.length ? await measureLayers(src, g, x, layers.map((l, li) => ({ node: l.node, qws: [corrected[li]] })), bs) : [];
    layers.forEach((l, li) => {
      const p = picks[li], better = after.length > 0 && after[li][0].err < p.trial.err;
      qws.set(l.node.name, better ? corrected[li] : p.qw);
      info.set(l.node.name, {
        input: p.qw.input, method: p.method, error: relativeError(better ? after[li][0] : p.trial),
        ...(methods.length > 1 ? { errors: Object.fromEntries(methods.map((m, j) => [m, relativeError(trials[li][j])])) } : {}),
        ...(after.length ? { biasCorrected: better } : {}),
      });
    });
  } else {
    for (const n of chosen) {
      const w = g.values[n.inputs[1]], K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
      const q = quantizeWeights(w.tensor!.dataSync(), K, N, limit);
      qws.set(n.name, { w: q.w, K, N, scale: q.scale, input: { scale: 1, zeroPoint: 0 } });
    }
  }
  // the model with the given layers int8 (the rest of the chosen ones float, kept by maxLoss: why); each build
  // rewrites a graph of its own (the first takes g, done with)
  let unused: Graph | undefined = g;
  const build = (int8: Set<string>, why = new Map<string, string>()) => {
    const gg = unused ?? optimizeForInference(src.graph);
    unused = undefined;
    const r: QuantizationReport = { weights, activations, nodes: [] };
    const cands = candidatesOf(gg, keep, opts).map((c) => (c.reason || int8.has(c.node.name) ? c : { ...c, reason: why.get(c.node.name) ?? 'kept float' }));
    rewrite(gg, cands, qws, activations === 'int8', limit, r, info);
    return finish(src, gg, r, 'float32');
  };
  const all = new Set(chosen.map((n) => n.name));
  if (opts.maxLoss === undefined) return build(all);
  return keepWorstFloat(src, chosen.map((n) => n.name), build, opts);
}

/**
 * The ranges a method tries: 'auto' min / max, the MSE and entropy clips, and percentiles from a few values in 100,000 to one
 * in 100 clipped (a rare outlier is clipped by a high one; one whose layer weighs it little by a low one: the
 * tensor's own MSE cannot see that, the layer's output error can).
 */
function rangeChoices(method: string, percentile?: number): RangeChoice[] {
  const pct = (p: number): RangeChoice => `percentile ${p}`;
  if (percentile !== undefined && !(percentile > 50 && percentile <= 100)) fail(`percentile must be in (50, 100], got ${percentile}`);
  if (method === 'minmax' || method === 'mse' || method === 'entropy') return [method];
  if (method === 'percentile') return [pct(percentile ?? 99.99)];
  return ['minmax', ...[...new Set([percentile ?? 99.99, 99.999, 99.9, 99])].map(pct), 'mse', 'entropy'];
}

/** The dense, conv2d (groups 1) and depthwise conv2d nodes over constant weights, with why one stays float. */
function candidatesOf(g: Graph, keep: Set<string>, opts: QuantizeOptions): Array<{ node: Node; reason?: string }> {
  const candidates: Array<{ node: Node; reason?: string }> = [];
  for (const n of g.nodes) {
    if (n.op !== 'conv2d' && n.op !== 'dense') continue;
    const w = g.values[n.inputs[1]];
    const inC = n.op === 'conv2d' ? g.values[n.inputs[0]].shape[3] : 0;
    // depthwise: one input channel per group (the int8 depthwise kernel); minInputChannels is about the patch matrix
    const depthwise = n.op === 'conv2d' && inC !== w?.shape[2] && w?.shape[2] === 1;
    let reason: string | undefined;
    if (keep.has(n.name)) reason = 'kept float by keepFloat';
    else if (!w?.tensor || w.kind !== 'param') reason = 'weights are not constant';
    else if (n.op === 'conv2d' && inC !== w.shape[2] && !depthwise) reason = `grouped convolution (${inC / w.shape[2]} groups of ${w.shape[2]} channels): no int8 kernel`;
    else if (n.op === 'conv2d' && !depthwise && w.shape[2] < (opts.minInputChannels ?? 4)) reason = `${w.shape[2]} input channel(s): the float kernel is faster (minInputChannels)`;
    candidates.push({ node: n, reason });
  }
  return candidates;
}

/** The layer's weights with the bias minus the mean int8 error of each output channel (a bias created if none). */
function correctBias(qw: QWeights, t: LayerTrial): QWeights {
  const bias = new Float32Array(qw.N);
  for (let c = 0; c < qw.N; c++) bias[c] = (qw.bias?.[c] ?? 0) - t.meanDiff[c];
  return { ...qw, bias };
}

/** Replaces in g each candidate without a reason by its int8 node (or int8-stored weights), reporting each. */
function rewrite(g: Graph, candidates: Array<{ node: Node; reason?: string }>, qws: Map<string, QWeights>, int8Acts: boolean, limit: number, report: QuantizationReport, info: Map<string, Partial<QuantizedNode>>): void {
  for (const c of candidates) {
    const n = c.node;
    const w = g.values[n.inputs[1]];
    // a layer with no int8 kernel still stores its weights as int8 (computed in float): the file stays small
    const weightOnly = !!c.reason && c.reason.includes('no int8 kernel');
    if (c.reason && !weightOnly) { report.nodes.push({ name: n.name, op: n.op, as: 'float32', reason: c.reason }); continue; }
    if (!int8Acts || weightOnly) {
      // weight-only: the weights become their dequantized values; stored as int8 on export
      const K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
      const q = weightOnly ? quantizeWeights(w.tensor!.dataSync(), K, N, limit) : qws.get(n.name)!;
      const t = Tensor.empty(w.shape.slice());
      const v = t.view();
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) v[k * N + j] = q.w[k * N + j] * q.scale[j];
      g.values[n.inputs[1]] = { ...w, tensor: t, int8: { w: q.w, scale: q.scale } } as typeof w;
      if (weightOnly) report.nodes.push({ name: n.name, op: n.op, as: 'float32', reason: `${c.reason}; weights stored as int8, computed in float` });
      else report.nodes.push({ name: n.name, op: n.op, as: 'int8' });
      continue;
    }
    const qw = qws.get(n.name)!;
    const act = String(n.attrs.activation ?? 'linear');
    const fusable = act === 'linear' || act === 'relu' || act === 'relu6';
    const idx = g.nodes.indexOf(n);
    const qnode: Node = { ...n, op: n.op === 'conv2d' ? 'qconv2d' : 'qdense', inputs: [n.inputs[0]], attrs: { ...n.attrs, q: qw, activation: fusable ? act : 'linear' } };
    if (fusable) {
      g.nodes[idx] = qnode;
    } else {
      // the activation runs after the int8 node, in float
      const mid = g.value({ name: `${n.name}/preact`, shape: g.values[n.outputs[0]].shape.slice(), dtype: 'float32', kind: 'node' });
      g.nodes.splice(idx, 1, { ...qnode, outputs: [mid] }, { ...n, id: -1, op: 'activation', name: `${n.name}/activation`, inputs: [mid], attrs: { activation: act, alpha: n.attrs.alpha ?? 0 } });
    }
    report.nodes.push({ name: n.name, op: n.op, as: 'int8', ...info.get(n.name), input: qw.input });
  }
  g.nodes.forEach((nd, i) => { nd.id = i; });
}

function finish(src: GraphModel, g: Graph, report: QuantizationReport, storage: 'float32' | 'float16'): GraphModel {
  // the same inputs and outputs (names, dtypes, layouts) and class names as the model it came from
  const m = new GraphModel(g, `${src.name}_${report.weights}${report.activations === 'int8' ? '' : '_weights'}`, src.inputShape, src.inputNchw, src.outputNchw, src.info, src.boundary);
  m.quantization = report;
  m.storage = storage;
  m.classNames = src.classNames;
  return m;
}
