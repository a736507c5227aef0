// TensorFlow.js layers-model import against TensorFlow.js itself: the pretrained MobileNetV2 that the npm
// package nsfwjs ships (Keras functional, 162 layers, uint8-quantized weights), same inputs, same outputs.
import { describe, expect, it, beforeAll } from 'vitest';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBuild, maxRelDiff } from './helpers.js';
import * as eg from '../src/index.js';

const require = createRequire(import.meta.url);

/** nsfwjs wraps model.json as a UMD module exporting the object, and each shard as base64. */
function nsfwMobilenet() {
  // the package's exports map hides these files: read them by path from the installed package
  const dir = join(import.meta.dirname, '..', 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
  const modelJson = require(join(dir, 'model.min.js'));
  const shard = Uint8Array.from(Buffer.from(require(join(dir, 'group1-shard1of1.min.js')) as string, 'base64'));
  return { modelJson, shard };
}

describe('TensorFlow.js import', () => {
  beforeAll(async () => { useBuild('simd'); await tf.setBackend('cpu'); });

  it("nsfwjs's MobileNetV2 matches TensorFlow.js on the same inputs", async () => {
    const { modelJson, shard } = nsfwMobilenet();
    const ours = await eg.loadModel({ modelJson, weights: shard });
    expect(ours.inputShape).toEqual([224, 224, 3]);
    const theirs = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
    }));
    const x = eg.randomUniform([2, 224, 224, 3], 0, 1, 11);
    const a = ours.predict(x).dataSync();
    const b = (theirs.predict(tf.tensor(x.dataSync(), [2, 224, 224, 3])) as tf.Tensor).dataSync();
    expect(a.length).toBe(b.length);
    expect(maxRelDiff(a, b)).toBeLessThan(1e-4);
    // inference ran with every batch norm folded into its conv and the ReLU6s fused
    const summary = ours.summary({ print: false });
    const [, after, before] = /(\d+) nodes after inference passes \((\d+) imported\)/.exec(summary)!.map(Number);
    expect(summary).not.toMatch(/batchNorm/);
    expect(after).toBeLessThan(before / 2); // 160 -> 73: folded batch norms and fused ReLU6s; the softmax stays
  });

  it('loads model.json from a path with its shards beside it; a missing shard is named', async () => {
    const { modelJson, shard } = nsfwMobilenet();
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-tfjs-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
    await expect(eg.loadModel(join(dir, 'model.json'))).rejects.toThrow(/weight shard 'group1-shard1of1' listed in '.*model\.json' is missing/);
    writeFileSync(join(dir, 'group1-shard1of1'), shard);
    const m = await eg.loadModel(join(dir, 'model.json'));
    expect(m.predict(eg.zeros([1, 224, 224, 3])).shape).toEqual([1, 5]);
  });

  it('a short shard or weights that do not fit the topology fail with what and where', async () => {
    const { modelJson, shard } = nsfwMobilenet();
    await expect(eg.loadModel({ modelJson, weights: shard.subarray(0, 1000) })).rejects.toThrow(/weight '.+' \[.+\] needs bytes \[\d+, \d+\) but the shards hold 1000/);
    const extra = structuredClone(modelJson);
    extra.weightsManifest[0].weights.push({ name: 'stray/kernel', shape: [1], dtype: 'float32' });
    await expect(eg.loadModel({ modelJson: extra, weights: [shard, new Uint8Array(4)] })).rejects.toThrow(/weights stray\/kernel belong to no layer/);
  });
});
