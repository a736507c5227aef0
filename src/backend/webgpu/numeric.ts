// The ops that loop over tensor memory on the CPU elsewhere (src/ops/integer.ts, cast.ts, quant.ts'
// fakeQuant, norm.ts' batchNormFrozenGrad, loss.ts' categoricalCrossentropy), as WGSL kernels the webgpu
// backend exposes (`be.numeric`): an op that finds it runs there instead of reading memory on the host.
//
// Bit-exact with the host loops where those are exact: rounding is done on the bits (float16 / bfloat16 to
// nearest, ties to even; round half to even by trunc and the exact fraction v - trunc(v)), and the float32
// quotient x / scale of a quantization is divided on the integers (WGSL's `/` is within 2.5 ulp, not
// correctly rounded; the host's double quotient rounded to float32 is the correctly rounded one, as 53 >= 2 *
// 24 + 2). Integer wrap-around is done on i32. The sums of the batch-norm gradient and the loss are float64 on
// the host and compensated float32 sums here (close, not bit-exact).
//
// toInteger's checks (non-finite, beyond 2^24, negative unsigned 32 / 64-bit) throw on the host; a GPU result
// exists only after the queue ran, so a one-workgroup pass finds the first offending element (in the host
// loop's order) and flags it in a slot of GPU memory, the first flag wins, and the backend's next read throws
// the host's own error for it (settle).
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

/** What a cast rounds to, by code (src/ops/cast.ts CastTarget). */
export const CAST_CODE = { float16: 0, bfloat16: 1, integer: 2, bool: 3 } as const;

/** The WGSL forms; every handle is a byte offset into the heap, as the kernel table's. */
export interface DeviceNumeric {
  /**
   * y = x rounded to an integer ('trunc' or 'even': half to even), wrapped to 8 / 16 bits; an element the
   * host would refuse (non-finite, beyond 2^24, negative for unsigned 32 / 64 bits) is flagged, and the
   * backend's next read calls `refuse(value)` with the first one (it throws).
   */
  toInteger(n: number, x: number, y: number, round: 'trunc' | 'even', bits: number, signed: boolean, refuse: (value: number, index: number) => void): void;
  /** y = saturate(round_half_even(x / scale[c] or x * scale[c]) + zeroPoint[c]); c = floor(i / inner) % C. */
  requantize(n: number, x: number, y: number, inner: number, scale: readonly number[], zeroPoint: readonly number[], mode: 'divide' | 'multiply', qmin: number, qmax: number): void;
  /** y = (quantize(x) - zeroPoint) * scale (ONNX QuantizeLinear then DequantizeLinear, per tensor). */
  fakeQuant(n: number, x: number, y: number, scale: number, zeroPoint: number, qmin: number, qmax: number): void;
  /** y = x rounded as a cast to `to` rounds it (y may be x). */
  castRound(n: number, x: number, y: number, to: keyof typeof CAST_CODE): void;
  /**
   * The frozen-statistics batch norm's gradient over rows x C: dgamma / dbeta (if dg; dgamma from x and the
   * moving mean if x, else zeros) first, then dx = dy gamma / sqrt(var + eps) (if dx; may be dy).
   */
  batchNormFrozenGrad(rows: number, C: number, dy: number, gamma: number, movingVar: number, eps: number, x: number, movingMean: number, dx: number, dg: number, db: number): void;
  /**
   * Categorical cross-entropy on probabilities: L = -sum t log(clip(p, eps, 1 - eps)) / rows; g (if any) =
   * -t / p / rows where eps < p < 1 - eps, else 0 (Keras).
   */
  categoricalCrossentropy(rows: number, size: number, p: number, t: number, g: number, loss: number, eps: number): void;
  /**
   * A model's integer input (int32) as the float32 its graph reads; an element beyond 2^24 in magnitude is
   * flagged, and the next read calls `refuse(value, index)` with the first one.
   */
  int32ToFloat(n: number, x: number, y: number, refuse: (value: number, index: number) => void): void;
  /** A model's integer output held in float32, rounded to int32; a value not within 2^24 is flagged (refuse). */
  floatToInt32(n: number, x: number, y: number, refuse: (value: number, index: number) => void): void;
  /** Throws the first flagged error since the last settle (the backend's reads call it). */
  settle(): Promise<void>;
}

/** Rounding on the bits, shared by the kernels: trunc, half to even, float16, bfloat16, the exact quotient. */
const ROUNDING = /* wgsl */ `
fn isFinite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }
fn bigOrSpecial(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) >= 0x4b000000u; }
// toward zero; |v| >= 2^23 (and infinities, NaN) are integers already
fn truncX(v: f32) -> f32 { if (bigOrSpecial(v)) { return v; } return trunc(v); }
// to nearest, ties to even; v - trunc(v) is exact, and a zero keeps v's sign (as the host's Math.round)
fn roundEven(v: f32) -> f32 {
  if (bigOrSpecial(v)) { return v; }
  let t = trunc(v); let d = abs(v - t); let s = select(1.0, -1.0, v < 0.0);
  if (d > 0.5 || (d == 0.5 && (abs(i32(t)) & 1) == 1)) { return t + s; }
  return t;
}
// float32 -> float16 -> float32 (src/io/half.ts floatToHalf, halfToFloat); NaN -> the quiet NaN
fn toHalf(v: f32) -> f32 {
  let x = bitcast<u32>(v); let sg = (x >> 16u) & 0x8000u;
  let ex = (x >> 23u) & 0xffu; let man = x & 0x7fffffu;
  if (ex == 0xffu) { if (man != 0u) { return qnan(); } return bitcast<f32>((sg << 16u) | 0x7f800000u); }
  let eh = i32(ex) - 112;
  var h: u32;
  if (eh >= 31) { h = sg | 0x7c00u; }
  else if (eh <= 0) {
    if (eh < -10) { h = sg; }
    else {
      let m = man | 0x800000u; let shift = u32(14 - eh);
      let hw = 1u << (shift - 1u); let rest = m & ((1u << shift) - 1u);
      var r = m >> shift;
      if (rest > hw || (rest == hw && (r & 1u) == 1u)) { r++; }
      h = sg | r;
    }
  } else {
    var r = (u32(eh) << 10u) | (man >> 13u);
    let rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (r & 1u) == 1u)) { r++; }
    h = sg | r;
  }
  let he = (h >> 10u) & 0x1fu; let hf = h & 0x3ffu; let hs = (h & 0x8000u) << 16u;
  if (he == 0u) { return bitcast<f32>(hs | bitcast<u32>(f32(hf) * 5.9604644775390625e-8)); }
  if (he == 31u) { return bitcast<f32>(hs | 0x7f800000u); }
  return bitcast<f32>(hs | ((he + 112u) << 23u) | (hf << 13u));
}
// float32 -> bfloat16 -> float32 (floatToBfloat16): ties to even on the upper 16 bits; NaN stays a quiet NaN
fn toBfloat16(v: f32) -> f32 {
  let x = bitcast<u32>(v);
  if (isNan(v)) { return bitcast<f32>((x & 0x80000000u) | 0x7fc00000u); }
  return bitcast<f32>(((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) << 16u);
}
// a / b correctly rounded to float32 (to nearest, ties to even; subnormal results too), on the integers
fn mantissa(u: u32) -> vec2i {
  var m = u & 0x7fffffu; var ex = i32((u >> 23u) & 0xffu);
  if (ex == 0) { ex = 1; while (m < 0x800000u) { m <<= 1u; ex -= 1; } } else { m |= 0x800000u; }
  return vec2i(i32(m), ex);
}
fn divRn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a); let ub = bitcast<u32>(b);
  let sn = (ua ^ ub) & 0x80000000u;
  let aa = ua & 0x7fffffffu; let ab = ub & 0x7fffffffu;
  if (isNan(a) || isNan(b) || (aa == 0u && ab == 0u) || (aa == 0x7f800000u && ab == 0x7f800000u)) { return qnan(); }
  if (aa == 0x7f800000u || ab == 0u) { return bitcast<f32>(sn | 0x7f800000u); }
  if (aa == 0u || ab == 0x7f800000u) { return bitcast<f32>(sn); }
  let A = mantissa(ua); let B = mantissa(ub);
  var ma = u32(A.x); let mb = u32(B.x); var ex = A.y - B.y + 127;
  if (ma < mb) { ma <<= 1u; ex -= 1; }
  // q = floor(ma / mb * 2^25): 26 bits, the top one set; sticky: a remainder is left
  var q = 0u; var r = ma;
  for (var k = 0; k < 26; k++) { q <<= 1u; if (r >= mb) { r -= mb; q |= 1u; } r <<= 1u; }
  let sticky = r != 0u;
  var sh = 2u;
  if (ex <= 0) { sh = u32(3 - ex); if (sh >= 27u) { return bitcast<f32>(sn); } }
  var m = q >> sh;
  let gb = (q >> (sh - 1u)) & 1u;
  let rest = (q & ((1u << (sh - 1u)) - 1u)) != 0u || sticky;
  if (gb == 1u && (rest || (m & 1u) == 1u)) { m++; }
  if (ex <= 0) { return bitcast<f32>(sn | m); }
  if (m == 0x1000000u) { m >>= 1u; ex += 1; }
  if (ex >= 255) { return bitcast<f32>(sn | 0x7f800000u); }
  return bitcast<f32>(sn | (u32(ex) << 23u) | (m & 0x7fffffu));
}
// ONNX QuantizeLinear's q of one value: round_half_even(x / scale or x * scale) + zp, saturated (NaN stays)
fn quantize(x: f32, scale: f32, zp: f32, multiply: bool, qmin: f32, qmax: f32) -> f32 {
  let q = roundEven(select(divRn(x, scale), x * scale, multiply)) + zp;
  if (isNan(q)) { return q; }
  return select(select(q, qmax, q > qmax), qmin, q < qmin);
}
`;

// toInteger: a thread per element. u: n x y round bits signed (round 0: trunc, 1: half to even)
const TO_INTEGER = ROUNDING + /* wgsl */ `
fn toInt(v: f32, even: bool, bits: u32, isSigned: bool) -> f32 {
  if (!isFinite(v)) { return v; }
  let r = select(truncX(v), roundEven(v), even);
  if (abs(r) > 16777216.0 || bits > 16u) { return r; }
  // wrap modulo 2^bits as C does; |r| <= 2^24 is exact as i32
  let m = 1u << bits;
  let w = bitcast<u32>(i32(r)) & (m - 1u);
  if (isSigned && w >= m / 2u) { return f32(i32(w) - i32(m)); }
  return f32(w);
}
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  mem[ai(2u) + i] = toInt(mem[ai(1u) + i], ai(3u) == 1u, ai(4u), ai(5u) == 1u);
}`;

/** One workgroup of 64 for the check: each lane its first offending element (strided), then the least. */
const WG = 64;

// toInteger's check: the first element the host would refuse, into the slot (tag code value) if the slot is
// still 0 (tag code value index); code 1: not finite (value v), 2: beyond 2^24, 3: negative unsigned (value r).
// u: n x round bits signed slot tag
const TO_INTEGER_CHECK = ROUNDING + /* wgsl */ `
var<workgroup> first: array<u32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) l: u32) {
  let n = ai(0u); let x = ai(1u);
  var f = 0xffffffffu;
  for (var i = l; i < n; i += ${WG}u) {
    let v = mem[x + i];
    let r = select(truncX(v), roundEven(v), ai(2u) == 1u);
    if (!isFinite(v) || abs(r) > 16777216.0 || (ai(3u) > 16u && ai(4u) == 0u && r < 0.0)) { f = i; break; }
  }
  first[l] = f;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { first[l] = min(first[l], first[l + h]); }
    workgroupBarrier();
  }
  let s = ai(5u);
  if (l == 0u && first[0] != 0xffffffffu && mem[s] == 0.0) {
    let v = mem[x + first[0]];
    let r = select(truncX(v), roundEven(v), ai(2u) == 1u);
    mem[s] = f32(ai(6u));
    mem[s + 1u] = select(select(3.0, 2.0, abs(r) > 16777216.0), 1.0, !isFinite(v));
    mem[s + 2u] = select(r, v, !isFinite(v));
    mem[s + 3u] = f32(first[0]);
  }
}`;

// requantize / fakeQuant: a thread per element. u: n x y C inner params mode fake; f: qmin qmax.
// params: C scales then C zero points (fake: one of each, in f: scale zp after qmin qmax)
const REQUANTIZE = ROUNDING + /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let x = mem[ai(1u) + i];
  if (ai(7u) == 1u) {
    let scale = af(10u); let zp = af(11u);
    let q = quantize(x, scale, zp, false, af(8u), af(9u));
    // (q - zp) exact, times scale correctly rounded: the host's fround of the float64 product
    mem[ai(2u) + i] = (q - zp) * scale;
    return;
  }
  let C = ai(3u); let c = select((i / ai(4u)) % C, 0u, C == 1u);
  mem[ai(2u) + i] = quantize(x, mem[ai(5u) + c], mem[ai(5u) + C + c], ai(6u) == 1u, af(8u), af(9u));
}`;

// cast: a thread per element. u: n x y to (0 float16, 1 bfloat16, 2 integer, 3 bool)
const CAST = ROUNDING + /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let v = mem[ai(1u) + i]; let to = ai(3u);
  var r: f32;
  if (to == 0u) { r = toHalf(v); }
  else if (to == 1u) { r = toBfloat16(v); }
  else if (to == 2u) { r = truncX(v); }
  else { r = select(0.0, 1.0, (bitcast<u32>(v) & 0x7fffffffu) != 0u); }
  mem[ai(2u) + i] = r;
}`;

// a model's integers at its boundary: int32 -> float32 (kind 0) or float32 -> int32, rounded (kind 1); a thread
// per element. u: n x y kind
const BOUNDARY = ROUNDING + /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let v = mem[ai(1u) + i];
  if (ai(3u) == 0u) { mem[ai(2u) + i] = f32(bitcast<i32>(v)); return; }
  // as the host's Math.round: half to even but for ties, which go up
  let t = truncX(v); let d = v - t;
  let r = select(select(roundEven(v), t, d == -0.5), t + 1.0, d == 0.5);
  mem[ai(2u) + i] = bitcast<f32>(select(0, i32(r), abs(r) <= 16777216.0));
}`;

// the boundary's check: the first element beyond 2^24 (int32 in, kind 0) or not within it (float32 out), into
// the slot as toInteger's check (tag, code 4, the value's bits, index). u: n x kind slot tag
const BOUNDARY_CHECK = /* wgsl */ `
var<workgroup> first: array<u32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) l: u32) {
  let n = ai(0u); let x = ai(1u); let kind = ai(2u);
  var f = 0xffffffffu;
  for (var i = l; i < n; i += ${WG}u) {
    let v = mem[x + i];
    let bad = select(abs(bitcast<i32>(v)) > 16777216 || bitcast<u32>(v) == 0x80000000u, !(abs(v) <= 16777216.0) || isNan(v), kind == 1u);
    if (bad) { f = i; break; }
  }
  first[l] = f;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { first[l] = min(first[l], first[l + h]); }
    workgroupBarrier();
  }
  let s = ai(3u);
  if (l == 0u && first[0] != 0xffffffffu && mem[s] == 0.0) {
    mem[s] = f32(ai(4u));
    mem[s + 1u] = 4.0;
    mem[s + 2u] = mem[x + first[0]];
    mem[s + 3u] = f32(first[0]);
  }
}`;

/** Neumaier's compensated sum: (s, c) += v, so a long float32 sum keeps about twice the bits. */
const KAHAN = /* wgsl */ `
fn addC(acc: vec2f, v: f32) -> vec2f {
  let t = acc.x + v;
  let c = select(acc.y + ((v - t) + acc.x), acc.y + ((acc.x - t) + v), abs(acc.x) >= abs(v));
  return vec2f(t, c);
}`;

// batchNormFrozenGrad, the sums: a thread per channel. u: rows C dy x mean dg db gamma(0/1) inv
const BN_FROZEN_SUMS = KAHAN + /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let rows = ai(0u); let C = ai(1u);
  if (c >= C) { return; }
  let gamma = ai(7u) == 1u;
  var sg = vec2f(0.0); var sb = vec2f(0.0);
  let m = select(0.0, mem[ai(4u) + c], gamma);
  for (var r = 0u; r < rows; r++) {
    let d = mem[ai(2u) + r * C + c];
    if (gamma) { sg = addC(sg, d * (mem[ai(3u) + r * C + c] - m)); }
    sb = addC(sb, d);
  }
  mem[ai(5u) + c] = select(0.0, (sg.x + sg.y) * mem[ai(8u) + c], gamma);
  mem[ai(6u) + c] = sb.x + sb.y;
}`;

// 1 / sqrt(var + eps) per channel, into a workspace. u: C var inv; f: eps
const BN_INV = /* wgsl */ `
${MAIN} {
  let c = flat(g, nw);
  if (c >= ai(0u)) { return; }
  mem[ai(2u) + c] = 1.0 / sqrt(mem[ai(1u) + c] + af(3u));
}`;

// dx = dy gamma inv: a thread per element. u: n C dy gamma inv dx
const BN_FROZEN_DX = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(0u)) { return; }
  let c = i % ai(1u);
  mem[ai(5u) + i] = mem[ai(2u) + i] * mem[ai(3u) + c] * mem[ai(4u) + c];
}`;

// categorical cross-entropy: one workgroup of 64, each lane a strided share (and its gradient), then a tree.
// u: size p t g(0: none) loss hasG; f: eps 1-eps lo hi rows, where p > eps <=> p >= lo and p < 1 - eps <=> p <= hi
const CCE = KAHAN + ROUNDING + /* wgsl */ `
var<workgroup> part: array<vec2f, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) l: u32) {
  let n = ai(0u); let rows = af(10u);
  var s = vec2f(0.0);
  for (var i = l; i < n; i += ${WG}u) {
    let p = mem[ai(1u) + i]; let t = mem[ai(2u) + i];
    let q = min(max(p, af(6u)), af(7u));
    s = addC(s, t * log(q));
    if (ai(5u) == 1u) { mem[ai(3u) + i] = select(0.0, divRn(divRn(-t, p), rows), p >= af(8u) && p <= af(9u)); }
  }
  part[l] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { let a = addC(part[l], part[l + h].x); part[l] = vec2f(a.x, a.y + part[l + h].y); }
    workgroupBarrier();
  }
  if (l == 0u) { mem[ai(4u)] = -(part[0].x + part[0].y) / rows; }
}`;

/** The float32 next to v toward `dir` (±Infinity). */
function nextFloat(v: number, dir: number): number {
  const f = new Float32Array([v]), u = new Int32Array(f.buffer);
  u[0] += (v >= 0) === (dir > 0) ? 1 : -1;
  return f[0];
}

/** What the numeric kernels need of their backend: blocks of GPU memory. */
interface Blocks {
  alloc(bytes: number): number;
  workspace(bytes: number): number;
}

export function deviceNumeric(gpu: GpuHeap, be: Blocks): DeviceNumeric {
  let slot = 0, tag = 0;
  /** By tag: the host's refusal of a flagged value (as float32, or as the bits of an int32). */
  const refusals = new Map<number, { refuse: (value: number, index: number) => void; int: boolean }>();
  /** A tag for the next check, its refusal kept (and the slot made on first use). */
  const flag = (refuse: (value: number, index: number) => void, int = false): number => {
    if (!slot) {
      slot = be.alloc(16);
      gpu.write(slot, new Float32Array(4));
    }
    // tags are float32 integers: start again below 2^24 (those still waiting are long read)
    if (++tag >= 1 << 24) { tag = 1; refusals.clear(); }
    refusals.set(tag, { refuse, int });
    return tag;
  };
  return {
    toInteger(n, x, y, round, bits, signed, refuse) {
      const tag = flag(refuse);
      gpu.run(TO_INTEGER, n, { u: [n, e(x), e(y), round === 'even' ? 1 : 0, bits, signed ? 1 : 0] });
      gpu.run(TO_INTEGER_CHECK, WG, { u: [n, e(x), round === 'even' ? 1 : 0, bits, signed ? 1 : 0, e(slot), tag] });
    },
    requantize(n, x, y, inner, scale, zeroPoint, mode, qmin, qmax) {
      const C = scale.length, params = be.workspace(C * 8);
      gpu.write(params, new Float32Array([...scale, ...zeroPoint]));
      gpu.run(REQUANTIZE, n, { u: [n, e(x), e(y), C, inner, e(params), mode === 'multiply' ? 1 : 0, 0], f: [qmin, qmax] });
    },
    fakeQuant(n, x, y, scale, zeroPoint, qmin, qmax) {
      gpu.run(REQUANTIZE, n, { u: [n, e(x), e(y), 1, 1, 0, 0, 1], f: [qmin, qmax, scale, zeroPoint] });
    },
    castRound(n, x, y, to) {
      gpu.run(CAST, n, { u: [n, e(x), e(y), CAST_CODE[to]] });
    },
    batchNormFrozenGrad(rows, C, dy, gamma, movingVar, eps, x, movingMean, dx, dg, db) {
      const inv = be.workspace(C * 4);
      gpu.run(BN_INV, C, { u: [C, e(movingVar), e(inv)], f: [eps] });
      // the sums first: dx may be written over dy
      if (dg) gpu.run(BN_FROZEN_SUMS, C, { u: [rows, C, e(dy), e(x), e(movingMean), e(dg), e(db), x ? 1 : 0, e(inv)] });
      if (dx) gpu.run(BN_FROZEN_DX, rows * C, { u: [rows * C, C, e(dy), e(gamma), e(inv), e(dx)] });
    },
    categoricalCrossentropy(rows, size, p, t, g, loss, eps) {
      const lo = Math.fround(eps) > eps ? Math.fround(eps) : nextFloat(Math.fround(eps), Infinity);
      const hi = Math.fround(1 - eps) < 1 - eps ? Math.fround(1 - eps) : nextFloat(Math.fround(1 - eps), -Infinity);
      gpu.run(CCE, WG, { u: [size, e(p), e(t), e(g), e(loss), g ? 1 : 0], f: [eps, 1 - eps, lo, hi, rows] });
    },
    int32ToFloat(n, x, y, refuse) {
      const tag = flag(refuse, true);
      gpu.run(BOUNDARY_CHECK, WG, { u: [n, e(x), 0, e(slot), tag] });
      gpu.run(BOUNDARY, n, { u: [n, e(x), e(y), 0] });
    },
    floatToInt32(n, x, y, refuse) {
      const tag = flag(refuse);
      gpu.run(BOUNDARY_CHECK, WG, { u: [n, e(x), 1, e(slot), tag] });
      gpu.run(BOUNDARY, n, { u: [n, e(x), e(y), 1] });
    },
    async settle() {
      if (!refusals.size) return;
      const upTo = tag;
      const got = new Float32Array((await gpu.read(slot, 16)).buffer), t = got[0];
      if (!t) {
        for (const k of refusals.keys()) if (k <= upTo) refusals.delete(k);
        return;
      }
      const r = refusals.get(t);
      refusals.clear();
      gpu.write(slot, new Float32Array(4));
      r?.refuse(r.int ? new Int32Array(got.buffer)[2] : got[2], got[3]);
    },
  };
}
