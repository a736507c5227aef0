// Second-order pruning: Optimal Brain Damage (LeCun, Denker & Solla 1990) and Optimal Brain Surgeon
// (Hassibi & Stork 1993), with the Hessian of the loss estimated on data.
//
// Which Hessian. The exact second derivatives of a network's loss are not available for every op here, so
// both use the Fisher information of the model's own predictive distribution, which for a softmax output
// with cross-entropy equals the Gauss-Newton matrix exactly: with z the logits, p = softmax(z) and
// J = dz/dw, GN = Jᵀ (diag(p) - p pᵀ) J = Σ_c p_c g_c g_cᵀ, where g_c = ∇_w (-log p_c) = Jᵀ(p - e_c) is the
// gradient of the loss as if the label were c. So the GN diagonal is Σ_c p_c g_c², averaged over examples:
// one backward pass per class per example, batch 1, in inference mode (batch norms with their moving
// statistics, no dropout). It needs no labels. 'empirical' instead averages g_y² for the true labels y (the
// empirical Fisher: one pass per example, but near zero where the model is already right). Both are
// positive semi-definite: what OBD's and OBS's quadratic models of the loss need, where the true Hessian
// of a network away from a minimum is not.
import { buildBackward } from '../autodiff.js';
import { getBackend } from '../backend/index.js';
import { Plan } from '../graph/executor.js';
import { refuseNonFinite } from '../graph/finite.js';
import { sizeOfShape } from '../graph/ir.js';
import { lossOnLogits } from '../graph/passes.js';
import { GraphModel } from '../graph-model.js';
import { Model, Sequential } from '../model.js';
import { Tensor, tensor } from '../tensor.js';
import { Pruning, type PruningScope } from './prune.js';
import { checkSparsity } from './schedules.js';
import type { PruneTarget } from './targets.js';

/** Which estimate of the Hessian's diagonal: the Gauss-Newton / Fisher one (default) or the empirical Fisher. */
export type HessianEstimate = 'fisher' | 'empirical';

export interface HessianOptions {
  /** inputs [n, ...] as predict takes them */
  x: Tensor;
  /** integer class labels (int32 tensor [n] or Int32Array); needed for hessian 'empirical' only */
  y?: Tensor | Int32Array;
  /** 'fisher' (default: Σ_c p_c g_c², the Gauss-Newton diagonal of softmax cross-entropy) or 'empirical' (g_y²) */
  hessian?: HessianEstimate;
  /** how many examples (the first of x) to average over: default all, at most 1,024 unless given (the digits CNN: 256 examples prune 70% to 97.97% test accuracy, 1,024 to 98.14%, 4,000 no better) */
  samples?: number;
  /** only these layers (names from eg.pruning.targets) */
  layers?: string[];
}

/**
 * The diagonal of the Hessian of the mean cross-entropy loss for each prunable weight (one Float64Array per
 * layer, in the layout of its kernel), estimated as the module comment says.
 */
export function hessianDiagonal(model: Model | GraphModel, opts: HessianOptions): Array<{ layer: string; weight: string; diagonal: Float64Array }> {
  const p = new Pruning(model, { layers: opts?.layers }, 'hessianDiagonal');
  const diag = estimateDiagonal(model, p.targets, opts, 'hessianDiagonal');
  return p.targets.map((t, i) => ({ layer: t.layer, weight: t.weight, diagonal: diag[i] }));
}

export interface ObdOptions extends HessianOptions {
  /** the share of the prunable weights to remove, in [0, 1) */
  sparsity: number;
  /** 'global' (default: the saliencies estimate the loss increase, comparable across layers) or 'layer' */
  scope?: PruningScope;
}

/**
 * Optimal Brain Damage: prune the weights of least saliency s_i = ½ h_ii w_i² (the loss increase the
 * quadratic model predicts for setting w_i to zero, with the off-diagonal terms dropped), h the Hessian
 * diagonal above. Returns the pruning (masks fixed: retrain with it among fit's callbacks, as the paper's
 * "prune, retrain" loop). The pruned weights are zero on return.
 */
export function obd(model: Model | GraphModel, opts: ObdOptions): Pruning {
  if (!opts || typeof opts !== 'object') throw new Error('edgegrad.pruning.obd: takes { x, sparsity, y?, hessian?, samples?, scope?, layers? }');
  const sparsity = checkSparsity(opts.sparsity, 'obd');
  const p = new Pruning(model, { scope: opts.scope ?? 'global', layers: opts.layers }, 'obd');
  const h = estimateDiagonal(model, p.targets, opts, 'obd');
  const saliency = p.targets.map((t, i) => {
    const w = t.tensor.view(), s = new Float64Array(w.length);
    for (let j = 0; j < w.length; j++) s[j] = 0.5 * h[i][j] * w[j] * w[j];
    return s;
  });
  // equal saliencies (no curvature there, or weights already zero) go by |w|: zeros first, so pruning again
  // keeps the counts exact
  return p.prune(sparsity, saliency, p.targets.map((t) => Float64Array.from(t.tensor.view(), Math.abs)));
}

export interface ObsOptions extends Omit<HessianOptions, 'layers'> {
  /** the dense layer (or imported node) to prune: its kernel has at most 1,024 weights */
  layer: string;
  /** the share of its weights to remove, in [0, 1) */
  sparsity: number;
  /** α of the starting H⁻¹ = α⁻¹ I (Hassibi & Stork's recursion; a damping that keeps H invertible), default 1e-4 */
  damping?: number;
}

/** The largest kernel OBS takes: its inverse Hessian is size² doubles (8 MB at 1,024). */
const OBS_MAX = 1024;

/**
 * Optimal Brain Surgeon on one small dense layer: with H the layer's Fisher Hessian (full, not only its
 * diagonal), repeatedly remove the weight q of least saliency L_q = w_q² / (2 [H⁻¹]_qq) and move all the
 * others by δw = -(w_q / [H⁻¹]_qq) H⁻¹ e_q, the step that minimizes the quadratic model's loss increase
 * with w_q = 0. H⁻¹ is built by Hassibi & Stork's recursion over the gradient vectors (one rank-one
 * Sherman-Morrison update each, from α⁻¹ I), and after each removal restricted to the weights left
 * (H⁻¹ ← H⁻¹ - H⁻¹ e_q e_qᵀ H⁻¹ / [H⁻¹]_qq, the inverse of H without row and column q), so later steps keep
 * the removed weights at zero. Returns the pruning with that layer's mask fixed.
 */
export function obs(model: Model | GraphModel, opts: ObsOptions): Pruning {
  if (!opts || typeof opts !== 'object') throw new Error('edgegrad.pruning.obs: takes { layer, x, sparsity, y?, hessian?, samples?, damping? }');
  const sparsity = checkSparsity(opts.sparsity, 'obs');
  if (typeof opts.layer !== 'string') throw new Error(`edgegrad.pruning.obs: layer must be the name of one dense layer, got ${JSON.stringify(opts.layer)}`);
  const damping = opts.damping ?? 1e-4;
  if (!(typeof damping === 'number' && damping > 0 && Number.isFinite(damping))) throw new Error(`edgegrad.pruning.obs: damping must be a positive number, got ${damping}`);
  const p = new Pruning(model, { layers: [opts.layer] }, 'obs');
  const t = p.targets[0];
  if (t.tensor.size > OBS_MAX) throw new Error(`edgegrad.pruning.obs: layer '${t.layer}' has ${t.tensor.size} weights; OBS keeps their full inverse Hessian and takes at most ${OBS_MAX} (use obd for big layers)`);
  const P = t.tensor.size;
  const hinv = new Float64Array(P * P);
  for (let i = 0; i < P; i++) hinv[i * P + i] = 1 / damping;
  const u = new Float64Array(P), n = sampleCount(opts, 'obs');
  // H = αI + (1/n) Σ weight · g gᵀ, one rank-one update per gradient (Sherman-Morrison, as Hassibi & Stork
  // build it): H⁻¹ ← H⁻¹ - (H⁻¹v)(H⁻¹v)ᵀ / (1 + vᵀH⁻¹v), v = √(weight/n) g
  exampleGradients(model, [t], opts, 'obs', ([g], weight) => {
    if (weight === 0) return;
    const s = Math.sqrt(weight / n);
    for (let i = 0; i < P; i++) { let a = 0; const row = i * P; for (let j = 0; j < P; j++) a += hinv[row + j] * g[j]; u[i] = a * s; }
    let d = 1;
    for (let i = 0; i < P; i++) d += s * g[i] * u[i];
    for (let i = 0; i < P; i++) { const ui = u[i] / d, row = i * P; for (let j = 0; j < P; j++) hinv[row + j] -= ui * u[j]; }
  });
  const w = Float64Array.from(t.tensor.view());
  const mask = obsPrune(w, hinv, Math.round(sparsity * P));
  const view = t.tensor.view();
  for (let i = 0; i < P; i++) view[i] = mask[i] ? w[i] : 0;
  t.tensor.version++;
  p.setMask(t.tensor, mask);
  return p;
}

/**
 * The OBS iterations on weights w (changed in place) with inverse Hessian hinv (P x P, changed in place):
 * remove k weights, each the one of least w_q² / (2 [H⁻¹]_qq) among those left. Returns the mask.
 */
export function obsPrune(w: Float64Array, hinv: Float64Array, k: number): Uint8Array {
  const P = w.length, mask = new Uint8Array(P).fill(1);
  for (let step = 0; step < k; step++) {
    let q = -1, best = Infinity;
    for (let i = 0; i < P; i++) {
      if (!mask[i]) continue;
      const L = (w[i] * w[i]) / (2 * hinv[i * P + i]);
      if (L < best) { best = L; q = i; }
    }
    const hqq = hinv[q * P + q], f = w[q] / hqq;
    for (let i = 0; i < P; i++) if (mask[i]) w[i] -= f * hinv[i * P + q];
    w[q] = 0;
    mask[q] = 0;
    // H⁻¹ of the weights left: the Schur complement step that drops row and column q
    const col = new Float64Array(P);
    for (let i = 0; i < P; i++) col[i] = hinv[i * P + q];
    for (let i = 0; i < P; i++) {
      const ci = col[i] / hqq;
      if (ci === 0) continue;
      const row = i * P;
      for (let j = 0; j < P; j++) hinv[row + j] -= ci * col[j];
    }
  }
  return mask;
}

function sampleCount(opts: HessianOptions, who: string): number {
  const x = opts.x;
  if (!(x instanceof Tensor)) throw new Error(`edgegrad.pruning.${who}: x must be a Tensor of inputs [n, ...], got ${x === undefined ? 'nothing' : typeof x}`);
  const n = opts.samples ?? Math.min(x.shape[0], 1024);
  if (!(Number.isInteger(n) && n >= 1 && n <= x.shape[0])) throw new Error(`edgegrad.pruning.${who}: samples must be an integer in [1, ${x.shape[0]}] (x has ${x.shape[0]} examples), got ${n}`);
  return n;
}

/** Σ over examples of the per-example squared gradients (weighted as the estimate says), over n: the diagonal. */
function estimateDiagonal(model: Model | GraphModel, targets: readonly PruneTarget[], opts: HessianOptions, who: string): Float64Array[] {
  const n = sampleCount(opts, who);
  const acc = targets.map((t) => new Float64Array(t.tensor.size));
  exampleGradients(model, targets, opts, who, (grads, weight) => {
    grads.forEach((g, i) => { const a = acc[i]; for (let j = 0; j < g.length; j++) a[j] += weight * g[j] * g[j]; });
  });
  for (const a of acc) for (let j = 0; j < a.length; j++) a[j] /= n;
  return acc;
}

/**
 * Per-example gradients of the cross-entropy loss for the targets' weights, handed to `visit` with their
 * weight in the estimate: for 'fisher', one per class c with weight p_c (the model's probability of c);
 * for 'empirical', one per example, for its label, with weight 1. Batch 1, inference mode.
 */
function exampleGradients(model: Model | GraphModel, targets: readonly PruneTarget[], opts: HessianOptions, who: string,
  visit: (grads: Float32Array[], weight: number) => void): void {
  const n = sampleCount(opts, who);
  const estimate = opts.hessian ?? 'fisher';
  if (estimate !== 'fisher' && estimate !== 'empirical') throw new Error(`edgegrad.pruning.${who}: hessian must be 'fisher' or 'empirical', got ${JSON.stringify(estimate)}`);
  const be = getBackend();
  if (!be.syncRead) throw new Error(`edgegrad.pruning.${who}: the Hessian estimate reads gradients on the CPU: run it on wasm (eg.ready({ backend: 'wasm' }))`);
  const net = model instanceof GraphModel ? (model.single(who), new Sequential({ layers: [model.asLayer()], name: `${model.name}/saliency` })) : model;
  if (net.inputs.length !== 1 || net.outputs.length !== 1) throw new Error(`edgegrad.pruning.${who}: model '${model.name}' has ${net.inputs.length} inputs and ${net.outputs.length} outputs; the Hessian estimate takes one of each`);
  const per = sizeOfShape(net.inputs[0].shape.slice(1));
  refuseNonFinite(opts.x, `pruning.${who}`, 'x');
  const x = layerInputs(model, opts.x, who);
  if (x.shape[0] < n || x.size / x.shape[0] !== per) throw new Error(`edgegrad.pruning.${who}: x is [${opts.x.shape.join(', ')}], model '${model.name}' takes [n, ${(model instanceof GraphModel ? model.inputShape : net.inputs[0].shape.slice(1)).join(', ')}]`);
  let labels: Int32Array | undefined;
  if (estimate === 'empirical') {
    const y = opts.y;
    if (y === undefined) throw new Error(`edgegrad.pruning.${who}: hessian 'empirical' needs labels y (int32 class indices)`);
    labels = y instanceof Tensor ? (y.dtype === 'int32' ? Int32Array.from(y.dataSync()) : undefined) : y instanceof Int32Array ? y : undefined;
    if (!labels) throw new Error(`edgegrad.pruning.${who}: y must be int32 class indices (an int32 tensor [n] or an Int32Array)`);
    if (labels.length < n) throw new Error(`edgegrad.pruning.${who}: y has ${labels.length} labels for ${n} examples`);
  }

  // forward + sparse softmax cross-entropy + backward to the targets, at batch 1
  const g = net.inferenceGraph();
  for (const nd of g.nodes) if (nd.op === 'batchNorm') nd.attrs = { ...nd.attrs, frozen: true };
  const out = g.outputs[0];
  // a model that ends in softmax: the loss on its logits; one that gives logits: those, and p = softmax
  const endsInSoftmax = g.producer(out)?.op === 'activation' && g.producer(out)?.attrs.activation === 'softmax';
  const { lossName, lossInput } = endsInSoftmax ? lossOnLogits(g, out, 'sparseCategoricalCrossentropy') : { lossName: 'sparseSoftmaxCrossEntropy' as const, lossInput: out };
  const classes = g.values[out].shape.at(-1)!;
  // the estimate is a softmax's: a model ending in another activation (a sigmoid, tanh), or with one output
  // (regression, a binary sigmoid), has none, and its curvature would come out zero or wrong
  const last = g.producer(out);
  const act = last?.op === 'activation' ? (last.attrs.activation as string) : last?.op === 'dense' || last?.op === 'conv2d' ? (last.attrs.activation as string | undefined) ?? 'linear' : 'linear';
  if (classes < 2 || (!endsInSoftmax && act !== 'linear')) {
    throw new Error(`edgegrad.pruning.${who}: model '${model.name}' ${classes < 2 ? 'gives one output per example' : `ends in a ${act} activation`}; the Hessian estimate is the Fisher of a softmax over classes (a softmax output, or logits with 2 or more classes): use magnitude pruning (pruneLowMagnitude) for other models`);
  }
  if (g.values[out].shape.length !== 2) throw new Error(`edgegrad.pruning.${who}: model '${model.name}' gives [batch, ${g.values[out].shape.slice(1).join(', ')}]; the Hessian estimate takes classifiers that give [batch, classes]`);
  const yId = g.input('y', [-1], 'int32');
  const [lossV, dLogits] = g.node('loss', [lossInput, yId], { loss: lossName }, 'loss');
  const index = new Map(targets.map((t, i) => [t.tensor, i]));
  const wrt = g.values.filter((v) => v.kind === 'param' && v.tensor && index.has(v.tensor)).map((v) => v.id);
  const gradIds = [...buildBackward(g, new Map([[lossInput, dLogits]]), wrt)];
  const byTarget = targets.map((t) => gradIds.filter(([pid]) => g.values[pid].tensor === t.tensor).map(([, gid]) => gid));
  const missing = targets.findIndex((_, i) => !byTarget[i].length);
  if (missing >= 0) throw new Error(`edgegrad.pruning.${who}: the loss does not depend on '${targets[missing].layer}' (no gradient path to it)`);
  g.outputs = [out, lossV];
  const plan = new Plan(g, { batch: 1, training: true, dropout: false, keep: [yId, ...gradIds.map(([, gid]) => gid)] });
  const grads = targets.map((t) => new Float32Array(t.tensor.size));
  const probs = new Float32Array(classes);
  try {
    const runFor = (i: number, label: number): void => {
      plan.prepack();
      const release = plan.be.hold();
      try {
        const dst = plan.view(g.inputs[0]);
        dst.set((x.view() as Float32Array).subarray(i * per, (i + 1) * per));
        plan.viewI32(yId)[0] = label;
        plan.run();
        probs.set(plan.view(out));
        if (!endsInSoftmax) softmaxInPlace(probs);
        byTarget.forEach((ids, k) => {
          const gk = grads[k];
          gk.set(plan.view(ids[0]));
          for (const id of ids.slice(1)) { const v = plan.view(id); for (let j = 0; j < gk.length; j++) gk[j] += v[j]; }
        });
      } finally {
        release();
      }
    };
    for (let i = 0; i < n; i++) {
      if (labels) {
        if (!(labels[i] >= 0 && labels[i] < classes)) throw new Error(`edgegrad.pruning.${who}: label ${labels[i]} of example ${i} is outside [0, ${classes})`);
        runFor(i, labels[i]);
        visit(grads, 1);
        continue;
      }
      runFor(i, 0);
      const p = probs.slice();
      visit(grads, p[0]);
      for (let c = 1; c < classes; c++) { runFor(i, c); visit(grads, p[c]); }
    }
  } finally {
    plan.dispose();
    if (x !== opts.x) x.dispose();
    if (net !== model) (net as Model).dispose();
  }
}

/** x as the model runs it inside (an imported model's NCHW images as NHWC maps); the same tensor otherwise. */
function layerInputs(model: Model | GraphModel, x: Tensor, who: string): Tensor {
  if (!(x instanceof Tensor) || x.dtype !== 'float32') throw new Error(`edgegrad.pruning.${who}: x must be a float32 Tensor`);
  if (!(model instanceof GraphModel) || !model.boundary.inputs[0].nchw || x.rank !== 4) return x;
  const [N, C, H, W] = x.shape, src = x.dataSync(), dst = new Float32Array(src.length);
  for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) dst[(i * H * W + p) * C + c] = src[(i * C + c) * H * W + p];
  return tensor(dst, [N, H, W, C]);
}

function softmaxInPlace(z: Float32Array): void {
  let m = -Infinity, sum = 0;
  for (const v of z) m = Math.max(m, v);
  for (let i = 0; i < z.length; i++) { z[i] = Math.exp(z[i] - m); sum += z[i]; }
  for (let i = 0; i < z.length; i++) z[i] /= sum;
}
