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

function expectCloseTo(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])));
}

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

  it('a batch norm after a 1x1 conv recomputes the conv in blocks inside its gradient where that lowers the peak: the least budget fits, and trains to the same weights as without', async () => {
    // MobileNetV2's strided blocks in small: expand (1x1, no bias), batch norm, ReLU6, depthwise (stride 2),
    // batch norm, ReLU6, project: the expansion and its gradient are the widest values of a step
    const make = () => {
      eg.setSeed(11);
      const block = (expand: number, out: number) => [
        eg.layers.conv2d({ filters: expand, kernelSize: 1, useBias: false }), eg.layers.batchNormalization(), eg.layers.activation({ activation: 'relu6' }),
        eg.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false }), eg.layers.batchNormalization(), eg.layers.activation({ activation: 'relu6' }),
        eg.layers.conv2d({ filters: out, kernelSize: 1, useBias: false }), eg.layers.batchNormalization(),
      ];
      const m = eg.sequential([
        eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu6', inputShape: [12, 12, 3] }),
        ...block(24, 6), ...block(36, 6), eg.layers.globalAveragePooling2d(), eg.layers.dense({ units: 3, activation: 'softmax' }),
      ]);
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy' });
      return m;
    };
    const free = make(), tight = make();
    // the least any policy reaches, from the refusal of a budget below it
    const least = Number(/at least (\d+) bytes/.exec((() => { try { tight.trainingMemory(8, { memoryBudget: 1 }); return ''; } catch (e) { return (e as Error).message; } })())?.[1]);
    const plan = tight.trainingMemory(8, { memoryBudget: least }).budgeted!;
    expect(plan.bytes).toBe(least);
    expect(plan.checkpoints.fuseAbove, JSON.stringify(plan.checkpoints)).toBeDefined();
    // without the fused gradients the same checkpoints plan more
    const { fuseAbove, ...unfused } = plan.checkpoints;
    void fuseAbove;
    const g = (p: object) => (tight as unknown as { stepGraph(t: boolean, p: object): { g: Graph; ys: number[]; grads: Array<{ grad: number }> } }).stepGraph(true, p);
    const s = g(unfused);
    expect(plannedBytes(s.g, 8, [...s.ys, ...s.grads.map((x) => x.grad)])).toBeGreaterThan(least);
    expect(g(plan.checkpoints).g.nodes.some((n) => n.op === 'conv1x1BatchNormGrad')).toBe(true);
    const x = eg.randomNormal([16, 12, 12, 3], 0, 1, 6), y = eg.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 3), [16], 'int32');
    const args = { epochs: 2, batchSize: 8, shuffle: true, seed: 3 };
    const w0 = free.getWeights().map((t) => Float32Array.from(t.dataSync()));
    const h1 = await free.fit(x, y, args);
    const h2 = await tight.fit(x, y, { ...args, memoryBudget: least });
    expect(h2.history.loss).toEqual(h1.history.loss);
    const [a, b] = [free.getWeights(), tight.getWeights()];
    a.forEach((t, k) => expect(Array.from(b[k].dataSync()), `weight ${k}`).toEqual(Array.from(t.dataSync())));
    // every weight trained (the first expansion's among them): equal weights are not equal for having stood still
    a.forEach((t, k) => expect(t.dataSync().some((v, i) => v !== w0[k][i]), `weight ${k} changed`).toBe(true));
  });

  it('all of MobileNetV2 training at batch 8 plans a step within 2x its inference memory', async () => {
    const base = await eg.loadModel(new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'models', 'mobilenet-v2-features.onnx'))));
    const m = eg.sequential([base, eg.layers.dense({ units: 5, activation: 'softmax' })]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-4 }), loss: 'sparseCategoricalCrossentropy' });
    const mem = m.trainingMemory(8);
    const plan = m.trainingMemory(8, { memoryBudget: 2 * mem.inference }).budgeted!;
    // measured: 1.66x (80.0 MB against 48.2 MB; 2.03x without the fused gradients: block 1's expansion and its gradient whole at once)
    expect(plan.bytes / mem.inference).toBeLessThanOrEqual(2);
    expect(plan.checkpoints.fuseAbove).toBeDefined();
  });

  it('TinyTL: freeze({ trainBiases: true }) trains only the biases and batch-norm shifts of an imported model', async () => {
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
  it('1-bit activation masks and in-place gradients: a step through frozen kernels keeps bits, not activations, and its gradients are the finite differences of the loss', async () => {
    // trainable batch-norm gamma / beta (inference mode) under frozen convs and dense: ReLU6 and leaky ReLU
    // are read in the backward pass only for their derivatives (standalone and fused in a conv)
    eg.setSeed(5);
    const m = eg.sequential([
      eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2], name: 'c1' }),
      eg.layers.batchNormalization({ name: 'bn' }),
      eg.layers.activation({ activation: 'relu6' }),
      eg.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', name: 'c2' }),
      eg.layers.conv2d({ filters: 3, kernelSize: 1, name: 'c3' }),
      eg.layers.activation({ activation: 'leakyRelu', alpha: 0.1 } as never),
      eg.layers.flatten(),
      eg.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ]);
    m.freeze({ upTo: 'c1', batchNorm: 'inference' });
    for (const l of m.layers) if (['c2', 'c3', 'out'].includes(l.name)) l.trainable = false;
    const bn = m.layers.find((l) => l.name === 'bn')!;
    // moving statistics away from 0 / 1, and shifts that put some activations past 6 and below 0
    const [g0, b0, mm, mv] = bn.getWeights();
    bn.setWeights([eg.tensor([1.5, 0.8, 2, 1.2]), eg.tensor([0.5, -0.3, 3, 0.1]), eg.tensor(Array.from(mm.dataSync(), (_, i) => 0.1 * i)), eg.tensor(Array.from(mv.dataSync(), (_, i) => 0.5 + 0.2 * i))]);
    void g0; void b0;
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'sparseCategoricalCrossentropy' });
    const step = (m as unknown as { stepGraph(t: boolean, p: { every: number }): { g: Graph } }).stepGraph(true, { every: 1 }).g;
    expect(step.nodes.filter((n) => n.op === 'activationMask').map((n) => n.attrs.activation).sort()).toEqual(['leakyRelu', 'relu', 'relu6']);
    const r = (i: number) => Math.sin(i * 12.9898) * 3;
    const x = eg.tensor(Float32Array.from({ length: 5 * 72 }, (_, i) => r(i)), [5, 6, 6, 2]), y = eg.tensor(Int32Array.from([0, 2, 1, 1, 0]), [5], 'int32');
    const loss = () => m.evaluate(x, y).loss;
    const p0 = bn.getWeights().slice(0, 2).map((t) => Float32Array.from(t.dataSync()));
    const setGB = (g: Float32Array, b: Float32Array) => { const w = bn.getWeights(); bn.setWeights([eg.tensor(g), eg.tensor(b), w[2], w[3]]); };
    const fd = p0.map((v, k) => Float64Array.from(v, (_, i) => {
      const at = (d: number) => { const q = p0.map((u) => Float32Array.from(u)); q[k][i] += d; setGB(q[0], q[1]); return loss(); };
      return (at(1e-3) - at(-1e-3)) / 2e-3;
    }));
    setGB(p0[0], p0[1]);
    await m.fit(x, y, { epochs: 1, batchSize: 5, shuffle: false });
    const got = bn.getWeights().slice(0, 2).map((t, k) => Float64Array.from(t.dataSync(), (v, i) => p0[k][i] - v));
    got.forEach((g, k) => expectCloseTo(g, fd[k], 2e-3, k ? 'dbeta' : 'dgamma'));
    expect(Math.max(...Array.from(got[0], Math.abs))).toBeGreaterThan(1e-3);
  });

  it('TinyTL: MobileNetV2 with only its biases and batch-norm shifts training plans a step within 1.3x its inference memory at batch 8', async () => {
    const base = await eg.loadModel(new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'models', 'mobilenet-v2-features.onnx'))));
    base.freeze({ trainBiases: true });
    const m = eg.sequential([base, eg.layers.dense({ units: 5, activation: 'softmax' })]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-4 }), loss: 'sparseCategoricalCrossentropy' });
    const mem = m.trainingMemory(8);
    expect(mem.step / mem.inference).toBeLessThanOrEqual(1.3); // measured: 1.04 (50.3 MB against 48.2 MB)
    // all of it training: the activations are kept, as they must be for the kernels' gradients
    base.unfreeze();
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-4 }), loss: 'sparseCategoricalCrossentropy' });
    expect(m.trainingMemory(8).step / mem.inference).toBeGreaterThan(5);
  });
});
