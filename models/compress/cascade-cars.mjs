// Cascade correlation on a small table: the origin (USA, Europe, Japan) of the 392 cars of the Auto MPG
// table (models/compress/data/cars.csv) from mpg, cylinders, displacement, horsepower, weight, acceleration
// and model year. Five splits (60% train, 20% validation, 20% test, shuffled with seeds 0-4; features
// standardized on the training rows), the same for every model; on each, with seed = split + 1:
//   (a) cascade correlation grown on train, stopped on validation loss (patience 3, at most 12 units);
//   (b) a hand-sized MLP 7-16-3 (tanh, softmax; Adam 0.01, batch 32, early stopping on validation loss with
//       the best weights restored), the kind of network one would pick for a table this size;
//   (c) the linear softmax model (cascade correlation's starting point, no hidden unit).
// Test accuracy and parameters of each, mean over the splits. `eg` is the library; `log` receives progress.
export async function cascadeCars(eg, { csv, splits = [0, 1, 2, 3, 4], maxUnits = 12, log = () => {} } = {}) {
  const rows = csv.trim().split('\n').slice(1).map((l) => l.split(','));
  const classes = ['USA', 'Europe', 'Japan'];
  const n = rows.length, d = 7;
  const nTrain = Math.round(0.6 * n), nVal = Math.round(0.2 * n);
  const out = { split: { train: nTrain, val: nVal, test: n - nTrain - nVal }, cascade: [], mlp: [], linear: [] };
  for (const split of splits) {
    const seed = split + 1, order = eg.data.permutation(n, split);
    const part = (a, b) => {
      const idx = Array.from(order.subarray(a, b));
      return {
        x: eg.tensor(idx.flatMap((i) => rows[i].slice(0, d).map(Number)), [idx.length, d]),
        y: eg.tensor(Int32Array.from(idx, (i) => classes.indexOf(rows[i][d])), [idx.length], 'int32'),
      };
    };
    const raw = { train: part(0, nTrain), val: part(nTrain, nTrain + nVal), test: part(nTrain + nVal, n) };
    const std = eg.data.fitStandardizer(raw.train.x);
    const [train, val, test] = [raw.train, raw.val, raw.test].map((s) => ({ x: std.transform(s.x), y: s.y }));
    const cc = await eg.cascadeCorrelation(train.x, train.y, { validationData: [val.x, val.y], maxUnits, patience: 3, seed });
    const ccTest = cc.model.evaluate(test.x, test.y);
    out.cascade.push({ split, seed, units: cc.units, params: cc.model.countParams(), testAccuracy: ccTest.accuracy, history: cc.history });
    out.linear.push({ split, seed, params: (d + 1) * 3, valAccuracy: cc.history[0].valAccuracy });
    log(`split ${split}: cascade ${cc.units} units (${cc.model.countParams()} params), test ${(ccTest.accuracy * 100).toFixed(1)}%; per unit val acc ${cc.history.map((s) => (s.valAccuracy * 100).toFixed(1)).join(' ')}`);

    const mlp = eg.sequential([
      eg.layers.dense({ units: 16, activation: 'tanh', inputShape: [d], seed }),
      eg.layers.dense({ units: 3, activation: 'softmax', seed: seed + 100 }),
    ]);
    mlp.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const stop = eg.callbacks.earlyStopping({ monitor: 'val_loss', patience: 20, restoreBestWeights: true });
    await mlp.fit(train.x, train.y, { epochs: 400, batchSize: 32, seed, validationData: [val.x, val.y], callbacks: [stop] });
    const mlpTest = mlp.evaluate(test.x, test.y);
    out.mlp.push({ split, seed, params: mlp.countParams(), testAccuracy: mlpTest.accuracy, bestEpoch: stop.bestEpoch });
    log(`split ${split}: MLP 7-16-3 (${mlp.countParams()} params), test ${(mlpTest.accuracy * 100).toFixed(1)}% (best epoch ${stop.bestEpoch})`);

    // the linear model alone, trained by the same output phase as cascade correlation's start: its test accuracy
    const lin = await eg.cascadeCorrelation(train.x, train.y, { maxUnits: 0, seed });
    out.linear.at(-1).testAccuracy = lin.model.evaluate(test.x, test.y).accuracy;
  }
    const mean = (a, k) => a.reduce((s, r) => s + r[k], 0) / a.length;
  out.mean = {
    cascade: { testAccuracy: mean(out.cascade, 'testAccuracy'), units: mean(out.cascade, 'units'), params: mean(out.cascade, 'params') },
    mlp: { testAccuracy: mean(out.mlp, 'testAccuracy'), params: out.mlp[0].params },
    linear: { testAccuracy: mean(out.linear, 'testAccuracy'), params: out.linear[0].params },
    };
  return out;
}

/**
 * The two-spirals problem (Lang & Witbrock 1988), the benchmark of the cascade-correlation paper: 194 points
 * on two interleaved spirals, classified by which spiral they lie on (training accuracy, as in the paper).
 * Cascade correlation grows until every point is right; the MLP 2-16-16-2 (tanh, Adam 0.01, full batch) is the
 * plain backpropagation network of about the same size, trained for `mlpEpochs`.
 */
export async function twoSpirals(eg, { seed = 1, maxUnits = 25, mlpEpochs = 3000, log = () => {} } = {}) {
  const xs = [], ys = [];
  for (let i = 0; i < 97; i++) {
    const a = (i * Math.PI) / 16, r = (104 - i) / 104;
    xs.push(r * Math.sin(a), r * Math.cos(a), -r * Math.sin(a), -r * Math.cos(a));
    ys.push(0, 1);
  }
  const x = eg.tensor(xs, [194, 2]), y = eg.tensor(Int32Array.from(ys), [194], 'int32');
  let solvedAt = -1;
  const cc = await eg.cascadeCorrelation(x, y, {
    maxUnits, patience: maxUnits, seed, outputEpochs: 500, candidateEpochs: 500,
    onUnit: (s) => { log(`spirals: ${s.units} units, loss ${s.loss.toFixed(4)}, accuracy ${(s.accuracy * 100).toFixed(1)}%`); if (s.accuracy === 1 && solvedAt < 0) solvedAt = s.units; },
  });
  const mlp = eg.sequential([
    eg.layers.dense({ units: 16, activation: 'tanh', inputShape: [2], seed }),
    eg.layers.dense({ units: 16, activation: 'tanh', seed: seed + 1 }),
    eg.layers.dense({ units: 2, activation: 'softmax', seed: seed + 2 }),
  ]);
  mlp.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const h = await mlp.fit(x, y, { epochs: mlpEpochs, batchSize: 194, seed });
  const mlpAcc = h.history.accuracy.at(-1), mlpSolved = h.history.accuracy.findIndex((a) => a === 1);
  log(`spirals: MLP 2-16-16-2 (${mlp.countParams()} params) accuracy ${(mlpAcc * 100).toFixed(1)}% after ${mlpEpochs} epochs${mlpSolved >= 0 ? `, first 100% at epoch ${mlpSolved + 1}` : ''}`);
  const paramsAt = (k) => Array.from({ length: k }, (_, j) => 3 + j).reduce((a, b) => a + b, 0) + (2 + k + 1) * 2;
  return {
    cascade: { solvedAtUnits: solvedAt, params: solvedAt >= 0 ? paramsAt(solvedAt) : undefined, history: cc.history.map((s) => ({ units: s.units, loss: s.loss, accuracy: s.accuracy })) },
    mlp: { params: mlp.countParams(), epochs: mlpEpochs, accuracy: mlpAcc, firstPerfectEpoch: mlpSolved >= 0 ? mlpSolved + 1 : undefined },
  };
}

async function main() {
    const eg = await import(process.env.EDGEGRAD_MODULE ?? '../../dist/index.js');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const here = new URL('.', import.meta.url);
  await eg.ready({ backend: 'wasm' });
    const t0 = performance.now();
    const r = await cascadeCars(eg, { csv: readFileSync(new URL('data/cars.csv', here), 'utf8'), log: console.log });
    const pct = (v) => `${(v * 100).toFixed(1)}%`;
  console.log(`split ${r.split.train}/${r.split.val}/${r.split.test}; mean over ${r.cascade.length} splits:`);
  console.log(`  linear softmax      ${r.mean.linear.params} params   test ${pct(r.mean.linear.testAccuracy)}`);
  console.log(`  cascade correlation ${r.mean.cascade.units.toFixed(1)} units, ${r.mean.cascade.params.toFixed(0)} params   test ${pct(r.mean.cascade.testAccuracy)}`);
  console.log(`  MLP 7-16-3          ${r.mean.mlp.params} params   test ${pct(r.mean.mlp.testAccuracy)}`);
  const t1 = performance.now();
  const sp = await twoSpirals(eg, { log: console.log });
  console.log(`two spirals: cascade correlation ${sp.cascade.solvedAtUnits} units (${sp.cascade.params} params) to 100%; MLP 2-16-16-2 (${sp.mlp.params} params) ${pct(sp.mlp.accuracy)} after ${sp.mlp.epochs} epochs`);
  console.log(`(cars ${((t1 - t0) / 1000).toFixed(1)} s, spirals ${((performance.now() - t1) / 1000).toFixed(1)} s)`);
  writeFileSync(new URL('cascade-cars.json', here), JSON.stringify({ cars: r, spirals: sp }, null, 1) + '\n');
}

import { fileURLToPath } from 'node:url';
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
