// Real architectures as PyTorch exports them: torchvision's ResNet, MobileNetV3, ShuffleNetV2, EfficientNet,
// RegNet, MNASNet, GoogLeNet and DenseNet (random weights, random batch-norm statistics), exported here by
// scripts/export-torchvision.py with Debian's python3-torch / python3-torchvision. Each loads, matches ONNX
// Runtime on the same file, exports back to ONNX that ONNX Runtime runs to the same numbers, and fine-tunes
// a new head on its frozen features. Without torchvision the suite skips, loudly, except in CI (.ci/run
// installs it). EDGEGRAD_TORCHVISION=name,name runs only those.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maxRelDiff, runOrt, useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const PY = '/usr/bin/python3';
const ALL = ['resnet18', 'mobilenet_v3_small', 'mobilenet_v3_large', 'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'efficientnet_b0',
  'regnet_x_400mf', 'regnet_y_400mf', 'mnasnet0_5', 'mnasnet1_0', 'googlenet', 'densenet121'];
const names = process.env.EDGEGRAD_TORCHVISION ? process.env.EDGEGRAD_TORCHVISION.split(',') : ALL;
const root = join(import.meta.dirname, '..');
const dir = join(root, 'node_modules', '.cache', 'edgegrad-torchvision');

function haveTorchvision(): boolean {
  try { execFileSync(PY, ['-c', 'import torchvision, onnx'], { stdio: 'ignore' }); return true; } catch { return false; }
}
const have = haveTorchvision();
if (!have && !process.env.CI) console.warn(`torchvision.test: ${PY} cannot import torchvision: skipped (apt install python3-torchvision python3-onnx; .ci/run does)`);

describe.skipIf(!have && !process.env.CI)('torchvision architectures exported by PyTorch', () => {
  beforeAll(() => {
    expect(have, 'CI must have python3-torchvision (.ci/run installs it)').toBe(true);
    useBuild('simd');
    mkdirSync(dir, { recursive: true });
    const missing = names.filter((n) => !existsSync(join(dir, `${n}.onnx`)));
    if (missing.length) execFileSync(PY, [join(root, 'scripts', 'export-torchvision.py'), dir, ...missing], { stdio: 'ignore', timeout: 300_000 });
  }, 300_000);

  it.each(names)('%s loads, matches ONNX Runtime, exports back, and fine-tunes a new head', async (name) => {
    const bytes = readFileSync(join(dir, `${name}.onnx`));
    const m = await eg.loadModel(bytes);
    const x = eg.randomUniform([1, 3, 224, 224], 0, 1, 11);
    const theirs = await runOrt(bytes, x);
    const ours = m.predict(x);
    expect(ours.shape).toEqual([1, 1000]);
    // within 1e-4 of the output's scale (measured: ~1e-6)
    expect(maxRelDiff(ours.dataSync(), theirs)).toBeLessThan(1e-4);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-4);
    // transfer: everything before the classifier, trainable (gradients through every imported op: channel
    // shuffles, SE blocks, HardSwish, ReduceMean, concatenations), with a new 3-class head, a few steps on
    // one image of each of three kinds, batch norms with their imported statistics. (Frozen, these random-weight backbones give features that barely
    // depend on the input: a head alone cannot learn from them.)
    const net = eg.sequential([m.cut(m.nodeNames.length - 2).unfreeze({ batchNorm: 'inference' }), eg.layers.flatten(), eg.layers.dense({ units: 3, activation: 'softmax', seed: 1 })]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.02, clipNorm: 1 }), loss: 'sparseCategoricalCrossentropy' }); // plain gradient steps: the loss must fall
    const px = 224 * 224 * 3, noise = eg.randomUniform([3 * px], 0, 0.1, 12).dataSync();
    const xs = eg.tensor(Float32Array.from({ length: 3 * px }, (_, i) => {
      const k = Math.floor(i / px), p = i % px;
      return noise[i] + (k === 0 ? 0.1 : k === 1 ? 0.8 : (p % (224 * 3)) / (224 * 3));
    }), [3, 224, 224, 3]); // NHWC inside a sequential model
    const ys = eg.tensor(Int32Array.of(0, 1, 2), [3], 'int32');
    const h = await net.fit(xs, ys, { epochs: 4, batchSize: 3, seed: 1 });
    const loss = h.history.loss;
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss.at(-1)!).toBeLessThan(loss[0]);
  }, 120_000);

  it.each([13, 17])('a small transformer block (attention, LayerNorm, tanh-GELU MLP; opset %i) loads, matches ONNX Runtime, exports back and trains', async (opset) => {
    const file = join(dir, `attention-${opset}.onnx`);
    if (!existsSync(file)) execFileSync(PY, [join(root, 'scripts', 'export-attention.py'), file, String(opset)], { stdio: 'ignore', timeout: 120_000 });
    const bytes = readFileSync(file);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([3, 8, 16], 0, 1, 21);
    const theirs = await runOrt(bytes, x);
    expect(maxRelDiff(m.predict(x).dataSync(), theirs)).toBeLessThan(1e-4);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-4);
    const net = eg.sequential([m]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.05 }), loss: 'mse' });
    const h = await net.fit(x, eg.randomNormal([3, 8, 16], 0, 1, 22), { epochs: 5, batchSize: 3 });
    expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0]);
  }, 120_000);
});
