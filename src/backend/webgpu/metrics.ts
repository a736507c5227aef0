// fit's metrics on the webgpu backend: each batch's sum of a metric over its examples is added to a float on
// the device, and the sums are read once per epoch with the loss (src/train/step.ts Accumulator), as
// src/train/metrics.ts metricSum counts them on the CPU: the same argmax (ties to the lowest index, NaN never
// greater), the same thresholds, an example with steps scoring its steps' mean. One thread walks the batch's
// rows in order (a batch of outputs is small work), so the sums do not depend on scheduling.
import type { MetricKind } from '../../train/metrics.js';
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

const KINDS: Record<MetricKind, number> = { sparse: 0, categorical: 1, binary: 2, mse: 3, mae: 4 };

// u: kind rows cols classes pred target acc
const METRIC_SUM = /* wgsl */ `
fn amax(at: u32, n: u32) -> u32 { var b = 0u; for (var j = 1u; j < n; j++) { if (mem[at + j] > mem[at + b]) { b = j; } } return b; }
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  let kind = ai(0u); let rows = ai(1u); let cols = ai(2u); let classes = ai(3u);
  let pred = ai(4u); let lab = ai(5u);
  let steps = max(1u, u32(round(f32(cols) / f32(classes))));
  var s: f32 = 0.0;
  for (var r = 0u; r < rows; r++) {
    let o = r * cols;
    if (kind <= 1u) {
      var ok = 0u;
      for (var t = 0u; t < steps; t++) {
        let at = o + t * classes;
        let got = amax(pred + at, classes);
        var want: u32;
        if (kind == 0u) { want = u32(memI(lab + r * steps + t)); } else { want = amax(lab + at, classes); }
        if (got == want) { ok++; }
      }
      s += f32(ok) / f32(steps);
    } else if (kind == 2u) {
      var ok = 0u;
      for (var j = 0u; j < cols; j++) { if ((mem[pred + o + j] > 0.5) == (mem[lab + o + j] > 0.5)) { ok++; } }
      s += f32(ok) / f32(cols);
    } else {
      var err: f32 = 0.0;
      for (var j = 0u; j < cols; j++) { let d = mem[pred + o + j] - mem[lab + o + j]; err += select(abs(d), d * d, kind == 3u); }
      s += err / f32(cols);
    }
  }
  mem[ai(6u)] = mem[ai(6u)] + s;
}`;

export interface DeviceMetrics {
  /** acc += the metric's sum over the rows of a batch (pred [rows, cols]; target labels or values). */
  sumTo(kind: MetricKind, rows: number, cols: number, classes: number, pred: number, target: number, acc: number): void;
}

export function deviceMetrics(gpu: GpuHeap): DeviceMetrics {
  return {
    sumTo: (kind, rows, cols, classes, pred, target, acc) => gpu.run(METRIC_SUM, 1, { u: [KINDS[kind], rows, cols, classes, e(pred), e(target), e(acc)] }),
  };
}
