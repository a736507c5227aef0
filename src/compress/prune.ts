// Unstructured pruning: masks over the kernels of dense and convolution layers (targets.ts), chosen by a
// score per weight (|w| for magnitude pruning, ½·h·w² for Optimal Brain Damage: saliency.ts), per layer or
// over all targets at once, and held through training.
//
// How the masks hold (as TensorFlow Model Optimization does it): while the model trains with the Pruning
// object among fit's callbacks, each optimizer step (1) recomputes the masks when the schedule says so,
// (2) zeroes the gradients of pruned weights before the optimizer sees them, so momentum, Adam's moments and
// the other optimizers' state stay exactly zero there (every optimizer here maps a zero gradient on a zero
// state to a zero update), and (3) zeroes the pruned weights again after the update, which makes the zeros
// exact whatever the optimizer did. Both passes are one loop over each kernel per step (the digits CNN's
// 105k weights: well under a millisecond), on the CPU: pruning needs a backend that reads back synchronously
// (wasm or the reference backend), and says so elsewhere.
import { GraphModel } from '../graph-model.js';
import { Model } from '../model.js';
import { nearestNames } from '../names.js';
import type { Tensor } from '../tensor.js';
import type { Callback, TrainableModel } from '../train/callbacks.js';
import { Optimizer, type ParamGrad } from '../train/optimizers.js';
import { checkSparsity, constantSparsity, type PruningSchedule } from './schedules.js';
import { pruneTargets, weightSparsity, type PruneTarget } from './targets.js';

/** Which weights compete for the target sparsity: each layer on its own, or all targets together. */
export type PruningScope = 'layer' | 'global';

export interface PruneLowMagnitudeOptions {
  /** When and to which sparsity the masks are recomputed (default: constantSparsity({ targetSparsity: 0.5 }), TF-MOT's default). */
  schedule?: PruningSchedule;
  /** 'layer' (default: each layer to the target sparsity) or 'global' (one threshold over all targets). */
  scope?: PruningScope;
  /** Only these layers (names from eg.pruning.targets(model)); default every dense and conv kernel. */
  layers?: string[];
}

/** A model's pruning state: the targets, their masks, the schedule; pass it to fit as a callback. */
export class Pruning implements Callback {
  readonly targets: readonly PruneTarget[];
  readonly scope: PruningScope;
  readonly schedule?: PruningSchedule;
  /** Optimizer steps taken under this pruning (the schedule's step). */
  step = 0;
  /** 1 where a weight is kept, 0 where it is pruned; absent until the first masks. */
  private readonly masks = new Map<Tensor, Uint8Array>();
  private trained?: TrainableModel;
  private unhook?: () => void;
  /** Undoes the setWeights wrapper (weights set while pruning holds get the masks again). */
  private unwrapSet?: () => void;
  /** Whether a step of the model being trained has been seen updating one of the targets. */
  private checked = false;
  private stripped = false;

  /**
   * trainableOnly: only the kernels training updates (pruning during fit leaves a frozen backbone alone: its
   * features may be cached, and a frozen kernel's zeros would never be compensated).
   */
  constructor(readonly model: Model | GraphModel, opts: { scope?: PruningScope; layers?: string[]; schedule?: PruningSchedule; trainableOnly?: boolean } = {}, who = 'Pruning') {
    if (!(model instanceof Model) && !(model instanceof GraphModel)) {
      throw new Error(`edgegrad.pruning.${who}: expects a model (eg.sequential, eg.model or eg.loadModel), got ${describe(model)}`);
    }
    const scope = opts.scope ?? 'layer';
    if (scope !== 'layer' && scope !== 'global') throw new Error(`edgegrad.pruning.${who}: scope must be 'layer' or 'global', got ${JSON.stringify(scope)}`);
    if (opts.schedule !== undefined && typeof (opts.schedule as { at?: unknown })?.at !== 'function') {
      throw new Error(`edgegrad.pruning.${who}: schedule must be a pruning schedule (eg.pruning.polynomialDecay or constantSparsity), got ${describe(opts.schedule)}`);
    }
    this.scope = scope;
    this.schedule = opts.schedule;
    const trains = opts.trainableOnly ? trainableTensors(model) : undefined;
    this.targets = selectTargets(model, opts.layers, who).filter((t) => !trains || trains.has(t.tensor));
    if (!this.targets.length) throw new Error(`edgegrad.pruning.${who}: model '${model.name}' has no trainable dense or convolution kernel (its prunable ones are frozen: name them in layers to prune them anyway)`);
    const gpu = this.targets.find((t) => !t.tensor.backend.syncRead);
    if (gpu) throw new Error(`edgegrad.pruning.${who}: the weights of '${gpu.layer}' live on backend '${gpu.tensor.backend.name}', which reads back only asynchronously; pruning reads and writes masks on the CPU: build or load the model on wasm`);
  }

  /** The mask of a target (1 kept, 0 pruned), or undefined before the first pruning. */
  maskOf(layer: string): Uint8Array | undefined {
    const t = this.targets.find((x) => x.layer === layer);
    if (!t) throw new Error(`edgegrad.pruning: no pruned layer '${layer}' (layers: ${this.targets.map((x) => x.layer).join(', ')})`);
    return this.masks.get(t.tensor)?.slice();
  }

  /**
   * Prune now to `sparsity`: the weights with the lowest scores (default |w|; `scores[i]` per target, in
   * target order, for other criteria such as OBD's saliency) are masked and set to zero. Per layer, each
   * target loses round(sparsity · size) weights; with global scope, the targets together lose
   * round(sparsity · total), wherever they are. Ties go to the lower index, so the counts are exact.
   */
  prune(sparsity: number, scores?: ArrayLike<number>[], ties?: ArrayLike<number>[]): this {
    checkSparsity(sparsity, 'prune');
    if (scores && (scores.length !== this.targets.length || scores.some((s, i) => s.length !== this.targets[i].tensor.size))) {
      throw new Error(`edgegrad.pruning.prune: scores must be one array per target (${this.targets.length}) of each target's size (${this.targets.map((t) => t.tensor.size).join(', ')})`);
    }
    const score = (i: number): ArrayLike<number> => scores?.[i] ?? absolute(this.targets[i].tensor.view() as Float32Array);
    if (this.scope === 'layer') {
      this.targets.forEach((t, i) => { this.masks.set(t.tensor, lowest(score(i), Math.round(sparsity * t.tensor.size), ties?.[i])); });
    } else {
      const all = concat(this.targets.map((_, i) => score(i)));
      const mask = lowest(all, Math.round(sparsity * all.length), ties && concat(ties));
      let o = 0;
      for (const t of this.targets) { this.masks.set(t.tensor, mask.slice(o, o + t.tensor.size)); o += t.tensor.size; }
    }
    this.applyMasks();
    return this;
  }

  /** @internal A mask chosen elsewhere (OBS picks weights one by one), for one of the targets. */
  setMask(t: Tensor, mask: Uint8Array): void {
    if (!this.targets.some((x) => x.tensor === t) || mask.length !== t.size) throw new Error('edgegrad.pruning: internal: a mask for a tensor that is not a target');
    this.masks.set(t, mask);
  }

  /** Zero the pruned weights (after weights were set from elsewhere, say). */
  applyMasks(): void {
    for (const t of this.targets) {
      const m = this.masks.get(t.tensor);
      if (!m) continue;
      const w = t.tensor.view();
      for (let i = 0; i < m.length; i++) if (!m[i]) w[i] = 0;
      t.tensor.version++; // plans keep packed and folded copies of weights: they refresh on a new version
    }
  }

  /** Zeros per target now (size, zeros, sparsity), as eg.pruning.sparsity reports them. */
  sparsity(): Array<{ layer: string; weight: string; size: number; zeros: number; sparsity: number }> {
    return sparsity(this.model).filter((r) => this.targets.some((t) => t.weight === r.weight));
  }

  // ---- the callback: fit's optimizer steps respect the masks ----

  setModel(m: TrainableModel): void {
    this.trained = m;
  }

  onTrainBegin(): void {
    if (this.stripped) throw new Error('edgegrad.pruning: this pruning was stripped (stripPruning): masks no longer apply; start a new one');
    const m = this.trained, opt = m?.optimizer;
    if (!(opt instanceof Optimizer)) throw new Error('edgegrad.pruning: the model being trained has no optimizer (compile it first)');
    this.unhook?.();
    this.unhook = hookSteps(opt, (items) => this.beforeStep(items), (items) => this.afterStep(items));
    this.checked = false;
    // weights set while the masks hold (earlyStopping's restoreBestWeights, from an epoch of lower sparsity)
    // get the masks again: the model keeps the sparsity it reached
    if (m && !this.unwrapSet) {
      const set = m.setWeights;
      m.setWeights = (w: Tensor[]) => { set.call(m, w); if (!this.stripped) this.applyMasks(); };
      this.unwrapSet = () => { m.setWeights = set; };
    }
    this.applyMasks();
  }

  onTrainEnd(): void {
    this.unhook?.();
    this.unhook = undefined;
  }

  private beforeStep(items: ParamGrad[]): void {
    if (!this.checked) {
      // the callback of another model's pruning (its weights are not the ones this step updates) would
      // prune that model in silence
      if (!items.some((it) => this.targets.some((t) => t.tensor === it.param))) {
        throw new Error(`edgegrad.pruning: this pruning holds the weights of model '${this.model.name}', and the model being trained updates none of them: pass a pruning of the model you fit (eg.pruning.pruneLowMagnitude(thatModel))`);
      }
      this.checked = true;
    }
    const at = this.schedule?.at(this.step);
    if (at?.prune) this.prune(at.sparsity);
    for (const it of items) {
      const m = this.masks.get(it.param);
      if (!m) continue;
      const g = it.param.backend.f32(it.grad, m.length);
      for (let i = 0; i < m.length; i++) if (!m[i]) g[i] = 0;
    }
  }

  private afterStep(items: ParamGrad[]): void {
    for (const it of items) {
      const m = this.masks.get(it.param);
      if (!m) continue;
      const w = it.param.view();
      for (let i = 0; i < m.length; i++) if (!m[i]) w[i] = 0;
    }
    this.step++;
  }

  /** Stop holding the masks (the zeros stay in the weights): what stripPruning does. */
  strip(): Model | GraphModel {
    this.onTrainEnd();
    this.unwrapSet?.();
    this.unwrapSet = undefined;
    this.masks.clear();
    this.stripped = true;
    return this.model;
  }
}

/**
 * Wrap one optimizer's step between `before` and `after` (until the returned function undoes it). The
 * optimizer's own update runs unchanged, so learning-rate schedules, clipping and reduceLROnPlateau work
 * as without pruning.
 */
function hookSteps(opt: Optimizer, before: (items: ParamGrad[]) => void, after: (items: ParamGrad[]) => void): () => void {
  const own = Object.prototype.hasOwnProperty.call(opt, 'applyGradients');
  const inner = opt.applyGradients;
  const wrapped = function (this: Optimizer, items: ParamGrad[]): void {
    before(items);
    inner.call(this, items);
    after(items);
  };
  opt.applyGradients = wrapped;
  return () => {
    if (opt.applyGradients !== wrapped) return; // another hook went on top since: it restores this one
    if (own) opt.applyGradients = inner; else delete (opt as { applyGradients?: unknown }).applyGradients;
  };
}

/** The prunable weights of a model (each dense and conv kernel): layer names, weight names, ops and sizes. */
export function targets(model: Model | GraphModel): Array<{ layer: string; weight: string; op: string; shape: number[] }> {
  return pruneTargets(graphOf(model, 'targets')).map((t) => ({ layer: t.layer, weight: t.weight, op: t.op, shape: t.tensor.shape.slice() }));
}

/** Zero weights per prunable weight of a model, now: { layer, weight, size, zeros, sparsity }. */
export function sparsity(model: Model | GraphModel): Array<{ layer: string; weight: string; size: number; zeros: number; sparsity: number }> {
  return weightSparsity(graphOf(model, 'sparsity'));
}

/**
 * Magnitude pruning on a schedule during training (Han et al. 2015; Zhu & Gupta 2017; TF-MOT's
 * prune_low_magnitude): returns the pruning, to pass to fit as a callback. At the schedule's steps the
 * weights of smallest |w| (per layer, or over all targets with scope 'global') are masked to reach its
 * sparsity; masked weights stay exactly zero through every optimizer step.
 */
export function pruneLowMagnitude(model: Model | GraphModel, opts: PruneLowMagnitudeOptions = {}): Pruning {
  return new Pruning(model, { ...opts, schedule: opts.schedule ?? constantSparsity({ targetSparsity: 0.5 }), trainableOnly: opts.layers === undefined }, 'pruneLowMagnitude');
}

/** TF-MOT's strip_pruning: the masks stop applying (the zeros stay in the weights); returns the model. */
export function stripPruning(p: Pruning): Model | GraphModel {
  if (!(p instanceof Pruning)) throw new Error(`edgegrad.pruning.stripPruning: expects what pruneLowMagnitude (or obd, obs) returned, got ${describe(p)}`);
  return p.strip();
}

/** The graph whose parameters are the model's weights (the same tensors). */
export function graphOf(model: Model | GraphModel, who: string) {
  if (model instanceof GraphModel) return model.graph;
  if (model instanceof Model) return model.inferenceGraph();
  throw new Error(`edgegrad.pruning.${who}: expects a model (eg.sequential, eg.model or eg.loadModel), got ${describe(model)}`);
}

/** The tensors training updates in model (not frozen; layer and weight trainable). */
function trainableTensors(model: Model | GraphModel): Set<Tensor> {
  if (model instanceof GraphModel) return new Set(model.graph.values.filter((v) => v.kind === 'param' && v.tensor && !model.isFrozen(v.tensor)).map((v) => v.tensor!));
  return new Set(model.inferenceGraph().values.filter((v) => v.kind === 'param' && v.tensor && v.trainable === true).map((v) => v.tensor!));
}

function selectTargets(model: Model | GraphModel, layers: string[] | undefined, who: string): PruneTarget[] {
  const all = pruneTargets(graphOf(model, who));
  if (!all.length) throw new Error(`edgegrad.pruning.${who}: model '${model.name}' has no dense or convolution kernels to prune`);
  if (layers === undefined) return all;
  if (!Array.isArray(layers) || !layers.length) throw new Error(`edgegrad.pruning.${who}: layers must be a non-empty array of layer names, got ${describe(layers)}`);
  const names = all.map((t) => t.layer);
  for (const l of layers) {
    if (!names.includes(l)) {
      const near = typeof l === 'string' ? nearestNames(l, names) : [];
      throw new Error(`edgegrad.pruning.${who}: model '${model.name}' has no prunable layer ${JSON.stringify(l)}${near.length ? ` (similar: ${near.join(', ')})` : ''} (prunable: ${names.join(', ')})`);
    }
  }
  return all.filter((t) => layers.includes(t.layer));
}

function absolute(w: Float32Array): Float32Array {
  const a = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) a[i] = Math.abs(w[i]);
  return a;
}

function concat(parts: ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A mask that removes exactly the k lowest scores (1 kept, 0 removed); ties removed in index order. */
export function lowest(score: ArrayLike<number>, k: number, tie?: ArrayLike<number>): Uint8Array {
  const n = score.length, mask = new Uint8Array(n).fill(1);
  if (k <= 0) return mask;
  if (tie) {
    // equal scores (OBD's zero curvature, weights already zero) go by the tie-breaker: the smaller first
    const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a] - score[b] || tie[a] - tie[b] || a - b);
    for (let i = 0; i < Math.min(k, n); i++) mask[order[i]] = 0;
    return mask;
  }
  const sorted = Float64Array.from(score).sort();
  const thr = sorted[Math.min(k, n) - 1];
  let left = k;
  for (let i = 0; i < n && left > 0; i++) if (score[i] < thr) { mask[i] = 0; left--; }
  for (let i = 0; i < n && left > 0; i++) if (score[i] === thr) { mask[i] = 0; left--; }
  return mask;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
