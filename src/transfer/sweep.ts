// How many layers to reuse: a cut-depth sweep. For each candidate cut point of a backbone (after a block, a
// pooling, an activation), the frozen features of the cut are computed once, the same small head trains on
// them, and the validation accuracies are compared. Yosinski et al., "How transferable are features in deep
// neural networks?" (NeurIPS 2014): features turn from general to specific with depth, and where the best cut
// lies depends on how far the new task is from the old one; so measure it on the task's own validation split.
import { Tensor } from '../tensor.js';
import { GraphModel } from '../graph-model.js';
import { Model } from '../model.js';
import { rowsOf } from '../data/rows.js';
import { runEager } from '../graph/eager.js';
import { Activation } from '../layers/core.js';
import { gather } from '../data/index.js';
import { headDefaults, headPool, trainHead, type HeadOptions, type HeadResult } from './head.js';

/** A backbone to cut: an imported graph (cut at node names) or a built model (cut at layer names). */
export type Backbone = GraphModel | Model;

/** Options of sweepCuts. */
export interface SweepCutsOptions extends HeadOptions {
  /** the cut points to try, in order (default: cutCandidates(base)) */
  candidates?: string[];
  /** share of the examples held out for validation, from the end as Keras takes it (default 0.2) */
  validationSplit?: number;
  /** held-out examples and labels (instead of validationSplit), in the layout base.predict takes */
  validationData?: [Tensor, Tensor];
  /**
   * stratified k-fold cross-validation instead of one split (k >= 2): each class's examples are dealt to the
   * folds in turn (scikit-learn's StratifiedKFold without shuffling), the head trains k times per cut, each fold
   * scored once, and the accuracies are averaged over all examples; with a few labels, every one of them then
   * counts for validation instead of a fifth. Features are computed once per cut.
   */
  folds?: number;
  /** the head's layers, besides the HeadOptions (pool, hidden) */
  head?: Pick<HeadOptions, 'pool' | 'hidden' | 'maxFlatten'>;
  /** examples per backbone pass when computing features (default 32) */
  featureBatchSize?: number;
  /** called after each cut with its row (progress) */
  onCut?: (row: CutSweepRow, done: number, total: number) => void | Promise<void>;
}

/** One cut's result. */
export interface CutSweepRow {
  /** the node (imported graph) or layer (built model) the backbone was cut after */
  cut: string;
  /** per-example shape of the features (NHWC for maps) */
  featureShape: number[];
  /** how the head turned them into a vector: 'flatten', 'gap' (global average pooling) or 'none' */
  pool: 'flatten' | 'gap' | 'none';
  /** the head's parameters (all that train) */
  params: number;
  /** backbone parameters the cut keeps (frozen) */
  backboneParams: number;
  valAccuracy: number;
  valLoss: number;
  trainAccuracy: number;
  /** with folds: each fold's validation accuracy (valAccuracy is their mean) */
  foldAccuracies?: number[];
  /** seconds: features for the training and validation examples, and the head's training */
  seconds: number;
  featureSeconds: number;
}

/** The sweep: every cut's row, best validation accuracy first (ties: lower validation loss), and the best. */
export interface CutSweep {
  rows: CutSweepRow[];
  best: CutSweepRow;
  /** examples each head trained on (with folds: the most, all but the smallest fold), and those scored */
  train: number;
  validation: number;
  /** the number of folds, with cross-validation */
  folds?: number;
}

/** Ops that only move or pad values: a cut right after them says nothing a neighbouring cut does not. */
const PASSIVE = new Set(['zeroPad2d', 'transpose', 'nhwcToNchw', 'nchwToNhwc', 'identity', 'dropout', 'cast']);

/**
 * The cut points worth trying on a backbone, shallow to deep. An imported graph: the nodes after which one value
 * flows on (block boundaries: not inside a residual branch), except padding and layout nodes, nodes whose only
 * reader is their batch norm or activation (that one is the candidate), the output and, when the output is a
 * softmax, the logits before it. A built model: its layers but the last (and the one before a final softmax
 * activation), and random ones (dropout).
 */
export function cutCandidates(base: Backbone): string[] {
  if (base instanceof GraphModel) {
    const g = base.graph;
    const lastUse = new Map<number, number>(), readers = new Map<number, number[]>();
    g.nodes.forEach((n, i) => n.inputs.forEach((x) => { lastUse.set(x, i); readers.set(x, [...(readers.get(x) ?? []), i]); }));
    const out = g.outputs[0];
    const lastNode = g.nodes.findIndex((n) => n.outputs.includes(out));
    const end = g.nodes[lastNode]?.op === 'activation' && g.nodes[lastNode].attrs.activation === 'softmax'
      ? g.nodes.findIndex((n) => n.outputs.includes(g.nodes[lastNode].inputs[0])) : lastNode;
    const live = new Set<number>(g.inputs), names: string[] = [];
    for (let i = 0; i < end && i >= 0; i++) {
      const n = g.nodes[i];
      for (const x of n.inputs) if (lastUse.get(x) === i) live.delete(x);
      for (const o of n.outputs) if ((lastUse.get(o) ?? -1) > i) live.add(o);
      if (live.size !== 1 || !live.has(n.outputs[0]) || PASSIVE.has(n.op)) continue;
      const rd = readers.get(n.outputs[0]) ?? [];
      // a conv read only by its batch norm, or a value read only by its activation: the next node is the candidate
      const only = rd.length === 1 ? g.nodes[rd[0]] : undefined;
      if (only && (only.op === 'batchNorm' || (only.op === 'activation' && only.attrs.activation !== 'softmax'))) continue;
      if (g.values[n.outputs[0]].dtype === 'int32') continue;
      names.push(n.name);
    }
    return names;
  }
  const ls = base.layers;
  let end = ls.length - 1;
  const last = ls[end];
  if (last instanceof Activation && last.activation === 'softmax') end--;
  return ls.slice(0, Math.max(end, 0)).filter((l) => !l.stochastic).map((l) => l.name);
}

/**
 * The features at a cut for x: base.cut(at).predict(x), in batches of `batchSize` (default 32) so that only one
 * batch's activations are held at once. x is in the layout base.predict takes.
 */
export function cutFeatures(base: Backbone, at: string, x: Tensor, opts: { batchSize?: number } = {}): Tensor {
  const cut = base.cut(at);
  try {
    return predictInBatches(cut, x, opts.batchSize ?? 32);
  } finally {
    cut.dispose();
  }
}

/**
 * m.predict(x) in batches of bs. With `average` (the layout of rank-4 outputs), each example's map is averaged
 * over its positions as it comes (global average pooling): [n, channels] is all that is held, not the maps.
 */
function predictInBatches(m: Backbone, x: Tensor, bs: number, average?: 'nchw' | 'nhwc'): Tensor {
  const n = x.shape[0], parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let s = 0; s < n; s += bs) {
    const rows = rowsOf(x, s, Math.min(n, s + bs));
    const f = m.predict(rows);
    if (!(f instanceof Tensor)) throw new Error(`edgegrad.transfer: model '${m.name}' gives several outputs; a cut gives one`);
    shape = f.shape.slice(1);
    let v = f.dataSync() as Float32Array;
    if (average && f.rank === 4) {
      const b = f.shape[0], [d1, d2, d3] = shape, c = average === 'nchw' ? d1 : d3, hw = (d1 * d2 * d3) / c;
      const g = new Float32Array(b * c);
      for (let i = 0; i < b; i++) {
        for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) g[i * c + k] += v[i * hw * c + (average === 'nchw' ? k * hw + p : p * c + k)];
        for (let k = 0; k < c; k++) g[i * c + k] /= hw;
      }
      v = g;
      shape = [c];
    }
    parts.push(v);
    rows.dispose(); f.dispose();
  }
  const out = Tensor.empty([n, ...shape]);
  const v = out.view();
  let off = 0;
  for (const p of parts) { v.set(p, off); off += p.length; }
  return out;
}

/**
 * The cut-depth sweep: for each candidate cut of `base`, the features of the training and validation examples
 * (computed once per cut), the same head trained on them (HeadOptions: a softmax probe by default, 30 epochs),
 * and its validation accuracy. Rows come best first. x is in the layout base.predict takes (NCHW for an
 * imported NCHW model); y holds class indices [n] or one-hot rows [n, classes].
 */
export async function sweepCuts(base: Backbone, x: Tensor, y: Tensor, opts: SweepCutsOptions = {}): Promise<CutSweep> {
  const op = 'transfer.sweepCuts';
  if (!(base instanceof GraphModel) && !(base instanceof Model)) throw new Error(`edgegrad.${op}: base must be a model (eg.loadModel, eg.sequential or eg.model)`);
  if (!(x instanceof Tensor) || !(y instanceof Tensor)) throw new Error(`edgegrad.${op}: x and y must be Tensors`);
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new Error(`edgegrad.${op}: ${n} examples in x but ${y.shape[0]} labels in y`);
  if (y.rank !== 1 && y.rank !== 2) throw new Error(`edgegrad.${op}: y must be class indices [n] or one-hot [n, classes], got ${JSON.stringify(y.shape)}`);
  const h = headDefaults({ ...opts, ...opts.head }, op);
  const fbs = opts.featureBatchSize ?? 32;
  if (!(Number.isInteger(fbs) && fbs >= 1)) throw new Error(`edgegrad.${op}: featureBatchSize must be a positive integer, got ${fbs}`);
  const all = cutCandidates(base);
  const candidates = opts.candidates ?? all;
  if (!Array.isArray(candidates) || candidates.length === 0) throw new Error(`edgegrad.${op}: no candidate cuts${opts.candidates ? '' : ` in model '${base.name}'`}`);
  // every name is checked before any work: cut() names the model's nodes or layers near a wrong one
  for (const c of candidates) base.cut(c).dispose();
  const folds = opts.folds;
  if (folds !== undefined) {
    if (opts.validationData) throw new Error(`edgegrad.${op}: give folds or validationData, not both`);
    if (!(Number.isInteger(folds) && folds >= 2 && folds <= n)) throw new Error(`edgegrad.${op}: folds must be an integer in [2, ${n}] (the examples), got ${folds}`);
  }
  let xs = x, ys = y, vx: Tensor | undefined, vy: Tensor | undefined;
  if (folds) {
    // every example validates once: no split
  } else if (opts.validationData) {
    [vx, vy] = opts.validationData;
    if (!(vx instanceof Tensor) || !(vy instanceof Tensor) || vx.shape[0] !== vy.shape[0]) throw new Error(`edgegrad.${op}: validationData must be [x, y] tensors with as many examples each`);
  } else {
    const split = opts.validationSplit ?? 0.2;
    const nVal = Math.floor(n * split);
    if (!(split > 0 && split < 1) || nVal < 1 || nVal >= n) throw new Error(`edgegrad.${op}: validationSplit ${split} of ${n} examples leaves no validation or no training examples (give validationData, or a split in (0, 1))`);
    xs = rowsOf(x, 0, n - nVal); ys = rowsOf(y, 0, n - nVal);
    vx = rowsOf(x, n - nVal, n); vy = rowsOf(y, n - nVal, n);
  }
  const nTrain = folds ? n - Math.floor(n / folds) : xs.shape[0], nVal = folds ? n : vx!.shape[0];
  const yv = ys.dataSync();
  const classes = y.rank === 2 ? y.shape[1] : Math.max(...Array.from(yv), ...Array.from(vy?.dataSync() ?? [])) + 1;
  if (!(classes >= 2)) throw new Error(`edgegrad.${op}: the labels hold ${classes} class(es); a classifier needs at least two`);
  const rows: CutSweepRow[] = [];
  try {
    for (const [k, at] of candidates.entries()) {
      const t0 = performance.now();
      const cut = base.cut(at);
      let f: Tensor | undefined, vf: Tensor | undefined;
      try {
        // the cut's per-example shape (NHWC for maps: an imported model's maps leave a cut NCHW), from one example
        const nchw = cut instanceof GraphModel && cut.outputNchw;
        const one = rowsOf(xs, 0, 1), probe = cut.predict(one) as Tensor, ps = probe.shape.slice(1);
        one.dispose(); probe.dispose();
        const mapShape = nchw && ps.length === 3 ? [ps[1], ps[2], ps[0]] : ps;
        // maps the head averages are averaged as they come: the sweep holds [n, channels], not [n, h, w, c]
        const gap = headPool(mapShape, h) === 'gap' ? (nchw ? 'nchw' : 'nhwc') : undefined;
        f = predictInBatches(cut, xs, fbs, gap);
        vf = vx && predictInBatches(cut, vx, fbs, gap);
        // an imported model's maps leave a cut NCHW; the head (as every layer here) takes NHWC
        if (nchw && f.rank === 4) {
          const [a, b] = [runEager('nchwToNhwc', [f])[0], vf && runEager('nchwToNhwc', [vf])[0]];
          f.dispose(); vf?.dispose(); f = a; vf = b;
        }
        const featureSeconds = (performance.now() - t0) / 1000;
        const r: HeadResult & { foldAccuracies?: number[] } = folds ? await crossValidate(f, ys, stratifiedFolds(ys, folds), folds, classes, h) : await trainHead(f, ys, vf!, vy!, classes, h);
        const row: CutSweepRow = {
          cut: at, featureShape: mapShape, pool: gap ? 'gap' : r.pool, params: r.params, backboneParams: cut.countParams(),
          valAccuracy: r.valAccuracy, valLoss: r.valLoss, trainAccuracy: r.trainAccuracy, ...(r.foldAccuracies ? { foldAccuracies: r.foldAccuracies } : {}),
          seconds: (performance.now() - t0) / 1000, featureSeconds,
        };
        rows.push(row);
        await opts.onCut?.(row, k + 1, candidates.length);
      } finally {
        f?.dispose(); vf?.dispose(); cut.dispose();
      }
    }
  } finally {
    if (xs !== x) { xs.dispose(); ys.dispose(); vx?.dispose(); vy?.dispose(); }
  }
  const order = rows.slice().sort((a, b) => b.valAccuracy - a.valAccuracy || a.valLoss - b.valLoss);
  return { rows: order, best: order[0], train: nTrain, validation: nVal, ...(folds ? { folds } : {}) };
}

/**
 * Each example's fold: the examples of a class, in order, dealt to the folds in turn, each class starting where
 * the previous one stopped, so that every fold holds each class in proportion and the folds differ in size by
 * at most one. (Folds by position, i mod k, would put a whole class in one fold when the data cycles through
 * k classes.) y: class indices [n] or one-hot rows.
 */
export function stratifiedFolds(y: Tensor, folds: number): Int32Array {
  const v = y.dataSync(), n = y.shape[0], k = y.rank === 2 ? y.shape[1] : 0;
  const label = (i: number) => { if (!k) return v[i]; let b = 0; for (let c = 1; c < k; c++) if (v[i * k + c] > v[i * k + b]) b = c; return b; };
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) { const c = label(i); byClass.set(c, [...(byClass.get(c) ?? []), i]); }
  const out = new Int32Array(n);
  let next = 0;
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) for (const i of byClass.get(c)!) { out[i] = next; next = (next + 1) % folds; }
  return out;
}

/** k-fold cross-validation of the head on features f, example i held out in fold[i]. */
async function crossValidate(f: Tensor, y: Tensor, fold: Int32Array, folds: number, classes: number, h: Required<HeadOptions>): Promise<HeadResult & { foldAccuracies: number[] }> {
  const n = f.shape[0], results: HeadResult[] = [], sizes: number[] = [];
  for (let k = 0; k < folds; k++) {
    const tr: number[] = [], va: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === k ? va : tr).push(i);
    sizes.push(va.length);
    const parts = [gather(f, tr), gather(y, tr), gather(f, va), gather(y, va)];
    try {
      results.push(await trainHead(parts[0], parts[1], parts[2], parts[3], classes, h));
    } finally {
      parts.forEach((t) => t.dispose());
    }
  }
  // each fold weighs by its examples, so the mean is the accuracy over all n examples
  const w = (k: number) => sizes[k] / n;
  const mean = (g: (r: HeadResult) => number) => results.reduce((s, r, k) => s + g(r) * w(k), 0);
  return {
    ...results[0], valAccuracy: mean((r) => r.valAccuracy), valLoss: mean((r) => r.valLoss), trainAccuracy: results.reduce((s, r) => s + r.trainAccuracy, 0) / folds,
    seconds: results.reduce((s, r) => s + r.seconds, 0), foldAccuracies: results.map((r) => r.valAccuracy),
  };
}
