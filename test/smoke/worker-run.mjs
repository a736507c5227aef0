// eg.worker() in this runtime (Node: worker_threads; Deno, Bun: their Web Workers): a CNN head trained in
// the worker, predictions back here, and a cancelled fit. Prints one JSON line.
import * as eg from 'edgegrad';

const w = await eg.worker();
const d = await eg.data.loadDigits();
const idx = Array.from({ length: 128 }, (_, i) => i);
const x = eg.data.gather(d.images, idx), y = eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [128], 'int32');
const m = await w.sequential({ layers: [{ conv2d: { filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], seed: 1 } }, { flatten: {} }, { dense: { units: 10, activation: 'softmax', seed: 2 } }] });
await m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
let batches = 0;
const h = await m.fit(x, y, { epochs: 2, batchSize: 32, seed: 5, callbacks: { onBatchEnd: () => batches++ } });
const p = await m.predict(eg.data.gather(d.images, [9000]));
const ctl = new AbortController();
const err = await m.fit(x, y, { epochs: 50, batchSize: 8, signal: ctl.signal, callbacks: { onBatchEnd: (b) => { if (b === 2) ctl.abort(); } } }).catch((e) => e);
w.terminate();
console.log(JSON.stringify({ info: w.info, loss: h.history.loss, batches, shape: p.shape, sum: p.dataSync().reduce((a, b) => a + b, 0), aborted: err?.name }));
