// Threads (issue 15): the threaded wasm builds with a worker pool give the single-thread results bit for
// bit (each output keeps its one-thread summation order), ready() reports threads and why, and where
// shared memory is missing the single-threaded build runs with that reason.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import { threadsUnavailable } from '../src/backend/wasm/pool.js';
import { convGeometry, geometryBlock, type Padding } from '../src/ops/conv.js';
import { Act, Pool } from '../src/backend/kernels.js';
import { rng } from './helpers.js';
import * as eg from '../src/index.js';
import { ready } from '../src/backend/index.js';

type Build = 'relaxed' | 'simd';
const BUILDS: Build[] = ['relaxed', 'simd'];

function rand(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Put arrays into a backend's memory, run `f` with their pointers, return the bytes of the outputs. */
function run(be: WasmBackend, ins: Float32Array[], outs: number[], f: (p: number[], o: number[]) => void): Uint8Array[] {
  const p = ins.map((a) => { const q = be.alloc(a.byteLength); be.write(q, a); return q; });
  // outputs start as NaN-free garbage that a kernel reading them (beta != 0) would see identically
  const o = outs.map((n, i) => { const q = be.alloc(n * 4); be.write(q, rand(n, 1000 + i)); return q; });
  f(p, o);
  const r = o.map((q, i) => be.readSync(q, outs[i] * 4));
  for (const q of [...p, ...o]) be.free(q);
  return r;
}

function same(a: Uint8Array[], b: Uint8Array[], what: string): void {
  for (let i = 0; i < a.length; i++) {
    const x = new Float32Array(a[i].buffer), y = new Float32Array(b[i].buffer);
    let bad = -1;
    for (let j = 0; j < x.length; j++) if (!Object.is(x[j], y[j])) { bad = j; break; }
    expect(bad, `${what}: output ${i} differs at ${bad} (${x[bad]} vs ${y[bad]})`).toBe(-1);
  }
}

const pairs = new Map<Build, { one: WasmBackend; two: WasmBackend; three: WasmBackend }>();
beforeAll(async () => {
  for (const b of BUILDS) {
    pairs.set(b, {
      one: await WasmBackend.create(b, { threads: 1 }),
      two: await WasmBackend.create(b, { threads: 2 }),
      three: await WasmBackend.create(b, { threads: 3 }),
    });
  }
});
afterAll(() => { for (const p of pairs.values()) { p.two.dispose(); p.three.dispose(); } });

/** Worker chunk counts when a test started: each kernel test checks that the workers took part. */
const workersBefore = new Map<WasmBackend, number>();
beforeEach(() => workersBefore.clear());
afterEach(() => {
  for (const [be, n] of workersBefore) expect(be.workerChunks(), `pool of ${be.threads.threads}: workers finished chunks`).toBeGreaterThan(n);
});

/** The same computation on one thread and on the pools; results must be identical bytes. */
function check(what: string, ins: Float32Array[], outs: number[], f: (be: WasmBackend, p: number[], o: number[]) => void, shared = true): void {
  for (const b of BUILDS) {
    const { one, two, three } = pairs.get(b)!;
    const r1 = run(one, ins, outs, (p, o) => f(one, p, o));
    workersBefore.set(two, workersBefore.get(two) ?? two.workerChunks());
    workersBefore.set(three, workersBefore.get(three) ?? three.workerChunks());
    const jobs = [two.threadJobs(), three.threadJobs()];
    same(r1, run(two, ins, outs, (p, o) => f(two, p, o)), `${b} ${what} (2 threads)`);
    same(r1, run(three, ins, outs, (p, o) => f(three, p, o)), `${b} ${what} (3 threads)`);
    // the cases are large enough to be shared out (a case that silently ran on one thread proves nothing)
    if (!shared) continue;
    expect(two.threadJobs(), `${b} ${what}: shared out on 2 threads`).toBeGreaterThan(jobs[0]);
    expect(three.threadJobs(), `${b} ${what}: shared out on 3 threads`).toBeGreaterThan(jobs[1]);
  }
}

describe('threaded wasm backend', () => {
  it('starts a pool where shared memory exists and says so', async () => {
    for (const b of BUILDS) {
      const { one, two } = pairs.get(b)!;
      expect(await threadsUnavailable(b)).toBeNull();
      expect(two.threads.threads).toBe(2);
      expect(two.threads.reason).toMatch(/threads: 2 asked/);
      expect(one.threads).toEqual({ threads: 1, reason: 'threads: 1 asked' });
      expect(two.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    }
  });

  it('gemm: identical bytes on 1, 2 and 3 threads (shapes around the tiles, transposes, beta, bias, act)', () => {
    const shapes: Array<[number, number, number]> = [
      [1, 300, 900], [3, 517, 640], [4, 1000, 70], [5, 33, 2000], [64, 64, 64], [130, 257, 129], [257, 9, 600],
      [512, 512, 256], [49, 1280, 320], [100, 7, 3000],
    ];
    for (const [M, N, K] of shapes) {
      for (const [tA, tB, beta, act] of [[0, 0, 0, 0], [1, 0, 1, 1], [0, 1, 0.5, 2], [1, 1, 0, 3]]) {
        const A = rand(M * K, M + K), B = rand(K * N, N + K + 1), bias = rand(N, N);
        check(`gemm ${M}x${N}x${K} t${tA}${tB} beta ${beta} act ${act}`, [A, B, bias], [M * N], (be, [a, b, bi], [c]) => {
          const k = be.kernels;
          const ws = be.workspace(k.gemmWorkspaceSize(M, N, K));
          k.gemm(tA, tB, M, N, K, 0.75, a, tA ? M : K, b, tB ? K : N, beta, c, N, bi, act, 0.1, ws);
        }, M >= 4); // M < 4 is a GEMV: one thread
      }
    }
  });

  // [x, w, stride, pad, dilation]: im2col 3x3, pointwise, stride 2, dilation, depthwise (multiplier 1 and 2,
  // stride 2), grouped, and the direct kernel of few output channels (LeNet's layers)
  const convs: Array<[number[], number[], number, Padding, number]> = [
    [[1, 56, 56, 64], [3, 3, 64, 64], 1, 'same', 1],
    [[2, 14, 14, 96], [1, 1, 96, 32], 1, 'valid', 1],
    [[3, 15, 15, 16], [3, 3, 16, 24], 2, 'same', 1],
    [[1, 20, 21, 8], [3, 3, 8, 40], 1, 'same', 2],
    [[1, 40, 40, 32], [3, 3, 1, 32], 1, 'same', 1],
    [[2, 41, 41, 24], [3, 3, 1, 48], 2, 'same', 1],
    [[1, 64, 64, 36], [3, 3, 1, 36], 2, 'valid', 1],
    [[2, 24, 24, 16], [3, 3, 4, 32], 1, 'same', 1],
    [[32, 28, 28, 1], [5, 5, 1, 6], 1, 'valid', 1],
    [[32, 12, 12, 6], [5, 5, 6, 16], 1, 'valid', 1],
    [[3, 47, 46, 6], [3, 3, 6, 12], 2, 'same', 1],
  ];

  it('conv2d forward, backward input and backward filter: identical bytes on 1, 2 and 3 threads', () => {
    for (const [xs, wsh, s, pad, d] of convs) {
      const g = convGeometry(xs, wsh, s, pad, d, 'test');
      const nx = xs.reduce((a, b) => a * b), nw = wsh.reduce((a, b) => a * b), ny = g.N * g.OH * g.OW * g.CO;
      const x = rand(nx, 1), w = rand(nw, 2), bias = rand(g.CO, 3), dy = rand(ny, 4);
      const what = `conv x ${xs} w ${wsh} s ${s} ${pad} d ${d}`;
      for (const act of [1, 6]) {
        check(`${what} forward act ${act}`, [x, w, bias], [ny], (be, [px, pw, pb], [py]) => {
          const geom = geometryBlock(be, g);
          be.kernels.conv2dForward(geom, px, pw, pb, py, act, 0, be.workspace(be.kernels.convWorkspaceSize(geom)));
        });
      }
      check(`${what} backward input`, [dy, w], [nx], (be, [pdy, pw], [pdx]) => {
        const geom = geometryBlock(be, g);
        be.kernels.conv2dBackwardInput(geom, pdy, pw, pdx, be.workspace(be.kernels.convWorkspaceSize(geom)));
      });
      check(`${what} backward filter`, [x, dy], [nw, g.CO], (be, [px, pdy], [pdw, pdb]) => {
        const geom = geometryBlock(be, g);
        be.kernels.conv2dBackwardFilter(geom, px, pdy, pdw, pdb, be.workspace(be.kernels.convWorkspaceSize(geom)));
      });
    }
  });

  it('pooling forward and backward: identical bytes on 1, 2 and 3 threads', () => {
    // [N, H, W, C, K, S, pad]: LeNet's pools (by images), one image with many channels (by channels), odd sizes
    const pools: Array<[number, number, number, number, number, number, number]> = [
      [32, 24, 24, 6, 2, 2, 0], [1, 56, 56, 64, 3, 2, 1], [1, 57, 55, 19, 3, 1, 1], [5, 41, 40, 10, 2, 2, 0],
    ];
    for (const [N, H, W, C, K, S, P] of pools) {
      const OH = Math.floor((H + 2 * P - K) / S) + 1, OW = Math.floor((W + 2 * P - K) / S) + 1;
      const x = rand(N * H * W * C, 5), dy = rand(N * OH * OW * C, 6);
      for (const kind of [Pool.max, Pool.avg]) {
        const what = `pool ${kind} ${N}x${H}x${W}x${C} k${K} s${S} p${P}`;
        check(`${what} forward`, [x], [N * OH * OW * C], (be, [px], [py]) => {
          be.kernels.pool2dForward(kind, N, H, W, C, K, K, S, S, P, P, OH, OW, px, py);
        });
        check(`${what} backward`, [x, dy], [N * H * W * C], (be, [px, pdy], [pdx]) => {
          be.kernels.pool2dBackward(kind, N, H, W, C, K, K, S, S, P, P, OH, OW, px, pdy, pdx);
        });
      }
    }
  });

  it('the activation masks and their backward pass: identical bytes on 1, 2 and 3 threads, and right', () => {
    // [rows, per]: a LeNet conv's batch, rows of odd length (a partial mask word), few long rows
    for (const [rows, per] of [[32, 112 * 112 * 3], [7, 32 * 5000 + 5], [3, 400000]]) {
      const y = rand(rows * per, 11), dy = rand(rows * per, 12), words = Math.ceil(per / 32);
      for (const [kind, p] of [[Act.relu, 0], [Act.relu6, 0], [Act.leakyRelu, 0.1]] as const) {
        const what = `act ${kind} mask ${rows}x${per}`;
        // the mask words (compared as bytes), then dx from them
        check(`${what}`, [y], [rows * words], (be, [py], [pm]) => be.kernels.actMask(kind, rows, per, py, pm));
        const masks = run(pairs.get('relaxed')!.one, [y], [rows * words], (pp, o) => pairs.get('relaxed')!.one.kernels.actMask(kind, rows, per, pp[0], o[0]))[0];
        const m = new Uint32Array(masks.buffer);
        check(`${what} backward`, [new Float32Array(m.buffer), dy], [rows * per], (be, [pm, pdy], [pdx]) => be.kernels.actMaskedBackward(rows, per, pm, pdy, pdx, p));
        // against plain loops: bit j of word w of row r is y > 0 (relu), 0 < y < 6 (relu6), y >= 0 (leaky)
        const on = (v: number) => (kind === Act.relu6 ? v > 0 && v < 6 : kind === Act.leakyRelu ? v >= 0 : v > 0);
        for (let r = 0; r < rows; r += Math.max(1, rows >> 2)) {
          for (let j = 0; j < per; j += 97) expect(((m[r * words + (j >> 5)] >>> (j & 31)) & 1) === 1, `${what} row ${r} element ${j}`).toBe(on(y[r * per + j]));
        }
      }
    }
  });

  it('countNonFinite counts NaN and both infinities, at every position of the SIMD loop and its tail', () => {
    const be = pairs.get('relaxed')!.one;
    for (const n of [0, 1, 3, 4, 5, 17, 1001]) {
      const x = rand(n, 13);
      const at = [0, 1, 2, 3, n - 1, n >> 1, 4].filter((i) => i >= 0 && i < n);
      const vals = [NaN, Infinity, -Infinity, NaN, -Infinity, 3.4e38, Infinity];
      at.forEach((i, k) => { x[i] = vals[k]; });
      const p = be.alloc(Math.max(4, n * 4));
      be.write(p, x);
      expect(be.kernels.countNonFinite(n, p), `n = ${n}`).toBe(x.filter((v) => !Number.isFinite(v)).length);
      be.free(p);
    }
  });

  /** A small CNN (conv, depthwise, pooling, dense; batch 16), trained 3 steps: the weights, then a prediction. */
  async function trainAndPredict(threads: number): Promise<{ threads: number; weights: Float32Array[]; pred: Float32Array }> {
    const be = await ready({ backend: 'wasm', wasmBuild: 'relaxed', threads });
    const model = eg.sequential([
      eg.layers.conv2d({ filters: 24, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [32, 32, 3], seed: 1 }),
      eg.layers.maxPool2d({ poolSize: 2 }),
      eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
      eg.layers.conv2d({ filters: 12, kernelSize: 5, activation: 'relu', seed: 3 }),
      eg.layers.averagePooling2d({ poolSize: 2 }),
      eg.layers.flatten(),
      eg.layers.dense({ units: 64, activation: 'relu', seed: 4 }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 5 }),
    ]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'categoricalCrossentropy' });
    const x = eg.tensor(rand(48 * 32 * 32 * 3, 7), [48, 32, 32, 3]);
    const labels = Array.from({ length: 48 }, (_, i) => (i * 7) % 10);
    const y = eg.tensor(Float32Array.from({ length: 480 }, (_, i) => (labels[Math.floor(i / 10)] === i % 10 ? 1 : 0)), [48, 10]);
    await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false });
    const weights = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
    const pred = model.predict(x).dataSync().slice() as Float32Array;
    return { threads: (be.threads?.threads ?? 0), weights, pred };
  }

  it('a model trains and predicts to the same bits with threads 1 and 2 (ready({ threads }))', async () => {
    const a = await trainAndPredict(1), b = await trainAndPredict(2);
    expect([a.threads, b.threads]).toEqual([1, 2]);
    expect(b.weights.length).toBe(a.weights.length);
    for (let i = 0; i < a.weights.length; i++) expect(Buffer.from(b.weights[i].buffer).equals(Buffer.from(a.weights[i].buffer)), `weight ${i}`).toBe(true);
    expect(Buffer.from(b.pred.buffer).equals(Buffer.from(a.pred.buffer))).toBe(true);
  });

  it('ready() reports threads and why, reuses a matching backend and rejects a bad count', async () => {
    const be = await ready({ backend: 'wasm', threads: 2 });
    expect(be.threads).toEqual({ threads: 2, reason: 'threads: 2 asked' });
    expect(await ready({ backend: 'wasm', threads: 2 })).toBe(be);
    expect(await ready({ backend: 'wasm' })).toBe(be); // no threads asked: whatever runs
    const one = await ready({ backend: 'wasm', threads: 1 });
    expect(one).not.toBe(be);
    expect(one.threads).toEqual({ threads: 1, reason: 'threads: 1 asked' });
    await expect(ready({ backend: 'wasm', threads: 0 })).rejects.toThrow(/threads must be a whole number >= 1/);
    // the scalar build has no threaded variant
    const scalar = await ready({ backend: 'wasm', wasmBuild: 'scalar', threads: 2 });
    expect(scalar.threads).toEqual({ threads: 1, reason: "the 'scalar' build has no threaded variant" });
    // default: the cores this runtime reports
    const def = await WasmBackend.create('simd');
    const cores = (await import('node:os')).availableParallelism();
    expect(def.threads.threads).toBe(Math.min(cores, 16));
    expect(def.threads.reason).toBe(cores > 1 ? `${cores} cores reported` : '1 core reported');
    def.dispose();
  });

  it('falls back to one thread, with the reason, where shared memory is missing or the page is not isolated', async () => {
    const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean };
    const sab = g.SharedArrayBuffer;
    try {
      g.SharedArrayBuffer = undefined;
      const be = await WasmBackend.create('relaxed', { threads: 2 });
      expect(be.threads.threads).toBe(1);
      expect(be.threads.reason).toMatch(/SharedArrayBuffer is not available/);
      expect(be.memory.buffer).toBeInstanceOf(ArrayBuffer);
      g.SharedArrayBuffer = sab;
      g.crossOriginIsolated = false;
      const page = await WasmBackend.create('relaxed', { threads: 2 });
      expect(page.threads).toEqual({ threads: 1, reason: 'the page is not cross-origin isolated (COOP same-origin + COEP require-corp)' });
      // and the single-threaded build computes what the threaded one does
      const ins = [rand(64 * 80, 1), rand(80 * 96, 2)];
      const f = (b: WasmBackend) => run(b, ins, [64 * 96], ([a, bb], [c]) => b.kernels.gemm(0, 0, 64, 96, 80, 1, a, 80, bb, 96, 0, c, 96, 0, 0, 0, b.workspace(b.kernels.gemmWorkspaceSize(64, 96, 80))));
      same(f(page), f(pairs.get('relaxed')!.two), 'fallback gemm');
    } finally {
      g.SharedArrayBuffer = sab;
      delete g.crossOriginIsolated;
    }
  });
});
