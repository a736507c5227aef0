// Reference kernels for f32 GEMM, 2-D convolution (NHWC, HWIO filters, grouped/depthwise) and pooling:
// the contracts of assembly/gemm_f32.ts, assembly/conv.ts and assembly/pool.ts as plain loops with float64
// accumulation. No packing, no blocking: the "packed" B is a row-major copy of op(B), and no kernel here
// needs a workspace.
import { Act, AMode, Pool, type Kernels, type Ptr } from '../kernels.js';
import { f32, i32, type HeapMemory } from './memory.js';
import { act as activation } from './act-norm-loss.js';
import { forEachTap, type ConvGeometry } from '../../ops/conv.js';

type GemmConvPoolKernels = Pick<Kernels,
  'gemm' | 'gemmWorkspaceSize' | 'gemmPackB' | 'gemmPackedBSize' | 'gemmPackedASize' | 'gemmPrepacked' | 'columnSums' |
  'convWorkspaceSize' | 'conv2dForward' | 'conv2dBackwardInput' | 'conv2dBackwardFilter' | 'pool2dForward' | 'pool2dBackward'>;

const fr = Math.fround;

/** The GEMM epilogue (gemm_f32.ts `epi`): ReLU, ReLU6, leaky ReLU; every other code leaves v unchanged. */
function gemmEpilogue(v: number, act: number, p: number): number {
  if (act === Act.relu) return Math.max(v, 0);
  if (act === Act.relu6) return Math.min(Math.max(v, 0), 6);
  if (act === Act.leakyRelu) return v >= 0 ? v : v * p;
  return v;
}

/** Conv geometry block: 16 i32 (N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, groups, Cout). */
interface Geom {
  N: number; H: number; W: number; C: number; KH: number; KW: number; SH: number; SW: number;
  PT: number; PL: number; DH: number; DW: number; OH: number; OW: number; G: number; CO: number;
  Cg: number; coutg: number;
}

/** The walk's geometry (the bottom / right padding is implied by the output size: the walk does not read it). */
const taps = (g: Geom): ConvGeometry => ({ ...g, PB: 0, PR: 0 });

export function gemmConvPoolKernels(mem: HeapMemory): GemmConvPoolKernels {
  /** A float view of `count` floats at p (empty when count <= 0). */
  const view = (p: Ptr, count: number): Float32Array => f32(mem, p, Math.max(0, count));
  /** A view covering a rows x cols matrix with row stride ld. */
  const mat = (p: Ptr, rows: number, cols: number, ld: number): Float32Array =>
    view(p, rows > 0 && cols > 0 ? (rows - 1) * ld + cols : 0);

  function readGeom(g: Ptr): Geom {
    const v = i32(mem, g, 16);
    const [N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, G, CO] = v;
    return { N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, G, CO, Cg: Math.trunc(C / G), coutg: Math.trunc(CO / G) };
  }

  /**
   * C = epi(alpha * op(A) op(B) + beta * C + bias), op(A)[i][k] = a(i, k), op(B)[k][j] = b(k, j). beta == 0
   * never reads C. K == 0: C = beta * C + bias (alpha is not applied to the empty product).
   */
  function gemmCore(M: number, N: number, K: number, alpha: number, a: (i: number, k: number) => number,
    b: (k: number, j: number) => number, beta: number, C: Ptr, ldc: number, bias: Ptr, act: number, p: number): void {
    if (M <= 0 || N <= 0) return;
    alpha = fr(alpha); beta = fr(beta); p = fr(p);
    const c = mat(C, M, N, ldc);
    const bv = bias ? view(bias, N) : undefined;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a(i, k) * b(k, j);
        let v = K > 0 ? alpha * s : 0;
        if (beta !== 0) v += beta * c[i * ldc + j];
        if (bv) v += bv[j];
        c[i * ldc + j] = gemmEpilogue(fr(v), act, p);
      }
    }
  }

  /** op(A) as an accessor: A is M x K (row stride lda), or K x M when transA. */
  function opA(transA: number, M: number, K: number, A: Ptr, lda: number): (i: number, k: number) => number {
    const a = transA ? mat(A, K, M, lda) : mat(A, M, K, lda);
    return transA ? (i, k) => a[k * lda + i] : (i, k) => a[i * lda + k];
  }

  // the three passes are one walk over the taps (src/ops/conv.ts forEachTap, the float64 references'),
  // each with its own sum
  function convForward(geom: Ptr, x: Ptr, w: Ptr, bias: Ptr, y: Ptr, act: number, actParam: number): void {
    const g = readGeom(geom);
    const { N, H, W, C, KH, KW, OH, OW, CO, Cg } = g;
    const xv = view(x, N * H * W * C), wv = view(w, KH * KW * Cg * CO), yv = view(y, N * OH * OW * CO);
    const acc = new Float64Array(yv.length);
    if (bias) { const bv = view(bias, CO); for (let i = 0; i < acc.length; i++) acc[i] = bv[i % CO]; }
    forEachTap(taps(g), (xi, wi, yi) => { acc[yi] += xv[xi] * wv[wi]; });
    const p = fr(actParam);
    for (let i = 0; i < acc.length; i++) yv[i] = act === Act.linear ? acc[i] : activation(act, fr(acc[i]), p);
  }

  function convBackwardInput(geom: Ptr, dy: Ptr, w: Ptr, dx: Ptr): void {
    const g = readGeom(geom);
    const { N, H, W, C, KH, KW, OH, OW, CO, Cg } = g;
    const dyv = view(dy, N * OH * OW * CO), wv = view(w, KH * KW * Cg * CO), dxv = view(dx, N * H * W * C);
    const acc = new Float64Array(dxv.length);
    forEachTap(taps(g), (xi, wi, yi) => { acc[xi] += dyv[yi] * wv[wi]; });
    dxv.set(acc);
  }

  function convBackwardFilter(geom: Ptr, x: Ptr, dy: Ptr, dw: Ptr, dbias: Ptr): void {
    const g = readGeom(geom);
    const { N, H, W, C, KH, KW, OH, OW, CO, Cg } = g;
    const xv = view(x, N * H * W * C), dyv = view(dy, N * OH * OW * CO), dwv = view(dw, KH * KW * Cg * CO);
    const acc = new Float64Array(dwv.length);
    forEachTap(taps(g), (xi, wi, yi) => { acc[wi] += xv[xi] * dyv[yi]; });
    dwv.set(acc);
    if (dbias) columnSums(N * OH * OW, CO, dy, dbias);
  }

  function columnSums(rows: number, cols: number, a: Ptr, out: Ptr): void {
    const av = view(a, rows * cols), ov = view(out, cols);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += av[r * cols + j];
      ov[j] = s;
    }
  }

  /** Rows [y0, y1) x columns [x0, x1) of the input under output pixel (oy, ox): the window clipped to the image. */
  function clip(H: number, W: number, KH: number, KW: number, SH: number, SW: number, PT: number, PL: number, oy: number, ox: number) {
    return {
      y0: Math.max(0, oy * SH - PT), y1: Math.min(H, oy * SH - PT + KH),
      x0: Math.max(0, ox * SW - PL), x1: Math.min(W, ox * SW - PL + KW),
    };
  }

  return {
    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, act, actParam, _ws) {
      if (M <= 0 || N <= 0) return;
      const bm = transB ? mat(B, N, K, ldb) : mat(B, K, N, ldb);
      const b = transB ? (k: number, j: number) => bm[j * ldb + k] : (k: number, j: number) => bm[k * ldb + j];
      gemmCore(M, N, K, alpha, opA(transA, M, K, A, lda), b, beta, C, ldc, bias, act, actParam);
    },

    gemmWorkspaceSize(_M, _N, _K) { return 0; },

    /** The reference's packed op(B): a plain row-major K x N copy. */
    gemmPackB(transB, K, N, B, ldb, dst) {
      if (K <= 0 || N <= 0) return;
      const bm = transB ? mat(B, N, K, ldb) : mat(B, K, N, ldb);
      const d = view(dst, K * N);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) d[k * N + j] = transB ? bm[j * ldb + k] : bm[k * ldb + j];
    },

    gemmPackedBSize(K, N) { return Math.max(0, K) * Math.max(0, N) * 4; },

    gemmPackedASize() { return 0; },

    gemmPrepacked(mode, transA, M, N, K, alpha, A, lda, packedB, beta, C, ldc, bias, act, actParam, _ws) {
      if (mode !== AMode.matrix) throw new Error(`edgegrad: ref gemmPrepacked supports only AMode.matrix (got mode ${mode})`);
      if (M <= 0 || N <= 0) return;
      const pb = view(packedB, K * N);
      gemmCore(M, N, K, alpha, opA(transA, M, K, A, lda), (k, j) => pb[k * N + j], beta, C, ldc, bias, act, actParam);
    },

    columnSums,

    convWorkspaceSize(_geom) { return 0; },

    conv2dForward(geom, x, w, bias, y, act, actParam, _ws) { convForward(geom, x, w, bias, y, act, actParam); },

    conv2dBackwardInput(geom, dy, w, dx, _ws) { convBackwardInput(geom, dy, w, dx); },

    conv2dBackwardFilter(geom, x, dy, dw, dbias, _ws) { convBackwardFilter(geom, x, dy, dw, dbias); },

    /** Max (empty window: -Infinity; NaN propagates) or average over the in-bounds elements (empty: 0). */
    pool2dForward(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, y) {
      const isMax = kind === Pool.max; // any other code averages, as the kernel does
      const xv = view(x, N * H * W * C), yv = view(y, N * OH * OW * C);
      for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const { y0, y1, x0, x1 } = clip(H, W, KH, KW, SH, SW, PT, PL, oy, ox);
        for (let c = 0; c < C; c++) {
          let a = isMax ? -Infinity : 0, count = 0;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) {
            const v = xv[((n * H + iy) * W + ix) * C + c];
            a = isMax ? Math.max(a, v) : a + v;
            count++;
          }
          yv[((n * OH + oy) * OW + ox) * C + c] = isMax ? a : count > 0 ? a / count : 0;
        }
      }
    },

    /** dx overwritten. Max: each dy to the first element of its window that no later one exceeds; avg: dy / count. */
    pool2dBackward(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, dx) {
      const xv = view(x, N * H * W * C), dyv = view(dy, N * OH * OW * C), dxv = view(dx, N * H * W * C);
      const acc = new Float64Array(dxv.length);
      for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const { y0, y1, x0, x1 } = clip(H, W, KH, KW, SH, SW, PT, PL, oy, ox);
        const count = Math.max(0, y1 - y0) * Math.max(0, x1 - x0);
        for (let c = 0; c < C; c++) {
          const d = dyv[((n * OH + oy) * OW + ox) * C + c];
          if (kind === Pool.max) {
            // first arg-max in window order; the first element is taken even if NaN, later NaNs never win
            let best = -Infinity, arg = -1;
            for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) {
              const off = ((n * H + iy) * W + ix) * C + c;
              if (xv[off] > best || arg < 0) { best = xv[off]; arg = off; }
            }
            if (arg >= 0) acc[arg] += d;
          } else {
            for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) acc[((n * H + iy) * W + ix) * C + c] += d / count;
          }
        }
      }
      dxv.set(acc);
    },
  };
}
