// Each loss against its float64 reference and its gradient against finite differences.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, numericGrad, expectGradClose } from './helpers.js';
import { lossAndGrad, losses, refLoss, type LossName } from '../src/ops/loss.js';
import { tensor } from '../src/tensor.js';

function oneHot(rows: number, cols: number, seed: number) {
  const r = randArr([rows], seed, 0, cols);
  const labels = Array.from(r.data, (v) => Math.floor(v));
  const data = new Float32Array(rows * cols);
  labels.forEach((l, i) => { data[i * cols + l] = 1; });
  return { onehot: { shape: [rows, cols], data }, labels };
}

function softmaxRows(z: { shape: number[]; data: Float32Array }) {
  const [rows, cols] = z.shape;
  const out = new Float32Array(z.data.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(z.data[r * cols + c]);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(z.data[r * cols + c]) / s;
  }
  return { shape: z.shape, data: out };
}

describe.each(BACKENDS)('losses (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  const rows = 6, cols = 5;
  const cases = (): Array<[LossName, { shape: number[]; data: Float32Array }, { shape: number[]; data: Float32Array }]> => {
    const pred = randArr([rows, cols], 1, -2, 2), target = randArr([rows, cols], 2, -2, 2);
    const probs = randArr([rows, cols], 3, 0.05, 0.95), bin = randArr([rows, cols], 4, 0, 1);
    bin.data.forEach((v, i) => { bin.data[i] = v > 0.5 ? 1 : 0; });
    const { onehot } = oneHot(rows, cols, 5);
    return [
      ['meanSquaredError', target, pred], ['meanAbsoluteError', target, pred], ['huber', target, pred],
      ['binaryCrossentropy', bin, probs], ['sigmoidCrossEntropy', bin, pred], ['hinge', bin, pred],
      ['softmaxCrossEntropy', onehot, pred], ['categoricalHinge', onehot, pred], ['categoricalCrossentropy', onehot, softmaxRows(pred)],
    ];
  };

  it('values match the references and gradients match finite differences', () => {
    for (const [name, y, p] of cases()) {
      const { loss, grad } = lossAndGrad(name, t(y), t(p), { delta: 0.7 });
      expect(loss, name).toBeCloseTo(refLoss(name, y, p, { delta: 0.7 }), 5);
      const f = (v: Float64Array) => refLoss(name, y, { shape: p.shape, data: v }, { delta: 0.7 });
      expectGradClose(grad!.dataSync(), numericGrad(f, p.data, 1e-4), name);
    }
  });

  it('sparse softmax cross-entropy equals the one-hot form', () => {
    const { onehot, labels } = oneHot(rows, cols, 6);
    const z = randArr([rows, cols], 7, -3, 3);
    const sparse = lossAndGrad('sparseSoftmaxCrossEntropy', tensor(labels, [rows], 'int32'), t(z));
    const dense = lossAndGrad('softmaxCrossEntropy', t(onehot), t(z));
    expect(sparse.loss).toBeCloseTo(dense.loss, 6);
    expect(Array.from(sparse.grad!.dataSync())).toEqual(Array.from(dense.grad!.dataSync()));
    expect(sparse.loss).toBeCloseTo(refLoss('sparseSoftmaxCrossEntropy', { shape: [rows], data: labels }, z), 5);
  });

  it('logit losses stay finite for huge logits', () => {
    const z = tensor([[1e4, -1e4, 0]]);
    expect(Number.isFinite(losses.softmaxCrossEntropy(tensor([[0, 1, 0]]), z).dataSync()[0])).toBe(true);
    expect(Number.isFinite(losses.sigmoidCrossEntropy(tensor([[0, 1, 1]]), z).dataSync()[0])).toBe(true);
    expect(losses.sigmoidCrossEntropy(tensor([[0, 1, 1]]), z).dataSync()[0]).toBeCloseTo((1e4 + 1e4 + Math.log(2)) / 3, 2);
  });

  it('huber with delta 1 is smooth L1; MSE/MAE of equal tensors is 0', () => {
    const y = tensor([[0, 0, 0]]), p = tensor([[0.5, -2, 3]]);
    expect(losses.huberLoss(y, p).dataSync()[0]).toBeCloseTo((0.125 + 1.5 + 2.5) / 3, 6);
    expect(losses.meanSquaredError(p, p).dataSync()[0]).toBe(0);
    expect(losses.meanAbsoluteError(p, p).dataSync()[0]).toBe(0);
  });
});
