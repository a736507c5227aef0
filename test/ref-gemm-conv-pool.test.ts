// The reference GEMM / conv / pool kernels (src/backend/ref/gemm-conv-pool.ts) against the wasm kernels of
// every build: identical inputs in both heaps, each side sized by its own *Size functions, and whole output
// allocations compared, guard floats around them included (so writes outside the outputs show too).
import { describe, expect, it, beforeAll } from 'vitest';
import { rng } from './helpers.js';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import type { WasmBuild } from '../src/backend/index.js';
import { RefMemory } from '../src/backend/ref/memory.js';
import { gemmConvPoolKernels } from '../src/backend/ref/gemm-conv-pool.js';
import { Act, AMode, Pool, type Kernels } from '../src/backend/kernels.js';

const BUILDS: WasmBuild[] = ['relaxed', 'simd', 'scalar'];
const GUARD = 16; // floats of sentinel before and after every buffer
const SENTINEL = 12345.5;

function rand(n: number, seed: number, ints = false): Float32Array {
  const r = rng(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = ints ? Math.floor(r() * 5) - 2 : 2 * r() - 1;
  return d;
}

/** Both heaps side by side: every buffer is allocated in both with the same contents, guarded. */
class Pair {
  readonly mem = new RefMemory(512); // 32 MiB
  readonly ref: ReturnType<typeof gemmConvPoolKernels>;
  private top = 64;
  private wasmPtrs: number[] = [];
  private bufs: Array<{ r: number; w: number; n: number }> = [];
  constructor(readonly be: WasmBackend) { this.ref = gemmConvPoolKernels(this.mem); }
  get wk(): Kernels { return this.be.kernels; }

  private raw(bytes: number): { r: number; w: number } {
    const r = this.top;
    this.top = (this.top + Math.max(bytes, 1) + 63) & ~63;
    if (this.top > this.mem.buffer.byteLength) throw new Error('test ref heap too small');
    const w = this.be.alloc(Math.max(bytes, 1));
    this.wasmPtrs.push(w);
    return { r, w };
  }
  /** A buffer holding `data` in both heaps, GUARD sentinels either side; returns the data pointers. */
  put(data: Float32Array): { r: number; w: number } {
    const { r, w } = this.raw((data.length + 2 * GUARD) * 4);
    const full = new Float32Array(data.length + 2 * GUARD).fill(SENTINEL);
    full.set(data, GUARD);
    new Float32Array(this.mem.buffer, r, full.length).set(full);
    new Float32Array(this.be.memory.buffer, w, full.length).set(full);
    this.bufs.push({ r: r + GUARD * 4, w: w + GUARD * 4, n: data.length });
    return { r: r + GUARD * 4, w: w + GUARD * 4 };
  }
  /** An i32 block in both heaps. */
  ints(v: number[]): { r: number; w: number } {
    const { r, w } = this.raw(v.length * 4);
    new Int32Array(this.mem.buffer, r, v.length).set(v);
    new Int32Array(this.be.memory.buffer, w, v.length).set(v);
    return { r, w };
  }
  /** Workspaces, each side the size its own kernel table asks for. */
  ws(refBytes: number, wasmBytes: number): { r: number; w: number } {
    const r = this.raw(refBytes).r, w = this.raw(wasmBytes).w;
    return { r, w };
  }
  /** Floats of one side at a data pointer returned by put. */
  read(side: 'r' | 'w', p: number, n: number): Float32Array {
    return Float32Array.from(new Float32Array(side === 'r' ? this.mem.buffer : this.be.memory.buffer, p, n));
  }
  /** Compare every buffer allocated with put (its guards exactly: nothing written outside), then free everything. */
  check(what: string, tol = 1e-4): void {
    const at = `${what} [${this.be.build}]`;
    for (const { r, w, n } of this.bufs) {
      close(this.read('w', w, n), this.read('r', r, n), at, tol);
      for (const [off, side] of [[-GUARD, 'below'], [n, 'above']] as const) {
        const g = [...this.read('w', w + off * 4, GUARD), ...this.read('r', r + off * 4, GUARD)];
        if (g.some((v) => v !== SENTINEL)) throw new Error(`${at}: guard ${side} a buffer was overwritten`);
      }
    }
    this.reset();
  }
  reset(): void {
    for (const p of this.wasmPtrs) this.be.free(p);
    this.wasmPtrs = []; this.bufs = []; this.top = 64;
  }
}

/** max |wasm - ref| <= tol * max(1, max |ref|); NaN must meet NaN, infinities must be equal. */
function close(wasm: Float32Array, ref: Float32Array, what: string, tol: number): void {
  expect(wasm.length).toBe(ref.length);
  let scale = 1;
  for (const v of ref) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < ref.length; i++) {
    const a = wasm[i], b = ref[i];
    if (Number.isNaN(b) || !Number.isFinite(b)) {
      if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) throw new Error(`${what}: at ${i} wasm ${a}, ref ${b}`);
    } else if (!(Math.abs(a - b) <= tol * scale)) {
      throw new Error(`${what}: at ${i} wasm ${a}, ref ${b} (tolerance ${tol * scale})`);
    }
  }
}

const NAMES = ['gemm', 'gemmWorkspaceSize', 'gemmPackB', 'gemmPackedBSize', 'gemmPackedASize', 'gemmPrepacked', 'columnSums',
  'convWorkspaceSize', 'conv2dForward', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'pool2dForward', 'pool2dBackward'] as const;

interface ConvCase { N: number; H: number; W: number; C: number; KH: number; KW: number; S: [number, number]; P: [number, number, number, number]; D: [number, number]; G: number; CO: number }
function convGeom(c: ConvCase): number[] {
  const [SH, SW] = c.S, [PT, PB, PL, PR] = c.P, [DH, DW] = c.D;
  const OH = Math.floor((c.H + PT + PB - ((c.KH - 1) * DH + 1)) / SH) + 1;
  const OW = Math.floor((c.W + PL + PR - ((c.KW - 1) * DW + 1)) / SW) + 1;
  return [c.N, c.H, c.W, c.C, c.KH, c.KW, SH, SW, PT, PL, DH, DW, OH, OW, c.G, c.CO];
}
const cc = (N: number, H: number, W: number, C: number, KH: number, KW: number, S: number, P: number, D: number, G: number, CO: number,
  extra: Partial<ConvCase> = {}): ConvCase => ({ N, H, W, C, KH, KW, S: [S, S], P: [P, P, P, P], D: [D, D], G, CO, ...extra });

const CONV_CASES: ConvCase[] = [
  cc(1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1), // everything 1
  cc(2, 5, 7, 3, 1, 1, 1, 0, 1, 1, 5), // pointwise
  cc(1, 6, 6, 8, 1, 1, 1, 0, 1, 2, 6), // grouped pointwise
  cc(2, 7, 5, 3, 3, 3, 1, 1, 1, 1, 4), // direct path (CO <= 16), same padding
  cc(1, 9, 11, 5, 3, 3, 1, 1, 1, 1, 8), // CO = 8: direct quads
  cc(1, 9, 8, 2, 3, 2, 2, 1, 1, 1, 13), // stride 2, uneven kernel
  cc(2, 8, 9, 4, 3, 3, 1, 2, 2, 1, 17), // dilation 2, CO > 16 (implicit GEMM)
  cc(1, 7, 7, 6, 3, 3, 2, 0, 1, 3, 9), // 3 groups
  cc(1, 7, 6, 6, 2, 2, 1, 1, 1, 2, 4, { P: [0, 1, 1, 0] }), // 2 groups, asymmetric padding
  cc(2, 6, 9, 4, 3, 3, 1, 1, 1, 4, 4), // depthwise 3x3, multiplier 1, C % 4 == 0 (fast path)
  cc(1, 10, 12, 8, 3, 3, 2, 1, 1, 8, 8), // depthwise, stride 2
  cc(1, 5, 7, 3, 3, 3, 1, 1, 2, 3, 6), // depthwise, multiplier 2, dilation 2
  cc(1, 5, 5, 5, 5, 1, 1, 2, 1, 5, 5), // depthwise, 5x1 kernel
  cc(1, 4, 4, 1, 2, 2, 1, 0, 1, 1, 3), // one input channel, one group
  cc(1, 31, 31, 32, 3, 3, 1, 1, 1, 1, 20), // implicit GEMM over several pixel chunks in the backward passes
  cc(1, 3, 3, 2, 5, 5, 1, 2, 1, 1, 3), // kernel larger than the input
  cc(1, 13, 3, 37, 1, 1, 1, 0, 1, 1, 19), // pointwise, primes
];

describe.each(BUILDS)('ref gemm/conv/pool kernels vs wasm (%s build)', (build) => {
  let pr: Pair;
  beforeAll(() => { pr = new Pair(WasmBackend.createSync(build)); });

  it('take exactly the parameters of the wasm exports', () => {
    for (const n of NAMES) expect(pr.ref[n].length, n).toBe((pr.wk[n] as (...a: number[]) => unknown).length);
  });

  it('gemm: edge shapes, both transposes, strides, alpha/beta, bias and epilogues', () => {
    let seed = 1, iter = 0;
    const configs = [
      { alpha: 1, beta: 0, bias: false, act: Act.linear, p: 0 },
      { alpha: 0.75, beta: -0.5, bias: true, act: Act.leakyRelu, p: 0.1 },
      { alpha: -1.25, beta: 1, bias: true, act: Act.relu, p: 0 },
      { alpha: 3, beta: 0.5, bias: false, act: Act.relu6, p: 0 },
      { alpha: 1, beta: 0, bias: true, act: Act.sigmoid, p: 0 }, // not an epilogue activation: left unapplied
    ];
    for (const M of [0, 1, 3, 4, 5, 13]) for (const N of [0, 1, 7, 8, 9, 17]) for (const K of [0, 1, 5, 8, 17]) {
      for (const tA of [0, 1]) for (const tB of [0, 1]) {
        const cfg = configs[iter++ % configs.length];
        const pad = iter % 3; // extra row stride
        const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + (iter % 2);
        const A = pr.put(rand(Math.max(tA ? K : M, 1) * lda, seed++)), B = pr.put(rand(Math.max(tB ? N : K, 1) * ldb, seed++));
        const Cinit = cfg.beta === 0 ? new Float32Array(M * ldc).fill(NaN) : rand(M * ldc, seed++);
        const C = pr.put(Cinit);
        const bias = cfg.bias ? pr.put(rand(N, seed++)) : { r: 0, w: 0 };
        const ws = pr.ws(pr.ref.gemmWorkspaceSize(M, N, K), pr.wk.gemmWorkspaceSize(M, N, K));
        for (const [k, s] of [[pr.ref, 'r'], [pr.wk, 'w']] as const) {
          k.gemm(tA, tB, M, N, K, cfg.alpha, A[s], lda, B[s], ldb, cfg.beta, C[s], ldc, bias[s], cfg.act, cfg.p, ws[s]);
        }
        pr.check(`gemm M=${M} N=${N} K=${K} tA=${tA} tB=${tB} act=${cfg.act}`);
      }
    }
  });

  it('gemm: K across several KC blocks, M across MC blocks', () => {
    for (const [M, N, K] of [[130, 33, 600], [257, 9, 513], [3, 70, 300], [64, 64, 256]]) {
      for (const tA of [0, 1]) for (const tB of [0, 1]) {
        const A = pr.put(rand(M * K, M + K)), B = pr.put(rand(K * N, N + K)), C = pr.put(rand(M * N, 3)), bias = pr.put(rand(N, 4));
        const ws = pr.ws(pr.ref.gemmWorkspaceSize(M, N, K), pr.wk.gemmWorkspaceSize(M, N, K));
        for (const [k, s] of [[pr.ref, 'r'], [pr.wk, 'w']] as const) {
          k.gemm(tA, tB, M, N, K, 0.5, A[s], tA ? M : K, B[s], tB ? K : N, 2, C[s], N, bias[s], Act.relu, 0, ws[s]);
        }
        pr.check(`gemm ${M}x${N}x${K} tA=${tA} tB=${tB}`);
      }
    }
  });

  it('gemmPackB + gemmPrepacked (each side reads its own packing)', () => {
    let seed = 100;
    for (const [M, N, K] of [[1, 1, 1], [3, 7, 5], [4, 8, 8], [13, 17, 9], [9, 3, 300], [0, 5, 3], [5, 0, 3], [6, 5, 0]]) {
      for (const tA of [0, 1]) for (const tB of [0, 1]) {
        const ldb = (tB ? K : N) + 1;
        const A = pr.put(rand(Math.max(M * K, 1), seed++)), B = pr.put(rand(Math.max(tB ? N : K, 1) * ldb, seed++));
        const C = pr.put(new Float32Array(M * N).fill(NaN)), bias = pr.put(rand(N, seed++));
        const packed = { r: pr.put(new Float32Array(pr.ref.gemmPackedBSize(K, N) / 4)).r, w: pr.put(new Float32Array(pr.wk.gemmPackedBSize(K, N) / 4)).w };
        const ws = pr.ws(pr.ref.gemmPackedASize(), pr.wk.gemmPackedASize());
        for (const [k, s] of [[pr.ref, 'r'], [pr.wk, 'w']] as const) {
          k.gemmPackB(tB, K, N, B[s], ldb, packed[s]);
          k.gemmPrepacked(AMode.matrix, tA, M, N, K, 1.5, A[s], tA ? M : K, packed[s], 0, C[s], N, bias[s], Act.leakyRelu, 0.3, ws[s]);
        }
        // the packed buffers differ by design: compare C only
        close(pr.read('w', C.w, M * N), pr.read('r', C.r, M * N), `prepacked ${M}x${N}x${K} [${build}]`, 1e-4);
        pr.reset();
      }
    }
    expect(() => pr.ref.gemmPrepacked(AMode.im2col, 0, 4, 4, 4, 1, 64, 4, 64, 0, 64, 4, 0, 0, 0, 0)).toThrow(/AMode/);
  });

  it('columnSums', () => {
    let seed = 200;
    for (const rows of [0, 1, 5, 17]) for (const cols of [1, 3, 4, 9, 33]) {
      const a = pr.put(rand(rows * cols, seed++)), out = pr.put(rand(cols, seed++));
      pr.ref.columnSums(rows, cols, a.r, out.r);
      pr.wk.columnSums(rows, cols, a.w, out.w);
      pr.check(`columnSums ${rows}x${cols}`);
    }
  });

  it('conv2d forward, backward input and backward filter over grouped, depthwise, strided, dilated geometries', () => {
    let seed = 300;
    for (const c of CONV_CASES) {
      const g = convGeom(c);
      const [N, H, W, C, KH, KW, , , , , , , OH, OW, G, CO] = g;
      const what = `conv ${JSON.stringify(g)}`;
      const xs = rand(N * H * W * C, seed++), ws8 = rand(KH * KW * (C / G) * CO, seed++), bs = rand(CO, seed++), dys = rand(N * OH * OW * CO, seed++);
      for (const [act, p, bias] of [[Act.linear, 0, true], [Act.relu, 0, false], [Act.leakyRelu, 0.2, true], [Act.tanh, 0, true]] as const) {
        const geom = pr.ints(g), x = pr.put(xs), w = pr.put(ws8), b = bias ? pr.put(bs) : { r: 0, w: 0 };
        const y = pr.put(new Float32Array(N * OH * OW * CO).fill(NaN));
        const ws = pr.ws(pr.ref.convWorkspaceSize(geom.r), pr.wk.convWorkspaceSize(geom.w));
        pr.ref.conv2dForward(geom.r, x.r, w.r, b.r, y.r, act, p, ws.r);
        pr.wk.conv2dForward(geom.w, x.w, w.w, b.w, y.w, act, p, ws.w);
        pr.check(`${what} forward act=${act}`);
      }
      {
        const geom = pr.ints(g), dy = pr.put(dys), w = pr.put(ws8), dx = pr.put(new Float32Array(N * H * W * C).fill(NaN));
        const ws = pr.ws(pr.ref.convWorkspaceSize(geom.r), pr.wk.convWorkspaceSize(geom.w));
        pr.ref.conv2dBackwardInput(geom.r, dy.r, w.r, dx.r, ws.r);
        pr.wk.conv2dBackwardInput(geom.w, dy.w, w.w, dx.w, ws.w);
        pr.check(`${what} backward input`);
      }
      for (const withBias of [true, false]) {
        const geom = pr.ints(g), x = pr.put(xs), dy = pr.put(dys), dw = pr.put(new Float32Array(ws8.length).fill(NaN));
        const db = withBias ? pr.put(new Float32Array(CO).fill(NaN)) : { r: 0, w: 0 };
        const ws = pr.ws(pr.ref.convWorkspaceSize(geom.r), pr.wk.convWorkspaceSize(geom.w));
        pr.ref.conv2dBackwardFilter(geom.r, x.r, dy.r, dw.r, db.r, ws.r);
        pr.wk.conv2dBackwardFilter(geom.w, x.w, dy.w, dw.w, db.w, ws.w);
        pr.check(`${what} backward filter bias=${withBias}`);
      }
    }
  });

  it('conv2d forward applies every activation code (step/sign on integer data: exact pre-activations)', () => {
    let seed = 400;
    for (const c of [CONV_CASES[1], CONV_CASES[3], CONV_CASES[6], CONV_CASES[9], CONV_CASES[7]]) {
      const g = convGeom(c);
      const [N, H, W, C, KH, KW, , , , , , , OH, OW, G, CO] = g;
      for (let act = 0; act <= 11; act++) {
        const ints = act === Act.step || act === Act.sign;
        const geom = pr.ints(g), x = pr.put(rand(N * H * W * C, seed++, ints)), w = pr.put(rand(KH * KW * (C / G) * CO, seed++, ints));
        const b = pr.put(rand(CO, seed++, ints)), y = pr.put(new Float32Array(N * OH * OW * CO));
        const ws = pr.ws(pr.ref.convWorkspaceSize(geom.r), pr.wk.convWorkspaceSize(geom.w));
        const p = act === Act.elu ? 0.7 : 0.2;
        pr.ref.conv2dForward(geom.r, x.r, w.r, b.r, y.r, act, p, ws.r);
        pr.wk.conv2dForward(geom.w, x.w, w.w, b.w, y.w, act, p, ws.w);
        pr.check(`conv ${JSON.stringify(g)} act=${act}`);
      }
    }
  });

  it('conv2d with an empty batch or no input channels', () => {
    for (const c of [cc(0, 4, 4, 3, 3, 3, 1, 1, 1, 1, 5), cc(0, 4, 4, 4, 3, 3, 1, 1, 1, 4, 4), cc(2, 3, 3, 0, 2, 2, 1, 0, 1, 1, 3)]) {
      const g = convGeom(c);
      const [N, H, W, C, KH, KW, , , , , , , OH, OW, G, CO] = g;
      const geom = pr.ints(g), x = pr.put(rand(N * H * W * C, 1)), w = pr.put(rand(KH * KW * (G ? C / G : 0) * CO, 2)), b = pr.put(rand(CO, 3));
      const y = pr.put(new Float32Array(N * OH * OW * CO).fill(NaN)), dx = pr.put(new Float32Array(N * H * W * C).fill(NaN));
      const dy = pr.put(rand(N * OH * OW * CO, 4)), db = pr.put(new Float32Array(CO).fill(NaN));
      const dw = pr.put(new Float32Array(KH * KW * (G ? C / G : 0) * CO).fill(NaN));
      const ws = pr.ws(pr.ref.convWorkspaceSize(geom.r), pr.wk.convWorkspaceSize(geom.w));
      for (const [k, s] of [[pr.ref, 'r'], [pr.wk, 'w']] as const) {
        k.conv2dForward(geom[s], x[s], w[s], b[s], y[s], Act.relu, 0, ws[s]);
        k.conv2dBackwardInput(geom[s], dy[s], w[s], dx[s], ws[s]);
        k.conv2dBackwardFilter(geom[s], x[s], dy[s], dw[s], db[s], ws[s]);
      }
      pr.check(`conv empty ${JSON.stringify(g)}`);
    }
  });

  it('pool2d forward and backward: max and avg, padding, empty windows, ties and NaN', () => {
    let seed = 500;
    // [N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW]
    const cases = [
      [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1],
      [2, 5, 7, 3, 2, 2, 2, 2, 0, 0, 2, 3],
      [1, 6, 6, 17, 3, 3, 2, 2, 1, 1, 3, 3],
      [1, 7, 5, 20, 3, 2, 1, 1, 1, 0, 7, 4],
      [2, 4, 4, 4, 4, 4, 1, 1, 0, 0, 1, 1],
      [1, 5, 5, 5, 3, 3, 3, 3, 1, 1, 2, 2],
      [1, 3, 3, 2, 2, 2, 1, 1, 3, 3, 3, 3], // padding past the window: the first rows and columns see nothing
      [0, 3, 3, 2, 2, 2, 1, 1, 0, 0, 2, 2],
    ];
    for (const [N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW] of cases) {
      for (const kind of [Pool.max, Pool.avg]) for (const data of ['rand', 'ties', 'nan'] as const) {
        const xs = rand(N * H * W * C, seed++, data === 'ties');
        if (data === 'nan') for (let i = 0; i < xs.length; i += 7) xs[i] = NaN;
        const x = pr.put(xs), y = pr.put(new Float32Array(N * OH * OW * C).fill(7));
        const dy = pr.put(rand(N * OH * OW * C, seed++)), dx = pr.put(new Float32Array(N * H * W * C).fill(NaN));
        for (const [k, s] of [[pr.ref, 'r'], [pr.wk, 'w']] as const) {
          k.pool2dForward(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x[s], y[s]);
          k.pool2dBackward(kind, N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, x[s], dy[s], dx[s]);
        }
        pr.check(`pool kind=${kind} ${data} ${[N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW]}`);
      }
    }
  });
});
