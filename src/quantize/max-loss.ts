// maxLoss: which int8 layers to keep float. Each int8 layer's cost is measured alone (the model with only that
// layer int8, against float: the accuracy drop on labelled data, or the share of examples whose top class
// changes on the calibration set, and the relative L2 error of the model's output); then the costliest layers
// go back to float, one at a time, until the whole int8 model is within the bound (measured each time, since
// the errors of layers add up in ways their costs alone do not say).
import type { GraphModel } from '../graph-model.js';
import type { Tensor } from '../tensor.js';
import { checkCalibration } from './calibrate.js';
import type { QuantizeOptions } from './index.js';

function fail(msg: string): never {
  throw new Error(`edgegrad.quantize: ${msg}`);
}

/** A model against float on the maxLoss examples. */
export interface LayerAlone {
  /** points lost (accuracy on the labelled data, or 100 x the share of top classes that changed) */
  drop: number;
  /** the share of examples whose top class is the float model's */
  agreement: number;
  /** ||output - float output|| / ||float output|| */
  outputError: number;
}

export interface MaxLossResult {
  /** the bound, in points */
  limit: number;
  /** 'accuracy': on labelled data (opts.data); 'agreement': with float's top class on the calibration set */
  measure: 'accuracy' | 'agreement';
  examples: number;
  /** float's and the returned model's score on them (accuracy, or agreement: float's is 1) */
  float: number;
  int8: number;
  /** the points lost by the returned model, and by the model with every layer int8 */
  drop: number;
  allInt8Drop: number;
  /** the layers kept float, costliest first */
  kept: string[];
}

const argmax = (y: Float32Array, row: number, k: number) => {
  let b = 0;
  for (let j = 1; j < k; j++) if (y[row * k + j] > y[row * k + b]) b = j;
  return b;
};

/** Checks maxLoss and its data (before any calibration work); returns the labels, if any. */
export function checkMaxLoss(src: GraphModel, opts: QuantizeOptions): ArrayLike<number> | undefined {
  const limit = opts.maxLoss!;
  if (!(Number.isFinite(limit) && limit >= 0)) fail(`maxLoss must be a number of points >= 0 (1 = one point of accuracy), got ${limit}`);
  if (opts.activations === 'float32' || opts.weights === 'float16') fail('maxLoss needs int8 activations (it measures what they cost)');
  if (!opts.data) return undefined;
  const x = opts.data.x, y = opts.data.y;
  checkCalibration(src, x, 'maxLoss data');
  const labels = 'dataSync' in y ? (y as Tensor).dataSync() : y;
  if (labels.length !== x.shape[0]) fail(`maxLoss data has ${x.shape[0]} examples but ${labels.length} labels`);
  return labels;
}

/**
 * The model with the costliest layers of `names` kept float until it is within opts.maxLoss points of src;
 * build(int8, why) makes the model with the layers in int8 int8 (the others float, for the reasons in why).
 */
export async function keepWorstFloat(src: GraphModel, names: string[], build: (int8: Set<string>, why?: Map<string, string>) => GraphModel, opts: QuantizeOptions): Promise<GraphModel> {
  const limit = opts.maxLoss!, labels = checkMaxLoss(src, opts);
  const x: Tensor = opts.data?.x ?? opts.calibration!;
  const outputs = (m: GraphModel) => m.predict(x).dataSync() as Float32Array;
  const n = x.shape[0], ref = outputs(src), k = ref.length / n;
  const refTop = Array.from({ length: n }, (_, i) => argmax(ref, i, k));
  const score = (y: Float32Array) => {
    let agree = 0, right = 0, err = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      const t = argmax(y, i, k);
      if (t === refTop[i]) agree++;
      if (labels && t === labels[i]) right++;
    }
    for (let i = 0; i < y.length; i++) { err += (y[i] - ref[i]) ** 2; sq += ref[i] ** 2; }
    return { value: labels ? right / n : agree / n, agreement: agree / n, outputError: Math.sqrt(err / Math.max(sq, 1e-30)) };
  };
  const floatScore = labels ? score(ref).value : 1;
  const cost = (m: GraphModel) => { const s = score(outputs(m)); return { ...s, drop: 100 * (floatScore - s.value) }; };

  const alone = new Map(names.map((name) => {
    const c = cost(build(new Set([name])));
    return [name, { drop: c.drop, agreement: c.agreement, outputError: c.outputError }] as const;
  }));
  const order = names.slice().sort((a, b) => alone.get(b)!.drop - alone.get(a)!.drop || alone.get(b)!.outputError - alone.get(a)!.outputError);
  const kept: string[] = [], why = new Map<string, string>();
  let m = build(new Set(names)), c = cost(m);
  const allInt8Drop = c.drop;
  while (c.drop > limit && kept.length < names.length) {
    const name = order[kept.length], a = alone.get(name)!;
    kept.push(name);
    why.set(name, `kept float by maxLoss ${limit}: int8 alone costs ${a.drop.toFixed(2)} points, output error ${a.outputError.toExponential(2)}`);
    m = build(new Set(names.filter((nm) => !kept.includes(nm))), why);
    c = cost(m);
  }
  const report = m.quantization!;
  for (const node of report.nodes) if (alone.has(node.name)) node.alone = alone.get(node.name);
  report.maxLoss = { limit, measure: labels ? 'accuracy' : 'agreement', examples: n, float: floatScore, int8: c.value, drop: c.drop, allInt8Drop, kept };
  return m;
}
