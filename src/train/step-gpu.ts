// The training step's parts on a backend that reads back only asynchronously (webgpu): the same updates as
// ./step.ts without a per-step read. Loaded with the webgpu backend (src/backend/webgpu/backend.ts imports it),
// it registers itself in step.ts's deviceSteps.
import { getBackend } from '../backend/index.js';
import type { Layer, Weight } from '../layers/layer.js';
import { fill, type Tensor } from '../tensor.js';
import type { Optimizer } from './optimizers.js';
import type { DeviceStats } from '../backend/webgpu/stats.js';
import { accumulateBatches, deviceSteps, mergeGradients, update, type TrainPlan } from './step.js';
import type { Trainee } from './fit.js';
import type { Logs } from './callbacks.js';

/**
 * The step on a backend that reads back only asynchronously (webgpu): the same updates without a per-step
 * read. The NaN guard runs on the device: each gradient flags the first step that held a non-finite value
 * (src/backend/webgpu/stats.ts), and settleDeviceGuard reads the flags once per epoch; the regularizers'
 * penalty is summed on the device, read only when a per-step callback asks for the loss (stepLossAsync).
 */
function applyStepAsync(tp: TrainPlan, optimizer: Optimizer, epoch: number, batch: number): number {
  const be = tp.plan.be as typeof tp.plan.be & Partial<DeviceStats>;
  const byTensor = mergeGradients(tp);
  if (be.flagNonFinite && be.penaltyTo) {
    let g = guards.get(optimizer);
    // a fit's first step: whatever an interrupted fit left is stale
    if (g && epoch === 0 && batch === 0) { disposeGuard(g); g = undefined; }
    if (!g) guards.set(optimizer, g = { flags: fill([Math.max(tp.grads.length, 1)], 0), slots: [], steps: [] });
    const guard = g, tag = guard.steps.push([epoch, batch]);
    for (const gr of tp.grads) {
      // a slot per weight, in the plan's order (a later plan, for a smaller last batch, has the same weights)
      let slot = guard.slots.findIndex((s) => s.weight === gr.weight);
      if (slot < 0 && guard.slots.length < guard.flags.size) slot = guard.slots.push({ layer: gr.layer, weight: gr.weight }) - 1;
      if (slot >= 0 && tag < 1 << 24) be.flagNonFinite(gr.weight.tensor.size, tp.plan.ptr(gr.grad), guard.flags.ptr + slot * 4, tag);
    }
    const regularized = [...byTensor.values()].filter(({ weight: { regularizer: r } }) => r && (r.l1 || r.l2));
    if (regularized.length) {
      // the penalty of the weights before this update, as the loss the gradients came from
      g.penalty ??= fill([1], 0);
      be.kernels.fillValue(1, g.penalty.ptr, 0);
      for (const { weight } of regularized) be.penaltyTo(weight.tensor.size, weight.tensor.ptr, weight.regularizer!.l1 ?? 0, weight.regularizer!.l2 ?? 0, g.penalty.ptr);
    } else if (g.penalty) {
      be.kernels.fillValue(1, g.penalty.ptr, 0);
    }
  }
  update(byTensor, optimizer);
  return 0;
}

/** The device-side NaN guard and penalty of a fit on a backend that reads back only asynchronously. */
interface DeviceGuard {
  /** Per slot: 0, or the tag (1-based step of this guard) of the first step whose gradient was non-finite. */
  flags: Tensor;
  /** The weight of each slot, in the plan's order of gradients (output layers last). */
  slots: Array<{ layer: Layer; weight: Weight }>;
  /** [epoch, batch] of each step, by tag - 1. */
  steps: Array<[number, number]>;
  /** The last step's regularization penalty. */
  penalty?: Tensor;
}
/** By optimizer: one fit trains with one optimizer at a time. */
const guards = new WeakMap<Optimizer, DeviceGuard>();

function disposeGuard(g: DeviceGuard): void {
  g.flags.dispose();
  g.penalty?.dispose();
}

/**
 * Once per epoch on a backend that reads back only asynchronously: read the NaN guard's flags and throw as
 * wasm's guard does, naming the first step whose gradients went bad and, of that step, the layer nearest the
 * output (where backpropagation starts). The guard starts again for the next epoch.
 */
export async function settleDeviceGuard(optimizer: Optimizer): Promise<void> {
  const g = guards.get(optimizer);
  if (!g) return;
  guards.delete(optimizer);
  const flags = await g.flags.data();
  disposeGuard(g);
  let first = Infinity, at = -1;
  g.slots.forEach((_, i) => { if (flags[i] > 0 && flags[i] <= first) { first = flags[i]; at = i; } });
  if (at < 0) return;
  const { layer, weight } = g.slots[at], [epoch, batch] = g.steps[first - 1];
  throw new Error(`edgegrad.fit: the gradient of layer '${layer.name}' (${weight.name}) became non-finite at epoch ${epoch}, batch ${batch}; training stopped at the end of that epoch (the '${getBackend().name}' backend checks gradients on the device every step and reads the check once per epoch: the weights are those of the last step)`);
}

/** The last step's loss plus its regularization penalty (what wasm's step returns), read back. */
export async function stepLossAsync(tp: TrainPlan, optimizer: Optimizer): Promise<number> {
  const be = tp.plan.be, penalty = guards.get(optimizer)?.penalty;
  const [loss, p] = await Promise.all([be.read(tp.plan.ptr(tp.loss), 4), penalty ? be.read(penalty.ptr, 4) : undefined]);
  return new Float32Array(loss.buffer, loss.byteOffset, 1)[0] + (p ? new Float32Array(p.buffer, p.byteOffset, 1)[0] : 0);
}


/** Loss and metrics over (x, y) on a backend that reads back only asynchronously (validation inside fit, evaluateAsync). */
async function evaluateOnDevice(model: Trainee, x: Tensor | Tensor[], y: Tensor | Tensor[], bs: number): Promise<Logs> {
  const n = [x].flat()[0].shape[0];
  const acc = accumulateBatches((b) => model.trainingPlan(b, false), model.compiledMetrics, x, y, n, bs);
  await acc.settle();
  return acc.logs(n, '');
}

deviceSteps.apply = applyStepAsync;
deviceSteps.settle = settleDeviceGuard;
deviceSteps.loss = stepLossAsync;
deviceSteps.evaluate = evaluateOnDevice;
