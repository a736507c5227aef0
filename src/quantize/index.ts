// Post-training quantization: eg.quantize(model, { weights, activations, calibration }).
//   weights 'int8': symmetric per output channel, activations 'int8': affine per tensor (u8) from the
//   min / max (or a percentile) of each quantized layer's input over calibration batches (calibrate.ts).
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
import { calibrate } from './calibrate.js';
import { floatToHalf, halfToFloat } from '../io/half.js';
import { Tensor } from '../tensor.js';

export interface QuantizeOptions {
  /** 'int8' (default) or 'float16' */
  weights?: 'int8' | 'float16';
  /** with int8 weights: 'int8' (default; needs calibration) or 'float32' (weight-only) */
  activations?: 'int8' | 'float32';
  /** representative inputs [n, ...inputShape] (the model's boundary layout), at least one example */
  calibration?: Tensor;
  /** activation ranges: 'minmax' (default) or 'percentile' (clip the tails: see percentile) */
  method?: 'minmax' | 'percentile';
  /** for method 'percentile': the share of values inside the range, default 99.99 */
  percentile?: number;
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
  nodes: Array<{ name: string; op: string; as: 'int8' | 'float32' | 'float16'; reason?: string; input?: ActQuant }>;
}

function fail(msg: string): never {
  throw new Error(`edgegrad.quantize: ${msg}`);
}

/** A quantized copy of model (its weights are copied; the original is untouched). */
export async function quantize(model: Model | GraphModel, opts: QuantizeOptions = {}): Promise<GraphModel> {
  const src = model instanceof Model
    ? new GraphModel(model.inferenceGraph(), model.name, model.inputShapeOf, false, false, { format: 'edgegrad', opset: 17, producer: 'edgegrad' })
    : model;
  const onGpu = src.graph.values.find((v) => v.tensor && !v.tensor.backend.syncRead);
  if (onGpu) fail(`model '${src.name}' has its weights on the '${onGpu.tensor!.location}' backend: quantize it on wasm (the int8 kernels run there)`);
  const weights = opts.weights ?? 'int8';
  if (weights !== 'int8' && weights !== 'float16') fail(`weights must be 'int8' or 'float16', got '${String(weights)}'`);
  const activations = opts.activations ?? (weights === 'int8' ? 'int8' : 'float32');
  if (activations !== 'int8' && activations !== 'float32') fail(`activations must be 'int8' or 'float32', got '${String(activations)}'`);
  if (weights === 'float16' && activations === 'int8') fail("int8 activations need int8 weights (weights: 'int8')");
  const keep = new Set(opts.keepFloat ?? []);
  for (const k of keep) if (!src.graph.nodes.some((n) => n.name === k)) fail(`keepFloat names '${k}', which is not a node of '${src.name}' (see model.nodeNames)`);
  const g = optimizeForInference(src.graph);
  const report: QuantizationReport = { weights, activations, nodes: [] };

  if (weights === 'float16') {
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

  // the candidates: dense, conv2d (groups 1) and depthwise conv2d over constant weights
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
  const chosen = candidates.filter((c) => !c.reason).map((c) => c.node);
  const ranges = activations === 'int8' ? await calibrate(src, g, chosen.map((n) => n.inputs[0]), opts) : undefined;
  const limit = opts.reduceRange ? 63 : 127;
  for (const c of candidates) {
    const n = c.node;
    const w = g.values[n.inputs[1]];
    // a layer with no int8 kernel still stores its weights as int8 (computed in float): the file stays small
    const weightOnly = !!c.reason && c.reason.includes('no int8 kernel');
    if (c.reason && !weightOnly) { report.nodes.push({ name: n.name, op: n.op, as: 'float32', reason: c.reason }); continue; }
    const K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
    const q = quantizeWeights(w.tensor!.dataSync(), K, N, limit);
    if (!ranges || weightOnly) {
      // weight-only: the weights become their dequantized values; stored as int8 on export
      const t = Tensor.empty(w.shape.slice());
      const v = t.view();
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) v[k * N + j] = q.w[k * N + j] * q.scale[j];
      g.values[n.inputs[1]] = { ...w, tensor: t, int8: { w: q.w, scale: q.scale } } as typeof w;
      if (weightOnly) report.nodes.push({ name: n.name, op: n.op, as: 'float32', reason: `${c.reason}; weights stored as int8, computed in float` });
      else report.nodes.push({ name: n.name, op: n.op, as: 'int8' });
      continue;
    }
    const input = ranges.get(n.inputs[0])!;
    const bias = n.inputs[2] !== undefined ? g.values[n.inputs[2]].tensor!.dataSync() as Float32Array : undefined;
    const qw: QWeights = { w: q.w, K, N, scale: q.scale, bias, input, filterShape: n.op === 'conv2d' ? w.shape.slice() : undefined };
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
    report.nodes.push({ name: n.name, op: n.op, as: 'int8', input });
  }
  g.nodes.forEach((nd, i) => { nd.id = i; });
  return finish(src, g, report, 'float32');
}

function finish(src: GraphModel, g: Graph, report: QuantizationReport, storage: 'float32' | 'float16'): GraphModel {
  // the same inputs and outputs (names, dtypes, layouts) and class names as the model it came from
  const m = new GraphModel(g, `${src.name}_${report.weights}${report.activations === 'int8' ? '' : '_weights'}`, src.inputShape, src.inputNchw, src.outputNchw, src.info, src.boundary);
  m.quantization = report;
  m.storage = storage;
  m.classNames = src.classNames;
  return m;
}
