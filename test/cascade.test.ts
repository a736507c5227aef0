// Cascade correlation: the candidate objective S and its gradient against a plain computation and finite
// differences; a grown network solves XOR-like quadrants that no linear model can, its edgegrad model agrees
// with the growing's own numbers and with ONNX Runtime on its ONNX export; stopping on validation loss;
// errors.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild, rng, runOrt } from './helpers.js';
import * as eg from '../src/index.js';
import { candidateScore } from '../src/compress/cascade.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: a plain ES module, also run as a script (node models/compress/cascade-cars.mjs)
import { cascadeCars } from '../models/compress/cascade-cars.mjs';

/** S = Σ_o |Σ_p (V_p − V̄)(E_p,o − Ē_o)| from its definition, with V = tanh(I·w + b). */
function plainScore(I: number[][], w: number[], E: number[][]): number {
  const V = I.map((row) => Math.tanh(row.reduce((s, v, i) => s + v * w[i], w[row.length])));
  const vBar = V.reduce((a, b) => a + b, 0) / V.length;
  let S = 0;
  for (let o = 0; o < E[0].length; o++) {
    const eBar = E.reduce((s, r) => s + r[o], 0) / E.length;
    S += Math.abs(V.reduce((s, v, p) => s + (v - vBar) * (E[p][o] - eBar), 0));
  }
  return S;
}

/** Points in [-1, 1]²; class 1 where x·y > 0 (XOR of the signs): no linear boundary does better than chance. */
function quadrants(n: number, seed: number): { x: eg.Tensor; y: eg.Tensor } {
  const r = rng(seed), xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = 2 * r() - 1, b = 2 * r() - 1;
    xs.push(a, b);
    ys.push(a * b > 0 ? 1 : 0);
  }
  return { x: eg.tensor(xs, [n, 2]), y: eg.tensor(Int32Array.from(ys), [n], 'int32') };
}

describe('cascadeCorrelation', () => {
  beforeAll(() => { useBuild('simd'); });

  it('the candidate score matches its definition and its gradient matches finite differences', () => {
    const r = rng(2), n = 9, d = 3, m = 2;
    const I = Array.from({ length: n }, () => Array.from({ length: d }, () => 2 * r() - 1));
    const E = Array.from({ length: n }, () => Array.from({ length: m }, () => 2 * r() - 1));
    const w = Array.from({ length: d + 1 }, () => 2 * r() - 1);
    const Im = { data: Float64Array.from(I.flat()), rows: n, cols: d }, Em = { data: Float64Array.from(E.flat()), rows: n, cols: m };
    const grad = new Float64Array(d + 1);
    const { score, values } = candidateScore(Im, w, Em, 'tanh', grad);
    expect(score).toBeCloseTo(plainScore(I, w, E), 12);
    values.forEach((v, p) => expect(v).toBeCloseTo(Math.tanh(I[p].reduce((s, t, i) => s + t * w[i], w[d])), 12));
    const h = 1e-6;
    for (let i = 0; i <= d; i++) {
      const up = w.slice(), dn = w.slice();
      up[i] += h; dn[i] -= h;
      expect(grad[i]).toBeCloseTo((plainScore(I, up, E) - plainScore(I, dn, E)) / (2 * h), 6);
    }
  });

  it('grows a network that solves XOR-like quadrants (a linear model cannot), and its ONNX export runs the same in ONNX Runtime', async () => {
    const train = quadrants(200, 7), val = quadrants(200, 8), test = quadrants(300, 9);
    const steps: number[] = [];
    const res = await eg.cascadeCorrelation(train.x, train.y, { validationData: [val.x, val.y], maxUnits: 8, seed: 1, onUnit: (s) => { steps.push(s.units); } });
    // no hidden unit: a linear softmax, at chance on quadrants
    expect(res.history[0].units).toBe(0);
    expect(res.history[0].valAccuracy!).toBeLessThan(0.7);
    expect(res.units).toBeGreaterThanOrEqual(2);
    expect(steps).toEqual(res.history.map((s) => s.units));
    const acc = res.model.evaluate(test.x, test.y).accuracy;
    expect(acc).toBeGreaterThan(0.9);
    // the edgegrad model is the grown network: its validation loss is the one the growing measured
    expect(res.model.evaluate(val.x, val.y).loss).toBeCloseTo(res.history[res.units].valLoss!, 4);
    // units frozen, outputs trainable; each unit sees the inputs and the units before it
    const units = res.model.layers.filter((l) => l.name.startsWith('cascade_unit_'));
    expect(units.length).toBe(res.units);
    units.forEach((l, j) => { expect(l.trainable).toBe(false); expect(l.weights[0].tensor.shape).toEqual([2 + j, 1]); });
    const ours = (res.model.predict(test.x) as eg.Tensor).dataSync();
    const ort = await runOrt(await eg.toOnnx(res.model), test.x);
    let err = 0;
    ours.forEach((v, i) => { err = Math.max(err, Math.abs(v - ort[i])); });
    expect(err).toBeLessThan(1e-5);
    // and it quantizes like any model: int8 weights and activations keep its accuracy within a point or two
    const q = await eg.quantize(res.model, { weights: 'int8', activations: 'int8', calibration: train.x });
    const qp = (q.predict(test.x) as eg.Tensor).dataSync(), labels = test.y.dataSync();
    let hits = 0;
    for (let i = 0; i < labels.length; i++) if (+(qp[2 * i + 1] > qp[2 * i]) === labels[i]) hits++;
    expect(hits / labels.length).toBeGreaterThan(acc - 0.03);
  });

  it('stops when the validation loss has not improved for `patience` units and keeps the best size', async () => {
    // a linear problem: hidden units only overfit the 40 noisy examples
    const r = rng(3), mk = (n: number) => {
      const xs: number[] = [], ys: number[] = [];
      for (let i = 0; i < n; i++) { const a = 2 * r() - 1, b = 2 * r() - 1; xs.push(a, b); ys.push(a + b + 0.6 * (r() - 0.5) > 0 ? 1 : 0); }
      return [eg.tensor(xs, [n, 2]), eg.tensor(Int32Array.from(ys), [n], 'int32')] as [eg.Tensor, eg.Tensor];
    };
    const [x, y] = mk(40), val = mk(200);
    const res = await eg.cascadeCorrelation(x, y, { validationData: val, maxUnits: 10, patience: 2, seed: 2 });
    const losses = res.history.map((s) => s.valLoss!);
    expect(res.history.length).toBeLessThan(11);
    expect(losses[res.units]).toBe(Math.min(...losses));
    // it stopped because the last `patience` rounds did not beat the best
    expect(res.history.length - 1 - res.units).toBe(2);
  });

  it('regression: a squared-error network grows on y = sin(3x) and beats the linear fit', async () => {
    const r = rng(4), n = 120, xs: number[] = [], ys: number[] = [];
    for (let i = 0; i < n; i++) { const a = 2 * r() - 1; xs.push(a); ys.push(Math.sin(3 * a)); }
    const x = eg.tensor(xs, [n, 1]), y = eg.tensor(ys, [n, 1]);
    const res = await eg.cascadeCorrelation(x, y, { maxUnits: 4, seed: 5, patience: 4 });
    expect(res.history[0].accuracy).toBeUndefined();
    expect(res.history.at(-1)!.loss).toBeLessThan(res.history[0].loss / 5);
    expect(res.model.evaluate(x, y).loss).toBeCloseTo(res.history[res.units].loss, 4);
  });

  it('refuses bad input with what and where', async () => {
    const x = eg.tensor([0, 1, 1, 0, 0.5, 0.5], [3, 2]), y = eg.tensor(Int32Array.from([0, 1, 0]), [3], 'int32');
    await expect(eg.cascadeCorrelation(eg.tensor([0, 1, 2], [3]), y)).rejects.toThrow(/x must be a float32 table \[examples, features\], got float32 \[3\]/);
    await expect(eg.cascadeCorrelation(x, eg.tensor(Int32Array.from([0, -1, 0]), [3], 'int32'))).rejects.toThrow(/label -1 of example 1 is outside/);
    await expect(eg.cascadeCorrelation(x, eg.tensor(Int32Array.from([0, 1]), [2], 'int32'))).rejects.toThrow(/y has 2 examples, its x has 3/);
    await expect(eg.cascadeCorrelation(x, y, { maxUnits: 1.5 })).rejects.toThrow(/maxUnits must be an integer >= 0, got 1.5/);
    await expect(eg.cascadeCorrelation(x, y, { activation: 'gelu' as 'tanh' })).rejects.toThrow(/activation must be 'tanh', 'sigmoid' or 'relu', got "gelu"/);
    await expect(eg.cascadeCorrelation(x, y, { validationData: [eg.tensor([1, 2, 3, 4, 5, 6], [2, 3]), y] })).rejects.toThrow(/validationData x has 3 features, x has 2/);
    await expect(eg.cascadeCorrelation(eg.tensor([0, NaN, 1, 0, 0, 0], [3, 2]), y)).rejects.toThrow(/x holds NaN at example 0, feature 1/);
  });

  it('on real data (Auto MPG origin, the experiment script on one split) it grows a small network as accurate as the MLP', async () => {
    const csv = readFileSync(join(import.meta.dirname, '..', 'models', 'compress', 'data', 'cars.csv'), 'utf8');
    const r = await cascadeCars(eg, { csv, splits: [0] });
    expect(r.split).toEqual({ train: 235, val: 78, test: 79 });
    expect(r.cascade[0].params).toBeLessThan(r.mlp[0].params / 2);
    expect(r.cascade[0].testAccuracy).toBeGreaterThan(0.8);
    expect(r.cascade[0].testAccuracy).toBeGreaterThanOrEqual(r.mlp[0].testAccuracy - 0.03);
  });
});
