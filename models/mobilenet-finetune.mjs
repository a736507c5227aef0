// Fine-tuning the top of the shipped MobileNetV2 on a few labelled digits, the README's recipe:
//   1. the backbone frozen under a new softmax head (the backbone's features cached), then
//   2. its top block(s) unfrozen with their batch norms in inference mode (`batchNorm: 'inference'`, Keras's
//      advice for small data), trained at `lrScale` of the head's learning rate. Feature caching reaches
//      inside the backbone: the cache holds the output of `upTo` (7x7x160 for block_15_add), so each epoch
//      runs only the unfrozen blocks and the head.
// k labelled digits per class (the first k of each among the first 8,000, from index `from` on: another
// draw of labelled examples), tested on the first `testCount` of the last 2,000 (features of the test set
// computed once per split with model.features).
// `eg` is the library (the package, or its sources in tests); `log` receives progress lines.
import { digitSplit, digitsOn } from './mobilenet-transfer.mjs';

export async function mobilenetFinetune(eg, {
  modelPath = 'models/mobilenet-v2-features.onnx', perClass = 20, from = 0, testCount = 1000, headEpochs = 60, tuneEpochs = 8,
  upTo = 'block_15_add', lrScale = 0.1, batchNorm = 'inference', batchSize = 16, seed = 1, wasmBuild, log = () => {},
} = {}) {
  await eg.ready(wasmBuild ? { wasmBuild } : {});
  const d = await eg.data.loadDigits();
  const { train, test } = digitSplit(eg, d, { perClass, testCount, from });
  const t0 = performance.now();
  const seconds = () => +((performance.now() - t0) / 1000).toFixed(1);

  const backbone = await eg.loadModel(modelPath);
  const model = digitsOn(eg, backbone.freeze(), { name: 'digits_finetuned', seed });
  model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const progress = (what) => (done, total) => { if (done === total || done % 64 === 0) log(`${what}: ${done}/${total} images  ${seconds()} s`); };

  // 1. frozen backbone + new head
  const h1 = await model.fit(train.x, train.y, { epochs: headEpochs, batchSize, seed, callbacks: [{ onFeaturesProgress: progress('features (frozen backbone)') }] });
  let testFeatures = await model.features(test.x, { onProgress: progress('test features (frozen backbone)') });
  const frozen = { train: h1.history.accuracy.at(-1), test: model.evaluate(testFeatures, test.y).accuracy, seconds: seconds() };
  testFeatures.dispose();
  log(`frozen backbone: train ${(frozen.train * 100).toFixed(1)}%, test ${(frozen.test * 100).toFixed(1)}%`);

  // 2. the top of the backbone fine-tuned, its batch norms in inference mode
  backbone.unfreeze({ batchNorm }).freeze({ upTo });
  model.layers[2].lrScale = lrScale;
  const trainable = model.countParams(true);
  const losses = [];
  const h2 = await model.fit(train.x, train.y, {
    epochs: tuneEpochs, batchSize, seed,
    callbacks: [{ onFeaturesProgress: progress(`features (up to ${upTo})`), onEpochEnd: (e, l) => { losses.push(l.loss); log(`fine-tune epoch ${e + 1}/${tuneEpochs}: loss ${l.loss.toFixed(4)}, accuracy ${(l.accuracy * 100).toFixed(1)}%`); } }],
  });
  testFeatures = await model.features(test.x, { onProgress: progress(`test features (up to ${upTo})`) });
  const tuned = { train: h2.history.accuracy.at(-1), test: model.evaluate(testFeatures, test.y).accuracy, seconds: seconds(), cached: h2.cachedFeatures, trainableParams: trainable, featureBytes: testFeatures.bytes / testCount };
  testFeatures.dispose();
  log(`fine-tuned from ${upTo}: train ${(tuned.train * 100).toFixed(1)}%, test ${(tuned.test * 100).toFixed(1)}%`);

  // a fingerprint of every weight, to compare runs (processes, builds) bit for bit
  let hash = 0x811c9dc5;
  for (const w of model.getWeights()) {
    const u = new Uint32Array((w.dataSync()).buffer.slice(0));
    for (let i = 0; i < u.length; i++) hash = Math.imul(hash ^ u[i], 0x01000193) >>> 0;
  }
  const result = { perClass, from, testCount, frozen, tuned, losses, finite: losses.every(Number.isFinite), weightsHash: hash.toString(16) };
  model.dispose();
  return result;
}

// node models/mobilenet-finetune.mjs [k ...] [--from N] [--json '{...options}']: the experiment on the built
// package, one JSON line per k (progress on stderr)
if (import.meta.url === `file://${process.argv[1]}`) {
  const eg = await import('edgegrad');
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(`--${name}`); return i < 0 ? undefined : args.splice(i, 2)[1]; };
  const from = Number(opt('from') ?? 0), extra = JSON.parse(opt('json') ?? '{}');
  for (const k of (args.length ? args : ['10', '20']).map(Number)) {
    const r = await mobilenetFinetune(eg, { perClass: k, from, ...extra, log: (s) => console.error(s) });
    console.log(JSON.stringify(r));
  }
}
