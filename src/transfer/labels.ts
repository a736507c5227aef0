// The accuracy-vs-labels curve: the same head trained on the first k labelled examples of each class, for
// several k, scored on the same validation examples. How much each extra label buys, on features computed once.
import { Tensor } from '../tensor.js';
import { gather } from '../data/index.js';
import { headDefaults, trainHead, type HeadOptions } from './head.js';

/** One point: labelled examples per class, how many examples that came to, and the validation accuracy. */
export interface LabelsCurvePoint {
  labels: number;
  examples: number;
  accuracy: number;
}

/**
 * For each k in `perClass` (default 1, 2, 5, 10, 20, 50, 100, ... up to the smallest class), a head trained on
 * the first k examples of every class of (features, y) and its accuracy on (valFeatures, valY). Features are a
 * frozen backbone's outputs (NHWC maps or vectors), y class indices [n].
 */
export async function labelsCurve(features: Tensor, y: Tensor, valFeatures: Tensor, valY: Tensor, opts: HeadOptions & { perClass?: number[] } = {}): Promise<LabelsCurvePoint[]> {
  const op = 'transfer.labelsCurve';
  if (![features, y, valFeatures, valY].every((t) => t instanceof Tensor)) throw new Error(`edgegrad.${op}: features, y, valFeatures and valY must be Tensors`);
  if (y.rank !== 1 || valY.rank !== 1) throw new Error(`edgegrad.${op}: y and valY must be class indices [n]`);
  if (features.shape[0] !== y.shape[0]) throw new Error(`edgegrad.${op}: ${features.shape[0]} feature rows but ${y.shape[0]} labels`);
  const h = headDefaults(opts, op);
  const yv = y.dataSync(), classes = Math.max(...Array.from(yv), ...Array.from(valY.dataSync())) + 1;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  yv.forEach((c, i) => byClass[c].push(i));
  const smallest = Math.min(...byClass.map((c) => c.length));
  if (smallest < 1) throw new Error(`edgegrad.${op}: class ${byClass.findIndex((c) => c.length === 0)} has no training example`);
  const ks = (opts.perClass ?? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].filter((k) => k < smallest).concat(smallest)).filter((k, i, a) => a.indexOf(k) === i);
  const bad = ks.find((k) => !(Number.isInteger(k) && k >= 1 && k <= smallest));
  if (bad !== undefined) throw new Error(`edgegrad.${op}: perClass ${bad} is not an integer in [1, ${smallest}] (the smallest class has ${smallest} examples)`);
  const out: LabelsCurvePoint[] = [];
  for (const k of ks) {
    const idx = byClass.flatMap((c) => c.slice(0, k)).sort((a, b) => a - b);
    const f = gather(features, idx), yk = gather(y, idx);
    try {
      const r = await trainHead(f, yk, valFeatures, valY, classes, h);
      out.push({ labels: k, examples: idx.length, accuracy: r.valAccuracy });
    } finally {
      f.dispose(); yk.dispose();
    }
  }
  return out;
}
