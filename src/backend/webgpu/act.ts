// The activations with parameters or groups on the GPU (assembly/act.ts): maxout (Goodfellow et al. 2013),
// PReLU (He et al. 2015); randomized leaky ReLU, which draws, is in ./random.ts. A thread per output; the
// PReLU slope gradient is a thread per channel summing its elements in wasm's order.
import type { Kernels } from '../kernels.js';
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

// maxout: a thread per (row, unit). u: rows units k x y
const MAXOUT = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let k = ai(2u);
  if (t >= ai(0u) * ai(1u)) { return; }
  let base = ai(3u) + t * k;
  var m = mem[base];
  // NaN wins, as wasm's f32.max (WGSL's max may drop it)
  for (var j = 1u; j < k; j++) { let v = mem[base + j]; m = select(max(m, v), m + v, isNan(m) || isNan(v)); }
  mem[ai(4u) + t] = m;
}`;

// maxoutBackward: the first arg-max of each group takes the gradient. u: rows units k x dy dx
const MAXOUT_BACKWARD = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let k = ai(2u);
  if (t >= ai(0u) * ai(1u)) { return; }
  let base = ai(3u) + t * k;
  var m = mem[base]; var arg = 0u;
  for (var j = 1u; j < k; j++) { let v = mem[base + j]; if (v > m) { m = v; arg = j; } }
  let gy = mem[ai(4u) + t];
  for (var j = 0u; j < k; j++) { mem[ai(5u) + t * k + j] = select(0.0, gy, j == arg); }
}`;

// preluForward: u: n C x alpha y
const PRELU = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let v = mem[ai(2u) + i];
  mem[ai(4u) + i] = select(v * mem[ai(3u) + i % ai(1u)], v, v >= 0.0);
}`;

// preluBackward dx: u: n C x alpha dy dx
const PRELU_DX = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let v = mem[ai(2u) + i]; let d = mem[ai(4u) + i];
  mem[ai(5u) + i] = select(d * mem[ai(3u) + i % ai(1u)], d, v >= 0.0);
}`;

// preluBackward dalpha (overwritten): a thread per channel. u: n C x dy dalpha
const PRELU_DALPHA = /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let C = ai(1u);
  if (c >= C) { return; }
  var s: f32 = 0.0;
  for (var i = c; i < ai(0u); i += C) { let v = mem[ai(2u) + i]; if (!(v >= 0.0)) { s += mem[ai(3u) + i] * v; } }
  mem[ai(4u) + c] = s;
}`;

export function activationKernels(gpu: GpuHeap): Pick<Kernels, 'maxoutForward' | 'maxoutBackward' | 'preluForward' | 'preluBackward'> {
  return {
    maxoutForward: (rows, units, k, x, y) => gpu.run(MAXOUT, rows * units, { u: [rows, units, k, e(x), e(y)] }),
    maxoutBackward: (rows, units, k, x, dy, dx) => gpu.run(MAXOUT_BACKWARD, rows * units, { u: [rows, units, k, e(x), e(dy), e(dx)] }),
    preluForward: (n, C, x, alpha, y) => gpu.run(PRELU, n, { u: [n, C, e(x), e(alpha), e(y)] }),
    preluBackward(n, C, x, alpha, dy, dx, dalpha) {
      gpu.run(PRELU_DX, n, { u: [n, C, e(x), e(alpha), e(dy), e(dx)] });
      gpu.run(PRELU_DALPHA, C, { u: [n, C, e(x), e(dy), e(dalpha)] });
    },
  };
}
