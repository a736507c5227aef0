// `npm start`: the transfer-learning runs on the shipped models and data, with progress and results.
//   1. digits-cnn (pretrained on the digits 0-4) -> digits 5-9 from 100 labelled examples each, against the
//      same CNN trained from scratch; the fine-tuned model is written to out/ as ONNX and reloaded.
//   2. MobileNetV2 ImageNet features (from nsfwjs) -> all ten digits from 100 labelled examples each.
// `npm start -- --quick` runs only the first part (`--backend webgpu`: on a GPU); `--labels-curve` adds the accuracy-vs-labels curve to the
// report (out/digits-5-9.report.html: curves per epoch, confusion matrix on the test digits).
import * as eg from 'edgegrad';
import { mkdirSync, writeFileSync } from 'node:fs';
import { digitsTransfer } from '../models/digits-transfer.mjs';
import { mobilenetTransfer } from '../models/mobilenet-transfer.mjs';

const t0 = performance.now();
// `npm start -- --backend webgpu`: the same runs on a GPU (the package 'webgpu' in Node; see the README)
const bi = process.argv.indexOf('--backend');
const be = await eg.ready(bi > 0 ? { backend: process.argv[bi + 1] } : {});
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const pct = (v) => `${(v * 100).toFixed(1)}%`;
const row = (a, b, c) => console.log(`  ${a.padEnd(60)} ${b.padStart(13)} ${c.padStart(10)}`);

console.log(`edgegrad: transfer learning on digits 5-9 from 100 labelled examples each (${be.name === 'wasm' ? `wasm build: ${be.build}` : `backend: ${be.name}`})`);
const r = await digitsTransfer(eg, { log: (line) => console.log(`  ${line}`) });
mkdirSync('out', { recursive: true });
const out = 'out/digits-5-9.onnx';
r.model.classNames = ['5', '6', '7', '8', '9']; // stored in the file: edgegrad predict prints them
await r.model.save(out);
const back = await eg.loadModel(out);
const probe = eg.randomUniform([4, 28, 28, 1], 0, 1, 5);
const want = await r.model.predict(probe).data();
const same = Math.max(...Array.from(await back.predict(probe).data(), (v, i) => Math.abs(v - want[i])));
console.log('');
row('setup', 'test accuracy', 'train time');
row('(a) same CNN from scratch', pct(r.accuracy.scratch), `${r.seconds.scratch.toFixed(1)} s`);
row('(b) digits-cnn (0-4) frozen + new head (features cached)', pct(r.accuracy.frozen), `${r.seconds.frozen.toFixed(1)} s`);
row('(c) (b) + top conv block fine-tuned at 0.1x learning rate', pct(r.accuracy.fineTuned), `${r.seconds.fineTuned.toFixed(1)} s`);
console.log('');
console.log(`  trained on ${r.train} images, tested on ${r.test}`);
console.log(`  fine-tuned model written to ${out} (ONNX; reloaded, max difference ${same.toExponential(1)})`);
if (!(same < 1e-5)) throw new Error(`the saved model does not reproduce the trained one (difference ${same})`);
const reportPath = await writeReport(r, 'out/digits-5-9.report.html');
if (reportPath) console.log(`  report written to ${reportPath} (loss and accuracy per epoch, confusion matrix on the ${r.test} test digits${process.argv.includes('--labels-curve') ? ', accuracy vs labels' : ''})`);

if (!process.argv.includes('--quick')) {
  console.log('');
  console.log('edgegrad: MobileNetV2 ImageNet features (frozen) + new softmax head on all ten digits, 100 labelled examples each');
  const m = await mobilenetTransfer(eg, { testCount: 1000, log: (line) => console.log(`  ${line}`) });
  const [first, ...rest] = m.epochSeconds;
  console.log('');
  console.log(`  test accuracy ${pct(m.accuracy)} on ${m.test} held-out digits (trained on ${m.train}); backbone loaded in ${m.loadSeconds.toFixed(2)} s`);
  console.log(`  training ${m.trainSeconds.toFixed(1)} s: epoch 1 (computes the features) ${first.toFixed(2)} s, later epochs ${(Math.max(...rest) * 1000).toFixed(1)} ms at most (${(100 * Math.max(...rest) / first).toFixed(2)}% of the first)`);
  console.log(`  peak wasm memory at batch ${m.batchSize}: inference ${mib(m.inferenceBytes)}, training step ${mib(m.stepBytes)} (${(m.stepBytes / m.inferenceBytes).toFixed(2)}x), cached fit ${mib(m.fitBytes)}`);
}
console.log('');
console.log(`  total ${((performance.now() - t0) / 1000).toFixed(1)} s; wasm memory ${mib(be.memoryBytes())} (it only grows: the peak), process RSS ${mib(process.memoryUsage().rss)}`);

/**
 * The HTML report of run (b) then (c): training curves per epoch (the head alone, then the top block fine-tuned),
 * the confusion matrix of the fine-tuned model on the test digits, and with --labels-curve the test accuracy of
 * the same frozen features + softmax head at 1 to 100 labels per class.
 */
async function writeReport(r, path) {
  if (!eg.report || !r.history) return undefined; // a build from before the report
  const names = ['5', '6', '7', '8', '9'];
  const join = (a, b) => {
    const keys = Object.keys(a.history);
    return { epoch: [...a.epoch, ...b.epoch.map((e) => e + a.epoch.length)], history: Object.fromEntries(keys.map((k) => [k, [...a.history[k], ...(b.history[k] ?? [])]])) };
  };
  let labelsCurve;
  if (process.argv.includes('--labels-curve')) {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const f = await eg.transfer.cutFeatures(base, 'flatten', r.trainData.x), tf = await eg.transfer.cutFeatures(base, 'flatten', r.testData.x);
    labelsCurve = (await eg.transfer.labelsCurve(f, r.trainData.y, tf, r.testData.y, { epochs: 60 })).map((p) => ({ labels: p.labels, accuracy: p.accuracy }));
  }
  writeFileSync(path, await eg.report.html({
    title: 'edgegrad: digits 5-9 from 100 labelled examples each',
    details: [
      ['backbone', 'models/digits-cnn.onnx (trained on digits 0-4), cut at flatten, frozen; new dense 64 relu + softmax head'],
      ['training', `epochs 1-${r.history.frozen.epoch.length}: the head alone (features cached); then ${r.history.fineTuned.epoch.length} epochs with the top conv block fine-tuned at 0.1x`],
      ['test accuracy', `scratch ${pct(r.accuracy.scratch)}, frozen + head ${pct(r.accuracy.frozen)}, fine-tuned ${pct(r.accuracy.fineTuned)} (${r.test} digits)`],
      ...(labelsCurve ? [['accuracy vs labels', 'the flatten features + a softmax head (60 epochs) with the first k training examples of each digit, on the test digits']] : []),
    ],
    history: join(r.history.frozen, r.history.fineTuned),
    confusion: { matrix: await eg.confusionMatrix(r.model, r.testData.x, r.testData.y), classNames: names, what: `the fine-tuned model on ${r.test} test digits` },
    labelsCurve,
    labelsCurveName: 'test accuracy',
  }));
  return path;
}
