// A seeded campaign of mutated model files (test/fuzz/models.ts): a few hundred here, each bounded;
// `npm run fuzz -- --models 10000` runs the full one (EDGEGRAD_FUZZ_MODELS mutants in all, shared
// among the seed models; the 5 MB SqueezeNet gets a quarter share, its mutants are slow).
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { useBuild, rng } from './helpers.js';
import type { HeapBackend } from '../src/backend/index.js';
import * as eg from '../src/index.js';
import { mutateOnnx, mutateTfjs, tryModel, writeMutant } from './fuzz/models.js';

const TOTAL = Number(process.env.EDGEGRAD_FUZZ_MODELS ?? 315);
const CASES = Math.ceil(TOTAL / 5.25); // five seeds at a full share, one at a quarter
const here = import.meta.dirname;

describe('model-file fuzz', () => {
  let be: HeapBackend;
  const dir = mkdtempSync(join(tmpdir(), 'edgegrad-fuzz-'));
  beforeAll(() => { be = useBuild('simd'); });

  async function campaign(seedName: string, seed: Uint8Array, n: number, salt: number) {
    const r = rng(salt);
    const tally = { loaded: 0, refused: 0 };
    for (let i = 0; i < n; i++) {
      const { what, bytes } = mutateOnnx(seed, r);
      const path = writeMutant(dir, `${seedName}-${i}.onnx`, bytes);
      const t0 = performance.now();
      tally[await tryModel(be, path, `${seedName} #${i}: ${what}`, () => eg.loadModel(path))]++;
      const s = (performance.now() - t0) / 1000;
      expect(s, `${seedName} #${i} (${what}) took ${s.toFixed(1)} s`).toBeLessThan(20);
    }
    return tally;
  }

  for (const [name, file, share] of [
    ['mlp', join(here, 'fixtures', 'mlp_tanh_sigmoid.onnx'), 1],
    ['mnist_cnn', join(here, 'fixtures', 'mnist_cnn.onnx'), 1],
    ['digits_cnn', join(here, '..', 'models', 'digits-cnn.onnx'), 1],
    ['squeezenet', join(here, 'fixtures', 'squeezenet1_1.onnx'), 0.25],
  ] as const) {
    it(`ONNX ${name}: ${Math.ceil(CASES * share)} mutants load and compute deterministically, or fail with an edgegrad error naming the file`, async () => {
      const tally = await campaign(name, readFileSync(file), Math.ceil(CASES * share), name.length * 101);
      expect(tally.loaded + tally.refused).toBe(Math.ceil(CASES * share));
    }, 600_000);
  }

  it(`ONNX built here (batch norms, a residual add, pooling): ${CASES} mutants`, async () => {
    const inp = eg.input({ shape: [8, 8, 2] });
    const c = eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', seed: 1 }).apply(inp);
    const b = eg.layers.activation({ activation: 'relu' }).apply(eg.layers.batchNormalization().apply(c));
    const s = eg.layers.add().apply([b, eg.layers.conv2d({ filters: 4, kernelSize: 1, seed: 2 }).apply(b)]);
    const out = eg.layers.dense({ units: 3, activation: 'softmax', seed: 3 }).apply(eg.layers.flatten().apply(eg.layers.maxPooling2d({ poolSize: 2 }).apply(s)));
    const bytes = await eg.toOnnx(eg.model({ inputs: inp, outputs: out }));
    const tally = await campaign('built', bytes, CASES, 17);
    expect(tally.loaded + tally.refused).toBe(CASES);
  }, 600_000);

  it(`TF.js layers models saved by TensorFlow.js: ${CASES} mutants of model.json fields and weight bytes`, async () => {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [6, 6, 1], activation: 'relu' }));
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2, activation: 'softmax' }));
    let art: tf.io.ModelArtifacts | undefined;
    await m.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    const json = { modelTopology: art!.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: art!.weightSpecs }], format: art!.format };
    const weights = new Uint8Array(art!.weightData as ArrayBuffer);
    const r = rng(5);
    const tally = { loaded: 0, refused: 0 };
    for (let i = 0; i < CASES; i++) {
      const mut = mutateTfjs(json, weights, r);
      const sub = mkdtempSync(join(dir, 'tfjs-'));
      writeFileSync(join(sub, 'w.bin'), mut.weights);
      const path = join(sub, 'model.json');
      writeFileSync(path, JSON.stringify(mut.json));
      tally[await tryModel(be, path, `tfjs #${i}: ${mut.what}`, () => eg.loadModel(path))]++;
    }
    expect(tally.loaded + tally.refused).toBe(CASES);
  }, 600_000);
});
