// Structured (channel) pruning of the shipped digits CNN (models/digits-cnn.onnx: digits 0-4; trained on the
// 0-4 among the first 8,000 shipped digits, tested on the 0-4 among the last 2,000, as models/digits-cnn.json
// says), the small half of the issue 18 bar: to half its FLOPs, <= 2 points lost after recovery fine-tuning,
// ONNX Runtime agreeing, and the speed (a 2.2 MFLOP model: fixed costs per call weigh more than in MobileNetV2).
//
// For each criterion and allocation, the imported model is pruned in one shot (eg.pruning.pruneChannels),
// tested, fine-tuned as a layer of eg.sequential (Adam, every weight) for `epochs` on the training digits,
// and tested again. Speed: predict at batch 1 and 32, best of `runs`, unpruned and pruned in this process.
//
// `eg` is the library (the package, or its sources). Run: node models/compress/structured-digits.mjs
//   [--flops 0.5] [--multiple-of 1] [--epochs 2] [--json]
// It needs a dist/ built with eg.pruning.pruneChannels (npm run build); before that, bundle a runner that
// calls main(eg) with the sources (see RESULTS.md).

/** The digits 0-4 of the README's split: the first 8,000 train, the last 2,000 test. */
function split(eg, d) {
  const pick = (from, to) => { const idx = []; for (let n = from; n < to; n++) if (d.labels[n] < 5) idx.push(n); return idx; };
  const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32'), labels: Int32Array.from(idx, (i) => d.labels[i]) });
  return { train: take(pick(0, 8000)), test: take(pick(8000, d.count)) };
}

function accuracy(model, x, labels) {
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

const best = (f, runs) => { f(); let t = Infinity; for (let i = 0; i < runs; i++) { const t0 = performance.now(); f(); t = Math.min(t, performance.now() - t0); } return t; };

export async function structuredDigits(eg, {
  path = 'models/digits-cnn.onnx', flops = 0.5, multipleOf = 1, epochs = 2, learningRate = 3e-4, batchSize = 32, seed = 7, scoreExamples = 512,
  variants = [['l1', 'uniform'], ['taylor', 'uniform'], ['l1', 'sensitivity'], ['taylor', 'sensitivity']], runs1 = 200, runs32 = 50, log = () => {},
} = {}) {
  await eg.ready();
  const data = split(eg, await eg.data.loadDigits());
  const base = await eg.loadModel(path);
  const before = accuracy(base, data.test.x, data.test.labels);
  log(`digits CNN: test ${(before * 100).toFixed(2)}% on ${data.test.labels.length} digits 0-4`);
  const n = Math.min(scoreExamples, data.train.labels.length);
  const scoreData = { x: eg.data.slice(data.train.x, 0, n), y: eg.data.slice(data.train.y, 0, n) };
  const rows = [];
  for (const [criterion, allocation] of variants) {
    const { model, report } = await eg.pruning.pruneChannels(base, { flops, criterion, allocation, multipleOf, ...(criterion === 'taylor' ? { data: scoreData } : {}) });
    const pruned = accuracy(model, data.test.x, data.test.labels);
    // recovery: the pruned graph as a layer, every weight trained (the graph's own tensors)
    const tune = eg.sequential([model]);
    tune.compile({ optimizer: eg.optimizers.adam({ learningRate }), loss: 'sparseCategoricalCrossentropy' });
    await tune.fit(data.train.x, data.train.y, { epochs, batchSize, seed });
    tune.dispose();
    const recovered = accuracy(model, data.test.x, data.test.labels);
    const speed = {};
    for (const [b, runs] of [[1, runs1], [32, runs32]]) {
      const x = eg.data.slice(data.test.x, 0, b);
      const full = best(() => base.predict(x).dispose(), runs), small = best(() => model.predict(x).dispose(), runs);
      speed[`batch${b}`] = { baseMs: +full.toFixed(3), prunedMs: +small.toFixed(3), speedup: +(full / small).toFixed(2) };
    }
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(await eg.toOnnx(model));
    const xo = eg.data.slice(data.test.x, 0, 64);
    const theirs = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', xo.dataSync(), xo.shape) }))[session.outputNames[0]].data;
    const ours = model.predict(xo).dataSync();
    let err = 0, scale = 0;
    for (let i = 0; i < ours.length; i++) { err = Math.max(err, Math.abs(ours[i] - theirs[i])); scale = Math.max(scale, Math.abs(theirs[i])); }
    const row = {
      criterion, allocation, kept: report.layers.map((l) => `${l.name} ${l.kept}/${l.channels}`), flops: report.flops, params: report.params,
      pruned, recovered, lost: +((before - recovered) * 100).toFixed(2), speed, onnxMaxRelDiff: err / scale,
    };
    rows.push(row);
    log(`${criterion.padEnd(6)} ${allocation.padEnd(11)} ${row.kept.join(', ')}  FLOPs ${(report.flops.after / report.flops.before * 100).toFixed(1)}%  params ${report.params.after}/${report.params.before}  pruned ${(pruned * 100).toFixed(2)}%  recovered ${(recovered * 100).toFixed(2)}% (${row.lost >= 0 ? '-' : '+'}${Math.abs(row.lost).toFixed(2)})  batch 1 ${speed.batch1.speedup}x, batch 32 ${speed.batch32.speedup}x  ONNX Runtime ${row.onnxMaxRelDiff.toExponential(1)}`);
    model.dispose();
  }
  return { before, train: data.train.labels.length, test: data.test.labels.length, flops, multipleOf, epochs, rows };
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
  const res = await structuredDigits(eg, { flops: Number(arg('flops', 0.5)), multipleOf: Number(arg('multiple-of', 1)), epochs: Number(arg('epochs', 2)), log: json ? () => {} : (s) => console.log(s) });
  if (json) console.log(JSON.stringify(res, null, 2));
}

const { fileURLToPath } = await import('node:url');
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
