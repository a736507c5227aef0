// The transfer-learning experiment: digits 5-9 with only 100 labelled examples per class (the first 100 of
// each among the first 8,000), tested on the digits 5-9 among the last 2,000.
//   (a) the digits-cnn architecture trained from scratch;
//   (b) digits-cnn (trained on 0-4) cut below its head, frozen, a new softmax head (features cached);
//   (c) (b), then the top conv block unfrozen and fine-tuned at a 10x lower learning rate.
// `eg` is the library (the package, or its sources in tests), on any backend (wasm, webgpu); `log` receives
// progress lines; `testCount` takes only the first test digits (a short run).
export async function digitsTransfer(eg, { modelPath = 'models/digits-cnn.onnx', cutAt = 'flatten', perClass = 100, seed = 1, epochs = 30, headEpochs = 60, fineTuneEpochs = 8, testCount = Infinity, log = () => {} } = {}) {
  const d = await eg.data.loadDigits();
  const trainIdx = [], testIdx = [], seen = new Array(10).fill(0);
  for (let n = 0; n < d.count; n++) {
    const l = d.labels[n];
    if (l < 5) continue;
    if (n < 8000) { if (seen[l]++ < perClass) trainIdx.push(n); } else if (testIdx.length < testCount) testIdx.push(n);
  }
  const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i] - 5), [idx.length], 'int32') });
  const train = take(trainIdx), test = take(testIdx);
  const progress = (phase, total) => ({
    onEpochEnd: (e, logs) => log(`${phase} epoch ${String(e + 1).padStart(2)}/${total}  loss ${logs.loss.toFixed(4)}  accuracy ${(logs.accuracy * 100).toFixed(1)}%`),
  });
  const compile = (m, lr) => m.compile({ optimizer: eg.optimizers.adam({ learningRate: lr }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const time = async (f) => { const t0 = performance.now(); await f(); return (performance.now() - t0) / 1000; };

  // (a) from scratch
  const scratch = eg.sequential({
    name: 'scratch',
    layers: [
      eg.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', seed: seed + 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 64, activation: 'relu', seed: seed + 2 }),
      eg.layers.dense({ units: 5, activation: 'softmax', seed: seed + 3 }),
    ],
  });
  compile(scratch, 1e-3);
  const tA = await time(() => scratch.fit(train.x, train.y, { epochs, batchSize: 32, seed, callbacks: [progress('(a) scratch  ', epochs)] }));
  const a = (await scratch.evaluateAsync(test.x, test.y)).accuracy;

  // (b) pretrained backbone, frozen, new head
  const base = await eg.loadModel(modelPath);
  const features = base.cut(cutAt).freeze();
  const model = eg.sequential({
    name: 'digits_5_9',
    layers: [features, eg.layers.dense({ name: 'new_hidden', units: 64, activation: 'relu', seed: seed + 4 }), eg.layers.dense({ name: 'new_head', units: 5, activation: 'softmax', seed: seed + 5 })],
  });
  compile(model, 1e-3);
  let cached, historyB, historyC;
  const tB = await time(async () => { historyB = await model.fit(train.x, train.y, { epochs: headEpochs, batchSize: 32, seed, callbacks: [progress('(b) frozen   ', headEpochs)] }); cached = historyB.cachedFeatures; });
  const b = (await model.evaluateAsync(test.x, test.y)).accuracy;

  // (c) unfreeze the top conv block (block2_conv) and the features layer, at a tenth of the head's rate
  features.unfreeze().freeze({ upTo: 'block1_pool' });
  model.layers[0].lrScale = 0.1;
  const tC = await time(async () => { historyC = await model.fit(train.x, train.y, { epochs: fineTuneEpochs, batchSize: 32, seed, callbacks: [progress('(c) fine-tune', fineTuneEpochs)] }); });
  const c = (await model.evaluateAsync(test.x, test.y)).accuracy;
  const be = await eg.ready();
  return {
    train: trainIdx.length, test: testIdx.length,
    accuracy: { scratch: a, frozen: b, fineTuned: c },
    seconds: { scratch: tA, frozen: tB, fineTuned: tC },
    cachedFeatures: cached,
    history: { frozen: historyB, fineTuned: historyC },
    trainData: train, testData: test,
    wasmPeakBytes: be.arena.peak, wasmMemoryBytes: be.memoryBytes(),
    model,
  };
}
