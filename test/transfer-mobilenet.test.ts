// The shipped MobileNetV2 feature extractor (models/mobilenet-v2-features.onnx, converted from nsfwjs by
// scripts/make-mobilenet.mjs): onnxruntime-web runs the same file to the same features, and the transfer
// experiment (models/mobilenet-transfer.mjs) on the digits holds the bars: feature caching makes
// every epoch after the first cost < 5% of the first, and a training step's peak wasm memory stays below
// 2x that of inference at the same batch size; on an int8 backbone the accuracy stays within a point.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBuild, runOrt, maxRelDiff } from './helpers.js';
import * as eg from '../src/index.js';
// @ts-expect-error: a plain ES module shared with scripts/start.mjs
import { mobilenetTransfer } from '../models/mobilenet-transfer.mjs';

const MODEL = join(import.meta.dirname, '..', 'models', 'mobilenet-v2-features.onnx');

describe('MobileNetV2 transfer', () => {
  beforeAll(() => { useBuild('relaxed'); });

  it('the shipped float16 feature extractor matches onnxruntime-web on the same file', async () => {
    const bytes = new Uint8Array(readFileSync(MODEL));
    const m = await eg.loadModel(bytes);
    expect(m.inputShape).toEqual([224, 224, 3]);
    const x = eg.randomUniform([1, 224, 224, 3], 0, 1, 4);
    const ours = m.predict(x).dataSync(), theirs = await runOrt(bytes, x);
    expect(ours.length).toBe(1280);
    expect(maxRelDiff(ours, theirs)).toBeLessThan(1e-4);
    m.dispose();
  });

  it('frozen backbone + new head on 100 digits per class: accuracy, cached epochs, step memory', async () => {
    const r = await mobilenetTransfer(eg, { modelPath: MODEL, testCount: 500 });
    expect(r.train).toBe(1000);
    // resize + grayscale -> RGB + backbone are the cached prefix
    expect(r.cachedFeatures).toEqual({ layers: 3, shape: [1280] });
    expect(r.accuracy).toBeGreaterThan(0.8);
    const [first, ...rest] = r.epochSeconds;
    for (const s of rest) expect(s).toBeLessThan(0.05 * first);
    expect(r.stepBytes).toBeLessThan(2 * r.inferenceBytes);
    // the cached fit ran the backbone at a small batch: far below inference at batch 32
    expect(r.fitBytes).toBeLessThan(r.inferenceBytes / 2);
    // the whole model (resize, grayscale -> RGB, backbone, head) saves as ONNX and reloads to the same outputs
    const path = join(mkdtempSync(join(tmpdir(), 'edgegrad-mobilenet-')), 'digits-mobilenet.onnx');
    await r.model.save(path);
    const d = await eg.data.loadDigits();
    const x = eg.data.slice(d.images, 8000, 8002);
    expect(maxRelDiff((await eg.loadModel(path)).predict(x).dataSync(), r.model.predict(x).dataSync())).toBeLessThan(1e-4);
    // the same run on the backbone quantized to int8 (post-training, 64 calibration digits) lands within a point
    const q = await mobilenetTransfer(eg, { modelPath: MODEL, testCount: 500, int8: true });
    // in test examples (of 500), not in floats: 0.88 - 0.87 is 0.010000000000000009
    expect(Math.round(Math.abs(q.accuracy - r.accuracy) * 500), `float backbone ${r.accuracy}, int8 backbone ${q.accuracy}`).toBeLessThanOrEqual(5);
    expect(q.stepBytes).toBeLessThan(2 * q.inferenceBytes);
    expect(q.bytes.float32 / q.bytes.int8, 'int8 file vs float32 file').toBeGreaterThanOrEqual(3.5);
  }, 300_000);
});
