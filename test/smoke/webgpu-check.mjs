// WebGPU in a browser (a page or a module worker): the same ops on wasm and on the webgpu backend, compared;
// what eg.ready reports, and what 'auto' picks on a software adapter (wasm).
export async function checkWebGpu(eg) {
  const data = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  const run = () => {
    const x = eg.tensor(data(2 * 9 * 7 * 5, 1), [2, 9, 7, 5]), w = eg.tensor(data(3 * 3 * 5 * 6, 2), [3, 3, 5, 6]);
    const y = eg.fused.conv2d({ x, filter: w, strides: 2, pad: 'same', activation: 'relu' });
    const p = eg.maxPool(y, 2, 1, 'valid');
    const flat = p.reshape([2, p.size / 2]);
    const m = eg.matMul(flat, eg.tensor(data((p.size / 2) * 4, 3), [p.size / 2, 4]));
    return [eg.softmax(m), eg.mean(y, [1, 2])];
  };
  await eg.ready({ backend: 'wasm' });
  const want = run().map((t) => t.dataSync());
  const gpu = await eg.ready({ backend: 'webgpu' });
  const outs = run();
  const got = await Promise.all(outs.map((t) => t.data()));
  let err = 0;
  got.forEach((g, k) => g.forEach((v, i) => { err = Math.max(err, Math.abs(v - want[k][i])); }));
  const locations = outs.map((t) => t.location);
  let syncError = '';
  try { outs[0].dataSync(); } catch (e) { syncError = String(e.message); }
  const auto = (await eg.ready()).name;
  return { err, locations, syncError, adapter: gpu.adapter, auto };
}
