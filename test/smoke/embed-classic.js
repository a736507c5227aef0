// Opened from file:// (a webview with local assets): the classic build defines window.edgegrad. A model
// given as bytes (here from the file input, as a user picks it) always loads; by URL it loads only where
// the embedder lets the page read file: URLs, else the error says what to do.
(async () => {
  const eg = window.edgegrad;
  const out = { protocol: location.protocol, global: typeof eg };
  const be = await eg.ready();
  out.backend = be.name;
  try {
    const m = await eg.loadModel('../../models/digits-cnn.onnx');
    out.byUrl = Array.from(m.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  } catch (e) { out.byUrlError = e.message; }
  try { out.digits = (await eg.data.loadDigits()).count; } catch (e) { out.digitsError = e.message; }
  const input = document.getElementById('model');
  window.__waiting = true;
  const file = input.files[0] ?? await new Promise((ok) => input.addEventListener('change', () => ok(input.files[0]), { once: true }));
  const m = await eg.loadModel(new Uint8Array(await file.arrayBuffer()));
  out.byBytes = Array.from(m.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  // the tools the ES module build loads on first use come with dist/edgegrad-extras.js, where the page has it
  // (embed-classic-extras.html): the transfer tools, the ONNX exporter, quantize and pruning (facades), and
  // float16 weight storage
  out.extrasErrors = [];
  try {
    out.cuts = await eg.transfer.cutCandidates(m);
    out.features = Array.from((await eg.transfer.cutFeatures(m, out.cuts[0], eg.tensor(embedRing(), [1, 28, 28, 1]))).dataSync());
  } catch (e) { out.extrasErrors.push(e.message); }
  try {
    const again = await eg.loadModel(await eg.toOnnx(m));
    out.exported = Array.from(again.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  } catch (e) { out.extrasErrors.push(e.message); }
  try {
    const q = await eg.quantize(m, { calibration: eg.tensor(embedRing(), [1, 28, 28, 1]) });
    out.quantized = Array.from(q.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  } catch (e) { out.extrasErrors.push(e.message); }
  try {
    out.sparsity = eg.pruning.sparsity(m);
    out.isPruning = eg.pruning.pruneLowMagnitude(m, { schedule: eg.pruning.constantSparsity({ targetSparsity: 0.5 }) }) instanceof eg.Pruning;
  } catch (e) { out.extrasErrors.push(e.message); }
  try {
    const h = await eg.loadModel(new Uint8Array(await file.arrayBuffer()), { weights: 'float16' });
    out.half = Array.from(h.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  } catch (e) { out.extrasErrors.push(e.message); }
  // the scalar build (engines without SIMD) comes with dist/edgegrad-scalar.js, loaded before this script
  out.builds = eg.supportedBuilds();
  try {
    await eg.ready({ wasmBuild: 'scalar' });
    const s = await eg.loadModel(new Uint8Array(await file.arrayBuffer()));
    out.scalar = Array.from(s.predict(eg.tensor(embedRing(), [1, 28, 28, 1])).dataSync());
  } catch (e) { out.scalarError = e.message; }
  window.__classic = out;
})().catch((e) => { window.__classic = { error: String((e && e.stack) || e) }; });
