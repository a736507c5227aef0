// Structured (channel) pruning: whole conv filters and dense units are removed, and the layers that read
// them shrink with them (see structured-graph.ts), so the pruned model does less work, not just holds more
// zeros. Channels are ranked by the L1 norm of their filter (Li et al. 2017) or by the first-order Taylor
// estimate of the loss change when they are removed (Molchanov et al. 2017; structured-score.ts). The target
// is a fraction of the FLOPs to keep, spread over the layers uniformly (the same fraction of channels removed
// from every prunable layer) or by sensitivity (a global ranking, below), or a fraction of channels to remove
// per layer. Residual connections: channels that feed an add are not pruned at all (simplest correct choice);
// in MobileNetV2 that leaves each block's projection whole and prunes its expansion channels, which the
// residual does not tie.
import { refuseNonFinite } from '../graph/finite.js';
import { GraphModel } from '../graph-model.js';
import { Graph, resolve } from '../graph/ir.js';
import { optimizeForInference } from '../graph/passes.js';
import { getOp } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import { getBackend } from '../backend/index.js';
import { Model } from '../model.js';
import { nearestNames } from '../names.js';
import type { Tensor } from '../tensor.js';
import { formatShape } from '../tensor.js';
import { analyzeChannels, cutsByValue, flopsWith, prunedShapes, type ChannelGroup, type Keep } from './structured-graph.js';
import { pruneGraphModel, pruneModel, type TensorCuts } from './structured-rebuild.js';
import { channelMeans, l1Scores, taylorScores, type TaylorData } from './structured-score.js';

export type { TaylorData };

export interface PruneChannelsOptions {
  /** Keep this fraction of the FLOPs per example, in (0, 1): 0.5 halves them. Give flops or ratio. */
  flops?: number;
  /**
   * Remove this fraction of the channels, in (0, 1): of every prunable conv / dense layer (a number), or of
   * the layers named ({ name: fraction }; names as in the report, nodes inside an imported graph as
   * 'graph/node'). Give flops or ratio.
   */
  ratio?: number | Record<string, number>;
  /** 'l1': L1 norm of each filter (Li et al. 2017); 'taylor': |sum a dL/da| on `data` (Molchanov et al. 2017). */
  criterion: 'l1' | 'taylor';
  /** Examples (with targets, for Taylor) the Taylor scores and the mean compensation are estimated on. */
  data?: TaylorData;
  /**
   * How a FLOPs target is spread over the layers: 'uniform' (default: the same fraction of channels removed
   * from every prunable layer, found by bisection) or 'sensitivity' (one ranking of every channel by its
   * score, normalized per layer by the layer's L2 norm as Molchanov et al. do, per FLOP its removal saves;
   * the least important per FLOP go first).
   */
  allocation?: 'uniform' | 'sensitivity';
  /** Round each layer's kept channels to a multiple of this (SIMD-friendly widths; default 1). */
  multipleOf?: number;
  /**
   * With `data` (default true then): each removed channel is replaced by its mean activation on the data, folded
   * into what reads it: the next conv's or dense's bias, or the moving mean of the batch norm after it
   * (b += sum_j E[a_j] W_j over the removed inputs j; the bias correction of Nagel et al. 2019, here for
   * pruning). A conv's taps over zero padding make it approximate at the borders.
   */
  compensate?: boolean;
}

export interface ChannelPruneReport {
  criterion: 'l1' | 'taylor';
  allocation: 'uniform' | 'sensitivity' | 'ratio';
  /**
   * Every prunable layer the target applied to: its channels before and after, the indices kept (ascending)
   * and each channel's score under the criterion (higher: more important).
   */
  layers: Array<{ name: string; op: 'conv2d' | 'dense'; channels: number; kept: number; keptIndices: number[]; scores: number[] }>;
  /** Conv / dense layers left whole, and why (a residual add, a model output, ...). */
  tied: Array<{ name: string; reason: string }>;
  /** FLOPs per example as summary() counts them (on the inference graph), before and after. */
  flops: { before: number; after: number };
  /** Parameters (countParams: weights, not batch-norm statistics), before and after. */
  params: { before: number; after: number };
}

export interface PruneChannelsResult<M> {
  model: M;
  report: ChannelPruneReport;
}

const OP = 'edgegrad.pruning.pruneChannels';

function fraction(v: unknown, what: string): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) throw new Error(`${OP}: ${what} must be a number in (0, 1), got ${typeof v === 'number' ? v : JSON.stringify(v)}`);
  return v;
}

/** The forward graph a model runs, and the names of the nodes inference passes fold away (not counted in FLOPs). */
function graphOf(model: Model | GraphModel): { g: Graph; skip: Set<string> } {
  const g = model instanceof GraphModel ? model.graph : model.inferenceGraph();
  const inf = inferenceGraph(model, g);
  const kept = new Set(inf.nodes.map((n) => n.name));
  disposeFolded(inf);
  return { g, skip: new Set(g.nodes.map((n) => n.name).filter((n) => !kept.has(n))) };
}

/** The graph summary() counts FLOPs on: batch norms folded into convs (a built model folds its frozen ones), activations fused. */
function inferenceGraph(model: Model | GraphModel, g: Graph): Graph {
  return model instanceof GraphModel ? optimizeForInference(g) : optimizeForInference(g, { frozenOnly: !model.foldForInference });
}

function disposeFolded(inf: Graph): void {
  for (const v of inf.values) if (v.sources && v.tensor) v.tensor.dispose();
}

/** FLOPs per example of a model, as its summary() reports them. */
export function inferenceFlops(model: Model | GraphModel): number {
  const g = model instanceof GraphModel ? model.graph : model.inferenceGraph();
  const inf = inferenceGraph(model, g);
  let flops = 0;
  for (const n of inf.nodes) {
    const f = getOp(n.op).flops;
    if (f) flops += f(n.inputs.map((i) => resolve(inf.values[i].shape, 1)), n.outputs.map((o) => resolve(inf.values[o].shape, 1)), n.attrs);
  }
  disposeFolded(inf);
  return flops;
}

/** Channels kept of C when a fraction r is removed: at least one, rounded to a multiple of m where C allows. */
function keepCount(C: number, removed: number, m: number): number {
  let k = Math.max(1, C - removed);
  if (m > 1 && C >= m) k = Math.min(C, Math.max(m, Math.round(k / m) * m));
  return k;
}

/** The k highest-scoring channels of a group, ascending (ties: the lower index). */
function topK(scores: Float64Array, k: number): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b).slice(0, k).sort((a, b) => a - b);
}

/**
 * Prune whole channels of a model's conv and dense layers (and shrink what reads them) to a FLOPs target or
 * a channel ratio. Returns a new model of the same class (GraphModel, Sequential or functional Model) with
 * copied weights, untouched by later training of the original, and a report. What was frozen stays
 * frozen (layers' trainable flags, an imported graph's frozen weights): unfreeze what should recover, then
 * compile and fit.
 */
export async function pruneChannels(model: GraphModel, options: PruneChannelsOptions): Promise<PruneChannelsResult<GraphModel>>;
export async function pruneChannels<M extends Model>(model: M, options: PruneChannelsOptions): Promise<PruneChannelsResult<M>>;
export async function pruneChannels(model: Model | GraphModel, options: PruneChannelsOptions): Promise<PruneChannelsResult<Model | GraphModel>> {
  if (!(model instanceof Model) && !(model instanceof GraphModel)) throw new Error(`${OP}: model must be a model (eg.sequential, eg.model or eg.loadModel), got ${model === null ? 'null' : typeof model}`);
  if (!options || typeof options !== 'object') throw new Error(`${OP}: options are required: { flops or ratio, criterion: 'l1' | 'taylor' }`);
  const { criterion, allocation = 'uniform', multipleOf = 1 } = options;
  if (criterion !== 'l1' && criterion !== 'taylor') throw new Error(`${OP}: criterion must be 'l1' or 'taylor', got ${JSON.stringify(criterion)}`);
  if (allocation !== 'uniform' && allocation !== 'sensitivity') throw new Error(`${OP}: allocation must be 'uniform' or 'sensitivity', got ${JSON.stringify(allocation)}`);
  if (!Number.isInteger(multipleOf) || multipleOf < 1) throw new Error(`${OP}: multipleOf must be a positive integer, got ${String(multipleOf)}`);
  if ((options.flops === undefined) === (options.ratio === undefined)) throw new Error(`${OP}: give one target: flops (the fraction of FLOPs to keep) or ratio (the fraction of channels to remove)`);
  if (options.flops !== undefined) fraction(options.flops, 'flops');
  if (criterion === 'taylor' && !options.data) throw new Error(`${OP}: criterion 'taylor' needs data: { x, y } to estimate the loss's sensitivity on`);
  if (options.compensate && !options.data) throw new Error(`${OP}: compensate needs data: { x } to estimate the mean activations of the removed channels on`);

  const { g, skip } = graphOf(model);
  const { groups: all, tied } = analyzeChannels(g);
  const convDense = g.nodes.filter((n) => n.op === 'conv2d' || n.op === 'dense').map((n) => n.name);
  if (all.length === 0) {
    throw new Error(`${OP}: model '${model.name}' has no prunable layer${tied.length ? ` (${tied.map((t) => `'${t.name}' ${t.reason}`).join('; ')})` : ' (no conv2d or dense node whose output channels another conv or dense reads)'}`);
  }

  // which groups a ratio applies to, and how much
  let ratios: Map<string, number> | undefined;
  if (options.ratio !== undefined) {
    ratios = new Map();
    if (typeof options.ratio === 'number') {
      const r = fraction(options.ratio, 'ratio');
      for (const gr of all) ratios.set(gr.name, r);
    } else if (options.ratio && typeof options.ratio === 'object') {
      for (const [name, r] of Object.entries(options.ratio)) {
        fraction(r, `ratio['${name}']`);
        if (!all.some((gr) => gr.name === name)) {
          const t = tied.find((x) => x.name === name);
          if (t) throw new Error(`${OP}: layer '${name}' cannot be pruned: it ${t.reason}`);
          const near = nearestNames(name, all.map((x) => x.name));
          throw new Error(`${OP}: model '${model.name}' has no ${convDense.includes(name) ? 'prunable ' : ''}layer '${name}'${near.length ? ` (similar: ${near.join(', ')})` : ''}; prunable: ${all.map((x) => x.name).join(', ')}`);
        }
        ratios.set(name, r);
      }
    } else {
      throw new Error(`${OP}: ratio must be a number in (0, 1) or { layerName: number }, got ${JSON.stringify(options.ratio)}`);
    }
  }
  const groups = ratios ? all.filter((gr) => ratios!.has(gr.name)) : all;

  const x = options.data ? inputOf(model, g, options.data, criterion === 'taylor') : undefined;
  const scores = await scoresOf(g, groups, criterion, x, options.data);
  const flopsOf = (counts: Map<string, number>) => flopsWith(g, prunedShapes(g, groups, new Map([...counts].map(([k, c]) => [k, Array.from({ length: c }, (_, i) => i)]))), skip);
  const before = flopsWith(g, new Map(), skip);

  let counts: Map<string, number>;
  if (ratios) {
    counts = new Map(groups.map((gr) => [gr.name, keepCount(gr.channels, Math.round(ratios!.get(gr.name)! * gr.channels), multipleOf)]));
  } else {
    const target = options.flops! * before;
    const least = flopsOf(new Map(groups.map((gr) => [gr.name, keepCount(gr.channels, gr.channels, multipleOf)])));
    if (least > target) {
      throw new Error(`${OP}: model '${model.name}' cannot reach ${(options.flops! * 100).toFixed(1)}% of its FLOPs by pruning channels: with one channel left in every prunable layer it keeps ${(least / before * 100).toFixed(1)}% (${tied.length} conv/dense layers are tied and kept whole)`);
    }
    counts = allocation === 'uniform' ? uniform(groups, target, multipleOf, flopsOf) : bySensitivity(groups, scores, target, multipleOf, flopsOf, before);
  }

  const keep: Keep = new Map(groups.map((gr, k) => [gr.name, topK(scores[k], counts.get(gr.name)!)]));
  const cuts: TensorCuts = new Map();
  for (const [id, c] of cutsByValue(groups, keep)) cuts.set(g.values[id].tensor!, c);
  const shifts = new Map<Tensor, Float32Array>();
  try {
    if (x && options.compensate !== false) for (const [id, d] of await meanShifts(g, groups, keep, x, options.data!.batchSize ?? 16)) shifts.set(g.values[id].tensor!, d);
  } finally {
    if (x && x !== options.data!.x) x.dispose();
  }
  const pruned = model instanceof GraphModel ? await pruneGraphModel(model, cuts, shifts) : await pruneModel(model, cuts, shifts);
  return {
    model: pruned,
    report: {
      criterion,
      allocation: ratios ? 'ratio' : allocation,
      layers: groups.map((gr, k) => ({ name: gr.name, op: gr.op, channels: gr.channels, kept: keep.get(gr.name)!.length, keptIndices: keep.get(gr.name)!, scores: Array.from(scores[k]) })),
      tied,
      flops: { before, after: inferenceFlops(pruned) },
      params: { before: model.countParams(), after: pruned.countParams() },
    },
  };
}

/** data.x checked against the model's input, in the graph's layout (an ONNX image model's NCHW boundary: NHWC inside). */
function inputOf(model: Model | GraphModel, g: Graph, data: TaylorData, taylor: boolean): Tensor {
  const want = model instanceof GraphModel ? model.boundary.inputs[0].shape : model.inputs[0].shape.slice(1);
  const x = data.x as Tensor | undefined;
  if (!x || typeof x !== 'object' || !('shape' in x) || x.dtype !== 'float32' || x.shape.length !== want.length + 1 || want.some((s, i) => s !== x.shape[i + 1])) {
    throw new Error(`${OP}: data.x must be float32 [n, ${want.join(', ')}] (the model's input), got ${x && typeof x === 'object' && 'shape' in x ? `${x.dtype} ${formatShape(x.shape)}` : typeof x}`);
  }
  if (taylor && (!data.y || typeof data.y !== 'object' || !('shape' in data.y))) throw new Error(`${OP}: data.y must be a Tensor of targets (criterion 'taylor')`);
  if (g.inputs.length !== 1) throw new Error(`${OP}: data takes models with one input; model '${model.name}' has ${g.inputs.length}`);
  if (!getBackend().syncRead) throw new Error(`${OP}: data (the Taylor criterion, mean compensation) is read back synchronously, which the '${getBackend().name}' backend cannot: use 'l1' without data, or eg.ready({ backend: 'wasm' })`);
  // a NaN would make every score NaN, or be folded into the next layer's bias by the mean compensation
  refuseNonFinite(x, 'pruning.pruneChannels', 'data.x');
  return model instanceof GraphModel && model.boundary.inputs[0].nchw ? runEager('nchwToNhwc', [x])[0] : x;
}

async function scoresOf(g: Graph, groups: ChannelGroup[], criterion: 'l1' | 'taylor', x?: Tensor, data?: TaylorData): Promise<Float64Array[]> {
  if (criterion === 'l1') return Promise.all(groups.map((gr) => l1Scores(g, gr)));
  return taylorScores(g, groups, x!, data as TaylorData & { y: Tensor });
}

/**
 * What each end of a pruned path must add to its output so that the removed channels count as their means:
 * delta_o = sum over removed inputs j of E[a_j] * sum over the kernel's taps of W[.., j, o], by shift value
 * (signed: a batch norm's moving mean takes -delta).
 */
async function meanShifts(g: Graph, groups: ChannelGroup[], keep: Keep, x: Tensor, batchSize: number): Promise<Map<number, Float32Array>> {
  const ends = groups.filter((gr) => keep.get(gr.name)!.length < gr.channels).flatMap((gr) => gr.ends.filter((e) => e.shift).map((e) => ({ gr, e })));
  if (!ends.length) return new Map();
  const means = channelMeans(g, [...new Set(ends.map(({ e }) => e.input))], x, batchSize);
  const out = new Map<number, Float64Array>();
  for (const { gr, e } of ends) {
    const mean = means.get(e.input)!, kept = new Set(e.index(keep.get(gr.name)!));
    const wv = g.values[e.node.inputs[1]], w = (await wv.tensor!.data()) as Float32Array;
    const [ci, co] = wv.shape.slice(-2), taps = w.length / (ci * co);
    const d = out.get(e.shift!.value) ?? new Float64Array(co);
    for (let j = 0; j < ci; j++) {
      if (kept.has(j) || mean[j] === 0) continue;
      for (let t = 0; t < taps; t++) for (let o = 0; o < co; o++) d[o] += e.shift!.sign * mean[j] * w[(t * ci + j) * co + o];
    }
    out.set(e.shift!.value, d);
  }
  return new Map([...out].map(([k, v]) => [k, Float32Array.from(v)]));
}

/** Uniform allocation: the smallest fraction r, the same for every group, whose FLOPs meet the target (bisection). */
function uniform(groups: ChannelGroup[], target: number, m: number, flopsOf: (c: Map<string, number>) => number): Map<string, number> {
  const at = (r: number) => new Map(groups.map((gr) => [gr.name, keepCount(gr.channels, Math.round(r * gr.channels), m)]));
  let lo = 0, hi = 1;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (flopsOf(at(mid)) <= target) hi = mid; else lo = mid;
  }
  return at(hi);
}

/**
 * Allocation by sensitivity: every channel ranked once by its layer-normalized score (score / L2 norm of its
 * layer's scores, Molchanov et al. 2017) divided by the FLOPs one channel of its layer costs; the first k of
 * that order are removed (a layer keeps at least one), k the smallest that meets the target (bisection).
 */
function bySensitivity(groups: ChannelGroup[], scores: Float64Array[], target: number, m: number, flopsOf: (c: Map<string, number>) => number, before: number): Map<string, number> {
  const full = new Map(groups.map((gr) => [gr.name, gr.channels]));
  const order: Array<{ k: number; key: number }> = [];
  groups.forEach((gr, k) => {
    const norm = Math.sqrt(scores[k].reduce((s, v) => s + v * v, 0)) || 1;
    const cost = Math.max(before - flopsOf(new Map([...full, [gr.name, gr.channels - 1]])), 1);
    for (const v of scores[k]) order.push({ k, key: v / norm / cost });
  });
  order.sort((a, b) => a.key - b.key);
  const at = (n: number) => {
    const removed = new Array<number>(groups.length).fill(0);
    for (let i = 0; i < n; i++) removed[order[i].k]++;
    return new Map(groups.map((gr, k) => [gr.name, keepCount(gr.channels, removed[k], m)]));
  };
  let lo = 0, hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (flopsOf(at(mid)) <= target) hi = mid; else lo = mid + 1;
  }
  // rounding to multiples makes the FLOPs step: give back channels, the most important first, while the
  // target still holds (each layer grows by one multiple at a time)
  const counts = at(hi);
  const next = groups.map((_, k) => order.slice(0, hi).filter((o) => o.k === k).map((o) => o.key).sort((a, b) => b - a));
  const open = new Set(groups.map((_, k) => k).filter((k) => counts.get(groups[k].name)! < groups[k].channels));
  while (open.size) {
    const k = [...open].reduce((a, b) => ((next[b][0] ?? -Infinity) > (next[a][0] ?? -Infinity) ? b : a));
    const gr = groups[k], c = counts.get(gr.name)!;
    const grown = new Map(counts).set(gr.name, Math.min(gr.channels, c + m));
    if (flopsOf(grown) > target) { open.delete(k); continue; }
    counts.set(gr.name, grown.get(gr.name)!);
    next[k].splice(0, m);
    if (counts.get(gr.name) === gr.channels) open.delete(k);
  }
  return counts;
}
