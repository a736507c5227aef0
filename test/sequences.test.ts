// The sequence experiments of issue 14 (models/sequences/), sized down for CI: the adding problem, the
// gradient through time against an independent float64 BPTT, next-hour temperature against persistence,
// and digits read row by row. Every bound is computed from the data (the baseline of predicting 1.0 for the
// adding problem, persistence for the series, the majority class for the digits), not from the library.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
// @ts-expect-error: plain ES modules shared with the experiment scripts
import { addingData, constantMse, gradientThroughTime, rng, trainAdding } from '../models/sequences/adding.mjs';
// @ts-expect-error: as above
import { DATASETS, mae, trainNet, windows } from '../models/sequences/temperature.mjs';
// @ts-expect-error: as above
import { digitsRows } from '../models/sequences/digits-rows.mjs';

beforeAll(() => { useBuild('simd'); });

describe('sequence experiments (issue 14), sized down', () => {
  it('the adding problem at T = 20: the data has the stated baseline, and an LSTM learns it far below that', async () => {
    // the task's own numbers: targets in [0, 2), exactly two markers, MSE of predicting 1.0 near 2/12
    const T = 20, d = addingData(T, 4000, rng(5));
    for (let s = 0; s < 4000; s++) {
      let marks = 0, sum = 0;
      for (let t = 0; t < T; t++) if (d.x[(s * T + t) * 2 + 1] === 1) { marks++; sum += d.x[(s * T + t) * 2]; }
      if (marks !== 2 || Math.abs(sum - d.y[s]) > 1e-6) throw new Error(`sequence ${s}: ${marks} markers, target ${d.y[s]} vs ${sum}`);
    }
    expect(Math.abs(constantMse(d.y, 1) - 1 / 6)).toBeLessThan(0.015);
    const r = await trainAdding(eg, 'lstm', T, { units: 32, learningRate: 1e-2, maxSteps: 600, budgetS: Infinity, stopAt: 0.005, nTest: 1000, gradN: 8, seed: 1 });
    expect(r.baseline).toBeGreaterThan(0.14);
    expect(r.testMse).toBeLessThan(r.baseline / 8);
  });

  it('the gradient through time: float64 BPTT on the layers\' weights matches the library\'s forward pass and its central differences', () => {
    for (const kind of ['simpleRNN', 'lstm']) {
      const T = 12, n = 6;
      const m = eg.sequential([eg.layers[kind as 'lstm']({ units: 8, inputShape: [T, 2] }), eg.layers.dense({ units: 1, seed: 3 })]);
      const d = addingData(T, n, rng(11));
      const g = gradientThroughTime(eg, m, kind, d.x, T, n);
      expect(g.forwardDiff).toBeLessThan(1e-5);
      expect(g.fdCheck).not.toBeNull();
      expect(g.fdCheck.worstRelErr).toBeLessThan(2e-2);
      expect(g.norms.every((v: number) => Number.isFinite(v) && v > 0)).toBe(true);
    }
  });

  it('next-hour temperature: an LSTM on the 24-hour window beats persistence on the last 20% of the series', async () => {
    const data = windows(DATASETS.hourly());
    const persistence = mae(data.test.last, data.test.target);
    expect(persistence).toBeGreaterThan(0.3);
    const r = await trainNet(eg, 'lstm', data, { epochs: 3 });
    expect(mae(r.pred, data.test.target)).toBeLessThan(persistence * 0.5);
  });

  it('digits read row by row: an LSTM on 2,000 digits beats the majority class by a wide margin', async () => {
    const r = await digitsRows(eg, { models: ['lstm'], units: 64, epochs: 3, nTrain: 2000, nTest: 500, learningRate: 3e-3 });
    expect(r.chance).toBeGreaterThanOrEqual(0.1);
    expect(r.chance).toBeLessThan(0.2);
    expect(r.rows[0].accuracy).toBeGreaterThan(Math.max(0.65, 4 * r.chance));
  });
});
