// How many layers to reuse, measured: the cut-depth sweep (eg.transfer.sweepCuts) of a shipped backbone on the
// digits 5-9 with `perClass` labelled examples each (drawn at random among the first 8,000; `draws` draws).
// For each draw: (1) the sweep as a user runs it, choosing on a 20% validation split of the labelled examples
// alone, (1b) the same with 5-fold cross-validation over all of them (`folds: 5`), and (2) each cut's test accuracy (the same softmax head trained on all the labelled examples, scored
// on `testCount` digits 5-9 among the last 2,000). Backbones: 'digits' (models/digits-cnn.onnx, trained on
// 0-4) or 'mobilenet' (models/mobilenet-v2-features.onnx, ImageNet; digits resized to 224x224 RGB).
// `eg` is the library (the package, or its sources in tests); `log` receives progress lines.
// node models/sweep-cuts.mjs [digits|mobilenet]   (after npm run build)
export async function sweepDigits(eg, { backbone = 'digits', perClass = 20, draws = 3, testCount = 1000, epochs = 30, candidates, log = () => {} } = {}) {
  await eg.ready();
  const d = await eg.data.loadDigits();
  const base = await eg.loadModel(backbone === 'mobilenet' ? 'models/mobilenet-v2-features.onnx' : 'models/digits-cnn.onnx');
  const cands = candidates ?? (backbone === 'mobilenet'
    ? ['block_1_project_BN', 'block_3_project_BN', 'block_6_project_BN', 'block_9_add', 'block_13_project_BN', 'block_16_project_BN', 'out_relu/relu6'].filter((c) => base.nodeNames.includes(c))
    : await eg.transfer.cutCandidates(base));
  // the backbone's input: the digits as they are, or resized to 224x224 and made RGB (in batches, once)
  const prep = backbone === 'mobilenet' ? eg.sequential([eg.layers.resizing({ height: 224, width: 224, inputShape: [28, 28, 1] }), eg.layers.grayscaleToRgb()]) : undefined;
  const input = (idx) => {
    const x = eg.data.gather(d.images, idx);
    if (!prep) return x;
    const y = prep.predict(x, { batchSize: 32 });
    x.dispose();
    return y;
  };
  const labels = (idx) => eg.tensor(Int32Array.from(idx, (i) => d.labels[i] - 5), [idx.length], 'int32');
  const testIdx = [];
  for (let n = 8000; n < d.count && testIdx.length < testCount; n++) if (d.labels[n] >= 5) testIdx.push(n);
  const test = { x: input(testIdx), y: labels(testIdx) };
  const runs = [];
  for (let draw = 0; draw < draws; draw++) {
    // perClass examples of each digit 5-9, at random among the first 8,000; interleaved by class so that the
    // 20% validation split (taken from the end) holds every class
    const order = eg.data.permutation(8000, 100 + draw), byClass = [[], [], [], [], []];
    for (const n of order) if (d.labels[n] >= 5 && byClass[d.labels[n] - 5].length < perClass) byClass[d.labels[n] - 5].push(n);
    const idx = byClass[0].flatMap((_, k) => byClass.map((c) => c[k]));
    const train = { x: input(idx), y: labels(idx) };
    const t0 = performance.now();
    const chosen = await eg.transfer.sweepCuts(base, train.x, train.y, { candidates: cands, validationSplit: 0.2, epochs, seed: draw + 1 });
    const sweepSeconds = (performance.now() - t0) / 1000;
    const cv = await eg.transfer.sweepCuts(base, train.x, train.y, { candidates: cands, folds: 5, epochs, seed: draw + 1 });
    const onTest = await eg.transfer.sweepCuts(base, train.x, train.y, { candidates: cands, validationData: [test.x, test.y], epochs, seed: draw + 1 });
    log(`draw ${draw + 1}: validation picks '${chosen.best.cut}' (${(chosen.best.valAccuracy * 100).toFixed(1)}% on ${chosen.validation}) in ${sweepSeconds.toFixed(1)} s, 5-fold picks '${cv.best.cut}' (${(cv.best.valAccuracy * 100).toFixed(1)}%); on test: ${onTest.rows.map((r) => `${r.cut} ${(r.valAccuracy * 100).toFixed(1)}%`).join(', ')}`);
    runs.push({ chosen, cv, onTest, sweepSeconds });
    train.x.dispose(); train.y.dispose();
  }
  const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  const rows = cands.map((cut) => {
    const at = (s) => s.rows.find((r) => r.cut === cut);
    const r0 = at(runs[0].onTest);
    return {
      cut, featureShape: r0.featureShape, pool: r0.pool, params: r0.params,
      validation: mean(runs.map((r) => at(r.chosen).valAccuracy)), cv: mean(runs.map((r) => at(r.cv).valAccuracy)), test: mean(runs.map((r) => at(r.onTest).valAccuracy)),
      picked: runs.filter((r) => r.chosen.best.cut === cut).length, pickedCv: runs.filter((r) => r.cv.best.cut === cut).length,
    };
  });
  const picked = mean(runs.map((r) => r.onTest.rows.find((x) => x.cut === r.chosen.best.cut).valAccuracy));
  const pickedCv = mean(runs.map((r) => r.onTest.rows.find((x) => x.cut === r.cv.best.cut).valAccuracy));
  return { backbone, perClass, draws, test: testIdx.length, rows, pickedTest: picked, pickedCvTest: pickedCv, bestTest: Math.max(...rows.map((r) => r.test)), sweepSeconds: mean(runs.map((r) => r.sweepSeconds)) };
}

// run directly: print the table
if (import.meta.url === `file://${process.argv[1]}`) {
  const eg = await import('edgegrad');
  const which = process.argv[2] ?? 'digits';
  const r = await sweepDigits(eg, { backbone: which, ...(which === 'mobilenet' ? { draws: 1, testCount: 250 } : {}), log: (l) => console.log(l) });
  console.log(`\n${r.backbone}, digits 5-9, ${r.perClass} labels per class, ${r.draws} draws, ${r.test} test digits`);
  console.log(`| cut | features | head | head params | validation (20% of labels) | 5-fold | test | picked (split / 5-fold) |`);
  console.log(`| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |`);
  for (const x of r.rows) console.log(`| \`${x.cut}\` | ${x.featureShape.join('x')} | ${x.pool} | ${x.params} | ${(x.validation * 100).toFixed(1)} | ${(x.cv * 100).toFixed(1)} | ${(x.test * 100).toFixed(1)} | ${x.picked} / ${x.pickedCv} of ${r.draws} |`);
  console.log(`the split's pick scores ${(r.pickedTest * 100).toFixed(1)}% on test, the 5-fold pick ${(r.pickedCvTest * 100).toFixed(1)}% (best cut ${(r.bestTest * 100).toFixed(1)}%); a sweep takes ${r.sweepSeconds.toFixed(1)} s`);
}
