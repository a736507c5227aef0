// Losses with gradients: MSE, MAE, Huber / smooth-L1, binary cross-entropy (probabilities and logits),
// softmax cross-entropy (one-hot and sparse), binary and categorical hinge. Mean reduction as Keras.
// Kernels: assembly/loss.ts.
import { Loss } from '../backend/kernels.js';
import { fail, finite, formatShape, input, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp } from '../graph/registry.js';
import type { DeviceNumeric } from '../backend/webgpu/numeric.js';
import { runEager } from '../graph/eager.js';
import { sizeOfShape } from '../graph/ir.js';

export type LossName =
  | 'meanSquaredError' | 'meanAbsoluteError' | 'huber' | 'binaryCrossentropy' | 'sigmoidCrossEntropy'
  | 'categoricalCrossentropy' | 'softmaxCrossEntropy' | 'sparseSoftmaxCrossEntropy' | 'hinge' | 'categoricalHinge';

export const LOSSES: readonly LossName[] = [
  'meanSquaredError', 'meanAbsoluteError', 'huber', 'binaryCrossentropy', 'sigmoidCrossEntropy',
  'categoricalCrossentropy', 'softmaxCrossEntropy', 'sparseSoftmaxCrossEntropy', 'hinge', 'categoricalHinge',
];

export interface LossOptions {
  /** Huber threshold (default 1, which is smooth-L1). */
  delta?: number;
  /** Probability clipping for binaryCrossentropy (Keras epsilon, default 1e-7). */
  epsilon?: number;
}

/**
 * Mean loss and, if wanted, its gradient w.r.t. predictions. 'categoricalCrossentropy' here takes
 * probabilities (softmax outputs) as Keras does; 'softmaxCrossEntropy' takes logits.
 */
export function lossAndGrad(name: LossName, labels: Tensor | TensorLike, predictions: Tensor | TensorLike, opts: LossOptions = {},
  wantGrad = true): { loss: number; grad?: Tensor } {
  const sparse = name === 'sparseSoftmaxCrossEntropy';
  const p = input(predictions, name, 'predictions');
  const y = input(labels, name, 'labels', sparse ? 'int32' : 'float32');
  if (!LOSSES.includes(name)) fail('loss', `unknown loss '${String(name)}' (expected one of ${LOSSES.join(', ')})`);
  const cols = p.shape[p.rank - 1] ?? 1;
  const rows = p.size / Math.max(cols, 1);
  if (p.size === 0) fail(name, `empty predictions ${formatShape(p.shape)}`);
  if (sparse) {
    if (y.size !== rows) fail(name, `labels must be ${rows} class indices (one per row of ${formatShape(p.shape)}), got ${formatShape(y.shape)}`);
    const v = y.view();
    for (let i = 0; i < v.length; i++) {
      if (v[i] < 0 || v[i] >= cols) fail(name, `label ${v[i]} at row ${i} is outside [0, ${cols})`);
    }
  } else if (y.size !== p.size || y.shape.some((d, i) => d !== p.shape[i]) || y.rank !== p.rank) {
    fail(name, `labels ${formatShape(y.shape)} and predictions ${formatShape(p.shape)} must have the same shape`);
  }
  const attrs = { loss: name, delta: finite(opts.delta ?? 1, name, 'delta'), epsilon: finite(opts.epsilon ?? 1e-7, name, 'epsilon'), grad: wantGrad };
  const [l, grad] = runEager('loss', [p, sparse && y.rank !== 1 ? y.reshape([y.size]) : y], attrs);
  const loss = l.dataSync()[0];
  l.dispose();
  return { loss, grad };
}

function lossTensor(name: LossName, labels: Tensor | TensorLike, predictions: Tensor | TensorLike, opts?: LossOptions): Tensor {
  const { loss } = lossAndGrad(name, labels, predictions, opts, false);
  const t = Tensor.empty([]);
  t.view()[0] = loss;
  return t;
}

/** The losses as eager functions (labels first, as TF.js tf.losses). Each returns a scalar tensor. */
export const losses = {
  meanSquaredError: (labels: Tensor | TensorLike, predictions: Tensor | TensorLike) => lossTensor('meanSquaredError', labels, predictions),
  meanAbsoluteError: (labels: Tensor | TensorLike, predictions: Tensor | TensorLike) => lossTensor('meanAbsoluteError', labels, predictions),
  huberLoss: (labels: Tensor | TensorLike, predictions: Tensor | TensorLike, delta = 1) => lossTensor('huber', labels, predictions, { delta }),
  binaryCrossentropy: (labels: Tensor | TensorLike, probabilities: Tensor | TensorLike) => lossTensor('binaryCrossentropy', labels, probabilities),
  sigmoidCrossEntropy: (labels: Tensor | TensorLike, logits: Tensor | TensorLike) => lossTensor('sigmoidCrossEntropy', labels, logits),
  categoricalCrossentropy: (labels: Tensor | TensorLike, probabilities: Tensor | TensorLike) => lossTensor('categoricalCrossentropy', labels, probabilities),
  softmaxCrossEntropy: (onehotLabels: Tensor | TensorLike, logits: Tensor | TensorLike) => lossTensor('softmaxCrossEntropy', onehotLabels, logits),
  sparseSoftmaxCrossEntropy: (labels: Tensor | TensorLike, logits: Tensor | TensorLike) => lossTensor('sparseSoftmaxCrossEntropy', labels, logits),
  hingeLoss: (labels: Tensor | TensorLike, predictions: Tensor | TensorLike) => lossTensor('hinge', labels, predictions),
  categoricalHinge: (labels: Tensor | TensorLike, predictions: Tensor | TensorLike) => lossTensor('categoricalHinge', labels, predictions),
};

/** Reference losses in float64 (softmax/sigmoid evaluated naively but in double precision). */
export function refLoss(name: LossName, y: Arr, p: Arr, opts: LossOptions = {}): number {
  const n = p.data.length;
  const cols = p.shape[p.shape.length - 1], rows = n / cols;
  let s = 0;
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  switch (name) {
    case 'meanSquaredError': for (let i = 0; i < n; i++) s += (p.data[i] - y.data[i]) ** 2; return s / n;
    case 'meanAbsoluteError': for (let i = 0; i < n; i++) s += Math.abs(p.data[i] - y.data[i]); return s / n;
    case 'huber': {
      const d = opts.delta ?? 1;
      for (let i = 0; i < n; i++) { const e = Math.abs(p.data[i] - y.data[i]); s += e <= d ? 0.5 * e * e : d * (e - 0.5 * d); }
      return s / n;
    }
    case 'binaryCrossentropy': for (let i = 0; i < n; i++) s -= y.data[i] * Math.log(p.data[i]) + (1 - y.data[i]) * Math.log(1 - p.data[i]); return s / n;
    case 'sigmoidCrossEntropy': for (let i = 0; i < n; i++) s -= y.data[i] * Math.log(sig(p.data[i])) + (1 - y.data[i]) * Math.log(1 - sig(p.data[i])); return s / n;
    case 'hinge': for (let i = 0; i < n; i++) { const t = y.data[i] === 0 ? -1 : y.data[i]; s += Math.max(0, 1 - t * p.data[i]); } return s / n;
    case 'categoricalCrossentropy': for (let i = 0; i < n; i++) s -= y.data[i] * Math.log(p.data[i]); return s / rows;
    case 'softmaxCrossEntropy':
    case 'sparseSoftmaxCrossEntropy':
      for (let r = 0; r < rows; r++) {
        let z = 0;
        for (let c = 0; c < cols; c++) z += Math.exp(p.data[r * cols + c]);
        for (let c = 0; c < cols; c++) {
          const t = name === 'sparseSoftmaxCrossEntropy' ? (y.data[r] === c ? 1 : 0) : y.data[r * cols + c];
          s -= t * Math.log(Math.exp(p.data[r * cols + c]) / z);
        }
      }
      return s / rows;
    case 'categoricalHinge':
      for (let r = 0; r < rows; r++) {
        let pos = 0, neg = -Infinity;
        for (let c = 0; c < cols; c++) { pos += y.data[r * cols + c] * p.data[r * cols + c]; neg = Math.max(neg, (1 - y.data[r * cols + c]) * p.data[r * cols + c]); }
        s += Math.max(0, neg - pos + 1);
      }
      return s / rows;
  }
}

// ---- graph op: the loss and its gradient w.r.t. the prediction in one pass (the seed of autodiff) ----

/** The elementwise losses: the kernel's code and its parameter (Huber delta, BCE epsilon) from the attrs. */
const ELEMENTWISE: Record<string, (a: Record<string, unknown>) => [number, number]> = {
  meanSquaredError: () => [Loss.mse, 0],
  meanAbsoluteError: () => [Loss.mae, 0],
  huber: (a) => [Loss.huber, (a.delta as number) ?? 1],
  binaryCrossentropy: (a) => [Loss.bce, (a.epsilon as number) ?? 1e-7],
  sigmoidCrossEntropy: () => [Loss.bceLogits, 0],
  hinge: () => [Loss.hinge, 0],
};

registerOp({
  name: 'loss',
  // inputs: prediction, target; outputs: [1] mean loss, dLoss/dPrediction (unless attrs.grad is false)
  infer([p, t], a, node) {
    const name = a.loss as LossName;
    if (!LOSSES.includes(name)) fail('loss', `node '${node}': unknown loss '${String(name)}' (expected one of ${LOSSES.join(', ')})`);
    if (name === 'sparseSoftmaxCrossEntropy') {
      // one class index per row of predictions: [batch], or [batch, steps] for a sequence of predictions
      if (t.length !== p.length - 1 || t.some((d, i) => i > 0 && d !== p[i])) fail(name, `node '${node}': labels must be class indices ${formatShape(p.slice(0, -1))}, got ${formatShape(t)}`);
    } else if (t.length !== p.length || t.some((d, i) => i > 0 && d !== p[i])) {
      fail(name, `node '${node}': labels ${formatShape(t)} do not match predictions ${formatShape(p)}`);
    }
    return a.grad === false ? [[1]] : [[1], p.slice()];
  },
  outputDtype: () => 'float32',
  run(ctx, n) {
    const [p, t] = n.inputs, [l, g] = n.outputs;
    const shape = ctx.shape(p), cols = shape[shape.length - 1] ?? 1, size = sizeOfShape(shape), rows = size / cols;
    const k = ctx.be.kernels, P = ctx.ptr(p), T = ctx.ptr(t), G = g === undefined ? 0 : ctx.ptr(g), L = ctx.ptr(l);
    const a = n.attrs;
    const name = a.loss as LossName;
    // the kernels store the mean loss at L themselves (a GPU cannot return it)
    switch (name) {
      case 'meanSquaredError': case 'meanAbsoluteError': case 'huber': case 'binaryCrossentropy': case 'sigmoidCrossEntropy': case 'hinge': {
        const [code, param] = ELEMENTWISE[name](a);
        k.lossElementwise(code, size, P, T, G, param, L);
        break;
      }
      case 'softmaxCrossEntropy': case 'sparseSoftmaxCrossEntropy':
        k.softmaxCrossEntropy(rows, cols, P, T, +(name === 'sparseSoftmaxCrossEntropy'), G, L);
        break;
      case 'categoricalHinge': k.categoricalHinge(rows, cols, P, T, G, L); break;
      case 'categoricalCrossentropy': {
        // -sum t log(clip(p)) per row, mean over rows (Keras categorical_crossentropy on probabilities)
        const eps = 1e-7, gpu = ctx.be.syncRead ? undefined : (ctx.be as { numeric?: DeviceNumeric }).numeric;
        if (gpu) { gpu.categoricalCrossentropy(rows, size, P, T, G, L, eps); break; }
        const pv = ctx.be.f32(P, size), tv = ctx.be.f32(T, size), gv = G ? ctx.be.f32(G, size) : undefined;
        let total = 0;
        for (let i = 0; i < size; i++) {
          const q = Math.min(Math.max(pv[i], eps), 1 - eps);
          total -= tv[i] * Math.log(q);
          if (gv) gv[i] = pv[i] > eps && pv[i] < 1 - eps ? -tv[i] / q / rows : 0;
        }
        ctx.be.f32(L, 1)[0] = total / rows;
        break;
      }
    }
  },
});
