// `node test/smoke/embed-require.cjs`: the package from CommonJS (an Electron main process, older tooling):
// require('edgegrad') loads dist/edgegrad.cjs; the same model by path gives what the ES module build gives.
require('./embed-input.js');
const eg = require('edgegrad');

(async () => {
  await eg.ready();
  const m = await eg.loadModel('models/digits-cnn.onnx');
  const y = Array.from(m.predict(eg.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync());
  const esm = await import('edgegrad');
  await esm.ready();
  const m2 = await esm.loadModel('models/digits-cnn.onnx');
  const y2 = Array.from(m2.predict(esm.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync());
  const d = await eg.data.loadDigits();
  // what the classic script's add-on computes on the same model (test/smoke/embed-classic.js)
  const cuts = await esm.transfer.cutCandidates(m2);
  const features = Array.from((await esm.transfer.cutFeatures(m2, cuts[0], esm.tensor(globalThis.embedRing(), [1, 28, 28, 1]))).dataSync());
  const q = await esm.quantize(m2, { calibration: esm.tensor(globalThis.embedRing(), [1, 28, 28, 1]) });
  const quantized = Array.from(q.predict(esm.tensor(globalThis.embedRing(), [1, 28, 28, 1])).dataSync());
  const tools = { cuts, features, quantized, sparsity: esm.pruning.sparsity(m2) };
  console.log(JSON.stringify({ resolved: require.resolve('edgegrad'), y, esm: y2, digits: d.count, sameCopy: eg === esm, tools }));
})().catch((e) => { console.error(e); process.exit(1); });
