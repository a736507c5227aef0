// Batch normalization: inference and training forward against the reference, running statistics, and
// the backward pass (x, gamma, beta) against finite differences.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import { batchNorm, batchNormTrain, batchNormGrad, refBatchNorm, refBatchNormTrain, CONV1X1_BN_GRAD } from '../src/ops/norm.js';
import { runEager } from '../src/graph/eager.js';

describe.each(BACKENDS)('batch norm (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  it('inference uses running statistics', () => {
    const x = randArr([2, 3, 3, 7], 1), m = randArr([7], 2), v = randArr([7], 3, 0.5, 2), b = randArr([7], 4), s = randArr([7], 5);
    expectClose(batchNorm(t(x), t(m), t(v), t(b), t(s), 1e-3).dataSync(), refBatchNorm(x, m, v, b, s, 1e-3).data, 1e-5, 'infer');
  });

  it('training normalizes with batch statistics and updates the running averages (Keras momentum rule)', () => {
    const x = randArr([4, 5, 5, 6], 6, -2, 5), gamma = randArr([6], 7), beta = randArr([6], 8);
    const rm = t({ shape: [6], data: new Float32Array(6).fill(0.5) }), rv = t({ shape: [6], data: new Float32Array(6).fill(2) });
    const { y, mean } = batchNormTrain(t(x), t(gamma), t(beta), { epsilon: 1e-3, momentum: 0.9, movingMean: rm, movingVariance: rv });
    expectClose(y.dataSync(), refBatchNormTrain(x, gamma, beta, 1e-3).data, 1e-5, 'train');
    const M = 100, bm = new Float64Array(6), bv = new Float64Array(6);
    for (let c = 0; c < 6; c++) {
      for (let r = 0; r < M; r++) bm[c] += x.data[r * 6 + c] / M;
      for (let r = 0; r < M; r++) bv[c] += (x.data[r * 6 + c] - bm[c]) ** 2 / M;
    }
    expectClose(mean.dataSync(), bm, 1e-6, 'batch mean');
    expectClose(rm.dataSync(), Array.from(bm, (v) => 0.9 * 0.5 + 0.1 * v), 1e-6, 'running mean');
    expectClose(rv.dataSync(), Array.from(bv, (v) => 0.9 * 2 + 0.1 * v), 1e-6, 'running variance');
  });

  it('backward matches finite differences for x, gamma and beta', () => {
    for (const shape of [[3, 4], [2, 3, 3, 5], [1, 1, 7, 3]]) {
      const C = shape[shape.length - 1];
      const x = randArr(shape, 9), gamma = randArr([C], 10), beta = randArr([C], 11), g = randArr(shape, 12);
      const { mean, invStd } = batchNormTrain(t(x), t(gamma), t(beta), { epsilon: 1e-3 });
      const { dx, dgamma, dbeta } = batchNormGrad(t(x), t(g), t(gamma), mean, invStd);
      const f = (xv: ArrayLike<number>, gv: ArrayLike<number>, bv: ArrayLike<number>) =>
        dot(g.data, refBatchNormTrain({ shape, data: xv }, { shape: [C], data: gv }, { shape: [C], data: bv }, 1e-3).data);
      expectGradClose(dx.dataSync(), numericGrad((v) => f(v, gamma.data, beta.data), x.data), `dx ${shape}`);
      expectGradClose(dgamma.dataSync(), numericGrad((v) => f(x.data, v, beta.data), gamma.data), `dgamma ${shape}`);
      expectGradClose(dbeta.dataSync(), numericGrad((v) => f(x.data, gamma.data, v), beta.data), `dbeta ${shape}`);
    }
  });

  it('after a 1x1 conv, the gradient that recomputes the conv in blocks of rows (conv1x1BatchNormGrad) is batchNormGrad\'s of the conv\'s output, bit for bit', () => {
    // rows over several blocks and a last partial one (blocks of 4096, 640 and 128 rows at 16, 96 and 600
    // channels); 16 channels out is the SIMD builds' direct conv; with and without a bias
    const cases: Array<[number[], number, boolean]> = [[[2, 50, 51, 5], 16, false], [[2, 20, 20, 8], 96, true], [[1, 9, 31, 3], 600, false]];
    for (const [shape, CO, withBias] of cases) {
      const K = shape[3], what = `${shape} -> ${CO}${withBias ? ' + bias' : ''}`;
      const a = t(randArr(shape, 20)), w = t(randArr([1, 1, K, CO], 21)), bias = t(randArr([CO], 22));
      const conv = runEager('conv2d', withBias ? [a, w, bias] : [a, w], { strides: [1, 1], pad: 'valid', dilations: [1, 1], activation: 'linear' })[0];
      const gamma = t(randArr([CO], 23, 0.5, 2)), beta = t(randArr([CO], 24));
      const { mean, invStd } = batchNormTrain(conv, gamma, beta, { epsilon: 1e-3 });
      const dy = t(randArr([...shape.slice(0, 3), CO], 25));
      const want = batchNormGrad(conv, dy, gamma, mean, invStd);
      const got = runEager(CONV1X1_BN_GRAD, [a, w, dy, gamma, mean, invStd, ...(withBias ? [bias] : [])]);
      [want.dx, want.dgamma, want.dbeta].forEach((wt, k) => {
        const p = got[k].dataSync(), q = wt.dataSync();
        expect(p.length, what).toBe(q.length);
        const at = q.findIndex((v, i) => !Object.is(v, p[i]));
        expect(at, `${['dx', 'dgamma', 'dbeta'][k]} of ${what}: element ${at}: ${p[at]} vs ${q[at]}`).toBe(-1);
      });
      expect(Math.max(...Array.from(got[1].dataSync(), Math.abs)), what).toBeGreaterThan(1e-3);
    }
  });

  it('keeps precision over many rows (f64 statistics)', () => {
    const M = 200_000, C = 2;
    const x = randArr([M, C], 13, 1000, 1001);
    const { mean } = batchNormTrain(t(x), t({ shape: [C], data: new Float32Array([1, 1]) }), t({ shape: [C], data: new Float32Array(2) }));
    let m0 = 0;
    for (let r = 0; r < M; r++) m0 += x.data[r * C];
    expect(mean.dataSync()[0]).toBeCloseTo(m0 / M, 2);
  });
});
