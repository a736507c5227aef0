// Kernel bugs the reference-backend work found, each pinned on all three wasm builds: the builds must agree
// with each other and with the rule the reference backend (src/backend/ref/) implements.
//   1. conv2dBackwardFilter with no output pixels (N * OH * OW = 0): dw is a sum over nothing, so 0.
//   2. quantizeU8 / qQuantizePackA saturate +-Infinity and values past the i32 range (ONNX QuantizeLinear);
//      qgemm's u8 output never traps on a NaN or huge product (the scalar build has no trunc_sat).
//   3. actBackward with x absent (0) reads x as zeros in every build, never heap address 0.
import { describe, expect, it } from 'vitest';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import type { WasmBuild } from '../src/backend/wasm/loader.js';
import { loadScalarBuild, loadSimdBuild } from '../src/backend/wasm/loader.js';

// the scalar build is a chunk loaded on demand
await loadScalarBuild();
await loadSimdBuild();
import { Act } from '../src/backend/kernels.js';

const BUILDS: WasmBuild[] = ['relaxed', 'simd', 'scalar'];
const QOUT_U8 = 1;

/** Run `f` on a fresh backend of every build; returns the results by build. */
function onEveryBuild<T>(f: (be: WasmBackend) => T): Record<WasmBuild, T> {
  const out = {} as Record<WasmBuild, T>;
  for (const b of BUILDS) out[b] = f(WasmBackend.createSync(b));
  return out;
}

function put(be: WasmBackend, data: Float32Array | Int32Array | Uint8Array): number {
  const p = be.alloc(Math.max(data.byteLength, 4));
  new Uint8Array(be.memory.buffer, p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return p;
}

describe('conv2dBackwardFilter with no output pixels writes dw = 0 on every build', () => {
  // N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, G, CO
  const cases: [string, number[]][] = [
    ['empty batch, 3x3, CO 5 (direct path on SIMD, implicit GEMM on scalar)', [0, 4, 4, 3, 3, 3, 1, 1, 0, 0, 1, 1, 2, 2, 1, 5]],
    ['empty batch, 3x3, CO 20 (implicit GEMM everywhere)', [0, 4, 4, 3, 3, 3, 1, 1, 0, 0, 1, 1, 2, 2, 1, 20]],
    ['empty batch, 1x1 (pointwise)', [0, 4, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1, 4, 4, 1, 5]],
    ['empty batch, grouped', [0, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 2, 6]],
    ['empty batch, depthwise', [0, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 4, 8]],
    ['no output rows (OH = 0)', [2, 2, 2, 3, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0, 1, 20]],
  ];
  it.each(cases)('%s', (_name, g) => {
    const [N, H, W, C, KH, KW, , , , , , , OH, OW, G, CO] = g;
    const dwLen = KH * KW * (C / G) * CO;
    const got = onEveryBuild((be) => {
      const k = be.kernels;
      const geom = put(be, Int32Array.from(g));
      const x = put(be, new Float32Array(N * H * W * C).fill(1)), dy = put(be, new Float32Array(N * OH * OW * CO).fill(1));
      const dw = put(be, new Float32Array(dwLen).fill(NaN)), db = put(be, new Float32Array(CO).fill(NaN));
      const ws = be.alloc(k.convWorkspaceSize(geom));
      k.conv2dBackwardFilter(geom, x, dy, dw, db, ws);
      return { dw: Array.from(be.f32(dw, dwLen)), db: Array.from(be.f32(db, CO)) };
    });
    for (const b of BUILDS) {
      expect(got[b].dw, `${b} dw`).toEqual(new Array(dwLen).fill(0));
      expect(got[b].db, `${b} db`).toEqual(new Array(CO).fill(0));
    }
  });
});

describe('u8 quantization saturates like ONNX QuantizeLinear on every build', () => {
  const ZPS = [0, 1, 100, 127, 128, 200, 255];

  it('quantizeU8: +Infinity and values past the i32 range give 255, -Infinity 0, NaN the zero point, whatever zp is', () => {
    // 20 values: 16 go through the SIMD builds' vector path, 4 through the scalar tail
    for (const [v, want] of [[Infinity, () => 255], [3e9, () => 255], [1e38, () => 255], [-Infinity, () => 0], [-3e9, () => 0], [NaN, (zp: number) => zp]] as const) {
      for (const zp of ZPS) {
        for (const scale of [1, 1e-30]) {
          const got = onEveryBuild((be) => {
            const x = put(be, new Float32Array(20).fill(v)), y = be.alloc(20);
            be.kernels.quantizeU8(20, x, scale, zp, y);
            return Array.from(new Uint8Array(be.memory.buffer, y, 20));
          });
          for (const b of BUILDS) expect(got[b], `${b}: quantizeU8(${v}) scale ${scale} zp ${zp}`).toEqual(new Array(20).fill(want(zp)));
        }
      }
    }
  });

  it('quantizeU8: every build gives the same bytes on mixed finite, huge and special values', () => {
    const r = (() => { let s = 7; return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296); })();
    const xs = Float32Array.from({ length: 203 }, (_, i) => [Infinity, -Infinity, NaN, 3e9, -3e9, 2147483520, -2147483648][i % 9] ?? (r() - 0.5) * 600);
    for (const zp of ZPS) {
      const got = onEveryBuild((be) => {
        const x = put(be, xs), y = be.alloc(xs.length);
        be.kernels.quantizeU8(xs.length, x, 0.5, zp, y);
        return Array.from(new Uint8Array(be.memory.buffer, y, xs.length));
      });
      expect(got.simd, `zp ${zp}`).toEqual(got.scalar);
      expect(got.relaxed, `zp ${zp}`).toEqual(got.scalar);
      // the rule itself, on the specials
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        if (v === Infinity || v >= 3e9) expect(got.scalar[i]).toBe(255);
        else if (v === -Infinity || v <= -3e9) expect(got.scalar[i]).toBe(0);
        else if (Number.isNaN(v)) expect(got.scalar[i]).toBe(zp);
      }
    }
  });

  it('qQuantizePackA: +Infinity packs as 255 (row sums too) for every zero point', () => {
    const M = 2, K = 20;
    for (const zp of ZPS) {
      const got = onEveryBuild((be) => {
        const k = be.kernels;
        const x = put(be, new Float32Array(M * K).fill(Infinity)), pa = be.alloc(k.qgemmPackedASize(M, K));
        k.qQuantizePackA(M, K, x, K, 1, zp, pa);
        const Kp = Math.ceil(K / 4) * 4, Mp = Math.ceil(M / 4) * 4;
        return {
          rows: Array.from({ length: M }, (_, m) => Array.from(new Uint8Array(be.memory.buffer, pa + m * Kp, K))),
          sums: Array.from(new Int32Array(be.memory.buffer, pa + Mp * Kp, M)),
        };
      });
      for (const b of BUILDS) {
        expect(got[b].rows, `${b} zp ${zp}`).toEqual([new Array(K).fill(255), new Array(K).fill(255)]);
        expect(got[b].sums, `${b} zp ${zp}`).toEqual([255 * K, 255 * K]);
      }
    }
  });

  it('qgemm u8 output: NaN, infinite and huge products saturate (no trap on the scalar build), every build alike', () => {
    const M = 4, N = 8, K = 4;
    // products: column n's multiplier times a positive accumulator (A = 1, W = 1: acc = K)
    const mult = Float32Array.of(NaN, Infinity, -Infinity, 1e30, -1e30, 3e9, 1, 0.5);
    const got = onEveryBuild((be) => {
      const k = be.kernels;
      const A = put(be, new Uint8Array(M * K).fill(1)), W = put(be, new Uint8Array(K * N).fill(1));
      const pa = be.alloc(k.qgemmPackedASize(M, K)), pb = be.alloc(k.qgemmPackedBSize(K, N)), cs = be.alloc(N * 4);
      k.qgemmPackA(M, K, A, K, pa);
      k.qgemmPackB(K, N, W, N, pb, cs, 0);
      const C = be.alloc(M * N), mp = put(be, mult), work = be.alloc(k.qgemmWorkSize(N, K));
      k.qgemm(M, N, K, pa, 0, pb, cs, 0, 0, QOUT_U8, C, N, mp, 0, 3, 250, 0, work);
      return Array.from(new Uint8Array(be.memory.buffer, C, M * N));
    });
    // zero point 0, clamp [3, 250]: NaN -> 0 -> 3; +inf / huge -> 250; -inf / -huge -> 3; K * 1 = 4; K * 0.5 = 2 -> 3
    const row = [3, 250, 3, 250, 3, 250, 4, 3];
    for (const b of BUILDS) expect(got[b], b).toEqual([...row, ...row, ...row, ...row]);
  });
});

describe('actBackward with x absent (0) reads x as zeros on every build', () => {
  for (const [name, kind, slope] of [['relu', Act.relu, 0], ['leakyRelu', Act.leakyRelu, 1]] as const) {
    it(`${name}: dx = dy * ${name}'(0), not the floats at heap address 0`, () => {
      for (const n of [8, 13]) {
        const got = onEveryBuild((be) => {
          // what a kernel reading address 0 as x would see: mixed signs
          new Float32Array(be.memory.buffer, 0, n).set(Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -(i + 1) : i + 1)));
          const dy = put(be, Float32Array.from({ length: n }, (_, i) => i + 1)), dx = be.alloc(n * 4);
          be.kernels.actBackward(kind, n, 0, 0, dy, dx, 0.2);
          return Array.from(be.f32(dx, n));
        });
        const want = Array.from({ length: n }, (_, i) => (i + 1) * slope);
        for (const b of BUILDS) expect(got[b], `${b} n=${n}`).toEqual(want);
      }
    });
  }

  it('relu and leakyRelu with x given are unchanged (the vector path): y in the x slot gives the same dx', () => {
    const n = 37;
    const x = Float32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? -i - 0.5 : i % 4 === 1 ? 0 : i));
    for (const [kind, p] of [[Act.relu, 0], [Act.leakyRelu, 0.2]] as const) {
      const got = onEveryBuild((be) => {
        const px = put(be, x), py = be.alloc(n * 4), dy = put(be, new Float32Array(n).fill(2)), d1 = be.alloc(n * 4), d2 = be.alloc(n * 4);
        be.kernels.actForward(kind, n, px, py, p);
        be.kernels.actBackward(kind, n, px, 0, dy, d1, p);
        be.kernels.actBackward(kind, n, py, 0, dy, d2, p);
        return [Array.from(be.f32(d1, n)), Array.from(be.f32(d2, n))];
      });
      const want = Array.from(x, (v) => (kind === Act.relu ? (v > 0 ? 2 : 0) : v >= 0 ? 2 : 2 * Math.fround(p)));
      for (const b of BUILDS) {
        expect(got[b][0], `${b} kind ${kind} from x`).toEqual(want.map(Math.fround));
        expect(got[b][1], `${b} kind ${kind} from y`).toEqual(want.map(Math.fround));
      }
    }
  });
});
