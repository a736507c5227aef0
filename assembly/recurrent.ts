// Recurrent cells (simple RNN, LSTM, GRU), one time step over a batch, forward and backward. The op
// (src/ops/recurrent.ts) runs the GEMMs: the input projection of all steps at once, h_{t-1}·R per step; these
// kernels are the elementwise rest of a step in one pass: gate nonlinearities, cell update, output. Rows are
// strided (`ld*`, in elements) so a step reads and writes its slice of [B, T, ·] sequences in place. A null
// pointer (0) for a previous state or an incoming gradient means zeros. Gate activations are restricted to
// those whose derivative is a function of their output: linear, ReLU, sigmoid, tanh, hard sigmoid.
import { ACT_LINEAR, ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_HARD_SIGMOID, madd4, sigmoidf, sigmoidV, tanhV } from './common';

// ---- activations: scalar, and four lanes (sigmoidV, tanhV: common.ts) ----

function actS(kind: i32, x: f32): f32 {
  switch (kind) {
    case ACT_SIGMOID: return sigmoidf(x);
    case ACT_TANH: return Mathf.tanh(x);
    case ACT_HARD_SIGMOID: return min(max(<f32>0.2 * x + <f32>0.5, <f32>0), <f32>1);
    case ACT_RELU: return max(x, 0);
    default: return x;
  }
}

/** f'(x) from y = f(x). */
function dactS(kind: i32, y: f32): f32 {
  switch (kind) {
    case ACT_SIGMOID: return y * (1 - y);
    case ACT_TANH: return 1 - y * y;
    case ACT_HARD_SIGMOID: return y > 0 && y < 1 ? 0.2 : 0;
    case ACT_RELU: return y > 0 ? 1 : 0;
    default: return 1;
  }
}

function actV(kind: i32, x: v128): v128 {
  const one = f32x4.splat(1);
  switch (kind) {
    case ACT_SIGMOID: return sigmoidV(x);
    case ACT_TANH: return tanhV(x);
    case ACT_HARD_SIGMOID: return f32x4.pmin(f32x4.pmax(madd4(x, f32x4.splat(0.2), f32x4.splat(0.5)), f32x4.splat(0)), one);
    case ACT_RELU: return f32x4.pmax(x, f32x4.splat(0));
    default: return x;
  }
}

function dactV(kind: i32, y: v128): v128 {
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  switch (kind) {
    case ACT_SIGMOID: return f32x4.mul(y, f32x4.sub(one, y));
    case ACT_TANH: return f32x4.sub(one, f32x4.mul(y, y));
    case ACT_HARD_SIGMOID: return v128.and(v128.and(f32x4.gt(y, zero), f32x4.lt(y, one)), f32x4.splat(0.2));
    case ACT_RELU: return v128.and(f32x4.gt(y, zero), one);
    default: return one;
  }
}

// @ts-ignore: decorator
@inline function at(p: usize, row: i32, ld: i32, j: i32): usize {
  return p + ((<usize>row * <usize>ld + <usize>j) << 2);
}

// @ts-ignore: decorator
@inline function ldS(p: usize, row: i32, ld: i32, j: i32): f32 {
  return p ? load<f32>(at(p, row, ld, j)) : 0;
}

// @ts-ignore: decorator
@inline function ldV(p: usize, row: i32, ld: i32, j: i32): v128 {
  return p ? v128.load(at(p, row, ld, j)) : f32x4.splat(0);
}

/** Row b of a step is padding (mask m[b ldm] == 0; m 0: no mask): the state carries over unchanged. */
// @ts-ignore: decorator
@inline function padded(m: usize, ldm: i32, b: i32): bool {
  return m != 0 && load<f32>(m + ((<usize>b * <usize>ldm) << 2)) == 0;
}

/** dst row b = src row b (src 0: zeros). */
// @ts-ignore: decorator
@inline function copyRow(U: i32, src: usize, lds: i32, dst: usize, ldd: i32, b: i32): void {
  if (src) memory.copy(at(dst, b, ldd, 0), at(src, b, lds, 0), <usize>U << 2);
  else memory.fill(at(dst, b, ldd, 0), 0, <usize>U << 2);
}

/** Backward through a padded row: its pre-activation gradients are 0 and the gradient of h passes to h_{t-1}. */
// @ts-ignore: decorator
@inline function passRow(U: i32, G: i32, dy: usize, lddy: i32, dh: usize, dz: usize, lddz: i32, b: i32): void {
  for (let j = 0; j < U; j++) store<f32>(at(dh, b, U, j), ldS(dy, b, lddy, j) + load<f32>(at(dh, b, U, j)));
  memory.fill(at(dz, b, lddz, 0), 0, <usize>(G * U) << 2);
}

/**
 * Recurrent dropout (Gal & Ghahramani 2016: one mask per sequence on the recurrent connections): out = a m
 * row by row, or out += a m with accumulate (the backward pass). a: B rows lda apart (0: zeros); m and out:
 * [B, U]; out may alias a when lda == U.
 */
export function rnnMaskRows(B: i32, U: i32, a: usize, lda: i32, m: usize, out: usize, ldo: i32, accumulate: i32): void {
  for (let b = 0; b < B; b++) {
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const v = f32x4.mul(ldV(a, b, lda, j), v128.load(at(m, b, U, j)));
        v128.store(at(out, b, ldo, j), accumulate ? f32x4.add(v128.load(at(out, b, ldo, j)), v) : v);
      }
    }
    for (; j < U; j++) {
      const v = ldS(a, b, lda, j) * load<f32>(at(m, b, U, j));
      store<f32>(at(out, b, ldo, j), accumulate ? load<f32>(at(out, b, ldo, j)) + v : v);
    }
  }
}

// ---- simple RNN: h = act(z), z = x W + b + h_{t-1} R already summed by the GEMMs ----

/** h[b, j] = act(z[b, j]) for B rows of U (h may alias z); a padded row keeps h_{t-1} (hp). */
export function rnnCell(B: i32, U: i32, z: usize, ldz: i32, hp: usize, ldhp: i32, m: usize, ldm: i32, h: usize, ldh: i32, act: i32): void {
  for (let b = 0; b < B; b++) {
    if (padded(m, ldm, b)) { copyRow(U, hp, ldhp, h, ldh, b); continue; }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) v128.store(at(h, b, ldh, j), actV(act, v128.load(at(z, b, ldz, j))));
    }
    for (; j < U; j++) store<f32>(at(h, b, ldh, j), actS(act, load<f32>(at(z, b, ldz, j))));
  }
}

/**
 * dz = (dy + dh) act'(h): dy (strided, may be 0) from this step's output, dh ([B, U]) from later steps. dh is
 * consumed: 0 after, or, on a padded row, the whole gradient of h, which belongs to h_{t-1}.
 */
export function rnnCellBackward(B: i32, U: i32, h: usize, ldh: i32, dy: usize, lddy: i32, m: usize, ldm: i32, dh: usize, dz: usize, lddz: i32, act: i32): void {
  for (let b = 0; b < B; b++) {
    if (padded(m, ldm, b)) { passRow(U, 1, dy, lddy, dh, dz, lddz, b); continue; }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const g = f32x4.add(ldV(dy, b, lddy, j), ldV(dh, b, U, j));
        v128.store(at(dz, b, lddz, j), f32x4.mul(g, dactV(act, v128.load(at(h, b, ldh, j)))));
      }
    }
    for (; j < U; j++) store<f32>(at(dz, b, lddz, j), (ldS(dy, b, lddy, j) + ldS(dh, b, U, j)) * dactS(act, load<f32>(at(h, b, ldh, j))));
    memory.fill(at(dh, b, U, 0), 0, <usize>U << 2);
  }
}

// ---- LSTM: gates i, f, g (candidate), o in blocks of U; c = f c_{t-1} + i g; h = o act(c) ----

/**
 * One LSTM step: z ([B, 4U] pre-activations, rows ldz apart) becomes the activated gates in place; writes the
 * cell c and the output h. hp, cp: h_{t-1}, c_{t-1} (0: zeros). peep: [3U] peephole weights for i, f, o (0:
 * none). A padded row (mask m) keeps h_{t-1} and c_{t-1}.
 */
export function lstmCell(B: i32, U: i32, z: usize, ldz: i32, hp: usize, ldhp: i32, cp: usize, ldcp: i32, m: usize, ldm: i32,
  c: usize, ldc: i32, h: usize, ldh: i32, peep: usize, act: i32, ract: i32): void {
  const U2 = U << 1, U3 = U * 3;
  for (let b = 0; b < B; b++) {
    if (padded(m, ldm, b)) { copyRow(U, hp, ldhp, h, ldh, b); copyRow(U, cp, ldcp, c, ldc, b); continue; }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const cpv = ldV(cp, b, ldcp, j);
        let zi = v128.load(at(z, b, ldz, j)), zf = v128.load(at(z, b, ldz, U + j)), zo = v128.load(at(z, b, ldz, U3 + j));
        if (peep) {
          zi = madd4(v128.load(at(peep, 0, 0, j)), cpv, zi);
          zf = madd4(v128.load(at(peep, 0, 0, U + j)), cpv, zf);
        }
        const i = actV(ract, zi), f = actV(ract, zf), g = actV(act, v128.load(at(z, b, ldz, U2 + j)));
        const cv = madd4(f, cpv, f32x4.mul(i, g));
        if (peep) zo = madd4(v128.load(at(peep, 0, 0, U2 + j)), cv, zo);
        const o = actV(ract, zo);
        v128.store(at(z, b, ldz, j), i);
        v128.store(at(z, b, ldz, U + j), f);
        v128.store(at(z, b, ldz, U2 + j), g);
        v128.store(at(z, b, ldz, U3 + j), o);
        v128.store(at(c, b, ldc, j), cv);
        v128.store(at(h, b, ldh, j), f32x4.mul(o, actV(act, cv)));
      }
    }
    for (; j < U; j++) {
      const cpv = ldS(cp, b, ldcp, j);
      let zi = load<f32>(at(z, b, ldz, j)), zf = load<f32>(at(z, b, ldz, U + j)), zo = load<f32>(at(z, b, ldz, U3 + j));
      if (peep) {
        zi += load<f32>(at(peep, 0, 0, j)) * cpv;
        zf += load<f32>(at(peep, 0, 0, U + j)) * cpv;
      }
      const i = actS(ract, zi), f = actS(ract, zf), g = actS(act, load<f32>(at(z, b, ldz, U2 + j)));
      const cv = f * cpv + i * g;
      if (peep) zo += load<f32>(at(peep, 0, 0, U2 + j)) * cv;
      const o = actS(ract, zo);
      store<f32>(at(z, b, ldz, j), i);
      store<f32>(at(z, b, ldz, U + j), f);
      store<f32>(at(z, b, ldz, U2 + j), g);
      store<f32>(at(z, b, ldz, U3 + j), o);
      store<f32>(at(c, b, ldc, j), cv);
      store<f32>(at(h, b, ldh, j), o * actS(act, cv));
    }
  }
}

/**
 * One LSTM step backward. z: the activated gates of the step; cp, c: c_{t-1}, c_t; dy (may be 0) and dh
 * ([B, U]): the gradient of h_t from this step's output and from later steps; dc ([B, U]): in, the gradient of
 * c_t from later steps; out, that of c_{t-1}. Writes dz ([B, 4U] pre-activation gradients, rows lddz apart)
 * and accumulates dpeep ([3U], where peep). dh is consumed as in rnnCellBackward.
 */
export function lstmCellBackward(B: i32, U: i32, z: usize, ldz: i32, cp: usize, ldcp: i32, c: usize, ldc: i32, dy: usize, lddy: i32,
  m: usize, ldm: i32, dh: usize, dc: usize, peep: usize, dpeep: usize, dz: usize, lddz: i32, act: i32, ract: i32): void {
  const U2 = U << 1, U3 = U * 3;
  for (let b = 0; b < B; b++) {
    // a padded row: dc passes to c_{t-1} as it is
    if (padded(m, ldm, b)) { passRow(U, 4, dy, lddy, dh, dz, lddz, b); continue; }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const i = v128.load(at(z, b, ldz, j)), f = v128.load(at(z, b, ldz, U + j));
        const g = v128.load(at(z, b, ldz, U2 + j)), o = v128.load(at(z, b, ldz, U3 + j));
        const cpv = ldV(cp, b, ldcp, j), cv = v128.load(at(c, b, ldc, j)), ac = actV(act, cv);
        const dhv = f32x4.add(ldV(dy, b, lddy, j), v128.load(at(dh, b, U, j)));
        const dzo = f32x4.mul(f32x4.mul(dhv, ac), dactV(ract, o));
        let dcv = madd4(f32x4.mul(dhv, o), dactV(act, ac), v128.load(at(dc, b, U, j)));
        if (peep) dcv = madd4(dzo, v128.load(at(peep, 0, 0, U2 + j)), dcv);
        const dzi = f32x4.mul(f32x4.mul(dcv, g), dactV(ract, i));
        const dzf = f32x4.mul(f32x4.mul(dcv, cpv), dactV(ract, f));
        const dzg = f32x4.mul(f32x4.mul(dcv, i), dactV(act, g));
        let dcp = f32x4.mul(dcv, f);
        if (peep) {
          dcp = madd4(dzi, v128.load(at(peep, 0, 0, j)), madd4(dzf, v128.load(at(peep, 0, 0, U + j)), dcp));
          v128.store(at(dpeep, 0, 0, j), madd4(dzi, cpv, v128.load(at(dpeep, 0, 0, j))));
          v128.store(at(dpeep, 0, 0, U + j), madd4(dzf, cpv, v128.load(at(dpeep, 0, 0, U + j))));
          v128.store(at(dpeep, 0, 0, U2 + j), madd4(dzo, cv, v128.load(at(dpeep, 0, 0, U2 + j))));
        }
        v128.store(at(dc, b, U, j), dcp);
        v128.store(at(dz, b, lddz, j), dzi);
        v128.store(at(dz, b, lddz, U + j), dzf);
        v128.store(at(dz, b, lddz, U2 + j), dzg);
        v128.store(at(dz, b, lddz, U3 + j), dzo);
      }
    }
    for (; j < U; j++) {
      const i = load<f32>(at(z, b, ldz, j)), f = load<f32>(at(z, b, ldz, U + j));
      const g = load<f32>(at(z, b, ldz, U2 + j)), o = load<f32>(at(z, b, ldz, U3 + j));
      const cpv = ldS(cp, b, ldcp, j), cv = load<f32>(at(c, b, ldc, j)), ac = actS(act, cv);
      const dhv = ldS(dy, b, lddy, j) + load<f32>(at(dh, b, U, j));
      const dzo = dhv * ac * dactS(ract, o);
      let dcv = load<f32>(at(dc, b, U, j)) + dhv * o * dactS(act, ac);
      if (peep) dcv += dzo * load<f32>(at(peep, 0, 0, U2 + j));
      const dzi = dcv * g * dactS(ract, i), dzf = dcv * cpv * dactS(ract, f), dzg = dcv * i * dactS(act, g);
      let dcp = dcv * f;
      if (peep) {
        dcp += dzi * load<f32>(at(peep, 0, 0, j)) + dzf * load<f32>(at(peep, 0, 0, U + j));
        store<f32>(at(dpeep, 0, 0, j), load<f32>(at(dpeep, 0, 0, j)) + dzi * cpv);
        store<f32>(at(dpeep, 0, 0, U + j), load<f32>(at(dpeep, 0, 0, U + j)) + dzf * cpv);
        store<f32>(at(dpeep, 0, 0, U2 + j), load<f32>(at(dpeep, 0, 0, U2 + j)) + dzo * cv);
      }
      store<f32>(at(dc, b, U, j), dcp);
      store<f32>(at(dz, b, lddz, j), dzi);
      store<f32>(at(dz, b, lddz, U + j), dzf);
      store<f32>(at(dz, b, lddz, U2 + j), dzg);
      store<f32>(at(dz, b, lddz, U3 + j), dzo);
    }
    memory.fill(at(dh, b, U, 0), 0, <usize>U << 2);
  }
}

// ---- GRU: gates z, r, candidate h in blocks of U; h = z h_{t-1} + (1 - z) hh ----
// g ([B, 3U], rows ldg apart): x W + input bias, made the activated z, r, hh in place. hr ([B, 3U], contiguous):
// h_{t-1} R (0: zeros). rb: the recurrent bias [3U] (reset-after form; 0: none).

/** z and r of one GRU step; where rh is given (reset-before form), also rh = r h_{t-1}, the input of the candidate's GEMM. */
export function gruGates(B: i32, U: i32, g: usize, ldg: i32, hr: usize, rb: usize, hp: usize, ldhp: i32, rh: usize, ldrh: i32, ract: i32): void {
  const U3 = U * 3;
  for (let b = 0; b < B; b++) {
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const z = actV(ract, f32x4.add(v128.load(at(g, b, ldg, j)), f32x4.add(ldV(hr, b, U3, j), ldV(rb, 0, 0, j))));
        const r = actV(ract, f32x4.add(v128.load(at(g, b, ldg, U + j)), f32x4.add(ldV(hr, b, U3, U + j), ldV(rb, 0, 0, U + j))));
        v128.store(at(g, b, ldg, j), z);
        v128.store(at(g, b, ldg, U + j), r);
        if (rh) v128.store(at(rh, b, ldrh, j), f32x4.mul(r, ldV(hp, b, ldhp, j)));
      }
    }
    for (; j < U; j++) {
      const z = actS(ract, load<f32>(at(g, b, ldg, j)) + ldS(hr, b, U3, j) + ldS(rb, 0, 0, j));
      const r = actS(ract, load<f32>(at(g, b, ldg, U + j)) + ldS(hr, b, U3, U + j) + ldS(rb, 0, 0, U + j));
      store<f32>(at(g, b, ldg, j), z);
      store<f32>(at(g, b, ldg, U + j), r);
      if (rh) store<f32>(at(rh, b, ldrh, j), r * ldS(hp, b, ldhp, j));
    }
  }
}

/**
 * The candidate and output of one GRU step. Reset-after: n = h_{t-1} Rh + rbh (saved to n), hh = act(x Wh + r n);
 * reset-before: hr's third block holds (r h_{t-1}) Rh, hh = act(x Wh + that).
 */
export function gruOutput(B: i32, U: i32, g: usize, ldg: i32, hr: usize, rb: usize, hp: usize, ldhp: i32, m: usize, ldm: i32,
  n: usize, ldn: i32, h: usize, ldh: i32, act: i32, resetAfter: i32): void {
  const U2 = U << 1, U3 = U * 3;
  for (let b = 0; b < B; b++) {
    if (padded(m, ldm, b)) { copyRow(U, hp, ldhp, h, ldh, b); continue; }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const z = v128.load(at(g, b, ldg, j)), r = v128.load(at(g, b, ldg, U + j));
        let a = v128.load(at(g, b, ldg, U2 + j)), rec = ldV(hr, b, U3, U2 + j);
        if (resetAfter) {
          rec = f32x4.add(rec, ldV(rb, 0, 0, U2 + j));
          if (n) v128.store(at(n, b, ldn, j), rec);
          a = madd4(r, rec, a);
        } else {
          a = f32x4.add(a, rec);
        }
        const hh = actV(act, a);
        v128.store(at(g, b, ldg, U2 + j), hh);
        // z h_{t-1} + (1 - z) hh = hh + z (h_{t-1} - hh)
        v128.store(at(h, b, ldh, j), madd4(z, f32x4.sub(ldV(hp, b, ldhp, j), hh), hh));
      }
    }
    for (; j < U; j++) {
      const z = load<f32>(at(g, b, ldg, j)), r = load<f32>(at(g, b, ldg, U + j));
      let a = load<f32>(at(g, b, ldg, U2 + j)), rec = ldS(hr, b, U3, U2 + j);
      if (resetAfter) {
        rec += ldS(rb, 0, 0, U2 + j);
        if (n) store<f32>(at(n, b, ldn, j), rec);
        a += r * rec;
      } else {
        a += rec;
      }
      const hh = actS(act, a);
      store<f32>(at(g, b, ldg, U2 + j), hh);
      store<f32>(at(h, b, ldh, j), z * ldS(hp, b, ldhp, j) + (1 - z) * hh);
    }
  }
}

/**
 * One GRU step backward. dy (may be 0) + dh: the gradient of h_t; writes dx ([B, 3U] pre-activation gradients
 * of x W + b, rows lddx apart; the r block only in the reset-after form) and, reset-after, dhr (those of
 * h_{t-1} R + rb, rows lddhr apart); dh becomes the direct part of the gradient of h_{t-1} (dh z).
 */
export function gruBackward(B: i32, U: i32, g: usize, ldg: i32, hp: usize, ldhp: i32, n: usize, ldn: i32, dy: usize, lddy: i32,
  m: usize, ldm: i32, dh: usize, dx: usize, lddx: i32, dhr: usize, lddhr: i32, act: i32, ract: i32, resetAfter: i32): void {
  const U2 = U << 1;
  for (let b = 0; b < B; b++) {
    if (padded(m, ldm, b)) {
      passRow(U, 3, dy, lddy, dh, dx, lddx, b);
      if (resetAfter) memory.fill(at(dhr, b, lddhr, 0), 0, <usize>(3 * U) << 2);
      continue;
    }
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const one = f32x4.splat(1);
      for (; j + 4 <= U; j += 4) {
        const z = v128.load(at(g, b, ldg, j)), r = v128.load(at(g, b, ldg, U + j)), hh = v128.load(at(g, b, ldg, U2 + j));
        const d = f32x4.add(ldV(dy, b, lddy, j), v128.load(at(dh, b, U, j)));
        const dzz = f32x4.mul(f32x4.mul(d, f32x4.sub(ldV(hp, b, ldhp, j), hh)), dactV(ract, z));
        const dzh = f32x4.mul(f32x4.mul(d, f32x4.sub(one, z)), dactV(act, hh));
        v128.store(at(dx, b, lddx, j), dzz);
        v128.store(at(dx, b, lddx, U2 + j), dzh);
        if (resetAfter) {
          const dzr = f32x4.mul(f32x4.mul(dzh, v128.load(at(n, b, ldn, j))), dactV(ract, r));
          v128.store(at(dx, b, lddx, U + j), dzr);
          v128.store(at(dhr, b, lddhr, j), dzz);
          v128.store(at(dhr, b, lddhr, U + j), dzr);
          v128.store(at(dhr, b, lddhr, U2 + j), f32x4.mul(dzh, r));
        }
        v128.store(at(dh, b, U, j), f32x4.mul(d, z));
      }
    }
    for (; j < U; j++) {
      const z = load<f32>(at(g, b, ldg, j)), r = load<f32>(at(g, b, ldg, U + j)), hh = load<f32>(at(g, b, ldg, U2 + j));
      const d = ldS(dy, b, lddy, j) + load<f32>(at(dh, b, U, j));
      const dzz = d * (ldS(hp, b, ldhp, j) - hh) * dactS(ract, z);
      const dzh = d * (1 - z) * dactS(act, hh);
      store<f32>(at(dx, b, lddx, j), dzz);
      store<f32>(at(dx, b, lddx, U2 + j), dzh);
      if (resetAfter) {
        const dzr = dzh * load<f32>(at(n, b, ldn, j)) * dactS(ract, r);
        store<f32>(at(dx, b, lddx, U + j), dzr);
        store<f32>(at(dhr, b, lddhr, j), dzz);
        store<f32>(at(dhr, b, lddhr, U + j), dzr);
        store<f32>(at(dhr, b, lddhr, U2 + j), dzh * r);
      }
      store<f32>(at(dh, b, U, j), d * z);
    }
  }
}

/** Reset-before form, after drh = dhh_pre Rhᵀ: the r block of dx, and dh += drh r. */
export function gruBackwardReset(B: i32, U: i32, g: usize, ldg: i32, hp: usize, ldhp: i32, drh: usize, dx: usize, lddx: i32, dh: usize, ract: i32): void {
  for (let b = 0; b < B; b++) {
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= U; j += 4) {
        const r = v128.load(at(g, b, ldg, U + j)), d = v128.load(at(drh, b, U, j));
        v128.store(at(dx, b, lddx, U + j), f32x4.mul(f32x4.mul(d, ldV(hp, b, ldhp, j)), dactV(ract, r)));
        v128.store(at(dh, b, U, j), madd4(d, r, v128.load(at(dh, b, U, j))));
      }
    }
    for (; j < U; j++) {
      const r = load<f32>(at(g, b, ldg, U + j)), d = load<f32>(at(drh, b, U, j));
      store<f32>(at(dx, b, lddx, U + j), d * ldS(hp, b, ldhp, j) * dactS(ract, r));
      store<f32>(at(dh, b, U, j), load<f32>(at(dh, b, U, j)) + d * r);
    }
  }
}
