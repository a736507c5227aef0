// Kernel fuzzing: random shapes for every kernel that takes a workspace and every backward path, run on
// guarded buffers (test/fuzz/guard.ts) and compared with float64 references. One case is a plain object,
// so a failure prints the exact shape to reproduce it.
import type { HeapBackend } from '../../src/backend/index.js';
import { convGeometry, refConv2d, refConv2dBackward, type ConvGeometry, type Padding } from '../../src/ops/conv.js';
import { refMatMul } from '../../src/ops/matmul.js';
import { Guarded } from './guard.js';

export type Rand = () => number;

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export interface ConvCase { x: number[]; w: number[]; s: [number, number]; pad: Padding; d: [number, number] }

/**
 * A random convolution: pointwise (the plain-GEMM path), 3x3, any kernel, depthwise, grouped, few output
 * channels (the direct kernel); batch 1-64 with a bias towards 1, 32 and 64, where chunk boundaries fall.
 * The work is capped so that a case runs in milliseconds (the long run raises the cap).
 */
export function randomConv(r: Rand, maxWork = 4e6): ConvCase {
  for (;;) {
    const kind = pick(r, ['pointwise', 'pointwise', '3x3', 'any', 'depthwise', 'grouped', 'direct'] as const);
    const N = pick(r, [1, 1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 64]);
    const H = int(r, 1, 30), W = int(r, 1, 30);
    let KH = 1, KW = 1, Cg = int(r, 1, 70), G = 1, COg = int(r, 1, 70);
    if (kind === '3x3') { KH = KW = 3; }
    if (kind === 'any') { KH = int(r, 1, 5); KW = int(r, 1, 5); }
    if (kind === 'depthwise') { KH = KW = pick(r, [3, 3, 5]); G = int(r, 2, 40); Cg = 1; COg = pick(r, [1, 1, 2]); }
    if (kind === 'grouped') { KH = KW = pick(r, [1, 3]); G = int(r, 2, 4); Cg = int(r, 1, 12); COg = int(r, 1, 12); }
    if (kind === 'direct') { KH = KW = pick(r, [3, 5]); COg = int(r, 1, 16); }
    const s = kind === 'pointwise' && r() < 0.7 ? 1 : pick(r, [1, 1, 2, 3]);
    const dl = kind === 'pointwise' || r() < 0.8 ? 1 : 2;
    const pad: Padding = kind === 'pointwise' && r() < 0.7 ? 'valid' : pick(r, ['same', 'valid', 1] as const);
    const c: ConvCase = { x: [N, H, W, Cg * G], w: [KH, KW, Cg, COg * G], s: [s, s], pad, d: [dl, dl] };
    let g: ConvGeometry;
    try { g = geometry(c); } catch { continue; } // the kernel does not fit the input: draw again
    const work = g.N * g.OH * g.OW * g.CO * g.KH * g.KW * Cg + g.N * g.H * g.W * g.C;
    if (work <= maxWork) return c;
  }
}

export function geometry(c: ConvCase): ConvGeometry {
  return convGeometry(c.x, c.w, c.s, c.pad, c.d, 'fuzz');
}

function randData(r: Rand, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; scale: number; at: number } {
  let scale = 1, err = 0, at = -1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= err)) { err = d; at = i; }
  }
  return { err, scale, at };
}

/** Throws with the case when a guard byte changed or a result is off (relative to the output's scale). */
function verdict(what: string, c: unknown, guard: Guarded, results: Array<[string, ArrayLike<number>, ArrayLike<number>]>, tol: number): void {
  const hit = guard.damaged();
  if (hit.length) throw new Error(`${what} ${JSON.stringify(c)} wrote outside its buffers: ${hit.join('; ')}`);
  for (const [name, got, want] of results) {
    const { err, scale, at } = maxErr(got, want);
    if (!(err <= tol * scale)) throw new Error(`${what} ${JSON.stringify(c)}: ${name} off by ${err} at ${at} (got ${got[at]}, want ${want[at]})`);
  }
}

export type ConvPath = 'forward' | 'backwardInput' | 'backwardFilter';

/**
 * One conv case on one path: operands, outputs and the workspace (exactly convWorkspaceSize() bytes)
 * each between guards; the result against refConv2d / refConv2dBackward when `check` (big cases only
 * check the guards: the float64 reference would dominate the run).
 */
export function runConv(be: HeapBackend, c: ConvCase, path: ConvPath, r: Rand, check: boolean): void {
  const g = geometry(c);
  const k = be.kernels;
  const xs = g.N * g.H * g.W * g.C, ws = c.w.reduce((a, b) => a * b, 1), ys = g.N * g.OH * g.OW * g.CO;
  const xd = randData(r, xs), wd = randData(r, ws), dyd = randData(r, ys);
  const guard = new Guarded(be);
  try {
    const geom = guard.alloc('geometry', 64);
    new Int32Array(be.memory.buffer, geom, 16).set([g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, g.G, g.CO]);
    const work = guard.alloc('workspace', k.convWorkspaceSize(geom));
    const xArr = { shape: c.x, data: xd }, wArr = { shape: c.w, data: wd }, dyArr = { shape: [g.N, g.OH, g.OW, g.CO], data: dyd };
    if (path === 'forward') {
      const x = guard.f32('x', xd), w = guard.f32('w', wd), y = guard.alloc('y', ys * 4);
      k.conv2dForward(geom, x, w, 0, y, 0, 0, work);
      verdict('conv2dForward', c, guard, check ? [['y', guard.read(y, ys), refConv2d(xArr, wArr, g).data]] : [], 1e-4);
    } else if (path === 'backwardInput') {
      const dy = guard.f32('dy', dyd), w = guard.f32('w', wd), dx = guard.alloc('dx', xs * 4);
      k.conv2dBackwardInput(geom, dy, w, dx, work);
      verdict('conv2dBackwardInput', c, guard, check ? [['dx', guard.read(dx, xs), refConv2dBackward(xArr, wArr, dyArr, g).dx.data]] : [], 1e-4);
    } else {
      const x = guard.f32('x', xd), dy = guard.f32('dy', dyd), dw = guard.alloc('dw', ws * 4), db = guard.alloc('db', g.CO * 4);
      k.conv2dBackwardFilter(geom, x, dy, dw, db, work);
      const ref = check ? refConv2dBackward(xArr, wArr, dyArr, g) : undefined;
      verdict('conv2dBackwardFilter', c, guard, ref ? [['dw', guard.read(dw, ws), ref.dw.data], ['db', guard.read(db, g.CO), ref.db.data]] : [], 1e-4);
    }
  } finally {
    guard.free();
  }
}

export interface GemmCase { tA: number; tB: number; M: number; N: number; K: number; beta: number }

/** Shapes around the micro-kernel's tiles (4x8) and blocks (KC 256, MC 128), and tall / wide extremes. */
export function randomGemm(r: Rand, maxWork = 4e6): GemmCase {
  const dim = (): number => pick(r, [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, int(r, 1, 300), 127, 128, 129, 255, 256, 257, int(r, 300, 2000)]);
  for (;;) {
    const c: GemmCase = { tA: int(r, 0, 1), tB: int(r, 0, 1), M: dim(), N: dim(), K: dim(), beta: pick(r, [0, 0, 1, 0.5]) };
    if (c.M * c.N * c.K <= maxWork) return c;
  }
}

/** C = op(A) op(B) + beta C on guarded buffers, the workspace exactly gemmWorkspaceSize(M, N, K) bytes. */
export function runGemm(be: HeapBackend, c: GemmCase, r: Rand): void {
  const { tA, tB, M, N, K, beta } = c;
  const k = be.kernels;
  const ad = randData(r, M * K), bd = randData(r, K * N), cd = randData(r, M * N);
  const guard = new Guarded(be);
  try {
    const a = guard.f32('A', ad), b = guard.f32('B', bd), cp = guard.f32('C', cd);
    const work = guard.alloc('workspace', k.gemmWorkspaceSize(M, N, K));
    k.gemm(tA, tB, M, N, K, 1, a, tA ? M : K, b, tB ? K : N, beta, cp, N, 0, 0, 0, work);
    const prod = refMatMul({ shape: tA ? [K, M] : [M, K], data: ad }, { shape: tB ? [N, K] : [K, N], data: bd }, !!tA, !!tB).data;
    const want = Float64Array.from(prod, (v, i) => v + (beta ? beta * cd[i] : 0));
    verdict('gemm', c, guard, [['C', guard.read(cp, M * N), want]], 1e-4);
  } finally {
    guard.free();
  }
}

export interface NormCase { M: number; C: number }

/** Batch-norm backward (batch statistics) against its closed form; workspace C * 16 bytes as the op gives it. */
export function runBatchNormBackward(be: HeapBackend, c: NormCase, r: Rand): void {
  const { M, C } = c;
  const k = be.kernels;
  const xd = randData(r, M * C), dyd = randData(r, M * C), gd = randData(r, C);
  const mean = new Float64Array(C), inv = new Float64Array(C);
  for (let i = 0; i < M * C; i++) mean[i % C] += xd[i] / M;
  for (let i = 0; i < M * C; i++) inv[i % C] += (xd[i] - mean[i % C]) ** 2 / M;
  for (let j = 0; j < C; j++) inv[j] = 1 / Math.sqrt(inv[j] + 1e-3);
  const guard = new Guarded(be);
  try {
    const x = guard.f32('x', xd), dy = guard.f32('dy', dyd), gamma = guard.f32('gamma', gd);
    const mp = guard.f32('mean', mean), ip = guard.f32('invStd', inv);
    const dx = guard.alloc('dx', M * C * 4), dg = guard.alloc('dgamma', C * 4), db = guard.alloc('dbeta', C * 4);
    const work = guard.alloc('workspace', C * 16);
    k.batchNormBackward(M, C, x, dy, gamma, mp, ip, dx, dg, db, work);
    const sdy = new Float64Array(C), sdyx = new Float64Array(C);
    for (let i = 0; i < M * C; i++) { const j = i % C; sdy[j] += dyd[i]; sdyx[j] += dyd[i] * (xd[i] - mean[j]) * inv[j]; }
    const wdx = Float64Array.from(xd, (xv, i) => {
      const j = i % C;
      return gd[j] * inv[j] / M * (M * dyd[i] - sdy[j] - (xv - mean[j]) * inv[j] * sdyx[j]);
    });
    verdict('batchNormBackward', c, guard, [['dx', guard.read(dx, M * C), wdx], ['dgamma', guard.read(dg, C), sdyx], ['dbeta', guard.read(db, C), sdy]], 1e-3);
  } finally {
    guard.free();
  }
}

export interface PoolCase { kind: 0 | 1; N: number; H: number; W: number; C: number; KH: number; KW: number; SH: number; SW: number; PT: number; PL: number; OH: number; OW: number }

export function randomPool(r: Rand): PoolCase {
  for (;;) {
    const KH = int(r, 1, 4), KW = int(r, 1, 4), SH = int(r, 1, 3), SW = int(r, 1, 3), H = int(r, 1, 20), W = int(r, 1, 20);
    const PT = r() < 0.5 ? 0 : int(r, 0, KH - 1), PL = r() < 0.5 ? 0 : int(r, 0, KW - 1);
    const OH = Math.floor((H + 2 * PT - KH) / SH) + 1, OW = Math.floor((W + 2 * PL - KW) / SW) + 1;
    if (OH < 1 || OW < 1) continue;
    return { kind: r() < 0.5 ? 0 : 1, N: pick(r, [1, 2, 3, 8]), H, W, C: int(r, 1, 40), KH, KW, SH, SW, PT, PL, OH, OW };
  }
}

/** Pool backward (max: to the first arg-max of each window; avg: over the window's valid pixels). */
export function runPoolBackward(be: HeapBackend, c: PoolCase, r: Rand): void {
  const { kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW } = c;
  const k = be.kernels;
  const xs = N * H * W * C, ys = N * OH * OW * C;
  const xd = randData(r, xs), dyd = randData(r, ys);
  const want = new Float64Array(xs);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let ch = 0; ch < C; ch++) {
    const g = dyd[((n * OH + oy) * OW + ox) * C + ch];
    let best = -1, bv = -Infinity, cnt = 0;
    const idx: number[] = [];
    for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const i = ((n * H + iy) * W + ix) * C + ch;
      idx.push(i); cnt++;
      if (xd[i] > bv) { bv = xd[i]; best = i; }
    }
    if (kind === 0) { if (best >= 0) want[best] += g; } else for (const i of idx) want[i] += g / cnt;
  }
  const guard = new Guarded(be);
  try {
    const x = guard.f32('x', xd), dy = guard.f32('dy', dyd), dx = guard.alloc('dx', xs * 4);
    k.pool2dBackward(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x, dy, dx);
    verdict(kind === 0 ? 'maxPoolBackward' : 'avgPoolBackward', c, guard, [['dx', guard.read(dx, xs), want]], 1e-5);
  } finally {
    guard.free();
  }
}
