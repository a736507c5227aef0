// The classic perceptron (Rosenblatt 1958): a threshold unit y = step(w x + b) trained by the perceptron
// learning rule w += lr (t - y) x, b += lr (t - y). It stops once an epoch makes no mistake (the data is
// separated) or at maxEpochs; by the convergence theorem it stops early exactly when the data is linearly
// separable (with enough epochs), so XOR runs to the limit while AND and OR converge.
import { Tensor, formatShape } from '../tensor.js';

export class Perceptron {
  weights: Float64Array;
  bias = 0;
  constructor(readonly inputs: number) {
    if (!Number.isInteger(inputs) || inputs < 1) throw new Error(`edgegrad.Perceptron: inputs must be a positive integer, got ${inputs}`);
    this.weights = new Float64Array(inputs);
  }

  private rows(x: Tensor, op: string): number {
    if (x.rank !== 2 || x.shape[1] !== this.inputs) throw new Error(`edgegrad.Perceptron.${op}: x must be [n, ${this.inputs}], got ${formatShape(x.shape)}`);
    return x.shape[0];
  }

  /** 1 where w x + b > 0, else 0. */
  predict(x: Tensor): Int32Array {
    const n = this.rows(x, 'predict'), v = x.view();
    const out = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      let s = this.bias;
      for (let j = 0; j < this.inputs; j++) s += this.weights[j] * v[r * this.inputs + j];
      out[r] = s > 0 ? 1 : 0;
    }
    return out;
  }

  /** Train on 0/1 targets. Returns the epochs run, whether the data was separated, and mistakes per epoch. */
  fit(x: Tensor, targets: ArrayLike<number>, o: { maxEpochs?: number; learningRate?: number } = {}): { epochs: number; converged: boolean; errors: number[] } {
    const n = this.rows(x, 'fit');
    if (targets.length !== n) throw new Error(`edgegrad.Perceptron.fit: ${n} rows but ${targets.length} targets`);
    for (let i = 0; i < n; i++) if (targets[i] !== 0 && targets[i] !== 1) throw new Error(`edgegrad.Perceptron.fit: target ${targets[i]} at ${i} is not 0 or 1`);
    const maxEpochs = o.maxEpochs ?? 100, lr = o.learningRate ?? 1;
    const v = x.view();
    const errors: number[] = [];
    for (let e = 0; e < maxEpochs; e++) {
      let mistakes = 0;
      for (let r = 0; r < n; r++) {
        let s = this.bias;
        for (let j = 0; j < this.inputs; j++) s += this.weights[j] * v[r * this.inputs + j];
        const err = targets[r] - (s > 0 ? 1 : 0);
        if (err !== 0) {
          mistakes++;
          for (let j = 0; j < this.inputs; j++) this.weights[j] += lr * err * v[r * this.inputs + j];
          this.bias += lr * err;
        }
      }
      errors.push(mistakes);
      if (mistakes === 0) return { epochs: e + 1, converged: true, errors };
    }
    return { epochs: maxEpochs, converged: false, errors };
  }
}
