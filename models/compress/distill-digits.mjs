// Distillation on the digits: the shipped digits CNN (models/digits-cnn.onnx, 105,541 parameters, digits
// 0-4) teaches a student MLP 784-32-5 (25,285 parameters, 24% of the teacher's) that has only `labels`
// labelled images (the first labels/5 of each digit 0-4 among the first 8,000, the README's training part).
// (--cnn: a tiny CNN student instead.) Tested on the 1,131 digits 0-4 among the last 2,000. Per seed, the
// same student (same initial weights) is
//   (a) trained on the labels alone (sparse cross-entropy, Adam 1e-3, batch 32, `labelEpochs` epochs);
//   (b) distilled on the same labelled images only (T, alpha; `labelEpochs` epochs);
//   (c) distilled on the same labelled images plus the other digits 0-4 among the first 8,000 without their
//       labels (the soft loss alone on those; `unlabeledEpochs` epochs over the larger set).
// Test accuracy of each, mean over seeds. `eg` is the library; `log` receives progress lines.
export async function distillDigits(eg, { modelPath = 'models/digits-cnn.onnx', labels = 500, seeds = [1, 2, 3], temperature = 4, alpha = 0.9, labelEpochs = 60, unlabeledEpochs = 12, hidden = 32, student: kind = 'mlp', log = () => {} } = {}) {
  const d = await eg.data.loadDigits();
  const teacher = await eg.loadModel(modelPath);
  const per = labels / 5, seen = new Array(5).fill(0), lab = [], unl = [], test = [];
  for (let n = 0; n < d.count; n++) {
    const l = d.labels[n];
    if (l >= 5) continue;
    if (n >= 8000) test.push(n);
    else if (seen[l]++ < per) lab.push(n);
    else unl.push(n);
  }
  const take = (idx) => ({ x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32') });
  const L = take(lab), U = take(unl), T = take(test);
  const teacherAcc = accuracy(eg, teacher.predict(T.x), T.y);
  const student = (seed) => {
    // 'cnn': conv 3x3x4 + pool, conv 3x3x8 + pool, dense 5 (2,301 parameters, 2.2% of the teacher's)
    const s = eg.sequential({
      name: 'student',
      layers: kind === 'cnn' ? [
        eg.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1], seed }),
        eg.layers.maxPool2d({ poolSize: 2 }),
        eg.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', seed: seed + 500 }),
        eg.layers.maxPool2d({ poolSize: 2 }),
        eg.layers.flatten(),
        eg.layers.dense({ units: 5, activation: 'softmax', seed: seed + 1000 }),
      ] : [
        eg.layers.flatten({ inputShape: [28, 28, 1] }),
        eg.layers.dense({ units: hidden, activation: 'relu', seed }),
        eg.layers.dense({ units: 5, activation: 'softmax', seed: seed + 1000 }),
      ],
    });
    s.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    return s;
  };
  const out = { student: kind, teacher: { params: teacher.countParams(), testAccuracy: teacherAcc }, labelled: lab.length, unlabeled: unl.length, test: test.length, temperature, alpha, runs: [] };
  for (const seed of seeds) {
    const a = student(seed), b = student(seed), c = student(seed);
    out.studentParams = a.countParams();
    let t0 = performance.now();
    await a.fit(L.x, L.y, { epochs: labelEpochs, batchSize: 32, seed });
    const ta = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await eg.distill(b, teacher, L.x, L.y, { temperature, alpha, epochs: labelEpochs, batchSize: 32, seed });
    const tb = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const hc = await eg.distill(c, teacher, L.x, L.y, { temperature, alpha, unlabeled: U.x, epochs: unlabeledEpochs, batchSize: 32, seed });
    const tc = (performance.now() - t0) / 1000;
    const r = {
      seed,
      labelsOnly: a.evaluate(T.x, T.y).accuracy,
      distilledLabelled: b.evaluate(T.x, T.y).accuracy,
      distilledWithUnlabeled: c.evaluate(T.x, T.y).accuracy,
      seconds: { labelsOnly: ta, distilledLabelled: tb, distilledWithUnlabeled: tc },
      teacherCached: hc.teacherCached,
    };
    out.runs.push(r);
    log(`seed ${seed}: labels only ${(r.labelsOnly * 100).toFixed(2)}%, distilled ${(r.distilledLabelled * 100).toFixed(2)}%, distilled + unlabelled ${(r.distilledWithUnlabeled * 100).toFixed(2)}% (${ta.toFixed(1)} / ${tb.toFixed(1)} / ${tc.toFixed(1)} s)`);
  }
  const mean = (k) => out.runs.reduce((s, r) => s + r[k], 0) / out.runs.length;
  out.mean = { labelsOnly: mean('labelsOnly'), distilledLabelled: mean('distilledLabelled'), distilledWithUnlabeled: mean('distilledWithUnlabeled') };
  return out;
}

function accuracy(eg, probs, y) {
  const p = probs.dataSync(), l = y.dataSync(), k = p.length / l.length;
  let hits = 0;
  for (let i = 0; i < l.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
    if (best === l[i]) hits++;
  }
  return hits / l.length;
}

async function main() {
  const eg = await import(process.env.EDGEGRAD_MODULE ?? '../../dist/index.js');
  const { writeFileSync } = await import('node:fs');
  const { fileURLToPath: path } = await import('node:url');
  await eg.ready({ backend: 'wasm' });
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : dflt; };
  const t0 = performance.now();
  const r = await distillDigits(eg, {
    modelPath: path(new URL('../digits-cnn.onnx', import.meta.url)),
    labels: opt('labels', 500), temperature: opt('temperature', 4), alpha: opt('alpha', 0.9), log: console.log,
    student: argv.includes('--cnn') ? 'cnn' : 'mlp',
  });
  const pct = (v) => `${(v * 100).toFixed(2)}%`;
  console.log(`teacher digits-cnn (${r.teacher.params} params): ${pct(r.teacher.testAccuracy)}; student ${r.student} ${r.studentParams} params (${(r.studentParams / r.teacher.params * 100).toFixed(1)}% of the teacher's); ${r.labelled} labelled, ${r.unlabeled} unlabelled, ${r.test} test; T ${r.temperature}, alpha ${r.alpha}; mean over ${r.runs.length} seeds:`);
  console.log(`  labels only               ${pct(r.mean.labelsOnly)}`);
  console.log(`  distilled (labelled only) ${pct(r.mean.distilledLabelled)}`);
  console.log(`  distilled + unlabelled    ${pct(r.mean.distilledWithUnlabeled)}`);
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  writeFileSync(new URL(`distill-digits-${r.student === 'cnn' ? 'cnn-' : ''}${r.labelled}.json`, import.meta.url), JSON.stringify(r, null, 1) + '\n');
}

import { fileURLToPath } from 'node:url';
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
