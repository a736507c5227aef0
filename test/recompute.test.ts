// Gradient checkpointing (fit's memoryBudget): a step under a budget plans fewer bytes, recomputes forward
// values during the backward pass, and trains to the same weights as the step that keeps everything.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { Graph } from '../src/graph/ir.js';
import { checkpoint, plannedBytes } from '../src/graph/recompute.js';
import { buildBackward } from '../src/autodiff.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** n of the shipped digits 0-4 (NHWC, as a sequential model takes them) and int32 labels. */
async function digits(n: number): Promise<{ x: eg.Tensor; y: eg.Tensor }> {
  const d = await eg.data.loadDigits();
  const idx: number[] = [];
  for (let i = 0; i < d.labels.length && idx.length < n; i++) if (d.labels[i] < 5) idx.push(i);
  return { x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (r) => d.labels[r]), [n], 'int32') };
}

/** A CNN with the layers a budget meets: convs, ReLU6, a trainable batch norm, dropout, pooling, dense. */
function cnn(seed: number): eg.Sequential {
  eg.setSeed(seed);
  return eg.sequential([
    eg.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [16, 16, 3] }),
    eg.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }),
    eg.layers.batchNormalization(),
    eg.layers.activation({ activation: 'relu6' }),
    eg.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', activation: 'relu' }),
    eg.layers.maxPooling2d({ poolSize: 2 }),
    eg.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', activation: 'tanh' }),
    eg.layers.dropout({ rate: 0.2 }),
    eg.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
    eg.layers.globalAveragePooling2d(),
    eg.layers.dense({ units: 4, activation: 'softmax' }),
  ]);
}

describe('gradient checkpointing (fit memoryBudget)', () => {
  beforeAll(() => useBuild('simd'));

  it('the rewrite copies forward nodes before the backward nodes that read them, and a deep chain plans fewer bytes', () => {
    // x -> 12 x (dense 32, tanh) -> sum: a chain whose backward reads every activation
    const g = new Graph();
    let h = g.input('x', [-1, 32]);
    for (let k = 0; k < 12; k++) {
      const w = g.param(`w${k}`, eg.randomNormal([32, 32], 0, 0.2, k), true);
      [h] = g.node('dense', [h, w], { activation: 'linear', alpha: 0 }, `d${k}`);
      [h] = g.node('activation', [h], { activation: 'tanh', alpha: 0 }, `t${k}`);
    }
    const [s] = g.node('reduce', [h], { op: 'sum', axis: 1 }, 'sum');
    g.outputs = [s];
    const forwardCount = g.nodes.length;
    const wrt = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
    const grads = buildBackward(g, new Map([[s, g.node('constant', [], { value: 1 })[0]]]), wrt);
    const keep = [...grads.values()];
    const before = plannedBytes(g, 64, keep);
    const copies = checkpoint(g, forwardCount, { every: 4 });
    expect(copies).toBeGreaterThan(0);
    // every node reads only values produced before it (or inputs / parameters)
    const made = new Set<number>([...g.inputs, ...g.values.filter((v) => v.kind !== 'node').map((v) => v.id)]);
    for (const n of g.nodes) {
      for (const i of n.inputs) expect(made.has(i), `node '${n.name}' reads value ${i} before it exists`).toBe(true);
      n.outputs.forEach((o) => made.add(o));
    }
    expect(plannedBytes(g, 64, keep)).toBeLessThan(before);
  });

  it('under a budget a CNN step plans within it and trains to the same weights and batch-norm statistics as without', async () => {
    const x = eg.randomNormal([24, 16, 16, 3], 0, 1, 3), y = eg.tensor(Int32Array.from({ length: 24 }, (_, i) => i % 4), [24], 'int32');
    const make = () => {
      const m = cnn(7);
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      return m;
    };
    const free = make(), tight = make();
    const mem = tight.trainingMemory(8);
    expect(mem.step).toBeGreaterThan(mem.inference);
    const budget = Math.round(0.9 * mem.step);
    const plan = tight.trainingMemory(8, { memoryBudget: budget }).budgeted!;
    // summary() says what a step plans, and what recomputation can bring it down to
    expect(tight.summary({ print: false })).toMatch(/Training step at batch 32: [\d.]+ [KMG]?i?B planned \(inference [\d.]+ [KMG]?i?B\); with recomputation \(fit's memoryBudget\) down to [\d.]+ [KMG]?i?B/);
    expect(plan.bytes).toBeLessThanOrEqual(budget);
    expect(plan.recomputedNodes).toBeGreaterThan(0);
    const args = { epochs: 2, batchSize: 8, shuffle: true, seed: 5 };
    const h1 = await free.fit(x, y, args);
    const h2 = await tight.fit(x, y, { ...args, memoryBudget: budget });
    expect(h2.history.loss).toEqual(h1.history.loss);
    const [a, b] = [free.getWeights(), tight.getWeights()];
    a.forEach((t, k) => expect(Array.from(b[k].dataSync()), `weight ${k}`).toEqual(Array.from(t.dataSync())));
  });

  it('a budget below what checkpointing reaches is refused before any step, the weights untouched', async () => {
    const m = cnn(8);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const w0 = m.getWeights().map((t) => Array.from(t.dataSync()));
    const x = eg.randomNormal([8, 16, 16, 3], 0, 1, 4), y = eg.tensor(Int32Array.from({ length: 8 }, (_, i) => i % 4), [8], 'int32');
    await expect(m.fit(x, y, { batchSize: 8, memoryBudget: 1000 })).rejects.toThrow(/memoryBudget 1000 bytes is below what a training step of model '.*' can plan at batch 8: at least \d+ bytes/);
    await expect(m.fit(x, y, { batchSize: 8, memoryBudget: -5 })).rejects.toThrow('memoryBudget must be a positive number of bytes, got -5');
    m.getWeights().forEach((t, k) => expect(Array.from(t.dataSync())).toEqual(w0[k]));
  });

  it('TinyTL: freeze({ trainBiases: true }) trains only the biases and batch-norm scales and shifts of an imported model', async () => {
    const base = await eg.loadModel(new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx'))));
    const all = base.countParams();
    base.freeze({ trainBiases: true });
    const trainable = base.countParams(true);
    expect(trainable).toBeGreaterThan(0);
    expect(trainable).toBeLessThan(all / 50);
    const m = eg.sequential([base]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy' });
    const { x, y } = await digits(64);
    const before = m.getWeights().map((t) => Float32Array.from(t.dataSync()));
    await m.fit(x, y, { epochs: 1, batchSize: 32 });
    const changed = m.getWeights().map((t, k) => t.dataSync().some((v, i) => v !== before[k][i]));
    // what changed is exactly what trains: the vectors (biases, scales, shifts), never a kernel
    m.getWeights().forEach((t, k) => expect(changed[k], `weight ${k} ${JSON.stringify(t.shape)}`).toBe(t.rank === 1 && changed[k]));
    expect(changed.filter(Boolean).length).toBeGreaterThan(0);
    expect(m.getWeights().filter((t, k) => changed[k]).reduce((s, t) => s + t.size, 0)).toBe(trainable);
  });
});
