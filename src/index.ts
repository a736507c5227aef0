// edgegrad's public API: this file and nothing else is the contract (see DESIGN.md).
export { ready, getBackend } from './backend/index.js';
export type { ReadyOptions, BackendName, WasmBuild } from './backend/index.js';
export { backends, loadBackends } from './backend/index.js';
export type { Backend, BackendInfo } from './backend/index.js';
export { supportedBuilds } from './backend/index.js';
export { Tensor, tensor, scalar, zeros, ones, fill } from './tensor.js';
export type { DType, TensorLike, TypedArray, NestedArray } from './tensor.js';

export { matMul } from './ops/matmul.js';
export { conv2d, depthwiseConv2d } from './ops/conv.js';
export type { Padding } from './ops/conv.js';
export { maxPool, avgPool, globalAvgPool } from './ops/pool.js';
export {
  activation, linear, relu, relu6, leakyRelu, prelu, rrelu, elu, selu, sigmoid, tanh, softplus, gelu, step, sign, hardSigmoid,
  softmax, logSoftmax, maxout, ACTIVATIONS,
} from './ops/activation.js';
export type { ActivationName, RReluOptions } from './ops/activation.js';
export { batchNorm } from './ops/norm.js';
export { add, sub, mul, div, maximum, minimum, pow, neg, abs, exp, log, sqrt, square, reciprocal } from './ops/elementwise.js';
export { sum, mean, max, min, argMax } from './ops/reduce.js';
export { losses, LOSSES } from './ops/loss.js';
export type { LossName, LossOptions } from './ops/loss.js';
export { randomUniform, randomNormal, truncatedNormal, dropout, setSeed } from './ops/random.js';

import { fusedMatMul } from './ops/matmul.js';
import { fusedConv2d } from './ops/conv.js';
export type { FusedMatMulArgs } from './ops/matmul.js';
export type { FusedConv2DArgs } from './ops/conv.js';
/** Ops with a fused bias + activation epilogue (TF.js tf.fused). */
export const fused = { matMul: fusedMatMul, conv2d: fusedConv2d };

import { int8MatMul, int8Conv2d } from './ops/quant.js';
/** The exact integer kernels: sum (a - za) * w in i32 for u8 activations and s8 weights. */
export const int8 = { matMul: int8MatMul, conv2d: int8Conv2d };
type QuantizeModule = typeof import('./quantize/index.js');
/**
 * int8 / float16 post-training quantization (see QuantizeOptions): loaded on first use (calibration and
 * the QDQ graph rewrite are not what a page running a model needs).
 */
export const quantize = async (...a: Parameters<QuantizeModule['quantize']>): ReturnType<QuantizeModule['quantize']> => (await import('./quantize/index.js')).quantize(...a);
export type { QuantizeOptions, QuantizationReport } from './quantize/index.js';
import { resizeBilinear, resizeNearestNeighbor, grayscaleToRGB, resizeGrad } from './ops/image.js';
/** Image ops (TF.js tf.image names), NHWC. */
export const image = { resizeBilinear, resizeNearestNeighbor, grayscaleToRGB };
export type { ResizeMethod } from './ops/image.js';

import { matMulGrad } from './ops/matmul.js';
import { conv2dBackpropInput, conv2dBackpropFilter } from './ops/conv.js';
import { maxPoolGrad, avgPoolGrad, globalAvgPoolGrad } from './ops/pool.js';
import { activationGrad, preluGrad, maxoutGrad } from './ops/activation.js';
import { batchNormTrain, batchNormGrad } from './ops/norm.js';
import { binaryGrad, sumToShape } from './ops/elementwise.js';
import { reduceGrad } from './ops/reduce.js';
import { lossAndGrad } from './ops/loss.js';
import { dropoutMask } from './ops/random.js';
/**
 * The backward kernels, for custom training loops (the trainer builds on the same functions): each takes
 * the forward inputs and the upstream gradient and returns gradients in the layouts of the inputs.
 */
export const backprop = {
  matMul: matMulGrad,
  conv2dInput: conv2dBackpropInput,
  conv2dFilter: conv2dBackpropFilter,
  maxPool: maxPoolGrad,
  avgPool: avgPoolGrad,
  globalAvgPool: globalAvgPoolGrad,
  activation: activationGrad,
  prelu: preluGrad,
  maxout: maxoutGrad,
  batchNormTrain,
  batchNorm: batchNormGrad,
  binary: binaryGrad,
  sumToShape,
  reduce: reduceGrad,
  loss: lossAndGrad,
  dropoutMask,
  resize: resizeGrad,
};

// ---- models, layers, training ----
import { Model, Sequential } from './model.js';
import type { Layer, SymbolicTensor } from './layers/layer.js';
export { Model, Sequential, Features } from './model.js';
export type { CompileArgs, FitArgs, History, LossSpec, LossesSpec, Targets } from './model.js';
export { layers, input, Layer, SymbolicTensor } from './layers/index.js';
export type { BatchNormMode } from './layers/layer.js';
export { optimizers, Optimizer } from './train/optimizers.js';
import { powerDecay, exponentialDecay, piecewiseConstant } from './train/schedules.js';
export const schedules = { powerDecay, exponentialDecay, piecewiseConstant };
export type { Schedule } from './train/schedules.js';
export { initializers } from './train/initializers.js';
export { regularizers, constraints } from './train/regularizers.js';
export { Perceptron } from './train/perceptron.js';
export type { MetricName } from './train/metrics.js';
import { earlyStopping, reduceLROnPlateau } from './train/callbacks.js';
export type { Callback, Logs } from './train/callbacks.js';
export const callbacks = { earlyStopping, reduceLROnPlateau };
import * as dataHelpers from './data/index.js';
export const data = dataHelpers;

/** A model whose layers run one after another (layers[0] needs an inputShape). */
export function sequential(layersOrConfig: Array<Layer | import('./graph-model.js').GraphModel> | { layers?: Array<Layer | import('./graph-model.js').GraphModel>; name?: string } = {}): Sequential {
  return new Sequential(Array.isArray(layersOrConfig) ? { layers: layersOrConfig } : layersOrConfig);
}

/** A functional model over a DAG of layers: eg.model({ inputs, outputs }). */
export function model(cfg: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string }): Model {
  return new Model(cfg);
}

// ---- workers: models that load, train and predict off this thread ----
type WorkerModule = typeof import('./worker/client.js');
/**
 * A worker (Web Worker, worker_threads, a Deno / Bun worker) that loads, trains and runs models off this
 * thread (see WorkerOptions): its client loads on first use, as a page running a model on its own thread
 * never needs it.
 */
export const worker = async (opts: import('./worker/client.js').WorkerOptions = {}): ReturnType<WorkerModule['worker']> => {
  // the worker script beside this module (dist/worker.js beside dist/index.js), resolved here: the client is a
  // chunk of its own elsewhere (without a URL here, the client says how to give one)
  let url = opts.url;
  if (url === undefined) try { url = new URL('./worker.js', import.meta.url); } catch { /* no module URL */ }
  return (await import('./worker/client.js')).worker(url === undefined ? opts : { ...opts, url });
};
export type { EdgeWorker, RemoteModel } from './worker/client.js';
export type { WorkerOptions, WorkerInfo, RemoteFitArgs, RemoteCallbacks, LayerSpec, OptimizerSpec } from './worker/client.js';
export type { Pacing } from './train/pace.js';

// ---- model I/O (the ONNX importer and its protobuf code load on first use, as a separate chunk) ----
export type { GraphModel, SaveOptions } from './graph-model.js';
export type { LoadOptions } from './io/index.js';
/**
 * Load a model: ONNX bytes, a path or URL of an .onnx file or of a TensorFlow.js model.json (its shards
 * are read beside it), or { modelJson, weights } for a TensorFlow.js model in memory. A string without a
 * scheme is a path in Node, Deno, Bun and Electron's main process, and a URL relative to the page (or the
 * worker's script) in a browser.
 */
export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer | import('./io/index.js').TfjsModelSource, options: import('./io/index.js').LoadOptions = {}): Promise<import('./graph-model.js').GraphModel> {
  const io = await import('./io/index.js');
  return io.loadModel(source, options);
}

/** The models saved in this browser's IndexedDB (`model.save('indexeddb://name')`): each one's URL, size and when it was saved. */
export async function listModels(): Promise<Array<{ url: string; bytes: number; savedAt: Date }>> {
  const io = await import('./io/index.js');
  return (await io.idbList()).map((m) => ({ url: `indexeddb://${m.name}`, bytes: m.bytes, savedAt: new Date(m.savedAt) }));
}

/** Delete a model saved as 'indexeddb://name'; false if none was saved by that name. */
export async function removeModel(url: string): Promise<boolean> {
  if (typeof url !== 'string' || !url.startsWith('indexeddb://')) throw new Error(`edgegrad.removeModel: expects an 'indexeddb://name' URL, got ${JSON.stringify(url)}`);
  const io = await import('./io/index.js');
  return io.idbRemove(url.slice('indexeddb://'.length));
}

/** The ONNX bytes (opset 17) of a model built, trained or imported in edgegrad, runnable by ONNX Runtime. */
export async function toOnnx(model: Model | import('./graph-model.js').GraphModel, options: import('./graph-model.js').SaveOptions = {}): Promise<Uint8Array> {
  const io = await import('./io/index.js');
  return io.toOnnx(model.exportSource(options));
}

// ---- smaller networks: distillation, growing ----
// the training extras below load on first use, as chunks of their own: a page that runs a model loads none
/** Knowledge distillation (Hinton et al. 2015): train `student` on `teacher`'s softened outputs (see DistillArgs). */
export async function distill(...args: Parameters<typeof import('./compress/distill.js').distill>): ReturnType<typeof import('./compress/distill.js').distill> {
  return (await import('./compress/distill.js')).distill(...args);
}
export type { DistillArgs, DistillHistory, Teacher } from './compress/distill.js';
/** Cascade correlation (Fahlman & Lebiere 1990): a dense network grown unit by unit on (x, y). */
export async function cascadeCorrelation(...args: Parameters<typeof import('./compress/cascade.js').cascadeCorrelation>): ReturnType<typeof import('./compress/cascade.js').cascadeCorrelation> {
  return (await import('./compress/cascade.js')).cascadeCorrelation(...args);
}
export type { CascadeArgs, CascadeResult, CascadeStep, CascadeActivation, CascadeLoss } from './compress/cascade.js';

// ---- pretraining on unlabelled data: greedy (denoising) autoencoders, RBMs (CD-k), contrastive (NT-Xent) ----
/** Pretrain a model's layers on unlabelled x: greedy (denoising) autoencoders, RBMs, or contrastive (see PretrainArgs). */
export async function pretrain(...args: Parameters<typeof import('./pretrain/index.js').pretrain>): ReturnType<typeof import('./pretrain/index.js').pretrain> {
  return (await import('./pretrain/index.js')).pretrain(...args);
}
export type { PretrainArgs, PretrainLayerReport, PretrainMethod, PretrainNoise, PretrainReport, VisibleUnits } from './pretrain/index.js';

// ---- pruning: magnitude on a schedule (TF-MOT names), Optimal Brain Damage / Surgeon ----
import { pruneLowMagnitude, stripPruning, sparsity as pruningSparsity, targets as pruneTargets } from './compress/prune.js';
import { polynomialDecay, constantSparsity } from './compress/schedules.js';
type SaliencyModule = typeof import('./compress/saliency.js');
const saliencyModule = (): Promise<SaliencyModule> => import('./compress/saliency.js');
// second-order pruning estimates the Hessian on data (seconds of work): loaded on first use, each a Promise
const obd = async (...a: Parameters<SaliencyModule['obd']>): Promise<import('./compress/prune.js').Pruning> => (await saliencyModule()).obd(...a);
const obs = async (...a: Parameters<SaliencyModule['obs']>): Promise<import('./compress/prune.js').Pruning> => (await saliencyModule()).obs(...a);
const hessianDiagonal = async (...a: Parameters<SaliencyModule['hessianDiagonal']>): ReturnType<SaliencyModule['hessianDiagonal']> extends infer R ? Promise<R> : never => (await saliencyModule()).hessianDiagonal(...a);
type PruneChannelsOptions = import('./compress/structured.js').PruneChannelsOptions;
type PruneChannelsResult<M> = import('./compress/structured.js').PruneChannelsResult<M>;
type GraphModel = import('./graph-model.js').GraphModel;
/** Structured pruning (see PruneChannelsOptions): loaded on first use; the result is the same kind of model. */
async function pruneChannels(model: GraphModel, options: PruneChannelsOptions): Promise<PruneChannelsResult<GraphModel>>;
async function pruneChannels<M extends Model>(model: M, options: PruneChannelsOptions): Promise<PruneChannelsResult<M>>;
async function pruneChannels(model: Model | GraphModel, options: PruneChannelsOptions): Promise<PruneChannelsResult<Model | GraphModel>> {
  return (await import('./compress/structured.js')).pruneChannels(model as GraphModel, options);
}
/**
 * Unstructured pruning: `pruneLowMagnitude(model, { schedule, scope, layers })` returns a Pruning to pass to
 * fit as a callback (masks held through every optimizer step); `obd` / `obs` prune by second-order
 * saliency; `sparsity(model)` counts zero weights per layer.
 */
export const pruning = {
  pruneLowMagnitude,
  polynomialDecay,
  constantSparsity,
  stripPruning,
  sparsity: pruningSparsity,
  targets: pruneTargets,
  obd,
  obs,
  hessianDiagonal,
  /** Structured pruning: whole conv channels / dense units removed, the layers that read them shrunk (a faster model). */
  pruneChannels,
};
export { Pruning } from './compress/prune.js';
export type { PruneLowMagnitudeOptions, PruningScope } from './compress/prune.js';
export type { PruningSchedule } from './compress/schedules.js';
export type { HessianEstimate, HessianOptions, ObdOptions, ObsOptions } from './compress/saliency.js';
export type { PruneChannelsOptions, PruneChannelsResult, ChannelPruneReport, TaylorData } from './compress/structured.js';

// ---- reports: training curves, the confusion matrix, accuracy against labels (one self-contained HTML page) ----
type ConfusionModule = typeof import('./report/confusion.js');
/** The confusion matrix of a classifier on (x, y): loaded on first use, with the rest of the reports' tools (a Promise). */
export const confusionMatrix = async (...a: Parameters<ConfusionModule['confusionMatrix']>): Promise<number[][]> => await (await import('./report/confusion.js')).confusionMatrix(...a);
type ReportModule = typeof import('./report/index.js');
const reportModule = (): Promise<ReportModule> => import('./report/index.js');
/**
 * `html(data)`: the report page as a string (inline SVG, no script); `lineChart` and `confusionTable` its
 * parts. Loaded on first use (a chunk of its own): each returns a Promise.
 */
export const report = {
  html: async (...a: Parameters<ReportModule['trainingReport']>): Promise<string> => (await reportModule()).trainingReport(...a),
  lineChart: async (...a: Parameters<ReportModule['lineChart']>): Promise<string> => (await reportModule()).lineChart(...a),
  confusionTable: async (...a: Parameters<ReportModule['confusionTable']>): Promise<string> => (await reportModule()).confusionTable(...a),
};
export type { ReportData, LabelsPoint, Series } from './report/index.js';

// ---- transfer learning: where to cut a backbone, accuracy against labels ----
type TransferModule = typeof import('./transfer/index.js');
const transferModule = (): Promise<TransferModule> => import('./transfer/index.js');
/**
 * `sweepCuts(base, x, y, opts)`: the same small head trained on the frozen features of each candidate cut
 * (cutCandidates), validation accuracies best first; `cutFeatures(base, at, x)`: base.cut(at).predict(x) in
 * batches; `labelsCurve(features, y, valFeatures, valY)`: accuracy with k labelled examples per class.
 */
export const transfer = {
  sweepCuts: async (...a: Parameters<TransferModule['sweepCuts']>): ReturnType<TransferModule['sweepCuts']> => (await transferModule()).sweepCuts(...a),
  cutCandidates: async (...a: Parameters<TransferModule['cutCandidates']>): Promise<string[]> => (await transferModule()).cutCandidates(...a),
  cutFeatures: async (...a: Parameters<TransferModule['cutFeatures']>): Promise<import('./tensor.js').Tensor> => (await transferModule()).cutFeatures(...a),
  labelsCurve: async (...a: Parameters<TransferModule['labelsCurve']>): ReturnType<TransferModule['labelsCurve']> => (await transferModule()).labelsCurve(...a),
};
export type { Backbone, SweepCutsOptions, CutSweep, CutSweepRow, LabelsCurvePoint, HeadOptions } from './transfer/index.js';
