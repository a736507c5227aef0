// Knowledge distillation: the soft-target loss and its gradient against the formula written out plainly and
// against finite differences, one training step against a hand computation, cached teacher logits against a
// teacher run per batch, the logits of a loaded softmax teacher, and the errors.
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import { useBuild, rng, runOrt } from './helpers.js';
import * as eg from '../src/index.js';
import { distillLossRows, teacherLogits } from '../src/compress/distill.js';
import { Graph } from '../src/graph/ir.js';
import { Plan } from '../src/graph/executor.js';
import { main as cli } from '../src/cli/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** The loss as the paper writes it: probabilities first, KL and CE from them (no log-softmax tricks). */
function reference(z: number[], v: number[], y: number[], rows: number, cols: number, T: number, alpha: number): number {
  const softmax = (a: number[], s: number) => { const e = a.map((t) => Math.exp(t * s)); const sum = e.reduce((p, c) => p + c, 0); return e.map((t) => t / sum); };
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const zi = z.slice(i * cols, (i + 1) * cols), vi = v.slice(i * cols, (i + 1) * cols), yi = y.slice(i * cols, (i + 1) * cols);
    const p = softmax(vi, 1 / T), q = softmax(zi, 1 / T), r = softmax(zi, 1);
    const labelled = yi.some((t) => t > 0), a = labelled ? alpha : 1;
    const kl = p.reduce((s, pc, c) => s + pc * Math.log(pc / q[c]), 0);
    const ce = -yi.reduce((s, t, c) => s + t * Math.log(r[c]), 0);
    total += a * T * T * kl + (1 - a) * ce;
  }
  return total / rows;
}

function randomCase(rows: number, cols: number, seed: number) {
  const r = rng(seed);
  const z = Array.from({ length: rows * cols }, () => 4 * r() - 2), v = Array.from({ length: rows * cols }, () => 6 * r() - 3);
  const y = new Array(rows * cols).fill(0);
  // every third row unlabelled (all zeros), the others one-hot
  for (let i = 0; i < rows; i++) if (i % 3 !== 2) y[i * cols + Math.floor(r() * cols)] = 1;
  return { z, v, y };
}

describe('distill', () => {
  let digits: Awaited<ReturnType<typeof eg.data.loadDigits>>;
  beforeAll(async () => { useBuild('simd'); digits = await eg.data.loadDigits(); });

  it('the loss matches the formula written with probabilities, and its gradient matches finite differences', () => {
    for (const [T, alpha] of [[1, 0.5], [4, 0.9], [0.5, 0], [7, 1]]) {
      const rows = 6, cols = 5, { z, v, y } = randomCase(rows, cols, 3 + T);
      const grad = new Float32Array(rows * cols);
      const loss = distillLossRows(z, v, y, rows, cols, T, alpha, grad);
      expect(loss).toBeCloseTo(reference(z, v, y, rows, cols, T, alpha), 10);
      const h = 1e-5;
      for (let k = 0; k < z.length; k++) {
        const up = z.slice(), dn = z.slice();
        up[k] += h; dn[k] -= h;
        const fd = (reference(up, v, y, rows, cols, T, alpha) - reference(dn, v, y, rows, cols, T, alpha)) / (2 * h);
        expect(Math.abs(grad[k] - fd)).toBeLessThan(1e-6 + 1e-5 * Math.abs(fd));
      }
    }
  });

  it('the graph op gives the same loss and gradient as the reference, in float32', () => {
    const rows = 7, cols = 4, T = 3, alpha = 0.7, { z, v, y } = randomCase(rows, cols, 11);
    const g = new Graph();
    const [zi, vi, yi] = ['z', 'v', 'y'].map((nm) => g.input(nm, [-1, cols]));
    const [l, dz] = g.node('distillLoss', [zi, vi, yi], { temperature: T, alpha });
    g.outputs = [l, dz];
    const plan = new Plan(g, { batch: rows, training: false });
    plan.view(zi).set(z); plan.view(vi).set(v); plan.view(yi).set(y);
    plan.run();
    const want = new Float32Array(rows * cols);
    expect(plan.view(l)[0]).toBeCloseTo(distillLossRows(Float32Array.from(z), Float32Array.from(v), y, rows, cols, T, alpha, want), 5);
    const got = plan.view(dz);
    for (let k = 0; k < want.length; k++) expect(got[k]).toBeCloseTo(want[k], 6);
    plan.dispose();
  });

  it('one SGD step on a linear student moves its weights by the hand-computed gradient xᵀ·∂L/∂z', async () => {
    const n = 6, d = 3, k = 4, T = 2.5, alpha = 0.6, lr = 0.5;
    const r = rng(5);
    const xs = Array.from({ length: n * d }, () => 2 * r() - 1);
    const x = eg.tensor(xs, [n, d]);
    const labels = eg.tensor(Int32Array.from([0, 3, 1, 2, 0, 1]), [n], 'int32');
    const unl = eg.tensor(Array.from({ length: 2 * d }, () => 2 * r() - 1), [2, d]);
    const teacher = eg.sequential([eg.layers.dense({ units: 8, activation: 'tanh', inputShape: [d], seed: 1 }), eg.layers.dense({ units: k, activation: 'softmax', seed: 2 })]);
    const student = eg.sequential([eg.layers.dense({ units: k, inputShape: [d], seed: 3 })]); // logits out
    student.compile({ optimizer: eg.optimizers.sgd({ learningRate: lr }), loss: 'meanSquaredError' });
    const [W0, b0] = student.getWeights().map((t) => Array.from(t.dataSync()));
    // what the step should do, by hand: the teacher's logits from its weights, ∂L/∂z, then xᵀ·∂L/∂z
    const [tW1, tb1, tW2, tb2] = teacher.getWeights().map((t) => Array.from(t.dataSync()));
    const allX = [...xs, ...Array.from(unl.dataSync())], N = n + 2;
    const zT: number[] = [], zS: number[] = [];
    for (let p = 0; p < N; p++) {
      const hid = Array.from({ length: 8 }, (_, j) => Math.tanh(tb1[j] + [0, 1, 2].reduce((s, i) => s + allX[p * d + i] * tW1[i * 8 + j], 0)));
      for (let c = 0; c < k; c++) {
        zT.push(tb2[c] + hid.reduce((s, h, j) => s + h * tW2[j * k + c], 0));
        zS.push(b0[c] + [0, 1, 2].reduce((s, i) => s + allX[p * d + i] * W0[i * k + c], 0));
      }
    }
    const yHot = new Array(N * k).fill(0);
    [0, 3, 1, 2, 0, 1].forEach((c, p) => { yHot[p * k + c] = 1; });
    const dz = new Float32Array(N * k);
    const lossWant = distillLossRows(zS, zT, yHot, N, k, T, alpha, dz);
    const h = await eg.distill(student, teacher, x, labels, { temperature: T, alpha, unlabeled: unl, epochs: 1, batchSize: N, shuffle: false });
    expect(h.history.loss[0]).toBeCloseTo(lossWant, 4);
    const [W1, b1] = student.getWeights().map((t) => Array.from(t.dataSync()));
    for (let i = 0; i < d; i++) for (let c = 0; c < k; c++) {
      const g = Array.from({ length: N }, (_, p) => allX[p * d + i] * dz[p * k + c]).reduce((a, b) => a + b, 0);
      expect(W1[i * k + c]).toBeCloseTo(W0[i * k + c] - lr * g, 5);
    }
    for (let c = 0; c < k; c++) expect(b1[c]).toBeCloseTo(b0[c] - lr * Array.from({ length: N }, (_, p) => dz[p * k + c]).reduce((a, b) => a + b, 0), 5);
  });

  it('a student ending in log-softmax trains like the same student ending in softmax (logits up to a constant)', async () => {
    const r = rng(12), x = eg.tensor(Array.from({ length: 16 * 4 }, () => r() - 0.5), [16, 4]);
    const y = eg.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 3), [16], 'int32');
    const teacher = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4], seed: 1 })]);
    const make = (activation: 'softmax' | 'logSoftmax') => eg.sequential([eg.layers.dense({ units: 3, activation, inputShape: [4], seed: 2 })]);
    const a = make('softmax'), b = make('logSoftmax');
    for (const m of [a, b]) m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.3 }), loss: 'meanSquaredError' });
    const ha = await eg.distill(a, teacher, x, y, { epochs: 3, batchSize: 8, shuffle: false, temperature: 2, alpha: 0.5 });
    const hb = await eg.distill(b, teacher, x, y, { epochs: 3, batchSize: 8, shuffle: false, temperature: 2, alpha: 0.5 });
    ha.history.loss.forEach((l, e) => expect(hb.history.loss[e]).toBeCloseTo(l, 5));
    const wa = a.getWeights().flatMap((t) => Array.from(t.dataSync())), wb = b.getWeights().flatMap((t) => Array.from(t.dataSync()));
    wa.forEach((v, i) => expect(wb[i]).toBeCloseTo(v, 5));
  });

  it('a loaded softmax teacher gives its logits: their softmax is its prediction', async () => {
    const teacher = await eg.loadModel(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx'));
    const x = eg.data.slice(digits.images, 0, 20);
    const logits = (await teacherLogits(teacher, x)).dataSync(), probs = (teacher.predict(x) as eg.Tensor).dataSync();
    for (let p = 0; p < 20; p++) {
      const row = Array.from(logits.subarray(p * 5, p * 5 + 5)), m = Math.max(...row), e = row.map((t) => Math.exp(t - m)), s = e.reduce((a, b) => a + b, 0);
      e.forEach((t, c) => expect(t / s).toBeCloseTo(probs[p * 5 + c], 5));
      // logits, not probabilities: unbounded and not summing to 1
      expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeGreaterThan(1e-3);
    }
  });

  it('cached teacher logits train the student to the same weights as the teacher run per batch', async () => {
    const teacher = await eg.loadModel(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx'));
    const idx = Array.from({ length: 96 }, (_, i) => i).filter((i) => digits.labels[i] < 5);
    const x = eg.data.gather(digits.images, idx), y = eg.tensor(Int32Array.from(idx, (i) => digits.labels[i]), [idx.length], 'int32');
    const make = () => {
      const s = eg.sequential([eg.layers.flatten({ inputShape: [28, 28, 1] }), eg.layers.dense({ units: 12, activation: 'relu', seed: 4 }), eg.layers.dense({ units: 5, activation: 'softmax', seed: 5 })]);
      s.compile({ optimizer: eg.optimizers.adam({ learningRate: 3e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      return s;
    };
    const a = make(), b = make();
    const ha = await eg.distill(a, teacher, x, y, { epochs: 2, batchSize: 16, seed: 9 });
    const hb = await eg.distill(b, teacher, x, y, { epochs: 2, batchSize: 16, seed: 9, cacheTeacher: false });
    expect(ha.teacherCached).toBe(true);
    expect(hb.teacherCached).toBe(false);
    ha.history.loss.forEach((l, e) => expect(l).toBeCloseTo(hb.history.loss[e], 4));
    const wa = a.getWeights().flatMap((t) => Array.from(t.dataSync())), wb = b.getWeights().flatMap((t) => Array.from(t.dataSync()));
    let err = 0;
    wa.forEach((v, i) => { err = Math.max(err, Math.abs(v - wb[i])); });
    expect(err).toBeLessThan(1e-4);
    // the loss went down: the student learned something from the teacher
    expect(ha.history.loss[1]).toBeLessThan(ha.history.loss[0]);
  });

  it('a student with augmentation in front sees the teacher run per batch on the augmented images', async () => {
    const teacher = await eg.loadModel(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx'));
    const x = eg.data.slice(digits.images, 0, 32), y = eg.tensor(new Int32Array(32), [32], 'int32');
    const s = eg.sequential([eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, inputShape: [28, 28, 1], seed: 1 }), eg.layers.flatten(), eg.layers.dense({ units: 5, activation: 'softmax', seed: 2 })]);
    s.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const h = await eg.distill(s, teacher, x, undefined, { epochs: 1, batchSize: 16 });
    expect(h.teacherCached).toBe(false);
    expect(Number.isFinite(h.history.loss[0])).toBe(true);
    await expect(eg.distill(s, teacher, x, y, { cacheTeacher: true })).rejects.toThrow(/starts with random layers .*leave cacheTeacher unset/);
  });

  it('stops on an AbortSignal after the batch in progress, and earlyStopping on the validation loss', async () => {
    const teacher = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4], seed: 1 })]);
    const student = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4], seed: 2 })]);
    const r = rng(8), x = eg.tensor(Array.from({ length: 64 * 4 }, () => r() - 0.5), [64, 4]);
    const ctl = new AbortController();
    let batches = 0;
    await expect(eg.distill(student, teacher, x, undefined, {
      optimizer: 'adam', epochs: 5, batchSize: 8, signal: ctl.signal, callbacks: { onBatchEnd: () => { if (++batches === 3) ctl.abort(); } },
    })).rejects.toThrow(/abort/i);
    expect(batches).toBe(3);
    const y = eg.tensor(Int32Array.from({ length: 64 }, (_, i) => i % 3), [64], 'int32');
    // the student was compiled for one-hot labels by the first call: int32 validation labels are refused before training
    await expect(eg.distill(student, teacher, x, y, { validationData: [x, y] })).rejects.toThrow(/validationData is scored by the student's compiled loss: loss 'categoricalCrossentropy' needs float32 labels/);
    student.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const stop = eg.callbacks.earlyStopping({ monitor: 'val_loss', patience: 1 });
    const h = await eg.distill(student, teacher, x, y, { epochs: 200, batchSize: 64, validationData: [x, y], callbacks: [stop] });
    expect(h.epoch.length).toBeLessThan(200);
    expect(h.history.val_loss.length).toBe(h.epoch.length);
    expect(h.history.val_accuracy).toBeDefined();
  });

  it('refuses a temperature <= 0, alpha outside [0, 1], outputs that differ and an uncompiled student', async () => {
    const teacher = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    const student = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    const other = eg.sequential([eg.layers.dense({ units: 2, activation: 'softmax', inputShape: [4] })]);
    const x = eg.tensor(new Float32Array(8), [2, 4]), y = eg.tensor(Int32Array.from([0, 2]), [2], 'int32');
    await expect(eg.distill(student, teacher, x, y, { optimizer: 'adam', temperature: 0 })).rejects.toThrow(/temperature must be a number > 0, got 0/);
    await expect(eg.distill(student, teacher, x, y, { optimizer: 'adam', temperature: -1 })).rejects.toThrow(/temperature must be a number > 0/);
    await expect(eg.distill(student, teacher, x, y, { optimizer: 'adam', alpha: 1.5 })).rejects.toThrow(/alpha must be in \[0, 1\], got 1.5/);
    await expect(eg.distill(student, teacher, x, y, { optimizer: 'adam', alpha: -0.1 })).rejects.toThrow(/alpha must be in \[0, 1\]/);
    await expect(eg.distill(other, teacher, x, y, { optimizer: 'adam' })).rejects.toThrow(/the teacher '\w+' gives \[batch, 3\] on the student's input \[batch, 4\] but the student gives \[batch, 2\]/);
    const sig = eg.sequential([eg.layers.dense({ units: 3, activation: 'sigmoid', inputShape: [4] })]);
    await expect(eg.distill(sig, teacher, x, y, { optimizer: 'adam' })).rejects.toThrow(/the student '\w+' ends in a 'sigmoid' activation; distillation needs a softmax output, a log-softmax or logits/);
    const fresh = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    await expect(eg.distill(fresh, teacher, x, y)).rejects.toThrow(/student .* is not compiled/);
    await expect(eg.distill(student, teacher, x, eg.tensor(Int32Array.from([0, 3]), [2], 'int32'), { optimizer: 'adam' })).rejects.toThrow(/label 3 of example 1 is outside \[0, 3\)/);
    await expect(eg.distill(student, teacher, eg.tensor(new Float32Array(6), [2, 3]), y, { optimizer: 'adam' })).rejects.toThrow(/takes \[batch, 4\]; x is float32 \[2, ?3\]/);
    await expect(eg.distill(student, teacher, x, y, { optimizer: 'adam', unlabeled: eg.tensor([0, 0, NaN, 0], [1, 4]) })).rejects.toThrow(/unlabeled.*NaN/);
  });

  it('edgegrad distill writes a student that ONNX Runtime runs, learning from unlabelled digits; bad options are usage errors', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'eg-distill-')), 'student.onnx'), lines: string[] = [];
    const teacher = join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx');
    const code = await cli(['distill', teacher, '--student', 'mlp-small', '--data', 'digits', '--labels', '50', '--epochs', '2', '--out', out, '--json'], (s) => lines.push(s));
    expect(code).toBe(0);
    const r = JSON.parse(lines.at(-1)!);
    expect(r).toMatchObject({ labelled: 50, unlabeled: 3950, teacherCached: true, params: { teacher: 105541, student: 25285 } });
    expect(r.accuracy.teacher).toBeGreaterThan(0.97);
    expect(r.accuracy.student).toBeGreaterThan(0.9);
    // the written student, run by ONNX Runtime on the held-out digits 0-4, scores what the command reported
    const test = Array.from({ length: 2000 }, (_, i) => 8000 + i).filter((n) => digits.labels[n] < 5);
    const probs = await runOrt(await (await import('node:fs/promises')).readFile(out), eg.data.gather(digits.images, test));
    const hits = test.filter((n, i) => { const row = Array.from(probs.subarray(i * 5, i * 5 + 5)); return row.indexOf(Math.max(...row)) === digits.labels[n]; }).length;
    expect(hits / test.length).toBeCloseTo(r.accuracy.student, 3);
    const quiet = () => {};
    expect(await cli(['distill', teacher, '--student', 'mlp-small', '--data', 'digits', '--alpha', '2', '--out', out], quiet)).toBe(2);
    expect(await cli(['distill', teacher, '--student', 'nope', '--data', 'digits', '--out', out], quiet)).toBe(2);
    expect(await cli(['distill', teacher, '--data', 'digits', '--out', out], quiet)).toBe(2);
  });
});
