// The webgpu kernel of float16 weight storage (src/ops/half.ts): packed halves widened to float32, one word
// (two values) per thread, by WGSL's unpack2x16float (core WGSL: no shader-f16 needed).
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

/** n halves at `packed` (two per word, element 2k low) as float32 at y. u: n packed y */
const UNPACK_HALF = /* wgsl */ `
${MAIN} {
  let k = flat(g, nw);
  let n = ai(0u);
  if (2u * k >= n) { return; }
  let v = unpack2x16float(bitcast<u32>(mem[ai(1u) + k]));
  mem[ai(2u) + 2u * k] = v.x;
  if (2u * k + 1u < n) { mem[ai(2u) + 2u * k + 1u] = v.y; }
}`;

export interface DeviceHalf {
  unpack(n: number, packed: number, y: number): void;
}

export function deviceHalf(gpu: GpuHeap): DeviceHalf {
  return { unpack: (n, packed, y) => gpu.run(UNPACK_HALF, Math.ceil(n / 2), { u: [n, e(packed), e(y)] }) };
}
