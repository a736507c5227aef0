// Which WebGPU adapters count as hardware: shared by the device code (a chunk of its own) and ready()'s
// 'auto', which asks before loading that chunk, so a page without a GPU never downloads the WebGPU backend.

export interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

/** A software adapter (SwiftShader, llvmpipe, lavapipe, WARP; Dawn's fake null backend): correct but slower than wasm SIMD. */
export function isSoftwareAdapter(a: AdapterLike): boolean {
  let fallback = false;
  try { fallback = !!a.isFallbackAdapter; } catch { /* bun-webgpu's getter throws */ }
  const i = a.info ?? {};
  return fallback || /swiftshader|llvmpipe|lavapipe|warp|software|null-backend/.test(`${i.vendor ?? ''} ${i.architecture ?? ''} ${i.device ?? ''} ${i.description ?? ''}`.toLowerCase());
}

/** Whether navigator.gpu offers a hardware adapter. */
export async function hasHardwareAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: object): Promise<AdapterLike | null> } } }).navigator?.gpu;
  const a = await gpu?.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  return !!a && !isSoftwareAdapter(a);
}
