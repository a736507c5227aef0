// The recurrent cells on the GPU (simple RNN, LSTM, GRU): the elementwise part of one time step, with the
// contracts of assembly/recurrent.ts (the op, src/ops/recurrent.ts, runs the GEMMs). A thread per (row,
// unit): every output element reads only its own column of each gate block, so in-place updates (h over z,
// the gates over z) are safe. The LSTM backward pass is a thread per unit looping over the rows, because it
// sums the peephole gradients over the batch (in the row order wasm uses). A handle 0 reads as zeros.
import type { Kernels } from '../kernels.js';
import type { GpuHeap } from './gpu.js';
import { ACT, MAIN, e } from './kernels.js';

/**
 * Gate activations (linear, ReLU, sigmoid, tanh, hard sigmoid by their Act codes), their derivatives from
 * the output, strided reads that give 0 for a null handle, and the mask test (m[b ldm] == 0: padding).
 */
const CELL = ACT + /* wgsl */ `
fn gate(k: u32, x: f32) -> f32 {
  switch k {
    case 1u: { return max(x, 0.0); }
    case 6u: { return sigm(x); }
    case 7u: { return tanh(clamp(x, -15.0, 15.0)); }
    case 12u: { return min(max(0.2 * x + 0.5, 0.0), 1.0); }
    default: { return x; }
  }
}
fn dgate(k: u32, y: f32) -> f32 {
  switch k {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 6u: { return y * (1.0 - y); }
    case 7u: { return 1.0 - y * y; }
    case 12u: { return select(0.0, 0.2, y > 0.0 && y < 1.0); }
    default: { return 1.0; }
  }
}
fn rd(p: u32, row: u32, ldp: u32, j: u32) -> f32 { if (p == 0u) { return 0.0; } return mem[p + row * ldp + j]; }
fn padded(m: u32, ldm: u32, b: u32) -> bool { return m != 0u && mem[m + b * ldm] == 0.0; }
`;

// rnnMaskRows: u: B U a lda m out ldo accumulate
const MASK_ROWS = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let v = rd(ai(2u), b, ai(3u), j) * mem[ai(4u) + b * U + j];
  let o = ai(5u) + b * ai(6u) + j;
  mem[o] = select(v, mem[o] + v, ai(7u) != 0u);
}`;

// rnnCell: u: B U z ldz hp ldhp m ldm h ldh act
const RNN_CELL = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let h = ai(8u) + b * ai(9u) + j;
  if (padded(ai(6u), ai(7u), b)) { mem[h] = rd(ai(4u), b, ai(5u), j); return; }
  mem[h] = gate(ai(10u), mem[ai(2u) + b * ai(3u) + j]);
}`;

// rnnCellBackward: u: B U h ldh dy lddy m ldm dh dz lddz act
const RNN_CELL_BACKWARD = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let dh = ai(8u); let dz = ai(9u) + b * ai(10u) + j;
  let d = rd(ai(4u), b, ai(5u), j) + rd(dh, b, U, j);
  if (padded(ai(6u), ai(7u), b)) { mem[dh + b * U + j] = d; mem[dz] = 0.0; return; }
  mem[dz] = d * dgate(ai(11u), mem[ai(2u) + b * ai(3u) + j]);
  if (dh != 0u) { mem[dh + b * U + j] = 0.0; }
}`;

// lstmCell: u: B U z ldz hp ldhp cp ldcp m ldm c ldc h ldh peep act ract
const LSTM_CELL = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let cp = rd(ai(6u), b, ai(7u), j);
  let c = ai(10u) + b * ai(11u) + j; let h = ai(12u) + b * ai(13u) + j;
  if (padded(ai(8u), ai(9u), b)) { mem[h] = rd(ai(4u), b, ai(5u), j); mem[c] = cp; return; }
  let z = ai(2u) + b * ai(3u); let peep = ai(14u); let act = ai(15u); let ract = ai(16u);
  var zi = mem[z + j]; var zf = mem[z + U + j]; var zo = mem[z + 3u * U + j];
  if (peep != 0u) { zi += mem[peep + j] * cp; zf += mem[peep + U + j] * cp; }
  let i = gate(ract, zi); let f = gate(ract, zf); let gg = gate(act, mem[z + 2u * U + j]);
  let cv = f * cp + i * gg;
  if (peep != 0u) { zo += mem[peep + 2u * U + j] * cv; }
  let o = gate(ract, zo);
  mem[z + j] = i; mem[z + U + j] = f; mem[z + 2u * U + j] = gg; mem[z + 3u * U + j] = o;
  mem[c] = cv;
  mem[h] = o * gate(act, cv);
}`;

// lstmCellBackward, a thread per unit: u: B U z ldz cp ldcp c ldc dy lddy m ldm dh dc peep dpeep dz lddz act ract
const LSTM_CELL_BACKWARD = CELL + /* wgsl */ `
${MAIN} {
  let j = flat(g, nw); let U = ai(1u);
  if (j >= U) { return; }
  let dh = ai(12u); let dc = ai(13u); let peep = ai(14u); let dpeep = ai(15u); let act = ai(18u); let ract = ai(19u);
  for (var b = 0u; b < ai(0u); b++) {
    let dz = ai(16u) + b * ai(17u);
    let dhv = rd(ai(8u), b, ai(9u), j) + mem[dh + b * U + j];
    if (padded(ai(10u), ai(11u), b)) {
      // the gradient of h and of c pass to the previous step as they are
      mem[dh + b * U + j] = dhv;
      for (var k = 0u; k < 4u; k++) { mem[dz + k * U + j] = 0.0; }
      continue;
    }
    let z = ai(2u) + b * ai(3u);
    let i = mem[z + j]; let f = mem[z + U + j]; let gg = mem[z + 2u * U + j]; let o = mem[z + 3u * U + j];
    let cpv = rd(ai(4u), b, ai(5u), j); let cv = mem[ai(6u) + b * ai(7u) + j]; let ac = gate(act, cv);
    let dzo = dhv * ac * dgate(ract, o);
    var dcv = mem[dc + b * U + j] + dhv * o * dgate(act, ac);
    if (peep != 0u) { dcv += dzo * mem[peep + 2u * U + j]; }
    let dzi = dcv * gg * dgate(ract, i); let dzf = dcv * cpv * dgate(ract, f); let dzg = dcv * i * dgate(act, gg);
    var dcp = dcv * f;
    if (peep != 0u) {
      dcp += dzi * mem[peep + j] + dzf * mem[peep + U + j];
      mem[dpeep + j] += dzi * cpv;
      mem[dpeep + U + j] += dzf * cpv;
      mem[dpeep + 2u * U + j] += dzo * cv;
    }
    mem[dc + b * U + j] = dcp;
    mem[dz + j] = dzi; mem[dz + U + j] = dzf; mem[dz + 2u * U + j] = dzg; mem[dz + 3u * U + j] = dzo;
    mem[dh + b * U + j] = 0.0;
  }
}`;

// gruGates: u: B U g ldg hr rb hp ldhp rh ldrh ract
const GRU_GATES = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let gr = ai(2u) + b * ai(3u); let hr = ai(4u); let rb = ai(5u); let ract = ai(10u);
  let z = gate(ract, mem[gr + j] + rd(hr, b, 3u * U, j) + rd(rb, 0u, 0u, j));
  let r = gate(ract, mem[gr + U + j] + rd(hr, b, 3u * U, U + j) + rd(rb, 0u, 0u, U + j));
  mem[gr + j] = z; mem[gr + U + j] = r;
  if (ai(8u) != 0u) { mem[ai(8u) + b * ai(9u) + j] = r * rd(ai(6u), b, ai(7u), j); }
}`;

// gruOutput: u: B U g ldg hr rb hp ldhp m ldm n ldn h ldh act resetAfter
const GRU_OUTPUT = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let hp = rd(ai(6u), b, ai(7u), j); let h = ai(12u) + b * ai(13u) + j;
  if (padded(ai(8u), ai(9u), b)) { mem[h] = hp; return; }
  let gr = ai(2u) + b * ai(3u);
  let z = mem[gr + j]; let r = mem[gr + U + j];
  var a = mem[gr + 2u * U + j]; var rec = rd(ai(4u), b, 3u * U, 2u * U + j);
  if (ai(15u) != 0u) {
    rec += rd(ai(5u), 0u, 0u, 2u * U + j);
    if (ai(10u) != 0u) { mem[ai(10u) + b * ai(11u) + j] = rec; }
    a += r * rec;
  } else {
    a += rec;
  }
  let hh = gate(ai(14u), a);
  mem[gr + 2u * U + j] = hh;
  mem[h] = z * hp + (1.0 - z) * hh;
}`;

// gruBackward: u: B U g ldg hp ldhp n ldn dy lddy m ldm dh dx lddx dhr lddhr act ract resetAfter
const GRU_BACKWARD = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let dh = ai(12u) + b * U + j; let dx = ai(13u) + b * ai(14u); let dhr = ai(15u) + b * ai(16u); let ra = ai(19u) != 0u;
  let d = rd(ai(8u), b, ai(9u), j) + mem[dh];
  if (padded(ai(10u), ai(11u), b)) {
    mem[dh] = d;
    for (var k = 0u; k < 3u; k++) { mem[dx + k * U + j] = 0.0; if (ra) { mem[dhr + k * U + j] = 0.0; } }
    return;
  }
  let gr = ai(2u) + b * ai(3u);
  let z = mem[gr + j]; let r = mem[gr + U + j]; let hh = mem[gr + 2u * U + j];
  let dzz = d * (rd(ai(4u), b, ai(5u), j) - hh) * dgate(ai(18u), z);
  let dzh = d * (1.0 - z) * dgate(ai(17u), hh);
  mem[dx + j] = dzz; mem[dx + 2u * U + j] = dzh;
  if (ra) {
    let dzr = dzh * mem[ai(6u) + b * ai(7u) + j] * dgate(ai(18u), r);
    mem[dx + U + j] = dzr;
    mem[dhr + j] = dzz; mem[dhr + U + j] = dzr; mem[dhr + 2u * U + j] = dzh * r;
  }
  mem[dh] = d * z;
}`;

// gruBackwardReset: u: B U g ldg hp ldhp drh dx lddx dh ract
const GRU_BACKWARD_RESET = CELL + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let U = ai(1u);
  if (t >= ai(0u) * U) { return; }
  let b = t / U; let j = t % U;
  let r = mem[ai(2u) + b * ai(3u) + U + j]; let d = mem[ai(6u) + b * U + j];
  mem[ai(7u) + b * ai(8u) + U + j] = d * rd(ai(4u), b, ai(5u), j) * dgate(ai(10u), r);
  mem[ai(9u) + b * U + j] = mem[ai(9u) + b * U + j] + d * r;
}`;

/** A handle as an element offset, 0 staying 0 (a null operand). */
const o = (p: number): number => (p ? e(p) : 0);

type RecurrentKernels = Pick<Kernels, 'rnnMaskRows' | 'rnnCell' | 'rnnCellBackward' | 'lstmCell' | 'lstmCellBackward' |
  'gruGates' | 'gruOutput' | 'gruBackward' | 'gruBackwardReset'>;

export function recurrentKernels(gpu: GpuHeap): RecurrentKernels {
  return {
    rnnMaskRows: (B, U, a, lda, m, out, ldo, accumulate) => gpu.run(MASK_ROWS, B * U, { u: [B, U, o(a), lda, e(m), e(out), ldo, accumulate] }),
    rnnCell: (B, U, z, ldz, hp, ldhp, m, ldm, h, ldh, act) =>
      gpu.run(RNN_CELL, B * U, { u: [B, U, e(z), ldz, o(hp), ldhp, o(m), ldm, e(h), ldh, act] }),
    rnnCellBackward: (B, U, h, ldh, dy, lddy, m, ldm, dh, dz, lddz, act) =>
      gpu.run(RNN_CELL_BACKWARD, B * U, { u: [B, U, e(h), ldh, o(dy), lddy, o(m), ldm, o(dh), e(dz), lddz, act] }),
    lstmCell: (B, U, z, ldz, hp, ldhp, cp, ldcp, m, ldm, c, ldc, h, ldh, peep, act, ract) =>
      gpu.run(LSTM_CELL, B * U, { u: [B, U, e(z), ldz, o(hp), ldhp, o(cp), ldcp, o(m), ldm, e(c), ldc, e(h), ldh, o(peep), act, ract] }),
    lstmCellBackward: (B, U, z, ldz, cp, ldcp, c, ldc, dy, lddy, m, ldm, dh, dc, peep, dpeep, dz, lddz, act, ract) =>
      gpu.run(LSTM_CELL_BACKWARD, U, { u: [B, U, e(z), ldz, o(cp), ldcp, e(c), ldc, o(dy), lddy, o(m), ldm, e(dh), e(dc), o(peep), o(dpeep), e(dz), lddz, act, ract] }),
    gruGates: (B, U, g, ldg, hr, rb, hp, ldhp, rh, ldrh, ract) =>
      gpu.run(GRU_GATES, B * U, { u: [B, U, e(g), ldg, o(hr), o(rb), o(hp), ldhp, o(rh), ldrh, ract] }),
    gruOutput: (B, U, g, ldg, hr, rb, hp, ldhp, m, ldm, n, ldn, h, ldh, act, resetAfter) =>
      gpu.run(GRU_OUTPUT, B * U, { u: [B, U, e(g), ldg, o(hr), o(rb), o(hp), ldhp, o(m), ldm, o(n), ldn, e(h), ldh, act, resetAfter] }),
    gruBackward: (B, U, g, ldg, hp, ldhp, n, ldn, dy, lddy, m, ldm, dh, dx, lddx, dhr, lddhr, act, ract, resetAfter) =>
      gpu.run(GRU_BACKWARD, B * U, { u: [B, U, e(g), ldg, o(hp), ldhp, o(n), ldn, o(dy), lddy, o(m), ldm, e(dh), e(dx), lddx, o(dhr), lddhr, act, ract, resetAfter] }),
    gruBackwardReset: (B, U, g, ldg, hp, ldhp, drh, dx, lddx, dh, ract) =>
      gpu.run(GRU_BACKWARD_RESET, B * U, { u: [B, U, e(g), ldg, o(hp), ldhp, e(drh), e(dx), lddx, e(dh), ract] }),
  };
}
