// The fit loop: epochs of shuffled batches through a model's training plan, the step after each (NaN
// guard, regularization, optimizer, constraints), validation, callbacks and the divergence watch.
import { getBackend } from '../backend/index.js';
import type { Features } from './features.js';
import { keepHostCopy, type Tensor } from '../tensor.js';
import { mulberry32, rowsOf, shuffleInPlace } from '../data/rows.js';
import type { Callback, Logs, TrainableModel } from './callbacks.js';
import { divergenceWatch } from './divergence.js';
import type { MetricName } from './metrics.js';
import type { Optimizer } from './optimizers.js';
import { Accumulator, applyStep, deviceSteps, feed, steepestLayer, type TrainPlan } from './step.js';
import { Pacer, type Pacing } from './pace.js';

export interface FitArgs extends Pacing {
  epochs?: number;
  /** Examples per step: 1 is online learning, the dataset size is full-batch. Default 32. */
  batchSize?: number;
  shuffle?: boolean;
  /** Seeds the shuffling and the dropout masks, for reproducible runs. */
  seed?: number;
  /** Fraction of the examples, taken from the end before shuffling (as Keras), held out for validation. */
  validationSplit?: number;
  /** Held-out examples (or their features from model.features) and labels, evaluated after each epoch. */
  /** [x, y]: y as fit's (one tensor, or per trained output of a model with several an array or { outputName: labels } map). */
  validationData?: [Tensor | Tensor[] | Record<string, Tensor> | Features, Tensor | Array<Tensor | null | undefined> | Record<string, Tensor>];
  callbacks?: Callback[] | Callback;
  /**
   * Run the leading layers that train nothing and act the same in training and inference (a frozen
   * backbone) once over the data, and train the rest on their cached outputs. Default: on when possible
   * (sequential models).
   */
  cacheFeatures?: boolean;
  /**
   * Batch size of the one pass that computes cached features (default: min(batchSize, 8)). The frozen
   * prefix is usually the big part of the model: small batches keep its memory small at the same speed.
   */
  cacheBatchSize?: number;
  /**
   * What to do when training diverges with finite losses (an epoch's loss 100x the best so far, or accuracy
   * back at chance after it had improved): 'warn' (default; console.warn and History.warnings), 'stop'
   * (throw, naming the layer whose gradient is largest relative to its weights), or 'ignore'.
   */
  onDivergence?: 'warn' | 'stop' | 'ignore';
  /**
   * Bytes a training step's planned values (activations and gradients: the plan's arena) may take. Over
   * it, the step keeps only some forward values (checkpoints) and computes the others again during the
   * backward pass (gradient checkpointing): the same gradients for some more compute. A budget below what
   * any checkpointing reaches is an error before the first step. model.trainingMemory() tells the sizes.
   */
  memoryBudget?: number;
  /** Accepted for Keras / TF.js code: fit prints nothing either way (progress comes through callbacks). */
  verbose?: number;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
  /**
   * Set when fit cached the outputs of a frozen prefix: how many leading layers, their output shape, and
   * where inside the next layer (an imported graph frozen only in part) the cached prefix ends.
   */
  cachedFeatures?: { layers: number; shape: number[]; inside?: string };
  /** Warnings raised during training (divergence), in order. */
  warnings?: string[];
}

/** What the fit loop needs of a model. */
export interface Trainee extends TrainableModel {
  readonly name: string;
  optimizer?: Optimizer;
  readonly outputs: ReadonlyArray<{ shape: number[] }>;
  readonly compiledMetrics: readonly MetricName[];
  trainingPlan(batch: number, training: boolean): TrainPlan;
  evaluate(x: Tensor | Tensor[] | Features, y: Tensor | Tensor[], opts?: { batchSize?: number }): Logs;
}

/** Train on n examples of (x, y) (checked by the caller; y: one tensor per head of a model with several) in batches of bs. */
export async function fitLoop(model: Trainee, x: Tensor | Tensor[], y: Tensor | Tensor[], n: number, bs: number, args: FitArgs): Promise<History> {
    const epochs = args.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`edgegrad.fit: epochs must be a non-negative integer, got ${epochs}`);
    const pacer = new Pacer(args, 'fit');
    pacer.check('before the first step');
    const held = validationRows(x, y, n, args.validationSplit);
    try {
      return await epochsOf(model, x, y, n, bs, args, pacer, held);
    } finally {
      if (held) { [held.val[0]].flat().forEach((t) => t.dispose()); [held.val[1]].flat().forEach((t) => t.dispose()); }
    }
}

async function epochsOf(model: Trainee, x: Tensor | Tensor[], y: Tensor | Tensor[], n: number, bs: number, args: FitArgs, pacer: Pacer, held: ReturnType<typeof validationRows>): Promise<History> {
    const epochs = args.epochs ?? 1;
    const be = getBackend();
    // the model's fit gave validation inputs in input order (a map became an array)
    const val = (held?.val ?? args.validationData) as [Tensor | Tensor[] | Features, Tensor | Tensor[]] | undefined;
    const nVal = held?.nVal ?? 0;
    n -= nVal;
    if (args.seed !== undefined) be.seed(args.seed);
    const rand = mulberry32(args.seed ?? 0x9e3779b9);
    const callbacks = args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks];
    callbacks.forEach((c) => c.setModel?.(model));
    model.stopTraining = false;
    const history: History = { epoch: [], history: {} };
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    for (const c of callbacks) await c.onTrainBegin?.();
    let logs: Logs = {};
    const watch = divergenceWatch(model.compiledMetrics.includes('accuracy') ? model.outputs[0].shape.at(-1)! : 0);
    let tp: TrainPlan | undefined;
    for (let epoch = 0; epoch < epochs && !model.stopTraining; epoch++) {
      for (const c of callbacks) await c.onEpochBegin?.(epoch);
      if (args.shuffle !== false) shuffleInPlace(idx, rand);
      const acc = new Accumulator(model.compiledMetrics);
      let batch = 0, seen = 0;
      for (let s = 0; s < n && !model.stopTraining; s += bs, batch++) {
        const b = Math.min(bs, n - s);
        tp = model.trainingPlan(b, true);
        // a step is one unit: the gradients live in the plan until the optimizer has read them, and the
        // optimizer's first step allocates its state, so nothing used since the step began is evicted
        const release = be.hold();
        let loss: number;
        try {
          feed(tp, x, y, idx, s, b);
          tp.plan.run();
          loss = acc.add(tp, y, b) + applyStep(tp, model.optimizer!, epoch, batch);
        } finally {
          release();
        }
        // a GPU's loss is read per step only for callbacks that ask for it
        if (!be.syncRead && callbacks.some((c) => c.onBatchEnd)) loss = await deviceSteps.loss!(tp, model.optimizer!);
        if (epoch === 0 && batch === 0 && be.syncRead) watch(loss); // the untrained baseline
        seen += b;
        // model.stopTraining set by a callback takes effect after this batch (Keras)
        for (const c of callbacks) if (c.onBatchEnd) await c.onBatchEnd(batch, { loss, size: b });
        await pacer.step(`after ${batch + 1} batches of epoch ${epoch + 1}; the weights are those of that step`);
      }
      await acc.settle();
      logs = acc.logs(seen, '');
      // the GPU's NaN guard, read once per epoch; before the loss, as wasm checks gradients first
      if (!be.syncRead) await deviceSteps.settle?.(model.optimizer!);
      if (!be.syncRead && !Number.isFinite(logs.loss)) {
        throw new Error(`edgegrad.fit: the loss became ${logs.loss} during epoch ${epoch}; training stopped (on the '${be.name}' backend the loss is checked once per epoch: the weights are those of the last step)`);
      }
      // a GPU's weights as of this epoch, on the host: readable if the device is lost later
      if (!be.syncRead) for (const w of (model as { weights?: Array<{ tensor: Tensor }> }).weights ?? []) keepHostCopy(w.tensor, await w.tensor.data());
      const diverged = watch(logs.loss, logs.accuracy, true);
      if (diverged && tp && args.onDivergence !== 'ignore') {
        const where = be.syncRead ? `; the largest gradient relative to its weights is in ${steepestLayer(tp)}` : '';
        const msg = `edgegrad.fit: training of model '${model.name}' diverged at epoch ${epoch}: ${diverged}${where}; lower the learning rate or clip gradients (clipNorm)`;
        if (args.onDivergence === 'stop') throw new Error(msg);
        console.warn(msg);
        (history.warnings ??= []).push(msg);
      }
      if (val) Object.assign(logs, prefixed(be.syncRead ? model.evaluate(val[0], val[1], { batchSize: bs }) : await deviceSteps.evaluate!(model, val[0] as Tensor | Tensor[], val[1], bs), 'val_'));
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
      for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
    }
    for (const c of callbacks) await c.onTrainEnd?.(logs);
    return history;
  }

export function validationRows<X extends Tensor | Tensor[], Y extends Tensor | Tensor[]>(x: X, y: Y, n: number, f: number | undefined): { nVal: number; val: [X, Y] } | undefined {
  if (f === undefined) return undefined;
  if (!(f > 0 && f < 1)) throw new Error(`edgegrad.fit: validationSplit must be in (0, 1), got ${f}`);
  const nVal = Math.floor(n * f);
  if (nVal < 1 || nVal >= n) throw new Error(`edgegrad.fit: validationSplit ${f} of ${n} examples leaves no training or no validation data`);
  const rows = (t: Tensor): Tensor => rowsOf(t, n - nVal, n);
  return { nVal, val: [(Array.isArray(x) ? x.map(rows) : rows(x)) as X, (Array.isArray(y) ? y.map(rows) : rows(y)) as Y] };
}


function prefixed(logs: Logs, p: string): Logs {
  return Object.fromEntries(Object.entries(logs).map(([k, v]) => [p + k, v]));
}
