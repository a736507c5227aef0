// The ops that wasm runs as TypeScript loops over tensor memory, on the GPU: gathers by int32 indices
// (embedding, gather and its gradient), the last of equal extremes (argMax with select_last_index), the
// sequence-length mask, resizing (every method and coordinate rule of src/ops/image.ts), grayscale -> RGB and
// its gradient, and pooling of any rank (src/ops/pool-nd.ts). Integers are held as their bits in the f32 heap.
//
// What depends only on shapes and attributes (a resize's taps and weights per output index, a pool's windows)
// the op computes on the CPU, as wasm does, and hands over as a table; the GPU does what reads tensor values.
// Gradients never race: a gather's is a thread per dx element adding its indices' rows in index order (wasm's
// order); a resize's is a thread per dx element gathering through inverse tables (per source row and column,
// the outputs that read it; wasm scatters in output order, so sums may round differently); a pool's is a
// thread per dx element gathering through the windows' inverse in wasm's order of adding.
//
// An index out of range is an error on wasm, thrown by the op. A GPU cannot throw where it reads the index:
// here the index is clamped into range (the output is defined, and wrong), and one thread scans the indices
// and flags the first bad one on the device (value and position); the backend's next read settles the flag
// and throws the error wasm would have thrown, naming the op and node.
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

/** A clamped index in [0, len) (a negative one counts from the end). */
const WRAP = /* wgsl */ `
fn wrapIndex(v: i32, len: u32) -> u32 { var r = v; if (r < 0) { r += i32(len); } return u32(clamp(r, 0, i32(len) - 1)); }
`;

// gatherRows: y[o, k, i] = x[o, idx[k], i], a thread per y element. u: outer len inner count x ids y
const GATHER = WRAP + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let len = ai(1u); let inner = ai(2u); let count = ai(3u);
  if (t >= ai(0u) * count * inner) { return; }
  let i = t % inner; let k = (t / inner) % count; let o = t / (inner * count);
  mem[ai(6u) + t] = mem[ai(4u) + (o * len + wrapIndex(memI(ai(5u) + k), len)) * inner + i];
}`;

// gatherRowsBackward: dx[o, r, i] = sum over k with idx[k] == r of dy[o, k, i], in k's order (wasm's axpy
// order); a thread per dx element. u: outer len inner count dy ids dx
const GATHER_BACKWARD = WRAP + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let len = ai(1u); let inner = ai(2u); let count = ai(3u);
  if (t >= ai(0u) * len * inner) { return; }
  let i = t % inner; let r = (t / inner) % len; let o = t / (inner * len);
  var s: f32 = 0.0;
  for (var k = 0u; k < count; k++) {
    if (wrapIndex(memI(ai(5u) + k), len) == r) { s += mem[ai(4u) + (o * count + k) * inner + i]; }
  }
  mem[ai(6u) + t] = s;
}`;

// checkRange: one thread; the first of n int32 values outside [lo, hi) flags slot (tag, value, position)
// where it is still 0. u: n ids lo hi slot tag
const CHECK_RANGE = /* wgsl */ `
@compute @workgroup_size(1) fn main() {
  let lo = bitcast<i32>(ai(2u)); let hi = bitcast<i32>(ai(3u)); let slot = ai(4u);
  for (var i = 0u; i < ai(0u); i++) {
    let v = memI(ai(1u) + i);
    if (v < lo || v >= hi) {
      if (mem[slot] == 0.0) { mem[slot] = bitcast<f32>(ai(5u)); mem[slot + 1u] = bitcast<f32>(v); mem[slot + 2u] = bitcast<f32>(i); }
      return;
    }
  }
}`;

// argReverse: the index of the first extreme of a reversed axis as the original's last: y = len - 1 - y. u: n len y
const ARG_REVERSE = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  if (t >= ai(0u)) { return; }
  mem[ai(2u) + t] = bitcast<f32>(i32(ai(1u)) - 1 - memI(ai(2u) + t));
}`;

// lengthMask: y[b, s] = 1 where s < length b, else 0. u: B T lens y
const LENGTH_MASK = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let T = ai(1u);
  if (t >= ai(0u) * T) { return; }
  mem[ai(3u) + t] = select(0.0, 1.0, i32(t % T) < memI(ai(2u) + t / T));
}`;

// repeatLast: y[i, j] = x[i] for j < times. u: n times x y
const REPEAT_LAST = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let times = ai(1u);
  if (t >= ai(0u) * times) { return; }
  mem[ai(3u) + t] = mem[ai(2u) + t / times];
}`;

// sumGroups: y[i] = sum over j < k of x[i k + j], in j's order. u: m k x y
const SUM_GROUPS = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let k = ai(1u);
  if (t >= ai(0u)) { return; }
  var s: f32 = 0.0;
  for (var j = 0u; j < k; j++) { s += mem[ai(2u) + t * k + j]; }
  mem[ai(3u) + t] = s;
}`;

/**
 * A resize's table (src/ops/image.ts resizeTable): per axis (height, then width) and output index, TAPS source
 * indices, TAPS weights and an extrapolation flag (tf_crop_and_resize: the output takes the fill value).
 */
export const RESIZE_ROW = 9;
const RESIZE_TAPS = /* wgsl */ `
struct Tap { at: u32, w: f32 };
// tap (p, q) of output (oy, ox): the source pixel's offset in its image and the weight (wy wx, wasm's product)
fn resizeTap(tab: u32, OH: u32, oy: u32, ox: u32, p: u32, q: u32, W: u32, C: u32) -> Tap {
  let ry = tab + oy * ${RESIZE_ROW}u; let rx = tab + OH * ${RESIZE_ROW}u + ox * ${RESIZE_ROW}u;
  return Tap((u32(mem[ry + p]) * W + u32(mem[rx + q])) * C, mem[ry + 4u + p] * mem[rx + 4u + q]);
}
fn extrapolated(tab: u32, OH: u32, oy: u32, ox: u32) -> bool {
  return mem[tab + oy * ${RESIZE_ROW}u + 8u] != 0.0 || mem[tab + OH * ${RESIZE_ROW}u + ox * ${RESIZE_ROW}u + 8u] != 0.0;
}
`;

// resize: a thread per output element. u: N H W C OH OW x y tab K skipZero; f: fill
const RESIZE = RESIZE_TAPS + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let N = ai(0u); let H = ai(1u); let W = ai(2u); let C = ai(3u); let OH = ai(4u); let OW = ai(5u);
  if (t >= N * OH * OW * C) { return; }
  let c = t % C; let ox = (t / C) % OW; let oy = (t / (C * OW)) % OH; let n = t / (C * OW * OH);
  let tab = ai(8u); let K = ai(9u); let xb = ai(6u) + n * H * W * C + c;
  if (extrapolated(tab, OH, oy, ox)) { mem[ai(7u) + t] = af(11u); return; }
  var s: f32 = 0.0;
  for (var p = 0u; p < K; p++) {
    for (var q = 0u; q < K; q++) {
      let tp = resizeTap(tab, OH, oy, ox, p, q, W, C);
      if (ai(10u) != 0u && tp.w == 0.0) { continue; }
      s += tp.w * mem[xb + tp.at];
    }
  }
  mem[ai(7u) + t] = s;
}`;

// resizeBackward: a thread per dx element, gathering through the inverse tables at invY / invX (per source
// row / column: start[size + 1], then (output index, tap) pairs) what the forward pass read from it, in output
// order. u: N H W C OH OW dy dx tab K skipZero invY invX
const RESIZE_BACKWARD = RESIZE_TAPS + /* wgsl */ `
${MAIN} {
  let t = flat(g, nw);
  let N = ai(0u); let H = ai(1u); let W = ai(2u); let C = ai(3u); let OH = ai(4u); let OW = ai(5u);
  if (t >= N * H * W * C) { return; }
  let c = t % C; let ix = (t / C) % W; let iy = (t / (C * W)) % H; let n = t / (C * W * H);
  let tab = ai(8u); let invY = ai(11u); let invX = ai(12u); let dy = ai(6u) + n * OH * OW * C + c;
  var s: f32 = 0.0;
  for (var a = u32(mem[invY + iy]); a < u32(mem[invY + iy + 1u]); a++) {
    let oy = u32(mem[invY + H + 1u + 2u * a]); let p = u32(mem[invY + H + 2u + 2u * a]);
    if (mem[tab + oy * ${RESIZE_ROW}u + 8u] != 0.0) { continue; }
    let wy = mem[tab + oy * ${RESIZE_ROW}u + 4u + p];
    for (var b = u32(mem[invX + ix]); b < u32(mem[invX + ix + 1u]); b++) {
      let ox = u32(mem[invX + W + 1u + 2u * b]); let q = u32(mem[invX + W + 2u + 2u * b]);
      let rx = tab + OH * ${RESIZE_ROW}u + ox * ${RESIZE_ROW}u;
      if (mem[rx + 8u] != 0.0) { continue; }
      let w = wy * mem[rx + 4u + q];
      if (ai(10u) != 0u && w == 0.0) { continue; }
      s += w * mem[dy + (oy * OW + ox) * C];
    }
  }
  mem[ai(7u) + t] = s;
}`;

// The pool table (src/ops/pool-nd.ts poolTable), at tab: start[P + 1], taps[T], column-major taps[T], count[P]
// (float values). Max: the first maximum (v > m, or the first tap); average: the sum over the counted taps.
// poolNd: a thread per (plane, output). u: planes X P T x y ind max indices colMajor tab
const POOL = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let X = ai(1u); let P = ai(2u); let T = ai(3u);
  if (t >= ai(0u) * P) { return; }
  let q = t / P; let p = t % P; let tab = ai(10u); let xb = ai(4u) + q * X;
  let s0 = u32(mem[tab + p]); let s1 = u32(mem[tab + p + 1u]);
  if (ai(7u) != 0u) {
    var m = negInf(); var at = -1;
    for (var k = s0; k < s1; k++) {
      let v = mem[xb + u32(mem[tab + P + 1u + k])];
      if (v > m || at < 0) { m = v; at = i32(k); }
    }
    mem[ai(5u) + t] = m;
    if (ai(8u) != 0u) {
      var off = -1;
      if (at >= 0) { off = i32(mem[tab + P + 1u + select(0u, T, ai(9u) != 0u) + u32(at)]); }
      mem[ai(6u) + t] = bitcast<f32>(i32(q * X) + off);
    }
    return;
  }
  var s: f32 = 0.0;
  for (var k = s0; k < s1; k++) { s += mem[xb + u32(mem[tab + P + 1u + k])]; }
  let count = mem[tab + P + 1u + 2u * T + p];
  mem[ai(5u) + t] = select(qnan(), s / count, count != 0.0);
  // (an Indices output of an average, which ONNX has not: the plane's first element, as wasm)
  if (ai(8u) != 0u) { mem[ai(6u) + t] = bitcast<f32>(i32(q * X)); }
}`;

// poolNdBackward: a thread per dx element, gathering through the table's inverse (after count: start[X + 1],
// then (output, tap) pairs, in output order: wasm's order of adding) the outputs whose window holds it.
// Max: where that tap is the window's first maximum; average: dy / count. u: planes X P T x dy dx max tab
const POOL_BACKWARD = /* wgsl */ `
${MAIN} {
  let t = flat(g, nw); let X = ai(1u); let P = ai(2u); let T = ai(3u);
  if (t >= ai(0u) * X) { return; }
  let q = t / X; let i = t % X; let tab = ai(8u); let xb = ai(4u) + q * X; let dy = ai(5u) + q * P;
  let taps = tab + P + 1u; let counts = tab + P + 1u + 2u * T; let inv = counts + P;
  var s: f32 = 0.0;
  for (var a = u32(mem[inv + i]); a < u32(mem[inv + i + 1u]); a++) {
    let p = u32(mem[inv + X + 1u + 2u * a]); let k = u32(mem[inv + X + 2u + 2u * a]);
    if (ai(7u) != 0u) {
      var m = negInf(); var at = 0u; var first = true;
      for (var j = u32(mem[tab + p]); j < u32(mem[tab + p + 1u]); j++) {
        let v = mem[xb + u32(mem[taps + j])];
        if (v > m || first) { m = v; at = j; first = false; }
      }
      if (at == k) { s += mem[dy + p]; }
    } else {
      let count = mem[counts + p];
      if (count != 0.0) { s += mem[dy + p] / count; }
    }
  }
  mem[ai(6u) + t] = s;
}`;

/** What a range check reports when it fails: the op, its node, and the range wasm's error names. */
export interface Checked { op: string; node: string; what: string; place: string; range: string }

/** The GPU kernels for the ops that read tensor memory on the CPU elsewhere (handles are byte offsets). */
export interface DeviceIndexing {
  /** y[o, k, i] = x[o, ids[k], i] over x [outer, len, inner] and count int32 ids (clamped; see checkIndices). */
  gatherRows(outer: number, len: number, inner: number, count: number, x: number, ids: number, y: number): void;
  /** dx [outer, len, inner] = the sum of each index's rows of dy [outer, count, inner], in index order. */
  gatherRowsBackward(outer: number, len: number, inner: number, count: number, dy: number, ids: number, dx: number): void;
  /**
   * Flag the first of the n int32 values at ids outside [lo, hi) on the device; the backend's next read
   * throws wasm's error: "edgegrad.<op>: node '<node>': <what> <value> (<place> <k>) is outside <range>".
   */
  checkIndices(n: number, ids: number, lo: number, hi: number, report: Checked): void;
  /** y = len - 1 - y over n int32 values (argMax's select_last_index on a reversed input). */
  argReverse(n: number, len: number, y: number): void;
  /** y [B, T] = 1 where t < lengths[b] (int32), else 0. */
  lengthMask(B: number, T: number, lens: number, y: number): void;
  /** y [n, times] = x [n] repeated. */
  repeatLast(n: number, times: number, x: number, y: number): void;
  /** y [m] = the sums of x [m, k]'s rows. */
  sumGroups(m: number, k: number, x: number, y: number): void;
  /** NHWC resize by a table of K x K taps (skipZero: a zero weight reads nothing); fill where extrapolated. */
  resize(dims: readonly number[], x: number, y: number, tab: number, K: number, skipZero: boolean, fill: number): void;
  /** Its adjoint: dx from dy, the same taps, gathered through the table's inverses (at inv: floats into it). */
  resizeBackward(dims: readonly number[], dy: number, dx: number, tab: number, K: number, skipZero: boolean, inv: readonly [number, number]): void;
  /** Pooling over planes of X by a window table of P outputs and T taps; ind: the Indices output (0: none). */
  poolNd(planes: number, X: number, P: number, T: number, x: number, y: number, max: boolean, ind: number, colMajor: boolean, tab: number): void;
  /** Its gradient, by the table with its inverse. */
  poolNdBackward(planes: number, X: number, P: number, T: number, x: number, dy: number, dx: number, max: boolean, tab: number): void;
}

/** The device kernels, and settle(): read the range flags raised since the last settle, throw wasm's error. */
export function deviceIndexing(gpu: GpuHeap, alloc: (bytes: number) => number): DeviceIndexing & { settle(): Promise<void> } {
  let slot = -1;
  let raised: Checked[] = [];
  return {
    gatherRows: (outer, len, inner, count, x, ids, y) =>
      gpu.run(GATHER, outer * count * inner, { u: [outer, len, inner, count, e(x), e(ids), e(y)] }),
    gatherRowsBackward: (outer, len, inner, count, dy, ids, dx) =>
      gpu.run(GATHER_BACKWARD, outer * len * inner, { u: [outer, len, inner, count, e(dy), e(ids), e(dx)] }),
    checkIndices(n, ids, lo, hi, report) {
      if (n <= 0) return;
      if (slot < 0) {
        slot = alloc(16);
        gpu.write(slot, new Uint32Array(4));
      }
      raised.push(report);
      gpu.run(CHECK_RANGE, 1, { u: [n, e(ids), lo, hi, e(slot), raised.length] });
    },
    argReverse: (n, len, y) => gpu.run(ARG_REVERSE, n, { u: [n, len, e(y)] }),
    lengthMask: (B, T, lens, y) => gpu.run(LENGTH_MASK, B * T, { u: [B, T, e(lens), e(y)] }),
    repeatLast: (n, times, x, y) => gpu.run(REPEAT_LAST, n * times, { u: [n, times, e(x), e(y)] }),
    sumGroups: (m, k, x, y) => gpu.run(SUM_GROUPS, m, { u: [m, k, e(x), e(y)] }),
    resize: ([N, H, W, C, OH, OW], x, y, tab, K, skipZero, fill) =>
      gpu.run(RESIZE, N * OH * OW * C, { u: [N, H, W, C, OH, OW, e(x), e(y), e(tab), K, skipZero ? 1 : 0], f: [fill] }),
    resizeBackward: ([N, H, W, C, OH, OW], dy, dx, tab, K, skipZero, [invY, invX]) =>
      gpu.run(RESIZE_BACKWARD, N * H * W * C, { u: [N, H, W, C, OH, OW, e(dy), e(dx), e(tab), K, skipZero ? 1 : 0, e(tab) + invY, e(tab) + invX] }),
    poolNd: (planes, X, P, T, x, y, max, ind, colMajor, tab) =>
      gpu.run(POOL, planes * P, { u: [planes, X, P, T, e(x), e(y), e(ind), max ? 1 : 0, ind ? 1 : 0, colMajor ? 1 : 0, e(tab)] }),
    poolNdBackward: (planes, X, P, T, x, dy, dx, max, tab) =>
      gpu.run(POOL_BACKWARD, planes * X, { u: [planes, X, P, T, e(x), e(dy), e(dx), max ? 1 : 0, e(tab)] }),
    async settle() {
      if (!raised.length) return;
      const checks = raised;
      raised = [];
      // the flags as they are now, then cleared in queue order (a check encoded meanwhile flags afresh)
      const flags = gpu.read(slot, 12);
      gpu.write(slot, new Uint32Array(4));
      const [tag, value, position] = new Int32Array((await flags).buffer);
      if (tag <= 0) return;
      const c = checks[tag - 1];
      throw new Error(`edgegrad.${c.op}: node '${c.node}': ${c.what} ${value} (${c.place} ${position}) is outside ${c.range} (found on the GPU after the op ran with it clamped into range: its outputs are not valid)`);
    },
  };
}
