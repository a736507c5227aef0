// Structured (channel) pruning, judged against independent truths: channels whose filters are exactly zero
// (and whose effect downstream is nil) are removed without changing any output, on built CNNs (plain,
// conv-bn-relu, depthwise-separable, residual) and on the imported digits CNN; the L1 ranking against the
// filters' norms summed here, the Taylor ranking against central differences of a float64 forward pass
// written here; FLOPs against the summary and the layer formula; the pruned models run in ONNX Runtime to
// the same outputs, train, and leave the original untouched.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBuild, maxRelDiff, runOrt, rng } from './helpers.js';
import * as eg from '../src/index.js';
import { pruneChannels } from '../src/compress/structured.js';
import { fmtCount } from '../src/layers/layer.js';
import type { Layer } from '../src/layers/layer.js';
import type { Tensor } from '../src/tensor.js';

const DIGITS = join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx');
const fixture = (f: string) => join(import.meta.dirname, 'fixtures', f);

/** Zero output channels `cs` of a layer's weights whose last axis is the channel (kernel, bias, ...), except those named in `keep`. */
function zeroChannels(l: Layer, cs: number[], only?: string[]): void {
  const ws = l.getWeights();
  l.weights.forEach((w, k) => {
    if (only && !only.includes(w.name)) return;
    const d = ws[k].dataSync() as Float32Array, C = w.tensor.shape[w.tensor.shape.length - 1];
    for (let i = 0; i < d.length; i++) if (cs.includes(i % C)) d[i] = 0;
    ws[k] = eg.tensor(d, w.tensor.shape);
  });
  l.setWeights(ws);
}

/** Random values into every weight of a layer (batch-norm variances positive). */
function randomize(l: Layer, seed: number): void {
  const r = rng(seed);
  l.setWeights(l.weights.map((w) => eg.tensor(Float32Array.from({ length: w.tensor.size }, () => (w.name.includes('variance') ? 0.5 + r() : r() * 2 - 1)), w.tensor.shape)));
}

const data = (t: Tensor) => Array.from(t.dataSync());

describe('structured pruning', () => {
  beforeAll(() => { useBuild('simd'); });

  it('zero filters removed from a plain CNN: same outputs, fewer channels and the flattened dense rows with them', async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'c1', filters: 8, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 2], seed: 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ name: 'd1', units: 5, activation: 'relu', seed: 3 }),
      eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: 4 }),
    ]);
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 7 + 1);
    zeroChannels(m.getLayer('c1'), [1, 4]);
    zeroChannels(m.getLayer('c2'), [2]);
    zeroChannels(m.getLayer('d1'), [3]);
    const x = eg.randomUniform([4, 10, 10, 2], -1, 1, 9);
    const want = data(m.predict(x));
    m.classNames = ['cat', 'dog', 'owl'];
    const { model: p, report } = await pruneChannels(m, { ratio: { c1: 0.25, c2: 1 / 6, d1: 0.2 }, criterion: 'l1' });
    expect(p).toBeInstanceOf(eg.Sequential);
    expect(p.classNames).toEqual(['cat', 'dog', 'owl']);
    expect(report.layers.map((l) => [l.name, l.kept, l.keptIndices])).toEqual([
      ['c1', 6, [0, 2, 3, 5, 6, 7]], ['c2', 5, [0, 1, 3, 4, 5]], ['d1', 4, [0, 1, 2, 4]],
    ]);
    expect(report.tied).toEqual([{ name: 'out', reason: expect.stringContaining('softmax') }]);
    expect(p.getLayer('c2').weights[0].tensor.shape).toEqual([3, 3, 6, 5]);
    expect(p.getLayer('d1').weights[0].tensor.shape).toEqual([4 * 4 * 5, 4]);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
    // the original keeps its layers and weights
    expect(m.getLayer('c2').weights[0].tensor.shape).toEqual([3, 3, 8, 6]);
    expect(maxRelDiff(data(m.predict(x)), want)).toBe(0);
  });

  it('conv-bn-relu chain: a zero filter whose batch norm gives zero is removed with its batch-norm entries', async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'c1', filters: 6, kernelSize: 3, useBias: false, inputShape: [8, 8, 3], seed: 1 }),
      eg.layers.batchNormalization({ name: 'bn1' }),
      eg.layers.reLU(),
      eg.layers.conv2d({ name: 'c2', filters: 4, kernelSize: 3, useBias: false, seed: 2 }),
      eg.layers.batchNormalization({ name: 'bn2' }),
      eg.layers.reLU(),
      eg.layers.globalAveragePooling2d(),
      eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: 3 }),
    ]);
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 3 + 2);
    zeroChannels(m.getLayer('c1'), [0, 5]);
    zeroChannels(m.getLayer('bn1'), [0, 5], ['beta', 'moving_mean']); // BN(0) = beta - gamma mean / sd = 0
    zeroChannels(m.getLayer('c2'), [1]);
    zeroChannels(m.getLayer('bn2'), [1], ['beta', 'moving_mean']);
    const x = eg.randomUniform([3, 8, 8, 3], -1, 1, 4);
    const want = data(m.predict(x));
    const { model: p, report } = await pruneChannels(m, { ratio: { c1: 1 / 3, c2: 0.25 }, criterion: 'l1' });
    expect(report.layers.map((l) => l.keptIndices)).toEqual([[1, 2, 3, 4], [0, 2, 3]]);
    expect(p.getLayer('bn1').weights.map((w) => w.tensor.shape)).toEqual([[4], [4], [4], [4]]);
    expect(p.getLayer('out').weights[0].tensor.shape).toEqual([3, 3]);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
  });

  it('depthwise-separable block: the expansion channel goes with its depthwise filter and the projection input', async () => {
    const inp = eg.input({ shape: [9, 9, 4], name: 'img' });
    let y = eg.layers.conv2d({ name: 'expand', filters: 12, kernelSize: 1, activation: 'relu6', seed: 1 }).apply(inp);
    y = eg.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: 2 }).apply(y);
    y = eg.layers.conv2d({ name: 'project', filters: 5, kernelSize: 1, seed: 3 }).apply(y);
    y = eg.layers.flatten().apply(y);
    const out = eg.layers.dense({ name: 'out', units: 2, seed: 4 }).apply(y);
    const m = eg.model({ inputs: inp, outputs: out, name: 'sep' });
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 5 + 3);
    zeroChannels(m.getLayer('expand'), [3, 7, 8]);
    zeroChannels(m.getLayer('dw'), [3, 7, 8], ['bias']); // relu(0 * w + 0) = 0: nothing reaches the projection
    const x = eg.randomUniform([2, 9, 9, 4], -1, 1, 5);
    const want = data(m.predict(x));
    const { model: p, report } = await pruneChannels(m, { ratio: { expand: 0.25 }, criterion: 'l1' });
    expect(p).toBeInstanceOf(eg.Model);
    expect(p).not.toBeInstanceOf(eg.Sequential);
    expect(report.layers[0].keptIndices).toEqual([0, 1, 2, 4, 5, 6, 9, 10, 11]);
    expect(p.getLayer('dw').weights.map((w) => w.tensor.shape)).toEqual([[3, 3, 1, 9], [9]]);
    expect(p.getLayer('project').weights[0].tensor.shape).toEqual([1, 1, 9, 5]);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
    expect(p.inputNames).toEqual(['img']);
  });

  it('with data, a removed channel that is a constant is folded into what reads it (a bias, or the next batch norm\'s mean): same outputs', async () => {
    for (const bn of [false, true]) {
      const m = eg.sequential([
        eg.layers.conv2d({ name: 'c1', filters: 6, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 2], seed: 1 }),
        eg.layers.conv2d({ name: 'c2', filters: 4, kernelSize: 3, useBias: !bn, seed: 2 }), // valid: every tap reads the map
        ...(bn ? [eg.layers.batchNormalization({ name: 'bn' })] : []),
        eg.layers.flatten(),
        eg.layers.dense({ name: 'out', units: 3, seed: 3 }),
      ]);
      for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 19 + 7);
      // channels 2 and 4 of c1: relu(0 * x + 0.5) = 0.5 everywhere, a constant that c2 reads
      zeroChannels(m.getLayer('c1'), [2, 4], ['kernel']);
      const ws = m.getLayer('c1').getWeights(), b = ws[1].dataSync() as Float32Array;
      b[2] = b[4] = 0.5;
      m.getLayer('c1').setWeights([ws[0], eg.tensor(b, [6])]);
      const x = eg.randomUniform([4, 8, 8, 2], -1, 1, 12);
      const want = data(m.predict(x));
      const { model: p } = await pruneChannels(m, { ratio: { c1: 1 / 3 }, criterion: 'l1', data: { x: eg.randomUniform([6, 8, 8, 2], -1, 1, 13), batchSize: 3 } });
      expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
      const { model: plain } = await pruneChannels(m, { ratio: { c1: 1 / 3 }, criterion: 'l1', data: { x }, compensate: false });
      expect(maxRelDiff(data(plain.predict(x)), want)).toBeGreaterThan(1e-2);
    }
  });

  it('residual block: channels feeding the add stay whole (reported), the inner channels are pruned', async () => {
    const inp = eg.input({ shape: [6, 6, 3] });
    const a = eg.layers.conv2d({ name: 'stem', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', seed: 1 }).apply(inp);
    let b = eg.layers.conv2d({ name: 'inner', filters: 10, kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }).apply(a);
    b = eg.layers.conv2d({ name: 'back', filters: 4, kernelSize: 1, seed: 3 }).apply(b);
    let y = eg.layers.add().apply([a, b]);
    y = eg.layers.globalAveragePooling2d().apply(y);
    const m = eg.model({ inputs: inp, outputs: eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: 4 }).apply(y) });
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 11 + 5);
    zeroChannels(m.getLayer('inner'), [0, 6, 9]);
    const x = eg.randomUniform([3, 6, 6, 3], -1, 1, 6);
    const want = data(m.predict(x));
    const { model: p, report } = await pruneChannels(m, { ratio: 0.3, criterion: 'l1' });
    expect(report.layers.map((l) => [l.name, l.keptIndices])).toEqual([['inner', [1, 2, 3, 4, 5, 7, 8]]]);
    expect(report.tied.map((t) => t.name).sort()).toEqual(['back', 'out', 'stem']);
    expect(report.tied.find((t) => t.name === 'stem')!.reason).toMatch(/feeds add .*residual/);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
    await expect(pruneChannels(m, { ratio: { stem: 0.5 }, criterion: 'l1' })).rejects.toThrow(/layer 'stem' cannot be pruned: it feeds add/);
  });

  it('imported digits CNN (ONNX): zero filters removed give the same outputs; FLOPs as the summary and the layer formula count them', async () => {
    const m = await eg.loadModel(DIGITS);
    // zero block1_conv filters 2 and 9 (and biases: relu(0) = 0) and block2_conv filter 5, in the loaded copy
    const g = m.graph, w = (name: string) => g.values.find((v) => v.name === name)!.tensor!;
    for (const [name, cs] of [['block1_conv', [2, 9]], ['block2_conv', [5]]] as const) {
      for (const t of [w(`${name}/W`), w(`${name}/B`)]) {
        const v = t.view() as Float32Array, C = t.shape[t.shape.length - 1];
        for (let i = 0; i < v.length; i++) if ((cs as readonly number[]).includes(i % C)) v[i] = 0;
        t.version++;
      }
    }
    const x = eg.randomUniform([5, 28, 28, 1], 0, 1, 7);
    const want = data(m.predict(x));
    m.freeze({ upTo: 'block1_pool' });
    const { model: p, report } = await pruneChannels(m, { ratio: { block1_conv: 2 / 16, block2_conv: 1 / 32 }, criterion: 'l1' });
    expect(p).toBeInstanceOf(m.constructor);
    // what was frozen stays frozen, in the copy's own tensors
    const wOf = (model: typeof m, name: string) => model.graph.values.find((v) => v.name === name)!.tensor!;
    expect([p.isFrozen(wOf(p, 'block1_conv/W')), p.isFrozen(wOf(p, 'block2_conv/W')), wOf(p, 'block1_conv/W') === wOf(m, 'block1_conv/W')]).toEqual([true, false, false]);
    expect(report.layers.map((l) => l.kept)).toEqual([14, 31]);
    expect(report.layers[1].keptIndices).not.toContain(5);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
    // FLOPs: conv 2 HW k k cin cout, dense 2 in out (flatten rows 7 x 7 x 31)
    const formula = (k1: number, k2: number, k3: number) => 2 * 784 * 9 * k1 + 2 * 196 * 9 * k1 * k2 + 2 * 49 * k2 * k3 + 2 * k3 * 5;
    const flopsIn = (s: string) => Number(/FLOPs per example: (\d+)/.exec(s)![1]);
    expect(report.flops.before).toBe(formula(16, 32, 64));
    expect(report.flops.before).toBe(flopsIn(m.summary({ print: false })));
    expect(report.flops.after).toBe(formula(14, 31, 64));
    expect(report.flops.after).toBe(flopsIn(p.summary({ print: false })));
    expect(report.params).toEqual({ before: m.countParams(), after: 9 * 14 + 14 + 9 * 14 * 31 + 31 + 49 * 31 * 64 + 64 + 64 * 5 + 5 });

    // a FLOPs target: half, met, and the counts as the formula gives them, with either allocation
    for (const allocation of ['uniform', 'sensitivity'] as const) {
      const half = await pruneChannels(m, { flops: 0.5, criterion: 'l1', allocation });
      const [k1, k2, k3] = half.report.layers.map((l) => l.kept);
      expect(half.report.flops.after).toBe(formula(k1, k2, k3));
      expect(half.report.flops.after).toBeLessThanOrEqual(0.5 * half.report.flops.before);
      expect(half.report.flops.after).toBeGreaterThan(0.45 * half.report.flops.before);
      // within each layer the highest scores are the ones kept
      for (const l of half.report.layers) {
        const cut = Math.max(...l.scores.filter((_, c) => !l.keptIndices.includes(c)));
        expect(Math.min(...l.keptIndices.map((c) => l.scores[c]))).toBeGreaterThanOrEqual(cut);
      }
    }
  });

  it('PyTorch CNN (ONNX, NCHW flatten): zero filters of the last conv go with their rows of the dense in channel-major order', async () => {
    const m = await eg.loadModel(fixture('mnist_cnn.onnx'));
    const g = m.graph, conv = g.nodes.find((n) => n.name === '/c3/Conv')!;
    // leaky ReLU(0 * x + 0) = 0: filters 0, 17 and 63 of /c3 contribute nothing to the flattened features
    for (const id of conv.inputs.slice(1)) {
      const t = g.values[id].tensor!, v = t.view() as Float32Array;
      for (let i = 0; i < v.length; i++) if ([0, 17, 63].includes(i % 64)) v[i] = 0;
      t.version++;
    }
    const x = eg.randomUniform([2, 1, 28, 28], 0, 1, 8);
    const want = data(m.predict(x));
    const { model: p, report } = await pruneChannels(m, { ratio: { '/c3/Conv': 3 / 64 }, criterion: 'l1' });
    expect(report.layers[0].kept).toBe(61);
    expect(g.values[p.graph.nodes.find((n) => n.name === '/f1/Gemm')!.inputs[1]].shape).toEqual([3136, 128]);
    expect(p.graph.values[p.graph.nodes.find((n) => n.name === '/f1/Gemm')!.inputs[1]].shape).toEqual([61 * 49, 128]);
    expect(maxRelDiff(data(p.predict(x)), want)).toBeLessThan(1e-5);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(p), x), want)).toBeLessThan(1e-5);
    // the Taylor criterion on its NCHW input and logits output (the loss named), the zero filters scoring 0
    const y = eg.tensor(Int32Array.from([3, 7]), [2], 'int32');
    const t = await pruneChannels(m, { ratio: { '/c3/Conv': 3 / 64 }, criterion: 'taylor', data: { x, y, loss: 'sparseSoftmaxCrossEntropy' } });
    expect([0, 17, 63].map((c) => t.report.layers[0].scores[c])).toEqual([0, 0, 0]);
    expect(t.report.layers[0].keptIndices).toEqual(report.layers[0].keptIndices);
  });

  it('MobileNetV2 (ONNX): expansion channels inside each inverted residual block are pruned, projections that feed adds stay whole; ONNX Runtime agrees', async () => {
    const m = await eg.loadModel(join(import.meta.dirname, '..', 'models', 'mobilenet-v2-features.onnx'));
    const { model: p, report } = await pruneChannels(m, { flops: 0.6, criterion: 'l1', multipleOf: 8 });
    const names = report.layers.map((l) => l.name);
    for (let b = 1; b <= 16; b++) expect(names).toContain(`block_${b}_expand`);
    for (const b of [1, 2, 4, 5, 7, 8, 9, 11, 12, 14, 15]) expect(report.tied.find((t) => t.name === `block_${b}_project`)?.reason).toMatch(/feeds add/);
    expect(report.tied.find((t) => t.name === 'Conv_1')?.reason).toMatch(/model output/);
    expect(report.flops.after).toBeLessThanOrEqual(0.6 * report.flops.before);
    expect(report.flops.after).toBe(Number(/FLOPs per example: (\d+)/.exec(p.summary({ print: false }))![1]));
    const x = eg.randomUniform([1, 224, 224, 3], 0, 1, 4);
    const ours = data(p.predict(x));
    expect(maxRelDiff(await runOrt(await eg.toOnnx(p), x), ours)).toBeLessThan(1e-4);
    m.dispose();
    p.dispose();
  });

  it('a built model: the report FLOPs are the summary FLOPs (batch norms and fused activations as it counts them)', async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ filters: 16, kernelSize: 3, inputShape: [16, 16, 3], seed: 1 }),
      eg.layers.batchNormalization(),
      eg.layers.activation({ activation: 'relu6' }),
      eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
      eg.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'elu', seed: 3 }),
      eg.layers.globalAveragePooling2d(),
      eg.layers.dense({ units: 4, activation: 'softmax', seed: 4 }),
    ]);
    const flopsLine = (s: string) => /FLOPs per example: (\S+)/.exec(s)![1];
    const { model: p, report } = await pruneChannels(m, { flops: 0.6, criterion: 'l1', multipleOf: 4 });
    expect(fmtCount(report.flops.before)).toBe(flopsLine(m.summary({ print: false })));
    expect(fmtCount(report.flops.after)).toBe(flopsLine(p.summary({ print: false })));
    expect(report.flops.after).toBeLessThanOrEqual(0.6 * report.flops.before);
    for (const l of report.layers) expect(l.kept % 4).toBe(0);
  });

  it('L1 ranking: the filters with the largest sum of |w| are kept (Li et al.)', async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'c', filters: 12, kernelSize: 3, activation: 'relu', inputShape: [7, 7, 3], seed: 3 }),
      eg.layers.flatten(),
      eg.layers.dense({ name: 'h', units: 9, activation: 'relu', seed: 4 }),
      eg.layers.dense({ units: 2, seed: 5 }),
    ]);
    const { report } = await pruneChannels(m, { ratio: 0.5, criterion: 'l1' });
    for (const [name, k] of [['c', 6], ['h', 9 - Math.round(4.5)]] as const) { // Math.round: half up
      const kern = m.getLayer(name).weights[0].tensor, d = kern.dataSync(), C = kern.shape[kern.shape.length - 1];
      const l1 = new Array<number>(C).fill(0);
      for (let i = 0; i < d.length; i++) l1[i % C] += Math.abs(d[i]);
      const r = report.layers.find((l) => l.name === name)!;
      r.scores.forEach((s, c) => expect(s).toBeCloseTo(l1[c], 4));
      const top = l1.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, c]) => c).sort((a, b) => a - b);
      expect(r.keptIndices).toEqual(top);
    }
  });

  it('Taylor ranking: |sum a dL/da| per channel and batch matches central differences of a float64 forward pass', async () => {
    // conv 3x3 valid (relu) -> flatten -> dense (relu) -> dense -> softmax, cross-entropy averaged over the batch
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'c', filters: 5, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 2], seed: 1 }),
      eg.layers.flatten(),
      eg.layers.dense({ name: 'h', units: 6, activation: 'relu', seed: 2 }),
      eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: 3 }),
    ]);
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length * 13 + 1);
    const n = 8, batch = 4;
    const x = eg.randomUniform([n, 6, 6, 2], -1, 1, 11), labels = Array.from({ length: n }, (_, i) => (i * 7) % 3);
    const y = eg.tensor(Int32Array.from(labels), [n], 'int32');
    const { report } = await pruneChannels(m, { ratio: 0.4, criterion: 'taylor', data: { x, y, batchSize: batch } });

    const [K, bK, W1, b1, W2, b2] = m.getWeights().map((t) => Float64Array.from(t.dataSync()));
    const xs = x.dataSync();
    /** Mean loss over examples [from, from + batch) with channel `ch` of layer `at` scaled by s. */
    const loss = (from: number, at: 'c' | 'h', ch: number, s: number): number => {
      let total = 0;
      for (let e = from; e < from + batch; e++) {
        const a = new Float64Array(4 * 4 * 5);
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let o = 0; o < 5; o++) {
          let z = bK[o];
          for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) for (let c = 0; c < 2; c++) z += xs[e * 72 + ((i + di) * 6 + (j + dj)) * 2 + c] * K[((di * 3 + dj) * 2 + c) * 5 + o];
          a[(i * 4 + j) * 5 + o] = Math.max(z, 0) * (at === 'c' && o === ch ? s : 1);
        }
        const h = new Float64Array(6);
        for (let u = 0; u < 6; u++) { let z = b1[u]; for (let r = 0; r < 80; r++) z += a[r] * W1[r * 6 + u]; h[u] = Math.max(z, 0) * (at === 'h' && u === ch ? s : 1); }
        const logits = [0, 1, 2].map((k) => { let z = b2[k]; for (let u = 0; u < 6; u++) z += h[u] * W2[u * 3 + k]; return z; });
        const mx = Math.max(...logits), lse = mx + Math.log(logits.reduce((q, v) => q + Math.exp(v - mx), 0));
        total += lse - logits[labels[e]];
      }
      return total / batch;
    };
    // d/ds L(a_c s) at s = 1 is sum a_c dL/da_c: its absolute value per batch, averaged over the batches
    const eps = 1e-5;
    for (const [name, C] of [['c', 5], ['h', 6]] as const) {
      const r = report.layers.find((l) => l.name === name)!;
      const ref = Array.from({ length: C }, (_, ch) => [0, batch].reduce((s, from) => s + Math.abs((loss(from, name, ch, 1 + eps) - loss(from, name, ch, 1 - eps)) / (2 * eps)), 0) / 2);
      const scale = Math.max(...ref);
      expect(scale).toBeGreaterThan(0);
      ref.forEach((v, c) => expect(Math.abs(r.scores[c] - v) / scale).toBeLessThan(1e-3));
      const keep = C - Math.round(0.4 * C);
      expect(r.keptIndices).toEqual(ref.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0]).slice(0, keep).map(([, c]) => c).sort((a, b) => a - b));
    }
  });

  it('pruned models export to ONNX that ONNX Runtime runs to the same outputs (imported and built, batch norms, depthwise, flatten)', async () => {
    const digits = await eg.loadModel(DIGITS);
    const { model: p1 } = await pruneChannels(digits, { flops: 0.5, criterion: 'l1' });
    const x1 = eg.randomUniform([3, 28, 28, 1], 0, 1, 2);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(p1), x1), data(p1.predict(x1)))).toBeLessThan(1e-5);

    const inp = eg.input({ shape: [10, 10, 3] });
    let y = eg.layers.conv2d({ filters: 12, kernelSize: 3, useBias: false, seed: 1 }).apply(inp);
    y = eg.layers.batchNormalization().apply(y);
    y = eg.layers.activation({ activation: 'relu6' }).apply(y);
    y = eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }).apply(y);
    y = eg.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', seed: 3 }).apply(y);
    y = eg.layers.flatten().apply(y);
    const m = eg.model({ inputs: inp, outputs: eg.layers.dense({ units: 4, activation: 'softmax', seed: 4 }).apply(y) });
    for (const l of m.layers) if (l.weights.length) randomize(l, l.name.length + 17);
    const { model: p2, report } = await pruneChannels(m, { flops: 0.5, criterion: 'l1' });
    expect(report.layers.every((l) => l.kept < l.channels)).toBe(true);
    const x2 = eg.randomUniform([2, 10, 10, 3], 0, 1, 3);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(p2), x2), data(p2.predict(x2)))).toBeLessThan(1e-5);
  });

  it('a pruned model trains: one epoch on digits lowers the loss, the original is left as it was', async () => {
    const d = await eg.data.loadDigits();
    const idx = Array.from({ length: 512 }, (_, i) => i);
    const x = eg.data.gather(d.images, idx), y = eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [512], 'int32');
    const m = eg.sequential([
      eg.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', seed: 2 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 3 }),
    ]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 2e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    await m.fit(x, y, { epochs: 1, batchSize: 32, seed: 1 });
    const before = data(m.predict(x));
    const { model: p } = await pruneChannels(m, { flops: 0.5, criterion: 'taylor', data: { x, y } });
    p.compile({ optimizer: eg.optimizers.adam({ learningRate: 2e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const start = p.evaluate(x, y).loss;
    const h = await p.fit(x, y, { epochs: 1, batchSize: 32, seed: 2 });
    const end = p.evaluate(x, y).loss;
    expect(Number.isFinite(h.history.loss[0])).toBe(true);
    expect(end).toBeLessThan(start);
    expect(data(m.predict(x))).toEqual(before);
  });

  it('edgegrad prune --structured: the digits CNN to half its FLOPs, recovered, written as ONNX that loads with the FLOPs reported', async () => {
    const { main } = await import('../src/cli/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-structured-'));
    const lines: string[] = [];
    const run = (...a: string[]) => main(['prune', DIGITS, ...a], (s) => lines.push(s));
    const code = await run('--structured', '--flops', '0.5', '--criterion', 'l1', '--data', 'digits', '--epochs', '1', '--out', join(dir, 'small.onnx'), '--json');
    expect(code).toBe(0);
    const r = JSON.parse(lines.at(-1)!);
    expect(r.layers.map((l: { layer: string }) => l.layer)).toEqual(['block1_conv', 'block2_conv', 'features']);
    expect(r.flops.after).toBeLessThanOrEqual(0.5 * r.flops.before);
    expect(r.accuracy.before).toBeGreaterThan(0.97);
    expect(r.accuracy.recovered).toBeGreaterThan(r.accuracy.before - 0.02);
    const small = await eg.loadModel(join(dir, 'small.onnx'));
    expect(Number(/FLOPs per example: (\d+)/.exec(small.summary({ print: false }))![1])).toBe(r.flops.after);
    expect(small.countParams()).toBe(r.params.after);
    // options of the other kind of pruning are refused by name
    const err = console.error;
    const said: string[] = [];
    console.error = (s: string) => { said.push(s); };
    try {
      expect(await run('--structured', '--data', 'digits', '--out', join(dir, 'x.onnx'))).toBe(2);
      expect(await run('--flops', '0.5', '--sparsity', '0.5', '--data', 'digits', '--out', join(dir, 'x.onnx'))).toBe(2);
      expect(await run('--structured', '--flops', '1.5', '--data', 'digits', '--out', join(dir, 'x.onnx'))).toBe(2);
    } finally {
      console.error = err;
    }
    expect(said[0]).toMatch(/--structured needs --flops F .* or --sparsity S/);
    expect(said[1]).toMatch(/--flops is an option of structured pruning: add --structured/);
    expect(said[2]).toMatch(/--flops must be in \(0, 1\), got 1.5/);
  });

  it('bad input: ratio outside (0, 1), a layer that does not exist, no prunable layer, a missing target or data', async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 3, activation: 'relu', inputShape: [5, 5, 1], seed: 1 }),
      eg.layers.flatten(),
      eg.layers.dense({ name: 'head', units: 2, activation: 'softmax', seed: 2 }),
    ]);
    for (const ratio of [0, 1, 1.5, -0.2, NaN]) {
      await expect(pruneChannels(m, { ratio, criterion: 'l1' })).rejects.toThrow(/ratio must be a number in \(0, 1\)/);
    }
    await expect(pruneChannels(m, { ratio: { conv: 2 }, criterion: 'l1' })).rejects.toThrow(/ratio\['conv'\] must be a number in \(0, 1\), got 2/);
    await expect(pruneChannels(m, { ratio: { cnov: 0.5 }, criterion: 'l1' })).rejects.toThrow(/has no layer 'cnov' \(similar: conv\)/);
    await expect(pruneChannels(m, { ratio: { head: 0.5 }, criterion: 'l1' })).rejects.toThrow(/layer 'head' cannot be pruned: it feeds activation .*softmax/);
    await expect(pruneChannels(m, { flops: 1.2, criterion: 'l1' })).rejects.toThrow(/flops must be a number in \(0, 1\)/);
    await expect(pruneChannels(m, { criterion: 'l1' })).rejects.toThrow(/give one target: flops .* or ratio/);
    await expect(pruneChannels(m, { flops: 0.5, ratio: 0.5, criterion: 'l1' })).rejects.toThrow(/give one target/);
    await expect(pruneChannels(m, { flops: 0.5, criterion: 'taylor' })).rejects.toThrow(/'taylor' needs data/);
    await expect(pruneChannels(m, { flops: 0.5, criterion: 'l2' as 'l1' })).rejects.toThrow(/criterion must be 'l1' or 'taylor', got "l2"/);
    await expect(pruneChannels(m, { flops: 0.5, criterion: 'taylor', data: { x: eg.zeros([2, 4, 4, 1]), y: eg.tensor(Int32Array.from([0, 1]), [2], 'int32') } }))
      .rejects.toThrow(/data.x must be float32 \[n, 5, 5, 1\]/);
    // a NaN in data (scores, mean compensation) and a label past the classes are refused
    const nan = new Float32Array(2 * 25); nan[3] = NaN;
    await expect(pruneChannels(m, { flops: 0.5, criterion: 'l1', data: { x: eg.tensor(nan, [2, 5, 5, 1]) } })).rejects.toThrow(/pruneChannels: data.x contains 1 NaN/);
    await expect(pruneChannels(m, { flops: 0.5, criterion: 'taylor', data: { x: eg.zeros([2, 5, 5, 1]), y: eg.tensor(Int32Array.from([0, 2]), [2], 'int32') } }))
      .rejects.toThrow('data.y label 2 of example 1 is outside [0, 2): the model has 2 outputs');
    // the conv's share of the FLOPs cannot go below one filter
    await expect(pruneChannels(m, { flops: 0.01, criterion: 'l1' })).rejects.toThrow(/cannot reach 1.0% of its FLOPs/);
    const dense = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    await expect(pruneChannels(dense, { flops: 0.5, criterion: 'l1' })).rejects.toThrow(/has no prunable layer \('dense.*' feeds activation/);
  });
});
