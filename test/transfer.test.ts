// Transfer learning's building blocks: an imported backbone cut below its head, frozen, given a new head
// and trained on a handful of real digits; partial freezing; cutting a model built here.
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const fixture = (f: string) => join(import.meta.dirname, 'fixtures', f);

describe('transfer', () => {
  let digits: Awaited<ReturnType<typeof eg.data.loadDigits>>;
  beforeAll(async () => { useBuild('simd'); digits = await eg.data.loadDigits(); });

  /** digits 5-9: the first `per` of each class among the first 8,000, and those among the last 2,000 */
  function fiveToNine(per: number) {
    const train: number[] = [], test: number[] = [], seen = new Array(10).fill(0);
    for (let n = 0; n < digits.count; n++) {
      const l = digits.labels[n];
      if (l < 5) continue;
      if (n < 8000) { if (seen[l]++ < per) train.push(n); } else test.push(n);
    }
    const take = (idx: number[]) => ({ x: eg.data.gather(digits.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => digits.labels[i] - 5), [idx.length], 'int32') });
    return { train: take(train), test: take(test) };
  }

  it('the imported digits CNN, cut below its head and frozen, with a new head learns digits 5-9 from 20 examples each', async () => {
    const base = await eg.loadModel(fixture('mnist_cnn.onnx'));
    expect(() => base.cut('/f9/Gemm')).toThrow(/has no node '\/f9\/Gemm' \(similar: \/f1\/Gemm, \/f2\/Gemm\)/);
    const features = base.cut('/Elu').freeze();
    const model = eg.sequential([features, eg.layers.dense({ units: 5, activation: 'softmax', seed: 1 })]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const { train, test } = fiveToNine(20);
    const frozenBefore = features.graph.values.filter((v) => v.kind === 'param').map((v) => v.tensor!.dataSync());
    await model.fit(train.x, train.y, { epochs: 30, batchSize: 25, seed: 1 });
    const frozenAfter = features.graph.values.filter((v) => v.kind === 'param').map((v) => v.tensor!.dataSync());
    frozenAfter.forEach((t, i) => expect(Array.from(t)).toEqual(Array.from(frozenBefore[i])));
    const { accuracy } = model.evaluate(test.x, test.y);
    expect(accuracy).toBeGreaterThan(0.85);
  });

  it('the functional form: a frozen backbone applied to an input, two heads merged, trains only the heads', async () => {
    const { train } = fiveToNine(20);
    const backbone = (await eg.loadModel(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx'))).cut('flatten').freeze();
    const inp = eg.input({ shape: [28, 28, 1] });
    const f = backbone.apply(inp);
    const a = eg.layers.dense({ units: 32, activation: 'relu', seed: 1 }).apply(f);
    const b = eg.layers.dense({ units: 32, activation: 'tanh', seed: 2 }).apply(f);
    const out = eg.layers.dense({ units: 5, activation: 'softmax', seed: 3 }).apply(eg.layers.concatenate().apply([a, b]));
    const model = eg.model({ inputs: inp, outputs: out });
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const frozen = backbone.graph.values.filter((v) => v.kind === 'param').map((v) => v.tensor!.dataSync().slice());
    const h = await model.fit(train.x, train.y, { epochs: 20, batchSize: 25, seed: 1 });
    expect(h.history.accuracy.at(-1)!).toBeGreaterThan(0.9);
    backbone.graph.values.filter((v) => v.kind === 'param').forEach((v, i) => expect(Array.from(v.tensor!.dataSync())).toEqual(Array.from(frozen[i])));
  });

  it('folded copies of a frozen backbone never go stale: freeze, predict, unfreeze, train, freeze, predict', async () => {
    const inner = eg.sequential([
      eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2], seed: 1 }),
      eg.layers.batchNormalization(),
      eg.layers.activation({ activation: 'relu' }),
      eg.layers.flatten(),
    ]);
    const backbone = await eg.loadModel(await eg.toOnnx(inner));
    const head = eg.layers.dense({ units: 3, activation: 'softmax', seed: 2 });
    const model = eg.sequential([backbone.freeze(), head]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.05 }), loss: 'categoricalCrossentropy' });
    const x = eg.randomNormal([16, 6, 6, 2], 0, 1, 3), y = eg.data.oneHot(Array.from({ length: 16 }, (_, i) => i % 3), 3);
    const before = model.predict(x).dataSync(); // the frozen batch norm folded into the conv
    backbone.unfreeze();
    await model.fit(x, y, { epochs: 5, batchSize: 8, cacheFeatures: false }); // conv, batch norm and its statistics change
    backbone.freeze();
    const after = model.predict(x).dataSync();
    // a fresh model over the same layers (its own plans) gives the reference
    const reference = eg.sequential([backbone, head]).predict(x).dataSync();
    expect(Array.from(after).some((v, i) => Math.abs(v - before[i]) > 1e-3)).toBe(true);
    Array.from(after).forEach((v, i) => expect(v).toBeCloseTo(reference[i], 5));
  });

  it('fit caches the frozen backbone\'s features: same training as without the cache, backbone run once', async () => {
    const { train, test } = fiveToNine(10);
    const run = async (cacheFeatures: boolean) => {
      const features = (await eg.loadModel(fixture('mnist_cnn.onnx'))).cut('/Elu').freeze();
      const model = eg.sequential([features, eg.layers.dense({ units: 5, activation: 'softmax', seed: 3 })]);
      model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const h = await model.fit(train.x, train.y, { epochs: 5, batchSize: 10, seed: 4, validationSplit: 0.2, cacheFeatures });
      return { h, acc: model.evaluate(test.x, test.y).accuracy, head: model.layers[1].getWeights()[0].dataSync() };
    };
    const cached = await run(true), plain = await run(false);
    expect(cached.h.cachedFeatures).toEqual({ layers: 1, shape: [128] });
    expect(plain.h.cachedFeatures).toBeUndefined();
    cached.h.history.loss.forEach((l, i) => expect(l).toBeCloseTo(plain.h.history.loss[i], 5));
    cached.h.history.val_loss.forEach((l, i) => expect(l).toBeCloseTo(plain.h.history.val_loss[i], 5));
    Array.from(cached.head).forEach((w, i) => expect(w).toBeCloseTo(plain.head[i], 5));
    expect(cached.acc).toBeCloseTo(plain.acc, 5);
  });

  it('freeze({ upTo }) trains only the layers after it; unfreeze trains all', async () => {
    const base = await eg.loadModel(fixture('mnist_cnn.onnx'));
    const features = base.cut('/Elu').freeze({ upTo: '/c3/Conv' });
    const model = eg.sequential([features, eg.layers.dense({ units: 5, activation: 'softmax', seed: 2 })]);
    model.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
    const { train } = fiveToNine(4);
    const snap = () => features.graph.values.filter((v) => v.kind === 'param').map((v) => ({ name: v.name, data: v.tensor!.dataSync() }));
    const before = snap();
    await model.fit(train.x, train.y, { epochs: 1, batchSize: 20 });
    const changed = snap().filter((w, i) => Array.from(w.data).some((v, j) => v !== before[i].data[j])).map((w) => w.name);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((n) => n.startsWith('/f1/Gemm'))).toBe(true); // the dense layer after c3 trained, the convs did not
    features.unfreeze();
    const mid = snap();
    await model.fit(train.x, train.y, { epochs: 1, batchSize: 20 });
    expect(snap().filter((w, i) => Array.from(w.data).some((v, j) => v !== mid[i].data[j])).some((w) => w.name.startsWith('/c1/Conv'))).toBe(true);
  });

  it('a model built here cuts at a layer and freezes layer by layer', async () => {
    const m = eg.sequential([
      eg.layers.dense({ units: 8, activation: 'relu', inputShape: [4], seed: 1, name: 'h1' }),
      eg.layers.dense({ units: 6, activation: 'relu', seed: 2, name: 'h2' }),
      eg.layers.dense({ units: 2, seed: 3, name: 'out' }),
    ]);
    const cut = m.cut('h2');
    const x = eg.randomNormal([3, 4], 0, 1, 1);
    expect(cut.predict(x).shape).toEqual([3, 6]);
    expect(() => m.cut('h9')).toThrow(/has no layer "h9" \(similar: h1, h2\)/);
    m.freeze({ upTo: 'h1' });
    expect(m.layers.map((l) => l.trainable)).toEqual([false, true, true]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const w1 = m.getWeights()[0].dataSync();
    await m.fit(x, eg.ones([3, 2]), { epochs: 2, batchSize: 3 });
    expect(Array.from(m.getWeights()[0].dataSync())).toEqual(Array.from(w1));
    expect(m.summary({ print: false })).toMatch(/h1 \(Dense\)\s+\[null,8\]\s+40 \(frozen\)/);
  });
});

describe('frozen batch normalization', () => {
  beforeAll(() => { useBuild('simd'); });

  it('normalizes with its moving statistics in training, leaves them alone, and passes the right gradient', async () => {
    const bn = eg.layers.batchNormalization({ trainable: false });
    const m = eg.sequential([eg.layers.dense({ units: 4, inputShape: [3], seed: 1 }), bn, eg.layers.dense({ units: 1, seed: 2 })]);
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.01 }), loss: 'mse' });
    const x = eg.randomNormal([16, 3], 0, 1, 1), y = eg.randomNormal([16, 1], 0, 1, 2);
    const stats = () => bn.weights.slice(2).map((w) => Array.from(w.tensor.dataSync()));
    const before = stats();
    const h = await m.fit(x, y, { epochs: 20, batchSize: 8 });
    expect(stats()).toEqual(before); // moving mean / variance untouched
    expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0]); // gradients still flow through it
    // in training mode it computes what inference computes (moving statistics, not the batch's)
    const tp = (m as unknown as { lossPlan(b: number, t: boolean): { plan: { run(): void; view(i: number): Float32Array }; pred: number; x: number; y: number } }).lossPlan(16, true);
    tp.plan.view(tp.x).set(x.dataSync()); tp.plan.view(tp.y).set(y.dataSync());
    tp.plan.run();
    expect(Array.from(tp.plan.view(tp.pred)).map((v) => +v.toFixed(5))).toEqual(Array.from(m.predict(x).dataSync()).map((v) => +v.toFixed(5)));
  });
});
