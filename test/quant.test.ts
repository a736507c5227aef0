// int8 kernels: the GEMM and the convolution equal a plain integer reference exactly, on every build, for
// 8-bit and 7-bit weights (the relaxed build's i8 x i7 dot path where the engine computes it right), odd
// sizes and padding; quantize / dequantize round half to even as ONNX does.
import { describe, expect, it } from 'vitest';
import { BUILDS, useBuild, rng } from './helpers.js';
import { int8MatMul, int8Conv2d, roundHalfEven, quantizeWeights, actQuantFromRange, fakeQuantize } from '../src/ops/quant.js';
import { convGeometry } from '../src/ops/conv.js';

function refMatMul(a: Uint8Array, M: number, K: number, za: number, w: Int8Array, N: number): Int32Array {
  const y = new Int32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (a[m * K + k] - za) * w[k * N + n];
    y[m * N + n] = s;
  }
  return y;
}

function refConv(x: Uint8Array, [N, H, W, C]: number[], za: number, w: Int8Array, [KH, KW, , CO]: number[], s: number, pad: 'same' | 'valid'): Int32Array {
  const g = convGeometry([N, H, W, C], [KH, KW, C, CO], [s, s], pad, [1, 1], 'ref');
  const y = new Int32Array(N * g.OH * g.OW * CO);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < g.OH; oy++) for (let ox = 0; ox < g.OW; ox++) for (let co = 0; co < CO; co++) {
    let acc = 0;
    for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy * s - g.PT + ky, ix = ox * s - g.PL + kx;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue; // padding holds za: (za - za) * w = 0
      for (let c = 0; c < C; c++) acc += (x[((n * H + iy) * W + ix) * C + c] - za) * w[((ky * KW + kx) * C + c) * CO + co];
    }
    y[((n * g.OH + oy) * g.OW + ox) * CO + co] = acc;
  }
  return y;
}

const bytes = (n: number, r: () => number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
const weights = (n: number, r: () => number, bits: 7 | 8) => Int8Array.from({ length: n }, () => (bits === 7 ? Math.floor(r() * 128) - 64 : Math.floor(r() * 256) - 128));

describe('int8 kernels', () => {
  for (const build of BUILDS) {
    it(`${build}: GEMM equals the integer reference exactly (odd sizes, 7- and 8-bit weights)`, () => {
      useBuild(build);
      const r = rng(7);
      for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [4, 8, 4], [13, 17, 33], [64, 24, 300], [5, 100, 1]]) {
        for (const bits of [7, 8] as const) {
          const a = bytes(M * K, r), w = weights(K * N, r, bits), za = Math.floor(r() * 256);
          expect(int8MatMul(a, M, K, za, w, N), `${M}x${N}x${K} ${bits}-bit`).toEqual(refMatMul(a, M, K, za, w, N));
        }
      }
      // extremes: every product at its largest magnitude
      const a = new Uint8Array(4 * 64).fill(255), w = new Int8Array(64 * 8).fill(-128);
      expect(int8MatMul(a, 4, 64, 0, w, 8)).toEqual(refMatMul(a, 4, 64, 0, w, 8));
    });

    it(`${build}: GEMM sweep across the wide (i16, short K) and quad layouts: K around 64, N around the 8-column tile, M of 1 and 32`, () => {
      useBuild(build);
      const r = rng(21);
      for (const K of [2, 15, 17, 61, 63, 64, 65, 67, 129]) for (const N of [1, 7, 8, 9, 23]) for (const M of [1, 3, 32]) {
        const a = bytes(M * K, r), w = weights(K * N, r, 8), za = Math.floor(r() * 256);
        expect(int8MatMul(a, M, K, za, w, N), `${M}x${N}x${K}`).toEqual(refMatMul(a, M, K, za, w, N));
      }
    });

    it(`${build}: convolution equals the integer reference exactly (stride, padding, 1x1, odd channels)`, () => {
      useBuild(build);
      const r = rng(9);
      const cases: Array<{ x: number[]; f: number[]; s: number; pad: 'same' | 'valid' }> = [
        { x: [2, 7, 6, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' },
        { x: [1, 9, 9, 4], f: [3, 3, 4, 8], s: 2, pad: 'same' },
        { x: [1, 5, 4, 6], f: [1, 1, 6, 7], s: 1, pad: 'valid' },
        { x: [3, 6, 6, 1], f: [5, 5, 1, 2], s: 1, pad: 'valid' },
      ];
      for (const c of cases) {
        for (const bits of [7, 8] as const) {
          const size = c.x.reduce((p, q) => p * q, 1), x = bytes(size, r), w = weights(c.f.reduce((p, q) => p * q, 1), r, bits), za = 1 + Math.floor(r() * 254);
          const got = int8Conv2d(x, c.x, za, w, c.f, c.s, c.pad);
          expect(got.y, `${JSON.stringify(c)} ${bits}-bit`).toEqual(refConv(x, c.x, za, w, c.f, c.s, c.pad));
        }
      }
    });
  }

  it('rounding is half to even; weight and activation quantization hold their ranges', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
    const { w, scale } = quantizeWeights([1, -2, 0.5, 4, -1, 0], 3, 2);
    expect(Array.from(scale)).toEqual([Math.fround(1 / 127), Math.fround(4 / 127)]);
    expect(Array.from(w)).toEqual([127, -64, 64, 127, -127, 0]);
    const q = actQuantFromRange(-1, 3);
    expect(q.zeroPoint).toBe(64);
    const y = new Float32Array(3);
    fakeQuantize(Float32Array.from([0, 1.0001, 100]), y, q.scale, q.zeroPoint, 0, 255);
    expect(y[0]).toBe(0); // zero is exact
    expect(Math.abs(y[1] - 1.0001)).toBeLessThanOrEqual(q.scale / 2);
    expect(y[2]).toBeCloseTo((255 - 64) * q.scale, 6); // saturates
    expect(() => actQuantFromRange(0, Infinity)).toThrow(/not finite/);
  });
});
