// Pooling forward against the reference (any window, stride, padding); backward against finite
// differences, and max pooling routes the gradient to the arg-max only.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import { maxPool, avgPool, maxPoolGrad, avgPoolGrad, globalAvgPool, globalAvgPoolGrad, poolGeometry, refPool } from '../src/ops/pool.js';
import type { Padding } from '../src/ops/conv.js';
import { tensor } from '../src/tensor.js';

const CASES: Array<{ x: number[]; k: number | [number, number]; s?: number | [number, number]; pad: Padding }> = [
  { x: [1, 4, 4, 1], k: 2, pad: 'valid' },
  { x: [2, 7, 7, 20], k: 3, s: 2, pad: 'same' },
  { x: [1, 9, 8, 5], k: [2, 3], s: [1, 2], pad: 'valid' },
  { x: [1, 5, 5, 16], k: 3, s: 1, pad: 'same' },
  { x: [3, 6, 6, 7], k: 2, pad: 'same' },
  { x: [1, 5, 6, 4], k: 2, s: 1, pad: [[1, 1], [0, 1]] },
];

/** Distinct values (a shuffled ramp) so the arg-max is unique and finite differences see no ties. */
function distinct(shape: number[], seed: number) {
  const a = randArr(shape, seed);
  const order = Array.from(a.data.keys()).sort((i, j) => a.data[i] - a.data[j]);
  order.forEach((idx, rank) => { a.data[idx] = rank * 0.01 - 1; });
  return a;
}

describe.each(BACKENDS)('pooling (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  it('max and average forward match the reference', () => {
    CASES.forEach((c, i) => {
      const x = randArr(c.x, i + 1);
      const g = poolGeometry(c.x, c.k, c.s, c.pad, 'test');
      expectClose(maxPool(t(x), c.k, c.s, c.pad).dataSync(), refPool(x, g, 'max').data, 1e-6, `max ${i}`);
      expectClose(avgPool(t(x), c.k, c.s, c.pad).dataSync(), refPool(x, g, 'avg').data, 1e-6, `avg ${i}`);
    });
  });

  it('backward matches finite differences', () => {
    CASES.forEach((c, i) => {
      const x = distinct(c.x, i + 10);
      const g = poolGeometry(c.x, c.k, c.s, c.pad, 'test');
      const dy = randArr([g.N, g.OH, g.OW, g.C], i + 20);
      const fmax = (v: Float64Array) => dot(dy.data, refPool({ shape: c.x, data: v }, g, 'max').data);
      const favg = (v: Float64Array) => dot(dy.data, refPool({ shape: c.x, data: v }, g, 'avg').data);
      expectGradClose(maxPoolGrad(t(x), t(dy), c.k, c.s, c.pad).dataSync(), numericGrad(fmax, x.data, 1e-4), `max ${i}`);
      expectGradClose(avgPoolGrad(t(x), t(dy), c.k, c.s, c.pad).dataSync(), numericGrad(favg, x.data, 1e-3), `avg ${i}`);
    });
  });

  it('max pooling sends each gradient to the arg-max input only, the first on ties', () => {
    const x = tensor([1, 9, 3, 4, 5, 5, 2, 5, 0, 0, 0, 0, 0, 0, 0, 0], [1, 4, 4, 1]);
    const dx = maxPoolGrad(x, tensor([10, 20, 30, 40], [1, 2, 2, 1]), 2).dataSync();
    expect(Array.from(dx)).toEqual([0, 10, 0, 0, 0, 0, 0, 20, 30, 0, 40, 0, 0, 0, 0, 0]);
  });

  it('global average pooling and its gradient', () => {
    const x = randArr([2, 3, 5, 6], 3);
    const y = globalAvgPool(t(x));
    expect(y.shape).toEqual([2, 6]);
    const g = poolGeometry([2, 3, 5, 6], [3, 5], 1, 'valid', 'test');
    expectClose(y.dataSync(), refPool(x, g, 'avg').data, 1e-6, 'gap');
    const dy = randArr([2, 6], 4);
    const f = (v: Float64Array) => dot(dy.data, refPool({ shape: x.shape, data: v }, g, 'avg').data);
    expectGradClose(globalAvgPoolGrad(t(x), t(dy)).dataSync(), numericGrad(f, x.data), 'gap grad');
  });
});
