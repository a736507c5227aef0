// Training end to end on small problems: XOR, the perceptron rule, and whole-model gradients against
// finite differences (dense, conv, depthwise, pooling, batch norm, residual add).
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild, checkModelGradients } from './helpers.js';
import * as eg from '../src/index.js';
import { Plan } from '../src/graph/executor.js';
import { Graph } from '../src/graph/ir.js';
import { Tensor } from '../src/tensor.js';

const XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]];

describe('training basics', () => {
  beforeAll(() => { useBuild('simd'); });

  it('a 2-2-1 sigmoid MLP learns XOR', async () => {
    const model = eg.sequential([
      eg.layers.dense({ units: 2, activation: 'sigmoid', inputShape: [2], seed: 3, kernelInitializer: eg.initializers.randomUniform({ minval: -1, maxval: 1 }) }),
      eg.layers.dense({ units: 1, activation: 'sigmoid', seed: 4, kernelInitializer: eg.initializers.randomUniform({ minval: -1, maxval: 1 }) }),
    ]);
    model.compile({ optimizer: eg.optimizers.sgd({ learningRate: 2, momentum: 0.9 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const x = eg.tensor(XOR_X), y = eg.tensor([[0], [1], [1], [0]]);
    const h = await model.fit(x, y, { epochs: 600, batchSize: 4, seed: 1 });
    expect(h.history.loss.at(-1)!).toBeLessThan(0.05);
    expect(Array.from(model.predict(x).dataSync(), (v) => (v > 0.5 ? 1 : 0))).toEqual([0, 1, 1, 0]);
    expect(h.history.accuracy.at(-1)).toBe(1);
  });

  it('sparseSoftmaxCrossEntropy on a logits model trains on int32 labels exactly as softmax + sparseCategoricalCrossentropy; other labels are refused by name', async () => {
    const make = (act: 'linear' | 'softmax', loss: 'sparseSoftmaxCrossEntropy' | 'sparseCategoricalCrossentropy') => {
      const m = eg.sequential([eg.layers.dense({ units: 6, activation: 'tanh', inputShape: [4], seed: 1 }), eg.layers.dense({ units: 3, activation: act, seed: 2 })]);
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss, metrics: ['accuracy'] });
      return m;
    };
    const x = eg.randomNormal([12, 4], 0, 1, 3), y = eg.tensor(Int32Array.from({ length: 12 }, (_, i) => i % 3), [12], 'int32');
    const logits = make('linear', 'sparseSoftmaxCrossEntropy'), probs = make('softmax', 'sparseCategoricalCrossentropy');
    const a = await logits.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false });
    const b = await probs.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false });
    a.history.loss.forEach((l, k) => expect(l).toBeCloseTo(b.history.loss[k], 5));
    expect(logits.evaluate(x, y).accuracy).toBeCloseTo(probs.evaluate(x, y).accuracy, 6);
    await expect(logits.fit(x, eg.data.oneHot(y, 3), { epochs: 1 })).rejects.toThrow("loss 'sparseSoftmaxCrossEntropy' needs int32 class indices [12], got float32 [12,3]");
    await expect(logits.fit(x, eg.tensor(Int32Array.from({ length: 12 }, (_, i) => (i === 5 ? 3 : 0)), [12], 'int32'), { epochs: 1 })).rejects.toThrow('label 3 of example 5 is outside [0, 3)');
    // evaluate before compile says so
    const bare = eg.sequential([eg.layers.dense({ units: 3, inputShape: [4] })]);
    expect(() => bare.evaluate(x, y)).toThrow(`model '${bare.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
  });

  it('the perceptron separates AND and OR but runs to the epoch limit on XOR', () => {
    const x = eg.tensor(XOR_X);
    for (const [name, t] of [['AND', [0, 0, 0, 1]], ['OR', [0, 1, 1, 1]]] as const) {
      const p = new eg.Perceptron(2);
      const r = p.fit(x, t, { maxEpochs: 100 });
      expect(r.converged, name).toBe(true);
      expect(r.errors.at(-1)).toBe(0);
      expect(Array.from(p.predict(x))).toEqual(t);
    }
    const p = new eg.Perceptron(2);
    const r = p.fit(x, [0, 1, 1, 0], { maxEpochs: 200 });
    expect(r.converged).toBe(false);
    expect(r.epochs).toBe(200);
    expect(Math.min(...r.errors)).toBeGreaterThan(0); // no epoch is ever free of mistakes
  });

  it('whole-model gradients match finite differences (dense, conv, depthwise, pooling, batch norm, residual add)', () => {
    const inp = eg.input({ shape: [6, 6, 3] });
    const c1 = eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh', seed: 1 }).apply(inp);
    const bn = eg.layers.batchNormalization().apply(c1);
    // smooth activations: finite differences across a ReLU kink measure the kink, not the gradient
    const dw = eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'elu', seed: 2 }).apply(bn);
    const res = eg.layers.add().apply([dw, bn]);
    const pool = eg.layers.maxPool2d({ poolSize: 2 }).apply(res);
    const avg = eg.layers.averagePooling2d({ poolSize: 3 }).apply(pool);
    const flat = eg.layers.flatten().apply(avg);
    const out = eg.layers.dense({ units: 3, activation: 'softmax', seed: 3 }).apply(flat);
    checkModelGradients(eg.model({ inputs: inp, outputs: out }), [6, 6, 3], Float32Array.from([1, 0, 0, 0, 0, 1]));
  });
});

describe('graph passes', () => {
  it('fuseActivations folds conv2d -> relu and dense -> leakyRelu into the producers, results unchanged', async () => {
    const { fuseActivations } = await import('../src/graph/passes.js');
    useBuild('simd');
    const g = new Graph();
    const x = g.input('x', [-1, 6, 6, 2]);
    const w = g.param('w', eg.randomNormal([3, 3, 2, 4], 0, 1, 1), true);
    const b = g.param('b', eg.randomNormal([4], 0, 1, 2), true);
    const [c] = g.node('conv2d', [x, w, b], { strides: [1, 1], pad: 'same', dilations: [1, 1], activation: 'linear', alpha: 0 });
    const [r] = g.node('activation', [c], { activation: 'relu' });
    const [f] = g.node('reshape', [r], { shape: [-1, 144] });
    const w2 = g.param('w2', eg.randomNormal([144, 3], 0, 0.1, 3), true);
    const [d] = g.node('dense', [f, w2], { activation: 'linear', alpha: 0 });
    const [o] = g.node('activation', [d], { activation: 'leakyRelu', alpha: 0.1 });
    g.outputs = [o];
    const xs = eg.randomNormal([2, 6, 6, 2], 0, 1, 4).dataSync();
    const run = () => { const p = new Plan(g, { batch: 2, training: false }); p.view(x).set(xs); p.run(); const out = p.view(g.outputs[0]).slice(); p.dispose(); return out; };
    const before = run();
    expect(fuseActivations(g)).toBe(2);
    expect(g.nodes.map((n) => n.op)).toEqual(['conv2d', 'reshape', 'dense']);
    expect(g.nodes[2].attrs).toMatchObject({ activation: 'leakyRelu', alpha: 0.1 });
    expect(Array.from(run())).toEqual(Array.from(before));
  });
});
