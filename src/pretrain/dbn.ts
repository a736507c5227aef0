// A deep belief net, greedily (Hinton, Osindero & Teh 2006): each chosen dense sigmoid layer, bottom-up, is
// the hidden layer of an RBM whose visible units are what the layer sees (the frozen outputs of the layers
// below: for the RBM under it, p(h | v), mean-field); CD-k trains it (rbm.ts), then W goes into the layer's
// kernel and the hidden biases c into its bias. The visible biases b have no place in a feed-forward layer
// and are dropped (they are in the report's RBM only while it trains).
import { divergenceWatch } from '../train/divergence.js';
import type { Callback, Logs, TrainableModel } from '../train/callbacks.js';
import type { Pacer } from '../train/pace.js';
import { mulberry32, shuffleInPlace } from '../data/rows.js';
import type { Layer } from '../layers/layer.js';
import { Tensor, tensor } from '../tensor.js';
import { cdStep, freeEnergy, rbmVelocity, type Rbm, type VisibleUnits } from './rbm.js';
import type { PretrainArgs, PretrainLayerReport } from './types.js';

/** Standard normal draws from a uniform stream (Box-Muller). */
function normal(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/**
 * A new RBM for `layer` over inputs v: W ~ N(0, 0.01²), c = 0, and b = log(p / (1 − p)) of each visible
 * unit's mean p over the data for binary units (0 for Gaussian ones): Hinton's guide, §8.
 */
export function initRbm(visible: number, hidden: number, units: VisibleUnits, v: ArrayLike<number>, rows: number, rand: () => number): Rbm {
  const g = normal(rand);
  const w = Float32Array.from({ length: visible * hidden }, () => 0.01 * g());
  const b = new Float32Array(visible);
  if (units === 'binary') {
    for (let i = 0; i < visible; i++) {
      let s = 0;
      for (let n = 0; n < rows; n++) s += v[n * visible + i];
      const p = Math.min(Math.max(s / rows, 1e-3), 1 - 1e-3);
      b[i] = Math.log(p / (1 - p));
    }
  }
  return { visible, hidden, units, w, b, c: new Float32Array(hidden) };
}

/** Train an RBM for dense `layer` on its input `feat` [n, visible] and write its weights into the layer. */
export async function pretrainRbm(layer: Layer, feat: Tensor, units: VisibleUnits, args: PretrainArgs, pacer: Pacer): Promise<PretrainLayerReport> {
  const t0 = performance.now();
  const [n, V] = feat.shape;
  const H = (layer as Layer & { units: number }).units;
  // a copy: the wasm memory may grow while the RBM trains (its products run there), detaching views of it
  const data = Float32Array.from(feat.view());
  const rand = mulberry32((args.seed ?? 0x5eed) + 7919 * V);
  const rbm = initRbm(V, H, units, data, n, rand);
  const vel = rbmVelocity(rbm);
  const epochs = args.epochs ?? 5, bs = args.batchSize ?? 32, k = args.k ?? 1;
  const lr = args.learningRate ?? (units === 'binary' ? 0.05 : 0.005), momentum = args.momentum ?? 0.5;
  const callbacks = args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks];
  // callbacks see the RBM as a model: its weights [W, c] (earlyStopping can restore them), stopTraining
  const trainee: TrainableModel = {
    stopTraining: false,
    getWeights: () => [tensor(rbm.w.slice(), [V, H]), tensor(rbm.c.slice(), [H])],
    setWeights: (w: Tensor[]) => { rbm.w.set(w[0].dataSync()); rbm.c.set(w[1].dataSync()); },
  };
  callbacks.forEach((c: Callback) => c.setModel?.(trainee));
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const batch = new Float32Array(bs * V);
  // free energy is monitored on a fixed sample of the training rows (the guide, §6)
  const sampleRows = Math.min(n, 1000);
  const sample = data.subarray(0, sampleRows * V);
  const report: PretrainLayerReport = { layer: layer.name, method: 'rbm', loss: [], freeEnergy: [], visible: units, inputShape: feat.shape.slice(), seconds: 0 };
  const watch = divergenceWatch(0);
  for (const c of callbacks) await c.onTrainBegin?.();
  let logs: Logs = {};
  for (let epoch = 0; epoch < epochs && !trainee.stopTraining; epoch++) {
    for (const c of callbacks) await c.onEpochBegin?.(epoch);
    if (args.shuffle !== false) shuffleInPlace(idx, rand);
    let sum = 0, seen = 0, b = 0;
    for (let s = 0; s < n && !trainee.stopTraining; s += bs, b++) {
      const rows = Math.min(bs, n - s);
      for (let r = 0; r < rows; r++) batch.set(data.subarray(idx[s + r] * V, (idx[s + r] + 1) * V), r * V);
      const err = cdStep(rbm, batch.subarray(0, rows * V), rows, vel, { k, learningRate: lr, momentum, uniform: rand });
      if (!Number.isFinite(err) || !rbm.w.every(Number.isFinite)) {
        throw new Error(`edgegrad.pretrain: the RBM of layer '${layer.name}' became non-finite at epoch ${epoch}, batch ${b} (reconstruction error ${err}); lower learningRate${units === 'gaussian' ? ' or standardize the data (Gaussian visible units assume unit variance)' : ''}`);
      }
      if (epoch === 0 && b === 0) watch(err);
      sum += err * rows; seen += rows;
      for (const c of callbacks) await c.onBatchEnd?.(b, { loss: err, size: rows });
      await pacer.step(`after ${b + 1} batches of epoch ${epoch + 1} of layer '${layer.name}'; the layer keeps its weights from before pretraining`);
    }
    const loss = sum / Math.max(seen, 1), fe = freeEnergy(rbm, sample, sampleRows);
    report.loss.push(loss);
    report.freeEnergy!.push(fe);
    const diverged = watch(loss, undefined, true);
    if (diverged && args.onDivergence !== 'ignore') {
      const msg = `edgegrad.pretrain: the RBM of layer '${layer.name}' diverged at epoch ${epoch}: ${diverged}; lower learningRate`;
      if (args.onDivergence === 'stop') throw new Error(msg);
      console.warn(msg);
      (report.warnings ??= []).push(msg);
    }
    logs = { loss, freeEnergy: fe };
    for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
  }
  for (const c of callbacks) await c.onTrainEnd?.(logs);
  const kernel = tensor(rbm.w, [V, H]), bias = tensor(rbm.c, [H]);
  layer.setWeights([kernel, bias]);
  kernel.dispose(); bias.dispose();
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
