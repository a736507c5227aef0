// Fine-tuning an imported backbone: batch-norm momentum as ONNX defines it, batch norms in inference mode
// while their block trains, a backbone's own predict after it trained inside another model, parameter
// counts of frozen graphs, and feature caching that reaches inside a graph frozen only in part.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild, checkModelGradients, rng } from './helpers.js';
import * as eg from '../src/index.js';
import type { GraphModel } from '../src/graph-model.js';

/** A small conv backbone with two batch norms and a residual add, built here and re-imported from ONNX. */
async function importedBackbone(momentum = 0.9, activation: 'relu' | 'tanh' = 'relu'): Promise<GraphModel> {
  const inp = eg.input({ shape: [8, 8, 2] });
  const c1 = eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', seed: 1, name: 'c1' }).apply(inp);
  const b1 = eg.layers.batchNormalization({ momentum, name: 'bn1' }).apply(c1);
  const r1 = eg.layers.activation({ activation, name: 'r1' }).apply(b1);
  const c2 = eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', seed: 2, name: 'c2' }).apply(r1);
  const b2 = eg.layers.batchNormalization({ momentum, name: 'bn2' }).apply(c2);
  const sum = eg.layers.add({ name: 'res' }).apply([r1, b2]);
  const c3 = eg.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', strides: 2, seed: 3, name: 'c3' }).apply(sum);
  const b3 = eg.layers.batchNormalization({ momentum, name: 'bn3' }).apply(c3);
  const out = eg.layers.flatten({ name: 'flat' }).apply(eg.layers.activation({ activation, name: 'r3' }).apply(b3));
  const built = eg.model({ inputs: inp, outputs: out });
  // move the statistics off their defaults, so folding and inference mode are visible
  for (const l of built.layers) if (l.name.startsWith('bn')) {
    const [g, b, m, v] = l.getWeights();
    const r = rng(l.name.length * 7);
    [g, b, m, v].forEach((t, k) => t.view().set(Float32Array.from({ length: t.size }, () => (k === 0 || k === 3 ? 0.5 + r() : r() - 0.5))));
    l.setWeights([g, b, m, v]);
  }
  return eg.loadModel(await eg.toOnnx(built));
}

const stats = (m: GraphModel, node: string) => {
  const n = m.graph.nodes.find((x) => x.name === node)!;
  return { mean: m.graph.values[n.inputs[3]].tensor!.dataSync(), variance: m.graph.values[n.inputs[4]].tensor!.dataSync(), gamma: m.graph.values[n.inputs[1]].tensor!.dataSync() };
};

describe('fine-tuning imported backbones', () => {
  beforeAll(() => { useBuild('simd'); });

  it('a batch norm moves by (1 - momentum) of the batch statistics after one step, before and after an ONNX round trip', async () => {
    const x = eg.randomNormal([16, 3], 2, 3, 11);
    const xs = Array.from(x.dataSync());
    const mean = [0, 1, 2].map((c) => xs.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / 16);
    // ONNX's definition (and its reference implementation): population variance of the batch
    const variance = [0, 1, 2].map((c) => xs.filter((_, i) => i % 3 === c).reduce((a, b) => a + (b - mean[c]) ** 2, 0) / 16);
    const check = async (m: eg.Model, movingMean: () => ArrayLike<number>, movingVar: () => ArrayLike<number>, momentum: number) => {
      const m0 = Array.from(movingMean()), v0 = Array.from(movingVar());
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1e-9 }), loss: 'mse' });
      await m.fit(x, eg.zeros([16, 2]), { epochs: 1, batchSize: 16, shuffle: false });
      const m1 = movingMean(), v1 = movingVar();
      for (let c = 0; c < 3; c++) {
        expect(m1[c]).toBeCloseTo(momentum * m0[c] + (1 - momentum) * mean[c], 5);
        expect(v1[c]).toBeCloseTo(momentum * v0[c] + (1 - momentum) * variance[c], 4);
      }
    };
    for (const momentum of [0.9, 0.7]) {
      const bn = eg.layers.batchNormalization({ momentum, inputShape: [3] });
      const built = eg.sequential([bn, eg.layers.dense({ units: 2, seed: 1 })]);
      await check(built, () => bn.getWeights()[2].dataSync(), () => bn.getWeights()[3].dataSync(), momentum);
      const imported = await eg.loadModel(await eg.toOnnx(built));
      const node = imported.graph.nodes.find((n) => n.op === 'batchNorm')!;
      expect(node.attrs.momentum).toBeCloseTo(momentum, 6);
      await check(eg.sequential([imported]), () => stats(imported, node.name).mean, () => stats(imported, node.name).variance, momentum);
      // and once more through a second export and import
      const again = await eg.loadModel(await eg.toOnnx(imported));
      expect(again.graph.nodes.find((n) => n.op === 'batchNorm')!.attrs.momentum).toBeCloseTo(momentum, 6);
    }
  });

  it('batch norms in inference mode keep their statistics while gamma and beta train (gradients by finite differences)', async () => {
    const backbone = await importedBackbone(0.9, 'tanh'); // smooth: finite differences do not straddle a kink
    const before = ['bn1', 'bn2', 'bn3'].map((n) => stats(backbone, n));
    backbone.unfreeze({ batchNorm: 'inference' });
    const head = eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 });
    const model = eg.sequential([backbone, head]);
    // gamma and beta of every batch norm get gradients that match finite differences of the training loss
    checkModelGradients(model, [8, 8, 2], Float32Array.from({ length: 12 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)));
    model.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'categoricalCrossentropy' });
    const x = eg.randomNormal([8, 8, 8, 2], 0, 1, 5), y = eg.data.oneHot([0, 1, 2, 0, 1, 2, 0, 1], 3);
    const inferenceLoss = model.evaluate(x, y).loss;
    const h = await model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false });
    // the first step's loss is the inference loss (batch statistics would have changed it)
    expect(h.history.loss[0]).toBeCloseTo(inferenceLoss, 4);
    ['bn1', 'bn2', 'bn3'].forEach((n, i) => {
      const now = stats(backbone, n);
      expect(Array.from(now.mean)).toEqual(Array.from(before[i].mean));
      expect(Array.from(now.variance)).toEqual(Array.from(before[i].variance));
      expect(Array.from(now.gamma).some((v, j) => v !== before[i].gamma[j])).toBe(true);
    });
    // Keras's default: a trainable batch norm trains on batch statistics and updates them
    backbone.batchNormMode = 'train';
    await model.fit(x, y, { epochs: 1, batchSize: 8 });
    expect(Array.from(stats(backbone, 'bn1').mean).some((v, j) => v !== before[0].mean[j])).toBe(true);
    expect(() => backbone.unfreeze({ batchNorm: 'frozen' as never })).toThrow(/batchNorm must be 'train' or 'inference'/);
  });

  it('a graph model predicts with its current weights after they trained inside another model, and after setWeights', async () => {
    const backbone = await importedBackbone();
    const x = eg.randomNormal([4, 8, 8, 2], 0, 1, 6), xNhwc = x; // a model built here keeps its NHWC boundary
    const p0 = backbone.predict(x).dataSync(); // builds (and caches) its folded inference plan
    const model = eg.sequential([backbone, eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 })]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.05 }), loss: 'categoricalCrossentropy' });
    await model.fit(xNhwc, eg.data.oneHot([0, 1, 2, 0], 3), { epochs: 3, batchSize: 2 });
    const own = backbone.predict(x).dataSync();
    const viaModel = eg.sequential([backbone]).predict(xNhwc).dataSync();
    const reloaded = (await eg.loadModel(await eg.toOnnx(backbone))).predict(x).dataSync();
    expect(Array.from(own).some((v, i) => Math.abs(v - p0[i]) > 1e-3)).toBe(true);
    expect(maxAbsDiff(own, reloaded)).toBeLessThan(1e-4);
    expect(maxAbsDiff(own, viaModel)).toBeLessThan(1e-4);
    // setWeights on the model that holds it
    const ws = model.getWeights().map((t) => eg.mul(t, 0.5));
    model.setWeights(ws);
    const halved = backbone.predict(x).dataSync();
    const reloaded2 = (await eg.loadModel(await eg.toOnnx(backbone))).predict(x).dataSync();
    expect(maxAbsDiff(halved, reloaded2)).toBeLessThan(1e-4);
    expect(maxAbsDiff(halved, own)).toBeGreaterThan(1e-3);
  });

  it('summary() and countParams(true) count what a frozen graph trains', async () => {
    const backbone = await importedBackbone();
    const total = backbone.countParams();
    const model = eg.sequential([backbone, eg.layers.dense({ units: 3, seed: 4 })]);
    const headParams = 6 * 4 * 4 * 3 + 3;
    expect(model.countParams()).toBe(total + headParams);
    expect(model.countParams(true)).toBe(total + headParams);
    backbone.freeze();
    expect(backbone.countParams(true)).toBe(0);
    expect(model.countParams(true)).toBe(headParams);
    expect(model.summary({ print: false })).toMatch(new RegExp(`Total params: ${total + headParams} \\(trainable ${headParams}, frozen ${total}\\)`));
    expect(model.summary({ print: false })).toMatch(/\(frozen\)/);
    backbone.unfreeze().freeze({ upTo: 'c3' });
    const partly = model.countParams(true);
    expect(partly).toBeGreaterThan(headParams);
    expect(partly).toBeLessThan(total + headParams);
    expect(model.summary({ print: false })).toMatch(/\(\d+ trainable\)/);
    expect(backbone.summary({ print: false })).toMatch(new RegExp(`Trainable parameters: ${partly - headParams} \\(frozen ${total - partly + headParams}`));
  });

  it('fit caches the frozen part inside a partly frozen graph: same training as without the cache', async () => {
    const x = eg.randomNormal([24, 8, 8, 2], 0, 1, 8), y = eg.tensor(Int32Array.from({ length: 24 }, (_, i) => i % 3), [24], 'int32');
    const run = async (cacheFeatures: boolean) => {
      const backbone = await importedBackbone();
      backbone.freeze({ upTo: 'res', batchNorm: 'inference' }); // c3 / bn3 train; the residual block before it does not
      const model = eg.sequential([backbone, eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 })]);
      model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const h = await model.fit(x, y, { epochs: 3, batchSize: 8, seed: 2, validationSplit: 0.25, cacheFeatures });
      return { h, w: model.getWeights().map((t) => t.dataSync()), model };
    };
    const cached = await run(true), plain = await run(false);
    // the cache holds the residual sum (8x8x4 = 256 floats per example), not the 8x8x2 input
    expect(cached.h.cachedFeatures).toEqual({ layers: 0, shape: [8, 8, 4], inside: expect.stringMatching(/res/) });
    cached.h.history.loss.forEach((l, i) => expect(l).toBeCloseTo(plain.h.history.loss[i], 5));
    cached.h.history.val_loss.forEach((l, i) => expect(l).toBeCloseTo(plain.h.history.val_loss[i], 5));
    cached.w.forEach((t, k) => expect(maxAbsDiff(t, plain.w[k])).toBeLessThan(1e-5));
  });

  it('model.features(x): kept features for fit, evaluate and predict, with their memory; refused once the split moves', async () => {
    const backbone = await importedBackbone();
    backbone.freeze({ upTo: 'res' });
    const model = eg.sequential([backbone, eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 })]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = eg.randomNormal([10, 8, 8, 2], 0, 1, 9), y = eg.tensor(Int32Array.from({ length: 10 }, (_, i) => i % 3), [10], 'int32');
    let seen = 0;
    const f = await model.features(x, { batchSize: 4, onProgress: (d) => { seen = d; } });
    expect(seen).toBe(10);
    expect(f.shape).toEqual([8, 8, 4]);
    expect(f.count).toBe(10);
    expect(f.bytes).toBe(10 * 8 * 8 * 4 * 4);
    expect(f.inside).toMatch(/res/);
    const direct = model.evaluate(x, y), viaFeatures = model.evaluate(f, y);
    expect(viaFeatures.loss).toBeCloseTo(direct.loss, 5);
    expect(maxAbsDiff(model.predict(f).dataSync(), model.predict(x).dataSync())).toBeLessThan(1e-5);
    await model.fit(f, y, { epochs: 2, batchSize: 5, validationData: [f, y] });
    expect(model.evaluate(f, y).loss).toBeCloseTo(model.evaluate(x, y).loss, 5);
    // the frozen weights change elsewhere (set here): the kept features are refused, not silently stale
    const ws = backbone.graph.values.filter((v) => v.kind === 'param').map((v) => v.tensor!);
    const layer = model.layers[0];
    layer.setWeights(layer.getWeights().map((t, i) => (i === 0 ? eg.mul(t, 0.5) : t)));
    expect(ws.length).toBeGreaterThan(0);
    expect(() => model.evaluate(f, y)).toThrow(/the weights of model .*'s frozen layers changed since these features were computed/);
    const f2 = await model.features(x);
    expect(model.evaluate(f2, y).loss).toBeCloseTo(model.evaluate(x, y).loss, 5);
    backbone.unfreeze();
    expect(() => model.evaluate(f2, y)).toThrow(/which layers of model .* train has changed since these features were computed/);
    const other = eg.sequential([eg.layers.dense({ units: 2, inputShape: [4] })]);
    expect(() => other.predict(f)).toThrow(/computed by model/);
    await expect(other.features(eg.zeros([1, 4]))).rejects.toThrow(/has no frozen prefix/);
  });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return a.length === b.length ? m : Infinity;
}
