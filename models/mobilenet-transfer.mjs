// Transfer learning from ImageNet features to digits: the MobileNetV2 feature extractor that edgegrad
// ships (models/mobilenet-v2-features.onnx, from nsfwjs), frozen, under a new softmax head, trained on 100
// labelled digits per class (the first 100 of each among the first 8,000) and tested on digits among the
// last 2,000. The 28x28 grayscale digits go in as they are: a Resizing layer (bilinear, to 224x224) and a
// grayscale -> RGB layer are the first layers of the model, so they run once per image with the backbone
// when fit caches the frozen prefix's features.
// Measures: accuracy, the time of each epoch (the first computes the features, the rest reuse them), and
// peak wasm memory of inference vs a training step at the same batch size.
// `eg` is the library (the package, or its sources in tests); `log` receives progress lines.
export async function mobilenetTransfer(eg, { modelPath = 'models/mobilenet-v2-features.onnx', perClass = 100, testCount = 2000, epochs = 100, batchSize = 32, seed = 1, int8 = false, log = () => {} } = {}) {
  const be = await eg.ready();
  const d = await eg.data.loadDigits();
  const { trainIdx, testIdx, train, test, take } = digitSplit(eg, d, { perClass, testCount });
  /** Peak wasm bytes above what was in use when the mark was set (plans, buffers, outputs). */
  const mark = () => { const base = be.arena.inUse; be.arena.peak = base; return () => be.arena.peak - base; };

  let t0 = performance.now();
  let backbone = await eg.loadModel(modelPath);
  const loadSeconds = (performance.now() - t0) / 1000;
  const prep = (m) => eg.sequential([eg.layers.resizing({ height: 224, width: 224, inputShape: [28, 28, 1] }), eg.layers.grayscaleToRgb(), ...(m ? [m] : [])]);
  let bytes;
  if (int8) {
    // post-training int8, calibrated on 64 of the training digits as the backbone sees them
    const calibration = prep().predict(eg.data.slice(train.x, 0, 64));
    const float = backbone;
    backbone = await eg.quantize(backbone, { calibration });
    calibration.dispose();
    bytes = { float32: (await eg.toOnnx(float, { weights: 'float32' })).length, int8: (await eg.toOnnx(backbone)).length };
  }
  const build = () => digitsOn(eg, backbone.freeze(), { name: 'digits_on_mobilenet', seed });
  const compile = (m) => m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });

  // memory: inference vs one training step (frozen backbone, features not cached) at the same batch size
  const probe = take(trainIdx.slice(0, batchSize));
  let m = build();
  let end = mark();
  m.predict(probe.x, { batchSize });
  const inferenceBytes = end();
  m.dispose();
  m = build(); compile(m);
  end = mark();
  await m.fit(probe.x, probe.y, { epochs: 1, batchSize, cacheFeatures: false, seed });
  const stepBytes = end();
  m.dispose();

  // the experiment: features cached by fit
  const model = build();
  compile(model);
  const epochSeconds = [];
  let cached;
  end = mark();
  t0 = performance.now();
  let last = t0;
  const h = await model.fit(train.x, train.y, {
    epochs, batchSize, seed,
    callbacks: [{
      onFeaturesProgress: (done, total) => {
        const s = (performance.now() - t0) / 1000;
        log(`features ${String(done).padStart(4)}/${total} images through resize + MobileNetV2  ${s.toFixed(1)} s, ETA ${(s / done * (total - done)).toFixed(1)} s`);
      },
      onEpochEnd: (e, logs) => {
        const now = performance.now();
        epochSeconds.push((now - last) / 1000); last = now;
        if (e < 3 || (e + 1) % 20 === 0) log(`epoch ${String(e + 1).padStart(2)}/${epochs}  ${(epochSeconds[e]).toFixed(2)} s  loss ${logs.loss.toFixed(4)}  accuracy ${(logs.accuracy * 100).toFixed(1)}%`);
      },
    }],
  });
  cached = h.cachedFeatures;
  const trainSeconds = (performance.now() - t0) / 1000;
  const fitBytes = end();
  t0 = performance.now();
  const { accuracy } = await model.evaluateAsync(test.x, test.y, { batchSize });
  const testSeconds = (performance.now() - t0) / 1000;
  return {
    train: trainIdx.length, test: testIdx.length, accuracy, loadSeconds, trainSeconds, testSeconds, epochSeconds,
    cachedFeatures: cached, inferenceBytes, stepBytes, fitBytes, batchSize, model, bytes,
  };
}

/**
 * The digits the experiments use: the first `perClass` of each class among the first 8,000 (from index
 * `from` on, for another draw) to train, the first `testCount` of the last 2,000 to test.
 */
export function digitSplit(eg, d, { perClass, testCount, from = 0 }) {
  const trainIdx = [], testIdx = [], seen = new Array(10).fill(0);
  for (let n = from; n < 8000; n++) if (seen[d.labels[n]]++ < perClass) trainIdx.push(n);
  for (let n = 8000; n < Math.min(d.count, 8000 + testCount); n++) testIdx.push(n);
  const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32') });
  return { trainIdx, testIdx, train: take(trainIdx), test: take(testIdx), take };
}

/** 28x28 digits into a 224x224 RGB backbone: resize and gray -> RGB as layers, then a new softmax head. */
export function digitsOn(eg, backbone, { name, seed }) {
  return eg.sequential({
    name,
    layers: [
      eg.layers.resizing({ name: 'resize', height: 224, width: 224, inputShape: [28, 28, 1] }),
      eg.layers.grayscaleToRgb({ name: 'rgb' }),
      backbone,
      eg.layers.dense({ name: 'new_head', units: 10, activation: 'softmax', seed }),
    ],
  });
}
