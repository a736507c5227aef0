// Finding a WebGPU device: navigator.gpu (browsers, workers, Deno), else in Node the optional npm package
// `webgpu` (Dawn) and in Bun `bun-webgpu`, imported only when asked for. Fake adapters (Dawn's
// null-backend, whose dispatches do nothing) are refused; the error says why no device was found.
import { isSoftwareAdapter, type AdapterLike } from './adapter.js';

/** What eg.ready({ backend: 'webgpu' }) reports about the adapter it took. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software implementation (SwiftShader, lavapipe, WARP): correct, slow. */
  fallback: boolean;
  /** The device has shader-f16 (requested wherever the adapter offers it). */
  f16: boolean;
  /** The limits the device was created with (the adapter's maxima for buffer sizes). */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
}

export interface GpuDevice {
  device: GPUDevice;
  report: AdapterReport;
  /**
   * The GPU entry point and the adapter, held for as long as the device lives: in Node's binding, a
   * collected entry point takes the device's event processing with it.
   */
  keep: unknown[];
}

/** The runtime's GPU entry point, or why there is none. */
async function gpuEntry(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = (globalThis as { process?: { versions?: Record<string, string> } }).process;
  if (proc?.versions?.bun) {
    const mod = 'bun-webgpu';
    try {
      const b = await import(/* @vite-ignore */ mod) as { setupGlobals(): Promise<void> };
      await b.setupGlobals();
    } catch (e) {
      throw new Error(`edgegrad: WebGPU in Bun needs the optional package 'bun-webgpu' (npm i bun-webgpu): ${(e as Error).message}`);
    }
    const g = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (g) return g;
    throw new Error("edgegrad: 'bun-webgpu' loaded but navigator.gpu is still missing");
  }
  if (proc?.versions?.node) {
    const mod = 'webgpu';
    let w: { create(flags: string[]): GPU; globals: Record<string, unknown> };
    try {
      w = await import(/* @vite-ignore */ mod) as typeof w;
    } catch (e) {
      throw new Error(`edgegrad: WebGPU in Node needs the optional package 'webgpu' (npm i webgpu): ${(e as Error).message}`);
    }
    // the GPUBufferUsage / GPUMapMode / GPUShaderStage constants the code below uses
    for (const [k, v] of Object.entries(w.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    return w.create([]);
  }
  throw new Error('edgegrad: this runtime has no WebGPU (navigator.gpu is missing)');
}

/** A device on a real adapter (a software one is accepted: it is correct, only slow), or a clear error. */
export async function requestGpuDevice(): Promise<GpuDevice> {
  const gpu = await gpuEntry();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error('edgegrad: WebGPU has no adapter here (in Node: a Vulkan driver, e.g. LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; in Chromium: --enable-unsafe-webgpu)');
  }
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  if (info.device === 'null-backend' || info.architecture === 'null-backend') {
    throw new Error("edgegrad: the only WebGPU adapter here is Dawn's fake 'null-backend' one (its dispatches do nothing); install a Vulkan driver");
  }
  const fallback = isSoftwareAdapter(adapter as AdapterLike);
  const l = adapter.limits;
  const limits = {
    maxBufferSize: l.maxBufferSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
  };
  // shader-f16 where the adapter has it: loadModel's compute: 'float16' multiplies in f16 (./tiled.ts)
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('shader-f16') ? ['shader-f16'] : [];
  let device: GPUDevice;
  try {
    // the adapter's maxima for buffer sizes (the defaults are 256 / 128 MiB): the heap is one buffer; and its
    // workgroup memory (the default is 16 KiB): the tiled GEMM / conv kernels take deeper tiles where there is more
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits: { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize } });
  } catch {
    // an implementation that refuses them (bun-webgpu validates limits its own way): the defaults
    device = await adapter.requestDevice({ requiredFeatures }).catch(() => adapter.requestDevice());
    limits.maxBufferSize = device.limits.maxBufferSize;
    limits.maxStorageBufferBindingSize = device.limits.maxStorageBufferBindingSize;
    limits.maxComputeWorkgroupStorageSize = device.limits.maxComputeWorkgroupStorageSize;
  }
  // what the device has, not what the adapter offered
  const f16 = device.features.has('shader-f16');
  return {
    device,
    keep: [gpu, adapter],
    report: {
      vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
      fallback, f16, limits,
    },
  };
}
