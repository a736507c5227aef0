// `npm start`: the transfer-learning run on the shipped model and data, with progress and a result.
import * as eg from 'edgegrad';
import { mkdirSync } from 'node:fs';
import { digitsTransfer } from '../models/digits-transfer.mjs';

const t0 = performance.now();
const be = await eg.ready();
console.log(`edgegrad: transfer learning on digits 5-9 from 100 labelled examples each (wasm build: ${be.build})`);
const r = await digitsTransfer(eg, { log: (line) => console.log(`  ${line}`) });
mkdirSync('out', { recursive: true });
const out = 'out/digits-5-9.onnx';
await r.model.save(out);
const back = await eg.loadModel(out);
const probe = eg.randomUniform([4, 28, 28, 1], 0, 1, 5);
const same = Math.max(...Array.from(back.predict(probe).dataSync(), (v, i) => Math.abs(v - r.model.predict(probe).dataSync()[i])));
const pct = (v) => `${(v * 100).toFixed(1)}%`;
console.log('');
console.log(`  ${'setup'.padEnd(58)} ${'test accuracy'.padStart(13)} ${'train time'.padStart(10)}`);
console.log(`  ${'(a) same CNN from scratch'.padEnd(58)} ${pct(r.accuracy.scratch).padStart(13)} ${(r.seconds.scratch.toFixed(1) + ' s').padStart(10)}`);
console.log(`  ${'(b) digits-cnn (0-4) frozen + new head (features cached)'.padEnd(58)} ${pct(r.accuracy.frozen).padStart(13)} ${(r.seconds.frozen.toFixed(1) + ' s').padStart(10)}`);
console.log(`  ${'(c) (b) + top conv block fine-tuned at 0.1x learning rate'.padEnd(58)} ${pct(r.accuracy.fineTuned).padStart(13)} ${(r.seconds.fineTuned.toFixed(1) + ' s').padStart(10)}`);
console.log('');
console.log(`  trained on ${r.train} images, tested on ${r.test}; total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`  peak memory: wasm arena ${(r.wasmPeakBytes / 2 ** 20).toFixed(1)} MiB (wasm memory ${(r.wasmMemoryBytes / 2 ** 20).toFixed(1)} MiB), process RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`);
console.log(`  fine-tuned model written to ${out} (ONNX; reloaded, max difference ${same.toExponential(1)})`);
if (!(same < 1e-5)) throw new Error(`the saved model does not reproduce the trained one (difference ${same})`);
