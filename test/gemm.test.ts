// GEMM against the float64 reference over edge-case shapes (1, primes, tile +- 1, K beyond one KC block),
// both transposes, alpha/beta, bias and fused activations; gradients against finite differences.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import { matMul, fusedMatMul, matMulGrad, refMatMul } from '../src/ops/matmul.js';
import { refActivation } from '../src/ops/activation.js';
import { supportedBuilds } from '../src/backend/wasm/loader.js';
import type { HeapBackend } from '../src/backend/index.js';

it('every wasm build validates in this runtime (relaxed SIMD via --experimental-wasm-relaxed-simd on Node 20)', () => {
  expect(supportedBuilds()).toEqual(['relaxed', 'simd', 'scalar']);
});

const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17];

describe.each(BACKENDS)('gemm (%s build)', (build) => {
  let be: HeapBackend;
  beforeAll(() => { be = useBuild(build); });

  it('matches the reference for every M, N, K in an edge sweep and all transposes', () => {
    let seed = 1;
    for (const M of SIZES) for (const N of SIZES) for (const K of [1, 3, 8, 17]) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = randArr(tA ? [K, M] : [M, K], seed++), b = randArr(tB ? [N, K] : [K, N], seed++);
        const got = matMul(t(a), t(b), tA, tB);
        expect(got.shape).toEqual([M, N]);
        expectClose(got.dataSync(), refMatMul(a, b, tA, tB).data, 1e-5, `M=${M} N=${N} K=${K} tA=${tA} tB=${tB}`);
      }
    }
  });

  it('handles K across several KC blocks and M, N across MC blocks and panels', () => {
    for (const [M, N, K] of [[130, 33, 600], [257, 9, 513], [5, 70, 1000], [64, 64, 256], [200, 31, 257]]) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = randArr(tA ? [K, M] : [M, K], M + K), b = randArr(tB ? [N, K] : [K, N], N * 7 + K);
        expectClose(matMul(t(a), t(b), tA, tB).dataSync(), refMatMul(a, b, tA, tB).data, 1e-5, `${M}x${N}x${K} tA=${tA} tB=${tB}`);
      }
    }
  });

  it('applies alpha, beta (accumulating into C) and a bias + activation epilogue', () => {
    for (const [M, N, K] of [[1, 5, 7], [3, 9, 4], [6, 10, 300], [33, 17, 5]]) {
      const a = randArr([M, K], 1), b = randArr([K, N], 2), c0 = randArr([M, N], 3), bias = randArr([N], 4);
      const k = be.kernels;
      const pa = be.alloc(M * K * 4), pb = be.alloc(K * N * 4), pc = be.alloc(M * N * 4), pbias = be.alloc(N * 4);
      be.f32(pa, M * K).set(a.data); be.f32(pb, K * N).set(b.data); be.f32(pc, M * N).set(c0.data); be.f32(pbias, N).set(bias.data);
      const alpha = 0.75, beta = -0.5;
      k.gemm(0, 0, M, N, K, alpha, pa, K, pb, N, beta, pc, N, pbias, 3 /* leakyRelu */, 0.1, be.workspace(k.gemmWorkspaceSize(M, N, K)));
      const ab = refMatMul(a, b).data;
      const want = Array.from(ab, (v, i) => { const z = alpha * v + beta * c0.data[i] + bias.data[i % N]; return z >= 0 ? z : 0.1 * z; });
      expectClose(be.f32(pc, M * N), want, 1e-5, `epilogue ${M}x${N}x${K}`);
      [pa, pb, pc, pbias].forEach((p) => be.free(p));
    }
  });

  it('never reads C when beta is 0 (garbage and NaN in C are overwritten)', () => {
    const M = 9, N = 11, K = 6;
    const a = randArr([M, K], 5), b = randArr([K, N], 6);
    const k = be.kernels;
    const pa = be.alloc(M * K * 4), pb = be.alloc(K * N * 4), pc = be.alloc(M * N * 4);
    be.f32(pa, M * K).set(a.data); be.f32(pb, K * N).set(b.data); be.f32(pc, M * N).fill(NaN);
    k.gemm(0, 0, M, N, K, 1, pa, K, pb, N, 0, pc, N, 0, 0, 0, be.workspace(k.gemmWorkspaceSize(M, N, K)));
    expectClose(be.f32(pc, M * N), refMatMul(a, b).data, 1e-5, 'beta 0');
  });

  it('fuses every named activation after the bias', () => {
    const a = randArr([6, 5], 7), b = randArr([5, 9], 8), bias = randArr([9], 9);
    for (const act of ['relu', 'relu6', 'leakyRelu', 'sigmoid', 'tanh', 'elu', 'softmax'] as const) {
      const got = fusedMatMul({ a: t(a), b: t(b), bias: t(bias), activation: act });
      const z = refMatMul(a, b);
      for (let i = 0; i < z.data.length; i++) (z.data as Float64Array)[i] += bias.data[i % 9];
      expectClose(got.dataSync(), refActivation(z, act).data, 1e-5, act);
    }
  });

  it('batches rank-3 operands, broadcasting a batch of 1', () => {
    const a = randArr([3, 4, 5], 10), b = randArr([1, 5, 6], 11);
    const got = matMul(t(a), t(b)).dataSync();
    for (let i = 0; i < 3; i++) {
      const ai = { shape: [4, 5], data: a.data.subarray(i * 20, i * 20 + 20) };
      expectClose(got.subarray(i * 24, i * 24 + 24), refMatMul(ai, { shape: [5, 6], data: b.data }).data, 1e-5, `batch ${i}`);
    }
  });

  it('gradients match central finite differences for all transposes', () => {
    for (const tA of [false, true]) for (const tB of [false, true]) {
      const M = 5, N = 7, K = 6;
      const a = randArr(tA ? [K, M] : [M, K], 12), b = randArr(tB ? [N, K] : [K, N], 13), g = randArr([M, N], 14);
      const { da, db } = matMulGrad(t(a), t(b), t(g), tA, tB);
      const fa = (x: Float64Array) => dot(g.data, refMatMul({ shape: a.shape, data: x }, b, tA, tB).data);
      const fb = (x: Float64Array) => dot(g.data, refMatMul(a, { shape: b.shape, data: x }, tA, tB).data);
      expectGradClose(da.dataSync(), numericGrad(fa, a.data), `dA tA=${tA} tB=${tB}`);
      expectGradClose(db.dataSync(), numericGrad(fb, b.data), `dB tA=${tA} tB=${tB}`);
    }
  });
});
