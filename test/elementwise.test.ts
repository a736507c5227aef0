// Broadcasting binary ops, their gradients (sums over broadcast axes), unary ops and reductions.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import { binary, binaryGrad, refBinary, unary, sumToShape, type BinaryOp } from '../src/ops/elementwise.js';
import { reduce, reduceGrad, refReduce, argMax } from '../src/ops/reduce.js';
import { tensor } from '../src/tensor.js';

const PAIRS: Array<[number[], number[]]> = [
  [[5], [5]], [[3, 4], [4]], [[3, 4], [3, 1]], [[2, 3, 4], [1, 3, 1]], [[1], [2, 3]], [[2, 1, 5], [1, 4, 1]],
  [[2, 3, 4, 5], [5]], [[7, 1, 3], [1, 6, 1]], [[], [3, 2]], [[4, 33], [4, 33]], [[2, 2, 2, 2, 2], [2, 1, 2, 1, 2]],
];
const OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow'];

describe.each(BACKENDS)('elementwise and reductions (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  it('binary ops broadcast like NumPy', () => {
    PAIRS.forEach(([sa, sb], i) => {
      const a = randArr(sa, i + 1, 0.5, 2), b = randArr(sb, i + 50, 0.5, 2);
      for (const op of OPS) {
        expectClose(binary(op, t(a), t(b)).dataSync(), refBinary(op, a, b).data, 1e-6, `${op} ${sa} ${sb}`);
        expectClose(binary(op, t(b), t(a)).dataSync(), refBinary(op, b, a).data, 1e-6, `${op} ${sb} ${sa}`);
      }
    });
  });

  it('binary gradients sum over broadcast axes (finite differences)', () => {
    PAIRS.slice(0, 8).forEach(([sa, sb], i) => {
      const a = randArr(sa, i + 100, 0.5, 2), b = randArr(sb, i + 150, 0.5, 2);
      const outShape = refBinary('add', a, b).shape;
      const g = randArr(outShape, i + 200);
      for (const op of ['add', 'sub', 'mul', 'div', 'pow'] as BinaryOp[]) {
        const { da, db } = binaryGrad(op, t(a), t(b), t(g));
        expect(da.shape).toEqual(sa); expect(db.shape).toEqual(sb);
        expectGradClose(da.dataSync(), numericGrad((v) => dot(g.data, refBinary(op, { shape: sa, data: v }, b).data), a.data), `${op} da ${sa}|${sb}`);
        expectGradClose(db.dataSync(), numericGrad((v) => dot(g.data, refBinary(op, a, { shape: sb, data: v }).data), b.data), `${op} db ${sa}|${sb}`);
      }
    });
  });

  it('pow is C\'s pow: a negative base to an integer power keeps its sign, to a fractional one is NaN; 0^0 = 1, 0^-1 = Infinity', () => {
    const got = binary('pow', tensor([-2, -2, -2, 0, 0, 0, 2, 4], [8]), tensor([2, 3, 0.5, 0, -1, 2, -2, 0.5], [8])).dataSync();
    expect(Array.from(got)).toEqual([4, -8, NaN, 1, Infinity, 0, 0.25, 2]);
  });

  it('sumToShape is the adjoint of broadcasting', () => {
    const big = randArr([4, 3, 5], 1);
    const got = sumToShape(t(big), [3, 1]).dataSync();
    const want = new Float64Array(3);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 5; k++) want[j] += big.data[(i * 3 + j) * 5 + k];
    expectClose(got, want, 1e-5, 'sumToShape');
  });

  it('unary math', () => {
    const x = randArr([37], 2, 0.1, 3);
    const f: Record<string, (v: number) => number> = {
      neg: (v) => -v, abs: Math.abs, exp: Math.exp, log: Math.log, sqrt: Math.sqrt, square: (v) => v * v, reciprocal: (v) => 1 / v,
    };
    for (const [op, fn] of Object.entries(f)) {
      expectClose(unary(op as never, t(x)).dataSync(), Array.from(x.data, fn), 1e-6, op);
    }
  });

  it('reductions over each axis, all axes and several axes, with keepDims', () => {
    const x = randArr([3, 5, 7], 3);
    for (const op of ['sum', 'mean', 'max', 'min'] as const) {
      for (const axis of [0, 1, 2, -1]) {
        expectClose(reduce(op, t(x), axis).dataSync(), refReduce(op, x, axis < 0 ? 2 : axis).data, 1e-5, `${op} axis ${axis}`);
      }
      const all = reduce(op, t(x));
      expect(all.shape).toEqual([]);
      const flat = refReduce(op, { shape: [105], data: x.data }, 0).data[0];
      expect(all.dataSync()[0]).toBeCloseTo(flat, 4);
      const k = reduce(op, t(x), [0, 2], true);
      expect(k.shape).toEqual([1, 5, 1]);
      expectClose(k.dataSync(), refReduce(op, refReduce(op === 'mean' ? 'mean' : op, x, 2), 0).data, 1e-5, `${op} [0,2]`);
    }
  });

  it('argMax returns the first maximum as int32', () => {
    const x = tensor([[1, 5, 5, 2], [7, 0, 7, 1]]);
    const a = argMax(x);
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.dataSync())).toEqual([1, 0]);
    expect(Array.from(argMax(x, 0).dataSync())).toEqual([1, 0, 1, 0]);
  });

  it('reduction gradients match finite differences (max routes to the arg-max)', () => {
    const x = randArr([4, 6, 5], 4);
    for (const op of ['sum', 'mean', 'max', 'min'] as const) {
      for (const axis of [0, 1, 2]) {
        const outShape = x.shape.filter((_, i) => i !== axis);
        const g = randArr(outShape, 5 + axis);
        const dx = reduceGrad(op, t(x), axis, t(g)).dataSync();
        expectGradClose(dx, numericGrad((v) => dot(g.data, refReduce(op, { shape: x.shape, data: v }, axis).data), x.data, 1e-4), `${op} axis ${axis}`);
      }
    }
  });
});
