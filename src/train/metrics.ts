// Metrics over a batch of predictions: each returns the sum over examples (the trainer averages).

export type MetricName = 'accuracy' | 'binaryAccuracy' | 'categoricalAccuracy' | 'sparseCategoricalAccuracy' | 'meanSquaredError' | 'meanAbsoluteError' | 'mse' | 'mae';
export const METRICS: readonly MetricName[] = ['accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'meanSquaredError', 'meanAbsoluteError', 'mse', 'mae'];

function argmax(v: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[off + j] > v[off + best]) best = j;
  return best;
}

/** What a metric computes, given the labels' form: 'accuracy' follows the loss as Keras does (see metricSum). */
export type MetricKind = 'sparse' | 'categorical' | 'binary' | 'mse' | 'mae';
export function metricKind(name: MetricName, sparse: boolean, classes: number): MetricKind {
  return name === 'accuracy' ? (sparse ? 'sparse' : classes === 1 ? 'binary' : 'categorical')
    : name === 'binaryAccuracy' ? 'binary' : name === 'categoricalAccuracy' ? 'categorical' : name === 'sparseCategoricalAccuracy' ? 'sparse'
      : name === 'meanSquaredError' || name === 'mse' ? 'mse' : 'mae';
}

/**
 * Sum of the metric over `rows` examples of `cols` values each. 'accuracy' follows the loss as Keras does:
 * sparse labels -> argmax vs index; one class -> threshold 0.5 (binary); else argmax vs argmax. Outputs with
 * steps (a sequence of `classes`-wide rows per example) count each step, and an example scores its steps' mean.
 */
export function metricSum(name: MetricName, pred: ArrayLike<number>, target: ArrayLike<number>, rows: number, cols: number, sparse: boolean,
  classes = cols): number {
  let s = 0;
  const kind = metricKind(name, sparse, classes);
  const steps = Math.max(1, Math.round(cols / classes));
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    switch (kind) {
      case 'sparse': case 'categorical': {
        let ok = 0;
        for (let t = 0; t < steps; t++) {
          const at = o + t * classes, got = argmax(pred, at, classes);
          ok += got === (kind === 'sparse' ? target[r * steps + t] : argmax(target, at, classes)) ? 1 : 0;
        }
        s += ok / steps;
        break;
      }
      case 'binary': { let ok = 0; for (let j = 0; j < cols; j++) ok += (pred[o + j] > 0.5 ? 1 : 0) === (target[o + j] > 0.5 ? 1 : 0) ? 1 : 0; s += ok / cols; break; }
      case 'mse': { let e = 0; for (let j = 0; j < cols; j++) e += (pred[o + j] - target[o + j]) ** 2; s += e / cols; break; }
      default: { let e = 0; for (let j = 0; j < cols; j++) e += Math.abs(pred[o + j] - target[o + j]); s += e / cols; }
    }
  }
  return s;
}
