// Time-series prediction on real data that Debian's python3-vega-datasets ships (public domain; copied from
// /usr/lib/python3/dist-packages/vega_datasets/_data/ to data/ so a fresh clone has them):
//   hourly  seattle-temps.csv: 8,759 hourly temperatures (F) labelled 2010. The series is very smooth and
//           nearly the same from one day to the next (37.5-75.9 F over the year, no hour below freezing):
//           it looks like NOAA hourly climate normals (30-year averages), not one year's weather.
//           Task: the next hour from the last 24 hours.
//   daily   seattle-weather.csv: 1,461 days of observed weather 2012-2015 (max / min temperature C,
//           precipitation mm, wind m/s). Task: the next day's maximum temperature from the last 14 days of
//           all four.
// Both series are split in time: windows whose target lies in the first 80% train (the last eighth of those
// validates, for the choice of epoch), the last 20% of the series is the test set. Models:
//   persistence     the last observed value of the target (the baseline every forecaster has to beat)
//   seasonal naive  (hourly) the value 24 hours before the target: the same hour yesterday
//   linear          least squares on the window (the best linear autoregressive model, float64 normal equations)
//   MLP             dense 64 (ReLU), dense 1 on the window
//   LSTM            LSTM 32 on the window as steps of features, dense 1
// The nets predict the change from the last observed target value (persistence plus a learned correction);
// each input feature has its last value subtracted (the target) or is standardized (the others), with
// statistics of the training part. Each net trains a fixed number of epochs and is tested with the weights
// of its best validation epoch.
//
// `eg` is the library (the package, or its sources in tests). Run: node models/sequences/temperature.mjs [--quick]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'data');

/** A CSV with a date column first and numeric columns `cols`, in time order: { n, F, v: Float64Array [n * F] }. */
export function loadCsv(file, cols) {
  const path = join(DIR, file);
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const head = lines[0].trim().split(',');
  const idx = cols.map((c) => {
    const i = head.indexOf(c);
    if (i < 0) throw new Error(`${path}: no column '${c}' (header: ${lines[0]})`);
    return i;
  });
  const n = lines.length - 1, F = cols.length, v = new Float64Array(n * F);
  let prev = -Infinity;
  for (let r = 1; r < lines.length; r++) {
    const f = lines[r].split(',');
    const t = Date.parse(f[0].replace(/\//g, '-').replace(' ', 'T') + (f[0].includes(':') ? ':00Z' : 'T00:00:00Z'));
    if (!(t > prev)) throw new Error(`${path}:${r + 1}: dates not increasing at '${f[0]}'`);
    prev = t;
    idx.forEach((i, j) => {
      const x = Number(f[i]);
      if (!Number.isFinite(x)) throw new Error(`${path}:${r + 1}: '${f[i]}' in column ${cols[j]} is not a number`);
      v[(r - 1) * F + j] = x;
    });
  }
  return { n, F, v };
}

export const DATASETS = {
  hourly: () => ({ name: 'hourly', ...loadCsv('seattle-temps.csv', ['temp']), target: 0, w: 24, unit: 'F', season: 24 }),
  daily: () => ({ name: 'daily', ...loadCsv('seattle-weather.csv', ['temp_max', 'temp_min', 'precipitation', 'wind']), target: 0, w: 14, unit: 'C' }),
};

/**
 * Windows of `w` steps and the next step's target, split in time (targets with index < 0.8 n train, the
 * last `valFraction` of those validate, the rest test). x [m, w, F]: the target feature minus its last value
 * over the scale (the standard deviation of its one-step changes in the training part), the other features
 * standardized; y: the change of the target over the scale; last, target: in the data's units.
 */
export function windows(ds, { testFraction = 0.2, valFraction = 1 / 8 } = {}) {
  const { n, F, v, target: tc, w } = ds;
  const cut = Math.floor(n * (1 - testFraction));
  let s = 0;
  for (let i = 1; i < cut; i++) s += (v[i * F + tc] - v[(i - 1) * F + tc]) ** 2;
  const scale = Math.sqrt(s / (cut - 1));
  const mean = new Float64Array(F), std = new Float64Array(F);
  for (let f = 0; f < F; f++) {
    for (let i = 0; i < cut; i++) mean[f] += v[i * F + f] / cut;
    for (let i = 0; i < cut; i++) std[f] += (v[i * F + f] - mean[f]) ** 2 / cut;
    std[f] = Math.sqrt(std[f]) || 1;
  }
  const make = (from, to) => {
    const m = to - from, x = new Float32Array(m * w * F), y = new Float32Array(m), last = new Float64Array(m), target = new Float64Array(m), season = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const t = from + k, l = v[(t - 1) * F + tc];
      for (let j = 0; j < w; j++) {
        for (let f = 0; f < F; f++) {
          const x0 = v[(t - w + j) * F + f];
          x[(k * w + j) * F + f] = f === tc ? (x0 - l) / scale : (x0 - mean[f]) / std[f];
        }
      }
      y[k] = (v[t * F + tc] - l) / scale; last[k] = l; target[k] = v[t * F + tc];
      if (ds.season) season[k] = v[(t - ds.season) * F + tc];
    }
    return { x, y, last, target, season, n: m };
  };
  const first = Math.max(w, ds.season ?? 0);
  const valFrom = cut - Math.floor((cut - first) * valFraction);
  return { w, F, scale, cut, train: make(first, valFrom), val: make(valFrom, cut), test: make(cut, n) };
}

export function mae(pred, target) {
  let s = 0;
  for (let i = 0; i < target.length; i++) s += Math.abs(pred[i] - target[i]);
  return s / target.length;
}

/** Train a net on the windows; returns its predictions (data units) on the test windows at its best validation epoch. */
export async function trainNet(eg, kind, data, { epochs = 20, batchSize = 32, learningRate = 1e-3, seed = 1, log = () => {} } = {}) {
  const { w, F, train, val, test, scale } = data;
  const shape = kind === 'lstm' ? [w, F] : [w * F];
  const layers = {
    linear: () => [eg.layers.dense({ units: 1, inputShape: shape, seed })],
    mlp: () => [eg.layers.dense({ units: 64, activation: 'relu', inputShape: shape, seed }), eg.layers.dense({ units: 1, seed: seed + 1 })],
    lstm: () => [eg.layers.lstm({ units: 32, inputShape: shape, seed }), eg.layers.dense({ units: 1, seed: seed + 1 })],
  }[kind]();
  const model = eg.sequential(layers);
  model.compile({ optimizer: eg.optimizers.adam({ learningRate, clipNorm: 1 }), loss: 'meanSquaredError' });
  const X = (d) => eg.tensor(d.x, [d.n, ...shape]);
  const xTr = X(train), yTr = eg.tensor(train.y, [train.n, 1]), xVal = X(val), xTe = X(test);
  const toUnits = (p, d) => Float64Array.from(p, (q, i) => d.last[i] + q * scale);
  let best = { mae: Infinity, epoch: -1, weights: null };
  const t0 = performance.now();
  for (let e = 0; e < epochs; e++) {
    await model.fit(xTr, yTr, { epochs: 1, batchSize, seed: seed + e });
    const v = mae(toUnits(model.predict(xVal, { batchSize: 512 }).dataSync(), val), val.target);
    log(`  ${kind} epoch ${e + 1}/${epochs}: validation MAE ${v.toFixed(3)}`);
    if (v < best.mae) best = { mae: v, epoch: e + 1, weights: model.getWeights().map((t) => eg.tensor(t.dataSync().slice(), t.shape)) };
  }
  const seconds = (performance.now() - t0) / 1000;
  model.setWeights(best.weights);
  const pred = toUnits(model.predict(xTe, { batchSize: 512 }).dataSync(), test);
  return { kind, pred, valMae: best.mae, bestEpoch: best.epoch, epochs, seconds, params: model.getWeights().reduce((s, t) => s + t.size, 0) };
}

/**
 * Ordinary least squares of the target's change on the window (float64 normal equations with an intercept,
 * solved by Gaussian elimination): the best linear autoregressive predictor on the training windows.
 */
export function leastSquares(data) {
  const { train, test } = data, D = data.w * data.F + 1;
  const A = Array.from({ length: D }, () => new Float64Array(D + 1));
  for (let k = 0; k < train.n; k++) {
    const row = [...train.x.subarray(k * (D - 1), (k + 1) * (D - 1)), 1];
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) A[i][j] += row[i] * row[j];
      A[i][D] += row[i] * train.y[k];
    }
  }
  for (let i = 0; i < D; i++) A[i][i] += 1e-9 * train.n;
  for (let c = 0; c < D; c++) {
    let p = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    for (let r = 0; r < D; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let j = c; j <= D; j++) A[r][j] -= f * A[c][j];
    }
  }
  const beta = A.map((r, i) => r[D] / r[i]);
  const pred = new Float64Array(test.n);
  for (let k = 0; k < test.n; k++) {
    let v = beta[D - 1];
    for (let i = 0; i < D - 1; i++) v += beta[i] * test.x[k * (D - 1) + i];
    pred[k] = test.last[k] + v * data.scale;
  }
  return { pred, params: D };
}

export async function temperatureExperiment(eg, { dataset = 'hourly', epochs = 20, kinds = ['mlp', 'lstm'], seeds = [1, 2, 3], log = () => {} } = {}) {
  const ds = DATASETS[dataset]();
  const data = windows(ds);
  const rows = [{ kind: 'persistence', testMae: mae(data.test.last, data.test.target), params: 0 }];
  if (ds.season) rows.push({ kind: `seasonal naive (${ds.season} steps back)`, testMae: mae(data.test.season, data.test.target), params: 0 });
  const ls = leastSquares(data);
  rows.push({ kind: 'linear (least squares)', testMae: mae(ls.pred, data.test.target), params: ls.params });
  for (const kind of kinds) {
    const runs = [];
    for (const seed of seeds) {
      const r = await trainNet(eg, kind, data, { epochs, seed, log });
      runs.push({ ...r, testMae: mae(r.pred, data.test.target) });
    }
    const m = runs.reduce((s, r) => s + r.testMae, 0) / runs.length;
    rows.push({
      kind, testMae: m, params: runs[0].params, epochs, seeds: runs.length,
      range: [Math.min(...runs.map((r) => r.testMae)), Math.max(...runs.map((r) => r.testMae))],
      bestEpoch: runs.map((r) => r.bestEpoch).join(', '), seconds: runs.reduce((s, r) => s + r.seconds, 0) / runs.length,
    });
  }
  return { dataset, unit: ds.unit, steps: ds.n, w: ds.w, F: ds.F, train: data.train.n, val: data.val.n, test: data.test.n, scale: data.scale, rows };
}

export function temperatureTable(r) {
  const what = r.dataset === 'hourly'
    ? `Seattle hourly temperature (seattle-temps.csv), ${r.steps} hours; 24 h window -> next hour`
    : `Seattle daily weather 2012-2015 (seattle-weather.csv), ${r.steps} days; 14-day window of max/min temperature, precipitation, wind -> next day's max temperature`;
  const other = r.unit === 'F' ? 'C' : 'F';
  const conv = (d) => (r.unit === 'F' ? d * 5 / 9 : d * 9 / 5);
  const out = [
    `${what}; train ${r.train}, validation ${r.val} (the end of the first 80%), test ${r.test} (the last 20% of the series). Nets: mean over seeds (range), weights of the best validation epoch.`,
    '',
    `| model | parameters | test MAE (${r.unit}) | range over seeds | test MAE (${other}) | vs persistence | best epochs (of) | training time per net (s) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const p = r.rows[0].testMae;
  for (const row of r.rows) {
    out.push(`| ${row.kind === 'mlp' ? 'MLP (dense 64 ReLU, dense 1)' : row.kind === 'lstm' ? 'LSTM 32, dense 1' : row.kind} | ${row.params} | ${row.testMae.toFixed(3)} | ${row.range ? `${row.range[0].toFixed(3)}-${row.range[1].toFixed(3)} (${row.seeds} seeds)` : '-'} | ${conv(row.testMae).toFixed(3)} | ${(row.testMae / p).toFixed(3)} | ${row.bestEpoch ? `${row.bestEpoch} (${row.epochs})` : '-'} | ${row.seconds ? row.seconds.toFixed(row.seconds < 1 ? 2 : 1) : "-"} |`);
  }
  return out.join('\n');
}

async function main() {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const eg = await import('../../dist/index.js');
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const be = await eg.ready({ threads: 1 });
  const epochs = quick ? 5 : 20;
  console.log(`time series: ${epochs} epochs per net, Adam 1e-3, clipNorm 1, batch 32; edgegrad ${be.build} build, Node ${process.version}`);
  for (const dataset of ['hourly', 'daily']) {
    const r = await temperatureExperiment(eg, { dataset, epochs, log: argv.includes('--verbose') ? console.log : () => {} });
    console.log('');
    console.log(temperatureTable(r));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
