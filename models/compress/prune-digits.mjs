// Unstructured pruning of the shipped digits CNN (models/digits-cnn.onnx: digits 0-4; trained on the 0-4
// among the first 8,000 shipped digits, tested on the 0-4 among the last 2,000, as models/digits-cnn.json
// and the README say). Bars of issue 18: pruned to 70% of its dense and conv kernels, it loses at most one
// point of test accuracy after recovery fine-tuning; Optimal Brain Damage beats magnitude pruning at the
// same sparsity before recovery.
//
// For each sparsity and method, a fresh copy of the model is pruned in one shot and tested (before
// recovery), then fine-tuned on the training digits with the masks held (Adam, all layers) and tested
// again. Methods: magnitude per layer (each kernel loses the same share; TF-MOT's default), magnitude
// global (one |w| threshold over all kernels), OBD global (saliency ½·h·w², h the Gauss-Newton diagonal of
// the cross-entropy on `calibration` training digits) and OBD per layer. Also the gradual recipe: magnitude
// pruning on a polynomial-decay schedule (0 -> 70%) during the fine-tuning itself.
//
// `eg` is the library (the package, or its sources in tests). Run: node models/compress/prune-digits.mjs
//   [--model models/digits-cnn.onnx] [--sparsities 0.5,0.7,0.8,0.9] [--epochs 2] [--calibration 1024] [--lr 3e-4] [--quick] [--json] [--out FILE.json]
// It needs a dist/ built with the pruning code (npm run build); on an older dist, bundle the sources (see RESULTS.md).

/** The digits 0-4 of the README's split: the first 8,000 train, the last 2,000 test. */
export async function digitsSplit(eg) {
  const d = await eg.data.loadDigits();
  const pick = (from, to) => { const idx = []; for (let n = from; n < to; n++) if (d.labels[n] < 5) idx.push(n); return idx; };
  const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32'), labels: Int32Array.from(idx, (i) => d.labels[i]) });
  return { train: take(pick(0, 8000)), test: take(pick(8000, d.count)) };
}

/** Share of rows of a [n, classes] prediction whose arg max is the label. */
export function accuracy(eg, model, x, labels) {
  const p = model.predict(x), v = p.dataSync(), k = p.shape[1];
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (v[i * k + c] > v[i * k + best]) best = c;
    if (best === labels[i]) right++;
  }
  p.dispose();
  return right / labels.length;
}

/** Prune the model at `path` with `method` to `sparsity` in one shot, then recover; accuracies and timings. */
export async function pruneOnce(eg, path, data, { method, sparsity, epochs = 2, learningRate = 3e-4, calibration = 1024, seed = 7, batchSize = 32 }) {
  const model = await eg.loadModel(path);
  const t0 = performance.now();
  let p;
  if (method === 'magnitude-layer' || method === 'magnitude-global') {
    p = eg.pruning.pruneLowMagnitude(model, { scope: method.endsWith('global') ? 'global' : 'layer', schedule: eg.pruning.constantSparsity({ targetSparsity: sparsity }) });
    p.prune(sparsity);
  } else if (method === 'obd-global' || method === 'obd-layer') {
    p = await eg.pruning.obd(model, { x: eg.data.slice(data.train.x, 0, calibration), sparsity, scope: method.endsWith('global') ? 'global' : 'layer' });
  } else if (method === 'gradual') {
    // the schedule reaches the sparsity at 2/3 of the fine-tuning, then the masks stay
    const steps = Math.ceil(data.train.labels.length / batchSize) * epochs, end = Math.floor((2 * steps) / 3 / 10) * 10;
    p = eg.pruning.pruneLowMagnitude(model, { schedule: eg.pruning.polynomialDecay({ initialSparsity: 0, finalSparsity: sparsity, beginStep: 0, endStep: end, frequency: 10 }) });
  } else {
    throw new Error(`unknown method '${method}'`);
  }
  const pruneSeconds = (performance.now() - t0) / 1000;
  const pruned = accuracy(eg, model, data.test.x, data.test.labels);
  const net = eg.sequential([model]);
  net.compile({ optimizer: eg.optimizers.adam({ learningRate }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const t1 = performance.now();
  await net.fit(data.train.x, data.train.y, { epochs, batchSize, seed, callbacks: [p] });
  const recoverSeconds = (performance.now() - t1) / 1000;
  eg.pruning.stripPruning(p);
  const recovered = accuracy(eg, model, data.test.x, data.test.labels);
  const rows = eg.pruning.sparsity(model);
  const zeros = rows.reduce((s, r) => s + r.zeros, 0), size = rows.reduce((s, r) => s + r.size, 0);
  net.dispose();
  return { method, sparsity, pruned: method === 'gradual' ? null : pruned, recovered, achieved: zeros / size, perLayer: Object.fromEntries(rows.map((r) => [r.layer, +r.sparsity.toFixed(4)])), pruneSeconds, recoverSeconds, model };
}

export async function pruneDigits(eg, { path = new URL('../digits-cnn.onnx', import.meta.url).pathname, sparsities = [0.5, 0.7, 0.8, 0.9], methods = ['magnitude-layer', 'magnitude-global', 'obd-global', 'obd-layer'], gradualAt = [0.7], log = () => {}, ...opts } = {}) {
  const data = await digitsSplit(eg);
  const base = await eg.loadModel(path);
  const before = accuracy(eg, base, data.test.x, data.test.labels);
  log(`digits-cnn: ${(before * 100).toFixed(2)}% on ${data.test.labels.length} test digits 0-4 (${data.train.labels.length} training digits)`);
  const rows = [];
  for (const sparsity of sparsities) {
    for (const method of [...methods, ...(gradualAt.includes(sparsity) ? ['gradual'] : [])]) {
      const r = await pruneOnce(eg, path, data, { ...opts, method, sparsity });
      delete r.model;
      rows.push(r);
      log(`  ${(sparsity * 100).toFixed(0)}% ${method.padEnd(16)} pruned ${r.pruned === null ? '   -  ' : `${(r.pruned * 100).toFixed(2)}%`}  recovered ${(r.recovered * 100).toFixed(2)}%  (achieved ${(r.achieved * 100).toFixed(1)}%; prune ${r.pruneSeconds.toFixed(1)} s, recovery ${r.recoverSeconds.toFixed(1)} s)`);
    }
  }
  return { before, test: data.test.labels.length, train: data.train.labels.length, rows };
}

async function main() {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const eg = globalThis.__edgegrad ?? await import('../../dist/index.js');
  if (!eg.pruning) throw new Error('this dist/ has no eg.pruning: run npm run build first');
  const argv = process.argv.slice(2);
  const arg = (name, d) => { const i = argv.indexOf(`--${name}`); return i < 0 ? d : argv[i + 1]; };
  const quick = argv.includes('--quick');
  await eg.ready();
  const res = await pruneDigits(eg, {
    ...(arg('model') ? { path: arg('model') } : {}),
    sparsities: arg('sparsities', quick ? '0.7' : '0.5,0.7,0.8,0.9').split(',').map(Number),
    epochs: Number(arg('epochs', quick ? 1 : 2)), calibration: Number(arg('calibration', 1024)), learningRate: Number(arg('lr', 3e-4)),
    log: argv.includes('--json') ? () => {} : (s) => console.log(s),
  });
  if (argv.includes('--json')) console.log(JSON.stringify(res, null, 2));
  if (arg('out')) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(arg('out'), JSON.stringify({ command: `node models/compress/prune-digits.mjs ${argv.join(' ')}`, ...res }, null, 2) + '\n');
  }
}

// run as a script (node models/compress/prune-digits.mjs), or from a bundle of the sources that sets
// globalThis.__edgegrad (the library) and __edgegradMain; not when a test imports it
if (typeof process !== 'undefined' && (/prune-digits\.mjs$/.test(process.argv[1] ?? '') || globalThis.__edgegradMain)) await main();
