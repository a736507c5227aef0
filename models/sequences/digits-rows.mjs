// Sequence classification: the shipped digits read row by row, 28 steps of 28 pixels, by an LSTM (one
// output at the end of the sequence), against the LeNet-5-style CNN of the test suite and the bench
// (conv 5x5x6 same + pool, conv 5x5x16 + pool, dense 120, 84, 10) on the same split as the README's: the
// first 8,000 digits train, the last 2,000 test. Both: Adam 1e-3, batch 32, the same number of epochs,
// sparse categorical cross-entropy. Bar of issue 14: the LSTM reaches >= 97% of the CNN's test accuracy.
//
// `eg` is the library (the package, or its sources in tests). Run: node models/sequences/digits-rows.mjs
//   [--epochs 8] [--units 128] [--train 8000] [--quick]

export function lstmRows(eg, { units = 128, seed = 1 } = {}) {
  return eg.sequential([
    eg.layers.lstm({ units, inputShape: [28, 28], seed }),
    eg.layers.dense({ units: 10, activation: 'softmax', seed: seed + 2 }),
  ]);
}

export function lenet5(eg) {
  return eg.sequential([
    eg.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
    eg.layers.maxPool2d({ poolSize: 2 }),
    eg.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', seed: 2 }),
    eg.layers.maxPool2d({ poolSize: 2 }),
    eg.layers.flatten(),
    eg.layers.dense({ units: 120, activation: 'relu', seed: 3 }),
    eg.layers.dense({ units: 84, activation: 'relu', seed: 4 }),
    eg.layers.dense({ units: 10, activation: 'softmax', seed: 5 }),
  ]);
}

/** The share of the most frequent class among `labels`: the accuracy of always guessing it. */
export function majorityRate(labels) {
  const c = new Map();
  for (const l of labels) c.set(l, (c.get(l) ?? 0) + 1);
  return Math.max(...c.values()) / labels.length;
}

/**
 * Train the LSTM on digits as row sequences and the CNN on the same digits as images; test accuracies on
 * the test split. `nTrain` / `nTest` take the first of the 8,000 train and the first of the 2,000 test digits.
 */
export async function digitsRows(eg, { epochs = 8, units = 128, nTrain = 8000, nTest = 2000, models = ['lstm', 'cnn'], learningRate = 1e-3, clipNorm, seed = 7, log = () => {} } = {}) {
  const d = await eg.data.loadDigits();
  const labels = eg.tensor(d.labels, [d.count], 'int32');
  const imTr = eg.data.slice(d.images, 0, nTrain), imTe = eg.data.slice(d.images, 8000, 8000 + nTest);
  const yTr = eg.data.slice(labels, 0, nTrain), yTe = eg.data.slice(labels, 8000, 8000 + nTest);
  const out = { nTrain, nTest, epochs, chance: majorityRate(d.labels.subarray(8000, 8000 + nTest)), rows: [] };
  for (const kind of models) {
    const model = kind === 'lstm' ? lstmRows(eg, { units }) : lenet5(eg);
    const xTr = kind === 'lstm' ? imTr.reshape([nTrain, 28, 28]) : imTr, xTe = kind === 'lstm' ? imTe.reshape([nTest, 28, 28]) : imTe;
    model.compile({ optimizer: eg.optimizers.adam({ learningRate, ...(clipNorm ? { clipNorm } : {}) }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const t0 = performance.now();
    const h = await model.fit(xTr, yTr, {
      epochs, batchSize: 32, seed,
      callbacks: [{ onEpochEnd: (e, l) => log(`  ${kind} epoch ${e + 1}/${epochs}: loss ${l.loss.toFixed(4)}, accuracy ${(l.accuracy * 100).toFixed(1)}%`) }],
    });
    const seconds = (performance.now() - t0) / 1000;
    const { accuracy, loss } = model.evaluate(xTe, yTe);
    const params = model.getWeights().reduce((s, t) => s + t.size, 0);
    out.rows.push({ kind, accuracy, loss, trainLoss: h.history.loss.at(-1), seconds, params });
  }
  return out;
}

export function digitsTable(r) {
  const cnn = r.rows.find((x) => x.kind === 'cnn');
  const out = [
    `Digits ${r.nTrain} train (the first 8,000), ${r.nTest} test (the last 2,000); ${r.epochs} epochs each, Adam 1e-3, batch 32. Majority class of the test digits: ${(r.chance * 100).toFixed(1)}%.`,
    '',
    '| model | input | parameters | test accuracy | of the CNN\'s | final training loss | training time (s) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const x of r.rows) {
    out.push(`| ${x.kind === 'lstm' ? 'LSTM 128 + dense 10' : 'CNN (LeNet-5 style)'} | ${x.kind === 'lstm' ? '28 steps x 28 pixels' : '28x28x1 image'} | ${x.params} | ${(x.accuracy * 100).toFixed(2)}% | ${cnn ? ((x.accuracy / cnn.accuracy) * 100).toFixed(1) + '%' : '-'} | ${x.trainLoss.toFixed(4)} | ${x.seconds.toFixed(1)} |`);
  }
  return out.join('\n');
}

async function main() {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const eg = await import('../../dist/index.js');
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
  const quick = argv.includes('--quick');
  const be = await eg.ready({ threads: 1 });
  const epochs = Number(opt('epochs', quick ? 2 : 8)), units = Number(opt('units', 128)), nTrain = Number(opt('train', quick ? 2000 : 8000));
  console.log(`digits row by row: LSTM ${units} vs CNN, ${epochs} epochs; edgegrad ${be.build} build, Node ${process.version}`);
  const r = await digitsRows(eg, { epochs, units, nTrain, log: argv.includes('--verbose') ? console.log : () => {} });
  console.log('');
  console.log(digitsTable(r));
}

import { fileURLToPath } from 'node:url';
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
