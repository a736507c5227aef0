// Every activation against its float64 reference, every derivative against finite differences, and the
// parameterized / stateful ones (PReLU, randomized leaky ReLU, maxout).
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import {
  ACTIVATIONS, activation, activationGrad, refActivation, refActivation1, refErf, prelu, preluGrad, refPrelu, rrelu,
  maxout, maxoutGrad, refMaxout, type ActivationName,
} from '../src/ops/activation.js';
import { tensor } from '../src/tensor.js';

/** Inputs kept away from the kinks (0, and 6 for ReLU6) so finite differences are valid. */
function smoothInputs(shape: number[], seed: number, lo = -4, hi = 8) {
  const a = randArr(shape, seed, lo, hi);
  for (let i = 0; i < a.data.length; i++) {
    if (Math.abs(a.data[i]) < 0.05) a.data[i] += 0.1;
    if (Math.abs(a.data[i] - 6) < 0.05) a.data[i] += 0.1;
  }
  return a;
}

describe.each(BACKENDS)('activations (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  it('forward matches the reference for every activation, on odd sizes', () => {
    for (const name of ACTIVATIONS) {
      for (const shape of [[1], [3, 7], [2, 3, 33]]) {
        const x = randArr(shape, shape.length, -6, 8);
        expectClose(activation(t(x), name).dataSync(), refActivation(x, name).data, 2e-6, `${name} ${shape}`);
      }
    }
  });

  it('is stable at extreme inputs (no NaN or Infinity where the function is finite)', () => {
    const x = tensor([-1e4, -100, -20, 0, 20, 100, 1e4]);
    for (const name of ['sigmoid', 'tanh', 'softplus', 'elu', 'selu', 'gelu'] as ActivationName[]) {
      const y = activation(x, name).dataSync();
      y.forEach((v, i) => expect(Number.isFinite(v), `${name}(${x.dataSync()[i]}) = ${v}`).toBe(true));
    }
    const sm = activation(tensor([[1000, 0, -1000]]), 'softmax').dataSync();
    expect(Array.from(sm)).toEqual([1, 0, 0]);
    const lsm = activation(tensor([[1000, 0]]), 'logSoftmax').dataSync();
    expect(lsm[0]).toBeCloseTo(0, 6); expect(lsm[1]).toBeCloseTo(-1000, 3);
  });

  it('NaN propagates through the ReLU family (vector and scalar paths)', () => {
    const v = new Float32Array(37).fill(-1);
    v[0] = NaN; v[17] = NaN; v[36] = NaN;
    for (const name of ['relu', 'relu6', 'leakyRelu'] as ActivationName[]) {
      const y = activation(tensor(v), name).dataSync();
      for (const i of [0, 17, 36]) expect(Number.isNaN(y[i]), `${name} at ${i}`).toBe(true);
    }
  });

  it('derivatives match finite differences', () => {
    for (const name of ACTIVATIONS) {
      const x = smoothInputs([4, 9], 3);
      const g = randArr([4, 9], 4);
      const xt = t(x), y = activation(xt, name);
      const dx = activationGrad(name, xt, y, t(g)).dataSync();
      if (name === 'step' || name === 'sign') {
        expect(Array.from(dx).every((v) => v === 0), `${name}' is 0 almost everywhere`).toBe(true);
        continue;
      }
      const f = (v: Float64Array) => dot(g.data, refActivation({ shape: x.shape, data: v }, name).data);
      expectGradClose(dx, numericGrad(f, x.data, 1e-3), name);
    }
  });

  it('leaky ReLU and ELU take their parameter', () => {
    const x = randArr([50], 5, -3, 3);
    expectClose(activation(t(x), 'leakyRelu', 0.01).dataSync(), Array.from(x.data, (v) => refActivation1('leakyRelu', v, 0.01)), 1e-6, 'leaky');
    expectClose(activation(t(x), 'elu', 0.5).dataSync(), Array.from(x.data, (v) => refActivation1('elu', v, 0.5)), 1e-6, 'elu');
  });

  it('GELU is exact (erf-based) to float precision', () => {
    for (const v of [-5, -2.5, -1, -0.3, 0, 0.2, 0.7, 1.5, 3, 4.2, 6]) expect(refErf(v)).toBeCloseTo(erfRef(v), 12);
  });

  it('PReLU forward and gradients (input and per-channel slope)', () => {
    const x = smoothInputs([2, 3, 5], 6, -3, 3), a = randArr([5], 7, 0, 0.5), g = randArr([2, 3, 5], 8);
    expectClose(prelu(t(x), t(a)).dataSync(), refPrelu(x, a).data, 1e-6, 'prelu');
    const { dx, dalpha } = preluGrad(t(x), t(a), t(g));
    expectGradClose(dx.dataSync(), numericGrad((v) => dot(g.data, refPrelu({ shape: x.shape, data: v }, a).data), x.data), 'prelu dx');
    expectGradClose(dalpha.dataSync(), numericGrad((v) => dot(g.data, refPrelu(x, { shape: [5], data: v }).data), a.data), 'prelu dalpha');
  });

  it('randomized leaky ReLU: random slopes in [lower, upper) when training, their mean at inference', () => {
    const x = randArr([1000], 9, -2, 2);
    const { y, slopes } = rrelu(t(x), { lower: 0.1, upper: 0.3, training: true });
    const s = slopes!.dataSync(), yv = y.dataSync();
    const negSlopes: number[] = [];
    x.data.forEach((v, i) => {
      if (v >= 0) { expect(s[i]).toBe(1); expect(yv[i]).toBe(v); } else {
        expect(s[i]).toBeGreaterThanOrEqual(0.1); expect(s[i]).toBeLessThan(0.3);
        expect(yv[i]).toBeCloseTo(v * s[i], 6); negSlopes.push(s[i]);
      }
    });
    expect(new Set(negSlopes).size).toBeGreaterThan(negSlopes.length * 0.9);
    const inf = rrelu(t(x), { lower: 0.1, upper: 0.3 }).y.dataSync();
    x.data.forEach((v, i) => expect(inf[i]).toBeCloseTo(v >= 0 ? v : 0.2 * v, 6));
  });

  it('maxout forward and gradient to the arg-max of each group', () => {
    const x = randArr([3, 12], 10);
    expectClose(maxout(t(x), 4).dataSync(), refMaxout(x, 4).data, 0, 'maxout');
    const g = randArr([3, 4], 11);
    const dx = maxoutGrad(t(x), 4, t(g)).dataSync();
    expectGradClose(dx, numericGrad((v) => dot(g.data, refMaxout({ shape: x.shape, data: v }, 4).data), x.data, 1e-4), 'maxout grad');
  });
});

/** erf by Simpson's rule on 2/sqrt(pi) exp(-t^2), independent of both implementations. */
function erfRef(x: number): number {
  const n = 20000, h = x / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const w = i === 0 || i === n ? 1 : i % 2 ? 4 : 2;
    s += w * Math.exp(-((i * h) ** 2));
  }
  return (2 / Math.sqrt(Math.PI)) * s * h / 3;
}

// The 1-bit derivative masks a training step keeps in place of ReLU / ReLU6 / leaky ReLU outputs
// (graph/passes.ts maskActivations), on every backend, against the rule written out here.
describe.each(BACKENDS)('activation masks (%s)', (build) => {
  it('actMask packs f\'(x) != 0 per row (rows of 5, 37 and 64 values, boundaries 0 and 6 included); actMaskedBackward gives dy or slope * dy', () => {
    const be = useBuild(build);
    const kinds = [{ kind: 1, on: (v: number) => v > 0, slope: 0 }, { kind: 2, on: (v: number) => v > 0 && v < 6, slope: 0 }, { kind: 3, on: (v: number) => v >= 0, slope: 0.25 }];
    for (const per of [5, 37, 64]) {
      const rows = 3, words = Math.ceil(per / 32);
      const y = Float32Array.from({ length: rows * per }, (_, i) => [0, 6, -0.5, 3, 7, 1e-30, -0, 5.999][i % 8] * (i % 3 === 0 ? 1 : 1.5) + (i % 11 === 0 ? 0 : 0));
      const dy = Float32Array.from({ length: rows * per }, (_, i) => Math.sin(i) * 4);
      for (const { kind, on, slope } of kinds) {
        const yt = tensor(y, [rows, per]), mask = tensor(new Int32Array(rows * words), [rows, words], 'int32');
        be.kernels.actMask(kind, rows, per, yt.ptr, mask.ptr);
        const bits = new Uint32Array(Int32Array.from(mask.dataSync()).buffer);
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < per; i++) expect((bits[r * words + (i >> 5)] >>> (i & 31)) & 1, `kind ${kind} per ${per} row ${r} value ${y[r * per + i]}`).toBe(on(y[r * per + i]) ? 1 : 0);
          // the padding bits of a row's last word stay clear
          if (per % 32) expect(bits[r * words + words - 1] >>> (per % 32)).toBe(0);
        }
        const g = tensor(dy, [rows, per]), dx = tensor(new Float32Array(rows * per), [rows, per]);
        be.kernels.actMaskedBackward(rows, per, mask.ptr, g.ptr, dx.ptr, slope);
        expect(Array.from(dx.dataSync())).toEqual(Array.from(dy, (d, i) => (on(y[i]) ? d : Math.fround(slope * d))));
        // in place: dx over dy
        be.kernels.actMaskedBackward(rows, per, mask.ptr, g.ptr, g.ptr, slope);
        expect(Array.from(g.dataSync())).toEqual(Array.from(dx.dataSync()));
      }
    }
  });
});
