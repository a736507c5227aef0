// The transfer experiment behind `npm start` (models/digits-transfer.mjs), with fixed seeds: digits-cnn
// (trained on 0-4) transfers to 5-9 at least as well as the same CNN trained from scratch on the 500
// examples, and the fine-tuned model saves to ONNX and reloads to the same outputs.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
// @ts-expect-error: a plain ES module shared with scripts/start.mjs
import { digitsTransfer } from '../models/digits-transfer.mjs';

describe('digits transfer experiment', () => {
  beforeAll(() => { useBuild('simd'); });

  it('transfer from digits-cnn matches or beats training from scratch on 100 examples per class, and the result saves', async () => {
    const r = await digitsTransfer(eg, { modelPath: join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx') });
    expect(r.train).toBe(500);
    expect(r.cachedFeatures).toEqual({ layers: 1, shape: [1568] });
    expect(r.accuracy.scratch).toBeGreaterThan(0.9);
    expect(r.accuracy.frozen).toBeGreaterThanOrEqual(r.accuracy.scratch);
    expect(r.accuracy.fineTuned).toBeGreaterThanOrEqual(r.accuracy.scratch);
    const path = join(mkdtempSync(join(tmpdir(), 'edgegrad-transfer-')), 'digits-5-9.onnx');
    await r.model.save(path);
    const x = eg.randomUniform([3, 28, 28, 1], 0, 1, 9);
    const back = await eg.loadModel(path);
    expect(Array.from(back.predict(x).dataSync())).toEqual(Array.from(r.model.predict(x).dataSync()));
  });
});
