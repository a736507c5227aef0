// Statistics of a buffer on the GPU: the count of non-finite values (the NaN guard), the sum of squares
// (gradient norms), the L1/L2 penalty (assembly/elementwise.ts countNonFinite, assembly/optim.ts). On wasm
// they return a number to the caller; a GPU's result exists only after the queue ran, so here each is a
// workgroup reduction into a float of GPU memory (acc += the statistic), read back asynchronously, and the
// kernel table's synchronous forms refuse, naming the asynchronous ones (never a silent NaN or zero).
import type { Kernels } from '../kernels.js';
import type { GpuHeap } from './gpu.js';
import { e } from './kernels.js';

/** One workgroup of 64: each lane sums a strided share in order, then a tree over the lanes. */
const WG = 64;

// u: kind n x acc; f: l1 l2. kind 0: count of non-finite values, 1: sum of squares, 2: l1 |w| + l2 w^2
const STAT = /* wgsl */ `
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) l: u32) {
  let kind = ai(0u); let n = ai(1u); let x = ai(2u);
  var s: f32 = 0.0;
  for (var i = l; i < n; i += ${WG}u) {
    let v = mem[x + i];
    if (kind == 0u) { s += select(0.0, 1.0, (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u); }
    else if (kind == 1u) { s += v * v; }
    else { s += af(4u) * abs(v) + af(5u) * v * v; }
  }
  part[l] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { part[l] += part[l + h]; }
    workgroupBarrier();
  }
  if (l == 0u) { mem[ai(3u)] = mem[ai(3u)] + part[0]; }
}`;

// flag the first step whose values held a non-finite one: slot = tag where slot is still 0 (every thread that
// writes, writes the same tag). u: n x slot tag
const FLAG_NON_FINITE = /* wgsl */ `
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  if ((bitcast<u32>(mem[ai(1u) + i]) & 0x7f800000u) == 0x7f800000u && mem[ai(2u)] == 0.0) { mem[ai(2u)] = f32(ai(3u)); }
}`;

/** The GPU statistics, each adding into the float at `acc` (a handle) on the device. */
export interface DeviceStats {
  /** acc += how many of the n floats at x are NaN or infinite. */
  countNonFiniteTo(n: number, x: number, acc: number): void;
  /** acc += the sum of squares of the n floats at x. */
  sumSquaresTo(n: number, x: number, acc: number): void;
  /** acc += sum l1 |w| + l2 w^2 over the n floats at w. */
  penaltyTo(n: number, w: number, l1: number, l2: number, acc: number): void;
  /** slot = tag (a positive integer below 2^24) if the n floats at x hold a non-finite value and slot is 0. */
  flagNonFinite(n: number, x: number, slot: number, tag: number): void;
}

export function deviceStats(gpu: GpuHeap): DeviceStats {
  const stat = (kind: number, n: number, x: number, acc: number, l1 = 0, l2 = 0): void => {
    gpu.run(STAT, WG, { u: [kind, n, e(x), e(acc)], f: [l1, l2] });
  };
  return {
    countNonFiniteTo: (n, x, acc) => stat(0, n, x, acc),
    sumSquaresTo: (n, x, acc) => stat(1, n, x, acc),
    penaltyTo: (n, w, l1, l2, acc) => stat(2, n, w, acc, l1, l2),
    flagNonFinite(n, x, slot, tag) {
      if (!(Number.isInteger(tag) && tag > 0 && tag < 1 << 24)) throw new Error(`edgegrad: internal: a non-finite flag's tag must be an integer in [1, 2^24), got ${tag}`);
      gpu.run(FLAG_NON_FINITE, n, { u: [n, e(x), e(slot), tag] });
    },
  };
}

/** The table's synchronous forms: a GPU cannot hand their result back in time, so they say what to use. */
export function syncStats(): Pick<Kernels, 'countNonFinite' | 'sumSquares' | 'penalty'> {
  const refuse = (name: string, async: string): never => {
    throw new Error(`edgegrad: the webgpu backend cannot return '${name}' synchronously (its result exists only after the GPU ran): use 'await backend.${async}' or the device form '${name}To'`);
  };
  return {
    countNonFinite: () => refuse('countNonFinite', 'countNonFiniteAsync(n, x)'),
    sumSquares: () => refuse('sumSquares', 'sumSquaresAsync(n, x)'),
    penalty: () => refuse('penalty', 'penaltyAsync(n, w, l1, l2)'),
  };
}
