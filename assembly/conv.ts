// conv2d over NHWC with HWIO filters [KH, KW, C/G, Cout]: any kernel, stride, padding, dilation, groups.
//
// Forward is an implicit GEMM: output pixels x (ky, kx, ci) patches times the filter, with the patch
// matrix packed straight from the input by the GEMM's A_IM2COL packer, so it is never materialized.
// 1x1 / stride 1 / no padding is a plain GEMM on the input. Depthwise (C/G == 1) runs a direct kernel:
// a K = KH*KW GEMM would waste the micro-kernel. Backward passes reuse the GEMM over pixel chunks:
//   dX = col2im(dY W^T),  dW = im2col(X)^T dY,  db = column sums of dY.
import { gemm, gemmPackB, gemmPrepacked, gemmPackedBSize, gemmPackedASize, gemmWorkspaceSize, A_MATRIX, A_IM2COL } from './gemm_f32';
import { setIm2col, walkPatchRow } from './im2col';
import { madd4, ACT_LINEAR, ACT_RELU, ACT_RELU6, ACT_LEAKY_RELU } from './common';
import { actForward } from './act';
import { threads, jobArgs, jobChunks, parallelBegin, parallelEnd, claim, chunkDone, shareStart, row16Scratch } from './threads';

// Geometry of the current call, shared by the helpers below: every entry point takes a pointer to a
// geometry block and loads it here first, so no call depends on an earlier one.
let N: i32 = 0, H: i32 = 0, W: i32 = 0, C: i32 = 0, KH: i32 = 0, KW: i32 = 0, SH: i32 = 1, SW: i32 = 1;
let PT: i32 = 0, PL: i32 = 0, DH: i32 = 1, DW: i32 = 1, OH: i32 = 0, OW: i32 = 0, G: i32 = 1, CO: i32 = 0;

/** Rows of the patch matrix per chunk in the backward passes: bounds the workspace to ~1 MiB of patches. */
function chunkRows(K: i32): i32 {
  return max(16, min(N * OH * OW, (262144 / max(K, 1)) & ~3));
}

function isPointwise(): bool {
  return KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W;
}

/**
 * The geometry block every conv entry point takes (16 i32, CONV_GEOMETRY_INTS): N, H, W, C, KH, KW, SH, SW,
 * PT, PL, DH, DW, OH, OW, groups, Cout. Padding is explicit (top/left); the TS layer turns 'same'/'valid'
 * into numbers and checks shapes.
 */
export const CONV_GEOMETRY_INTS: i32 = 16;

let geomPtr: usize = 0;

function loadGeometry(g: usize): void {
  geomPtr = g;
  N = load<i32>(g); H = load<i32>(g, 4); W = load<i32>(g, 8); C = load<i32>(g, 12);
  KH = load<i32>(g, 16); KW = load<i32>(g, 20); SH = load<i32>(g, 24); SW = load<i32>(g, 28);
  PT = load<i32>(g, 32); PL = load<i32>(g, 36); DH = load<i32>(g, 40); DW = load<i32>(g, 44);
  OH = load<i32>(g, 48); OW = load<i32>(g, 52); G = load<i32>(g, 56); CO = load<i32>(g, 60);
}

/**
 * Workspace bytes for the conv entry points: the maximum over every path the current geometry can take
 * (forward, backward data, backward filter; pointwise, direct, chunked implicit GEMM). Each entry point
 * must stay inside this: the fuzz test (test/workspace-fuzz.test.ts) checks guard bytes after it.
 */
export function convWorkspaceSize(geom: usize): i32 {
  loadGeometry(geom);
  const Cg = C / G, coutg = CO / G;
  const K = KH * KW * Cg;
  const P = chunkRows(K);
  // forward: packed filter + one packed A block; the direct kernel pads the filter to [K, 16]
  let size = max(gemmPackedBSize(K, coutg) + gemmPackedASize() + 64, DBF_PARTS * DIRECT_CO * (K + 1) * 4 + 64);
  if (isPointwise()) {
    // dX = dY W^T over all pixels at once (B = W^T is small); dW = X^T dY over chunks of P pixels
    size = max(size, gemmWorkspaceSize(N * OH * OW, Cg, coutg));
    size = max(size, gemmWorkspaceSize(Cg, coutg, P));
  } else {
    // chunked: a [P, K] patch matrix, then a GEMM over it
    size = max(size, P * K * 4 + gemmWorkspaceSize(P, K, coutg) + 64);
    size = max(size, P * K * 4 + gemmWorkspaceSize(K, coutg, P) + 64);
  }
  return size;
}

@inline function align16(p: usize): usize { return (p + 15) & ~15; }

/** y[N, OH, OW, CO] = act(conv(x, w) + bias). act: any activation; cheap ones are fused into the GEMM. */
export function conv2dForward(geom: usize, x: usize, w: usize, bias: usize, y: usize, act: i32, actParam: f32, ws: usize): void {
  loadGeometry(geom);
  const Cg = C / G, coutg = CO / G;
  const M = N * OH * OW;
  const fused = act == ACT_LINEAR || act == ACT_RELU || act == ACT_RELU6 || act == ACT_LEAKY_RELU;
  const ea = fused ? act : ACT_LINEAR;
  if (Cg == 1 && G > 1) {
    if (!share(CJ_DW_FWD, x, w, bias, y, <i64>M * <i64>CO * <i64>(KH * KW), N * OH, 4)) depthwiseForward(x, w, bias, y, 0, N * OH);
    if (act != ACT_LINEAR) actForward(act, M * CO, y, y, actParam);
    return;
  }
  if (useDirect()) {
    padFilter(w, ws);
    if (!share(CJ_DIRECT_FWD, x, ws, bias, y, <i64>M * <i64>CO * <i64>(KH * KW * C), N * OH, 4)) directForward(x, ws, bias, y, 0, N * OH);
    if (act != ACT_LINEAR) actForward(act, M * CO, y, y, actParam);
    return;
  }
  const K = KH * KW * Cg;
  const pb = ws, pa = align16(ws + <usize>gemmPackedBSize(K, coutg));
  for (let g = 0; g < G; g++) {
    const b = bias ? bias + (<usize>(g * coutg) << 2) : 0;
    gemmPackB(0, K, coutg, w + (<usize>(g * coutg) << 2), CO, pb);
    if (isPointwise()) {
      gemmPrepacked(A_MATRIX, 0, M, coutg, K, 1, x + (<usize>(g * Cg) << 2), C, pb, 0, y + (<usize>(g * coutg) << 2), CO, b, ea, actParam, pa);
    } else {
      setIm2col(H, W, C, Cg, g * Cg, KW, SH, SW, PT, PL, DH, DW, OH, OW);
      gemmPrepacked(A_IM2COL, 0, M, coutg, K, 1, x, 0, pb, 0, y + (<usize>(g * coutg) << 2), CO, b, ea, actParam, pa);
    }
  }
  if (!fused) actForward(act, M * CO, y, y, actParam);
}

/** Patch rows into a plain f32 matrix (the im2col walk's visitor, im2col.ts): `row` is the row's start. */
@unmanaged class ColF32 {
  // @ts-ignore: decorator
  @inline copy(x: usize, row: usize, k: i32, s: i32, len: i32): i32 {
    const dst = row + (<usize>k << 2), src = x + (<usize>s << 2);
    if (len >= 16) memory.copy(dst, src, <usize>len << 2);
    else for (let j = 0; j < len; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
    return 0;
  }
  // @ts-ignore: decorator
  @inline pad(x: usize, row: usize, k: i32, len: i32): i32 {
    const dst = row + (<usize>k << 2);
    for (let j = 0; j < len; j++) store<f32>(dst + (<usize>j << 2), 0);
    return 0;
  }
}

/** The adjoint of ColF32: x (here dx) += the row's columns; padding columns go nowhere. */
@unmanaged class Col2imAddF32 {
  // @ts-ignore: decorator
  @inline copy(x: usize, row: usize, k: i32, s: i32, len: i32): i32 {
    const d = x + (<usize>s << 2), src = row + (<usize>k << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 3 < len; j += 4) {
        const q = <usize>j << 2;
        v128.store(d + q, f32x4.add(v128.load(d + q), v128.load(src + q)));
      }
    }
    for (; j < len; j++) {
      const q = <usize>j << 2;
      store<f32>(d + q, load<f32>(d + q) + load<f32>(src + q));
    }
    return 0;
  }
  // @ts-ignore: decorator
  @inline pad(x: usize, row: usize, k: i32, len: i32): i32 { return 0; }
}

/** Explicit im2col of output pixels [m0, m0+P) for channels [c0, c0+Cg) into col[P, KH*KW*Cg]. */
function im2col(x: usize, m0: i32, P: i32, c0: i32, Cg: i32, col: usize): void {
  const K = KH * KW * Cg;
  setIm2col(H, W, C, Cg, c0, KW, SH, SW, PT, PL, DH, DW, OH, OW);
  for (let r = 0; r < P; r++) walkPatchRow<ColF32>(changetype<ColF32>(0), m0 + r, 0, K, x, col + (<usize>(r * K) << 2));
}

/** dx[pixels of the chunk] += col2im(dcol) for channels [c0, c0+Cg). */
function col2imAdd(dcol: usize, m0: i32, P: i32, c0: i32, Cg: i32, dx: usize): void {
  const K = KH * KW * Cg;
  setIm2col(H, W, C, Cg, c0, KW, SH, SW, PT, PL, DH, DW, OH, OW);
  for (let r = 0; r < P; r++) walkPatchRow<Col2imAddF32>(changetype<Col2imAddF32>(0), m0 + r, 0, K, dx, dcol + (<usize>(r * K) << 2));
}

/** dx[N, H, W, C] (overwritten) = gradient of the conv w.r.t. its input, given dy[N, OH, OW, CO]. */
export function conv2dBackwardInput(geom: usize, dy: usize, w: usize, dx: usize, ws: usize): void {
  loadGeometry(geom);
  const Cg = C / G, coutg = CO / G;
  const M = N * OH * OW;
  if (Cg == 1 && G > 1) {
    memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
    if (!share(CJ_DW_BWI, dy, w, dx, 0, <i64>M * <i64>CO * <i64>(KH * KW), N * H, 4)) depthwiseBackwardInput(dy, w, dx, 0, N * H);
    return;
  }
  if (useDirect() && !isPointwise()) {
    if (ASC_FEATURE_SIMD) {
      padFilter(w, ws);
      memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
      if (!share(CJ_DIRECT_BWI, dy, ws, dx, 0, <i64>M * <i64>DIRECT_CO * <i64>(KH * KW * C), N * H, 4)) directBackwardInput(dy, ws, dx, 0, N * H);
    }
    return;
  }
  if (isPointwise()) {
    for (let g = 0; g < G; g++) {
      // dx[:, g] = dy[:, g] W_g^T, W_g = w[Cg, CO] columns of group g
      gemm(0, 1, M, Cg, coutg, 1, dy + (<usize>(g * coutg) << 2), CO, w + (<usize>(g * coutg) << 2), CO,
        0, dx + (<usize>(g * Cg) << 2), C, 0, ACT_LINEAR, 0, ws);
    }
    return;
  }
  memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
  const K = KH * KW * Cg;
  const P = chunkRows(K);
  const dcol = ws, gws = align16(ws + (<usize>(P * K) << 2));
  for (let g = 0; g < G; g++) {
    for (let m0 = 0; m0 < M; m0 += P) {
      const p = min(P, M - m0);
      gemm(0, 1, p, K, coutg, 1, dy + (<usize>(m0 * CO + g * coutg) << 2), CO, w + (<usize>(g * coutg) << 2), CO,
        0, dcol, K, 0, ACT_LINEAR, 0, gws);
      col2imAdd(dcol, m0, p, g * Cg, Cg, dx);
    }
  }
}

/** dw[KH, KW, Cg, CO] (overwritten) and, if dbias != 0, dbias[CO] (overwritten), given x and dy. */
export function conv2dBackwardFilter(geom: usize, x: usize, dy: usize, dw: usize, dbias: usize, ws: usize): void {
  loadGeometry(geom);
  const Cg = C / G, coutg = CO / G;
  const M = N * OH * OW;
  // the direct path sums dbias in its parallel pass (a row of each part's block)
  const direct = useDirect() && !isPointwise() && ASC_FEATURE_SIMD && M > 0;
  if (dbias && !direct) columnSums(M, CO, dy, dbias);
  // no output pixels: dw is a sum over nothing (the chunked paths below would not write it at all)
  if (M == 0) { memory.fill(dw, 0, <usize>(KH * KW * Cg * CO) << 2); return; }
  if (Cg == 1 && G > 1) {
    memory.fill(dw, 0, <usize>(KH * KW * CO) << 2);
    // channel chunks each walk every pixel: one per thread
    if (!share(CJ_DW_BWF, x, dy, dw, 0, <i64>M * <i64>CO * <i64>(KH * KW), (CO + 3) / 4, 1)) depthwiseBackwardFilter(x, dy, dw, 0, CO);
    return;
  }
  if (useDirect() && !isPointwise()) {
    if (ASC_FEATURE_SIMD) {
      // dW is summed in DBF_PARTS parts of the output rows, each into its own [K + 1, 16] block (row K: the
      // part's sum of dy, for dbias), then the blocks are added in order: the same sums however many
      // threads take the parts
      const K = KH * KW * C, R = N * OH, parts = min(DBF_PARTS, R);
      const blk = <usize>((K + 1) * DIRECT_CO) << 2;
      memory.fill(ws, 0, blk * <usize>parts);
      if (!share(CJ_DIRECT_BWF, x, dy, ws, 0, <i64>M * <i64>DIRECT_CO * <i64>K, parts, DBF_PARTS)) {
        for (let q = 0; q < parts; q++) directBackwardFilter(x, dy, ws + blk * <usize>q, shareStart(R, 1, q, parts), shareStart(R, 1, q + 1, parts));
      }
      for (let q = 1; q < parts; q++) {
        const src = ws + blk * <usize>q;
        for (let i: usize = 0; i < blk; i += 16) v128.store(ws + i, f32x4.add(v128.load(ws + i), v128.load(src + i)));
      }
      for (let k = 0; k < K; k++) memory.copy(dw + (<usize>(k * CO) << 2), ws + (<usize>(k * DIRECT_CO) << 2), <usize>CO << 2);
      if (dbias) memory.copy(dbias, ws + (<usize>(K * DIRECT_CO) << 2), <usize>CO << 2);
    }
    return;
  }
  const K = KH * KW * Cg;
  const P = chunkRows(K);
  if (isPointwise()) {
    // dW_g = X_g^T dY_g, summed over chunks of P pixels: the GEMM packs dY (its B) per call, so one call over
    // all N*OH*OW pixels would need a workspace as big as dY itself
    for (let g = 0; g < G; g++) {
      for (let m0 = 0; m0 < M; m0 += P) {
        const p = min(P, M - m0);
        gemm(1, 0, Cg, coutg, p, 1, x + (<usize>(m0 * C + g * Cg) << 2), C, dy + (<usize>(m0 * CO + g * coutg) << 2), CO,
          m0 == 0 ? 0 : 1, dw + (<usize>(g * coutg) << 2), CO, 0, ACT_LINEAR, 0, ws);
      }
    }
    return;
  }
  const col = ws, gws = align16(ws + (<usize>(P * K) << 2));
  for (let g = 0; g < G; g++) {
    for (let m0 = 0; m0 < M; m0 += P) {
      const p = min(P, M - m0);
      im2col(x, m0, p, g * Cg, Cg, col);
      gemm(1, 0, K, coutg, p, 1, col, K, dy + (<usize>(m0 * CO + g * coutg) << 2), CO,
        m0 == 0 ? 0 : 1, dw + (<usize>(g * coutg) << 2), CO, 0, ACT_LINEAR, 0, gws);
    }
  }
}

/** out[cols] = sum over rows of a[rows, cols] (overwritten). */
export function columnSums(rows: i32, cols: i32, a: usize, out: usize): void {
  memory.fill(out, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const row = a + (<usize>(r * cols) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 3 < cols; j += 4) {
        const q = <usize>j << 2;
        v128.store(out + q, f32x4.add(v128.load(out + q), v128.load(row + q)));
      }
    }
    for (; j < cols; j++) {
      const q = <usize>j << 2;
      store<f32>(out + q, load<f32>(out + q) + load<f32>(row + q));
    }
  }
}

// ---- depthwise (C/G == 1, channel multiplier M = CO / C; output channel o = c * M + m) ----

/** Output rows [r0, r1) of the N * OH rows. */
function depthwiseForward(x: usize, w: usize, bias: usize, y: usize, r0: i32, r1: i32): void {
  const fast3x3 = ASC_FEATURE_SIMD && KH == 3 && KW == 3 && CO == C && (C & 3) == 0;
  // interior output columns: the whole 3-wide window is inside the input
  const ox0 = min(OW, max(0, (PL + SW - 1) / SW));
  const lim = W - 1 - 2 * DW + PL; // last interior column satisfies ox * SW <= lim (none if lim < 0)
  const ox1 = lim < 0 ? ox0 : max(ox0, min(OW, lim / SW + 1));
  for (let r = r0; r < r1; r++) {
    const n = r / OH, oy = r - n * OH;
    {
      const iy0 = oy * SH - PT;
      const rowOut = y + (<usize>((n * OH + oy) * OW * CO) << 2);
      if (fast3x3 && iy0 >= 0 && iy0 + 2 * DH < H) {
        for (let ox = 0; ox < ox0; ox++) depthwisePixel(x, w, bias, rowOut + (<usize>(ox * CO) << 2), n, iy0, ox * SW - PL);
        // pairs of interior pixels through the unrolled kernel; an odd one left over joins the border path
        const pairs = (ox1 - ox0) & ~1;
        depthwise3x3Pairs(x + (<usize>(((n * H + iy0) * W + ox0 * SW - PL) * C) << 2), w, bias, rowOut + (<usize>(ox0 * CO) << 2), pairs);
        for (let ox = ox0 + pairs; ox < OW; ox++) depthwisePixel(x, w, bias, rowOut + (<usize>(ox * CO) << 2), n, iy0, ox * SW - PL);
      } else {
        for (let ox = 0; ox < OW; ox++) depthwisePixel(x, w, bias, rowOut + (<usize>(ox * CO) << 2), n, iy0, ox * SW - PL);
      }
    }
  }
}

/**
 * 3x3 depthwise, multiplier 1, `count` (even) consecutive output pixels whose windows lie inside the input
 * (`p`: top-left input pixel of the first window). Taps are fixed offsets, fully unrolled; two pixels per
 * step share each weight load.
 */
function depthwise3x3Pairs(p: usize, w: usize, bias: usize, out: usize, count: i32): void {
  if (ASC_FEATURE_SIMD) {
    const cs = <usize>C << 2;
    const dx = <usize>DW * cs, dy = <usize>DH * <usize>W * cs;
    const step = <usize>SW * cs;
    const w1 = w + cs * 3, w2 = w1 + cs * 3;
    for (let i = 0; i < count; i += 2) {
      const q = p + step;
      for (let c: usize = 0; c < cs; c += 16) {
        let a = bias ? v128.load(bias + c) : f32x4.splat(0);
        let b = a;
        let wv = v128.load(w + c);
        a = madd4(v128.load(p + c), wv, a); b = madd4(v128.load(q + c), wv, b);
        wv = v128.load(w + cs + c);
        a = madd4(v128.load(p + dx + c), wv, a); b = madd4(v128.load(q + dx + c), wv, b);
        wv = v128.load(w + cs + cs + c);
        a = madd4(v128.load(p + dx + dx + c), wv, a); b = madd4(v128.load(q + dx + dx + c), wv, b);
        wv = v128.load(w1 + c);
        a = madd4(v128.load(p + dy + c), wv, a); b = madd4(v128.load(q + dy + c), wv, b);
        wv = v128.load(w1 + cs + c);
        a = madd4(v128.load(p + dy + dx + c), wv, a); b = madd4(v128.load(q + dy + dx + c), wv, b);
        wv = v128.load(w1 + cs + cs + c);
        a = madd4(v128.load(p + dy + dx + dx + c), wv, a); b = madd4(v128.load(q + dy + dx + dx + c), wv, b);
        wv = v128.load(w2 + c);
        a = madd4(v128.load(p + dy + dy + c), wv, a); b = madd4(v128.load(q + dy + dy + c), wv, b);
        wv = v128.load(w2 + cs + c);
        a = madd4(v128.load(p + dy + dy + dx + c), wv, a); b = madd4(v128.load(q + dy + dy + dx + c), wv, b);
        wv = v128.load(w2 + cs + cs + c);
        a = madd4(v128.load(p + dy + dy + dx + dx + c), wv, a); b = madd4(v128.load(q + dy + dy + dx + dx + c), wv, b);
        v128.store(out + c, a);
        v128.store(out + cs + c, b);
      }
      p += step + step;
      out += cs + cs;
    }
  }
}

/** Any depthwise window, bounds-checked per tap (borders, other kernel sizes, multipliers). */
function depthwisePixel(x: usize, w: usize, bias: usize, out: usize, n: i32, iy0: i32, ix0: i32): void {
  const mult = CO / C;
  let o = 0;
  if (ASC_FEATURE_SIMD) {
    if (mult == 1) {
      for (; o + 3 < CO; o += 4) {
        let a0 = bias ? v128.load(bias + (<usize>o << 2)) : f32x4.splat(0);
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ix0 + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const p = x + (<usize>(((n * H + iy) * W + ix) * C + o) << 2);
            const q = w + (<usize>((ky * KW + kx) * CO + o) << 2);
            a0 = madd4(v128.load(p), v128.load(q), a0);
          }
        }
        v128.store(out + (<usize>o << 2), a0);
      }
    }
  }
  for (; o < CO; o++) {
    const c = o / mult;
    let a: f32 = bias ? load<f32>(bias + (<usize>o << 2)) : 0;
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ix0 + kx * DW;
        if (ix < 0 || ix >= W) continue;
        a += load<f32>(x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2)) * load<f32>(w + (<usize>((ky * KW + kx) * CO + o) << 2));
      }
    }
    store<f32>(out + (<usize>o << 2), a);
  }
}

/**
 * dx rows [r0, r1) of the N * H input rows (dx zeroed by the caller): every output pixel's taps that land
 * there, in the single-thread order.
 */
function depthwiseBackwardInput(dy: usize, w: usize, dx: usize, r0: i32, r1: i32): void {
  const mult = CO / C;
  for (let n = r0 / H; n < N && n * H < r1; n++) {
    const lo = max(0, r0 - n * H), hi = min(H, r1 - n * H);
    for (let oy = 0; oy < OH; oy++) {
      if (oy * SH - PT + (KH - 1) * DH < lo || oy * SH - PT >= hi) continue;
      for (let ox = 0; ox < OW; ox++) {
        const g = dy + (<usize>(((n * OH + oy) * OW + ox) * CO) << 2);
        for (let ky = 0; ky < KH; ky++) {
          const iy = oy * SH - PT + ky * DH;
          if (iy < lo || iy >= hi) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const d = dx + (<usize>(((n * H + iy) * W + ix) * C) << 2);
            const q = w + (<usize>((ky * KW + kx) * CO) << 2);
            let o = 0;
            if (ASC_FEATURE_SIMD) {
              if (mult == 1) {
                for (; o + 3 < CO; o += 4) {
                  const b = <usize>o << 2;
                  v128.store(d + b, f32x4.add(v128.load(d + b), f32x4.mul(v128.load(g + b), v128.load(q + b))));
                }
              }
            }
            for (; o < CO; o++) {
              const p = d + (<usize>(o / mult) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(g + (<usize>o << 2)) * load<f32>(q + (<usize>o << 2)));
            }
          }
        }
      }
    }
  }
}

/** dw channels [o0, o1) (o0 a multiple of 4; dw zeroed by the caller). */
function depthwiseBackwardFilter(x: usize, dy: usize, dw: usize, o0: i32, o1: i32): void {
  const mult = CO / C;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const g = dy + (<usize>(((n * OH + oy) * OW + ox) * CO) << 2);
        for (let ky = 0; ky < KH; ky++) {
          const iy = oy * SH - PT + ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const s = x + (<usize>(((n * H + iy) * W + ix) * C) << 2);
            const q = dw + (<usize>((ky * KW + kx) * CO) << 2);
            let o = o0;
            if (ASC_FEATURE_SIMD) {
              if (mult == 1) {
                for (; o + 3 < o1; o += 4) {
                  const b = <usize>o << 2;
                  v128.store(q + b, f32x4.add(v128.load(q + b), f32x4.mul(v128.load(g + b), v128.load(s + b))));
                }
              }
            }
            for (; o < o1; o++) {
              const p = q + (<usize>o << 2);
              store<f32>(p, load<f32>(p) + load<f32>(g + (<usize>o << 2)) * load<f32>(s + (<usize>(o / mult) << 2)));
            }
          }
        }
      }
    }
  }
}

// ---- direct convolution for few output channels (one group, CO <= 16) ----
// The implicit GEMM wastes itself on such layers (first layers of small CNNs: K = 25, N = 6): packing
// dominates. Here every output pixel keeps 16 output channels in four f32x4 accumulators and each input
// value is splat once per tap; the filter is first padded to [K, 16] in the workspace.

const DIRECT_CO: i32 = 16;
// Each thread's ROW16 is its row16Scratch (threads.ts): [0, 64): bias or a dy row; [64, 128): an output tile.

function useDirect(): bool {
  return ASC_FEATURE_SIMD && G == 1 && CO <= DIRECT_CO;
}

/** w [K, CO] -> wp [K, 16], zero-padded columns. */
function padFilter(w: usize, wp: usize): void {
  const K = KH * KW * C;
  for (let k = 0; k < K; k++) {
    for (let o = 0; o < DIRECT_CO; o++) {
      store<f32>(wp + (<usize>(k * DIRECT_CO + o) << 2), o < CO ? load<f32>(w + (<usize>(k * CO + o) << 2)) : 0);
    }
  }
}

/** Output rows [r0, r1) of the N * OH rows; wp: the filter padded by padFilter. */
function directForward(x: usize, wp: usize, bias: usize, y: usize, r0: i32, r1: i32): void {
  if (ASC_FEATURE_SIMD) {
    const ROW16 = row16Scratch;
    memory.fill(ROW16, 0, 64);
    if (bias) memory.copy(ROW16, bias, <usize>CO << 2);
    const narrow = CO <= 8; // up to 8 channels need two of the four accumulators: then 4 pixels at once
    for (let r = r0; r < r1; r++) {
      const n = r / OH, oy = r - n * OH;
      let ox = 0;
      while (ox < OW) {
        // interior runs of 4 output pixels (every window column inside the row): weights loaded once per tap
        const ix0 = ox * SW - PL;
        if (narrow && ox + 3 < OW && ix0 >= 0 && ix0 + 3 * SW + (KW - 1) * DW < W) {
          directQuad(x, wp, y, n, oy, ox);
          ox += 4;
        } else {
          directPixel(x, wp, y, n, oy, ox);
          ox++;
        }
      }
    }
  }
}

/** One output pixel, all (up to 16) channels. */
function directPixel(x: usize, wp: usize, y: usize, n: i32, oy: i32, ox: i32): void {
  if (ASC_FEATURE_SIMD) {
    const ROW16 = row16Scratch;
    let a0 = v128.load(ROW16), a1 = v128.load(ROW16, 16), a2 = v128.load(ROW16, 32), a3 = v128.load(ROW16, 48);
    const wide = CO > 8;
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * SH - PT + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ox * SW - PL + kx * DW;
        if (ix < 0 || ix >= W) continue;
        let src = x + (<usize>(((n * H + iy) * W + ix) * C) << 2);
        let wr = wp + (<usize>((ky * KW + kx) * C * DIRECT_CO) << 2);
        for (let ci = 0; ci < C; ci++) {
          const xv = v128.load32_splat(src);
          a0 = madd4(xv, v128.load(wr), a0);
          a1 = madd4(xv, v128.load(wr, 16), a1);
          if (wide) {
            a2 = madd4(xv, v128.load(wr, 32), a2);
            a3 = madd4(xv, v128.load(wr, 48), a3);
          }
          src += 4; wr += 64;
        }
      }
    }
    const out = y + (<usize>(((n * OH + oy) * OW + ox) * CO) << 2);
    if (CO == DIRECT_CO) {
      v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
    } else {
      const t = ROW16 + 64;
      v128.store(t, a0); v128.store(t, a1, 16); v128.store(t, a2, 32); v128.store(t, a3, 48);
      memory.copy(out, t, <usize>CO << 2);
    }
  }
}

/** Four horizontally adjacent interior output pixels, CO <= 8: eight accumulators, shared weight loads. */
function directQuad(x: usize, wp: usize, y: usize, n: i32, oy: i32, ox: i32): void {
  if (ASC_FEATURE_SIMD) {
    const ROW16 = row16Scratch;
    const b0 = v128.load(ROW16), b1 = v128.load(ROW16, 16);
    let p00 = b0, p01 = b1, p10 = b0, p11 = b1, p20 = b0, p21 = b1, p30 = b0, p31 = b1;
    const step = <usize>(SW * C) << 2;
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * SH - PT + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        let src = x + (<usize>(((n * H + iy) * W + ox * SW - PL + kx * DW) * C) << 2);
        let wr = wp + (<usize>((ky * KW + kx) * C * DIRECT_CO) << 2);
        for (let ci = 0; ci < C; ci++) {
          const w0 = v128.load(wr), w1 = v128.load(wr, 16);
          let xv = v128.load32_splat(src);
          p00 = madd4(xv, w0, p00); p01 = madd4(xv, w1, p01);
          xv = v128.load32_splat(src + step);
          p10 = madd4(xv, w0, p10); p11 = madd4(xv, w1, p11);
          xv = v128.load32_splat(src + step + step);
          p20 = madd4(xv, w0, p20); p21 = madd4(xv, w1, p21);
          xv = v128.load32_splat(src + step * 3);
          p30 = madd4(xv, w0, p30); p31 = madd4(xv, w1, p31);
          src += 4; wr += 64;
        }
      }
    }
    const t = ROW16 + 64;
    let out = y + (<usize>(((n * OH + oy) * OW + ox) * CO) << 2);
    const cs = <usize>CO << 2;
    v128.store(t, p00); v128.store(t, p01, 16); memory.copy(out, t, cs); out += cs;
    v128.store(t, p10); v128.store(t, p11, 16); memory.copy(out, t, cs); out += cs;
    v128.store(t, p20); v128.store(t, p21, 16); memory.copy(out, t, cs); out += cs;
    v128.store(t, p30); v128.store(t, p31, 16); memory.copy(out, t, cs);
  }
}

/** dy row of pixel p into ROW16, zero-padded to 16 channels, as four vectors. */
// @ts-ignore: decorator
@inline function loadDyRow(dy: usize, p: i32): void {
  const ROW16 = row16Scratch;
  memory.fill(ROW16, 0, 64);
  memory.copy(ROW16, dy + (<usize>(p * CO) << 2), <usize>CO << 2);
}

/** Parts of the output rows the direct dW is summed in (fixed: the sums do not depend on the thread count). */
const DBF_PARTS: i32 = 8;

/**
 * acc [K + 1, 16] (zeroed by the caller): rows [0, K) += sum over the output pixels of rows [r0, r1) (of N * OH)
 * of x(patch) outer dy(pixel); row K += the sum of those dy rows (dbias).
 */
function directBackwardFilter(x: usize, dy: usize, acc: usize, r0: i32, r1: i32): void {
  if (ASC_FEATURE_SIMD) {
    const narrow = CO <= 8;
    const pixels = N * OH * OW;
    for (let r = r0; r < r1; r++) {
      const n = r / OH, oy = r - n * OH;
      let ox = 0;
      while (ox < OW) {
        const p = (n * OH + oy) * OW + ox;
        const ix0 = ox * SW - PL;
        // four interior pixels at once; their dy rows are read as two vectors (8 floats) each, which may run
        // into the next pixels' rows (only into discarded padding lanes), so not where that passes dy's end
        if (narrow && ox + 3 < OW && ix0 >= 0 && ix0 + 3 * SW + (KW - 1) * DW < W && (p + 3) * CO + 8 <= pixels * CO) {
          directFilterQuad(x, dy, acc, n, oy, ox, p);
          ox += 4;
        } else {
          directFilterPixel(x, dy, acc, n, oy, ox, p);
          ox++;
        }
      }
    }
  }
}

function directFilterPixel(x: usize, dy: usize, acc: usize, n: i32, oy: i32, ox: i32, p: i32): void {
  if (ASC_FEATURE_SIMD) {
    const wide = CO > 8;
    const ROW16 = row16Scratch;
    loadDyRow(dy, p);
    const g0 = v128.load(ROW16), g1 = v128.load(ROW16, 16), g2 = v128.load(ROW16, 32), g3 = v128.load(ROW16, 48);
    const br = acc + (<usize>(KH * KW * C * DIRECT_CO) << 2);
    v128.store(br, f32x4.add(v128.load(br), g0));
    v128.store(br, f32x4.add(v128.load(br, 16), g1), 16);
    if (wide) {
      v128.store(br, f32x4.add(v128.load(br, 32), g2), 32);
      v128.store(br, f32x4.add(v128.load(br, 48), g3), 48);
    }
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * SH - PT + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ox * SW - PL + kx * DW;
        if (ix < 0 || ix >= W) continue;
        let src = x + (<usize>(((n * H + iy) * W + ix) * C) << 2);
        let ar = acc + (<usize>((ky * KW + kx) * C * DIRECT_CO) << 2);
        for (let ci = 0; ci < C; ci++) {
          const xv = v128.load32_splat(src);
          v128.store(ar, madd4(xv, g0, v128.load(ar)));
          v128.store(ar, madd4(xv, g1, v128.load(ar, 16)), 16);
          if (wide) {
            v128.store(ar, madd4(xv, g2, v128.load(ar, 32)), 32);
            v128.store(ar, madd4(xv, g3, v128.load(ar, 48)), 48);
          }
          src += 4; ar += 64;
        }
      }
    }
  }
}

/** Four adjacent interior pixels (CO <= 8): each accumulator row is loaded and stored once for all four. */
function directFilterQuad(x: usize, dy: usize, acc: usize, n: i32, oy: i32, ox: i32, p: i32): void {
  if (ASC_FEATURE_SIMD) {
    const row = <usize>CO << 2;
    const d = dy + (<usize>(p * CO) << 2);
    const g00 = v128.load(d), g01 = v128.load(d, 16);
    const g10 = v128.load(d + row), g11 = v128.load(d + row, 16);
    const g20 = v128.load(d + row * 2), g21 = v128.load(d + row * 2, 16);
    const g30 = v128.load(d + row * 3), g31 = v128.load(d + row * 3, 16);
    // dbias: the four dy rows, added one pixel after another as the pixel path does (lanes past CO hold
    // the next pixels' values and are never read out)
    const br = acc + (<usize>(KH * KW * C * DIRECT_CO) << 2);
    let b0 = v128.load(br), b1 = v128.load(br, 16);
    b0 = f32x4.add(b0, g00); b1 = f32x4.add(b1, g01);
    b0 = f32x4.add(b0, g10); b1 = f32x4.add(b1, g11);
    b0 = f32x4.add(b0, g20); b1 = f32x4.add(b1, g21);
    b0 = f32x4.add(b0, g30); b1 = f32x4.add(b1, g31);
    v128.store(br, b0); v128.store(br, b1, 16);
    const step = <usize>(SW * C) << 2;
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * SH - PT + ky * DH;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        let src = x + (<usize>(((n * H + iy) * W + ox * SW - PL + kx * DW) * C) << 2);
        let ar = acc + (<usize>((ky * KW + kx) * C * DIRECT_CO) << 2);
        for (let ci = 0; ci < C; ci++) {
          let a0 = v128.load(ar), a1 = v128.load(ar, 16);
          let xv = v128.load32_splat(src);
          a0 = madd4(xv, g00, a0); a1 = madd4(xv, g01, a1);
          xv = v128.load32_splat(src + step);
          a0 = madd4(xv, g10, a0); a1 = madd4(xv, g11, a1);
          xv = v128.load32_splat(src + step + step);
          a0 = madd4(xv, g20, a0); a1 = madd4(xv, g21, a1);
          xv = v128.load32_splat(src + step * 3);
          a0 = madd4(xv, g30, a0); a1 = madd4(xv, g31, a1);
          v128.store(ar, a0); v128.store(ar, a1, 16);
          src += 4; ar += 64;
        }
      }
    }
  }
}

/**
 * dx rows [r0, r1) of the N * H input rows (dx zeroed by the caller) += sum over output pixels and taps of
 * W[tap] dy(pixel), a dot over the output channels; wp: the filter padded by padFilter.
 */
function directBackwardInput(dy: usize, wp: usize, dx: usize, r0: i32, r1: i32): void {
  if (ASC_FEATURE_SIMD) {
    const ROW16 = row16Scratch;
    for (let n = r0 / H; n < N && n * H < r1; n++) for (let oy = 0; oy < OH; oy++) {
      const lo = max(0, r0 - n * H), hi = min(H, r1 - n * H);
      if (oy * SH - PT + (KH - 1) * DH < lo || oy * SH - PT >= hi) continue;
      for (let ox = 0; ox < OW; ox++) {
      loadDyRow(dy, (n * OH + oy) * OW + ox);
      const g0 = v128.load(ROW16), g1 = v128.load(ROW16, 16), g2 = v128.load(ROW16, 32), g3 = v128.load(ROW16, 48);
      for (let ky = 0; ky < KH; ky++) {
        const iy = oy * SH - PT + ky * DH;
        if (iy < lo || iy >= hi) continue;
        for (let kx = 0; kx < KW; kx++) {
          const ix = ox * SW - PL + kx * DW;
          if (ix < 0 || ix >= W) continue;
          let dst = dx + (<usize>(((n * H + iy) * W + ix) * C) << 2);
          let wr = wp + (<usize>((ky * KW + kx) * C * DIRECT_CO) << 2);
          for (let ci = 0; ci < C; ci++) {
            let t = f32x4.mul(g0, v128.load(wr));
            t = madd4(g1, v128.load(wr, 16), t);
            t = madd4(g2, v128.load(wr, 32), t);
            t = madd4(g3, v128.load(wr, 48), t);
            t = f32x4.add(t, i32x4.shuffle(t, t, 2, 3, 0, 1));
            t = f32x4.add(t, i32x4.shuffle(t, t, 1, 0, 3, 2));
            store<f32>(dst, load<f32>(dst) + f32x4.extract_lane(t, 0));
            dst += 4; wr += 64;
          }
        }
      }
      }
    }
  }
}

// ---- threads (threads.ts): the direct and depthwise paths share out rows, taps or channels ----
const CJ_DW_FWD: i32 = 0, CJ_DIRECT_FWD: i32 = 1, CJ_DW_BWI: i32 = 2, CJ_DIRECT_BWI: i32 = 3;
const CJ_DW_BWF: i32 = 4, CJ_DIRECT_BWF: i32 = 5;
export const JOB_CONV: i32 = 2;
/** Multiply-adds below which a conv pass runs on one thread. */
const CONV_PARALLEL_MIN_MACS: i64 = 1 << 18;

/**
 * Run pass `sub` on the pool (threads.ts) in chunks of `units` (rows, taps or channel quads): up to
 * `perThread` chunks per thread, claimed by whichever thread is free. False (nothing run): no pool, too
 * little work or nothing to split; the caller runs the pass itself.
 */
function share(sub: i32, a: usize, b: usize, c: usize, d: usize, macs: i64, units: i32, perThread: i32): bool {
  if (threads() < 2 || macs < CONV_PARALLEL_MIN_MACS || units < 2) return false;
  const n = min(units, perThread * threads());
  const j = jobArgs();
  store<i32>(j, sub); store<u32>(j, <u32>geomPtr, 4);
  store<u32>(j, <u32>a, 8); store<u32>(j, <u32>b, 12); store<u32>(j, <u32>c, 16); store<u32>(j, <u32>d, 20);
  parallelBegin(JOB_CONV, n);
  for (let ch = claim(); ch >= 0; ch = claim()) { convChunk(sub, a, b, c, d, ch, n); chunkDone(); }
  parallelEnd();
  return true;
}

/** Chunk `ch` of `n` of pass `sub` (the geometry loaded): whole output rows, dx rows, taps or channels. */
function convChunk(sub: i32, a: usize, b: usize, c: usize, d: usize, ch: i32, n: i32): void {
  if (sub == CJ_DW_FWD) depthwiseForward(a, b, c, d, shareStart(N * OH, 1, ch, n), shareStart(N * OH, 1, ch + 1, n));
  else if (sub == CJ_DIRECT_FWD) directForward(a, b, c, d, shareStart(N * OH, 1, ch, n), shareStart(N * OH, 1, ch + 1, n));
  else if (sub == CJ_DW_BWI) depthwiseBackwardInput(a, b, c, shareStart(N * H, 1, ch, n), shareStart(N * H, 1, ch + 1, n));
  else if (sub == CJ_DIRECT_BWI) directBackwardInput(a, b, c, shareStart(N * H, 1, ch, n), shareStart(N * H, 1, ch + 1, n));
  else if (sub == CJ_DW_BWF) depthwiseBackwardFilter(a, b, c, shareStart(CO, 4, ch, n), shareStart(CO, 4, ch + 1, n));
  else if (sub == CJ_DIRECT_BWF) {
    // chunk = one of the n (= parts) row parts, into its own accumulator block
    const blk = <usize>((KH * KW * C + 1) * DIRECT_CO) << 2;
    directBackwardFilter(a, b, c + blk * <usize>ch, shareStart(N * OH, 1, ch, n), shareStart(N * OH, 1, ch + 1, n));
  }
}

/** A worker's part of a JOB_CONV: the chunks it claims. */
export function convJob(): void {
  if (!ASC_FEATURE_THREADS) return;
  const j = jobArgs();
  const sub = load<i32>(j);
  loadGeometry(<usize>load<u32>(j, 4));
  const a = <usize>load<u32>(j, 8), b = <usize>load<u32>(j, 12), c = <usize>load<u32>(j, 16), d = <usize>load<u32>(j, 20);
  const n = jobChunks();
  for (let ch = claim(); ch >= 0; ch = claim()) { convChunk(sub, a, b, c, d, ch, n); chunkDone(); }
}
