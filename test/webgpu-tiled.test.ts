// The tiled GEMM and the convolutions as implicit GEMMs on WebGPU (src/backend/webgpu/tiled.ts) against
// wasm, on shapes that cross tile edges (1, 31, 32, 33, 65, 100+ in M, N and K), every tile shape and K step
// (forced through the public ops), both transposes, alpha / beta / bias / epilogue on strided operands, and
// convolutions of odd geometry with both backward passes. Dawn on SwiftShader, as test/webgpu.test.ts.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as eg from '../src/index.js';
import { Tensor } from '../src/tensor.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import type { HeapBackend } from '../src/backend/heap.js';
import type { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { chooseTile, tiling, type Tile } from '../src/backend/webgpu/tiled.js';
import { expectClose, randArr, useBuild } from './helpers.js';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-tiled: CI must have the SwiftShader driver (Debian chromium)');

const data = (shape: number[], seed: number, lo = -1, hi = 1) => randArr(shape, seed, lo, hi).data;

/** Every tile the template makes: 4 or 8 outputs per thread on each side, K steps of 8, 16 and 32. */
const TILES: Tile[] = [];
for (const rm of [4, 8] as const) for (const rn of [4, 8] as const) for (const bk of [8, 16, 32] as const) TILES.push({ rm, rn, bk });
const name = (t: Tile) => `${8 * t.rm}x${8 * t.rn} k${t.bk}`;

describe.skipIf(!driver)('tiled GEMM and implicit-GEMM convolution on webgpu (Dawn on SwiftShader)', () => {
  let wasm: HeapBackend, gpu: WebGpuBackend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' }) as WebGpuBackend;
  });
  afterEach(() => { delete tiling.force; });

  async function both(f: () => Tensor | Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
    setBackend(wasm as Backend);
    const a = [f()].flat().map((t) => t.dataSync() as Float32Array);
    setBackend(gpu);
    const outs = [f()].flat();
    const b = await Promise.all(outs.map(async (t) => await t.data() as Float32Array));
    return [a, b];
  }

  async function same(what: string, f: () => Tensor | Tensor[], tol = 1e-5): Promise<void> {
    const [a, b] = await both(f);
    a.forEach((x, i) => expectClose(b[i], x, tol, `${what} [${i}]`));
  }

  /**
   * The raw gemm kernel on one backend: C (ldc wide, prefilled) = alpha op(A) op(B) + beta C + bias, act, with
   * leading dimensions wider than the matrices (operands at odd offsets inside their blocks).
   */
  async function rawGemm(be: HeapBackend, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number, act: number, p: number): Promise<Float32Array> {
    const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
    const a = data([(tA ? K : M) * lda], 31), b = data([(tB ? N : K) * ldb], 32), c = data([M * ldc], 33), bias = data([N], 34);
    const block = (xs: Float32Array) => { const at = be.alloc(xs.byteLength + 16); be.write(at + 4, xs); return at; };
    const A = block(a), B = block(b), C = block(c), BIAS = block(bias);
    const k = be.kernels;
    k.gemm(+tA, +tB, M, N, K, alpha, A + 4, lda, B + 4, ldb, beta, C + 4, ldc, BIAS + 4, act, p, be.workspace(k.gemmWorkspaceSize(M, N, K)));
    const out = new Float32Array((await be.read(C + 4, c.byteLength)).slice().buffer);
    for (const at of [A, B, C, BIAS]) be.free(at);
    return out;
  }

  it('chooses tiles from the workgroup storage and the workgroups a device needs; naive for small or thin problems', () => {
    // a GPU (64 workgroups to fill it): 64x64 tiles where they make that many, smaller ones where not
    expect(chooseTile('gemmNN', 16384, 512, 512, 1)).toEqual({ rm: 8, rn: 8, bk: 32 });
    expect(chooseTile('gemmNN', 16384, 256, 256, 1)).toEqual({ rm: 4, rn: 4, bk: 32 });
    // a software adapter (a few CPU threads): the largest tile
    expect(chooseTile('gemmNN', 16384, 256, 256, 1, 8)).toEqual({ rm: 8, rn: 8, bk: 32 });
    // conv tiles also hold a 16-byte record per row: a shallower K step where the deep one does not fit
    expect(chooseTile('convForward', 16384, 56 * 56, 64, 1)).toEqual({ rm: 8, rn: 4, bk: 32 });
    expect(chooseTile('convForward', 16384, 56 * 56, 64, 1, 8)).toEqual({ rm: 8, rn: 8, bk: 16 });
    expect(chooseTile('gemmNN', 32768, 2048, 2048, 1)).toEqual({ rm: 8, rn: 8, bk: 32 });
    expect(chooseTile('gemmNN', 4096, 512, 512, 1)).toEqual({ rm: 8, rn: 8, bk: 8 });
    expect(chooseTile('gemmNN', 2048, 512, 512, 1)).toEqual({ rm: 4, rn: 4, bk: 8 });
    expect(chooseTile('gemmNN', 1024, 512, 512, 1)).toBeUndefined();
    // small (a tile mostly empty) or thin (a matrix-vector product, depthwise: one column per group)
    expect(chooseTile('gemmNN', 16384, 9, 17, 1)).toBeUndefined();
    expect(chooseTile('gemmNN', 16384, 1, 1000, 1)).toBeUndefined();
    expect(chooseTile('convForward', 16384, 56 * 56, 1, 64)).toBeUndefined();
  });

  it('matMul across tile edges, both transposes, every tile shape and K step', async () => {
    const shapes: Array<[number, number, number]> = [[1, 1, 1], [31, 33, 32], [32, 32, 32], [33, 65, 31], [65, 1, 100], [100, 130, 67], [1, 100, 33]];
    for (const force of [undefined, ...TILES]) {
      tiling.force = force;
      // every shape on the tiles chosen; the edges (a partial tile in M, N and K; M = 1) on each forced tile
      for (const [M, K, N] of force ? [shapes[3], shapes[6]] : shapes) {
        for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
          const a = data([M * K], M + K), b = data([K * N], K + N);
          await same(`${force ? name(force) : 'chosen'} ${M}x${K}x${N} tA ${tA} tB ${tB}`,
            () => eg.matMul(eg.tensor(a, tA ? [K, M] : [M, K]), eg.tensor(b, tB ? [N, K] : [K, N]), tA, tB));
        }
      }
    }
  });

  it('fused bias and epilogues, batches', async () => {
    // large enough for a tile (SMALL), with partial tiles on every side
    const A = data([130, 70], 1), B = data([70, 41], 2), bias = data([41], 3);
    for (const activation of ['linear', 'relu', 'relu6', 'leakyRelu', 'elu'] as const) {
      await same(`fused ${activation}`, () => eg.fused.matMul({ a: eg.tensor(A, [130, 70]), b: eg.tensor(B, [70, 41]), bias: eg.tensor(bias), activation, alpha: 0.3 }));
    }
    await same('batched', () => eg.matMul(eg.tensor(data([3, 70, 20], 4), [3, 70, 20]), eg.tensor(data([1, 20, 65], 5), [1, 20, 65])));
  });

  it('the raw kernel: alpha, beta, bias, leaky epilogue, strided operands, on every tile', async () => {
    for (const force of [undefined, null, ...TILES]) {
      tiling.force = force;
      for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
        for (const [M, N, K] of [[33, 65, 31], [70, 40, 100]]) {
          const args = [tA, tB, M, N, K, 0.75, 0.5, 3, 0.2] as const;
          const want = await rawGemm(wasm, ...args), got = await rawGemm(gpu, ...args);
          expectClose(got, want, 1e-5, `${force === null ? 'naive' : force ? name(force) : 'chosen'} ${M}x${N}x${K} tA ${tA} tB ${tB}`);
        }
      }
    }
  });

  /** A conv's forward (bias, relu), input gradient and filter gradient. */
  function convAll(xs: number[], ws: number[], strides: number, pad: 'same' | 'valid', dilations: number, seed: number): () => Tensor[] {
    const x = data(xs, seed), w = data(ws, seed + 1), bias = data([ws[3]], seed + 2);
    return () => {
      const tx = eg.tensor(x, xs), tw = eg.tensor(w, ws);
      const y = eg.fused.conv2d({ x: tx, filter: tw, strides, pad, dilations, bias: eg.tensor(bias), activation: 'relu' });
      const dy = eg.tensor(data([...y.shape], seed + 3), [...y.shape]);
      const dx = eg.backprop.conv2dInput(xs as [number, number, number, number], dy, tw, strides, pad, dilations);
      const { dw } = eg.backprop.conv2dFilter(tx, dy, ws as [number, number, number, number], strides, pad, dilations);
      return [y, dx, dw];
    };
  }

  const CONVS: Array<[string, number[], number[], number, 'same' | 'valid', number]> = [
    // a 1x1 with unit strides is a plain GEMM on every pass; strided, it is gathered as the others
    ['1x1 at batch 32', [32, 5, 5, 12], [1, 1, 12, 33], 1, 'valid', 1],
    ['1x1 stride 2', [4, 9, 9, 16], [1, 1, 16, 40], 2, 'valid', 1],
    ['3x3 stride 2 padded', [2, 11, 9, 7], [3, 3, 7, 34], 2, 'same', 1],
    ['3x3 dilation 2', [2, 10, 9, 5], [3, 3, 5, 9], 1, 'same', 2],
    ['groups 2', [2, 9, 8, 6], [3, 3, 3, 10], 1, 'same', 1],
    ['5x5 valid', [3, 12, 11, 4], [5, 5, 4, 65], 1, 'valid', 1],
  ];

  it('convolution as an implicit GEMM: 1x1, strided, dilated, grouped, 5x5, forward and both backward passes', async () => {
    for (const [what, xs, ws, s, pad, dil] of CONVS) await same(what, convAll(xs, ws, s, pad, dil, xs[1]), 2e-5);
  });

  it('convolution on every tile shape and K step', async () => {
    for (const force of TILES.filter((t, i) => i % 2 === 0)) {
      tiling.force = force;
      for (const [what, xs, ws, s, pad, dil] of CONVS.slice(2, 5)) await same(`${what} ${name(force)}`, convAll(xs, ws, s, pad, dil, xs[1]), 2e-5);
    }
  });

  it('depthwise (the direct kernels: one column per group) with a multiplier, strided and padded, and both gradients', async () => {
    // groups = channels: depthwiseConv2d's filter [3, 3, 8, 2] as the grouped filter [3, 3, 1, 16]
    const xs = [2, 9, 10, 8], ws = [3, 3, 1, 16];
    await same('depthwise op', () => eg.depthwiseConv2d(eg.tensor(data(xs, 41), xs), eg.tensor(data([3, 3, 8, 2], 42), [3, 3, 8, 2]), 2, 'same'), 2e-5);
    await same('depthwise as groups', convAll(xs, ws, 2, 'same', 1, 43), 2e-5);
  });
});
