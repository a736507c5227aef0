// What once stopped at the webgpu backend (Dawn on SwiftShader), against the same work on wasm: quantizing a
// model trained on the GPU (its weights read back, the int8 model built on wasm), standardization statistics
// of GPU data, and predict's refusal of NaN or infinite inputs (counted on the device, refused when an output
// is read, with the message wasm's predict throws), Monte-Carlo dropout, one-hot labels, and summary() of a
// model living on the backend not active.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as eg from '../src/index.js';
import { getBackend, setBackend, type Backend } from '../src/backend/index.js';
import { expectClose, useBuild } from './helpers.js';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-gaps: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

/** Seeded uniform values in [lo, hi) (mulberry32). */
function random(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  });
}

/** The error a call throws (or a promise rejects with), as its message. */
async function messageOf(f: () => unknown): Promise<string> {
  try { await f(); } catch (e) { return (e as Error).message; }
  throw new Error('expected an error');
}

describe.skipIf(!driver)('what the webgpu backend now does as wasm does', () => {
  let wasm: Backend, gpu: Backend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' });
  });

  it('quantize takes a model trained on webgpu (and calibration data there): the int8 model, on wasm, is the one its weights give on wasm', async () => {
    const shape = [24, 6, 6, 4], xh = random(24 * 144, 1), yh = Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 3);
    const make = () => eg.sequential({
      layers: [
        eg.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 4], seed: 1, name: 'conv' }),
        eg.layers.flatten(),
        eg.layers.dense({ units: 3, activation: 'softmax', seed: 2, name: 'head' }),
      ],
    });
    setBackend(gpu);
    const m = make();
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
    const x = eg.tensor(xh, shape);
    await m.fit(x, eg.tensor(yh, [24], 'int32'), { epochs: 2, batchSize: 8, seed: 1 });
    const trained = await Promise.all(m.getWeights().map(async (w) => ({ data: await w.data(), shape: w.shape })));
    const before = await (m.predict(x) as eg.Tensor).data();
    const q = await eg.quantize(m, { calibration: x });
    expect(getBackend()).toBe(gpu); // the active backend as it was
    expect(q.quantization!.nodes.map((n) => n.as)).toEqual(['int8', 'int8']);

    // the same weights and calibration data quantized on wasm
    setBackend(wasm);
    const w = make();
    w.setWeights(trained.map((t) => eg.tensor(t.data, t.shape)));
    const xw = eg.tensor(xh, shape);
    const qw = await eg.quantize(w, { calibration: xw });
    expect(q.quantization).toEqual(qw.quantization);
    const want = Array.from(qw.predict(xw).dataSync());
    expect(Array.from(q.predict(xw).dataSync())).toEqual(want);
    expect(q.summary({ print: false })).toContain("Runs on: the 'wasm' backend");
    // the GPU model quantized with wasm active (calibration data on wasm): the same model
    const q2 = await eg.quantize(m, { calibration: xw });
    expect(Array.from(q2.predict(xw).dataSync())).toEqual(want);
    // and it is int8: not the float model's outputs, but near them
    const floatOut = w.predict(xw) as eg.Tensor;
    expectClose(Float32Array.from(want), floatOut.dataSync() as Float32Array, 0.05, 'int8 against float');

    // the source model is untouched: on the GPU, predicting as before; the int8 one says where it lives
    setBackend(gpu);
    expect(m.getWeights().every((t) => t.location === 'webgpu')).toBe(true);
    expect(Array.from(await (m.predict(x) as eg.Tensor).data())).toEqual(Array.from(before));
    expect(() => q.predict(x)).toThrow("lives on backend 'wasm' (simd build) but the active one is 'webgpu'");
    // summary() describes a model where its weights live, whichever backend is active (it threw there before)
    expect(q.summary({ print: false })).toContain("Runs on: the 'wasm' backend");
    expect(getBackend()).toBe(gpu);
    setBackend(wasm);
    expect(m.summary({ print: false })).toContain("Runs on: the 'webgpu' backend");
    expect(getBackend()).toBe(wasm);
  });

  it("predict's Monte-Carlo dropout (mcSamples) on webgpu: the draws stay on the device, mean and variance as wasm's (same seeded masks)", async () => {
    const make = () => eg.sequential([
      eg.layers.dense({ units: 32, activation: 'relu', inputShape: [4], seed: 1 }),
      eg.layers.dropout({ rate: 0.5 }),
      eg.layers.dense({ units: 3, seed: 2 }),
    ]);
    const xh = random(7 * 4, 5);
    // the masks come from the active backend's stream: seeded alike on both
    setBackend(wasm);
    eg.setSeed(7);
    const want = make().predict(eg.tensor(xh, [7, 4]), { mcSamples: 25 }) as { mean: eg.Tensor; variance: eg.Tensor };
    setBackend(gpu);
    eg.setSeed(7);
    const got = make().predict(eg.tensor(xh, [7, 4]), { mcSamples: 25 }) as { mean: eg.Tensor; variance: eg.Tensor };
    expect([got.mean.location, got.variance.location]).toEqual(['webgpu', 'webgpu']);
    expect(got.mean.shape).toEqual([7, 3]);
    const v = await got.variance.data();
    // dropout varies the outputs: the variance is not 0 (a test that the draws differ), never negative
    expect(Math.max(...v)).toBeGreaterThan(1e-3);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expectClose(await got.mean.data() as Float32Array, want.mean.dataSync() as Float32Array, 1e-5, 'mean');
    expectClose(v as Float32Array, want.variance.dataSync() as Float32Array, 1e-5, 'variance');
    // a dropout layer with a seed of its own draws the same masks on both backends, whatever their streams
    const seeded = () => eg.sequential([
      eg.layers.dense({ units: 32, activation: 'relu', inputShape: [4], seed: 1 }),
      eg.layers.dropout({ rate: 0.5, seed: 11 }),
      eg.layers.dense({ units: 3, seed: 2 }),
    ]);
    setBackend(wasm);
    eg.setSeed(1);
    const sw = seeded().predict(eg.tensor(xh, [7, 4]), { mcSamples: 9 }) as { mean: eg.Tensor };
    setBackend(gpu);
    eg.setSeed(2);
    const sg = seeded().predict(eg.tensor(xh, [7, 4]), { mcSamples: 9 }) as { mean: eg.Tensor };
    expectClose(await sg.mean.data() as Float32Array, sw.mean.dataSync() as Float32Array, 1e-5, 'seeded dropout');
    setBackend(wasm);
  });

  it('oneHot of int32 labels on webgpu is made there, as on wasm; a label out of range is named at the next read', async () => {
    const labels = Int32Array.from({ length: 37 }, (_, i) => (i * 5) % 7);
    setBackend(wasm);
    const want = eg.data.oneHot(eg.tensor(labels, [37], 'int32'), 7).dataSync();
    setBackend(gpu);
    const got = eg.data.oneHot(eg.tensor(labels, [37], 'int32'), 7);
    expect(got.location).toBe('webgpu');
    expect(got.shape).toEqual([37, 7]);
    expect(Array.from(await got.data())).toEqual(Array.from(want));
    // wasm refuses at once; the GPU flags it on the device and the next read names it
    setBackend(wasm);
    expect(() => eg.data.oneHot(eg.tensor([2, 7, 1], [3], 'int32'), 7)).toThrow('edgegrad.data.oneHot: label 7 at 1 is outside [0, 7)');
    setBackend(gpu);
    const bad = eg.data.oneHot(eg.tensor([2, -1, 1], [3], 'int32'), 7);
    await expect(bad.data()).rejects.toThrow("edgegrad.data.oneHot: node 'labels': label -1 (at 1) is outside [0, 7)");
    setBackend(wasm);
  });

  it('fitStandardizerAsync gives the statistics of a plain reference on either backend, and transform runs where its tensor lives', async () => {
    const n = 50, per = 6, xh = random(n * per, 7, -3, 5);
    for (let i = 0; i < xh.length; i++) xh[i] = xh[i] * (1 + (i % per)) + 10 * (i % per); // features of other scales
    // the reference: float64 mean and population standard deviation per feature, plus epsilon
    const mean = new Float64Array(per), std = new Float64Array(per);
    for (let i = 0; i < xh.length; i++) mean[i % per] += xh[i] / n;
    for (let i = 0; i < xh.length; i++) std[i % per] += (xh[i] - mean[i % per]) ** 2 / n;
    for (let j = 0; j < per; j++) std[j] = Math.sqrt(std[j]) + 1e-7;
    const testH = random(5 * per, 8, 0, 40), ref = (v: Float32Array) => Float32Array.from(v, (a, i) => (a - mean[i % per]) / std[i % per]);

    setBackend(wasm);
    const sw = eg.data.fitStandardizer(eg.tensor(xh, [n, 3, 2]));
    const sa = await eg.data.fitStandardizerAsync(eg.tensor(xh, [n, 3, 2]));
    expectClose(sw.mean, Float32Array.from(mean), 1e-6, 'mean on wasm');
    expectClose(sw.std, Float32Array.from(std), 1e-6, 'std on wasm');
    expect(Array.from(sa.mean)).toEqual(Array.from(sw.mean));
    expect(Array.from(sa.std)).toEqual(Array.from(sw.std));
    expectClose(sw.transform(eg.tensor(testH, [5, 3, 2])).dataSync() as Float32Array, ref(testH), 1e-5, 'transform on wasm');

    setBackend(gpu);
    const xg = eg.tensor(xh, [n, 3, 2]);
    expect(() => eg.data.fitStandardizer(xg)).toThrow("edgegrad.data.fitStandardizer: x is on 'webgpu' (read back asynchronously): use 'await eg.data.fitStandardizerAsync(x)'");
    const sg = await eg.data.fitStandardizerAsync(xg);
    expect(Array.from(sg.mean)).toEqual(Array.from(sw.mean));
    expect(Array.from(sg.std)).toEqual(Array.from(sw.std));
    const zg = sg.transform(eg.tensor(testH, [5, 6])); // the same features in another shape
    expect(zg.location).toBe('webgpu');
    expect(zg.shape).toEqual([5, 6]);
    expectClose(await zg.data() as Float32Array, ref(testH), 1e-5, 'transform on webgpu');
    // statistics fitted on wasm apply to GPU data
    expectClose(await sw.transform(eg.tensor(testH, [5, 3, 2])).data() as Float32Array, ref(testH), 1e-5, 'wasm statistics on webgpu');
    setBackend(wasm);
  });

  it('predict on webgpu counts NaN and infinite inputs on the device: reading an output rejects with the message wasm throws; nonFinite: allow lets them through', async () => {
    const xh = random(4 * 5, 3);
    const bad = xh.slice();
    bad[7] = NaN; bad[13] = Infinity; // examples 1 and 2
    const make = () => eg.sequential({ layers: [eg.layers.dense({ units: 3, inputShape: [5], seed: 4 }), eg.layers.dense({ units: 2, seed: 5 })] });

    setBackend(wasm);
    const mw = make();
    const file = await eg.toOnnx(mw);
    const gw = await eg.loadModel(file);
    const wantModel = await messageOf(() => mw.predict(eg.tensor(bad, [4, 5])));
    const wantGraph = await messageOf(() => gw.predict(eg.tensor(bad, [4, 5])));
    expect(wantModel).toBe('edgegrad.predict: x contains 2 NaN or infinite values (the first, NaN, in example 1)');
    const good = Array.from(mw.predict(eg.tensor(xh, [4, 5])).dataSync() as Float32Array);

    setBackend(gpu);
    const mg = make();
    mg.setWeights(mw.getWeights().map((t) => eg.tensor(t.dataSync(), t.shape)));
    const gg = await eg.loadModel(file), allow = await eg.loadModel(file, { nonFinite: 'allow' });
    for (const [name, model, want] of [['layers model', mg, wantModel], ['loaded model', gg, wantGraph]] as const) {
      const xb = eg.tensor(bad, [4, 5]);
      const y = (model as eg.GraphModel).predict(xb) as eg.Tensor; // synchronous, as on wasm: nothing read back here
      expect(y.location).toBe('webgpu');
      await expect(y.data(), name).rejects.toThrow(want);
      await expect(y.copyTo('wasm'), name).rejects.toThrow(want);
      // finite inputs: the outputs as on wasm
      expectClose(await ((model as eg.GraphModel).predict(eg.tensor(xh, [4, 5])) as eg.Tensor).data() as Float32Array, Float32Array.from(good), 1e-5, name);
    }
    // the count is the device's, not a read of the input at predict: an input disposed before the read is still refused
    const xd = eg.tensor(bad, [4, 5]), yd = mg.predict(xd) as eg.Tensor;
    xd.dispose();
    await expect(yd.data()).rejects.toThrow('edgegrad.predict: x [4,5] contained 2 NaN or infinite values');
    // a model loaded to take them computes with them, as IEEE arithmetic does
    const out = await (allow.predict(eg.tensor(bad, [4, 5])) as eg.Tensor).data();
    expectClose(out.subarray(0, 2), Float32Array.from(good.slice(0, 2)), 1e-5, 'example 0 allowed');
    expectClose(out.subarray(6, 8), Float32Array.from(good.slice(6, 8)), 1e-5, 'example 3 allowed');
    expect(Array.from(out.subarray(2, 6)).every((v) => !Number.isFinite(v))).toBe(true);
    setBackend(wasm);
  });
});
