// The webgpu backend's kernel table: WGSL compute shaders with the contracts of the wasm kernels
// (assembly/*.ts; src/backend/ref/ is the plain reading of them). Each thread computes whole outputs from
// its inputs (no atomics), so the results do not depend on scheduling. Kernels that return a number write it
// to memory instead (the losses) or have an asynchronous form (./stats.ts); the random kernels, the
// parametric activations, the recurrent cells and the augmentation kernels are in ./random.ts, ./act.ts,
// ./recurrent.ts and ./augment.ts; the int8 kernels are lacking (see lacks()).
import type { Kernels } from '../kernels.js';
import type { GpuHeap } from './gpu.js';
import { isSoftwareAdapter, type AdapterLike } from './adapter.js';
import { chooseTile, tiledCode, tiledThreads, type Tile, type TiledKind } from './tiled.js';

/** f32 element index of a byte handle. */
export const e = (p: number): number => p >>> 2;

/** The activation functions and their derivatives, by the codes of Act (src/backend/kernels.ts). */
export const ACT: string = /* wgsl */ `
const SELU_A: f32 = 1.6732632423543772;
const SELU_S: f32 = 1.0507009873554805;
fn sigm(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let z = exp(x); return z / (1.0 + z); }
fn erf_(x: f32) -> f32 {
  // Abramowitz-Stegun 7.1.26 refined: |error| < 1.5e-7
  let ax = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-ax * ax);
  return select(y, -y, x < 0.0);
}
fn act(k: u32, x: f32, p: f32) -> f32 {
  // NaN in, NaN out (as wasm; WGSL's max/min may drop it); step and sign give 0 there, as wasm
  if (isNan(x) && (k < 10u || k == 12u)) { return x; }
  switch k {
    case 0u: { return x; }
    case 1u: { return max(x, 0.0); }
    case 2u: { return min(max(x, 0.0), 6.0); }
    case 3u: { return select(p * x, x, x >= 0.0); }
    case 4u: { return select(p * (exp(x) - 1.0), x, x >= 0.0); }
    case 5u: { return SELU_S * select(SELU_A * (exp(x) - 1.0), x, x >= 0.0); }
    case 6u: { return sigm(x); }
    case 7u: { return tanh(clamp(x, -15.0, 15.0)); }
    case 8u: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
    case 9u: { return 0.5 * x * (1.0 + erf_(x * 0.7071067811865476)); }
    case 10u: { return select(0.0, 1.0, x > 0.0); }
    case 12u: { return min(max(0.2 * x + 0.5, 0.0), 1.0); }
    default: { return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0); }
  }
}
fn actGrad(k: u32, x: f32, y: f32, p: f32) -> f32 {
  switch k {
    case 0u: { return 1.0; }
    case 1u: { return select(0.0, 1.0, x > 0.0); }
    case 2u: { return select(0.0, 1.0, x > 0.0 && x < 6.0); }
    case 3u: { return select(p, 1.0, x >= 0.0); }
    case 4u: { return select(y + p, 1.0, x >= 0.0); }
    case 5u: { return select(y + SELU_S * SELU_A, SELU_S, x >= 0.0); }
    case 6u: { return y * (1.0 - y); }
    case 7u: { return 1.0 - y * y; }
    case 8u: { return sigm(x); }
    case 9u: { return 0.5 * (1.0 + erf_(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x); }
    case 12u: { return select(0.0, 0.2, x > -2.5 && x < 2.5); }
    default: { return 0.0; }
  }
}
/** The GEMM / conv epilogue: only relu, relu6 and leaky ReLU (codes 1-3); other codes pass through, as in wasm. */
fn epi(k: u32, x: f32, p: f32) -> f32 { if (k >= 1u && k <= 3u) { return act(k, x, p); } return x; }
`;

export const MAIN = '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u)';

// ---- GEMM: C = alpha op(A) op(B) + beta C (+ bias, epilogue); one thread per output element ----
// args u: tA tB M N K A lda B ldb C ldc bias act; f: alpha beta p
const GEMM = ACT + /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  let M = ai(2u); let N = ai(3u); let K = ai(4u);
  if (i >= M * N) { return; }
  let m = i / N; let n = i % N;
  let tA = ai(0u); let tB = ai(1u); let A = ai(5u); let lda = ai(6u); let B = ai(7u); let ldb = ai(8u);
  var s: f32 = 0.0;
  for (var k = 0u; k < K; k++) {
    let a = select(mem[A + m * lda + k], mem[A + k * lda + m], tA != 0u);
    let b = select(mem[B + k * ldb + n], mem[B + n * ldb + k], tB != 0u);
    s = fma(a, b, s);
  }
  let C = ai(9u) + m * ai(10u) + n;
  var v = af(13u) * s;
  if (af(14u) != 0.0) { v += af(14u) * mem[C]; }
  if (ai(11u) != 0u) { v += mem[ai(11u) + n]; }
  mem[C] = epi(ai(12u), v, af(15u));
}`;

/**
 * A 1x1 convolution with unit strides, no padding and one group: x [N H W, C] is already the GEMM's A and
 * the filter [C, CO] its B, so all three passes are plain GEMMs (no gather).
 */
export const pointwise = (gm: readonly number[]): boolean => {
  const [, H, W, , KH, KW, SH, SW, PT, PL, , , OH, OW, G] = gm;
  return KH === 1 && KW === 1 && SH === 1 && SW === 1 && PT === 0 && PL === 0 && OH === H && OW === W && G === 1;
};

/** The tiled GEMM per transposes, indexed by 2 tA + tB. */
const GEMM_KINDS: readonly TiledKind[] = ['gemmNN', 'gemmNT', 'gemmTN', 'gemmTT'];

const COLUMN_SUMS = /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let rows = ai(0u); let cols = ai(1u);
  if (c >= cols) { return; }
  var s: f32 = 0.0;
  for (var r = 0u; r < rows; r++) { s += mem[ai(2u) + r * cols + c]; }
  mem[ai(3u) + c] = s;
}`;

/**
 * The element offsets of flat index i in two strided views of one shape (rank r): the shape's and the two
 * views' strides are argument words from `shape`, `sa` and `sb` on.
 */
const ODOMETER = /* wgsl */ `
fn offsets(i: u32, r: u32, shape: u32, sa: u32, sb: u32) -> vec2u {
  var rem = i; var o = vec2u(0u, 0u);
  for (var d = 0u; d < r; d++) {
    let ax = r - 1u - d;
    let dim = ai(shape + ax);
    let c = rem % dim; rem = rem / dim;
    o += c * vec2u(ai(sa + ax), ai(sb + ax));
  }
  return o;
}`;

// ---- elementwise ----
// binary: u: op rank n a b out, then shape[8], strideA[8], strideB[8]
const BINARY = /* wgsl */ `
${ODOMETER}
fn isInf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
// x^y as wasm's pow (JavaScript's Math.pow) has it where WGSL's pow is undefined (x < 0, 0, infinities, NaN):
// y = 0 gives 1 (NaN too), NaN anywhere else NaN, 1^±Infinity NaN, a negative base only integer powers
fn powJs(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (isNan(x) || isNan(y)) { return qnan(); }
  let ax = abs(x);
  if (isInf(y)) {
    if (ax == 1.0) { return qnan(); }
    return select(0.0, -negInf(), (ax > 1.0) == (y > 0.0));
  }
  let whole = fract(y) == 0.0;
  let odd = whole && fract(y * 0.5) != 0.0;
  let neg = (bitcast<u32>(x) & 0x80000000u) != 0u;
  if (isInf(x) || ax == 0.0) {
    // ±Infinity and ±0: Infinity^+ and 0^- are Infinity, the others 0; a negative base keeps its sign for odd powers
    let mag = select(0.0, -negInf(), (ax == 0.0) == (y < 0.0));
    return select(mag, -mag, neg && odd);
  }
  if (x < 0.0 && !whole) { return qnan(); }
  let p = pow(ax, y);
  return select(p, -p, x < 0.0 && odd);
}
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(2u)) { return; }
  let o = offsets(i, ai(1u), 6u, 14u, 22u);
  let x = mem[ai(3u) + o.x]; let y = mem[ai(4u) + o.y];
  var v: f32;
  switch ai(0u) {
    case 0u: { v = x + y; }
    case 1u: { v = x - y; }
    case 2u: { v = x * y; }
    case 3u: { v = x / y; }
    case 4u: { v = select(max(x, y), x + y, isNan(x) || isNan(y)); }
    case 6u: { v = powJs(x, y); }
    default: { v = select(min(x, y), x + y, isNan(x) || isNan(y)); }
  }
  mem[ai(5u) + i] = v;
}`;

// sumToShape: u: rank smallSize big small, then shape[8] (big), strideSmall[8]; a thread per small element
// sums the big elements that broadcast to it
const SUM_TO_SHAPE = /* wgsl */ `
${MAIN} {
  let s = flat(g, nw);
  if (s >= ai(1u)) { return; }
  let r = ai(0u);
  // big strides, and the count of big elements per small one
  var bigStride: array<u32, 8>; var acc = 1u; var reps = 1u;
  for (var d = 0u; d < r; d++) { let ax = r - 1u - d; bigStride[ax] = acc; acc *= ai(4u + ax); if (ai(12u + ax) == 0u) { reps *= ai(4u + ax); } }
  // the small element's coordinates on its own axes (strides of the small layout)
  var base = 0u; var rem = s;
  for (var ax = 0u; ax < r; ax++) {
    let st = ai(12u + ax);
    if (st != 0u) { let c = rem / st; rem = rem % st; base += c * bigStride[ax]; }
  }
  var sum: f32 = 0.0;
  for (var k = 0u; k < reps; k++) {
    var kr = k; var off = base;
    for (var d = 0u; d < r; d++) {
      let ax = r - 1u - d;
      if (ai(12u + ax) == 0u) { let dim = ai(4u + ax); off += (kr % dim) * bigStride[ax]; kr = kr / dim; }
    }
    sum += mem[ai(2u) + off];
  }
  mem[ai(3u) + s] = sum;
}`;

// unary: u: kind n x y
const UNARY = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(1u)) { return; }
  let x = mem[ai(2u) + i];
  var v: f32;
  switch ai(0u) {
    case 0u: { v = -x; }
    case 1u: { v = abs(x); }
    // WGSL leaves exp, log and sqrt undefined outside their domains: the IEEE results wasm gives, explicitly
    case 2u: { v = select(select(exp(x), -negInf(), x > 88.72284), x, isNan(x)); if (x == negInf()) { v = 0.0; } }
    case 3u: { v = select(select(select(log(x), negInf(), x == 0.0), qnan(), x < 0.0 || isNan(x)), x, x == -negInf()); }
    case 4u: { v = select(select(sqrt(x), qnan(), x < 0.0 || isNan(x)), x, x == -negInf() || x == 0.0); }
    case 5u: { v = x * x; }
    default: { v = 1.0 / x; }
  }
  mem[ai(3u) + i] = v;
}`;

// axpy: y += alpha x (u: n x y; f: alpha); affine: out = x scale + shift (u: n x out; f: scale shift)
const AXPY = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } mem[ai(2u) + i] = fma(af(3u), mem[ai(1u) + i], mem[ai(2u) + i]); }`;
const AFFINE = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } mem[ai(2u) + i] = fma(mem[ai(1u) + i], af(3u), af(4u)); }`;
const COPY = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } mem[ai(1u) + i] = mem[ai(2u) + i]; }`;

// ---- activations ----
// u: kind n x y; f: p
const ACT_FORWARD = ACT + `${MAIN} { let i = flat(g, nw); if (i >= ai(1u)) { return; } mem[ai(3u) + i] = act(ai(0u), mem[ai(2u) + i], af(4u)); }`;
// u: kind n x y dy dx; f: p  (x or y 0: read as zeros)
const ACT_BACKWARD = ACT + /* wgsl */ `
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(1u)) { return; }
  let x = select(0.0, mem[ai(2u) + i], ai(2u) != 0u);
  let y = select(0.0, mem[ai(3u) + i], ai(3u) != 0u);
  mem[ai(5u) + i] = mem[ai(4u) + i] * actGrad(ai(0u), x, y, af(6u));
}`;
// actMask: a thread per mask word (32 elements of a row). u: kind rows per y mask
const ACT_MASK = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let per = ai(2u); let words = (per + 31u) / 32u;
  if (t >= ai(1u) * words) { return; }
  let r = t / words; let w = t % words; let kind = ai(0u);
  var bits = 0u;
  for (var j = 0u; j < 32u && w * 32u + j < per; j++) {
    let v = mem[ai(3u) + r * per + w * 32u + j];
    let on = select(select(v > 0.0, v >= 0.0, kind == 3u), v > 0.0 && v < 6.0, kind == 2u);
    bits = bits | select(0u, 1u << j, on);
  }
  mem[ai(4u) + t] = bitcast<f32>(bits);
}`;
// actMaskedBackward: a thread per element. u: rows per mask dy dx; f: p
const ACT_MASKED_BACKWARD = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let per = ai(1u);
  if (i >= ai(0u) * per) { return; }
  let r = i / per; let j = i % per; let words = (per + 31u) / 32u;
  let bits = bitcast<u32>(mem[ai(2u) + r * words + j / 32u]);
  let d = mem[ai(3u) + i];
  mem[ai(4u) + i] = select(af(5u) * d, d, ((bits >> (j % 32u)) & 1u) != 0u);
}`;
// a thread per row. u: rows cols x y log
const SOFTMAX = /* wgsl */ `
${MAIN} {
  let r = flat(g, nw);
  if (r >= ai(0u)) { return; }
  let C = ai(1u); let x = ai(2u) + r * C; let y = ai(3u) + r * C;
  var m = -3.4028234e38;
  // a NaN or +Infinity in the row makes every output NaN, as on wasm (WGSL's max may drop a NaN)
  // (a row of only -Infinity too: its maximum minus itself is NaN on wasm)
  var bad = false; var some = false;
  for (var c = 0u; c < C; c++) { let v = mem[x + c]; m = max(m, v); bad = bad || isNan(v) || v == -negInf(); some = some || v != negInf(); }
  bad = bad || !some;
  var s: f32 = 0.0;
  for (var c = 0u; c < C; c++) { s += exp(mem[x + c] - m); }
  let ls = log(s);
  for (var c = 0u; c < C; c++) { let v = mem[x + c]; mem[y + c] = select(select(exp(v - m) / s, (v - m) - ls, ai(4u) != 0u), qnan(), bad); }
}`;
// u: rows cols y dy dx log
const SOFTMAX_BACKWARD = /* wgsl */ `
${MAIN} {
  let r = flat(g, nw);
  if (r >= ai(0u)) { return; }
  let C = ai(1u); let y = ai(2u) + r * C; let dy = ai(3u) + r * C; let dx = ai(4u) + r * C;
  let lg = ai(5u) != 0u;
  var s: f32 = 0.0;
  for (var c = 0u; c < C; c++) { s += select(mem[dy + c] * mem[y + c], mem[dy + c], lg); }
  for (var c = 0u; c < C; c++) {
    let yv = mem[y + c]; let d = mem[dy + c];
    mem[dx + c] = select(yv * (d - s), d - exp(yv) * s, lg);
  }
}`;

// ---- reductions over [outer, n, inner]: a thread per (outer, inner) ----
// u: op outer n inner x out
const REDUCE = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let n = ai(2u); let inner = ai(3u);
  if (t >= ai(1u) * inner) { return; }
  let o = t / inner; let j = t % inner; let op = ai(0u);
  let base = ai(4u) + o * n * inner + j;
  var acc: f32 = select(select(0.0, 3.4028234e38, op == 3u), -3.4028234e38, op == 2u);
  var nan = false;
  for (var i = 0u; i < n; i++) {
    let v = mem[base + i * inner];
    if (isNan(v)) { nan = true; }
    if (op == 2u) { acc = max(acc, v); } else if (op == 3u) { acc = min(acc, v); } else { acc += v; }
  }
  if (op == 1u) { acc = acc / f32(n); }
  if (nan && op >= 2u) { acc = qnan(); }
  mem[ai(5u) + t] = acc;
}`;
// argmax: u: outer n inner x out (int32)
const ARGMAX = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let n = ai(1u); let inner = ai(2u);
  if (t >= ai(0u) * inner) { return; }
  let base = ai(3u) + (t / inner) * n * inner + t % inner;
  var best = 0u; var bv = mem[base];
  for (var i = 1u; i < n; i++) { let v = mem[base + i * inner]; if (v > bv) { bv = v; best = i; } }
  mem[ai(4u) + t] = bitcast<f32>(i32(best));
}`;
// reduceBackward: a thread per x element. u: op outer n inner x dy dx
const REDUCE_BACKWARD = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let n = ai(2u); let inner = ai(3u);
  if (i >= ai(1u) * n * inner) { return; }
  let o = i / (n * inner); let k = (i / inner) % n; let j = i % inner; let op = ai(0u);
  let d = mem[ai(5u) + o * inner + j];
  var v: f32 = d;
  if (op == 1u) { v = d * (1.0 / f32(n)); }
  if (op >= 2u) {
    // the first extremum takes the gradient
    let base = ai(4u) + o * n * inner + j;
    var best = 0u; var bv = mem[base];
    for (var q = 1u; q < n; q++) { let w = mem[base + q * inner]; if ((op == 2u && w > bv) || (op == 3u && w < bv)) { bv = w; best = q; } }
    v = select(0.0, d, best == k);
  }
  mem[ai(6u) + i] = v;
}`;

// ---- pooling over NHWC ----
// u: kind N H W C KH KW SH SW PT PL OH OW x y
const POOL = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let N = ai(1u); let H = ai(2u); let W = ai(3u); let C = ai(4u); let OH = ai(11u); let OW = ai(12u);
  if (t >= N * OH * OW * C) { return; }
  let c = t % C; let ox = (t / C) % OW; let oy = (t / (C * OW)) % OH; let n = t / (C * OW * OH);
  var m = -3.4028234e38; var s: f32 = 0.0; var cnt = 0u; var nan = false; var any = false;
  for (var ky = 0u; ky < ai(5u); ky++) {
    let iy = i32(oy * ai(7u) + ky) - i32(ai(9u));
    if (iy < 0 || iy >= i32(H)) { continue; }
    for (var kx = 0u; kx < ai(6u); kx++) {
      let ix = i32(ox * ai(8u) + kx) - i32(ai(10u));
      if (ix < 0 || ix >= i32(W)) { continue; }
      let v = mem[ai(13u) + ((n * H + u32(iy)) * W + u32(ix)) * C + c];
      if (isNan(v)) { nan = true; }
      m = max(m, v); s += v; cnt++; any = true;
    }
  }
  var out: f32;
  if (ai(0u) == 0u) { out = select(select(negInf(), m, any), qnan(), nan); }
  else { out = select(0.0, s / f32(cnt), cnt > 0u); }
  mem[ai(14u) + t] = out;
}`;
// a thread per input element gathers from the windows that contain it. u: kind N H W C KH KW SH SW PT PL OH OW x dy dx
const POOL_BACKWARD = /* wgsl */ `
fn winArg(n: u32, oy: u32, ox: u32, c: u32) -> i32 {
  // the window's first maximum, as a flat input index (-1: empty)
  let H = ai(2u); let W = ai(3u); let C = ai(4u);
  var best = -1; var bv = 0.0;
  for (var ky = 0u; ky < ai(5u); ky++) {
    let iy = i32(oy * ai(7u) + ky) - i32(ai(9u));
    if (iy < 0 || iy >= i32(H)) { continue; }
    for (var kx = 0u; kx < ai(6u); kx++) {
      let ix = i32(ox * ai(8u) + kx) - i32(ai(10u));
      if (ix < 0 || ix >= i32(W)) { continue; }
      let idx = i32(((n * H + u32(iy)) * W + u32(ix)) * C + c);
      let v = mem[ai(13u) + u32(idx)];
      if (best < 0 || v > bv) { best = idx; bv = v; }
    }
  }
  return best;
}
fn winCount(oy: u32, ox: u32) -> u32 {
  var cnt = 0u;
  for (var ky = 0u; ky < ai(5u); ky++) {
    let iy = i32(oy * ai(7u) + ky) - i32(ai(9u));
    if (iy < 0 || iy >= i32(ai(2u))) { continue; }
    for (var kx = 0u; kx < ai(6u); kx++) {
      let ix = i32(ox * ai(8u) + kx) - i32(ai(10u));
      if (ix >= 0 && ix < i32(ai(3u))) { cnt++; }
    }
  }
  return cnt;
}
${MAIN} {
  let t = flat(g, nw);
  let N = ai(1u); let H = ai(2u); let W = ai(3u); let C = ai(4u); let OH = ai(11u); let OW = ai(12u);
  if (t >= N * H * W * C) { return; }
  let c = t % C; let x = (t / C) % W; let y = (t / (C * W)) % H; let n = t / (C * W * H);
  var s: f32 = 0.0;
  for (var oy = 0u; oy < OH; oy++) {
    let ky = i32(y) + i32(ai(9u)) - i32(oy * ai(7u));
    if (ky < 0 || ky >= i32(ai(5u))) { continue; }
    for (var ox = 0u; ox < OW; ox++) {
      let kx = i32(x) + i32(ai(10u)) - i32(ox * ai(8u));
      if (kx < 0 || kx >= i32(ai(6u))) { continue; }
      let d = mem[ai(14u) + ((n * OH + oy) * OW + ox) * C + c];
      if (ai(0u) == 0u) { if (winArg(n, oy, ox, c) == i32(t)) { s += d; } }
      else { s += d / f32(winCount(oy, ox)); }
    }
  }
  mem[ai(15u) + t] = s;
}`;

// ---- convolution over NHWC, filter [KH, KW, C/G, CO] (the geometry block of assembly/conv.ts) ----
/** The conv geometry block (the first 16 argument words) and where an output row / column reads the input. */
export const GEOM = /* wgsl */ `
struct Geom { N: u32, H: u32, W: u32, C: u32, KH: u32, KW: u32, SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, OH: u32, OW: u32, G: u32, CO: u32 };
fn geom() -> Geom {
  return Geom(ai(0u), ai(1u), ai(2u), ai(3u), ai(4u), ai(5u), ai(6u), ai(7u), ai(8u), ai(9u), ai(10u), ai(11u), ai(12u), ai(13u), ai(14u), ai(15u));
}
fn inY(q: Geom, oy: u32, ky: u32) -> i32 { return i32(oy * q.SH + ky * q.DH) - i32(q.PT); }
fn inX(q: Geom, ox: u32, kx: u32) -> i32 { return i32(ox * q.SW + kx * q.DW) - i32(q.PL); }`;

// forward: a thread per output element. geometry, then x w bias y act; f: p
const CONV = ACT + GEOM + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let q = geom();
  if (t >= q.N * q.OH * q.OW * q.CO) { return; }
  let co = t % q.CO; let ox = (t / q.CO) % q.OW; let oy = (t / (q.CO * q.OW)) % q.OH; let n = t / (q.CO * q.OW * q.OH);
  let Cg = q.C / q.G; let c0 = (co / (q.CO / q.G)) * Cg;
  var s: f32 = 0.0;
  if (ai(18u) != 0u) { s = mem[ai(18u) + co]; }
  for (var ky = 0u; ky < q.KH; ky++) {
    let iy = inY(q, oy, ky);
    if (iy < 0 || iy >= i32(q.H)) { continue; }
    for (var kx = 0u; kx < q.KW; kx++) {
      let ix = inX(q, ox, kx);
      if (ix < 0 || ix >= i32(q.W)) { continue; }
      let xb = ai(16u) + ((n * q.H + u32(iy)) * q.W + u32(ix)) * q.C + c0;
      let wb = ai(17u) + ((ky * q.KW + kx) * Cg) * q.CO + co;
      for (var ci = 0u; ci < Cg; ci++) { s = fma(mem[xb + ci], mem[wb + ci * q.CO], s); }
    }
  }
  mem[ai(19u) + t] = act(ai(20u), s, af(21u));
}`;
// dx: a thread per input element, gathering the outputs it fed. geometry, then dy w dx
const CONV_BACKWARD_INPUT = GEOM + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let q = geom();
  if (t >= q.N * q.H * q.W * q.C) { return; }
  let c = t % q.C; let x = (t / q.C) % q.W; let y = (t / (q.C * q.W)) % q.H; let n = t / (q.C * q.W * q.H);
  let Cg = q.C / q.G; let COg = q.CO / q.G; let grp = c / Cg; let ci = c % Cg;
  var s: f32 = 0.0;
  for (var ky = 0u; ky < q.KH; ky++) {
    let ny = i32(y) + i32(q.PT) - i32(ky * q.DH);
    if (ny < 0 || ny % i32(q.SH) != 0) { continue; }
    let oy = u32(ny) / q.SH;
    if (oy >= q.OH) { continue; }
    for (var kx = 0u; kx < q.KW; kx++) {
      let nx = i32(x) + i32(q.PL) - i32(kx * q.DW);
      if (nx < 0 || nx % i32(q.SW) != 0) { continue; }
      let ox = u32(nx) / q.SW;
      if (ox >= q.OW) { continue; }
      let db = ai(16u) + ((n * q.OH + oy) * q.OW + ox) * q.CO + grp * COg;
      let wb = ai(17u) + ((ky * q.KW + kx) * Cg + ci) * q.CO + grp * COg;
      for (var k = 0u; k < COg; k++) { s = fma(mem[db + k], mem[wb + k], s); }
    }
  }
  mem[ai(18u) + t] = s;
}`;
// dw: a thread per filter element. geometry, then x dy dw
const CONV_BACKWARD_FILTER = GEOM + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let q = geom();
  let Cg = q.C / q.G;
  if (t >= q.KH * q.KW * Cg * q.CO) { return; }
  let co = t % q.CO; let ci = (t / q.CO) % Cg; let kx = (t / (q.CO * Cg)) % q.KW; let ky = t / (q.CO * Cg * q.KW);
  let c = (co / (q.CO / q.G)) * Cg + ci;
  var s: f32 = 0.0;
  for (var n = 0u; n < q.N; n++) {
    for (var oy = 0u; oy < q.OH; oy++) {
      let iy = inY(q, oy, ky);
      if (iy < 0 || iy >= i32(q.H)) { continue; }
      for (var ox = 0u; ox < q.OW; ox++) {
        let ix = inX(q, ox, kx);
        if (ix < 0 || ix >= i32(q.W)) { continue; }
        s = fma(mem[ai(16u) + ((n * q.H + u32(iy)) * q.W + u32(ix)) * q.C + c], mem[ai(17u) + ((n * q.OH + oy) * q.OW + ox) * q.CO + co], s);
      }
    }
  }
  mem[ai(18u) + t] = s;
}`;

// ---- batch norm over [M, C] (channels last) ----
// inference: u: M C x gamma beta mean var y; f: eps
const BN_INFER = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let C = ai(1u);
  if (i >= ai(0u) * C) { return; }
  let c = i % C;
  let inv = 1.0 / sqrt(mem[ai(6u) + c] + af(8u));
  mem[ai(7u) + i] = mem[ai(3u) + c] * (mem[ai(2u) + i] - mem[ai(5u) + c]) * inv + mem[ai(4u) + c];
}`;
// compensated (Kahan) sums: wasm sums a channel's M = N H W rows in float64; plain f32 sums drift from it
const KAHAN = /* wgsl */ `
struct Sum { s: f32, c: f32 };
fn kadd(a: Sum, v: f32) -> Sum { let y = v - a.c; let t = a.s + y; return Sum(t, (t - a.s) - y); }`;

// training statistics, a thread per channel: u: M C x saveMean saveInvStd runMean runVar; f: eps momentum
const BN_STATS = KAHAN + /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let M = ai(0u); let C = ai(1u);
  if (c >= C) { return; }
  var sm = Sum(0.0, 0.0);
  for (var r = 0u; r < M; r++) { sm = kadd(sm, mem[ai(2u) + r * C + c]); }
  let m = sm.s / f32(M);
  var sv = Sum(0.0, 0.0);
  for (var r = 0u; r < M; r++) { let d = mem[ai(2u) + r * C + c] - m; sv = kadd(sv, d * d); }
  let v = sv.s / f32(M);
  mem[ai(3u) + c] = m;
  mem[ai(4u) + c] = 1.0 / sqrt(v + af(7u));
  let mo = af(8u);
  if (ai(5u) != 0u) { mem[ai(5u) + c] = mo * mem[ai(5u) + c] + (1.0 - mo) * m; }
  if (ai(6u) != 0u) { mem[ai(6u) + c] = mo * mem[ai(6u) + c] + (1.0 - mo) * v; }
}`;
// normalize with saved statistics: u: M C x gamma beta mean invStd y
const BN_APPLY = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let C = ai(1u);
  if (i >= ai(0u) * C) { return; }
  let c = i % C;
  mem[ai(7u) + i] = mem[ai(3u) + c] * (mem[ai(2u) + i] - mem[ai(5u) + c]) * mem[ai(6u) + c] + mem[ai(4u) + c];
}`;
// backward sums, a thread per channel: u: M C x dy mean invStd dgamma dbeta
const BN_GRAD_SUMS = KAHAN + /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let M = ai(0u); let C = ai(1u);
  if (c >= C) { return; }
  var sg = Sum(0.0, 0.0); var sb = Sum(0.0, 0.0);
  let m = mem[ai(4u) + c]; let inv = mem[ai(5u) + c];
  for (var r = 0u; r < M; r++) { let d = mem[ai(3u) + r * C + c]; sb = kadd(sb, d); sg = kadd(sg, d * (mem[ai(2u) + r * C + c] - m) * inv); }
  mem[ai(6u) + c] = sg.s; mem[ai(7u) + c] = sb.s;
}`;
// batchNormBackwardSums, a thread per channel: the compensated sums carried between calls in ws (per channel
// dbeta's sum and compensation, dgamma's), the totals so far to dgamma, dbeta. u: M C x dy mean invStd dgamma dbeta ws
const BN_GRAD_SUMS_ADD = KAHAN + /* wgsl */ `
${MAIN} {
  let c = flat(g, nw); let M = ai(0u); let C = ai(1u);
  if (c >= C) { return; }
  let w = ai(8u) + c * 4u;
  var sb = Sum(mem[w], mem[w + 1u]); var sg = Sum(mem[w + 2u], mem[w + 3u]);
  let m = mem[ai(4u) + c]; let inv = mem[ai(5u) + c];
  for (var r = 0u; r < M; r++) { let d = mem[ai(3u) + r * C + c]; sb = kadd(sb, d); sg = kadd(sg, d * (mem[ai(2u) + r * C + c] - m) * inv); }
  mem[w] = sb.s; mem[w + 1u] = sb.c; mem[w + 2u] = sg.s; mem[w + 3u] = sg.c;
  mem[ai(6u) + c] = sg.s; mem[ai(7u) + c] = sb.s;
}`;
// dx = gamma invStd (dy - dbeta/T - xhat dgamma/T) over M rows of a batch of T: u: M C x dy gamma mean invStd dx dgamma dbeta T
const BN_GRAD_DX = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let M = ai(0u); let C = ai(1u); let T = f32(ai(10u));
  if (i >= M * C) { return; }
  let c = i % C; let inv = mem[ai(6u) + c];
  let xh = (mem[ai(2u) + i] - mem[ai(5u) + c]) * inv;
  mem[ai(7u) + i] = mem[ai(4u) + c] * inv * (mem[ai(3u) + i] - mem[ai(9u) + c] / T - xh * mem[ai(8u) + c] / T);
}`;

// strided copy over up to 8 axes: a thread per element. u: rank n src dst, shape[8], srcStrides[8], dstStrides[8]
const STRIDED_COPY = /* wgsl */ `
${ODOMETER}
${MAIN} {
  let i = flat(g, nw);
  if (i >= ai(1u)) { return; }
  let o = offsets(i, ai(0u), 4u, 12u, 20u);
  mem[ai(3u) + o.y] = mem[ai(2u) + o.x];
}`;
const FILL = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } mem[ai(1u) + i] = af(2u); }`;


// ---- training: losses (a thread per batch: the mean stored at `out`), optimizers, constraints ----

// lossElementwise: u: kind n pred target grad out; f: param
const LOSS_ELEMENTWISE = /* wgsl */ `
fn sig(z: f32) -> f32 { if (z >= 0.0) { return 1.0 / (1.0 + exp(-z)); } let e = exp(z); return e / (1.0 + e); }
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  let kind = ai(0u); let n = ai(1u); let P = ai(2u); let T = ai(3u); let G = ai(4u); let p = af(6u);
  var s: f32 = 0.0;
  for (var i = 0u; i < n; i++) {
    let x = mem[P + i]; let t = mem[T + i];
    var l: f32 = 0.0; var d: f32 = 0.0;
    switch kind {
      case 0u: { let e = x - t; l = e * e; d = 2.0 * e; }
      case 1u: { let e = x - t; l = abs(e); d = select(select(0.0, -1.0, e < 0.0), 1.0, e > 0.0); }
      case 2u: { let e = x - t; let a = abs(e); if (a <= p) { l = 0.5 * e * e; d = e; } else { l = p * (a - 0.5 * p); d = select(-p, p, e > 0.0); } }
      case 3u: {
        let hi = 1.0 - p; let q = clamp(x, p, hi);
        l = -(t * log(q) + (1.0 - t) * log(1.0 - q));
        d = select(0.0, (q - t) / (q * (1.0 - q)), x > p && x < hi);
      }
      case 4u: { l = max(x, 0.0) - x * t + log(1.0 + exp(-abs(x))); d = sig(x) - t; }
      default: {
        let y = select(select(t, 1.0, t == 1.0), -1.0, t == 0.0);
        let m = 1.0 - y * x;
        if (m > 0.0) { l = m; d = -y; }
      }
    }
    s += l;
    if (G != 0u) { mem[G + i] = d / f32(n); }
  }
  mem[ai(5u)] = s / f32(n);
}`;

// softmaxCrossEntropy: u: rows cols logits target sparse grad out
const SOFTMAX_CE = /* wgsl */ `
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  let rows = ai(0u); let cols = ai(1u); let Z = ai(2u); let T = ai(3u); let sparse = ai(4u) != 0u; let G = ai(5u);
  var total: f32 = 0.0;
  for (var r = 0u; r < rows; r++) {
    let o = r * cols;
    var m = -3.4028234e38;
    for (var c = 0u; c < cols; c++) { m = max(m, mem[Z + o + c]); }
    var se: f32 = 0.0;
    for (var c = 0u; c < cols; c++) { se += exp(mem[Z + o + c] - m); }
    let lse = m + log(se);
    var tsum: f32 = 0.0; var tz: f32 = 0.0;
    let label = u32(memI(T + r));
    if (sparse) { tsum = 1.0; tz = mem[Z + o + label]; }
    else { for (var c = 0u; c < cols; c++) { tsum += mem[T + o + c]; tz += mem[T + o + c] * mem[Z + o + c]; } }
    total += tsum * lse - tz;
    if (G != 0u) {
      for (var c = 0u; c < cols; c++) {
        let tv = select(mem[T + o + c], select(0.0, 1.0, c == label), sparse);
        mem[G + o + c] = (exp(mem[Z + o + c] - lse) * tsum - tv) / f32(rows);
      }
    }
  }
  mem[ai(6u)] = total / f32(rows);
}`;

// categoricalHinge: u: rows cols pred target grad out
const CATEGORICAL_HINGE = /* wgsl */ `
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  let rows = ai(0u); let cols = ai(1u); let P = ai(2u); let T = ai(3u); let G = ai(4u);
  var total: f32 = 0.0;
  for (var r = 0u; r < rows; r++) {
    let o = r * cols;
    var pos: f32 = 0.0; var neg = -3.4028234e38; var arg = 0u;
    for (var c = 0u; c < cols; c++) {
      pos += mem[T + o + c] * mem[P + o + c];
      let nv = (1.0 - mem[T + o + c]) * mem[P + o + c];
      if (nv > neg) { neg = nv; arg = c; }
    }
    let m = neg - pos + 1.0;
    if (m > 0.0) { total += m; }
    if (G != 0u) {
      for (var c = 0u; c < cols; c++) {
        let t = mem[T + o + c];
        mem[G + o + c] = select(0.0, (-t + select(0.0, 1.0 - t, c == arg)) / f32(rows), m > 0.0);
      }
    }
  }
  mem[ai(5u)] = total / f32(rows);
}`;

// optimizers, a thread per weight. u: n w g s1 s2 [nesterov]; f: the hyperparameters
const SGD = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let gi = mem[ai(2u) + i]; let lr = af(5u); let mo = af(6u);
  if (mo == 0.0) { mem[ai(1u) + i] = mem[ai(1u) + i] - lr * gi; return; }
  let v = mo * mem[ai(3u) + i] - lr * gi; mem[ai(3u) + i] = v;
  mem[ai(1u) + i] = mem[ai(1u) + i] + select(v, mo * v - lr * gi, ai(4u) != 0u); }`;
const ADAGRAD = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let gi = mem[ai(2u) + i];
  let a = mem[ai(3u) + i] + gi * gi; mem[ai(3u) + i] = a; mem[ai(1u) + i] = mem[ai(1u) + i] - af(5u) * gi / (sqrt(a) + af(6u)); }`;
const ADADELTA = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let gi = mem[ai(2u) + i]; let rho = af(6u); let eps = af(7u);
  let eg = rho * mem[ai(3u) + i] + (1.0 - rho) * gi * gi;
  let d = sqrt(mem[ai(4u) + i] + eps) / sqrt(eg + eps) * gi;
  mem[ai(3u) + i] = eg; mem[ai(4u) + i] = rho * mem[ai(4u) + i] + (1.0 - rho) * d * d; mem[ai(1u) + i] = mem[ai(1u) + i] - af(5u) * d; }`;
const RMSPROP = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let gi = mem[ai(2u) + i]; let rho = af(6u); let mo = af(7u);
  let s = rho * mem[ai(3u) + i] + (1.0 - rho) * gi * gi; mem[ai(3u) + i] = s;
  let st = af(5u) * gi / (sqrt(s) + af(8u));
  if (mo != 0.0) { let v = mo * mem[ai(4u) + i] + st; mem[ai(4u) + i] = v; mem[ai(1u) + i] = mem[ai(1u) + i] - v; }
  else { mem[ai(1u) + i] = mem[ai(1u) + i] - st; } }`;
// adam / nadam: f: lrT or lr, b1, b2, eps, k1, k1n, k2 (the bias corrections computed on the CPU in float64)
const ADAM = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let gi = mem[ai(2u) + i]; let b1 = af(6u); let b2 = af(7u);
  let m = b1 * mem[ai(3u) + i] + (1.0 - b1) * gi; let v = b2 * mem[ai(4u) + i] + (1.0 - b2) * gi * gi;
  mem[ai(3u) + i] = m; mem[ai(4u) + i] = v;
  if (ai(5u) == 0u) { mem[ai(1u) + i] = mem[ai(1u) + i] - af(9u) * m / (sqrt(v) + af(8u)); }
  else { let mh = b1 * m / af(11u) + (1.0 - b1) * gi / af(10u); mem[ai(1u) + i] = mem[ai(1u) + i] - af(9u) * mh / (sqrt(v / af(12u)) + af(8u)); } }`;
const RPROP = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } var gi = mem[ai(2u) + i]; let s = gi * mem[ai(3u) + i]; var st = mem[ai(4u) + i];
  if (s > 0.0) { st = min(st * af(6u), af(8u)); } else if (s < 0.0) { st = max(st * af(5u), af(7u)); gi = 0.0; }
  mem[ai(4u) + i] = st; mem[ai(3u) + i] = gi;
  if (gi > 0.0) { mem[ai(1u) + i] = mem[ai(1u) + i] - st; } else if (gi < 0.0) { mem[ai(1u) + i] = mem[ai(1u) + i] + st; } }`;
// regularizeGrad: u: n w g; f: l1 l2
const REGULARIZE = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let w = mem[ai(1u) + i];
  mem[ai(2u) + i] = mem[ai(2u) + i] + af(3u) * select(select(0.0, -1.0, w < 0.0), 1.0, w > 0.0) + 2.0 * af(4u) * w; }`;
// sumSquaresTo: one thread (a batch of gradients, once per step). u: n x acc
const SUM_SQUARES_TO = `${MAIN} { if (flat(g, nw) != 0u) { return; } var s: f32 = 0.0; for (var i = 0u; i < ai(0u); i++) { let v = mem[ai(1u) + i]; s += v * v; } mem[ai(2u)] = mem[ai(2u)] + s; }`;
// scaleByNorm: u: n x acc; f: clip
const SCALE_BY_NORM = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } let norm = sqrt(mem[ai(2u)]); if (norm > af(3u)) { mem[ai(1u) + i] = mem[ai(1u) + i] * (af(3u) / norm); } }`;
const CLAMP = `${MAIN} { let i = flat(g, nw); if (i >= ai(0u)) { return; } mem[ai(1u) + i] = min(max(mem[ai(1u) + i], af(2u)), af(3u)); }`;
// maxNormColumns: a thread per column. u: rows cols w; f: c
const MAX_NORM = `${MAIN} { let j = flat(g, nw); let rows = ai(0u); let cols = ai(1u); if (j >= cols) { return; }
  var s: f32 = 0.0; for (var r = 0u; r < rows; r++) { let v = mem[ai(2u) + r * cols + j]; s += v * v; }
  let norm = sqrt(s); if (norm > af(3u)) { let k = af(3u) / norm; for (var r = 0u; r < rows; r++) { mem[ai(2u) + r * cols + j] = mem[ai(2u) + r * cols + j] * k; } } }`;

/** The descriptor values behind a descriptor handle (the backend keeps them host-side). */
export type DescriptorLookup = (handle: number) => readonly number[];

/** The tile (and K step) each problem gets on this device (./tiled.ts chooseTile), or undefined: the naive kernel. */
export function tileChooser(gpu: GpuHeap): (kind: TiledKind, M: number, N: number, G: number) => Tile | undefined {
  // from what workgroup storage this device allows
  const storage = gpu.device.limits.maxComputeWorkgroupStorageSize;
  // workgroups that keep the device busy: a GPU's many cores, or a software adapter's few CPU threads (there
  // the largest tiles are fastest, measured on SwiftShader)
  const info = (gpu.device as { adapterInfo?: AdapterLike['info'] }).adapterInfo;
  const fill = info && isSoftwareAdapter({ info }) ? 8 : 64;
  return (kind, M, N, G) => chooseTile(kind, storage, M, N, G, fill);
}

export function webgpuKernels(gpu: GpuHeap, desc: DescriptorLookup): Partial<Kernels> {
  const geometry = (p: number): number[] => desc(p).slice(0, 16);
  const tile = tileChooser(gpu);
  const gemm: Kernels['gemm'] = (tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, act, p) => {
    const args = { u: [tA, tB, M, N, K, e(A), lda, e(B), ldb, e(C), ldc, bias ? e(bias) : 0, act], f: [alpha, beta, p] };
    const kind = GEMM_KINDS[(tA ? 2 : 0) + (tB ? 1 : 0)], t = tile(kind, M, N, 1);
    if (t) gpu.run(tiledCode(kind, t, ACT), tiledThreads(t, M, N, 1), args);
    else gpu.run(GEMM, M * N, args);
  };
  return {
    gemm,
    gemmWorkspaceSize: () => 0,
    // packed B is a plain row-major copy of op(B)
    gemmPackedBSize: (K, N) => K * N * 4,
    gemmPackedASize: () => 0,
    gemmPackB: (transB, K, N, B, ldb, dst) => copyPacked(gpu, transB, K, N, B, ldb, dst),
    gemmPrepacked(mode, transA, M, N, K, alpha, A, lda, packedB, beta, C, ldc, bias, act, p) {
      if (mode !== 0) throw new Error('edgegrad: webgpu gemmPrepacked reads A as a matrix only');
      gemm(transA, 0, M, N, K, alpha, A, lda, packedB, N, beta, C, ldc, bias, act, p, 0);
    },
    columnSums: (rows, cols, a, out) => gpu.run(COLUMN_SUMS, cols, { u: [rows, cols, e(a), e(out)] }),
    binary(op, rank, d, a, b, out) {
      const v = desc(d), r = rank, pad = (xs: readonly number[]) => [...xs, ...new Array(8 - xs.length).fill(0)];
      const shape = v.slice(0, r), n = shape.reduce((x, y) => x * y, 1);
      gpu.run(BINARY, n, { u: [op, r, n, e(a), e(b), e(out), ...pad(shape), ...pad(v.slice(r, 2 * r)), ...pad(v.slice(2 * r, 3 * r))] });
    },
    sumToShape(rank, d, big, small, smallSize) {
      const v = desc(d), pad = (xs: readonly number[]) => [...xs, ...new Array(8 - xs.length).fill(0)];
      gpu.run(SUM_TO_SHAPE, smallSize, { u: [rank, smallSize, e(big), e(small), ...pad(v.slice(0, rank)), ...pad(v.slice(rank, 2 * rank))] });
    },
    unary: (kind, n, x, y) => gpu.run(UNARY, n, { u: [kind, n, e(x), e(y)] }),
    axpy: (n, alpha, x, y) => gpu.run(AXPY, n, { u: [n, e(x), e(y)], f: [alpha] }),
    affine: (n, x, scale, shift, out) => gpu.run(AFFINE, n, { u: [n, e(x), e(out)], f: [scale, shift] }),
    actForward: (kind, n, x, y, p) => gpu.run(ACT_FORWARD, n, { u: [kind, n, e(x), e(y)], f: [p] }),
    actBackward: (kind, n, x, y, dy, dx, p) => gpu.run(ACT_BACKWARD, n, { u: [kind, n, x ? e(x) : 0, y ? e(y) : 0, e(dy), e(dx)], f: [p] }),
    actMask: (kind, rows, per, y, mask) => gpu.run(ACT_MASK, rows * ((per + 31) >> 5), { u: [kind, rows, per, e(y), e(mask)] }),
    actMaskedBackward: (rows, per, mask, dy, dx, p) => gpu.run(ACT_MASKED_BACKWARD, rows * per, { u: [rows, per, e(mask), e(dy), e(dx)], f: [p] }),
    softmaxForward: (rows, cols, x, y, log) => gpu.run(SOFTMAX, rows, { u: [rows, cols, e(x), e(y), log] }),
    softmaxBackward: (rows, cols, y, dy, dx, log) => gpu.run(SOFTMAX_BACKWARD, rows, { u: [rows, cols, e(y), e(dy), e(dx), log] }),
    reduce: (op, outer, n, inner, x, out) => gpu.run(REDUCE, outer * inner, { u: [op, outer, n, inner, e(x), e(out)] }),
    argmax: (outer, n, inner, x, out) => gpu.run(ARGMAX, outer * inner, { u: [outer, n, inner, e(x), e(out)] }),
    reduceBackward: (op, outer, n, inner, x, dy, dx) => gpu.run(REDUCE_BACKWARD, outer * n * inner, { u: [op, outer, n, inner, e(x), e(dy), e(dx)] }),
    pool2dForward: (kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, y) =>
      gpu.run(POOL, N * OH * OW * C, { u: [kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, e(x), e(y)] }),
    pool2dBackward: (kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, dx) =>
      gpu.run(POOL_BACKWARD, N * H * W * C, { u: [kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, e(x), e(dy), e(dx)] }),
    convWorkspaceSize: () => 0,
    // convolutions as implicit GEMMs per group (./tiled.ts), the direct kernels where no tile pays
    conv2dForward(geom, x, w, bias, y, act, p) {
      const gm = geometry(geom), [N, , , C, , , , , , , , , OH, OW, G, CO] = gm;
      // GEMM's epilogue is the conv's for linear, relu, relu6 and leaky ReLU (the activations that fuse)
      if (pointwise(gm) && act <= 3) { gemm(0, 0, N * OH * OW, CO, C, 1, x, C, w, CO, 0, y, CO, bias, act, p, 0); return; }
      const args = { u: [...gm, e(x), e(w), bias ? e(bias) : 0, e(y), act], f: [p] };
      const t = tile('convForward', N * OH * OW, CO / G, G);
      if (t) gpu.run(tiledCode('convForward', t, ACT + GEOM), tiledThreads(t, N * OH * OW, CO / G, G), args);
      else gpu.run(CONV, N * OH * OW * CO, args);
    },
    conv2dBackwardInput(geom, dy, w, dx) {
      const gm = geometry(geom), [N, H, W, C, , , , , , , , , , , G, CO] = gm;
      if (pointwise(gm)) { gemm(0, 1, N * H * W, C, CO, 1, dy, CO, w, CO, 0, dx, C, 0, 0, 0, 0); return; }
      const args = { u: [...gm, e(dy), e(w), e(dx)] };
      const t = tile('convBackwardInput', N * H * W, C / G, G);
      if (t) gpu.run(tiledCode('convBackwardInput', t, GEOM), tiledThreads(t, N * H * W, C / G, G), args);
      else gpu.run(CONV_BACKWARD_INPUT, N * H * W * C, args);
    },
    conv2dBackwardFilter(geom, x, dy, dw, dbias) {
      const gm = geometry(geom), [N, , , C, KH, KW, , , , , , , OH, OW, G, CO] = gm;
      const args = { u: [...gm, e(x), e(dy), e(dw)] };
      const t = pointwise(gm) ? undefined : tile('convBackwardFilter', KH * KW * (C / G), CO / G, G);
      if (pointwise(gm)) gemm(1, 0, C, CO, N * OH * OW, 1, x, C, dy, CO, 0, dw, CO, 0, 0, 0, 0);
      else if (t) gpu.run(tiledCode('convBackwardFilter', t, GEOM), tiledThreads(t, KH * KW * (C / G), CO / G, G), args);
      else gpu.run(CONV_BACKWARD_FILTER, KH * KW * (C / G) * CO, args);
      if (dbias) gpu.run(COLUMN_SUMS, CO, { u: [N * OH * OW, CO, e(dy), e(dbias)] });
    },
    stridedCopy(rank, d, src, dst) {
      const v = desc(d), pad = (xs: readonly number[]) => [...xs, ...new Array(8 - xs.length).fill(0)];
      const shape = v.slice(0, rank), n = shape.reduce((x, y) => x * y, 1);
      gpu.run(STRIDED_COPY, n, { u: [rank, n, e(src), e(dst), ...pad(shape), ...pad(v.slice(rank, 2 * rank)), ...pad(v.slice(2 * rank, 3 * rank))] });
    },
    fillValue: (n, out, value) => gpu.run(FILL, n, { u: [n, e(out)], f: [value] }),
    lossElementwise(kind, n, pred, target, grad, param, out) {
      gpu.run(LOSS_ELEMENTWISE, 1, { u: [kind, n, e(pred), e(target), grad ? e(grad) : 0, e(out)], f: [param] });
      return NaN;
    },
    softmaxCrossEntropy(rows, cols, logits, target, sparse, grad, out) {
      gpu.run(SOFTMAX_CE, 1, { u: [rows, cols, e(logits), e(target), sparse, grad ? e(grad) : 0, e(out)] });
      return NaN;
    },
    categoricalHinge(rows, cols, pred, target, grad, out) {
      gpu.run(CATEGORICAL_HINGE, 1, { u: [rows, cols, e(pred), e(target), grad ? e(grad) : 0, e(out)] });
      return NaN;
    },
    sgdUpdate: (n, w, g, v, lr, momentum, nesterov) => gpu.run(SGD, n, { u: [n, e(w), e(g), v ? e(v) : 0, nesterov], f: [lr, momentum] }),
    adagradUpdate: (n, w, g, a, lr, eps) => gpu.run(ADAGRAD, n, { u: [n, e(w), e(g), e(a), 0], f: [lr, eps] }),
    adadeltaUpdate: (n, w, g, eg, ed, lr, rho, eps) => gpu.run(ADADELTA, n, { u: [n, e(w), e(g), e(eg), e(ed)], f: [lr, rho, eps] }),
    rmspropUpdate: (n, w, g, s, v, lr, rho, momentum, eps) => gpu.run(RMSPROP, n, { u: [n, e(w), e(g), e(s), v ? e(v) : 0], f: [lr, rho, momentum, eps] }),
    adamUpdate(n, w, g, m, v, lr, b1, b2, eps, t) {
      const lrT = Math.fround(Math.fround(lr) * Math.sqrt(1 - Math.pow(Math.fround(b2), t)) / (1 - Math.pow(Math.fround(b1), t)));
      gpu.run(ADAM, n, { u: [n, e(w), e(g), e(m), e(v), 0], f: [b1, b2, eps, lrT, 1, 1, 1] });
    },
    nadamUpdate(n, w, g, m, v, lr, b1, b2, eps, t) {
      const f1 = Math.fround(b1), f2 = Math.fround(b2);
      gpu.run(ADAM, n, { u: [n, e(w), e(g), e(m), e(v), 1], f: [b1, b2, eps, lr, 1 - Math.pow(f1, t), 1 - Math.pow(f1, t + 1), 1 - Math.pow(f2, t)] });
    },
    rpropUpdate: (n, w, g, prev, step, etaMinus, etaPlus, stepMin, stepMax) =>
      gpu.run(RPROP, n, { u: [n, e(w), e(g), e(prev), e(step)], f: [etaMinus, etaPlus, stepMin, stepMax] }),
    regularizeGrad: (n, w, g, l1, l2) => gpu.run(REGULARIZE, n, { u: [n, e(w), e(g)], f: [l1, l2] }),
    sumSquaresTo: (n, x, acc) => gpu.run(SUM_SQUARES_TO, 1, { u: [n, e(x), e(acc)] }),
    scaleByNorm: (n, x, acc, clip) => gpu.run(SCALE_BY_NORM, n, { u: [n, e(x), e(acc)], f: [clip] }),
    clampValues: (n, x, lo, hi) => gpu.run(CLAMP, n, { u: [n, e(x)], f: [lo, hi] }),
    maxNormColumns: (rows, cols, w, c) => gpu.run(MAX_NORM, cols, { u: [rows, cols, e(w)], f: [c] }),
    batchNormInfer: (M, C, x, gamma, beta, mean, variance, eps, y) =>
      gpu.run(BN_INFER, M * C, { u: [M, C, e(x), e(gamma), e(beta), e(mean), e(variance), e(y)], f: [eps] }),
    batchNormTrain(M, C, x, gamma, beta, eps, momentum, y, saveMean, saveInvStd, runMean, runVar) {
      gpu.run(BN_STATS, C, { u: [M, C, e(x), e(saveMean), e(saveInvStd), runMean ? e(runMean) : 0, runVar ? e(runVar) : 0], f: [eps, momentum] });
      gpu.run(BN_APPLY, M * C, { u: [M, C, e(x), e(gamma), e(beta), e(saveMean), e(saveInvStd), e(y)] });
    },
    batchNormBackward(M, C, x, dy, gamma, mean, invStd, dx, dgamma, dbeta) {
      gpu.run(BN_GRAD_SUMS, C, { u: [M, C, e(x), e(dy), e(mean), e(invStd), e(dgamma), e(dbeta)] });
      gpu.run(BN_GRAD_DX, M * C, { u: [M, C, e(x), e(dy), e(gamma), e(mean), e(invStd), e(dx), e(dgamma), e(dbeta), M] });
    },
    batchNormBackwardSums: (M, C, x, dy, mean, invStd, dgamma, dbeta, ws) =>
      gpu.run(BN_GRAD_SUMS_ADD, C, { u: [M, C, e(x), e(dy), e(mean), e(invStd), e(dgamma), e(dbeta), e(ws)] }),
    batchNormBackwardApply: (M, total, C, x, dy, gamma, mean, invStd, dgamma, dbeta, dx) =>
      gpu.run(BN_GRAD_DX, M * C, { u: [M, C, e(x), e(dy), e(gamma), e(mean), e(invStd), e(dx), e(dgamma), e(dbeta), total] }),
  };
}

/** dst[K, N] = op(B) (row-major), B with leading dimension ldb. */
function copyPacked(gpu: GpuHeap, transB: number, K: number, N: number, B: number, ldb: number, dst: number): void {
  if (!transB && ldb === N) { gpu.run(COPY, K * N, { u: [K * N, e(dst), e(B)] }); return; }
  gpu.run(TRANSPOSE_COPY, K * N, { u: [K, N, e(B), ldb, e(dst), transB] });
}

// u: K N B ldb dst transB
const TRANSPOSE_COPY = /* wgsl */ `
${MAIN} {
  let i = flat(g, nw); let N = ai(1u);
  if (i >= ai(0u) * N) { return; }
  let k = i / N; let n = i % N;
  mem[ai(4u) + i] = select(mem[ai(2u) + k * ai(3u) + n], mem[ai(2u) + n * ai(3u) + k], ai(5u) != 0u);
}`;

/** dst <- src, n floats (non-overlapping or identical ranges). */
export function gpuCopy(gpu: GpuHeap, dst: number, src: number, bytes: number): void {
  if (dst === src || bytes === 0) return;
  if (Math.abs(dst - src) < bytes) throw new Error('edgegrad: internal: overlapping copy on the GPU');
  gpu.run(COPY, bytes >>> 2, { u: [bytes >>> 2, e(dst), e(src)] });
}
