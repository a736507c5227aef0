// Built models with several inputs and outputs (Keras's functional API): predict takes the inputs as an
// array in input order or a { name: tensor } map and returns the outputs alike; fit and evaluate take several
// inputs (batches, shuffling, validation split and data); a model with several outputs trains on a loss per
// output (Keras's compile forms: lists, maps, lossWeights, null for an output that does not train). Checked against the same computation done by hand and by single-input models over the same layers.
import { beforeEach, describe, expect, it } from 'vitest';
import * as eg from '../src/index.js';
import { useBuild, rng, expectClose } from './helpers.js';

const rand = (seed: number, shape: number[]): eg.Tensor => { const r = rng(seed); return eg.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1), shape); };

describe('models with several inputs and outputs', () => {
  it('an encoder-decoder: two inputs, fit with validation split, predict by array or by name', async () => {
    useBuild('relaxed');
    const enc = eg.input({ shape: [6, 3], name: 'source' }), dec = eg.input({ shape: [4, 2], name: 'target_in' });
    const [, h, c] = eg.layers.lstm({ units: 8, returnState: true, seed: 1 }).applyAll(enc);
    const y = eg.layers.lstm({ units: 8, returnSequences: true, seed: 2 }).apply([dec, h, c]);
    const out = eg.layers.timeDistributed({ layer: eg.layers.dense({ units: 2, seed: 3 }) }).apply(y);
    const m = eg.model({ inputs: [enc, dec], outputs: out });
    expect(m.inputNames).toEqual(['source', 'target_in']);
    const N = 64, xe = rand(1, [N, 6, 3]), xd = rand(2, [N, 4, 2]);
    // target: the decoder input shifted by the mean of the source's first feature (needs the encoder's state)
    const ev = xe.dataSync(), dv = xd.dataSync();
    const target = eg.tensor(Float32Array.from({ length: N * 8 }, (_, i) => {
      const n = Math.floor(i / 8);
      let mean = 0;
      for (let t = 0; t < 6; t++) mean += ev[(n * 6 + t) * 3] / 6;
      return dv[i] * 0.5 + mean;
    }), [N, 4, 2]);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.02 }), loss: 'meanSquaredError' });
    const h0 = m.evaluate([xe, xd], target).loss;
    const hist = await m.fit({ target_in: xd, source: xe }, target, { epochs: 25, batchSize: 16, validationSplit: 0.25, seed: 1 });
    expect(hist.history.val_loss.at(-1)!).toBeLessThan(h0 * 0.3);
    const a = await m.predict([xe, xd]) as eg.Tensor, b = await m.predict({ source: xe, target_in: xd }) as eg.Tensor;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    // validationData by name too, and evaluate agrees with the last epoch's validation loss on the same rows
    const h2 = await m.fit([xe, xd], target, { epochs: 1, batchSize: 16, validationData: [{ source: xe, target_in: xd }, target] });
    expect(h2.history.val_loss[0]).toBeCloseTo(m.evaluate([xe, xd], target).loss, 5);
  });

  it('two outputs: predict returns both (array or map); each head trains as a model of its own over shared layers', async () => {
    useBuild('simd');
    const inp = eg.input({ shape: [5], name: 'x' });
    const trunk = eg.layers.dense({ units: 6, activation: 'tanh', seed: 1 }).apply(inp);
    const cls = eg.layers.dense({ units: 3, activation: 'softmax', seed: 2, name: 'classes' }).apply(trunk);
    const reg = eg.layers.dense({ units: 1, seed: 3, name: 'value' }).apply(trunk);
    const both = eg.model({ inputs: inp, outputs: [cls, reg] });
    expect(both.outputNames).toEqual(['classes', 'value']);
    const x = rand(4, [7, 5]);
    const [p, q] = await both.predict([x]) as eg.Tensor[];
    const byName = await both.predict({ x }) as Record<string, eg.Tensor>;
    expect(Object.keys(byName)).toEqual(['classes', 'value']);
    const alone = eg.model({ inputs: inp, outputs: reg });
    expectClose(q.dataSync(), (await alone.predict(x)).dataSync(), 0, 'value head');
    expectClose(byName.classes.dataSync(), p.dataSync(), 0, 'by name');
    expect(() => both.predict(x)).toThrow(/has 2 outputs \(classes, value\): pass its input as \[x\]/);
    both.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await expect(async () => both.fit(x, eg.tensor(new Float32Array(7), [7, 1]))).rejects.toThrow(/trains 2 outputs \(classes, value\): pass their labels as an array/);
    alone.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await alone.fit(x, eg.tensor(new Float32Array(7), [7, 1]), { epochs: 2 });
    // the shared trunk trained: the other head's predictions moved
    const [p2] = await both.predict([x]) as eg.Tensor[];
    expect(Array.from(p2.dataSync())).not.toEqual(Array.from(p.dataSync()));
  });

  it('names survive the ONNX round trip; duplicate names, features of a functional model and mcSamples 0 are refused', async () => {
    useBuild('simd');
    const a = eg.input({ shape: [2], name: 'image' }), b = eg.input({ shape: [3], name: 'meta' });
    const score = eg.layers.dense({ units: 1, name: 'score', seed: 1 }).apply(eg.layers.concatenate().apply([a, b]));
    const m = eg.model({ inputs: [a, b], outputs: score });
    const back = await eg.loadModel(await eg.toOnnx(m));
    expect([back.inputNames, back.outputNames]).toEqual([['image', 'meta'], ['score']]);
    const xa = rand(1, [4, 2]), xb = rand(2, [4, 3]);
    expectClose((back.predict({ image: xa, meta: xb }) as eg.Tensor).dataSync(), (await m.predict({ image: xa, meta: xb }) as eg.Tensor).dataSync(), 1e-6, 'by name after the round trip');
    expect(() => eg.model({ inputs: [eg.input({ shape: [2], name: 'x' }), eg.input({ shape: [2], name: 'x' })], outputs: score })).toThrow(/two inputs are named 'x'/);
    expect(() => eg.model({ inputs: [a, b], outputs: [score, score] })).toThrow(/output 'score(:0)?' is listed twice/);
    await expect(async () => m.features([xa, xb] as never)).rejects.toThrow(/is functional; features are cached for sequential models/);
    const s = eg.sequential([eg.layers.dense({ units: 2, inputShape: [2] })]);
    expect(() => s.predict(xa, { mcSamples: 0 })).toThrow(/mcSamples must be a positive integer, got 0/);
  });

  it('says what is wrong with the inputs', async () => {
    useBuild('simd');
    const a = eg.input({ shape: [2], name: 'a' }), b = eg.input({ shape: [3], name: 'b' });
    const m = eg.model({ inputs: [a, b], outputs: eg.layers.dense({ units: 1 }).apply(eg.layers.concatenate().apply([a, b])) });
    const xa = rand(1, [4, 2]), xb = rand(2, [4, 3]);
    expect(() => m.predict(xa)).toThrow(/takes 2 inputs \(a, b\): pass them as an array/);
    expect(() => m.predict([xa])).toThrow(/takes 2 inputs \(a, b\), got 1/);
    expect(() => m.predict({ a: xa, c: xb } as never)).toThrow(/has inputs a, b; missing b; no input named c/);
    expect(() => m.predict([xb, xa])).toThrow(/expects input 'a' \[batch, 2\], got \[4,3\]/);
    expect(() => m.predict([xa, rand(3, [5, 3])])).toThrow(/different numbers of examples \(a 4, b 5\)/);
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const h = await m.fit([xa, xb], eg.tensor(new Float32Array(4), [4, 1]), { epochs: 1, batchSize: 2 });
    expect(h.history.loss[0]).toBeGreaterThanOrEqual(0);
  });
});

describe('training a model with several outputs: a loss per output', () => {
  // a trunk with a softmax head and a linear head, and 8 examples with labels for both
  const build = () => {
    const inp = eg.input({ shape: [4], name: 'x' });
    const trunk = eg.layers.dense({ units: 5, activation: 'tanh', seed: 1, name: 'trunk' }).apply(inp);
    const cls = eg.layers.dense({ units: 3, activation: 'softmax', seed: 2, name: 'classes' }).apply(trunk);
    const reg = eg.layers.dense({ units: 2, seed: 3, name: 'value' }).apply(trunk);
    return eg.model({ inputs: inp, outputs: [cls, reg] });
  };
  const N = 8;
  let x: eg.Tensor, value: eg.Tensor, labels: eg.Tensor;
  beforeEach(() => {
    useBuild('simd');
    x = rand(21, [N, 4]); value = rand(22, [N, 2]);
    labels = eg.tensor(Int32Array.from({ length: N }, (_, i) => (i * 7) % 3), [N], 'int32');
  });
  // the total a step descends, computed by hand from predict's outputs: w_c * CE(classes) + w_v * MSE(value)
  const reference = (m: eg.Model, wc: number, wv: number) => {
    const [p, q] = m.predict([x]) as eg.Tensor[];
    const pv = p.dataSync(), qv = q.dataSync(), lv = labels.dataSync(), tv = value.dataSync();
    let ce = 0, mse = 0;
    for (let i = 0; i < N; i++) ce -= Math.log(pv[i * 3 + lv[i]]);
    for (let i = 0; i < N * 2; i++) mse += (qv[i] - tv[i]) ** 2;
    ce /= N; mse /= N * 2;
    return { ce, mse, total: wc * ce + wv * mse };
  };

  it('evaluate gives the weighted total and each output\'s loss and metrics; one step follows the total\'s gradient (finite differences)', async () => {
    const m = build();
    const lr = 0.1;
    m.compile({ optimizer: eg.optimizers.sgd({ learningRate: lr }), loss: { classes: 'sparseCategoricalCrossentropy', value: 'mse' }, lossWeights: { value: 0.5 }, metrics: { classes: ['accuracy'] } });
    const ref = reference(m, 1, 0.5);
    const logs = m.evaluate(x, { classes: labels, value });
    expect(Object.keys(logs).sort()).toEqual(['classes_accuracy', 'classes_loss', 'loss', 'value_loss']);
    expect(logs.classes_loss).toBeCloseTo(ref.ce, 5);
    expect(logs.value_loss).toBeCloseTo(ref.mse, 5);
    expect(logs.loss).toBeCloseTo(ref.total, 5);
    const [p] = m.predict([x]) as eg.Tensor[];
    const hits = Array.from(labels.dataSync()).filter((l, i) => { const r = p.dataSync().slice(i * 3, i * 3 + 3); return r.indexOf(Math.max(...r)) === l; }).length;
    expect(logs.classes_accuracy).toBeCloseTo(hits / N, 6);
    // the same labels as an array in output order
    expect(m.evaluate(x, [labels, value]).loss).toBeCloseTo(logs.loss, 6);
    // finite differences of the hand-computed total, weight by weight (float64 sums over float32 outputs)
    const before = m.getWeights().map((w) => Float32Array.from(w.dataSync()));
    const withWeight = (k: number, i: number, v: number) => m.setWeights(before.map((w, j) => { const c = Float32Array.from(w); if (j === k) c[i] = v; return eg.tensor(c, m.getWeights()[j].shape); }));
    const fd = before.map((w0, k) => Float64Array.from(w0, (_, i) => {
      const at = (d: number) => { withWeight(k, i, w0[i] + d); return reference(m, 1, 0.5).total; };
      return (at(1e-2) - at(-1e-2)) / 2e-2;
    }));
    withWeight(0, 0, before[0][0]);
    await m.fit(x, [labels, value], { epochs: 1, batchSize: N, shuffle: false });
    const step = m.getWeights().map((w, k) => Float64Array.from(w.dataSync(), (v, i) => (before[k][i] - v) / lr));
    step.forEach((g, k) => expectClose(g, fd[k], 2e-3, `gradient of weight ${k}`));
    // every weight of both heads and the trunk moved
    step.forEach((g) => expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-4));
  });

  it('an output with a null loss takes no labels and does not train; history has Keras\'s per-output names', async () => {
    const m = build();
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.05 }), loss: [null, 'mse'], metrics: [[], ['mae']] });
    const clsLayer = m.layers.find((l) => l.name === 'classes')!, clsBefore = clsLayer.getWeights().map((w) => Array.from(w.dataSync()));
    const before = m.evaluate(x, { value }).loss;
    expect(before).toBeCloseTo(reference(m, 0, 1).total, 5);
    const h = await m.fit(x, { value }, { epochs: 20, batchSize: 4, validationSplit: 0.25 });
    expect(Object.keys(h.history).sort()).toEqual(['loss', 'val_loss', 'val_value_loss', 'val_value_mae', 'value_loss', 'value_mae']);
    expect(h.history.value_loss).toEqual(h.history.loss);
    expect(m.evaluate(x, [value]).loss).toBeLessThan(before * 0.7);
    // the head without a loss is where it was; the same labels as an array with a null entry
    expect(clsLayer.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(clsBefore);
    await m.fit(x, [null, value], { epochs: 1 });
    await expect(m.fit(x, [labels, value])).rejects.toThrow(/labels were given for output 'classes', which has no loss/);
    await expect(m.fit(x, { classes: labels, value })).rejects.toThrow(/labels were given for output 'classes', which has no loss/);
  });

  it('says what is wrong with the losses and the labels', async () => {
    const m = build();
    expect(() => m.compile({ optimizer: 'sgd', loss: { clases: 'mse' } })).toThrow(/loss names 'clases', not an output of model .* \(outputs: classes, value\)/);
    expect(() => m.compile({ optimizer: 'sgd', loss: ['mse'] })).toThrow(/loss has 1 entries; model .* has 2 outputs \(classes, value\)/);
    expect(() => m.compile({ optimizer: 'sgd', loss: [null, null] })).toThrow(/no output of model .* has a loss/);
    expect(() => m.compile({ optimizer: 'sgd', loss: 'mse', lossWeights: { value: -1 } })).toThrow(/lossWeights \(output 'value'\) must be a finite number >= 0, got -1/);
    expect(() => m.compile({ optimizer: 'sgd', loss: ['mse', 'hinged' as never] })).toThrow(/unknown loss 'hinged' \(output 'value'\)/);
    m.compile({ optimizer: 'sgd', loss: ['sparseCategoricalCrossentropy', 'mse'] });
    await expect(m.fit(x, [labels])).rejects.toThrow(/has 2 outputs, 2 of them with a loss \(classes, value\); got 1 label tensors/);
    await expect(m.fit(x, { classes: labels })).rejects.toThrow(/the labels of output 'value' \(loss meanSquaredError\) are missing/);
    await expect(m.fit(x, [labels, eg.tensor(new Float32Array(N * 3), [N, 3])])).rejects.toThrow(/loss 'meanSquaredError' \(output 'value'\) needs float32 labels \[8, 2\]/);
    await expect(m.fit(x, [eg.tensor(Int32Array.from({ length: N }, () => 3), [N], 'int32'), value])).rejects.toThrow(/label 3 of example 0 is outside \[0, 3\)/);
    // a model with one output takes its loss and labels in the per-output forms too
    const one = eg.model({ inputs: m.inputs, outputs: m.outputs[1] });
    one.compile({ optimizer: 'sgd', loss: { value: 'mse' }, metrics: { value: ['mae'] } });
    expect(Object.keys(one.evaluate(x, { value })).sort()).toEqual(['loss', 'mae']);
    expect(one.evaluate(x, [value]).loss).toBeCloseTo(one.evaluate(x, value).loss, 6);
  });
});

describe('an imported model with two inputs and two outputs (PyTorch export)', () => {
  it('predicts both outputs as ONNX Runtime does, fine-tunes one head, and exports what ONNX Runtime runs the same', async () => {
    useBuild('relaxed');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const bytes = readFileSync(join(import.meta.dirname, 'fixtures', 'two_io.onnx'));
    const gm = await eg.loadModel(bytes);
    expect([gm.inputNames, gm.outputNames]).toEqual([['image', 'features'], ['logits', 'value']]);
    const N = 32, img = rand(11, [N, 1, 6, 6]), feat = rand(12, [N, 5]);
    const runOrt = async (model: Uint8Array) => {
      const s = await ort.InferenceSession.create(model);
      const r = await s.run({ image: new ort.Tensor('float32', img.dataSync() as Float32Array, [N, 1, 6, 6]), features: new ort.Tensor('float32', feat.dataSync() as Float32Array, [N, 5]) });
      return [r.logits.data as Float32Array, r.value.data as Float32Array];
    };
    const [l0, v0] = gm.predict([img, feat]) as eg.Tensor[];
    const [ol, ov] = await runOrt(bytes);
    expectClose(l0.dataSync(), ol, 1e-5, 'logits vs ORT');
    expectClose(v0.dataSync(), ov, 1e-5, 'value vs ORT');
    // fine-tune the value head on new targets, the shared trunk frozen: as a layer the graph takes NHWC images
    gm.freeze({ upTo: '/Concat' });
    const imageIn = eg.input({ shape: [6, 6, 1], name: 'image' }), featuresIn = eg.input({ shape: [5], name: 'features' });
    const [, value] = gm.applyAll([imageIn, featuresIn]);
    const tuned = eg.model({ inputs: [imageIn, featuresIn], outputs: value });
    // wrapped whole, the graph's outputs keep the file's names (not 'graph:0')
    const i2 = eg.input({ shape: [6, 6, 1], name: 'image' }), f2 = eg.input({ shape: [5], name: 'features' });
    expect(eg.model({ inputs: [i2, f2], outputs: gm.applyAll([i2, f2]) }).outputNames).toEqual(['logits', 'value']);
    const nhwc = eg.tensor(Float32Array.from({ length: N * 36 }, (_, i) => img.dataSync()[Math.floor(i / 36) * 36 + (i % 36)]), [N, 6, 6, 1]);
    const target = eg.tensor(Float32Array.from({ length: N }, (_, i) => Math.sin(i)), [N, 1]);
    tuned.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.05 }), loss: 'meanSquaredError' });
    const before = tuned.evaluate({ image: nhwc, features: feat }, target).loss;
    await tuned.fit({ image: nhwc, features: feat }, target, { epochs: 30, batchSize: 8 });
    expect(tuned.evaluate([nhwc, feat], target).loss).toBeLessThan(before * 0.8);
    // the imported model shares the tuned weights: its value head moved, its class head did not
    const [l1, v1] = gm.predict([img, feat]) as eg.Tensor[];
    expect(Array.from(l1.dataSync())).toEqual(Array.from(l0.dataSync()));
    expect(Math.max(...Array.from(v1.dataSync(), (v, i) => Math.abs(v - v0.dataSync()[i])))).toBeGreaterThan(1e-3);
    // exported back to ONNX: ONNX Runtime gives both outputs as edgegrad does
    const [el, ev] = await runOrt(await eg.toOnnx(gm));
    expectClose(el, l1.dataSync(), 1e-5, 'exported logits');
    expectClose(ev, v1.dataSync(), 1e-5, 'exported value');
  });
});
