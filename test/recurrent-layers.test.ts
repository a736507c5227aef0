// Recurrent layers end to end: whole-model gradients (stacks, bidirectional, timeDistributed) against finite
// differences, layers against the float64 op reference with their own weights, Keras's layouts and
// initializers, return states in the functional API, training that learns, and errors that say what is wrong.
import { describe, expect, it } from 'vitest';
import * as eg from '../src/index.js';
import { useBuild, checkModelGradients, rng, expectClose, maxRelDiff } from './helpers.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { refRecurrent } from '../src/ops/recurrent.js';

const onehot = (B: number, C: number): Float32Array => Float32Array.from({ length: B * C }, (_, i) => (i % C === Math.floor(i / C) % C ? 1 : 0));

describe('recurrent layers', () => {
  it('model gradients: lstm -> gru (sequences) -> simpleRNN -> dense', () => {
    useBuild('relaxed');
    const m = eg.sequential([
      eg.layers.lstm({ units: 5, returnSequences: true, inputShape: [4, 3], seed: 1 }),
      eg.layers.gru({ units: 6, returnSequences: true, seed: 2 }),
      eg.layers.simpleRNN({ units: 4, seed: 3 }),
      eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 }),
    ]);
    checkModelGradients(m, [4, 3], onehot(4, 3));
  });

  it('model gradients: bidirectional lstm (concat, ave), reset-before gru, timeDistributed dense', () => {
    useBuild('relaxed');
    const inp = eg.input({ shape: [5, 3] });
    const a = eg.layers.bidirectional({ layer: eg.layers.lstm({ units: 4, returnSequences: true, usePeepholes: true, seed: 5 }) }).apply(inp);
    const b = eg.layers.timeDistributed({ layer: eg.layers.dense({ units: 3, activation: 'tanh', seed: 6 }) }).apply(a);
    const c = eg.layers.bidirectional({ layer: eg.layers.gru({ units: 3, resetAfter: false, seed: 7 }), mergeMode: 'ave' }).apply(b);
    const out = eg.layers.dense({ units: 2, activation: 'softmax', seed: 8 }).apply(c);
    checkModelGradients(eg.model({ inputs: inp, outputs: out }), [5, 3], onehot(3, 2));
  });

  it('a layer computes the op reference with its own weights, in Keras layouts', async () => {
    useBuild('simd');
    const B = 2, T = 6, F = 3;
    const r = rng(3), xs = Float32Array.from({ length: B * T * F }, () => r() * 2 - 1);
    for (const [cell, layer] of [
      ['lstm', eg.layers.lstm({ units: 5, returnSequences: true, goBackwards: true, inputShape: [T, F] })],
      ['gru', eg.layers.gru({ units: 5, returnSequences: true, inputShape: [T, F] })],
      ['gru', eg.layers.gru({ units: 5, returnSequences: true, resetAfter: false, recurrentActivation: 'hardSigmoid', inputShape: [T, F] })],
      ['simpleRnn', eg.layers.simpleRNN({ units: 5, returnSequences: true, activation: 'relu', inputShape: [T, F] })],
    ] as const) {
      const m = eg.sequential([layer]);
      const y = await m.predict(eg.tensor(xs, [B, T, F]));
      const w = layer.weights.map((v) => ({ shape: v.tensor.shape.slice(), data: v.tensor.dataSync() }));
      const cfg = layer.cfg;
      const want = refRecurrent(cell, { shape: [B, T, F], data: xs }, w[0], w[1], {
        b: w[2], activation: layer.activation, recurrentActivation: layer.recurrentActivation, goBackwards: !!cfg.goBackwards,
        resetAfter: cell === 'gru' && cfg.resetAfter !== false,
      });
      expectClose(y.dataSync(), want.hseq.data, 1e-5, `${layer.name}`);
    }
  });

  it('Keras weights: shapes, forget bias 1, orthogonal recurrent kernel', () => {
    useBuild('simd');
    const l = eg.layers.lstm({ units: 6, inputShape: [4, 3] }), gr = eg.layers.gru({ units: 6, inputShape: [4, 3] });
    eg.sequential([l]); eg.sequential([gr]);
    expect(l.weights.map((w) => [w.name, w.tensor.shape])).toEqual([['kernel', [3, 24]], ['recurrentKernel', [6, 24]], ['bias', [24]]]);
    expect(gr.weights.map((w) => w.tensor.shape)).toEqual([[3, 18], [6, 18], [2, 18]]);
    expect(Array.from(l.weights[2].tensor.dataSync())).toEqual(Array.from({ length: 24 }, (_, i) => (i >= 6 && i < 12 ? 1 : 0)));
    // rows of the [6, 24] orthogonal matrix are orthonormal
    const R = l.weights[1].tensor.dataSync();
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) {
        let d = 0;
        for (let k = 0; k < 24; k++) d += R[i * 24 + k] * R[j * 24 + k];
        expect(Math.abs(d - (i === j ? 1 : 0))).toBeLessThan(1e-5);
      }
    }
  });

  it('returnState and initial states in the functional API', async () => {
    useBuild('simd');
    // an encoder's final (h, c) starts a second LSTM over the same sequence; h also feeds the head
    const inp = eg.input({ shape: [5, 3] });
    const [, h, c] = eg.layers.lstm({ units: 6, returnState: true, seed: 1 }).applyAll(inp);
    expect([h.shape, c.shape]).toEqual([[-1, 6], [-1, 6]]);
    const second = eg.layers.lstm({ units: 6, returnSequences: true, seed: 2 });
    const y = second.apply([inp, h, c]);
    const out = eg.layers.timeDistributed({ layer: eg.layers.dense({ units: 2, seed: 3 }) }).apply(y);
    const m = eg.model({ inputs: inp, outputs: out });
    const r = rng(1), xs = Float32Array.from({ length: 2 * 15 }, () => r());
    const p = await m.predict(eg.tensor(xs, [2, 5, 3]));
    expect(p.shape).toEqual([2, 5, 2]);
    // the states flow: the same second layer started from zeros gives other outputs
    const alone = eg.model({ inputs: inp, outputs: eg.layers.timeDistributed({ layer: eg.layers.dense({ units: 2, seed: 3 }) }).apply(second.apply(inp)) });
    const q = await alone.predict(eg.tensor(xs, [2, 5, 3]));
    expect(Math.max(...p.dataSync().map((v, i) => Math.abs(v - q.dataSync()[i])))).toBeGreaterThan(1e-4);
    checkModelGradients(eg.model({ inputs: inp, outputs: eg.layers.dense({ units: 2, activation: 'softmax', seed: 4 }).apply(eg.layers.gru({ units: 3, seed: 5 }).apply(y)) }),
      [5, 3], onehot(2, 2));
  });

  it('an LSTM learns to tell rising from falling sequences', async () => {
    useBuild('relaxed');
    const r = rng(7), N = 256, T = 12;
    const xs = new Float32Array(N * T), ys = new Float32Array(N * 2);
    for (let i = 0; i < N; i++) {
      const up = i % 2, start = r();
      for (let t = 0; t < T; t++) xs[i * T + t] = start + (up ? 1 : -1) * 0.05 * t + 0.1 * (r() - 0.5);
      ys[i * 2 + up] = 1;
    }
    const m = eg.sequential([eg.layers.lstm({ units: 8, inputShape: [T, 1], seed: 3 }), eg.layers.dense({ units: 2, activation: 'softmax', seed: 4 })]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    await m.fit(eg.tensor(xs, [N, T, 1]), eg.tensor(ys, [N, 2]), { epochs: 15, batchSize: 32 });
    const { accuracy } = await m.evaluate(eg.tensor(xs, [N, T, 1]), eg.tensor(ys, [N, 2])) as { accuracy: number };
    expect(accuracy).toBeGreaterThan(0.95);
  });

  it('masking: padded steps are skipped, so a padded batch gives what each unpadded sequence gives alone', async () => {
    useBuild('relaxed');
    const T = 7, F = 3, r = rng(9);
    const seq = (n: number): number[] => Array.from({ length: n * F }, () => r() * 2 - 1);
    const a = seq(4), b = seq(7), c = seq(5);
    const pad = (v: number[], before: number): number[] => [...Array(before * F).fill(0), ...v, ...Array(T * F - v.length - before * F).fill(0)];
    const batch = eg.tensor([...pad(a, 0), ...pad(b, 0), ...pad(c, 2)], [3, T, F]);
    for (const make of [
      () => eg.layers.lstm({ units: 5, seed: 1 }),
      () => eg.layers.gru({ units: 4, seed: 2 }),
      () => eg.layers.bidirectional({ layer: eg.layers.simpleRNN({ units: 3, seed: 3 }), mergeMode: 'sum' }),
    ]) {
      const layer = make(), stack = eg.layers.lstm({ units: 4, returnSequences: true, seed: 4 });
      const padded = eg.sequential([eg.layers.masking({ inputShape: [T, F] }), stack, layer]);
      const got = (await padded.predict(batch)).dataSync();
      for (const [k, v] of [a, b, c].entries()) {
        const inp = eg.input({ shape: [v.length / F, F] }), alone = eg.model({ inputs: inp, outputs: layer.apply(stack.apply(inp)) });
        const want = (await alone.predict(eg.tensor(v, [1, v.length / F, F]))).dataSync();
        expectClose(got.slice(k * want.length, (k + 1) * want.length), want, 1e-5, `${layer.name} sequence ${k}`);
      }
    }
  });

  it('stateful: consecutive windows continue one sequence; training carries states; resetStates starts over', async () => {
    useBuild('relaxed');
    const B = 2, T = 12, W = 4, F = 3, r = rng(21);
    const xs = Float32Array.from({ length: B * T * F }, () => r() * 2 - 1);
    const window = (k: number): eg.Tensor => {
      const v = new Float32Array(B * W * F);
      for (let b = 0; b < B; b++) v.set(xs.subarray((b * T + k * W) * F, (b * T + k * W + W) * F), b * W * F);
      return eg.tensor(v, [B, W, F]);
    };
    for (const cell of ['lstm', 'gru', 'simpleRNN'] as const) {
      const whole = eg.layers[cell]({ units: 5, returnSequences: true, inputShape: [T, F], seed: 8 });
      const full = (await eg.sequential([whole]).predict(eg.tensor(xs, [B, T, F]))).dataSync();
      const part = eg.layers[cell]({ units: 5, returnSequences: true, stateful: true, batchSize: B, inputShape: [W, F], seed: 8 });
      const m = eg.sequential([part]);
      for (let k = 0; k < T / W; k++) {
        const got = (await m.predict(window(k), { batchSize: B })).dataSync();
        for (let b = 0; b < B; b++) {
          expectClose(got.slice(b * W * 5, (b + 1) * W * 5), full.slice((b * T + k * W) * 5, (b * T + k * W + W) * 5), 1e-5, `${cell} window ${k} row ${b}`);
        }
      }
      m.resetStates();
      const first = (await m.predict(window(0), { batchSize: B })).dataSync();
      expectClose(first, Array.from({ length: B }, (_, b) => Array.from(full.slice(b * T * 5, (b * T + W) * 5))).flat(), 1e-5, `${cell} after resetStates`);
    }
    // truncated BPTT: a stateful model trains window after window; another batch size is refused clearly
    const m = eg.sequential([eg.layers.lstm({ units: 6, stateful: true, batchSize: B, inputShape: [W, F], seed: 1 }), eg.layers.dense({ units: 1 })]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.02 }), loss: 'meanSquaredError' });
    const target = eg.tensor([0.5, -0.5], [B, 1]);
    const losses: number[] = [];
    for (let e = 0; e < 30; e++) {
      m.resetStates();
      for (let k = 0; k < T / W; k++) losses.push((await m.fit(window(k), target, { epochs: 1, batchSize: B, shuffle: false })).history.loss[0]);
    }
    const mean3 = (v: number[]): number => (v[0] + v[1] + v[2]) / 3;
    expect(mean3(losses.slice(-3)), losses.map((v) => v.toFixed(3)).join(' ')).toBeLessThan(mean3(losses) * 0.1);
    await expect(async () => m.predict(eg.tensor(new Float32Array(3 * W * F), [3, W, F]), { batchSize: 3 })).rejects.toThrow(/keeps states for batches of 2, got a batch of 3/);
    expect(() => eg.layers.lstm({ units: 2, stateful: true })).toThrow(/needs batchSize/);
  });

  it('per-step classification: sparse and one-hot labels per step, accuracy counted per step', async () => {
    useBuild('relaxed');
    const N = 16, T = 5, F = 3, C = 4, r = rng(4);
    const xs = Float32Array.from({ length: N * T * F }, () => r() * 2 - 1);
    const labels = Int32Array.from({ length: N * T }, (_, i) => i % C);
    const m = eg.sequential([
      eg.layers.bidirectional({ layer: eg.layers.gru({ units: 6, returnSequences: true, seed: 1 }), inputShape: [T, F] }),
      eg.layers.timeDistributed({ layer: eg.layers.dense({ units: C, activation: 'softmax', seed: 2 }) }),
    ]);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = eg.tensor(xs, [N, T, F]), y = eg.tensor(labels, [N, T], 'int32');
    await m.fit(x, y, { epochs: 2, batchSize: 8 });
    const pred = (await m.predict(x)).dataSync();
    let hits = 0;
    for (let i = 0; i < N * T; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (pred[i * C + c] > pred[i * C + best]) best = c;
      hits += best === labels[i] ? 1 : 0;
    }
    const want = hits / (N * T);
    expect((await m.evaluate(x, y)).accuracy).toBeCloseTo(want, 6);
    // the same with one-hot rows per step
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const onehotY = eg.tensor(Float32Array.from({ length: N * T * C }, (_, i) => (labels[Math.floor(i / C)] === i % C ? 1 : 0)), [N, T, C]);
    expect((await m.evaluate(x, onehotY)).accuracy).toBeCloseTo(want, 6);
    await expect(async () => m.fit(x, eg.tensor(Float32Array.from({ length: N * T * C }, () => 1), [N, T, C]))).rejects.toThrow(/example 0 \(step 0\) sums to 4/);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const bad = labels.slice(); bad[7] = 9;
    await expect(async () => m.fit(x, eg.tensor(bad, [N, T], 'int32'))).rejects.toThrow(/label 9 of example 1 \(step 2\) is outside \[0, 4\)/);
  });

  it('a masking prefix is not feature-cached (the cache would drop the mask)', async () => {
    useBuild('relaxed');
    const N = 8, T = 6, F = 2, r = rng(5);
    const xs = Float32Array.from({ length: N * T * F }, (_, i) => (Math.floor(i / F) % T >= 4 ? 0 : r()));
    const ys = Float32Array.from({ length: N }, () => r());
    const losses: number[] = [];
    for (const cacheFeatures of [true, false]) {
      const m = eg.sequential([eg.layers.masking({ inputShape: [T, F] }), eg.layers.lstm({ units: 3, seed: 1 }), eg.layers.dense({ units: 1, seed: 2 })]);
      m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
      const h = await m.fit(eg.tensor(xs, [N, T, F]), eg.tensor(ys, [N, 1]), { epochs: 2, batchSize: 4, shuffle: false, cacheFeatures });
      expect(h.cachedFeatures).toBeUndefined();
      losses.push(h.history.loss[1]);
    }
    expect(losses[0]).toBe(losses[1]);
  });

  it("bidirectional of a goBackwards layer runs its copy forwards (Keras's pairing)", async () => {
    useBuild('simd');
    const B = 2, T = 5, F = 3, r = rng(6), xs = Float32Array.from({ length: B * T * F }, () => r() * 2 - 1);
    const fwd = eg.layers.lstm({ units: 4, goBackwards: true, seed: 1 });
    const bi = eg.layers.bidirectional({ layer: fwd, inputShape: [T, F] });
    const y = (await eg.sequential([bi]).predict(eg.tensor(xs, [B, T, F]))).dataSync();
    const w = bi.weights.map((v) => ({ shape: v.tensor.shape.slice(), data: v.tensor.dataSync() }));
    const x = { shape: [B, T, F], data: xs };
    const a = refRecurrent('lstm', x, w[0], w[1], { b: w[2], goBackwards: true }).hT, b = refRecurrent('lstm', x, w[3], w[4], { b: w[5] }).hT;
    const row = (v: ArrayLike<number>, i: number): number[] => Array.from({ length: 4 }, (_, j) => v[i * 4 + j]);
    const want = Array.from({ length: B }, (_, i) => [...row(a.data, i), ...row(b.data, i)]).flat();
    expectClose(y, want, 1e-5, 'bidirectional goBackwards');
    expect(() => eg.layers.bidirectional({ layer: eg.layers.gru({ units: 2, goBackwards: true, returnSequences: true }) })).toThrow(/goBackwards layer with returnSequences/);
    expect(() => eg.layers.bidirectional({ layer: eg.layers.gru({ units: 2 }), mergeMode: null as never })).toThrow(/mergeMode must be/);
    expect(() => eg.sequential([eg.layers.lstm({ units: 2, returnState: true, inputShape: [3, 2] })])).toThrow(/has 3 outputs \(returnState\?\)/);
  });

  it("masks pass on after goBackwards as in Keras and TF.js (a TF.js model's weights give its outputs)", async () => {
    useBuild('simd');
    const dir = join(import.meta.dirname, 'fixtures', 'tfjs-recurrent', 'masking_rnn_backwards');
    const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')), io = JSON.parse(readFileSync(join(dir, 'io.json'), 'utf8'));
    const u = readFileSync(join(dir, 'group1-shard1of1.bin')), f = new Float32Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.length));
    let off = 0;
    const ws = j.weightsManifest[0].weights.map((w: { shape: number[] }) => { const n = w.shape.reduce((a, b) => a * b, 1); return eg.tensor(f.slice(off, off += n), w.shape); });
    const m = eg.sequential([eg.layers.masking({ maskValue: 0, inputShape: [5, 3] }), eg.layers.simpleRNN({ units: 4, goBackwards: true, returnSequences: true }),
      eg.layers.gru({ units: 3, returnSequences: true, resetAfter: false, recurrentActivation: 'hardSigmoid' })]);
    m.setWeights(ws);
    expect(maxRelDiff((await m.predict(eg.tensor(Float32Array.from(io.input.data), io.input.shape))).dataSync(), io.output.data)).toBeLessThan(1e-5);
  });

  it('recurrent dropout: nothing at inference (and in the ONNX export), one mask per sequence in training, and it trains', async () => {
    useBuild('relaxed');
    const T = 6, F = 3, r = rng(12), N = 32;
    const xs = eg.tensor(Float32Array.from({ length: N * T * F }, () => r() * 2 - 1), [N, T, F]);
    const ys = eg.tensor(Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1 : -1)), [N, 1]);
    for (const make of [(rd: number) => eg.layers.lstm({ units: 5, recurrentDropout: rd, seed: 1, inputShape: [T, F] }),
      (rd: number) => eg.layers.gru({ units: 5, recurrentDropout: rd, resetAfter: false, seed: 1, inputShape: [T, F] })]) {
      const withRd = eg.sequential([make(0.4), eg.layers.dense({ units: 1, seed: 2 })]);
      const plain = eg.sequential([make(0), eg.layers.dense({ units: 1, seed: 2 })]);
      plain.setWeights(withRd.getWeights());
      const a = (await withRd.predict(xs)).dataSync(), b = (await plain.predict(xs)).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
      // Monte-Carlo dropout draws masks: the passes differ
      const mc = withRd.predict(xs, { mcSamples: 5 });
      expect(Math.max(...Array.from(mc.variance.dataSync()))).toBeGreaterThan(0);
      const ort = await import('onnxruntime-web');
      ort.env.wasm.numThreads = 1;
      const sess = await ort.InferenceSession.create(await eg.toOnnx(withRd));
      const res = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', xs.dataSync() as Float32Array, [N, T, F]) });
      expectClose(res[sess.outputNames[0]].data as Float32Array, a, 1e-5, 'exported with recurrent dropout');
      withRd.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.03 }), loss: 'meanSquaredError' });
      const h = await withRd.fit(xs, ys, { epochs: 25, batchSize: 8, seed: 3 });
      expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0] * 0.7);
    }
  });

  it('summary: output shapes, state sizes and FLOPs per step', () => {
    useBuild('simd');
    const m = eg.sequential([
      eg.layers.bidirectional({ layer: eg.layers.lstm({ units: 8, returnSequences: true }), inputShape: [12, 3] }),
      eg.layers.gru({ units: 5 }),
      eg.layers.dense({ units: 2 }),
    ]);
    const s = m.summary({ print: false });
    expect(s).toMatch(/bidirectional\S* \(Bidirectional\)\s+\[null,12,16\]\s+(\d+)/);
    expect(s).toMatch(/gru\S* \(GRU\)\s+\[null,5\]\s+/);
    // per step: 2 (F + U) G U multiply-adds per example plus the cell's elementwise work
    const lstmStep = 2 * (3 + 8) * 32 + 8 * 32, gruStep = 2 * (16 + 5) * 15 + 8 * 15;
    expect(s).toContain(`two directions; state h 8 + c 8 per sequence, 12 steps, ${(2 * lstmStep / 1e3).toFixed(1)}k FLOPs per step`);
    expect(s).toContain(`state h 5 per sequence, 12 steps, ${gruStep} FLOPs per step`);
    expect(Number(/bidirectional\S* \(Bidirectional\)\s+\S+\s+(\d+)/.exec(s)![1])).toBe(2 * (3 * 32 + 8 * 32 + 32));
  });

  it('an imported model\'s summary (edgegrad info) shows each recurrent node\'s state and FLOPs per step', async () => {
    useBuild('simd');
    const m = await eg.loadModel(join(import.meta.dirname, 'fixtures', 'recurrent', 'lstm_bidirectional_2layers_batch_first.onnx'));
    const s = m.summary({ print: false });
    const lines = s.split('\n').filter((l) => /^lstm '/.test(l));
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/^lstm '.*': state h \d+ \+ c \d+, \d+ steps, \d+ FLOPs per step$/);
    expect(lines.filter((l) => l.endsWith(', reversed'))).toHaveLength(2);
  });

  it('clear errors', () => {
    useBuild('simd');
    expect(() => eg.layers.lstm({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => eg.layers.lstm({ units: 3, recurrentActivation: 'softmax' as never })).toThrow(/'softmax' is not one a recurrent cell runs/);
    expect(() => eg.layers.gru({ units: 3, recurrentDropout: 1 })).toThrow(/recurrentDropout must be in \[0, 1\), got 1/);
    expect(() => eg.sequential([eg.layers.lstm({ units: 3, inputShape: [4] })])).toThrow(/input must be \[batch, steps, features\], got \[-1,4\]/);
    expect(() => eg.layers.timeDistributed({ layer: eg.layers.conv2d({ filters: 2, kernelSize: 3 }) })).toThrow(/only dense layers/);
  });
});
