// Calibration for post-training quantization: each quantized value's statistics over sample inputs (exact min /
// max, an evenly spread sample of its values, per-channel means), run through the float graph in batches, and
// the u8 range each method picks from them (ranges.ts).
import type { Graph } from '../graph/ir.js';
import type { GraphModel } from '../graph-model.js';
import { Plan } from '../graph/executor.js';
import { nchwToNhwcCopy } from '../ops/shape.js';
import { actQuantFromRange, type ActQuant } from '../ops/quant.js';
import { formatShape, type Tensor } from '../tensor.js';
import { entropyRange, mseRange, percentileRange, rangeSample, type RangeSample } from './ranges.js';
import type { QuantizeOptions } from './index.js';

function fail(msg: string): never {
  throw new Error(`edgegrad.quantize: ${msg}`);
}

/** What calibration learns of one value. */
export interface ValueStats {
  min: number;
  max: number;
  /** up to SAMPLE values spread evenly over every batch, sorted */
  sample: RangeSample;
  /** the mean of each channel (the last dimension) */
  mean: Float64Array;
}

/** How a range is picked: min / max, a percentile, the least squared error or the least KL divergence. */
export type RangeChoice = 'minmax' | 'mse' | 'entropy' | `percentile ${number}`;

/** Values kept per tensor for the percentile and MSE searches. */
const SAMPLE = 65536;

/** Checks calibration data against the model's input: x as the model takes it, [n, ...inputShape], float32. */
export function checkCalibration(src: GraphModel, x: Tensor | undefined, what = 'calibration data'): asserts x is Tensor {
  if (!x) fail("int8 activations need calibration data: quantize(model, { calibration: x }) (or activations: 'float32' for weight-only)");
  src.single('quantize with int8 activations (calibration)');
  const want = src.inputShape;
  if (x.rank !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) fail(`${what} ${formatShape(x.shape)} does not match the model input [n, ${want.join(', ')}]`);
  if (x.shape[0] < 1) fail(`the ${what === 'calibration data' ? 'calibration set' : what} is empty`);
  if (x.dtype !== 'float32') fail(`${what} must be float32, got ${x.dtype}`);
}

/**
 * Runs the float graph g over x in batches, keeping `keep` alive, and calls fn after each batch with the plan
 * (its views are valid until the next allocation: copy what outlives fn's first allocation).
 */
export async function forEachBatch(src: GraphModel, g: Graph, x: Tensor, keep: number[], bs: number, fn: (p: Plan, start: number, b: number) => void | Promise<void>): Promise<void> {
  const want = src.inputShape, per = want.reduce((a, b) => a * b, 1);
  const plans = new Map<number, Plan>();
  try {
    for (let s = 0; s < x.shape[0]; s += bs) {
      const b = Math.min(bs, x.shape[0] - s);
      let p = plans.get(b);
      if (!p) plans.set(b, (p = new Plan(g, { batch: b, training: false, keep })));
      p.prepack();
      const dst = p.view(g.inputs[0]), rows = (x.view() as Float32Array).subarray(s * per, (s + b) * per);
      if (src.inputNchw) nchwToNhwcCopy(rows, dst, [b, ...want]); else dst.set(rows);
      p.run();
      await fn(p, s, b);
    }
  } finally {
    for (const p of plans.values()) p.dispose();
  }
}

/** Per value: its statistics over the calibration data (opts.calibration, checked). */
export async function calibrate(src: GraphModel, g: Graph, ids: number[], opts: QuantizeOptions): Promise<Map<number, ValueStats>> {
  const x = opts.calibration;
  checkCalibration(src, x);
  const bs = opts.batchSize ?? 32, batches = Math.ceil(x.shape[0] / bs);
  const acc = new Map(ids.map((id) => {
    const C = g.values[id].shape.at(-1)!;
    return [id, { min: Infinity, max: -Infinity, sample: [] as number[], sum: new Float64Array(C), count: 0 }];
  }));
  await forEachBatch(src, g, x, ids, bs, async (p, s, b) => {
    for (const id of ids) {
      const v = p.view(id), a = acc.get(id)!, C = a.sum.length;
      let mn = Infinity, mx = -Infinity;
      for (let i = 0; i < v.length; i++) { const t = v[i]; if (t < mn) mn = t; if (t > mx) mx = t; a.sum[i % C] += t; }
      if (!Number.isFinite(mn) || !Number.isFinite(mx)) fail(`the calibration data gives non-finite values at '${g.values[id].name}'`);
      a.min = Math.min(a.min, mn); a.max = Math.max(a.max, mx); a.count += v.length / C;
      // evenly spread, not a fixed stride (a stride that is a multiple of the channels would see one channel)
      const m = Math.min(v.length, Math.ceil(SAMPLE / batches));
      for (let j = 0; j < m; j++) a.sample.push(v[Math.floor((j * v.length) / m)]);
    }
    await opts.onProgress?.(s + b, x.shape[0]);
  });
  return new Map(ids.map((id) => {
    const a = acc.get(id)!;
    return [id, { min: a.min, max: a.max, sample: rangeSample(a.sample, a.min, a.max), mean: a.sum.map((t) => t / a.count) }];
  }));
}

/** The u8 quantization a choice picks for a value. */
export function rangeOf(st: ValueStats, choice: RangeChoice): ActQuant {
  if (choice === 'minmax') return actQuantFromRange(st.min, st.max);
  if (choice === 'mse') return actQuantFromRange(...mseRange(st.sample));
  if (choice === 'entropy') return actQuantFromRange(...entropyRange(st.sample));
  const percentile = Number(choice.slice('percentile '.length));
  if (!(percentile > 50 && percentile <= 100)) fail(`percentile must be in (50, 100], got ${percentile}`);
  return actQuantFromRange(...percentileRange(st.sample, percentile));
}
