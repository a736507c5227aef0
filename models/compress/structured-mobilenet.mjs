// Structured (channel) pruning of MobileNetV2 + a digits head, the issue 18 bar: pruned to half its FLOPs it
// runs >= 1.6x faster, loses <= 2 points of accuracy after recovery fine-tuning, and exports to ONNX that
// ONNX Runtime runs to the same outputs.
//
// 1. The shipped MobileNetV2 feature extractor (models/mobilenet-v2-features.onnx), frozen, under a new
//    softmax head trained on `perClass` digits per class (the recipe and split of models/mobilenet-transfer.mjs:
//    28x28 digits resized to 224x224 RGB by the model's first layers), tested on the first `testCount` of the
//    last 2,000 digits.
// 2. eg.pruning.pruneChannels to `flops` of the FLOPs: the expansion channels inside every inverted residual
//    block (and the stem, the block-0 and block-16 projections, the 1,280 head features), ranked by
//    `criterion`; projections that feed residual adds stay whole.
// 3. Recovery: the pruned backbone unfrozen (at lrScale of the head's learning rate, 1 by default: the damage
//    is too deep for a tenth of it; batch norms in 'train'
//    mode by default: removing channels upstream shifts what each batch norm sees, so its moving statistics are
//    estimated again), fine-tuned with its head for `recoverEpochs`, then frozen again for inference.
//    With `tuneBaseline`, the unpruned model gets the same fine-tuning, for a like-for-like comparison.
// 4. Speed: predict at batch 1 and 32 (28x28 digits in, resize included), best of `runs` after a warm-up,
//    both models frozen, in this process. ONNX: the pruned model exported, run by onnxruntime-web on test
//    digits, compared with predict.
//
// `eg` is the library (the package, or its sources). Run: node models/compress/structured-mobilenet.mjs
//   [--flops 0.5] [--criterion taylor|l1] [--allocation uniform|sensitivity] [--multiple-of 8]
//   [--recover-epochs 3] [--per-class 50] [--test 500] [--batch-norm train|inference] [--lr-scale 1]
//   [--tune-baseline] [--json]
// It needs a dist/ built with eg.pruning.pruneChannels (npm run build); before that, bundle a runner that
// calls main(eg) with the sources (see RESULTS.md).
import { digitSplit, digitsOn } from '../mobilenet-transfer.mjs';

const best = (f, runs) => { f(); let t = Infinity; for (let i = 0; i < runs; i++) { const t0 = performance.now(); f(); t = Math.min(t, performance.now() - t0); } return t; };

export async function structuredMobilenet(eg, {
  modelPath = 'models/mobilenet-v2-features.onnx', perClass = 50, testCount = 500, flops = 0.5, criterion = 'taylor',
  allocation = 'uniform', multipleOf = 8, scoreExamples = 256, headEpochs = 60, recoverEpochs = 3, learningRate = 1e-3,
  lrScale = 1, batchNorm = 'train', batchSize = 16, seed = 1, tuneBaseline = false, runs1 = 10, runs32 = 3, ortExamples = 64, log = () => {},
} = {}) {
  await eg.ready();
  const d = await eg.data.loadDigits();
  const { train, test } = digitSplit(eg, d, { perClass, testCount });
  const t0 = performance.now();
  const seconds = () => +((performance.now() - t0) / 1000).toFixed(1);
  const compile = (m) => m.compile({ optimizer: eg.optimizers.adam({ learningRate }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const accuracy = (m) => m.evaluate(test.x, test.y, { batchSize: 32 }).accuracy;

  // 1. frozen backbone + new head (features cached by fit)
  const base = digitsOn(eg, (await eg.loadModel(modelPath)).freeze(), { name: 'digits_on_mobilenet', seed });
  compile(base);
  await base.fit(train.x, train.y, { epochs: headEpochs, batchSize: 32, seed });
  const baseAccuracy = accuracy(base);
  log(`base (frozen MobileNetV2 + head): test ${(baseAccuracy * 100).toFixed(2)}%  ${seconds()} s`);

  // 2. prune to `flops` of the FLOPs
  const n = Math.min(scoreExamples, train.y.shape[0]);
  const tp = performance.now();
  const { model: pruned, report } = await eg.pruning.pruneChannels(base, {
    flops, criterion, allocation, multipleOf,
    // the Taylor scores, and the removed channels' means folded into what reads them, on the first n training digits
    data: { x: eg.data.slice(train.x, 0, n), y: eg.data.slice(train.y, 0, n), batchSize: 8 },
  });
  const pruneSeconds = (performance.now() - tp) / 1000;
  compile(pruned);
  const prunedAccuracy = accuracy(pruned);
  log(`pruned to ${(report.flops.after / report.flops.before * 100).toFixed(1)}% FLOPs (${report.flops.before} -> ${report.flops.after}), params ${report.params.before} -> ${report.params.after}, before recovery: test ${(prunedAccuracy * 100).toFixed(2)}%  (prune ${pruneSeconds.toFixed(1)} s)`);

  // 3. recovery fine-tuning of the whole pruned model, then frozen for inference
  const recover = async (m, what) => {
    const bb = m.layers[2];
    bb.model.unfreeze({ batchNorm });
    bb.lrScale = lrScale;
    compile(m);
    const losses = [];
    await m.fit(train.x, train.y, {
      epochs: recoverEpochs, batchSize, seed, cacheFeatures: false,
      callbacks: [{ onEpochEnd: (e, l) => { losses.push(l.loss); log(`${what} recovery epoch ${e + 1}/${recoverEpochs}: loss ${l.loss.toFixed(4)}, train accuracy ${(l.accuracy * 100).toFixed(1)}%  ${seconds()} s`); } }],
    });
    bb.model.freeze();
    return losses;
  };
  const recoverLosses = recoverEpochs > 0 ? await recover(pruned, 'pruned') : [];
  const recoveredAccuracy = accuracy(pruned);
  log(`pruned + recovered: test ${(recoveredAccuracy * 100).toFixed(2)}%`);
  let tunedBaseAccuracy;
  if (tuneBaseline) {
    await recover(base, 'unpruned');
    tunedBaseAccuracy = accuracy(base);
    log(`unpruned + the same fine-tuning: test ${(tunedBaseAccuracy * 100).toFixed(2)}%`);
  }

  // 4. speed (both frozen: batch norms folded), FLOPs as the summaries count them
  const flopsOf = (m) => /FLOPs per example: (\S+)/.exec(m.summary({ print: false }))[1];
  const speed = {};
  for (const [b, runs] of [[1, runs1], [32, runs32]]) {
    const x = eg.data.slice(test.x, 0, b);
    const full = best(() => base.predict(x, { batchSize: b }).dispose(), runs), small = best(() => pruned.predict(x, { batchSize: b }).dispose(), runs);
    speed[`batch${b}`] = { baseMs: +full.toFixed(2), prunedMs: +small.toFixed(2), speedup: +(full / small).toFixed(2) };
    log(`batch ${b}: unpruned ${full.toFixed(1)} ms, pruned ${small.toFixed(1)} ms: ${(full / small).toFixed(2)}x`);
  }

  // 5. ONNX Runtime on the exported pruned model
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const bytes = await eg.toOnnx(pruned);
  const session = await ort.InferenceSession.create(bytes);
  const xo = eg.data.slice(test.x, 0, ortExamples);
  const theirs = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', xo.dataSync(), xo.shape) }))[session.outputNames[0]].data;
  const ours = pruned.predict(xo).dataSync();
  let err = 0, scale = 0, agree = 0;
  for (let i = 0; i < ours.length; i++) { err = Math.max(err, Math.abs(ours[i] - theirs[i])); scale = Math.max(scale, Math.abs(theirs[i])); }
  const argmax = (v, r) => { let k = 0; for (let c = 1; c < 10; c++) if (v[r * 10 + c] > v[r * 10 + k]) k = c; return k; };
  for (let r = 0; r < ortExamples; r++) if (argmax(ours, r) === argmax(theirs, r)) agree++;
  const onnx = { bytes: bytes.length, examples: ortExamples, maxRelDiff: err / scale, argmaxAgreement: agree / ortExamples };
  log(`ONNX ${(bytes.length / 1e6).toFixed(2)} MB: onnxruntime-web vs predict on ${ortExamples} digits, max relative difference ${onnx.maxRelDiff.toExponential(2)}, same class ${(onnx.argmaxAgreement * 100).toFixed(0)}%`);

  return {
    options: { flops, criterion, allocation, multipleOf, perClass, testCount, scoreExamples: n, recoverEpochs, learningRate, lrScale, batchNorm, batchSize, seed },
    train: train.y.shape[0], test: test.y.shape[0],
    accuracy: { base: baseAccuracy, pruned: prunedAccuracy, recovered: recoveredAccuracy, ...(tunedBaseAccuracy !== undefined ? { tunedBase: tunedBaseAccuracy } : {}) },
    recoverLosses, pruneSeconds,
    flops: { ...report.flops, baseSummary: flopsOf(base), prunedSummary: flopsOf(pruned) }, params: report.params,
    layers: report.layers.map((l) => `${l.name.replace(/^.*\//, '')} ${l.kept}/${l.channels}`),
    tied: report.tied.length, speed, onnx, seconds: seconds(),
  };
}

/** The command line: `eg` defaults to the built package (a runner may pass the sources). */
export async function main(eg) {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  eg ??= await import('../../dist/index.js');
  if (!eg.pruning?.pruneChannels) throw new Error('this dist/ has no eg.pruning.pruneChannels: run npm run build first');
  const argv = process.argv.slice(2);
  const arg = (name, d) => { const i = argv.indexOf(`--${name}`); return i < 0 ? d : argv[i + 1]; };
  const json = argv.includes('--json');
  const res = await structuredMobilenet(eg, {
    flops: Number(arg('flops', 0.5)), criterion: arg('criterion', 'taylor'), allocation: arg('allocation', 'uniform'),
    multipleOf: Number(arg('multiple-of', 8)), recoverEpochs: Number(arg('recover-epochs', 3)), perClass: Number(arg('per-class', 50)),
    testCount: Number(arg('test', 500)), tuneBaseline: argv.includes('--tune-baseline'), batchNorm: arg('batch-norm', 'train'),
    lrScale: Number(arg('lr-scale', 1)),
    log: (s) => console.error(s),
  });
  console.log(json ? JSON.stringify(res, null, 2) : JSON.stringify(res));
}

const { fileURLToPath } = await import('node:url');
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
