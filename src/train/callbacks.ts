// Training callbacks: progress hooks, early stopping (with restoring the best weights) and
// reduce-on-plateau. The NaN guard is built into fit().
import type { Tensor } from '../tensor.js';

export type Logs = Record<string, number>;

export interface Callback {
  onTrainBegin?(): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
  /** While fit caches a frozen prefix's features (before the first epoch): examples done of total. */
  onFeaturesProgress?(done: number, total: number): void | Promise<void>;
  /** Set by fit(): the model being trained. */
  setModel?(model: TrainableModel): void;
}

/** The part of a model that callbacks may touch. */
export interface TrainableModel {
  stopTraining: boolean;
  getWeights(): Tensor[];
  setWeights(w: Tensor[]): void;
  optimizer?: { learningRate: unknown };
}

function monitored(logs: Logs, monitor: string, who: string): number {
  const v = logs[monitor];
  if (v === undefined) throw new Error(`edgegrad.callbacks.${who}: '${monitor}' is not in the epoch logs (have ${Object.keys(logs).join(', ')})`);
  return v;
}

/** Stop when `monitor` has not improved by minDelta for `patience` epochs; optionally restore the best weights. */
export function earlyStopping(o: { monitor?: string; minDelta?: number; patience?: number; mode?: 'min' | 'max' | 'auto'; restoreBestWeights?: boolean } = {}): Callback & { stoppedEpoch: number; bestEpoch: number } {
  const monitor = o.monitor ?? 'val_loss', minDelta = Math.abs(o.minDelta ?? 0), patience = o.patience ?? 0;
  const mode = o.mode === 'auto' || !o.mode ? (/acc/.test(monitor) ? 'max' : 'min') : o.mode;
  let model: TrainableModel | undefined;
  let best = Infinity, wait = 0, bestWeights: Tensor[] | undefined;
  const cb = {
    stoppedEpoch: -1,
    bestEpoch: -1,
    setModel(m: TrainableModel) { model = m; },
    onTrainBegin() { best = Infinity; wait = 0; bestWeights?.forEach((t) => t.dispose()); bestWeights = undefined; cb.stoppedEpoch = -1; cb.bestEpoch = -1; },
    onEpochEnd(epoch: number, logs: Logs) {
      const v = monitored(logs, monitor, 'earlyStopping');
      const score = mode === 'max' ? -v : v;
      if (score < best - minDelta) {
        best = score; wait = 0; cb.bestEpoch = epoch;
        if (o.restoreBestWeights && model) { bestWeights?.forEach((t) => t.dispose()); bestWeights = model.getWeights(); }
      } else if (++wait >= patience) {
        // Keras: stop once `patience` epochs in a row brought no improvement
        cb.stoppedEpoch = epoch;
        if (model) model.stopTraining = true;
      }
    },
    onTrainEnd() {
      if (o.restoreBestWeights && bestWeights && model && cb.stoppedEpoch >= 0) model.setWeights(bestWeights);
    },
  };
  return cb;
}

/** Multiply the (numeric) learning rate by `factor` when `monitor` stalls for `patience` epochs. */
export function reduceLROnPlateau(o: { monitor?: string; factor?: number; patience?: number; minDelta?: number; minLr?: number; cooldown?: number } = {}): Callback & { learningRates: number[] } {
  const monitor = o.monitor ?? 'val_loss', factor = o.factor ?? 0.1, patience = o.patience ?? 10, minDelta = o.minDelta ?? 1e-4, minLr = o.minLr ?? 0;
  if (!(factor > 0 && factor < 1)) throw new Error(`edgegrad.callbacks.reduceLROnPlateau: factor must be in (0, 1), got ${factor}`);
  let model: TrainableModel | undefined;
  let best = Infinity, wait = 0, cool = 0;
  const mode = /acc/.test(monitor) ? -1 : 1;
  const cb = {
    learningRates: [] as number[],
    setModel(m: TrainableModel) { model = m; },
    onEpochEnd(_e: number, logs: Logs) {
      const opt = model?.optimizer;
      if (!opt || typeof opt.learningRate !== 'number') throw new Error('edgegrad.callbacks.reduceLROnPlateau: needs an optimizer with a numeric learning rate (not a schedule)');
      const v = mode * monitored(logs, monitor, 'reduceLROnPlateau');
      if (cool > 0) cool--;
      if (v < best - minDelta) { best = v; wait = 0; } else if (cool === 0 && ++wait >= patience) {
        opt.learningRate = Math.max(minLr, (opt.learningRate as number) * factor);
        wait = 0; cool = o.cooldown ?? 0;
      }
      cb.learningRates.push(opt.learningRate as number);
    },
  };
  return cb;
}
