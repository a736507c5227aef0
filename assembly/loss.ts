// Losses over predictions [rows, cols] and targets of the same shape (sparse CE: i32 labels [rows]).
// Each returns the mean loss (Keras reduction: mean over elements, or over rows for the per-row losses)
// and, when grad != 0, writes d(mean loss)/d(pred). Accumulation is in f64.
import { sigmoidf } from './common';

export const LOSS_MSE: i32 = 0;
export const LOSS_MAE: i32 = 1;
export const LOSS_HUBER: i32 = 2;
export const LOSS_BCE: i32 = 3;
export const LOSS_BCE_LOGITS: i32 = 4;
export const LOSS_HINGE: i32 = 5;

/** Elementwise losses, mean over n = rows * cols. param: Huber's delta; epsilon for BCE. */
export function lossElementwise(kind: i32, n: i32, pred: usize, target: usize, grad: usize, param: f32, out: usize): f64 {
  let s: f64 = 0;
  const inv: f32 = 1 / <f32>n;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const p = load<f32>(pred + o), t = load<f32>(target + o);
    let l: f64 = 0;
    let g: f32 = 0;
    switch (kind) {
      case LOSS_MSE: { const d = p - t; l = <f64>d * <f64>d; g = 2 * d; break; }
      case LOSS_MAE: { const d = p - t; l = Math.abs(<f64>d); g = d > 0 ? 1 : (d < 0 ? -1 : 0); break; }
      case LOSS_HUBER: {
        // Huber (smooth L1 for delta = 1): 0.5 d^2 if |d| <= delta, else delta (|d| - 0.5 delta)
        const d = p - t, a = Mathf.abs(d);
        if (a <= param) { l = 0.5 * <f64>d * <f64>d; g = d; } else { l = <f64>param * (<f64>a - 0.5 * <f64>param); g = d > 0 ? param : -param; }
        break;
      }
      case LOSS_BCE: {
        // from probabilities, clipped to [eps, 1 - eps] as Keras does; zero gradient where clipped
        const pc = min(max(p, param), 1 - param);
        l = -(<f64>t * Math.log(<f64>pc) + (1 - <f64>t) * Math.log(1 - <f64>pc));
        g = p > param && p < 1 - param ? (pc - t) / (pc * (1 - pc)) : 0;
        break;
      }
      case LOSS_BCE_LOGITS: {
        // max(z, 0) - z t + log(1 + e^-|z|): never overflows
        const z = p;
        l = <f64>max(z, 0) - <f64>z * <f64>t + Math.log1p(Math.exp(-Math.abs(<f64>z)));
        g = sigmoidf(z) - t;
        break;
      }
      default: {
        // binary hinge, targets in {-1, 1} (0/1 targets are mapped to -1/1 as Keras does)
        const y: f32 = t == 0 ? -1 : (t == 1 ? 1 : t);
        const m: f32 = <f32>1 - y * p;
        if (m > 0) { l = <f64>m; g = -y; }
      }
    }
    s += l;
    if (grad) store<f32>(grad + o, g * inv);
  }
  return mean(s / <f64>n, out);
}

/**
 * Softmax cross-entropy from logits [rows, cols]. Targets: one-hot or soft labels [rows, cols] (sparse == 0),
 * or i32 class indices [rows] (sparse != 0). Loss per row = logsumexp(z) - sum t z / sum t ... i.e.
 * -sum_j t_j log softmax(z)_j; gradient (softmax(z) sum t - t) / rows.
 */
export function softmaxCrossEntropy(rows: i32, cols: i32, logits: usize, target: usize, sparse: i32, grad: usize, out: usize): f64 {
  let total: f64 = 0;
  const inv: f32 = 1 / <f32>rows;
  for (let r = 0; r < rows; r++) {
    const z = logits + (<usize>(r * cols) << 2);
    let m: f32 = -Infinity;
    for (let c = 0; c < cols; c++) m = max(m, load<f32>(z + (<usize>c << 2)));
    let se: f64 = 0;
    for (let c = 0; c < cols; c++) se += Math.exp(<f64>(load<f32>(z + (<usize>c << 2)) - m));
    const lse = <f64>m + Math.log(se);
    let tsum: f64 = 0, tz: f64 = 0;
    const label = sparse ? load<i32>(target + (<usize>r << 2)) : -1;
    if (sparse) {
      tsum = 1;
      tz = <f64>load<f32>(z + (<usize>label << 2));
    } else {
      const t = target + (<usize>(r * cols) << 2);
      for (let c = 0; c < cols; c++) {
        const tv = <f64>load<f32>(t + (<usize>c << 2));
        tsum += tv;
        tz += tv * <f64>load<f32>(z + (<usize>c << 2));
      }
    }
    total += tsum * lse - tz;
    if (grad) {
      const gr = grad + (<usize>(r * cols) << 2);
      for (let c = 0; c < cols; c++) {
        const sm = <f32>(Math.exp(<f64>load<f32>(z + (<usize>c << 2)) - lse));
        const tv: f32 = sparse ? (c == label ? 1 : 0) : load<f32>(target + (<usize>(r * cols + c) << 2));
        store<f32>(gr + (<usize>c << 2), (sm * <f32>tsum - tv) * inv);
      }
    }
  }
  return mean(total / <f64>rows, out);
}

/**
 * Multi-class (Crammer-Singer) hinge as Keras' categorical_hinge: per row, with one-hot t,
 * max(0, 1 + max_{j: t_j = 0} p_j - sum_j t_j p_j). Mean over rows.
 */
export function categoricalHinge(rows: i32, cols: i32, pred: usize, target: usize, grad: usize, out: usize): f64 {
  let total: f64 = 0;
  const inv: f32 = 1 / <f32>rows;
  for (let r = 0; r < rows; r++) {
    const p = pred + (<usize>(r * cols) << 2), t = target + (<usize>(r * cols) << 2);
    let pos: f32 = 0, neg: f32 = -Infinity;
    let arg = -1;
    for (let c = 0; c < cols; c++) {
      const tv = load<f32>(t + (<usize>c << 2)), pv = load<f32>(p + (<usize>c << 2));
      pos += tv * pv;
      const nv: f32 = (<f32>1 - tv) * pv;
      if (nv > neg) { neg = nv; arg = c; }
    }
    const m: f32 = neg - pos + 1;
    if (m > 0) total += <f64>m;
    if (grad) {
      for (let c = 0; c < cols; c++) {
        let g: f32 = 0;
        if (m > 0) {
          const tv = load<f32>(t + (<usize>c << 2));
          g = -tv + (c == arg ? 1 - tv : 0);
        }
        store<f32>(grad + (<usize>(r * cols + c) << 2), g * inv);
      }
    }
  }
  return mean(total / <f64>rows, out);
}

/** The mean loss, also stored (as f32) at `out` when it is not 0: a caller that cannot read a return value synchronously (a GPU plan) reads it from memory. */
@inline function mean(v: f64, out: usize): f64 {
  if (out) store<f32>(out, <f32>v);
  return v;
}
