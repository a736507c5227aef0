// Metrics over a batch of predictions: each returns the sum over examples (the trainer averages).

export type MetricName = 'accuracy' | 'binaryAccuracy' | 'categoricalAccuracy' | 'sparseCategoricalAccuracy' | 'meanSquaredError' | 'meanAbsoluteError' | 'mse' | 'mae';
export const METRICS: readonly MetricName[] = ['accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'meanSquaredError', 'meanAbsoluteError', 'mse', 'mae'];

function argmax(v: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[off + j] > v[off + best]) best = j;
  return best;
}

/**
 * Sum of the metric over `rows` examples. 'accuracy' follows the loss as Keras does: sparse labels ->
 * argmax vs index; one column -> threshold 0.5 (binary); else argmax vs argmax.
 */
export function metricSum(name: MetricName, pred: ArrayLike<number>, target: ArrayLike<number>, rows: number, cols: number, sparse: boolean): number {
  let s = 0;
  const kind = name === 'accuracy' ? (sparse ? 'sparse' : cols === 1 ? 'binary' : 'categorical')
    : name === 'binaryAccuracy' ? 'binary' : name === 'categoricalAccuracy' ? 'categorical' : name === 'sparseCategoricalAccuracy' ? 'sparse'
      : name === 'meanSquaredError' || name === 'mse' ? 'mse' : 'mae';
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    switch (kind) {
      case 'sparse': s += argmax(pred, o, cols) === target[r] ? 1 : 0; break;
      case 'categorical': s += argmax(pred, o, cols) === argmax(target, o, cols) ? 1 : 0; break;
      case 'binary': { let ok = 0; for (let j = 0; j < cols; j++) ok += (pred[o + j] > 0.5 ? 1 : 0) === (target[o + j] > 0.5 ? 1 : 0) ? 1 : 0; s += ok / cols; break; }
      case 'mse': { let e = 0; for (let j = 0; j < cols; j++) e += (pred[o + j] - target[o + j]) ** 2; s += e / cols; break; }
      default: { let e = 0; for (let j = 0; j < cols; j++) e += Math.abs(pred[o + j] - target[o + j]); s += e / cols; }
    }
  }
  return s;
}
