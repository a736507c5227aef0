// Stands in for webgpu/backend.ts in the classic-script build, which runs on wasm only to stay small (it is
// for file:// pages and webviews): 'auto' falls back to wasm there, and asking for WebGPU says where it is.
export const WebGpuBackend = {
  async create(): Promise<never> {
    throw new Error("edgegrad: the classic script (dist/edgegrad.js) runs on wasm only: WebGPU is in the ES module build (dist/index.js)");
  },
};
