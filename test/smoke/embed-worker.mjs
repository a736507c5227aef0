// A module worker started by embed-esm.mjs: a relative URL resolves against this script (self.location).
import * as eg from '../../dist/index.js';
import './embed-input.js';

try {
  await eg.ready();
  const m = await eg.loadModel('../../models/digits-cnn.onnx');
  postMessage({ y: Array.from(m.predict(eg.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync()) });
} catch (e) {
  postMessage({ error: e.message });
}
