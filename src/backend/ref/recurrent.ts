// Reference (oracle) kernels for the recurrent cells: plain TypeScript loops with float64 arithmetic that
// reproduce the contracts of assembly/recurrent.ts (strided rows, 0 for zeros, in-place gates).
import type { Kernels } from '../kernels.js';
import { type HeapMemory, f32 } from './memory.js';

type RecurrentKernels = Pick<Kernels, 'rnnMaskRows' | 'rnnCell' | 'rnnCellBackward' | 'lstmCell' | 'lstmCellBackward' | 'gruGates' |
  'gruOutput' | 'gruBackward' | 'gruBackwardReset'>;

// Activation codes (assembly/common.ts; Act in ../kernels.ts): the ones a recurrent gate may use.
const RELU = 1, SIGMOID = 6, TANH = 7, HARD_SIGMOID = 12;

function act(kind: number, x: number): number {
  switch (kind) {
    case SIGMOID: return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    case TANH: return Math.tanh(x);
    case HARD_SIGMOID: return Math.min(Math.max(0.2 * x + 0.5, 0), 1);
    case RELU: return Math.max(x, 0);
    default: return x;
  }
}

/** f'(x) from y = f(x). */
function dact(kind: number, y: number): number {
  switch (kind) {
    case SIGMOID: return y * (1 - y);
    case TANH: return 1 - y * y;
    case HARD_SIGMOID: return y > 0 && y < 1 ? 0.2 : 0;
    case RELU: return y > 0 ? 1 : 0;
    default: return 1;
  }
}

export function recurrentKernels(m: HeapMemory): RecurrentKernels {
  // element j of row b of a strided matrix at p; 0 reads as zero
  const get = (p: number, b: number, ld: number, j: number): number => (p ? f32(m, p + (b * ld + j) * 4, 1)[0] : 0);
  const set = (p: number, b: number, ld: number, j: number, v: number): void => { f32(m, p + (b * ld + j) * 4, 1)[0] = v; };
  // a padded row (mask 0): the state carries over; backward, the gradient of h passes to h_{t-1}
  const padded = (mask: number, ldm: number, b: number): boolean => mask !== 0 && get(mask, b, ldm, 0) === 0;
  const copyRow = (U: number, src: number, lds: number, dst: number, ldd: number, b: number): void => {
    for (let j = 0; j < U; j++) set(dst, b, ldd, j, get(src, b, lds, j));
  };
  const passRow = (U: number, G: number, dy: number, lddy: number, dh: number, dz: number, lddz: number, b: number): void => {
    for (let j = 0; j < U; j++) set(dh, b, U, j, get(dy, b, lddy, j) + get(dh, b, U, j));
    for (let j = 0; j < G * U; j++) set(dz, b, lddz, j, 0);
  };
  return {
    rnnMaskRows(B, U, a, lda, mk, out, ldo, accumulate) {
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < U; j++) set(out, b, ldo, j, (accumulate ? get(out, b, ldo, j) : 0) + get(a, b, lda, j) * get(mk, b, U, j));
      }
    },
    rnnCell(B, U, z, ldz, hp, ldhp, mk, ldm, h, ldh, a) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) copyRow(U, hp, ldhp, h, ldh, b);
        else for (let j = 0; j < U; j++) set(h, b, ldh, j, act(a, get(z, b, ldz, j)));
      }
    },
    rnnCellBackward(B, U, h, ldh, dy, lddy, mk, ldm, dh, dz, lddz, a) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) { passRow(U, 1, dy, lddy, dh, dz, lddz, b); continue; }
        for (let j = 0; j < U; j++) {
          set(dz, b, lddz, j, (get(dy, b, lddy, j) + get(dh, b, U, j)) * dact(a, get(h, b, ldh, j)));
          set(dh, b, U, j, 0);
        }
      }
    },
    lstmCell(B, U, z, ldz, hp, ldhp, cp, ldcp, mk, ldm, c, ldc, h, ldh, peep, a, ra) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) { copyRow(U, hp, ldhp, h, ldh, b); copyRow(U, cp, ldcp, c, ldc, b); continue; }
        for (let j = 0; j < U; j++) {
          const cpv = get(cp, b, ldcp, j);
          const i = act(ra, get(z, b, ldz, j) + get(peep, 0, 0, j) * cpv);
          const f = act(ra, get(z, b, ldz, U + j) + get(peep, 0, 0, U + j) * cpv);
          const g = act(a, get(z, b, ldz, 2 * U + j));
          const cv = f * cpv + i * g;
          const o = act(ra, get(z, b, ldz, 3 * U + j) + get(peep, 0, 0, 2 * U + j) * cv);
          [i, f, g, o].forEach((v, k) => set(z, b, ldz, k * U + j, v));
          set(c, b, ldc, j, cv);
          set(h, b, ldh, j, o * act(a, cv));
        }
      }
    },
    lstmCellBackward(B, U, z, ldz, cp, ldcp, c, ldc, dy, lddy, mk, ldm, dh, dc, peep, dpeep, dz, lddz, a, ra) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) { passRow(U, 4, dy, lddy, dh, dz, lddz, b); continue; }
        for (let j = 0; j < U; j++) {
          const [i, f, g, o] = [0, 1, 2, 3].map((k) => get(z, b, ldz, k * U + j));
          const cpv = get(cp, b, ldcp, j), cv = get(c, b, ldc, j), ac = act(a, cv);
          const d = get(dy, b, lddy, j) + get(dh, b, U, j);
          const dzo = d * ac * dact(ra, o);
          const dcv = get(dc, b, U, j) + d * o * dact(a, ac) + dzo * get(peep, 0, 0, 2 * U + j);
          const dzi = dcv * g * dact(ra, i), dzf = dcv * cpv * dact(ra, f), dzg = dcv * i * dact(a, g);
          set(dc, b, U, j, dcv * f + dzi * get(peep, 0, 0, j) + dzf * get(peep, 0, 0, U + j));
          if (peep) {
            set(dpeep, 0, 0, j, get(dpeep, 0, 0, j) + dzi * cpv);
            set(dpeep, 0, 0, U + j, get(dpeep, 0, 0, U + j) + dzf * cpv);
            set(dpeep, 0, 0, 2 * U + j, get(dpeep, 0, 0, 2 * U + j) + dzo * cv);
          }
          [dzi, dzf, dzg, dzo].forEach((v, k) => set(dz, b, lddz, k * U + j, v));
          set(dh, b, U, j, 0);
        }
      }
    },
    gruGates(B, U, g, ldg, hr, rb, hp, ldhp, rh, ldrh, ra) {
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < 2 * U; j++) {
          const v = act(ra, get(g, b, ldg, j) + get(hr, b, 3 * U, j) + get(rb, 0, 0, j));
          set(g, b, ldg, j, v);
          if (rh && j >= U) set(rh, b, ldrh, j - U, v * get(hp, b, ldhp, j - U));
        }
      }
    },
    gruOutput(B, U, g, ldg, hr, rb, hp, ldhp, mk, ldm, n, ldn, h, ldh, a, resetAfter) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) { copyRow(U, hp, ldhp, h, ldh, b); continue; }
        for (let j = 0; j < U; j++) {
          const z = get(g, b, ldg, j), r = get(g, b, ldg, U + j);
          let pre = get(g, b, ldg, 2 * U + j), rec = get(hr, b, 3 * U, 2 * U + j);
          if (resetAfter) {
            rec += get(rb, 0, 0, 2 * U + j);
            if (n) set(n, b, ldn, j, rec);
            pre += r * rec;
          } else {
            pre += rec;
          }
          const hh = act(a, pre);
          set(g, b, ldg, 2 * U + j, hh);
          set(h, b, ldh, j, z * get(hp, b, ldhp, j) + (1 - z) * hh);
        }
      }
    },
    gruBackward(B, U, g, ldg, hp, ldhp, n, ldn, dy, lddy, mk, ldm, dh, dx, lddx, dhr, lddhr, a, ra, resetAfter) {
      for (let b = 0; b < B; b++) {
        if (padded(mk, ldm, b)) {
          passRow(U, 3, dy, lddy, dh, dx, lddx, b);
          if (resetAfter) for (let j = 0; j < 3 * U; j++) set(dhr, b, lddhr, j, 0);
          continue;
        }
        for (let j = 0; j < U; j++) {
          const z = get(g, b, ldg, j), r = get(g, b, ldg, U + j), hh = get(g, b, ldg, 2 * U + j);
          const d = get(dy, b, lddy, j) + get(dh, b, U, j);
          const dzz = d * (get(hp, b, ldhp, j) - hh) * dact(ra, z), dzh = d * (1 - z) * dact(a, hh);
          set(dx, b, lddx, j, dzz);
          set(dx, b, lddx, 2 * U + j, dzh);
          if (resetAfter) {
            const dzr = dzh * get(n, b, ldn, j) * dact(ra, r);
            set(dx, b, lddx, U + j, dzr);
            set(dhr, b, lddhr, j, dzz);
            set(dhr, b, lddhr, U + j, dzr);
            set(dhr, b, lddhr, 2 * U + j, dzh * r);
          }
          set(dh, b, U, j, d * z);
        }
      }
    },
    gruBackwardReset(B, U, g, ldg, hp, ldhp, drh, dx, lddx, dh, ra) {
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < U; j++) {
          const r = get(g, b, ldg, U + j), d = get(drh, b, U, j);
          set(dx, b, lddx, U + j, d * get(hp, b, ldhp, j) * dact(ra, r));
          set(dh, b, U, j, get(dh, b, U, j) + d * r);
        }
      }
    },
  };
}
