// Calibration for post-training quantization: the range of each value to quantize over sample inputs
// (min / max, or the tails of a sample clipped at a percentile), run through the float graph in batches.
import type { Graph } from '../graph/ir.js';
import type { GraphModel } from '../graph-model.js';
import { Plan } from '../graph/executor.js';
import { nchwToNhwcCopy } from '../ops/shape.js';
import { actQuantFromRange, type ActQuant } from '../ops/quant.js';
import { formatShape } from '../tensor.js';
import type { QuantizeOptions } from './index.js';

function fail(msg: string): never {
  throw new Error(`edgegrad.quantize: ${msg}`);
}

/** Per value: the u8 quantization of its range over the calibration data. */
export async function calibrate(src: GraphModel, g: Graph, ids: number[], opts: QuantizeOptions): Promise<Map<number, ActQuant>> {
  const x = opts.calibration;
  if (!x) fail("int8 activations need calibration data: quantize(model, { calibration: x }) (or activations: 'float32' for weight-only)");
  src.single('quantize with int8 activations (calibration)');
  const want = src.inputShape;
  if (x.rank !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) fail(`calibration data ${formatShape(x.shape)} does not match the model input [n, ${want.join(', ')}]`);
  if (x.shape[0] < 1) fail('the calibration set is empty');
  if (x.dtype !== 'float32') fail(`calibration data must be float32, got ${x.dtype}`);
  const bs = opts.batchSize ?? 32, pct = opts.method === 'percentile' ? (opts.percentile ?? 99.99) : 100;
  if (!(pct > 50 && pct <= 100)) fail(`percentile must be in (50, 100], got ${pct}`);
  const lo = new Map<number, number>(), hi = new Map<number, number>();
  const per = want.reduce((a, b) => a * b, 1);
  const plans = new Map<number, Plan>();
  try {
    for (let s = 0; s < x.shape[0]; s += bs) {
      const b = Math.min(bs, x.shape[0] - s);
      let p = plans.get(b);
      if (!p) plans.set(b, (p = new Plan(g, { batch: b, training: false, keep: ids })));
      p.prepack();
      const dst = p.view(g.inputs[0]), rows = (x.view() as Float32Array).subarray(s * per, (s + b) * per);
      if (src.inputNchw) nchwToNhwcCopy(rows, dst, [b, ...want]); else dst.set(rows);
      p.run();
      for (const id of ids) {
        const v = p.view(id);
        let mn = Infinity, mx = -Infinity;
        if (pct === 100) {
          for (let i = 0; i < v.length; i++) { const t = v[i]; if (t < mn) mn = t; if (t > mx) mx = t; }
        } else {
          // the tails of a sample: up to 65,536 evenly spaced values
          const step = Math.max(1, Math.floor(v.length / 65536)), sample: number[] = [];
          for (let i = 0; i < v.length; i += step) sample.push(v[i]);
          sample.sort((a, c) => a - c);
          const tail = Math.floor(((100 - pct) / 100) * sample.length);
          mn = sample[tail]; mx = sample[sample.length - 1 - tail];
        }
        if (!Number.isFinite(mn) || !Number.isFinite(mx)) fail(`the calibration data gives non-finite values at '${g.values[id].name}'`);
        lo.set(id, Math.min(lo.get(id) ?? Infinity, mn));
        hi.set(id, Math.max(hi.get(id) ?? -Infinity, mx));
      }
      await opts.onProgress?.(s + b, x.shape[0]);
    }
  } finally {
    for (const p of plans.values()) p.dispose();
  }
  return new Map(ids.map((id) => [id, actQuantFromRange(lo.get(id)!, hi.get(id)!)]));
}
