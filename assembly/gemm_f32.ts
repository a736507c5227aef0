// f32 GEMM: C = act(alpha * op(A) op(B) + beta * C + bias), op = identity or transpose.
//
// GotoBLAS/BLIS structure: op(B) is packed once into NR-wide column panels per KC block (weights can be
// packed ahead of time: gemmPackB + gemmPrepacked), op(A) is packed per MC x KC block into MR-tall row
// panels, and a register-blocked MR x NR micro-kernel (4 x 8: eight f32x4 accumulators) runs over a packed
// A micro-panel (L1-resident for its KC span) against each packed B panel. Any M, N, K: panels are
// zero-padded and partial tiles go through a scratch tile. Pointers and sizes in, nothing allocated.
import { madd4, ACT_LINEAR, ACT_RELU, ACT_RELU6, ACT_LEAKY_RELU } from './common';
import { walkPatchRow, saveIm2col, loadIm2col, IM2COL_INTS } from './im2col';
import { threads, jobArgs, jobChunks, parallelBegin, parallelEnd, claim, chunkDone, shareStart, tileScratch, packScratch } from './threads';

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
export const MC: i32 = 128;

// Partial (edge) tiles: the micro-kernel writes a 4x8 tile into this thread's tileScratch (threads.ts),
// then the valid part is copied out.

// Source of op(A) for the packer: a plain matrix, or the implicit im2col matrix of an NHWC convolution
// (rows = output pixels, columns = (ky, kx, ci)), so convolution never materializes its patch matrix.
export const A_MATRIX: i32 = 0;
export const A_IM2COL: i32 = 1;

// The A_IM2COL geometry is set by conv.ts with setIm2col (im2col.ts) before calling the driver.
export { setIm2col } from './im2col';

@inline function roundUp(x: i32, m: i32): i32 { return (x + m - 1) / m * m; }

/** Bytes of packed op(B): K rows x N rounded up to NR. */
export function gemmPackedBSize(K: i32, N: i32): i32 {
  return K * roundUp(N, NR) * 4;
}

/** Workspace bytes gemm() needs for these sizes (packed B + one packed A block, or a GEMV row). */
export function gemmWorkspaceSize(M: i32, N: i32, K: i32): i32 {
  if (M < MR) return roundUp(N, 4) * 4 + 64;
  return gemmPackedBSize(K, N) + gemmPackedASize() + 64;
}

export function gemmPackedASize(): i32 {
  return (MC * KC) << <i32>ASH;
}

/**
 * Pack op(B) (K x N) into panels: for each KC block starting at p0 (length kc), NR-column panels of kc x NR
 * floats, row-major within the panel; block p0 starts at dst + p0 * Npad floats. Columns >= N are zero.
 */
export function gemmPackB(transB: i32, K: i32, N: i32, B: usize, ldb: i32, dst: usize): void {
  const Npad = roundUp(N, NR);
  for (let p0 = 0; p0 < K; p0 += KC) {
    const kc = min(KC, K - p0);
    const blk = dst + (<usize>p0 * <usize>Npad << 2);
    for (let j0 = 0; j0 < N; j0 += NR) {
      const nr = min(NR, N - j0);
      const panel = blk + (<usize>j0 * <usize>kc << 2);
      if (!transB) {
        let src = B + ((<usize>p0 * <usize>ldb + <usize>j0) << 2);
        const step = <usize>ldb << 2;
        if (nr == NR) {
          for (let k = 0; k < kc; k++) {
            if (ASC_FEATURE_SIMD) {
              v128.store(panel + (<usize>k << 5), v128.load(src));
              v128.store(panel + (<usize>k << 5), v128.load(src, 16), 16);
            } else {
              for (let c = 0; c < NR; c++) store<f32>(panel + (<usize>(k * NR + c) << 2), load<f32>(src + (<usize>c << 2)));
            }
            src += step;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            const d = panel + (<usize>k << 5);
            for (let c = 0; c < NR; c++) {
              store<f32>(d + (<usize>c << 2), c < nr ? load<f32>(src + (<usize>c << 2)) : 0);
            }
            src += step;
          }
        }
      } else {
        // op(B)[k][n] = B[n * ldb + k]: each of the nr columns is a contiguous run of B.
        for (let c = 0; c < NR; c++) {
          if (c < nr) {
            const src = B + ((<usize>(j0 + c) * <usize>ldb + <usize>p0) << 2);
            for (let k = 0; k < kc; k++) store<f32>(panel + (<usize>(k * NR + c) << 2), load<f32>(src + (<usize>k << 2)));
          } else {
            for (let k = 0; k < kc; k++) store<f32>(panel + (<usize>(k * NR + c) << 2), 0);
          }
        }
      }
    }
  }
}

// Packed A layout: MR-row panels, k-major, element (k, r) at ((k * MR + r) << ASH) bytes. SIMD builds store
// each value splatted across a whole v128 (ASH = 4), so the micro-kernel needs no broadcast instructions;
// the scalar build stores plain floats (ASH = 2).
const ASH: usize = ASC_FEATURE_SIMD ? 4 : 2;

// @ts-ignore: decorator
@inline function putA(p: usize, v: f32): void {
  if (ASC_FEATURE_SIMD) v128.store(p, f32x4.splat(v));
  else store<f32>(p, v);
}

/** Pack rows [i0, i0+mc) x columns [p0, p0+kc) of op(A) (a plain matrix) into MR-row panels (layout above). */
// @ts-ignore: decorator
@inline function packA(transA: i32, M: i32, i0: i32, mc: i32, p0: i32, kc: i32, A: usize, lda: i32, dst: usize): void {
  const kStep: usize = <usize>MR << ASH;
  for (let r0 = 0; r0 < mc; r0 += MR) {
    const panel = dst + (<usize>(r0 * kc) << ASH);
    for (let r = 0; r < MR; r++) {
      const row = i0 + r0 + r;
      let d = panel + (<usize>r << ASH);
      if (r0 + r >= mc || row >= M) {
        for (let k = 0; k < kc; k++) { putA(d, 0); d += kStep; }
      } else if (transA) {
        // op(A)[i][k] = A[k * lda + i]
        let src = A + ((<usize>p0 * <usize>lda + <usize>row) << 2);
        const step = <usize>lda << 2;
        for (let k = 0; k < kc; k++) { putA(d, load<f32>(src)); d += kStep; src += step; }
      } else {
        let src = A + ((<usize>row * <usize>lda + <usize>p0) << 2);
        for (let k = 0; k < kc; k++) { putA(d, load<f32>(src)); d += kStep; src += 4; }
      }
    }
  }
}

/** The A packer of driver<PackMatrix>: op(A) is a plain matrix. */
@unmanaged class PackMatrix {
  // @ts-ignore: decorator
  @inline isIm2col(): bool { return false; }
  // @ts-ignore: decorator
  @inline pack(transA: i32, M: i32, i0: i32, mc: i32, p0: i32, kc: i32, A: usize, lda: i32, dst: usize): void {
    packA(transA, M, i0, mc, p0, kc, A, lda, dst);
  }
}

/**
 * The A packer of driver<PackIm2col>: op(A) is the implicit im2col matrix (packIm2col). Also the im2col
 * walk's visitor: column k of a row goes to row + k * MR << ASH (the packed layout above, `row` being the
 * row's first slot in its panel); padding is 0.
 */
@unmanaged class PackIm2col {
  // @ts-ignore: decorator
  @inline isIm2col(): bool { return true; }
  // @ts-ignore: decorator
  @inline pack(transA: i32, M: i32, i0: i32, mc: i32, p0: i32, kc: i32, A: usize, lda: i32, dst: usize): void {
    packIm2col(M, i0, mc, p0, kc, A, dst);
  }
  // @ts-ignore: decorator
  @inline copy(x: usize, row: usize, k: i32, s: i32, len: i32): i32 {
    const kStep: usize = <usize>MR << ASH;
    let d = row + <usize>k * kStep, src = x + (<usize>s << 2);
    for (let j = 0; j < len; j++) { putA(d, load<f32>(src)); d += kStep; src += 4; }
    return 0;
  }
  // @ts-ignore: decorator
  @inline pad(x: usize, row: usize, k: i32, len: i32): i32 {
    const kStep: usize = <usize>MR << ASH;
    let d = row + <usize>k * kStep;
    for (let j = 0; j < len; j++) { putA(d, 0); d += kStep; }
    return 0;
  }
}

/** As packA, for the implicit im2col matrix of the geometry setIm2col gave (rows = output pixels; X the NHWC input). */
function packIm2col(M: i32, i0: i32, mc: i32, p0: i32, kc: i32, X: usize, dst: usize): void {
  const kStep: usize = <usize>MR << ASH;
  for (let r0 = 0; r0 < mc; r0 += MR) {
    const panel = dst + (<usize>(r0 * kc) << ASH);
    for (let r = 0; r < MR; r++) {
      const row = i0 + r0 + r;
      let d = panel + (<usize>r << ASH);
      if (r0 + r >= mc || row >= M) {
        for (let k = 0; k < kc; k++) { putA(d, 0); d += kStep; }
      } else {
        walkPatchRow<PackIm2col>(changetype<PackIm2col>(0), row, p0, kc, X, d);
      }
    }
  }
}

/** Epilogue for one value: bias then activation. Only the activations cheap enough to fuse live here. */
// @ts-ignore: decorator
@inline function epi(v: f32, act: i32, p: f32): f32 {
  if (act == ACT_RELU) return max(v, 0);
  if (act == ACT_RELU6) return min(max(v, 0), 6);
  if (act == ACT_LEAKY_RELU) return v >= 0 ? v : v * p;
  return v;
}

// @ts-ignore: decorator
@inline function epi4(v: v128, act: i32, p: f32): v128 {
  // pmax/pmin: one instruction each in V8 (see act.ts); NaN still propagates
  if (act == ACT_RELU) return f32x4.pmax(v, f32x4.splat(0));
  if (act == ACT_RELU6) return f32x4.pmin(f32x4.pmax(v, f32x4.splat(0)), f32x4.splat(6));
  if (act == ACT_LEAKY_RELU) {
    const z = f32x4.splat(0);
    return v128.bitselect(v, f32x4.mul(v, f32x4.splat(p)), f32x4.ge(v, z));
  }
  return v;
}

/**
 * C tile (rows x cols, row stride ldc) = alpha * acc + betaEff * C (+ bias, act when last). acc is the
 * MR x NR tile at `t` (row stride NR). betaEff == 0 never reads C, so C may hold garbage (or NaN).
 */
function storeTile(t: usize, C: usize, ldc: i32, rows: i32, cols: i32, alpha: f32, betaEff: f32,
  last: bool, bias: usize, col0: i32, act: i32, p: f32): void {
  for (let r = 0; r < rows; r++) {
    const crow = C + (<usize>(r * ldc) << 2);
    const trow = t + (<usize>(r * NR) << 2);
    for (let c = 0; c < cols; c++) {
      let v = alpha * load<f32>(trow + (<usize>c << 2));
      if (betaEff != 0) v += betaEff * load<f32>(crow + (<usize>c << 2));
      if (last) {
        if (bias) v += load<f32>(bias + (<usize>(col0 + c) << 2));
        v = epi(v, act, p);
      }
      store<f32>(crow + (<usize>c << 2), v);
    }
  }
}

// @ts-ignore: decorator
@inline function finish4(acc: v128, C: usize, va: v128, vb: v128, betaEff: f32, last: bool, bv: v128, act: i32, p: f32): void {
  let v = f32x4.mul(acc, va);
  if (betaEff != 0) v = madd4(v128.load(C), vb, v);
  if (last) v = epi4(f32x4.add(v, bv), act, p);
  v128.store(C, v);
}

/**
 * MR x NR micro-kernel over kc packed steps; writes the full tile into C (or TILE for edges). Inlined into
 * each driver: as a call, its time in V8's SIMD128 code moved by ~5-7% with changes to the caller's code that
 * never ran (byte-identical kernel code); inlined, the SIMD128 GEMM is ~7% faster and the relaxed and scalar
 * ones are no slower (measured A/B on the bench shapes).
 */
// @ts-ignore: decorator
@inline function micro4x8(kc: i32, a: usize, b: usize, C: usize, ldc: i32, rows: i32, cols: i32, alpha: f32, betaEff: f32,
  last: bool, bias: usize, col0: i32, act: i32, p: f32): void {
  const TILE = tileScratch;
  if (ASC_FEATURE_SIMD) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    // A is packed pre-splatted (each value 4x), so every operand is one plain load with a folded offset:
    // no broadcast or address arithmetic in the loop, which is front-end bound in V8's code otherwise.
    const aEnd = a + (<usize>kc << 6);
    while (a < aEnd) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      let av = v128.load(a);
      c00 = madd4(av, b0, c00); c01 = madd4(av, b1, c01);
      av = v128.load(a, 16);
      c10 = madd4(av, b0, c10); c11 = madd4(av, b1, c11);
      av = v128.load(a, 32);
      c20 = madd4(av, b0, c20); c21 = madd4(av, b1, c21);
      av = v128.load(a, 48);
      c30 = madd4(av, b0, c30); c31 = madd4(av, b1, c31);
      a += 64; b += 32;
    }
    if (rows == MR && cols == NR) {
      const va = f32x4.splat(alpha), vb = f32x4.splat(betaEff);
      let bv0 = f32x4.splat(0), bv1 = f32x4.splat(0);
      if (last && bias) {
        bv0 = v128.load(bias + (<usize>col0 << 2));
        bv1 = v128.load(bias + (<usize>col0 << 2), 16);
      }
      const s = <usize>ldc << 2;
      finish4(c00, C, va, vb, betaEff, last, bv0, act, p); finish4(c01, C + 16, va, vb, betaEff, last, bv1, act, p);
      C += s;
      finish4(c10, C, va, vb, betaEff, last, bv0, act, p); finish4(c11, C + 16, va, vb, betaEff, last, bv1, act, p);
      C += s;
      finish4(c20, C, va, vb, betaEff, last, bv0, act, p); finish4(c21, C + 16, va, vb, betaEff, last, bv1, act, p);
      C += s;
      finish4(c30, C, va, vb, betaEff, last, bv0, act, p); finish4(c31, C + 16, va, vb, betaEff, last, bv1, act, p);
      return;
    }
    v128.store(TILE, c00); v128.store(TILE, c01, 16);
    v128.store(TILE, c10, 32); v128.store(TILE, c11, 48);
    v128.store(TILE, c20, 64); v128.store(TILE, c21, 80);
    v128.store(TILE, c30, 96); v128.store(TILE, c31, 112);
  } else {
    memory.fill(TILE, 0, MR * NR * 4);
    for (let k = 0; k < kc; k++) {
      for (let r = 0; r < MR; r++) {
        const av = load<f32>(a + (<usize>r << 2));
        const t = TILE + (<usize>(r * NR) << 2);
        for (let c = 0; c < NR; c++) {
          store<f32>(t + (<usize>c << 2), load<f32>(t + (<usize>c << 2)) + av * load<f32>(b + (<usize>c << 2)));
        }
      }
      a += MR << 2; b += NR << 2;
    }
  }
  storeTile(TILE, C, ldc, rows, cols, alpha, betaEff, last, bias, col0, act, p);
}

/**
 * The blocked driver over an already packed op(B). `ws` holds one packed A block (gemmPackedASize bytes).
 * Loop order (BLIS): KC blocks > MC blocks of A (packed, L2) > NR panels of B (L1) > MR panels of A.
 * Pack (PackMatrix or PackIm2col) packs A: one compiled driver per kind, so the plain GEMM's carries no
 * im2col code. With a pool (threads.ts) and enough work, C is shared out by row blocks (multiples of MR)
 * or column panels (multiples of NR): every C element is still computed by the same tile code over the
 * same K order, so the result is the single-thread one, bit for bit.
 */
function driver<Pack>(transA: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, pb: usize,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, p: f32, ws: usize): void {
  if (K == 0) {
    // Empty inner dimension: C = beta * C, then the epilogue.
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const c = C + (<usize>(i * ldc + j) << 2);
        let v: f32 = beta != 0 ? beta * load<f32>(c) : 0;
        if (bias) v += load<f32>(bias + (<usize>j << 2));
        store<f32>(c, epi(v, act, p));
      }
    }
    return;
  }
  const T = threads();
  const tilesM = (M + MR - 1) / MR, tilesN = (N + NR - 1) / NR;
  // below PARALLEL_MIN_MACS a dispatch (microseconds) costs more than it saves
  if (T > 1 && <i64>M * <i64>N * <i64>K >= PARALLEL_MIN_MACS && (tilesM >= 2 || tilesN >= 2)) {
    // One block of A rows (M <= MC): split the columns, so each thread reads only its panels of B and packs
    // the small A itself. More rows: split them in whole MC blocks where there are enough (B is read once
    // per block, as on one thread), else in MR tiles.
    const byRows = M > MC || tilesN < 2;
    const unit = M >= 2 * T * MC ? MC : MR;
    const a = jobArgs();
    store<i32>(a, changetype<Pack>(0).isIm2col() ? 1 : 0);
    store<i32>(a, transA, 4); store<i32>(a, M, 8); store<i32>(a, N, 12); store<i32>(a, K, 16);
    store<f32>(a, alpha, 20); store<u32>(a, <u32>A, 24); store<i32>(a, lda, 28); store<u32>(a, <u32>pb, 32);
    store<f32>(a, beta, 36); store<u32>(a, <u32>C, 40); store<i32>(a, ldc, 44); store<u32>(a, <u32>bias, 48);
    store<i32>(a, act, 52); store<f32>(a, p, 56); store<i32>(a, byRows ? unit : 0, 60);
    if (changetype<Pack>(0).isIm2col()) saveIm2col(a + 64);
    // several chunks per thread: whichever thread is free takes the next; but each column chunk packs all
    // of A again, which only wide products amortize
    const chunks = byRows ? min((M + unit - 1) / unit, 4 * T) : min(tilesN, N >= 512 ? 4 * T : T);
    parallelBegin(JOB_GEMM, chunks);
    for (let c = claim(); c >= 0; c = claim()) {
      driverShare<Pack>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, ws, byRows ? unit : 0, c, chunks);
      chunkDone();
    }
    parallelEnd();
    return;
  }
  driverRange<Pack>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, ws, 0, M, 0, N);
}

/** Work (multiply-adds) below which the GEMM runs on one thread. */
const PARALLEL_MIN_MACS: i64 = 1 << 18;
export const JOB_GEMM: i32 = 1;
/** Argument words of a JOB_GEMM (16 + the im2col geometry). */
export const GEMM_JOB_INTS: i32 = 16 + IM2COL_INTS;

// @ts-ignore: decorator
@inline function driverShare<Pack>(transA: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, pb: usize,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, p: f32, ws: usize, rowUnit: i32, part: i32, parts: i32): void {
  if (rowUnit) {
    // rows in multiples of rowUnit (MR or MC): tile boundaries stay where one thread puts them
    const i0 = shareStart(M, rowUnit, part, parts), i1 = shareStart(M, rowUnit, part + 1, parts);
    if (i0 < i1) driverRange<Pack>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, ws, i0, i1, 0, N);
  } else {
    const j0 = shareStart(N, NR, part, parts), j1 = shareStart(N, NR, part + 1, parts);
    if (j0 < j1) driverRange<Pack>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, ws, 0, M, j0, j1);
  }
}

/** A worker's share of a JOB_GEMM (threads_worker.ts). */
export function gemmJob(): void {
  if (!ASC_FEATURE_THREADS) return;
  const a = jobArgs();
  const im2col = load<i32>(a) != 0;
  const transA = load<i32>(a, 4), M = load<i32>(a, 8), N = load<i32>(a, 12), K = load<i32>(a, 16);
  const alpha = load<f32>(a, 20), A = <usize>load<u32>(a, 24), lda = load<i32>(a, 28), pb = <usize>load<u32>(a, 32);
  const beta = load<f32>(a, 36), C = <usize>load<u32>(a, 40), ldc = load<i32>(a, 44), bias = <usize>load<u32>(a, 48);
  const act = load<i32>(a, 52), p = load<f32>(a, 56), byRows = load<i32>(a, 60);
  const chunks = jobChunks();
  if (im2col) loadIm2col(a + 64);
  for (let c = claim(); c >= 0; c = claim()) {
    if (im2col) driverShare<PackIm2col>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, packScratch, byRows, c, chunks);
    else driverShare<PackMatrix>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, p, packScratch, byRows, c, chunks);
    chunkDone();
  }
}

/** The driver over C rows [m0, m1) (m0 a multiple of MR) and columns [n0, n1) (n0 a multiple of NR). */
function driverRange<Pack>(transA: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, pb: usize,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, p: f32, ws: usize, m0: i32, m1: i32, n0: i32, n1: i32): void {
  const Npad = roundUp(N, NR);
  for (let p0 = 0; p0 < K; p0 += KC) {
    const kc = min(KC, K - p0);
    const betaEff: f32 = p0 == 0 ? beta : 1;
    const last = p0 + kc >= K;
    const blk = pb + (<usize>p0 * <usize>Npad << 2);
    for (let i0 = m0; i0 < m1; i0 += MC) {
      const mc = min(MC, m1 - i0);
      changetype<Pack>(0).pack(transA, M, i0, mc, p0, kc, A, lda, ws);
      for (let j0 = n0; j0 < n1; j0 += NR) {
        const cols = min(NR, n1 - j0);
        const bp = blk + (<usize>j0 * <usize>kc << 2);
        for (let r0 = 0; r0 < mc; r0 += MR) {
          const rows = min(MR, mc - r0);
          const ap = ws + (<usize>(r0 * kc) << ASH);
          const cp = C + ((<usize>(i0 + r0) * <usize>ldc + <usize>j0) << 2);
          micro4x8(kc, ap, bp, cp, ldc, rows, cols, alpha, betaEff, last, bias, j0, act, p);
        }
      }
    }
  }
}

/**
 * Rows of op(A) times op(B) without packing, for M < MR (a GEMV and its near relatives): packing B would
 * cost as much as the product. Row i: y = op(A)[i,:] op(B), accumulated in `ws` (N floats).
 */
function gemvRows(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, p: f32, ws: usize): void {
  for (let i = 0; i < M; i++) {
    // a(k) = op(A)[i][k]
    const aBase = transA ? A + (<usize>i << 2) : A + (<usize>(i * lda) << 2);
    const aStep: usize = transA ? <usize>lda << 2 : 4;
    if (!transB) {
      memory.fill(ws, 0, <usize>N << 2);
      let k = 0;
      for (; k + 3 < K; k += 4) {
        const x0 = load<f32>(aBase + <usize>k * aStep), x1 = load<f32>(aBase + <usize>(k + 1) * aStep);
        const x2 = load<f32>(aBase + <usize>(k + 2) * aStep), x3 = load<f32>(aBase + <usize>(k + 3) * aStep);
        const r0 = B + (<usize>(k * ldb) << 2), r1 = r0 + (<usize>ldb << 2), r2 = r1 + (<usize>ldb << 2), r3 = r2 + (<usize>ldb << 2);
        let n = 0;
        if (ASC_FEATURE_SIMD) {
          const v0 = f32x4.splat(x0), v1 = f32x4.splat(x1), v2 = f32x4.splat(x2), v3 = f32x4.splat(x3);
          for (; n + 3 < N; n += 4) {
            const o = <usize>n << 2;
            let y = v128.load(ws + o);
            y = madd4(v0, v128.load(r0 + o), y);
            y = madd4(v1, v128.load(r1 + o), y);
            y = madd4(v2, v128.load(r2 + o), y);
            y = madd4(v3, v128.load(r3 + o), y);
            v128.store(ws + o, y);
          }
        }
        for (; n < N; n++) {
          const o = <usize>n << 2;
          store<f32>(ws + o, load<f32>(ws + o) + x0 * load<f32>(r0 + o) + x1 * load<f32>(r1 + o) + x2 * load<f32>(r2 + o) + x3 * load<f32>(r3 + o));
        }
      }
      for (; k < K; k++) {
        const x0 = load<f32>(aBase + <usize>k * aStep);
        const r0 = B + (<usize>(k * ldb) << 2);
        for (let n = 0; n < N; n++) {
          const o = <usize>n << 2;
          store<f32>(ws + o, load<f32>(ws + o) + x0 * load<f32>(r0 + o));
        }
      }
    } else {
      // y[n] = dot(a, B[n,:]); a is contiguous unless transA, so gather it once into the end of ws.
      for (let n = 0; n < N; n++) {
        const row = B + (<usize>(n * ldb) << 2);
        let s: f32 = 0;
        let k = 0;
        if (ASC_FEATURE_SIMD) {
          if (!transA) {
            let acc = f32x4.splat(0);
            for (; k + 3 < K; k += 4) acc = madd4(v128.load(aBase + (<usize>k << 2)), v128.load(row + (<usize>k << 2)), acc);
            s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
          }
        }
        for (; k < K; k++) s += load<f32>(aBase + <usize>k * aStep) * load<f32>(row + (<usize>k << 2));
        store<f32>(ws + (<usize>n << 2), s);
      }
    }
    const crow = C + (<usize>(i * ldc) << 2);
    for (let n = 0; n < N; n++) {
      let v = alpha * load<f32>(ws + (<usize>n << 2));
      if (beta != 0) v += beta * load<f32>(crow + (<usize>n << 2));
      if (bias) v += load<f32>(bias + (<usize>n << 2));
      store<f32>(crow + (<usize>n << 2), epi(v, act, p));
    }
  }
}

/**
 * C[M x N] (row stride ldc) = act(alpha * op(A) op(B) + beta * C + bias[N]).
 * op(A) is M x K (A is K x M when transA), op(B) is K x N (B is N x K when transB). bias may be 0 (none).
 * ws: gemmWorkspaceSize(M, N, K) bytes, 16-byte aligned.
 */
export function gemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, actParam: f32, ws: usize): void {
  if (M == 0 || N == 0) return;
  if (M < MR && K > 0) {
    gemvRows(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, act, actParam, ws);
    return;
  }
  const pb = ws;
  gemmPackB(transB, K, N, B, ldb, pb);
  driver<PackMatrix>(transA, M, N, K, alpha, A, lda, pb, beta, C, ldc, bias, act, actParam, pb + <usize>gemmPackedBSize(K, N));
}

/** As gemm, with op(B) already packed by gemmPackB (weights pack once). ws: gemmPackedASize bytes. */
export function gemmPrepacked(mode: i32, transA: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, packedB: usize,
  beta: f32, C: usize, ldc: i32, bias: usize, act: i32, actParam: f32, ws: usize): void {
  if (M == 0 || N == 0) return;
  if (mode == A_IM2COL) driver<PackIm2col>(transA, M, N, K, alpha, A, lda, packedB, beta, C, ldc, bias, act, actParam, ws);
  else driver<PackMatrix>(transA, M, N, K, alpha, A, lda, packedB, beta, C, ldc, bias, act, actParam, ws);
}
