// Stands in for ./half-compute.ts in the classic-script build, which runs on wasm only (rollup.config.mjs):
// float16 compute needs WebGPU, which is in the ES module build.
export function f16Device(): never {
  throw new Error("edgegrad.loadModel: compute: 'float16' runs on WebGPU, which the classic script (dist/edgegrad.js) leaves out: use the ES module build (dist/index.js)");
}
