// Served over http with the CSP the test sets (no inline script: everything comes from files). Loads the
// shipped model by a URL relative to this page, the digits from beside the bundle, and the model again in a
// module worker by a URL relative to the worker's script.
import * as eg from '../../dist/index.js';

const out = {};
try {
  out.backend = (await eg.ready()).name;
  const m = await eg.loadModel('../../models/digits-cnn.onnx');
  out.y = Array.from(m.predict(eg.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync());
  out.digits = (await eg.data.loadDigits()).count;
  const w = new Worker(new URL('./embed-worker.mjs', import.meta.url), { type: 'module' });
  out.worker = await new Promise((ok) => { w.onmessage = (e) => ok(e.data); w.onerror = (e) => ok({ error: e.message }); });
  w.terminate();
} catch (e) {
  out.error = e.message;
}
window.__esm = out;
