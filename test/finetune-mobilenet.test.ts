// The README's fine-tuning recipe on the shipped MobileNetV2, sized down: 10 labelled digits per class,
// 300 held-out test digits. Fine-tuning the top block with its batch norms in inference mode never loses
// to the frozen backbone, never goes non-finite, and gives the same weights, bit for bit, in another process.
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
// @ts-expect-error: a plain ES module, also run as a script (node models/mobilenet-finetune.mjs)
import { mobilenetFinetune } from '../models/mobilenet-finetune.mjs';

const root = join(import.meta.dirname, '..');
const options = { perClass: 10, testCount: 300, headEpochs: 60, tuneEpochs: 8 };

describe('fine-tuning MobileNetV2 (README recipe, sized down)', () => {
  beforeAll(() => { useBuild('simd'); });

  it('the top block fine-tuned in inference mode beats or matches the frozen backbone, finite, the same in another process', async () => {
    const r = await mobilenetFinetune(eg, { ...options, modelPath: join(root, 'models', 'mobilenet-v2-features.onnx') });
    expect(r.finite).toBe(true);
    // the cache holds block_15_add's output (7x7x160), not the 224x224x3 images
    expect(r.tuned.cached).toEqual({ layers: 2, shape: [7, 7, 160], inside: expect.stringMatching(/block_15_add$/) });
    // 300 test digits: one standard error of an accuracy near 75% is ~2.5 points
    expect(r.tuned.test).toBeGreaterThanOrEqual(r.frozen.test - 0.025);
    expect(r.frozen.test).toBeGreaterThan(0.5);
    // the same run in a fresh process, on the built package (the same SIMD128 build Node 20 picks by default)
    const child = spawnSync(process.execPath, [join(root, 'models', 'mobilenet-finetune.mjs'), '10', '--json', JSON.stringify({ ...options, wasmBuild: 'simd' })], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(child.status, child.stderr.slice(-2000)).toBe(0);
    const other = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
    expect(other.weightsHash).toBe(r.weightsHash);
    expect(other.tuned.test).toBe(r.tuned.test);
  }, 600_000);
});
