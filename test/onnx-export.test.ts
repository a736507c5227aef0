// ONNX export round trips, judged by ONNX Runtime: a model built and trained here, and imported models
// exported again, give the same outputs; saves are atomic.
import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { useBuild, maxRelDiff, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

const fixture = (f: string) => join(import.meta.dirname, 'fixtures', f);

describe('ONNX export', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });

  it('a CNN built and trained in edgegrad runs the same in ONNX Runtime (NHWC boundary kept)', async () => {
    const inp = eg.input({ shape: [12, 12, 1] });
    let x = eg.layers.zeroPadding2d({ padding: 1 }).apply(inp);
    x = eg.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', seed: 1, name: 'stem' }).apply(x);
    x = eg.layers.batchNormalization().apply(x);
    const a = eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6', seed: 2 }).apply(x);
    const b = eg.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'leakyRelu', alpha: 0.1, seed: 3 }).apply(x);
    x = eg.layers.add().apply([a, b]);
    x = eg.layers.concatenate().apply([x, eg.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'elu', seed: 4 }).apply(x)]);
    x = eg.layers.maxPool2d({ poolSize: 2 }).apply(x);
    x = eg.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
    x = eg.layers.flatten().apply(x);
    const out = eg.layers.dense({ units: 4, activation: 'softmax', seed: 5, name: 'head' }).apply(x);
    const m = eg.model({ inputs: inp, outputs: out, name: 'tiny_cnn' });
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const xs = eg.randomUniform([16, 12, 12, 1], 0, 1, 1);
    await m.fit(xs, eg.data.oneHot(Array.from({ length: 16 }, (_, i) => i % 4), 4), { epochs: 3, batchSize: 8 });
    const bytes = await eg.toOnnx(m);
    const theirs = await runOrt(bytes, xs);
    expect(maxRelDiff(m.predict(xs).dataSync(), theirs)).toBeLessThan(1e-4);
  });

  it('resizing and grayscale -> RGB layers export as Resize and Concat that ONNX Runtime runs, and import back', async () => {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      const m = eg.sequential([
        eg.layers.resizing({ height: 11, width: 4, interpolation, inputShape: [5, 7, 1] }), // up 2.2x, down 0.57x
        eg.layers.grayscaleToRgb(),
        eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'tanh', seed: 1 }),
        eg.layers.resizing({ height: 27, width: 6, interpolation }), // 3x, 3x
        eg.layers.flatten(),
        eg.layers.dense({ units: 3, activation: 'softmax', seed: 2 }),
      ]);
      const x = eg.randomUniform([3, 5, 7, 1], 0, 1, 5);
      const bytes = await eg.toOnnx(m);
      const want = m.predict(x).dataSync();
      expect(maxRelDiff(want, await runOrt(bytes, x)), interpolation).toBeLessThan(1e-4);
      const back = await eg.loadModel(bytes);
      expect(maxRelDiff(want, back.predict(x).dataSync()), interpolation).toBeLessThan(1e-5);
    }
  });

  it("weights: 'float16' halves the file; ONNX Runtime and the importer read it to float16 precision", async () => {
    const m = eg.sequential([
      eg.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 3], seed: 1 }),
      eg.layers.batchNormalization(),
      eg.layers.flatten(),
      eg.layers.dense({ units: 32, activation: 'relu', seed: 2 }),
      eg.layers.dense({ units: 4, seed: 3 }),
    ]);
    const x = eg.randomUniform([2, 10, 10, 3], 0, 1, 6);
    const full = await eg.toOnnx(m), half = await eg.toOnnx(m, { weights: 'float16' });
    expect(half.length).toBeLessThan(0.55 * full.length);
    const want = m.predict(x).dataSync();
    const theirs = await runOrt(half, x), ours = (await eg.loadModel(half)).predict(x).dataSync();
    expect(maxRelDiff(ours, theirs)).toBeLessThan(1e-5); // the same float16 weights on both sides
    const err = maxRelDiff(want, ours);
    expect(err).toBeGreaterThan(0); // it really is rounded
    expect(err).toBeLessThan(2e-3); // ... to float16's 11 bits
    await expect(eg.toOnnx(m, { weights: 'int4' as 'float16' })).rejects.toThrow(/weights must be 'float32' or 'float16', got 'int4'/);
  });

  it('an MLP with PReLU, batch norm and dropout exports with its names', async () => {
    const m = eg.sequential([
      eg.layers.dense({ units: 16, inputShape: [5], seed: 1, name: 'hidden' }),
      eg.layers.prelu({ name: 'slopes' }),
      eg.layers.batchNormalization(),
      eg.layers.dropout({ rate: 0.3 }),
      eg.layers.dense({ units: 3, activation: 'tanh', seed: 2, name: 'out' }),
    ]);
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const x = eg.randomNormal([10, 5], 0, 1, 3);
    await m.fit(x, eg.randomNormal([10, 3], 0, 0.5, 4), { epochs: 5, batchSize: 5 });
    const bytes = await eg.toOnnx(m);
    expect(maxRelDiff(m.predict(x).dataSync(), await runOrt(bytes, x))).toBeLessThan(1e-4);
    const text = new TextDecoder('latin1').decode(bytes);
    for (const name of ['hidden/kernel', 'slopes/alpha', 'out/bias']) expect(text).toContain(name);
  });

  it('a Reshape to a feature map [h, w, c] feeding a conv exports in the right layout', async () => {
    const m = eg.sequential([
      eg.layers.dense({ units: 72, inputShape: [10], seed: 1 }),
      eg.layers.reshape({ targetShape: [6, 6, 2] }),
      eg.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', seed: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 2, seed: 3 }),
    ]);
    const x = eg.randomNormal([3, 10], 0, 1, 4);
    expect(maxRelDiff(m.predict(x).dataSync(), await runOrt(await eg.toOnnx(m), x))).toBeLessThan(1e-4);
  });

  for (const [file, shape] of [['mnist_cnn.onnx', [1, 1, 28, 28]], ['squeezenet1_1.onnx', [1, 3, 224, 224]]] as const) {
    it(`${file}, imported and exported again, gives ONNX Runtime's outputs for the original`, async () => {
      const original = readFileSync(fixture(file));
      const m = await eg.loadModel(original);
      const x = eg.randomUniform(shape as unknown as number[], 0, 1, 9);
      const again = await eg.toOnnx(m);
      expect(maxRelDiff(await runOrt(again, x), await runOrt(original, x))).toBeLessThan(1e-4);
    });
  }

  it('save writes atomically; a failed save leaves the earlier file intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-save-'));
    const target = join(dir, 'model.onnx');
    const m = eg.sequential([eg.layers.dense({ units: 2, inputShape: [3], seed: 1 })]);
    await m.save(target);
    const loaded = await eg.loadModel(target);
    const x = eg.randomNormal([4, 3], 0, 1, 2);
    expect(maxRelDiff(loaded.predict(x).dataSync(), m.predict(x).dataSync())).toBeLessThan(1e-6);
    const before = readFileSync(target);
    // a model that cannot be exported fails before anything is written
    const bad = eg.sequential([eg.layers.dense({ units: 4, inputShape: [3] }), eg.layers.maxout({ units: 2 })]);
    await expect(bad.save(target)).rejects.toThrow(/graph op 'maxout' .* is not exported yet/);
    expect(readFileSync(target)).toEqual(before);
    // a rename that fails (the target is a directory) removes its temporary file and keeps what was there
    const asDir = join(dir, 'taken');
    mkdirSync(asDir);
    writeFileSync(join(asDir, 'keep.txt'), 'x');
    await expect(m.save(asDir)).rejects.toThrow(/cannot write .*taken.*; any earlier file there is unchanged/);
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'taken']);
    expect(existsSync(join(asDir, 'keep.txt'))).toBe(true);
    await expect(m.save(join(dir, 'missing', 'm.onnx'))).rejects.toThrow(/ENOENT/);
  });
});
