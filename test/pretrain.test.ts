// Pretraining on unlabelled data (eg.pretrain): NT-Xent and its gradient against the formula written out
// plainly and against central differences; one CD-1 update against a hand computation (binary and Gaussian
// visible units); greedy (denoising) autoencoders and stacked RBMs that learn on real digits and toy data and
// leave their weights in the model; contrastive pretraining that runs and exports to ONNX that ONNX Runtime
// runs alike; and the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { rng, runOrt, useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { ntXentRows } from '../src/pretrain/ntxent.js';
import { cdStep, freeEnergy, rbmVelocity, type Rbm } from '../src/pretrain/rbm.js';
import { runEager } from '../src/graph/eager.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** NT-Xent as SimCLR's eq. 1 reads: cosine similarities, then −log of each positive's share over the others. */
function reference(z1: number[], z2: number[], rows: number, cols: number, tau: number): number {
  const zs = [...Array(rows).keys()].map((i) => z1.slice(i * cols, (i + 1) * cols)).concat([...Array(rows).keys()].map((i) => z2.slice(i * cols, (i + 1) * cols)));
  const cos = (a: number[], b: number[]) => a.reduce((s, v, c) => s + v * b[c], 0) / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));
  let total = 0;
  for (let a = 0; a < 2 * rows; a++) {
    const pos = a < rows ? a + rows : a - rows;
    let den = 0;
    for (let b = 0; b < 2 * rows; b++) if (b !== a) den += Math.exp(cos(zs[a], zs[b]) / tau);
    total += -Math.log(Math.exp(cos(zs[a], zs[pos]) / tau) / den);
  }
  return total / (2 * rows);
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));

beforeAll(() => { useBuild('simd'); });

describe('NT-Xent (contrastive loss)', () => {
  const rows = 5, cols = 4, tau = 0.5;
  const r = rng(11);
  const z1 = Array.from({ length: rows * cols }, () => 2 * r() - 1), z2 = Array.from({ length: rows * cols }, () => 2 * r() - 1);

  it('matches the formula written out, and its gradient matches central differences', () => {
    const g1 = new Float32Array(rows * cols), g2 = new Float32Array(rows * cols);
    const loss = ntXentRows(z1, z2, rows, cols, tau, g1, g2);
    expect(loss).toBeCloseTo(reference(z1, z2, rows, cols, tau), 10);
    const h = 1e-5;
    for (const [z, g] of [[z1, g1], [z2, g2]] as const) {
      for (let i = 0; i < z.length; i++) {
        const zp = z.slice(), zm = z.slice();
        zp[i] += h; zm[i] -= h;
        const f = (zz: number[]) => (z === z1 ? reference(zz, z2, rows, cols, tau) : reference(z1, zz, rows, cols, tau));
        const fd = (f(zp) - f(zm)) / (2 * h);
        expect(Math.abs(g[i] - fd)).toBeLessThan(1e-6 + 1e-4 * Math.abs(fd));
      }
    }
  });

  it('is lowest when each pair agrees, and scale-free (cosine similarities)', () => {
    const same = ntXentRows(z1, z1, rows, cols, tau), scaled = ntXentRows(z1.map((v) => 3 * v), z1, rows, cols, tau);
    expect(same).toBeLessThan(ntXentRows(z1, z2, rows, cols, tau));
    expect(scaled).toBeCloseTo(same, 6);
  });

  it('the graph op gives the reference\'s loss and gradients; a batch of one has no negatives (loss 0)', () => {
    const [l, g1, g2] = runEager('ntXentLoss', [eg.tensor(z1, [rows, cols]), eg.tensor(z2, [rows, cols])], { temperature: tau });
    const w1 = new Float32Array(rows * cols), w2 = new Float32Array(rows * cols);
    expect(l.dataSync()[0]).toBeCloseTo(ntXentRows(z1, z2, rows, cols, tau, w1, w2), 5);
    // the op reads float32 inputs, the reference here float64 ones
    g1.dataSync().forEach((v, i) => expect(v).toBeCloseTo(w1[i], 6));
    g2.dataSync().forEach((v, i) => expect(v).toBeCloseTo(w2[i], 6));
    const [l1, d1] = runEager('ntXentLoss', [eg.tensor(z1.slice(0, cols), [1, cols]), eg.tensor(z2.slice(0, cols), [1, cols])], { temperature: tau });
    expect(l1.dataSync()[0]).toBeCloseTo(0, 12);
    expect(Math.max(...Array.from(d1.dataSync(), Math.abs))).toBeLessThan(1e-7);
  });
});

describe('CD-k (restricted Boltzmann machines)', () => {
  // V = 3 visible, H = 2 hidden, a batch of 2; W [3, 2] row-major
  const W = [0.1, -0.2, 0.3, 0.05, -0.4, 0.2], b = [0.1, -0.1, 0.2], c = [-0.05, 0.15];
  const v0 = [1, 0, 1, 0, 1, 1];
  const u = [0.3, 0.7, 0.9, 0.1]; // the uniforms that sample h0 (row-major)

  for (const units of ['binary', 'gaussian'] as const) {
    it(`one CD-1 update with ${units} visible units matches a hand computation`, () => {
        const rbm: Rbm = { visible: 3, hidden: 2, units, w: Float32Array.from(W), b: Float32Array.from(b), c: Float32Array.from(c) };
      let k = 0;
      const lr = 0.1;
      const err = cdStep(rbm, v0, 2, rbmVelocity(rbm), { k: 1, learningRate: lr, momentum: 0, uniform: () => u[k++] });
      // by hand, in float64
      const ph = (v: number[]) => [0, 1].flatMap((n) => [0, 1].map((j) => sig(c[j] + [0, 1, 2].reduce((s, i) => s + v[n * 3 + i] * W[i * 2 + j], 0))));
      const p0 = ph(v0);
      const h0 = p0.map((p, q) => (u[q] < p ? 1 : 0));
      const v1 = [0, 1].flatMap((n) => [0, 1, 2].map((i) => {
        const a = b[i] + [0, 1].reduce((s, j) => s + h0[n * 2 + j] * W[i * 2 + j], 0);
        return units === 'binary' ? sig(a) : a;
      }));
      const p1 = ph(v1);
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 2; j++) {
          const dw = lr * ((v0[i] * p0[j] + v0[3 + i] * p0[2 + j]) - (v1[i] * p1[j] + v1[3 + i] * p1[2 + j])) / 2;
          expect(rbm.w[i * 2 + j]).toBeCloseTo(W[i * 2 + j] + dw, 6);
        }
        expect(rbm.b[i]).toBeCloseTo(b[i] + lr * ((v0[i] - v1[i]) + (v0[3 + i] - v1[3 + i])) / 2, 6);
      }
      for (let j = 0; j < 2; j++) expect(rbm.c[j]).toBeCloseTo(c[j] + lr * ((p0[j] - p1[j]) + (p0[2 + j] - p1[2 + j])) / 2, 6);
      expect(err).toBeCloseTo(v0.reduce((s, x, q) => s + (x - v1[q]) ** 2, 0) / 2, 5);
      expect(k).toBe(4);
    });
  }

  it('free energy is the formula: −bᵀv − Σ softplus(c + vW) for binary units', () => {
    const rbm: Rbm = { visible: 3, hidden: 2, units: 'binary', w: Float32Array.from(W), b: Float32Array.from(b), c: Float32Array.from(c) };
    const byHand = [0, 1].reduce((s, n) => s - [0, 1, 2].reduce((t, i) => t + b[i] * v0[n * 3 + i], 0)
      - [0, 1].reduce((t, j) => t + Math.log(1 + Math.exp(c[j] + [0, 1, 2].reduce((q, i) => q + v0[n * 3 + i] * W[i * 2 + j], 0))), 0), 0) / 2;
    expect(freeEnergy(rbm, v0, 2)).toBeCloseTo(byHand, 6);
  });

  it('stacked RBMs on toy patterns: reconstruction error falls, data gets lower free energy than noise, weights land in the dense layers', async () => {
    // two prototypes of 16 bits, each bit flipped with probability 0.05
    const r = rng(3), protos = [[...Array(16)].map((_, i) => (i < 8 ? 1 : 0)), [...Array(16)].map((_, i) => (i % 2 ? 1 : 0))];
    const n = 400, data = new Float32Array(n * 16);
    for (let e = 0; e < n; e++) for (let i = 0; i < 16; i++) data[e * 16 + i] = r() < 0.05 ? 1 - protos[e % 2][i] : protos[e % 2][i];
    const x = eg.tensor(data, [n, 16]);
    const model = eg.sequential([
      eg.layers.dense({ units: 8, activation: 'sigmoid', inputShape: [16], seed: 1 }),
      eg.layers.dense({ units: 4, activation: 'sigmoid', seed: 2 }),
      eg.layers.dense({ units: 2, activation: 'softmax', seed: 3 }),
    ]);
    const before = model.getWeights().map((t) => Array.from(t.dataSync()));
    // batches of 24: the last of each epoch has 16 rows (a short batch once failed with a shape error)
    const rep = await eg.pretrain(model, x, { method: 'rbm', epochs: 30, batchSize: 24, learningRate: 0.1, seed: 4 });
    expect(rep.layers.map((l) => l.layer)).toEqual([model.layers[0].name, model.layers[1].name]);
    for (const l of rep.layers) {
      expect(l.visible).toBe('binary');
      expect(l.loss.at(-1)!).toBeLessThan(0.5 * l.loss[0]);
    }
    // the first RBM's W and c are the first layer's kernel and bias: its free energy (with b = 0, which shifts
    // every v by −bᵀv only) ranks the training patterns below random bit strings by a wide margin
    const [k0, c0] = model.layers[0].getWeights().map((t) => t.dataSync() as Float32Array);
    const rbm: Rbm = { visible: 16, hidden: 8, units: 'binary', w: k0, b: new Float32Array(16), c: c0 };
    const noise = Float32Array.from({ length: 200 * 16 }, () => (r() < 0.5 ? 1 : 0));
    expect(freeEnergy(rbm, data.subarray(0, 200 * 16), 200)).toBeLessThan(freeEnergy(rbm, noise, 200) - 2);
    const after = model.getWeights().map((t) => Array.from(t.dataSync()));
    expect(after[0]).not.toEqual(before[0]);
    expect(after[2]).not.toEqual(before[2]);
    expect(after[4]).toEqual(before[4]); // the classifier is left to the labels
  });
});

describe('eg.pretrain', () => {
  let digits: Awaited<ReturnType<typeof eg.data.loadDigits>>;
  beforeAll(async () => {
    digits = await eg.data.loadDigits();
  });

  it('greedy denoising autoencoders on an MLP: reconstruction error falls, below the mean image\'s, and the weights land in the model', async () => {
    const x = eg.data.slice(digits.images, 0, 1000);
    const model = eg.sequential([
      eg.layers.flatten({ inputShape: [28, 28, 1] }),
      eg.layers.dense({ units: 32, activation: 'relu', seed: 1 }),
      eg.layers.dense({ units: 16, activation: 'relu', seed: 2 }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 3 }),
    ]);
    const before = model.getWeights().map((t) => Array.from(t.dataSync()));
    const epochs: number[] = [];
    const rep = await eg.pretrain(model, x, { method: 'denoising', noise: 0.25, epochs: 4, seed: 1, learningRate: 5e-3, callbacks: { onEpochEnd: (e) => { epochs.push(e); } } });
    expect(rep.layers.map((l) => l.layer)).toEqual([model.layers[1].name, model.layers[2].name]);
    expect(epochs).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    // the mean image's error: what a reconstruction that ignores its input gets
    const v = x.dataSync(), mean = new Float64Array(784);
    for (let i = 0; i < v.length; i++) mean[i % 784] += v[i] / 1000;
    let base = 0;
    for (let i = 0; i < v.length; i++) base += (v[i] - mean[i % 784]) ** 2 / v.length;
    const first = rep.layers[0];
    expect(first.decoder).toBe('dense(784, sigmoid)');
    expect(first.loss.at(-1)!).toBeLessThan(first.loss[0]);
    expect(first.reconstructionError!).toBeLessThan(0.6 * base);
    expect(rep.layers[1].decoder).toBe('dense(32, linear)');
    expect(rep.layers[1].loss.at(-1)!).toBeLessThan(rep.layers[1].loss[0]);
    const after = model.getWeights().map((t) => Array.from(t.dataSync()));
    expect(after[0]).not.toEqual(before[0]);
    expect(after[2]).not.toEqual(before[2]);
    expect(after[4]).toEqual(before[4]);
  });

  it('convolutional autoencoders: a \'valid\' conv gets the full (transposed) conv, a strided one upsampling + conv; both learn', async () => {
    const x = eg.data.slice(digits.images, 0, 500);
    const model = eg.sequential([
      eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
      eg.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 3 }),
    ]);
    const rep = await eg.pretrain(model, x, { method: 'autoencoder', epochs: 4, batchSize: 16, seed: 1, learningRate: 3e-3 });
    expect(rep.layers.map((l) => l.decoder)).toEqual(['zeroPadding2d -> conv2d(1, 3, same, sigmoid)', 'resizing(nearest) -> conv2d(4, 3, same, linear)']);
    expect(rep.layers[1].inputShape).toEqual([500, 26, 26, 4]);
    for (const l of rep.layers) expect(l.loss.at(-1)!).toBeLessThan(0.7 * l.loss[0]);
  });

  it('contrastive pretraining of a conv backbone: the loss falls, the head stays, and ONNX Runtime runs the result alike', async () => {
    const x = eg.data.slice(digits.images, 0, 256);
    const model = eg.sequential([
      eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 16, activation: 'relu', seed: 3 }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 4 }),
    ]);
    const before = model.getWeights().map((t) => Array.from(t.dataSync()));
    const rep = await eg.pretrain(model, x, { method: 'contrastive', epochs: 4, batchSize: 32, seed: 1, learningRate: 3e-3 });
    expect(rep.layers).toHaveLength(1);
    const l = rep.layers[0];
    expect(l.layer).toBe(model.layers[5].name);
    // 2B − 1 = 63 candidates per anchor: chance is ln 63 = 4.14
    expect(l.loss[0]).toBeLessThan(Math.log(63) + 0.1);
    expect(l.loss.at(-1)!).toBeLessThan(l.loss[0] - 0.1);
    const after = model.getWeights().map((t) => Array.from(t.dataSync()));
    for (const i of [0, 2, 4]) expect(after[i]).not.toEqual(before[i]);
    expect(after[6]).toEqual(before[6]);
    expect(model.weights).toHaveLength(8); // the projection head is gone
    const probe = eg.data.slice(digits.images, 300, 308);
    const ours = model.predict(probe).dataSync();
    const theirs = await runOrt(await eg.toOnnx(model), probe);
    for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i] - theirs[i])).toBeLessThan(1e-5);
  });

  it('a loaded ONNX backbone, wrapped in a sequential model, pretrains contrastively as a whole', async () => {
    const x = eg.data.slice(digits.images, 0, 64);
    const base = await eg.loadModel(join(dirname(fileURLToPath(import.meta.url)), '..', 'models', 'digits-cnn.onnx'));
    await expect(eg.pretrain(base as never, x, { method: 'contrastive' })).rejects.toThrow(/a loaded model goes in as eg.sequential\(\[loaded\]\)/);
    const m = eg.sequential([base.cut('flatten')]);
    await expect(eg.pretrain(m, x, { method: 'autoencoder' })).rejects.toThrow(/is an imported graph, whose nodes are not layers of their own: method 'contrastive' pretrains it whole/);
    const before = m.getWeights().map((t) => Array.from(t.dataSync()));
    const rep = await eg.pretrain(m, x, { method: 'contrastive', epochs: 1, batchSize: 32, seed: 1 });
    expect(rep.layers[0].loss).toHaveLength(1);
    expect(Number.isFinite(rep.layers[0].loss[0])).toBe(true);
    const after = m.getWeights().map((t) => Array.from(t.dataSync()));
    expect(after.length).toBe(before.length);
    expect(after[0]).not.toEqual(before[0]);
  });

  it('refuses what it cannot do, saying what and where', async () => {
    const x = eg.data.slice(digits.images, 0, 16);
    const mlp = () => eg.sequential([eg.layers.flatten({ inputShape: [28, 28, 1] }), eg.layers.dense({ units: 8, activation: 'relu', name: 'hid' }), eg.layers.dense({ units: 10, activation: 'softmax' })]);
    await expect(eg.pretrain(mlp(), x, { method: 'pca' as never })).rejects.toThrow(/unknown method "pca" \(expected one of autoencoder, denoising, rbm, contrastive\)/);
    await expect(eg.pretrain(mlp(), x, { method: 'rbm' })).rejects.toThrow(/layer 'hid' cannot be pretrained by method 'rbm': its activation is 'relu'; an RBM's hidden units are sigmoid units/);
    const cnn = eg.sequential([eg.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'sigmoid', inputShape: [28, 28, 1], name: 'c1' }), eg.layers.maxPool2d({ poolSize: 2, name: 'p1' }), eg.layers.flatten(), eg.layers.dense({ units: 10, activation: 'softmax' })]);
    await expect(eg.pretrain(cnn, x, { method: 'rbm', layers: ['c1'] })).rejects.toThrow(/layer 'c1' cannot be pretrained by method 'rbm': it is a Conv2D; an RBM pretrains dense layers/);
    await expect(eg.pretrain(cnn, x, { method: 'autoencoder', layers: ['p1'] })).rejects.toThrow(/layer 'p1' cannot be pretrained by method 'autoencoder': it is a Pooling2D/);
    await expect(eg.pretrain(cnn, x, { method: 'autoencoder', layers: ['c2'] })).rejects.toThrow(/has no layer "c2" \(similar: c1/);
    await expect(eg.pretrain(mlp(), x, { method: 'rbm', noise: 0.2 })).rejects.toThrow(/noise is the corruption of method 'denoising'/);
    await expect(eg.pretrain(mlp(), x, { method: 'denoising', noise: 1.5 })).rejects.toThrow(/masking noise's rate must be in \[0, 1\), got 1.5/);
    const bad = x.clone();
    const v = bad.dataSync() as Float32Array;
    v[5 * 784 + 3] = NaN;
    bad.write(v);
    await expect(eg.pretrain(mlp(), bad, { method: 'autoencoder' })).rejects.toThrow(/NaN|non-finite/);
    await expect(eg.pretrain(mlp(), eg.zeros([4, 28, 28]), { method: 'autoencoder' })).rejects.toThrow(/takes \[batch, 28, 28, 1\]; x is float32 \[4,28,28\]/);
    const inp = eg.input({ shape: [4] });
    const fn = eg.model({ inputs: inp, outputs: eg.layers.dense({ units: 2, activation: 'sigmoid' }).apply(inp) });
    await expect(eg.pretrain(fn, eg.zeros([3, 4]), { method: 'rbm' })).rejects.toThrow(/pretrains a stack of layers one after another: model .* is functional/);
    const ac = new AbortController();
    ac.abort();
    await expect(eg.pretrain(mlp(), x, { method: 'autoencoder', signal: ac.signal })).rejects.toThrow(/abort/i);
  });
});
