// One training step after the plan ran: the NaN guard, regularization, the optimizer's fused update and
// the weight constraints, all as kernels of the active backend on the plan's gradient buffers; and the
// feeding of a batch into a plan. The model code above never touches memory.
import { getBackend } from '../backend/index.js';
import type { Plan } from '../graph/executor.js';
import { sizeOfShape } from '../graph/ir.js';
import { countNonFinite, sumSquares } from '../graph/finite.js';
import type { Layer, Weight } from '../layers/layer.js';
import { fill, type Tensor } from '../tensor.js';
import type { Optimizer } from './optimizers.js';
import type { Logs } from './callbacks.js';
import { metricKind, metricSum, type MetricName } from './metrics.js';
import type { DeviceMetrics } from '../backend/webgpu/metrics.js';

/** A compiled forward + loss (+ backward) plan and where its values are. */
export interface TrainPlan {
  plan: Plan;
  /** The (first) input; xs: every input, in order. */
  x: number;
  xs?: number[];
  y: number;
  pred: number;
  loss: number;
  grads: Array<{ weight: Weight; layer: Layer; grad: number }>;
  /**
   * A model with several outputs that train: per output, its labels, prediction and loss (`loss` above is
   * then the weighted total, `y` and `pred` the first head's).
   */
  heads?: Array<{ name: string; y: number; pred: number; loss: number; metrics: readonly MetricName[]; sparse: boolean }>;
}

/**
 * Copy examples idx[s .. s+b) of x (one tensor, or one per input of the plan) and y (one tensor, or one per
 * head of the plan) into the plan's input buffers.
 */
export function feed(tp: TrainPlan, x: Tensor | Tensor[], y: Tensor | Tensor[], idx: Int32Array, s: number, b: number): void {
  const xs = Array.isArray(x) ? x : [x], ids = tp.xs ?? [tp.x];
  const be = tp.plan.be;
  const rows = (t: Tensor, id: number): void => {
    const per = sizeOfShape(t.shape.slice(1));
    if (!be.syncRead) {
      // no views of GPU memory: a copy per example, on the device
      const d = tp.plan.ptr(id), src = t.ptr;
      for (let i = 0; i < b; i++) be.copy(d + i * per * 4, src + idx[s + i] * per * 4, per * 4);
      return;
    }
    // the plan's views first: making it resident may allocate; the data's views never do
    const d = t.dtype === 'int32' ? tp.plan.viewI32(id) : tp.plan.view(id), v = t.view();
    for (let i = 0; i < b; i++) { const r = idx[s + i]; d.set(v.subarray(r * per, (r + 1) * per), i * per); }
  };
  xs.forEach((t, k) => rows(t, ids[k]));
  if (Array.isArray(y)) y.forEach((t, k) => rows(t, tp.heads![k].y)); else rows(y, tp.y);
}

/** The layer (and weight) whose last gradient is largest relative to the weight: where divergence shows first. */
export function steepestLayer(tp: TrainPlan): string {
  let best = '', ratio = -1;
  for (const gr of tp.grads) {
    const r = Math.sqrt(sumSquares(gr.weight.tensor.size, tp.plan.ptr(gr.grad)) / Math.max(sumSquares(gr.weight.tensor.size, gr.weight.tensor.ptr), 1e-30));
    if (r > ratio) { ratio = r; best = `layer '${gr.layer.name}' (${gr.weight.name}: |grad| / |w| = ${r.toPrecision(3)})`; }
  }
  return best || 'no layer (nothing trains)';
}

/** NaN guard, regularization, optimizer update, constraints. Returns the penalty added to the loss. */
export function applyStep(tp: TrainPlan, optimizer: Optimizer, epoch: number, batch: number): number {
  const be = getBackend(), k = be.kernels;
  if (!be.syncRead) {
    return deviceSteps.apply!(tp, optimizer, epoch, batch);
  }
  const loss = tp.plan.view(tp.loss)[0];
  // gradients go bad first where backpropagation starts: check from the output layer back
  for (let i = tp.grads.length - 1; i >= 0; i--) {
    const gr = tp.grads[i];
    if (countNonFinite(gr.weight.tensor.size, tp.plan.ptr(gr.grad))) {
      throw new Error(`edgegrad.fit: the gradient of layer '${gr.layer.name}' (${gr.weight.name}) became non-finite at epoch ${epoch}, batch ${batch} (loss ${loss}); training stopped, weights are from the previous step`);
    }
  }
  if (!Number.isFinite(loss)) throw new Error(`edgegrad.fit: the loss became ${loss} at epoch ${epoch}, batch ${batch}; training stopped`);
  let penalty = 0;
  const byTensor = mergeGradients(tp);
  for (const { weight } of byTensor.values()) {
    const r = weight.regularizer;
    // the penalty of the weights before this update, as the loss the gradients came from
    if (r && (r.l1 || r.l2)) penalty += k.penalty(weight.tensor.size, weight.tensor.ptr, r.l1, r.l2);
  }
  update(byTensor, optimizer);
  return penalty;
}

export type Grad = { weight: Weight; layer: Layer; ptr: number };

/** One gradient per parameter tensor: a layer applied twice contributes twice (summed into the first). */
export function mergeGradients(tp: TrainPlan): Map<Tensor, Grad> {
  const k = tp.plan.be.kernels;
  const byTensor = new Map<Tensor, Grad>();
  for (const gr of tp.grads) {
    const p = tp.plan.ptr(gr.grad);
    const seen = byTensor.get(gr.weight.tensor);
    if (seen) k.axpy(gr.weight.tensor.size, 1, p, seen.ptr); else byTensor.set(gr.weight.tensor, { weight: gr.weight, layer: gr.layer, ptr: p });
  }
  return byTensor;
}

/** The weight constraints after an update (max-norm columns). */
function constrain(grads: Iterable<Grad>): void {
  for (const { weight } of grads) {
    const c = weight.constraint;
    if (c?.name === 'maxNorm') {
      const s = weight.tensor.shape;
      weight.tensor.backend.kernels.maxNormColumns(weight.tensor.size / s[s.length - 1], s[s.length - 1], weight.tensor.ptr, c.maxValue);
      weight.tensor.version++;
    }
  }
}

/**
 * The step's parts on a backend that reads back only asynchronously (webgpu), in ./step-gpu.ts: registered by
 * that module, which the webgpu backend loads (a page without a GPU never downloads them).
 */
export const deviceSteps: {
  apply?: (tp: TrainPlan, optimizer: Optimizer, epoch: number, batch: number) => number;
  settle?: (optimizer: Optimizer) => Promise<void>;
  loss?: (tp: TrainPlan, optimizer: Optimizer) => Promise<number>;
  /** Loss and metrics over (x, y), summed on the device and read once (validation inside fit, evaluateAsync). */
  evaluate?: (model: import('./fit.js').Trainee, x: Tensor | Tensor[], y: Tensor | Tensor[], bs: number) => Promise<Logs>;
} = {};

/** The regularizers' gradients, the optimizer's update, the constraints: the part of a step every backend runs alike. */
export function update(byTensor: Map<Tensor, Grad>, optimizer: Optimizer): void {
  const items = [...byTensor.values()].map(({ weight, layer, ptr }) => {
    const r = weight.regularizer;
    if (r && (r.l1 || r.l2)) weight.tensor.backend.kernels.regularizeGrad(weight.tensor.size, weight.tensor.ptr, ptr, r.l1, r.l2);
    return { param: weight.tensor, grad: ptr, lrScale: layer.lrScale };
  });
  optimizer.applyGradients(items);
  constrain(byTensor.values());
}

/**
 * Sums of the loss and the metrics over the batches of a pass, weighted by batch size. A plan with several
 * heads (outputs that train) adds each head's loss and metrics, logged as `<output>_loss` and
 * `<output>_<metric>` (Keras's names) beside the total `loss`.
 */
export class Accumulator {
  private loss = 0;
  private readonly metrics: number[];
  private headSums?: Array<{ loss: number; metrics: number[] }>;
  private headNames?: Array<{ name: string; metrics: readonly MetricName[] }>;
  constructor(private readonly names: readonly MetricName[]) {
    this.metrics = names.map(() => 0);
  }

  /** On a backend that reads back only asynchronously: the loss sums (total, then each head's) and the metrics' sums, on the device, read by settle(). */
  private device?: Tensor;
  /** Whether the metrics are summed on the device (a backend with the metric kernel) rather than read back per batch. */
  private metricsOnDevice = false;

  private headsOf(tp: TrainPlan): NonNullable<TrainPlan['heads']> {
    const heads = tp.heads ?? [];
    if (heads.length && !this.headSums) {
      this.headNames = heads.map((h) => ({ name: h.name, metrics: h.metrics }));
      this.headSums = heads.map((h) => ({ loss: 0, metrics: h.metrics.map(() => 0) }));
    }
    return heads;
  }

  /** Add a batch of b examples that the plan just ran on (labels y); returns its mean loss (NaN on a GPU: see settle). */
  add(tp: TrainPlan, y: Tensor | Tensor[], b: number): number {
    const be = tp.plan.be, heads = this.headsOf(tp);
    if (!be.syncRead) {
      // the loss sums (total, then each head's), then each metric's: summed on the device, read by settle()
      const slots = heads.length ? heads.reduce((n, h) => n + h.metrics.length, 0) : this.names.length;
      this.device ??= fill([1 + heads.length + slots], 0);
      be.kernels.axpy(1, b, tp.plan.ptr(tp.loss), this.device.ptr);
      heads.forEach((h, k) => be.kernels.axpy(1, b, tp.plan.ptr(h.loss), this.device!.ptr + (k + 1) * 4));
      const gm = (be as { metrics?: DeviceMetrics }).metrics;
      if (slots && !gm) throw new Error(`edgegrad.fit: the '${be.name}' backend cannot sum metrics on the device`);
      if (gm && slots) {
        let slot = 1 + heads.length;
        const sum = (m: MetricName, pred: number, yId: number, sparse: boolean) => {
          const outs = tp.plan.shapes[pred].reduce((a, c) => a * c, 1), classes = tp.plan.shapes[pred].at(-1)!;
          gm.sumTo(metricKind(m, sparse, classes), b, outs / b, classes, tp.plan.ptr(pred), tp.plan.ptr(yId), this.device!.ptr + slot++ * 4);
        };
        if (heads.length) heads.forEach((h) => h.metrics.forEach((m) => sum(m, h.pred, h.y, h.sparse)));
        else this.names.forEach((m) => sum(m, tp.pred, tp.y, (y as Tensor).dtype === 'int32'));
        this.metricsOnDevice = true;
      }
      return NaN;
    }
    const loss = tp.plan.view(tp.loss)[0];
    this.loss += loss * b;
    if (heads.length) {
      heads.forEach((h, k) => {
        const sums = this.headSums![k];
        sums.loss += tp.plan.view(h.loss)[0] * b;
        if (!h.metrics.length) return;
        const pred = tp.plan.view(h.pred), target = h.sparse ? tp.plan.viewI32(h.y) : tp.plan.view(h.y);
        const cols = pred.length / b, classes = tp.plan.shapes[h.pred].at(-1)!;
        h.metrics.forEach((m, i) => { sums.metrics[i] += metricSum(m, pred, target, b, cols, h.sparse, classes); });
      });
    } else if (this.names.length) {
      const sparse = (y as Tensor).dtype === 'int32';
      const pred = tp.plan.view(tp.pred);
      const target = sparse ? tp.plan.viewI32(tp.y) : tp.plan.view(tp.y);
      const cols = pred.length / b, classes = tp.plan.shapes[tp.pred].at(-1)!;
      this.names.forEach((m, i) => { this.metrics[i] += metricSum(m, pred, target, b, cols, sparse, classes); });
    }
    return loss;
  }

  /** Read what a GPU accumulated (once per pass). */
  async settle(): Promise<void> {
    if (!this.device) return;
    const sums = await this.device.data();
    this.loss = sums[0];
    this.headSums?.forEach((h, k) => { h.loss = sums[k + 1]; });
    if (this.metricsOnDevice) {
      let slot = 1 + (this.headSums?.length ?? 0);
      if (this.headSums) this.headSums.forEach((h) => h.metrics.forEach((_, i) => { h.metrics[i] = sums[slot++]; }));
      else this.metrics.forEach((_, i) => { this.metrics[i] = sums[slot++]; });
    }
    this.device.dispose();
    this.device = undefined;
  }

  /** The means over n examples, keys prefixed ('val_'). */
  logs(n: number, prefix: string): Logs {
    const logs: Logs = { [`${prefix}loss`]: this.loss / n };
    this.names.forEach((m, i) => { logs[`${prefix}${m}`] = this.metrics[i] / n; });
    this.headNames?.forEach((h, k) => {
      logs[`${prefix}${h.name}_loss`] = this.headSums![k].loss / n;
      h.metrics.forEach((m, i) => { logs[`${prefix}${h.name}_${m}`] = this.headSums![k].metrics[i] / n; });
    });
    return logs;
  }
}

/**
 * One evaluation pass: examples [0, n) of x and y in batches of bs through planOf(batch size)'s plans (loss and
 * metrics, no step), summed by an Accumulator (on a GPU, summed on the device until it settles).
 */
export function accumulateBatches(planOf: (batch: number) => TrainPlan, metrics: readonly MetricName[], x: Tensor | Tensor[], y: Tensor | Tensor[], n: number, bs: number): Accumulator {
  const idx = Int32Array.from({ length: n }, (_, i) => i), acc = new Accumulator(metrics);
  for (let s = 0; s < n; s += bs) {
    const b = Math.min(bs, n - s), tp = planOf(b);
    tp.plan.prepack();
    feed(tp, x, y, idx, s, b);
    tp.plan.run();
    acc.add(tp, y, b);
  }
  return acc;
}
