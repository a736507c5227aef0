// The training toolbox against its specification: real-data accuracy, optimizers, schedules, clipping,
// weight decay, max-norm, early stopping, Monte-Carlo dropout, autoencoders, and bad input.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import type { Tensor } from '../src/tensor.js';

let digits: Awaited<ReturnType<typeof eg.data.loadDigits>>;
let flat: Tensor, onehot: Tensor;

beforeAll(async () => {
  useBuild('simd');
  digits = await eg.data.loadDigits();
  flat = digits.images.reshape([digits.count, 784]);
  onehot = eg.data.oneHot(digits.labels, 10);
});

/** A fixed regression problem: y = x W* + noise-free, 64 examples, 5 features -> 3 outputs. */
function regression() {
  const x = eg.randomNormal([64, 5], 0, 1, 11);
  const w = eg.randomNormal([5, 3], 0, 1, 12);
  return { x, y: eg.matMul(x, w) };
}

function linearModel(seed = 1) {
  return eg.sequential([eg.layers.dense({ units: 3, inputShape: [5], seed })]);
}

describe('training on the digits', () => {
  it('loads the shipped digits in the class-interleaved order', () => {
    expect(digits.count).toBe(10000);
    expect(digits.images.shape).toEqual([10000, 28, 28, 1]);
    for (let n = 0; n < 8630; n++) if (digits.labels[n] !== n % 10) throw new Error(`label of sample ${n} is ${digits.labels[n]}`);
    const counts = new Array(10).fill(0);
    digits.labels.forEach((l) => counts[l]++);
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    const v = digits.images.view();
    expect(Math.max(...v.subarray(0, 784))).toBe(1);
    expect(v.every((p) => p >= 0 && p <= 1)).toBe(true);
  });

  it('MLP 784-256-128-10 (ReLU, softmax, Adam 1e-3, batch 32, 10 epochs): >= 89% on the last 2,000 after the first 8,000', async () => {
    const model = eg.sequential([
      eg.layers.dense({ units: 256, activation: 'relu', inputShape: [784], seed: 1 }),
      eg.layers.dense({ units: 128, activation: 'relu', seed: 2 }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 3 }),
    ]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const h = await model.fit(eg.data.slice(flat, 0, 8000), eg.data.slice(onehot, 0, 8000), { epochs: 10, batchSize: 32, seed: 42 });
    expect(h.history.loss[9]).toBeLessThan(h.history.loss[0] / 5);
    const { accuracy } = model.evaluate(eg.data.slice(flat, 8000), eg.data.slice(onehot, 8000));
    expect(accuracy).toBeGreaterThanOrEqual(0.89);
    mlpAccuracy = accuracy;
  });

  it('a LeNet-5-style CNN beats that MLP on the same split', async () => {
    const model = eg.sequential([
      eg.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', seed: 2 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 120, activation: 'relu', seed: 3 }),
      eg.layers.dense({ units: 84, activation: 'relu', seed: 4 }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 5 }),
    ]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const labels = eg.tensor(digits.labels, [digits.count], 'int32');
    await model.fit(eg.data.slice(digits.images, 0, 8000), eg.data.slice(labels, 0, 8000), { epochs: 4, batchSize: 32, seed: 7 });
    const { accuracy } = model.evaluate(eg.data.slice(digits.images, 8000), eg.data.slice(labels, 8000));
    expect(accuracy).toBeGreaterThan(mlpAccuracy);
  });

  it('a denoising autoencoder reconstructs noisy test digits closer to the clean ones than the noisy input is', async () => {
    const noisy = (t: Tensor, seed: number) => {
      const n = eg.add(t, eg.randomNormal(t.shape, 0, 0.3, seed));
      const v = n.view();
      for (let i = 0; i < v.length; i++) v[i] = Math.min(1, Math.max(0, v[i]));
      return n;
    };
    const train = eg.data.slice(flat, 0, 3000), test = eg.data.slice(flat, 8000, 8500);
    const ae = eg.sequential([
      eg.layers.dense({ units: 128, activation: 'relu', inputShape: [784], seed: 1 }),
      eg.layers.dense({ units: 32, activation: 'relu', seed: 2 }),
      eg.layers.dense({ units: 128, activation: 'relu', seed: 3 }),
      eg.layers.dense({ units: 784, activation: 'sigmoid', seed: 4 }),
    ]);
    ae.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    await ae.fit(noisy(train, 1), train, { epochs: 8, batchSize: 64, seed: 3 });
    const noisyTest = noisy(test, 2);
    const mse = (a: Tensor, b: Tensor) => eg.losses.meanSquaredError(a, b).dataSync()[0];
    const before = mse(test, noisyTest), after = mse(test, ae.predict(noisyTest));
    expect(after).toBeLessThan(before * 0.8);
  });
});

let mlpAccuracy = 1;

describe('optimizers, schedules, clipping, regularization', () => {
  it('every optimizer decreases the loss on a fixed problem', async () => {
    const { x, y } = regression();
    const opts = {
      sgd: eg.optimizers.sgd({ learningRate: 0.05 }), momentum: eg.optimizers.momentum({ learningRate: 0.02 }),
      nesterov: eg.optimizers.nesterov({ learningRate: 0.02 }), adagrad: eg.optimizers.adagrad({ learningRate: 0.3 }),
      adadelta: eg.optimizers.adadelta({ learningRate: 1 }), rmsprop: eg.optimizers.rmsprop({ learningRate: 0.01 }),
      adam: eg.optimizers.adam({ learningRate: 0.05 }), nadam: eg.optimizers.nadam({ learningRate: 0.05 }),
      rprop: eg.optimizers.rprop({ learningRate: 0.01 }),
    };
    for (const [name, opt] of Object.entries(opts)) {
      const m = linearModel();
      m.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const before = m.evaluate(x, y).loss;
      // Rprop is a full-batch method
      const h = await m.fit(x, y, { epochs: 30, batchSize: name === 'rprop' ? 64 : 16, seed: 1 });
      expect(h.history.loss.at(-1)!, name).toBeLessThan(before * 0.9);
      expect(opt.name).toBe(name);
    }
  });

  it('online (batch 1), mini-batch and full-batch training all converge', async () => {
    const { x, y } = regression();
    for (const batchSize of [1, 16, 64]) {
      const m = linearModel();
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: batchSize === 1 ? 0.01 : 0.1 }), loss: 'mse' });
      const h = await m.fit(x, y, { epochs: batchSize === 64 ? 400 : 40, batchSize, seed: 2 });
      expect(h.history.loss.at(-1)!, `batch ${batchSize}`).toBeLessThan(1e-3);
    }
  });

  it('schedules produce their formulas', () => {
    const p = eg.schedules.powerDecay({ initialLearningRate: 0.1, decaySteps: 10, power: 2 });
    expect(p.at(0)).toBeCloseTo(0.1); expect(p.at(10)).toBeCloseTo(0.1 / 4); expect(p.at(30)).toBeCloseTo(0.1 / 16);
    const e = eg.schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 100, decayRate: 0.5 });
    expect(e.at(50)).toBeCloseTo(0.1 * Math.SQRT1_2); expect(e.at(200)).toBeCloseTo(0.025);
    const es = eg.schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 100, decayRate: 0.5, staircase: true });
    expect(es.at(199)).toBeCloseTo(0.05);
    const pc = eg.schedules.piecewiseConstant({ boundaries: [10, 20], values: [1, 0.5, 0.1] });
    expect([0, 10, 11, 20, 21, 1000].map((t) => pc.at(t))).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
  });

  it('an optimizer follows its schedule step by step', async () => {
    const { x, y } = regression();
    const sched = eg.schedules.piecewiseConstant({ boundaries: [2], values: [0.1, 0] });
    const m = linearModel();
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: sched }), loss: 'mse' });
    await m.fit(x, y, { epochs: 3, batchSize: 64 });
    const w3 = m.getWeights()[0].dataSync();
    await m.fit(x, y, { epochs: 2, batchSize: 64 });
    expect(Array.from(m.getWeights()[0].dataSync())).toEqual(Array.from(w3)); // learning rate 0 after step 2
  });

  it('reduce-on-plateau lowers the learning rate when the monitored loss stalls', async () => {
    const { x, y } = regression();
    const m = linearModel();
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1e-9 }), loss: 'mse' });
    const cb = eg.callbacks.reduceLROnPlateau({ monitor: 'loss', factor: 0.5, patience: 2 });
    await m.fit(x, y, { epochs: 6, batchSize: 64, callbacks: [cb] });
    expect(cb.learningRates.at(-1)!).toBeLessThan(1e-9);
  });

  it('clipping by value and by global norm bound the update', async () => {
    const { x } = regression();
    const yBig = eg.mul(eg.matMul(x, eg.randomNormal([5, 3], 0, 1, 12)), 1000);
    for (const cfg of [{ clipValue: 0.01 }, { clipNorm: 0.01 }]) {
      const m = linearModel();
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1, ...cfg }), loss: 'mse' });
      const w0 = m.getWeights().map((t) => t.dataSync());
      await m.fit(x, yBig, { epochs: 1, batchSize: 64 });
      const w1 = m.getWeights().map((t) => t.dataSync());
      let sq = 0, maxAbs = 0;
      w0.forEach((a, i) => a.forEach((v, j) => { const d = w1[i][j] - v; sq += d * d; maxAbs = Math.max(maxAbs, Math.abs(d)); }));
      if ('clipValue' in cfg) expect(maxAbs).toBeLessThanOrEqual(0.01 + 1e-7);
      else expect(Math.sqrt(sq)).toBeLessThanOrEqual(0.01 + 1e-6);
      expect(maxAbs).toBeGreaterThan(0);
    }
  });

  it('L2 weight decay shrinks weights, L1 drives them to zero, max-norm caps unit norms', async () => {
    const x = eg.randomNormal([64, 5], 0, 1, 3), y = eg.zeros([64, 3]);
    const norm = (m: ReturnType<typeof linearModel>) => Math.hypot(...m.getWeights()[0].dataSync());
    const plain = linearModel(), decayed = eg.sequential([eg.layers.dense({ units: 3, inputShape: [5], seed: 1, kernelRegularizer: eg.regularizers.l2(0.5) })]);
    for (const m of [plain, decayed]) m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.01 }), loss: 'mse' });
    // with y = 0 the data term also pulls toward 0; the penalty must make that clearly faster
    await plain.fit(x, y, { epochs: 5, batchSize: 64 });
    await decayed.fit(x, y, { epochs: 5, batchSize: 64 });
    expect(norm(decayed)).toBeLessThan(norm(plain) * 0.97);
    const capped = eg.sequential([eg.layers.dense({ units: 3, inputShape: [5], seed: 1, kernelConstraint: eg.constraints.maxNorm({ maxValue: 0.1 }) })]);
    capped.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss: 'mse' });
    await capped.fit(x, eg.mul(eg.matMul(x, eg.randomNormal([5, 3], 0, 1, 4)), 10), { epochs: 2, batchSize: 64 });
    const w = capped.getWeights()[0].dataSync();
    for (let j = 0; j < 3; j++) expect(Math.hypot(w[j], w[3 + j], w[6 + j], w[9 + j], w[12 + j])).toBeLessThanOrEqual(0.1 + 1e-6);
  });

  it('stopTraining set in onBatchEnd takes effect after that batch (Keras), and the epoch reports what ran', async () => {
    const { x, y } = regression();
    const m = linearModel();
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.05 }), loss: 'mse' });
    const batches: number[] = [];
    const stopper = { onBatchEnd: (b: number) => { batches.push(b); if (b === 1) m.stopTraining = true; } };
    const h = await m.fit(x, y, { epochs: 5, batchSize: 4, callbacks: stopper, shuffle: false });
    expect(batches).toEqual([0, 1]);
    expect(h.epoch).toEqual([0]);
    expect(Number.isFinite(h.history.loss[0])).toBe(true);
  });

  it('early stopping stops after `patience` epochs without improvement and restores the best weights', async () => {
    const { x, y } = regression();
    const m = linearModel();
    // a learning rate that diverges after a few epochs makes the validation loss rise
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss: 'mse' });
    const snapshots: Float32Array[] = [];
    const keep = { onEpochEnd: () => { snapshots.push(m.getWeights()[0].dataSync() as Float32Array); } };
    const es = eg.callbacks.earlyStopping({ monitor: 'val_loss', patience: 1, restoreBestWeights: true });
    const h = await m.fit(x, y, { epochs: 50, batchSize: 8, validationSplit: 0.25, callbacks: [keep, es], seed: 1 });
    expect(h.epoch.length).toBeLessThan(50);
    expect(es.stoppedEpoch).toBe(h.epoch.length - 1);
    const vl = h.history.val_loss;
    const best = vl.indexOf(Math.min(...vl));
    expect(es.bestEpoch).toBe(best);
    // patience 1: the first epoch without improvement stops it (Keras)
    expect(es.stoppedEpoch - es.bestEpoch).toBe(1);
    expect(Array.from(m.getWeights()[0].dataSync())).toEqual(Array.from(snapshots[best]));
  });
});

describe('models', () => {
  it('inference packs dense weights once and repacks after setWeights and training steps', async () => {
    const m = eg.sequential([eg.layers.dense({ units: 5, activation: 'relu', inputShape: [7], seed: 1 })]);
    const x = eg.randomNormal([8, 7], 0, 1, 2); // batch >= 4: the pre-packed GEMM path
    const eager = () => eg.fused.matMul({ a: x, b: m.getWeights()[0], bias: m.getWeights()[1], activation: 'relu' }).dataSync();
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(eager()));
    m.setWeights([eg.randomNormal([7, 5], 0, 1, 3), eg.randomNormal([5], 0, 1, 4)]);
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(eager()));
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
    await m.fit(x, eg.ones([8, 5]), { epochs: 1, batchSize: 8 });
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(eager()));
  });

  it('a dropout of rate 0 is the identity in training too: the layers before it learn as without it', async () => {
    const run = async (rate?: number) => {
      const m = eg.sequential([
        eg.layers.dense({ units: 6, activation: 'tanh', inputShape: [4], seed: 1 }),
        ...(rate === undefined ? [] : [eg.layers.dropout({ rate })]),
        eg.layers.dense({ units: 2, seed: 2 }),
      ]);
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
      await m.fit(eg.randomNormal([8, 4], 0, 1, 3), eg.randomNormal([8, 2], 0, 1, 4), { epochs: 2, batchSize: 4, seed: 5 });
      return m.getWeights()[0].dataSync();
    };
    // the mask the backward pass multiplies by held whatever the memory had: zero gradients before the dropout
    expect(Array.from(await run(0))).toEqual(Array.from(await run()));
  });

  it('Monte-Carlo dropout: predict with mcSamples returns a mean and a positive variance; plain predict is deterministic', () => {
    const m = eg.sequential([
      eg.layers.dense({ units: 32, activation: 'relu', inputShape: [4], seed: 1 }),
      eg.layers.dropout({ rate: 0.5 }),
      eg.layers.dense({ units: 2, seed: 2 }),
    ]);
    const x = eg.randomNormal([5, 4], 0, 1, 9);
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(m.predict(x).dataSync()));
    const { mean, variance } = m.predict(x, { mcSamples: 50 });
    expect(mean.shape).toEqual([5, 2]);
    expect(Math.min(...variance.dataSync())).toBeGreaterThan(0);
    const det = m.predict(x).dataSync();
    const mv = mean.dataSync();
    const dev = Math.max(...Array.from(mv, (v, i) => Math.abs(v - det[i])));
    expect(dev).toBeLessThan(Math.max(...det.map(Math.abs)) * 0.5 + 0.5);
  });

  it("dropout's seed gives the layer a stream of its own: the same masks whatever the backend's stream, other seeds other masks; it exports as identity", async () => {
    const make = (seed: number) => eg.sequential([
      eg.layers.dense({ units: 16, activation: 'relu', inputShape: [4], seed: 1 }),
      eg.layers.dropout({ rate: 0.5, seed }),
      eg.layers.dense({ units: 2, seed: 2 }),
    ]);
    const x = eg.randomNormal([6, 4], 0, 1, 9);
    const mc = (m: eg.Sequential) => Array.from((m.predict(x, { mcSamples: 4 }) as { mean: eg.Tensor }).mean.dataSync());
    eg.setSeed(1);
    const a = mc(make(5));
    eg.setSeed(2); // the backend's stream moved elsewhere: the layer's own stream does not care
    eg.randomUniform([100]);
    expect(mc(make(5))).toEqual(a);
    expect(mc(make(6))).not.toEqual(a);
    // without a seed the masks follow the backend's stream, as before
    const unseeded = () => eg.sequential([eg.layers.dense({ units: 16, activation: 'relu', inputShape: [4], seed: 1 }), eg.layers.dropout({ rate: 0.5 }), eg.layers.dense({ units: 2, seed: 2 })]);
    eg.setSeed(3);
    const u = mc(unseeded());
    eg.setSeed(3);
    expect(mc(unseeded())).toEqual(u);
    expect(() => eg.layers.dropout({ rate: 0.5, seed: 1.5 })).toThrow('edgegrad.layers.dropout: seed must be an integer, got 1.5');
    // training with it, then ONNX: dropout is the identity there
    const m = make(5);
    m.compile({ optimizer: 'adam', loss: 'mse' });
    await m.fit(x, eg.randomNormal([6, 2], 0, 1, 3), { epochs: 2, batchSize: 3 });
    const back = await eg.loadModel(await eg.toOnnx(m));
    expect(Array.from((back.predict(x) as eg.Tensor).dataSync())).toEqual(Array.from((m.predict(x) as eg.Tensor).dataSync()));
  });

  it('a functional model with branches, concatenation and a residual add trains', async () => {
    const inp = eg.input({ shape: [8] });
    const a = eg.layers.dense({ units: 8, activation: 'tanh', seed: 1 }).apply(inp);
    const b = eg.layers.dense({ units: 8, activation: 'elu', seed: 2 }).apply(inp);
    const res = eg.layers.add().apply([a, inp]);
    const cat = eg.layers.concatenate().apply([res, b]);
    const out = eg.layers.dense({ units: 1, seed: 3 }).apply(cat);
    const m = eg.model({ inputs: inp, outputs: out });
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
    const x = eg.randomNormal([64, 8], 0, 1, 5), y = eg.sum(x, 1, true);
    const h = await m.fit(x, y, { epochs: 60, batchSize: 16, seed: 4 });
    expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0] / 10);
    expect(m.summary({ print: false })).toMatch(/concatenate \(Concatenate\)\s+\[null,16\]/);
  });

  it('every activation of the kernels is available to layers by name', async () => {
    for (const activation of eg.ACTIVATIONS) {
      const m = eg.sequential([eg.layers.dense({ units: 4, activation, inputShape: [3], seed: 1 })]);
      expect(m.predict(eg.ones([2, 3])).shape).toEqual([2, 4]);
    }
    for (const layer of [eg.layers.prelu(), eg.layers.rrelu(), eg.layers.maxout({ units: 2 }), eg.layers.leakyReLU(), eg.layers.batchNormalization()]) {
      const m = eg.sequential([eg.layers.dense({ units: 4, inputShape: [3], seed: 1 }), layer]);
      m.compile({ optimizer: 'sgd', loss: 'mse' });
      const out = m.predict(eg.ones([2, 3]));
      await m.fit(eg.randomNormal([8, 3], 0, 1, 1), eg.zeros([8, out.shape[1]]), { epochs: 1, batchSize: 4 });
    }
  });
});

describe('bad input', () => {
  const mk = () => {
    const m = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    return m;
  };
  it('names what was expected and what came', async () => {
    const m = mk();
    await expect(m.fit(eg.zeros([5, 3]), eg.zeros([5, 3]))).rejects.toThrow(/expects input \[batch, 4\], got \[5,3\]/);
    await expect(m.fit(eg.zeros([5, 4]), eg.zeros([4, 3]))).rejects.toThrow(/x has 5 examples but y has 4/);
    await expect(m.fit(eg.zeros([5, 4]), eg.zeros([5, 2]))).rejects.toThrow(/needs float32 labels \[5, 3\] like the model output, got float32 \[5,2\]/);
    await expect(m.fit(eg.zeros([5, 4]), eg.zeros([5, 3]), { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer, got 0/);
    await expect(m.fit(eg.zeros([0, 4]), eg.zeros([0, 3]))).rejects.toThrow(/the dataset is empty/);
    const nan = eg.zeros([5, 4]); nan.view()[7] = NaN;
    await expect(m.fit(nan, eg.zeros([5, 3]))).rejects.toThrow(/x contains 1 NaN or infinite values/);
    expect(() => m.predict(eg.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'int32'))).toThrow(/x must be float32, got int32/);
    expect(() => eg.layers.dense({ units: 3, activation: 'swish' as never })).toThrow(/unknown activation 'swish'/);
    expect(() => m.compile({ optimizer: 'adamw' as never, loss: 'mse' })).toThrow(/unknown optimizer 'adamw'/);
    expect(() => m.compile({ optimizer: 'adam', loss: 'crossEntropy' as never })).toThrow(/unknown loss 'crossEntropy'/);
    const s = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })]);
    s.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    await expect(s.fit(eg.zeros([5, 4]), eg.zeros([5, 3]))).rejects.toThrow(/needs int32 class indices \[5\], got float32 \[5,3\]/);
  });

  it('the NaN guard stops training and names the layer whose gradient went non-finite', async () => {
    const m = eg.sequential([
      eg.layers.dense({ units: 4, activation: 'relu', inputShape: [2], seed: 1, name: 'hidden' }),
      eg.layers.dense({ units: 1, seed: 2, name: 'out' }),
    ]);
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1e30 }), loss: 'mse' });
    const x = eg.tensor([[1e10, 1e10], [-1e10, 1e10]]), y = eg.tensor([[1e15], [0]]);
    await expect(m.fit(x, y, { epochs: 5, batchSize: 2 })).rejects.toThrow(/gradient of layer '(out|hidden)' \(.+\) became non-finite at epoch \d+, batch 0/);
  });
});

describe('data helpers and the remaining layers', () => {
  it('split, standardize (fit on train, apply to test), batches, one-hot', () => {
    const x = eg.tensor(Float32Array.from({ length: 40 }, (_, i) => i), [20, 2]);
    const y = eg.tensor(Float32Array.from({ length: 20 }, (_, i) => i), [20, 1]);
    const s = eg.data.trainTestSplit(x, y, { testSize: 0.2, validationSize: 0.1, seed: 3 });
    expect([s.xTrain.shape[0], s.xVal!.shape[0], s.xTest.shape[0]]).toEqual([14, 2, 4]);
    const seen = [s.yTrain, s.yVal!, s.yTest].flatMap((t) => Array.from(t.dataSync())).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i)); // a partition, every row once
    s.xTrain.dataSync().forEach((v, i) => { if (i % 2 === 0) expect(s.xTrain.dataSync()[i + 1]).toBe(v + 1); }); // rows stay intact
    const st = eg.data.fitStandardizer(s.xTrain);
    const z = st.transform(s.xTrain).dataSync();
    const m0 = Array.from(z).filter((_, i) => i % 2 === 0).reduce((a, b) => a + b) / 14;
    expect(m0).toBeCloseTo(0, 5);
    const t = st.transform(s.xTest).dataSync();
    expect(t[0]).toBeCloseTo((s.xTest.dataSync()[0] - st.mean[0]) / st.std[0], 5);
    expect(eg.data.batches(10, 4)).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(() => eg.data.batches(10, 0)).toThrow(/batchSize must be a positive integer, got 0/);
    expect(Array.from(eg.data.oneHot([2, 0], 3).dataSync())).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => eg.data.oneHot([3], 3)).toThrow(/label 3 at 0 is outside \[0, 3\)/);
  });

  it('a CNN with zero padding, a grouped conv, depthwise, average pooling, channel concatenation and global pooling trains', async () => {
    const inp = eg.input({ shape: [10, 10, 2] });
    const p = eg.layers.zeroPadding2d({ padding: 1 }).apply(inp);
    const a = eg.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', seed: 1 }).apply(p);
    const b = eg.layers.conv2d({ filters: 4, kernelSize: 3, groups: 2, activation: 'selu', seed: 2 }).apply(p);
    const cat = eg.layers.concatenate().apply([a, b]);
    const d = eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, seed: 3 }).apply(cat);
    const pool = eg.layers.averagePooling2d({ poolSize: 2 }).apply(d);
    const gap = eg.layers.globalAveragePooling2d().apply(pool);
    const out = eg.layers.dense({ units: 2, activation: 'softmax', seed: 4 }).apply(gap);
    const m = eg.model({ inputs: inp, outputs: out });
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = eg.randomNormal([48, 10, 10, 2], 0, 1, 5);
    // a target global pooling can see: whether channel 0's mean exceeds channel 1's
    const xv = x.view();
    const labels = Int32Array.from({ length: 48 }, (_, n) => {
      let d = 0;
      for (let i = 0; i < 100; i++) d += xv[n * 200 + i * 2] - xv[n * 200 + i * 2 + 1];
      return d > 0 ? 1 : 0;
    });
    const h = await m.fit(x, eg.tensor(labels, [48], 'int32'), { epochs: 30, batchSize: 16, seed: 6 });
    expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0] * 0.5);
    expect(h.history.accuracy.at(-1)!).toBeGreaterThan(0.9);
    expect(m.summary({ print: false })).toMatch(/zero_padding2d.*\[null,12,12,2\]/);
  });
});
