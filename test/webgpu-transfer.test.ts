// Transfer learning and int8 models on the webgpu backend (Dawn on SwiftShader), against the same work on
// wasm: npm start's transfer-learning run (cut, freeze, a new head, features cached on the device, then
// fine-tuning), evaluateAsync, features, the confusion matrix, saving what trained on the GPU, and an int8
// QDQ model, which runs its float path there (the backend has no int8 kernels) and says so.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as eg from '../src/index.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { expectClose, useBuild } from './helpers.js';
import { main } from '../src/cli/index.js';
// @ts-expect-error: a plain ES module shared with npm start (no types)
import { digitsTransfer } from '../models/digits-transfer.mjs';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-transfer: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

describe.skipIf(!driver)('transfer learning and int8 models on webgpu (Dawn on SwiftShader)', () => {
  let wasm: Backend, gpu: WebGpuBackend;
  const dir = mkdtempSync(join(tmpdir(), 'eg-gpu-transfer-'));
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' }) as WebGpuBackend;
  });

  it("npm start's transfer-learning run (cut, freeze, new head with cached features, fine-tuning) reaches the same accuracies on webgpu as on wasm", async () => {
    const run = async (be: Backend) => {
      setBackend(be);
      return digitsTransfer(eg, { perClass: 10, epochs: 1, headEpochs: 4, fineTuneEpochs: 1, testCount: 100 });
    };
    const a = await run(wasm), b = await run(gpu);
    // the head trained on features cached on the device, not through the backbone every step
    expect(b.cachedFeatures).toEqual(a.cachedFeatures);
    expect(b.cachedFeatures.layers).toBe(1);
    for (const k of ['scratch', 'frozen', 'fineTuned']) {
      // accuracies count examples: equal unless one sits on a tie within float noise
      expect(Math.abs(b.accuracy[k] - a.accuracy[k]), k).toBeLessThanOrEqual(1 / 100 + 1e-9);
    }
    expect(a.accuracy.frozen).toBeGreaterThan(0.6); // a real run, not a degenerate one
    const wa = await Promise.all(a.model.getWeights().map((w: eg.Tensor) => w.data()));
    const wb = await Promise.all(b.model.getWeights().map((w: eg.Tensor) => w.data()));
    wa.forEach((w: Float32Array, i: number) => expectClose(wb[i] as Float32Array, w as Float32Array, 1e-3, `weight ${i}`));
  });

  it('evaluateAsync, features, fit on features and the confusion matrix on webgpu give what wasm gives; evaluate names evaluateAsync there', async () => {
    const d = await (setBackend(wasm), eg.data.loadDigits());
    const xs = eg.data.slice(d.images, 0, 40).dataSync().slice();
    const ys = Int32Array.from(d.labels.subarray(0, 40), (l) => l % 5);
    const run = async (be: Backend) => {
      setBackend(be);
      const base = await eg.loadModel('models/digits-cnn.onnx');
      const m = eg.sequential({ layers: [base.cut('flatten').freeze(), eg.layers.dense({ units: 5, activation: 'softmax', seed: 3 })] });
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const x = eg.tensor(xs, [40, 28, 28, 1]), y = eg.tensor(ys, [40], 'int32');
      const f = await m.features(x);
      const h = await m.fit(f, y, { epochs: 2, batchSize: 8, seed: 1 });
      return {
        features: await f.tensor.data(), loss: h.history.loss,
        logs: await m.evaluateAsync(x, y), onFeatures: await m.evaluateAsync(f, y),
        matrix: await eg.confusionMatrix(m, x, y), weights: await Promise.all(m.getWeights().map((w) => w.data())), m, x, y,
      };
    };
    const a = await run(wasm), b = await run(gpu);
    expectClose(b.features as Float32Array, a.features as Float32Array, 1e-4, 'features');
    expectClose(b.loss, a.loss, 1e-4, 'losses');
    expect(b.logs.loss).toBeCloseTo(a.logs.loss, 4);
    expect(b.logs.accuracy).toBe(a.logs.accuracy);
    expect(b.onFeatures.loss).toBeCloseTo(a.logs.loss, 4);
    expect(b.matrix).toEqual(a.matrix);
    expect(b.matrix.flat().reduce((s, v) => s + v, 0)).toBe(40);
    a.weights.forEach((w, i) => expectClose(b.weights[i] as Float32Array, w as Float32Array, 1e-4, `weight ${i}`));
    setBackend(gpu);
    expect(() => b.m.evaluate(b.x, b.y)).toThrow("use await model.evaluateAsync(x, y)");
  });

  it('a model trained on webgpu saves from there (weights read back once) and loads on wasm with the same outputs', async () => {
    setBackend(gpu);
    const m = eg.sequential({ layers: [
      eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 2], seed: 1 }),
      eg.layers.batchNormalization(),
      eg.layers.flatten(),
      eg.layers.dense({ units: 3, activation: 'softmax', seed: 2 }),
    ] });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const x = eg.randomUniform([12, 8, 8, 2], 0, 1, 3), y = eg.tensor(Int32Array.from({ length: 12 }, (_, i) => i % 3), [12], 'int32');
    await m.fit(x, y, { epochs: 2, batchSize: 4 });
    const path = join(dir, 'trained-on-gpu.onnx');
    await m.save(path);
    const want = await m.predict(x).data(), xh = await x.data();
    setBackend(wasm);
    const back = await eg.loadModel(readFileSync(path));
    expectClose(back.predict(eg.tensor(xh, [12, 8, 8, 2])).dataSync() as Float32Array, want as Float32Array, 1e-5, 'reloaded on wasm');
  });

  it('an int8 QDQ model runs on webgpu (its float path: the int8 result within float rounding), says so in summary(), and saves from there bit for bit', async () => {
    setBackend(wasm);
    const d = await eg.data.loadDigits();
    const x = eg.data.slice(d.images, 0, 33);
    const q = await eg.quantize(await eg.loadModel('models/digits-cnn.onnx'), { calibration: x, minInputChannels: 1 });
    const file = join(dir, 'digits-int8.onnx');
    await q.save(file);
    const want = q.predict(x).dataSync() as Float32Array;
    const xh = x.dataSync().slice();
    setBackend(gpu);
    const onGpu = await eg.loadModel(file);
    expect(onGpu.summary({ print: false })).toContain("its 4 int8 nodes take their float path there (the 'webgpu' backend has no int8 kernels)");
    const xg = eg.tensor(xh, [33, 28, 28, 1]);
    const got = await onGpu.predict(xg).data() as Float32Array;
    expectClose(got, want, 1e-4, 'int8 digits-cnn on webgpu (softmax outputs)');
    // the int8 weights themselves are untouched by running on the GPU: the saved file is the same model
    const again = join(dir, 'digits-int8-from-gpu.onnx');
    await onGpu.save(again);
    setBackend(wasm);
    const back = await eg.loadModel(again);
    expect(Array.from(back.predict(x).dataSync())).toEqual(Array.from(want));
  });
  it('the CLI takes --backend: info says where the nodes run, bench times on the GPU; a missing name is a usage error', async () => {
    const lines: string[] = [];
    expect(await main(['info', 'models/digits-cnn.onnx', '--backend', 'webgpu'], (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toContain("Runs on: the 'webgpu' backend (webgpu), every node");
    lines.length = 0;
    expect(await main(['bench', 'models/digits-cnn.onnx', '--backend', 'webgpu', '--runs', '1', '--json'], (l) => lines.push(l))).toBe(0);
    const r = JSON.parse(lines[0]);
    expect(r.backend).toBe('webgpu');
    expect(r.rows[0].ms).toBeGreaterThan(0);
    expect(await main(['info', 'models/digits-cnn.onnx', '--backend'], () => {})).toBe(2);
    expect(await main(['info', 'models/digits-cnn.onnx', '--backend', 'cuda'], () => {})).toBe(2);
    expect(await main(['quantize', 'models/digits-cnn.onnx', '--int8', '--out', '/tmp/x.onnx', '--backend', 'webgpu'], () => {})).toBe(2);
    // predict: the input read on wasm, the model run on the GPU, the outputs as on wasm
    const dir = mkdtempSync(join(tmpdir(), 'eg-cli-gpu-'));
    const img = Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => [((r * 28 + c) % 17) / 17]));
    writeFileSync(join(dir, 'x.json'), JSON.stringify(img));
    const got: string[] = [], want: string[] = [];
    expect(await main(['predict', 'models/digits-cnn.onnx', join(dir, 'x.json'), '--backend=webgpu', '--json'], (l) => got.push(l))).toBe(0);
    expect(await main(['predict', 'models/digits-cnn.onnx', join(dir, 'x.json'), '--json'], (l) => want.push(l))).toBe(0);
    const [g, w] = [JSON.parse(got[0]), JSON.parse(want[0])];
    expect(g.argmax).toEqual(w.argmax);
    expectClose(Float32Array.from(g.output.flat()), Float32Array.from(w.output.flat()), 1e-5, 'predict --backend webgpu');
    setBackend(wasm);
  });
  it('fit sums its metrics on the device and reads them with the loss once per epoch: accuracy (sparse, one-hot, binary), mse and mae as on wasm', async () => {
    const xh = Float32Array.from({ length: 48 * 5 }, (_, i) => Math.sin(i * 1.3));
    const cases = [
      { loss: 'sparseCategoricalCrossentropy', units: 3, act: 'softmax', y: () => eg.tensor(Int32Array.from({ length: 48 }, (_, i) => (i * 7) % 3), [48], 'int32'), metrics: ['accuracy', 'sparseCategoricalAccuracy'] },
      { loss: 'categoricalCrossentropy', units: 3, act: 'softmax', y: () => eg.tensor(Float32Array.from({ length: 144 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), [48, 3]), metrics: ['accuracy', 'mse'] },
      { loss: 'binaryCrossentropy', units: 2, act: 'sigmoid', y: () => eg.tensor(Float32Array.from({ length: 96 }, (_, i) => (i % 5 < 2 ? 1 : 0)), [48, 2]), metrics: ['accuracy', 'mae', 'binaryAccuracy'] },
    ] as const;
    for (const c of cases) {
      const run = async (be: Backend) => {
        setBackend(be);
        const m = eg.sequential({ layers: [eg.layers.dense({ units: 8, activation: 'tanh', inputShape: [5], seed: 1 }), eg.layers.dense({ units: c.units, activation: c.act, seed: 2 })] });
        m.compile({ optimizer: 'adam', loss: c.loss, metrics: [...c.metrics] });
        let reads = 0;
        const read = be.read.bind(be);
        be.read = (p: number, n: number) => { reads++; return read(p, n); };
        try {
          const h = await m.fit(eg.tensor(xh, [48, 5]), c.y(), { epochs: 3, batchSize: 6 });
          return { h: h.history, reads };
        } finally {
          be.read = read;
        }
      };
      const a = await run(wasm), b = await run(gpu);
      for (const k of c.metrics) expectClose(b.h[k], a.h[k], 1e-5, `${c.loss} ${k}`);
      // 8 batches an epoch: the loss and metrics are read once per epoch (plus the weights' host copies), not per batch
      expect(b.reads, c.loss).toBeLessThanOrEqual(3 * (1 + 4 + 2));
    }
  });

  it('fit, evaluateAsync and validation data on webgpu refuse NaN or infinite inputs before any step, as wasm does', async () => {
    setBackend(gpu);
    const m = eg.sequential({ layers: [eg.layers.dense({ units: 2, activation: 'softmax', inputShape: [3], seed: 1 })] });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const xh = Float32Array.from({ length: 24 }, (_, i) => i / 10);
    const bad = xh.slice(); bad[13] = NaN;
    const y = () => eg.tensor(Int32Array.from({ length: 8 }, (_, i) => i % 2), [8], 'int32');
    const before = await m.getWeights()[0].data();
    await expect(m.fit(eg.tensor(bad, [8, 3]), y(), { epochs: 1 })).rejects.toThrow('edgegrad.fit: x contains 1 NaN or infinite values (the first, NaN, in example 4)');
    expect(Array.from(await m.getWeights()[0].data())).toEqual(Array.from(before));
    await expect(m.fit(eg.tensor(xh, [8, 3]), y(), { epochs: 1, validationData: [eg.tensor(bad, [8, 3]), y()] })).rejects.toThrow('edgegrad.fit (validationData): x contains 1 NaN or infinite values');
    await expect(m.evaluateAsync(eg.tensor(bad, [8, 3]), y())).rejects.toThrow('edgegrad.evaluate: x contains 1 NaN or infinite values (the first, NaN, in example 4)');
    const badLabels = eg.tensor(Int32Array.from([0, 1, 0, 5, 0, 1, 0, 1]), [8], 'int32');
    await expect(m.fit(eg.tensor(xh, [8, 3]), y(), { epochs: 1, validationData: [eg.tensor(xh, [8, 3]), badLabels] })).rejects.toThrow('label 5 of example 3 is outside [0, 2)');
  });

  it('out of GPU memory: a clear error naming the sizes, and what was there before still runs and reads', async () => {
    setBackend(gpu);
    const m = eg.sequential({ layers: [eg.layers.dense({ units: 3, inputShape: [4], seed: 1 })] });
    const x = eg.tensor(Float32Array.from({ length: 8 }, (_, i) => i), [2, 4]);
    const before = await m.predict(x).data();
    const max = gpu.adapter.limits.maxStorageBufferBindingSize;
    expect(() => eg.zeros([Math.ceil(max / 4) + 1024])).toThrow(/out of GPU memory: the heap cannot grow to \d+ bytes \(the device allows \d+ in one buffer\)/);
    expect(Array.from(await m.predict(x).data())).toEqual(Array.from(before));
    expect((await m.getWeights()[0].data()).length).toBe(12);
  });

  // last: it loses this file's device
  it('a lost device: a clear error naming what to do, the weights readable as of the last epoch, and ready() starts a new device', async () => {
    setBackend(gpu);
    const m = eg.sequential({ layers: [
      eg.layers.dense({ units: 6, activation: 'relu', inputShape: [4], seed: 1 }),
      eg.layers.dense({ units: 2, activation: 'softmax', seed: 2 }),
    ] });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const xh = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), x = eg.tensor(xh, [10, 4]);
    const y = eg.tensor(Int32Array.from({ length: 10 }, (_, i) => i % 2), [10], 'int32');
    await m.fit(x, y, { epochs: 3, batchSize: 5 });
    const trained = await Promise.all(m.getWeights().map((w) => w.data()));
    const want = await m.predict(x).data();
    gpu.device.destroy();
    await gpu.device.lost;
    await expect(m.predict(x).data()).rejects.toThrow(/the WebGPU device was lost \(.*\); call 'await eg.ready\(\{ backend: "webgpu" \}\)' to start again/);
    // the weights are still readable (their host copies as of the last epoch), wherever they go next
    const live = m.weights.map((w) => w.tensor);
    const kept = await Promise.all(live.map((t) => t.data()));
    kept.forEach((k, i) => expect(Array.from(k)).toEqual(Array.from(trained[i])));
    // getWeights' copies too
    const copies = await Promise.all(m.getWeights().map((w) => w.data()));
    copies.forEach((k, i) => expect(Array.from(k)).toEqual(Array.from(trained[i])));
    const fresh = await eg.ready({ backend: 'webgpu' });
    expect(fresh).not.toBe(gpu);
    // the old model's plans cannot run on the new device, and the message says what to do
    expect(() => m.predict(eg.tensor(xh, [10, 4]))).toThrow(/lived on a WebGPU device that was lost: read the weights \(await w.data\(\)\), then build or load the model again after eg.ready\(\) and setWeights with them/);
    const m2 = eg.sequential({ layers: [
      eg.layers.dense({ units: 6, activation: 'relu', inputShape: [4] }),
      eg.layers.dense({ units: 2, activation: 'softmax' }),
    ] });
    m2.setWeights(kept.map((k, i) => eg.tensor(k, live[i].shape)));
    expectClose(await m2.predict(eg.tensor(xh, [10, 4])).data() as Float32Array, want as Float32Array, 1e-6, 'the model again on a new device');
    setBackend(wasm);
  });
});
