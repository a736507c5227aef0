// What runs only where tensors live on a device that reads back asynchronously (webgpu), registered by that
// backend's module (src/backend/webgpu/device-ops.ts) when it loads: pages without it, and the classic
// script, carry none of it.
import type { Tensor } from '../tensor.js';

export interface DeviceOps {
  /** predict's Monte-Carlo mean and variance over `samples` draws, each written into `draw` by next(). */
  mcMoments(samples: number, draw: Tensor, next: () => void): { mean: Tensor; variance: Tensor };
  /** eg.data.oneHot of labels that live on the device. */
  oneHot(labels: Tensor, numClasses: number): Tensor;
}

export const deviceOps: Partial<DeviceOps> = {};

/** The registered op (a tensor on such a device means its backend's module has loaded and registered it). */
export function deviceOp<K extends keyof DeviceOps>(name: K): DeviceOps[K] {
  const f = deviceOps[name];
  if (!f) throw new Error(`edgegrad: internal: no ${name}`);
  return f;
}
