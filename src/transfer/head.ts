// The small head a transfer experiment trains on frozen features: [flatten or global average pooling] ->
// [dense hidden, relu] -> dense softmax. The same head on every cut (sweep.ts) and every label count
// (labels.ts), so that their accuracies compare the features, not the heads.
import { Tensor } from '../tensor.js';
import { Sequential } from '../model.js';
import { layers } from '../layers/index.js';
import { optimizers } from '../train/optimizers.js';
import type { History } from '../train/fit.js';

/** The head: how a feature map becomes a vector, an optional hidden layer, and its training. */
export interface HeadOptions {
  /**
   * How rank-4 feature maps [h, w, c] enter the dense layer: 'flatten' (every position), 'gap' (global average
   * pooling: c values), or 'auto' (default: flatten up to `maxFlatten` values, else gap).
   */
  pool?: 'auto' | 'flatten' | 'gap';
  /** flatten up to this many values per example under pool 'auto' (default 16384) */
  maxFlatten?: number;
  /** units of a hidden relu layer before the softmax (default 0: none, a linear probe) */
  hidden?: number;
  /** epochs (default 30), batch size (default 32), Adam's learning rate (default 1e-3), seed (default 1) */
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
}

/** What one head's training gave. */
export interface HeadResult {
  /** 'flatten', 'gap' or 'none' (features already a vector) */
  pool: 'flatten' | 'gap' | 'none';
  /** the head's parameters */
  params: number;
  valAccuracy: number;
  valLoss: number;
  trainAccuracy: number;
  history: History;
  seconds: number;
}

/** Checks a HeadOptions and fills its defaults; errors name the option (for `op`). */
export function headDefaults(o: HeadOptions, op: string): Required<HeadOptions> {
  const r = { pool: o.pool ?? 'auto', maxFlatten: o.maxFlatten ?? 16384, hidden: o.hidden ?? 0, epochs: o.epochs ?? 30, batchSize: o.batchSize ?? 32, learningRate: o.learningRate ?? 1e-3, seed: o.seed ?? 1 };
  if (!['auto', 'flatten', 'gap'].includes(r.pool)) throw new Error(`edgegrad.${op}: head.pool must be 'auto', 'flatten' or 'gap', got ${JSON.stringify(r.pool)}`);
  for (const k of ['epochs', 'batchSize', 'maxFlatten'] as const) if (!(Number.isInteger(r[k]) && r[k] >= 1)) throw new Error(`edgegrad.${op}: ${k} must be a positive integer, got ${r[k]}`);
  if (!(Number.isInteger(r.hidden) && r.hidden >= 0)) throw new Error(`edgegrad.${op}: head.hidden must be an integer >= 0, got ${r.hidden}`);
  if (!(r.learningRate > 0)) throw new Error(`edgegrad.${op}: learningRate must be > 0, got ${r.learningRate}`);
  return r;
}

/** The pooling a head puts on features of this per-example shape. */
export function headPool(featureShape: readonly number[], o: Required<HeadOptions>): 'flatten' | 'gap' | 'none' {
  if (featureShape.length === 1) return 'none';
  if (featureShape.length !== 3 || o.pool === 'flatten') return 'flatten';
  if (o.pool === 'gap') return 'gap';
  return featureShape.reduce((a, b) => a * b, 1) <= o.maxFlatten ? 'flatten' : 'gap';
}

/**
 * Train the head on features f (NHWC maps or vectors) with labels y (class indices [n] or one-hot [n, k]),
 * score it on (valF, valY). The features are the head's whole input: nothing is cached or recomputed here.
 */
export async function trainHead(f: Tensor, y: Tensor, valF: Tensor, valY: Tensor, classes: number, o: Required<HeadOptions>): Promise<HeadResult> {
  const t0 = performance.now();
  const shape = f.shape.slice(1), pool = headPool(shape, o);
  const ls = [];
  if (pool === 'gap') ls.push(layers.globalAveragePooling2d({ inputShape: shape }));
  if (pool === 'flatten') ls.push(layers.flatten({ inputShape: shape }));
  if (o.hidden) ls.push(layers.dense({ units: o.hidden, activation: 'relu', seed: o.seed + 1, ...(ls.length ? {} : { inputShape: shape }) }));
  ls.push(layers.dense({ units: classes, activation: 'softmax', seed: o.seed, ...(ls.length ? {} : { inputShape: shape }) }));
  const head = new Sequential({ layers: ls, name: 'probe' });
  try {
    head.compile({ optimizer: optimizers.adam({ learningRate: o.learningRate }), loss: y.rank === 1 ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy', metrics: ['accuracy'] });
    const history = await head.fit(f, y, { epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, validationData: [valF, valY], onDivergence: 'ignore' });
    const last = (k: string) => history.history[k]?.at(-1) ?? NaN;
    return { pool, params: head.countParams(), valAccuracy: last('val_accuracy'), valLoss: last('val_loss'), trainAccuracy: last('accuracy'), history, seconds: (performance.now() - t0) / 1000 };
  } finally {
    // the head is thrown away: its weights go now, not when the collector gets to them (a sweep trains many)
    for (const w of head.weights) w.tensor.dispose();
    head.dispose();
  }
}
