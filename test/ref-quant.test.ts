// The reference backend's int8 GEMM and quantization kernels (src/backend/ref/quant.ts) against the wasm
// kernels of every build: identical inputs in both heaps, integer outputs compared exactly and float outputs
// bit for bit. Packed layouts are private, so packers are compared through qgemm's results (and colSums).
import { describe, expect, it, beforeAll } from 'vitest';
import { WasmBackend } from '../src/backend/wasm/backend.js';
import { RefMemory } from '../src/backend/ref/memory.js';
import { quantKernels } from '../src/backend/ref/quant.js';
import type { Kernels } from '../src/backend/kernels.js';
import { rng } from './helpers.js';

const BUILDS = ['relaxed', 'simd', 'scalar'] as const;
const QOUT_I32 = 0, QOUT_U8 = 1, QOUT_F32 = 2, QOUT_U8F = 3;
type QK = ReturnType<typeof quantKernels>;

/** One wasm backend and one reference heap (bump-allocated), with byte buffers mirrored into both. */
class Twin {
  readonly ref: QK;
  readonly mem = new RefMemory(512);
  private top = 64;
  private wasmPtrs: number[] = [];
  constructor(readonly be: WasmBackend) { this.ref = quantKernels(this.mem); }

  /** A buffer of `bytes` bytes in both heaps, filled with `init` (bytes; default a 0xA5 sentinel). */
  buf(bytes: number, init?: ArrayBufferView): { w: number; r: number; bytes: number } {
    const w = this.be.alloc(Math.max(bytes, 1)), r = this.top;
    this.wasmPtrs.push(w);
    this.top += Math.ceil(Math.max(bytes, 1) / 64) * 64;
    if (this.top > this.mem.buffer.byteLength) throw new Error('test heap too small');
    const src = init ? new Uint8Array(init.buffer, init.byteOffset, init.byteLength) : new Uint8Array(bytes).fill(0xa5);
    new Uint8Array(this.be.memory.buffer, w, bytes).set(src.subarray(0, bytes));
    new Uint8Array(this.mem.buffer, r, bytes).set(src.subarray(0, bytes));
    return { w, r, bytes };
  }
  /** The bytes of a buffer in both heaps. */
  bytes(b: { w: number; r: number; bytes: number }): { want: Uint8Array; got: Uint8Array } {
    return { want: new Uint8Array(this.be.memory.buffer, b.w, b.bytes).slice(), got: new Uint8Array(this.mem.buffer, b.r, b.bytes).slice() };
  }
  expectSame(b: { w: number; r: number; bytes: number }, what: string): void {
    const { want, got } = this.bytes(b);
    for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) throw new Error(`${what}: byte ${i} differs (wasm ${want[i]}, ref ${got[i]})`);
  }
  reset(): void {
    for (const p of this.wasmPtrs) this.be.free(p);
    this.wasmPtrs = [];
    this.top = 64;
  }
}

const s8 = (n: number, r: () => number, lo = -128, hi = 127) => Int8Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
const u8s = (n: number, r: () => number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));

/** Packed weights and activations in both heaps; qgemm's pointers for each side. */
function setup(t: Twin, r: () => number, M: number, N: number, K: number, o: { lda: number; ldw: number; w7: boolean; relaxed7: number }) {
  const W = t.buf(K * o.ldw, o.w7 ? s8(K * o.ldw, r, -64, 63) : s8(K * o.ldw, r));
  const A = t.buf(M * o.lda, u8s(M * o.lda, r));
  const wk = t.be.kernels, rk = t.ref;
  const pb = { w: t.be.alloc(Math.max(1, wk.qgemmPackedBSize(K, N))), r: 0 };
  const pbRef = t.buf(rk.qgemmPackedBSize(K, N));
  pb.r = pbRef.r;
  const cs = t.buf(N * 4);
  wk.qgemmPackB(K, N, W.w, o.ldw, pb.w, cs.w, o.relaxed7);
  rk.qgemmPackB(K, N, W.r, o.ldw, pb.r, cs.r, o.relaxed7);
  t.expectSame(cs, `colSums ${K}x${N}`);
  const pa = { w: t.be.alloc(Math.max(1, wk.qgemmPackedASize(M, K))), r: t.buf(rk.qgemmPackedASize(M, K)).r };
  wk.qgemmPackA(M, K, A.w, o.lda, pa.w);
  rk.qgemmPackA(M, K, A.r, o.lda, pa.r);
  const work = { w: t.be.alloc(Math.max(1, wk.qgemmWorkSize(N, K))), r: t.buf(rk.qgemmWorkSize(N, K)).r };
  const extra = [pb.w, pa.w, work.w];
  return { W, A, pb, cs, pa, work, free: () => extra.forEach((p) => t.be.free(p)) };
}

describe.each(BUILDS)('ref int8 GEMM and quantization vs wasm (%s build)', (build) => {
  let t: Twin;
  let dotOk = false;
  beforeAll(() => {
    const be = WasmBackend.createSync(build);
    // the relaxed-dot encoding is tested wherever the engine computes it exactly, faster here or not
    dotOk = be.int8Path.relaxedExact === true;
    t = new Twin(be);
  });

  it('says which int8 inner product it runs and why, and takes the relaxed dot only where it chose it', () => {
    const be = WasmBackend.createSync(build), path = be.int8Path;
    expect(path.dot).toBe({ scalar: 'scalar', simd: 'simd128' }[build as string] ?? (path.relaxedExact && path.relaxedMs! < path.simd128Ms! ? 'relaxed-dot' : 'simd128'));
    expect(path.reason.length).toBeGreaterThan(10);
    expect(be.relaxedDotOk()).toBe(path.dot === 'relaxed-dot');
    if (path.relaxedExact) expect(path.relaxedMs! > 0 && path.simd128Ms! > 0).toBe(true);
  });

  it('has the wasm exports\' parameter counts', () => {
    const wk = t.be.kernels as unknown as Record<string, (...a: number[]) => unknown>;
    for (const [name, f] of Object.entries(t.ref)) expect([name, f.length]).toEqual([name, wk[name].length]);
    expect(Object.keys(t.ref).sort()).toEqual(['dequantizeU8', 'qQuantizePackA', 'qWeightsAre7Bit', 'qdepthwise', 'qdepthwiseWorkSize',
      'qgemm', 'qgemmPackA', 'qgemmPackB', 'qgemmPackedASize', 'qgemmPackedBSize', 'qgemmWorkSize', 'qim2col', 'quantizeU8'] satisfies (keyof Kernels)[]);
  });

  it('qWeightsAre7Bit agrees on 7-bit, 8-bit and edge weights, with a row stride', () => {
    const r = rng(1);
    for (const [K, N, ldw] of [[0, 5, 5], [3, 0, 1], [1, 1, 1], [5, 7, 9], [17, 13, 13], [4, 8, 11]]) {
      for (const v of [null, -64, 63, -65, 64, -128, 127]) {
        const w = s8(K * ldw || 1, r, -64, 63);
        if (v !== null && K * N > 0) w[Math.floor(r() * K) * ldw + Math.floor(r() * N)] = v;
        if (ldw > N && K > 0) w[ldw - 1] = 100; // past the row: never read
        const W = t.buf(w.length, w);
        expect(t.ref.qWeightsAre7Bit(K, N, W.r, ldw), `${K}x${N} ${v}`).toBe(t.be.kernels.qWeightsAre7Bit(K, N, W.w, ldw));
        t.reset();
      }
    }
  });

  it('qgemm (i32 sums) matches for odd shapes, zero points, biases and strides', () => {
    const r = rng(2);
    const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17];
    for (const M of sizes) for (const N of sizes) for (const K of [1, 3, 4, 8, 17, 37]) {
      const w7 = r() < 0.5, relaxed7 = w7 && dotOk ? 1 : 0;
      const lda = K + (r() < 0.3 ? 3 : 0), ldw = N + (r() < 0.3 ? 2 : 0), ldc = N + (r() < 0.3 ? 5 : 0);
      const s = setup(t, r, M, N, K, { lda, ldw, w7, relaxed7 });
      const bias = r() < 0.5 ? t.buf(N * 4, Int32Array.from({ length: N }, () => Math.floor((r() - 0.5) * 2e6))) : null;
      const za = Math.floor(r() * 256);
      const C = t.buf(((M - 1) * ldc + N) * 4);
      t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, bias ? bias.w : 0, relaxed7, QOUT_I32, C.w, ldc, 0, 0, 0, 255, 0, s.work.w);
      t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, bias ? bias.r : 0, relaxed7, QOUT_I32, C.r, ldc, 0, 0, 0, 255, 0, s.work.r);
      t.expectSame(C, `i32 M=${M} N=${N} K=${K} za=${za} w7=${w7}`);
      s.free();
      t.reset();
    }
  });

  it('qgemm matches for large K, extreme operands and zero sizes', () => {
    const r = rng(3);
    for (const [M, N, K, fill] of [[5, 9, 1031, 'max'], [4, 8, 600, 'min'], [33, 19, 257, 'rand'], [0, 5, 7, 'rand'], [3, 0, 7, 'rand'], [3, 5, 0, 'rand']] as const) {
      const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
      if (fill !== 'rand') {
        for (const side of [t.be.memory.buffer, t.mem.buffer]) {
          const isW = side === t.be.memory.buffer;
          new Uint8Array(side, isW ? s.A.w : s.A.r, M * K).fill(255);
          new Int8Array(side, isW ? s.W.w : s.W.r, K * N).fill(fill === 'max' ? 127 : -128);
        }
        t.be.kernels.qgemmPackB(K, N, s.W.w, N, s.pb.w, s.cs.w, 0);
        t.ref.qgemmPackB(K, N, s.W.r, N, s.pb.r, s.cs.r, 0);
        t.be.kernels.qgemmPackA(M, K, s.A.w, K, s.pa.w);
        t.ref.qgemmPackA(M, K, s.A.r, K, s.pa.r);
        t.expectSame(s.cs, 'extreme colSums');
      }
      const C = t.buf(Math.max(0, M * N * 4));
      for (const za of [0, 255, 77]) {
        t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, 0, 0, QOUT_I32, C.w, N, 0, 0, 0, 255, 0, s.work.w);
        t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, 0, 0, QOUT_I32, C.r, N, 0, 0, 0, 255, 0, s.work.r);
        t.expectSame(C, `i32 ${M}x${N}x${K} ${fill} za=${za}`);
      }
      s.free();
      t.reset();
    }
  });

  it('qgemm requantizes to u8 (half-to-even, zero point, qmin/qmax clamps) exactly', () => {
    const r = rng(4);
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [4, 8, 8], [9, 17, 13], [6, 11, 40]]) {
      for (const [zy, qmin, qmax] of [[0, 0, 255], [128, 0, 255], [7, 10, 200], [-300, 0, 255], [300, -5, 400], [0, 0, 6]]) {
        const ldc = N + (r() < 0.5 ? 3 : 0);
        const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
        const bias = t.buf(N * 4, Int32Array.from({ length: N }, () => Math.floor((r() - 0.5) * 4e4)));
        // some multipliers land products on exact halves (powers of two), others are arbitrary
        const mult = t.buf(N * 4, Float32Array.from({ length: N }, (_, n) => n % 3 === 0 ? 2 ** -(1 + Math.floor(r() * 8)) : (r() - 0.3) * 0.01));
        const za = Math.floor(r() * 256);
        const C = t.buf((M - 1) * ldc + N);
        t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, bias.w, 0, QOUT_U8, C.w, ldc, mult.w, zy, qmin, qmax, 0, s.work.w);
        t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, bias.r, 0, QOUT_U8, C.r, ldc, mult.r, zy, qmin, qmax, 0, s.work.r);
        t.expectSame(C, `u8 ${M}x${N}x${K} zy=${zy} [${qmin}, ${qmax}]`);
        s.free();
        t.reset();
      }
    }
  });

  it('qgemm dequantizes to f32 with linear / ReLU / ReLU6 epilogues bit for bit', () => {
    const r = rng(5);
    for (const [M, N, K] of [[1, 1, 1], [2, 8, 5], [5, 16, 9], [7, 13, 33], [4, 3, 2], [11, 24, 17]]) {
      for (const act of [0, 1, 2]) {
        const ldc = N + (r() < 0.5 ? 1 : 0);
        const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
        const bias = t.buf(N * 4, Int32Array.from({ length: N }, () => Math.floor((r() - 0.5) * 1e5)));
        const mult = t.buf(N * 4, Float32Array.from({ length: N }, () => (r() - 0.3) * 3e-4));
        const za = Math.floor(r() * 256);
        const C = t.buf(((M - 1) * ldc + N) * 4);
        for (const useBias of [true, false]) {
          t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, useBias ? bias.w : 0, 0, QOUT_F32, C.w, ldc, mult.w, 0, 0, 255, act, s.work.w);
          t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, useBias ? bias.r : 0, 0, QOUT_F32, C.r, ldc, mult.r, 0, 0, 255, act, s.work.r);
          t.expectSame(C, `f32 ${M}x${N}x${K} act=${act} bias=${useBias}`);
        }
        s.free();
        t.reset();
      }
    }
  });

  it('qgemm QOUT_U8F: the f32 epilogue quantized in the kernel gives quantizeU8 of QOUT_F32\'s output, bit for bit', () => {
    const r = rng(15);
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [4, 8, 8], [9, 17, 13], [6, 11, 40], [5, 24, 33], [13, 16, 3]]) {
      for (const act of [0, 1, 2]) for (const zy of [0, 131, 255]) {
        const ldc = N + (r() < 0.5 ? 3 : 0);
        const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
        const bias = t.buf(N * 4, Int32Array.from({ length: N }, () => Math.floor((r() - 0.5) * 4e4)));
        // N multipliers, then the output scale (some of them exact powers of two: ties)
        const ys = [2 ** -5, 0.0173, 0.3][Math.floor(r() * 3)];
        const mult = t.buf((N + 1) * 4, Float32Array.from({ length: N + 1 }, (_, n) => n === N ? ys : n % 3 === 0 ? 2 ** -(6 + Math.floor(r() * 8)) : (r() - 0.3) * 3e-3));
        const za = Math.floor(r() * 256);
        const C = t.buf((M - 1) * ldc + N), F = t.buf(((M - 1) * ldc + N) * 4), D = t.buf((M - 1) * ldc + N);
        t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, bias.w, 0, QOUT_U8F, C.w, ldc, mult.w, zy, 0, 255, act, s.work.w);
        t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, bias.r, 0, QOUT_U8F, C.r, ldc, mult.r, zy, 0, 255, act, s.work.r);
        const what = `u8f ${M}x${N}x${K} act=${act} zy=${zy}`;
        t.expectSame(C, what);
        // the definition: QOUT_F32's floats through quantizeU8
        t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, bias.w, 0, QOUT_F32, F.w, ldc, mult.w, 0, 0, 255, act, s.work.w);
        t.be.kernels.quantizeU8((M - 1) * ldc + N, F.w, ys, zy, D.w);
        const got = new Uint8Array(t.be.memory.buffer, C.w, C.bytes), want = new Uint8Array(t.be.memory.buffer, D.w, D.bytes);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          if (got[m * ldc + n] !== want[m * ldc + n]) throw new Error(`${what}: [${m}, ${n}] is ${got[m * ldc + n]}, quantizeU8 of the f32 output gives ${want[m * ldc + n]}`);
        }
        s.free();
        t.reset();
      }
    }
  });

  it('qgemm reads colSums through its pointer (the za term uses what it is given)', () => {
    const r = rng(6);
    const M = 5, N = 9, K = 6;
    const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
    const fake = Int32Array.from({ length: N }, () => Math.floor((r() - 0.5) * 1e4));
    new Int32Array(t.be.memory.buffer, s.cs.w, N).set(fake);
    new Int32Array(t.mem.buffer, s.cs.r, N).set(fake);
    const C = t.buf(M * N * 4);
    t.be.kernels.qgemm(M, N, K, s.pa.w, 99, s.pb.w, s.cs.w, 0, 0, QOUT_I32, C.w, N, 0, 0, 0, 255, 0, s.work.w);
    t.ref.qgemm(M, N, K, s.pa.r, 99, s.pb.r, s.cs.r, 0, 0, QOUT_I32, C.r, N, 0, 0, 0, 255, 0, s.work.r);
    t.expectSame(C, 'fake colSums');
    s.free();
    t.reset();
  });

  it.runIf(build === 'relaxed')('relaxed7 (7-bit weights) gives the same colSums and sums as the plain path', () => {
    // wasm takes the relaxed-dot encoding only where the engine computes it right (relaxedDotOk)
    const r = rng(7);
    const relaxed7 = dotOk ? 1 : 0;
    for (const [M, N, K] of [[1, 1, 1], [5, 9, 7], [4, 8, 16], [13, 17, 33]]) {
      const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: true, relaxed7 });
      const csPlain = t.buf(N * 4), pbPlain = t.buf(t.ref.qgemmPackedBSize(K, N));
      t.ref.qgemmPackB(K, N, s.W.r, N, pbPlain.r, csPlain.r, 0);
      expect(t.bytes(csPlain).got).toEqual(t.bytes(s.cs).want);
      const C = t.buf(M * N * 4);
      for (const za of [0, 128, 255]) {
        t.be.kernels.qgemm(M, N, K, s.pa.w, za, s.pb.w, s.cs.w, 0, relaxed7, QOUT_I32, C.w, N, 0, 0, 0, 255, 0, s.work.w);
        t.ref.qgemm(M, N, K, s.pa.r, za, s.pb.r, s.cs.r, 0, relaxed7, QOUT_I32, C.r, N, 0, 0, 0, 255, 0, s.work.r);
        t.expectSame(C, `relaxed7=${relaxed7} ${M}x${N}x${K} za=${za}`);
      }
      s.free();
      t.reset();
    }
  });

  it('quantizeU8 and dequantizeU8 match (half-to-even ties, saturation, NaN, zero sizes)', () => {
    const r = rng(8);
    for (const n of [0, 1, 7, 15, 16, 17, 31, 32, 33, 100]) {
      for (const [scale, zp] of [[0.1, 0], [0.0390625, 128], [1, 3], [0.5, 255], [0.007, 17]]) {
        const x = Float32Array.from({ length: n }, (_, i) => {
          const c = r();
          if (c < 0.3) return Math.fround(scale) * (Math.floor((r() - 0.5) * 600) + 0.5); // ties (where exact)
          if (c < 0.35) return NaN;
          if (c < 0.4) return -Infinity;
          if (c < 0.45) return (r() - 0.5) * 1e6; // saturates, within i32 after division for these scales
          if (c < 0.48) return Infinity;
          return (r() - 0.5) * 300 * scale;
        });
        const X = t.buf(n * 4, x), Y = t.buf(n);
        t.be.kernels.quantizeU8(n, X.w, scale, zp, Y.w);
        t.ref.quantizeU8(n, X.r, scale, zp, Y.r);
        t.expectSame(Y, `quantizeU8 n=${n} scale=${scale} zp=${zp}`);
        const D = t.buf(n * 4);
        t.be.kernels.dequantizeU8(n, Y.w, scale, zp, D.w);
        t.ref.dequantizeU8(n, Y.r, scale, zp, D.r);
        t.expectSame(D, `dequantizeU8 n=${n} scale=${scale} zp=${zp}`);
        t.reset();
      }
    }
  });

  it('quantizeU8 rounds and saturates exactly around +-2^22, +-2^23, +-2^24 (where float spacing passes 1 and 2), -0 and subnormals', () => {
    const edges = [0, -0, 1e-45, -1e-45, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 254.5, 255.5, 127.5, -127.5, 4194303.5, 4194304, 4194304.5, 4194305,
      -4194303.5, -4194304, -4194305, 8388607.5, 8388608, 8388609, -8388608, 16777216, -16777216, 3e9, -3e9, 32767.5, -32768.5, 32768, -32769];
    const x = new Float32Array(edges.length * 2);
    edges.forEach((v, i) => { x[i] = v; x[edges.length + i] = Math.fround(v) + (i % 2 ? 1 : -1) * Math.abs(Math.fround(v)) * 2 ** -23; });
    for (const [scale, zp] of [[1, 0], [1, 128], [1, 255], [0.5, 7], [2, 200]]) {
      const X = t.buf(x.length * 4, x), Y = t.buf(x.length);
      t.be.kernels.quantizeU8(x.length, X.w, scale, zp, Y.w);
      t.ref.quantizeU8(x.length, X.r, scale, zp, Y.r);
      t.expectSame(Y, `quantizeU8 edges scale=${scale} zp=${zp}`);
      t.reset();
    }
  });

  it('qQuantizePackA -> qgemm matches quantizeU8 + qgemmPackA and wasm (dense path)', () => {
    const r = rng(9);
    for (const [M, K, N] of [[1, 1, 1], [3, 15, 5], [4, 16, 8], [5, 17, 9], [7, 33, 3], [2, 100, 11]]) {
      const ldx = K + (r() < 0.5 ? 4 : 0);
      const scale = 0.02 + r() * 0.05, zp = Math.floor(r() * 256);
      const x = Float32Array.from({ length: M * ldx }, () => (r() < 0.1 ? Math.fround(scale) * (Math.floor((r() - 0.5) * 400) + 0.5) : (r() - 0.5) * 12));
      const X = t.buf(M * ldx * 4, x);
      const s = setup(t, r, M, N, K, { lda: K, ldw: N, w7: false, relaxed7: 0 });
      t.be.kernels.qQuantizePackA(M, K, X.w, ldx, scale, zp, s.pa.w);
      t.ref.qQuantizePackA(M, K, X.r, ldx, scale, zp, s.pa.r);
      const C = t.buf(M * N * 4);
      t.be.kernels.qgemm(M, N, K, s.pa.w, zp, s.pb.w, s.cs.w, 0, 0, QOUT_I32, C.w, N, 0, 0, 0, 255, 0, s.work.w);
      t.ref.qgemm(M, N, K, s.pa.r, zp, s.pb.r, s.cs.r, 0, 0, QOUT_I32, C.r, N, 0, 0, 0, 255, 0, s.work.r);
      t.expectSame(C, `qQuantizePackA ${M}x${K}x${N}`);
      // the reference's packed A is the quantized rows themselves
      const Q = t.buf(M * K);
      for (let m = 0; m < M; m++) t.ref.quantizeU8(K, X.r + m * ldx * 4, scale, zp, Q.r + m * K);
      expect(new Uint8Array(t.mem.buffer, s.pa.r, M * K)).toEqual(new Uint8Array(t.mem.buffer, Q.r, M * K));
      s.free();
      t.reset();
    }
  });

  it('quantizeU8 -> qim2col -> qgemm matches (conv path: padding reads za, strides, dilations, C below and above 16)', () => {
    const r = rng(10);
    const cases = [
      // N, H, W, C, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, CO
      [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1],
      [1, 5, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5],
      [2, 6, 5, 17, 3, 2, 2, 1, 1, 0, 1, 1, 1, 1, 9],
      [1, 9, 8, 16, 3, 3, 2, 2, 0, 1, 1, 0, 2, 2, 8],
      [1, 3, 3, 2, 1, 1, 2, 2, 3, 3, 3, 3, 1, 1, 4], // padding wider than the image: all-za rows
      [3, 4, 7, 5, 2, 3, 1, 3, 2, 1, 0, 2, 1, 2, 13],
      [1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 3], // OH = OW = 0: nothing to do
    ];
    for (const [N, H, W, C, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, CO] of cases) {
      const OH = Math.max(0, Math.floor((H + PT + PB - DH * (KH - 1) - 1) / SH) + 1);
      const OW = Math.max(0, Math.floor((W + PL + PR - DW * (KW - 1) - 1) / SW) + 1);
      const M = N * OH * OW, K = KH * KW * C;
      const scale = 0.03, za = Math.floor(r() * 256), inBytes = N * H * W * C;
      const X = t.buf(inBytes * 4, Float32Array.from({ length: inBytes }, () => (r() - 0.5) * 8));
      const XQ = t.buf(inBytes);
      t.be.kernels.quantizeU8(inBytes, X.w, scale, za, XQ.w);
      t.ref.quantizeU8(inBytes, X.r, scale, za, XQ.r);
      t.expectSame(XQ, 'quantized input');
      const s = setup(t, r, M, CO, K, { lda: K, ldw: CO, w7: false, relaxed7: 0 });
      const g = `${[N, H, W, C, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, CO]}`;
      t.be.kernels.qim2col(N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, XQ.w, za, s.pa.w);
      t.ref.qim2col(N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, XQ.r, za, s.pa.r);
      const bias = t.buf(CO * 4, Int32Array.from({ length: CO }, () => Math.floor((r() - 0.5) * 1e4)));
      const mult = t.buf(CO * 4, Float32Array.from({ length: CO }, () => r() * 1e-3));
      const Ci = t.buf(M * CO * 4), Cf = t.buf(M * CO * 4);
      t.be.kernels.qgemm(M, CO, K, s.pa.w, za, s.pb.w, s.cs.w, 0, 0, QOUT_I32, Ci.w, CO, mult.w, 0, 0, 255, 0, s.work.w);
      t.ref.qgemm(M, CO, K, s.pa.r, za, s.pb.r, s.cs.r, 0, 0, QOUT_I32, Ci.r, CO, mult.r, 0, 0, 255, 0, s.work.r);
      t.expectSame(Ci, `conv i32 ${g}`);
      t.be.kernels.qgemm(M, CO, K, s.pa.w, za, s.pb.w, s.cs.w, bias.w, 0, QOUT_F32, Cf.w, CO, mult.w, 0, 0, 255, 2, s.work.w);
      t.ref.qgemm(M, CO, K, s.pa.r, za, s.pb.r, s.cs.r, bias.r, 0, QOUT_F32, Cf.r, CO, mult.r, 0, 0, 255, 2, s.work.r);
      t.expectSame(Cf, `conv f32 relu6 ${g}`);
      // and the i32 sums are the direct definition: sum over taps of (x - za) * w, padding contributing 0
      const xq = new Uint8Array(t.mem.buffer, XQ.r, inBytes), w = new Int8Array(t.mem.buffer, s.W.r, K * CO);
      const got = new Int32Array(t.mem.buffer, Ci.r, M * CO);
      let m = 0;
      for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++, m++) {
        for (let co = 0; co < CO; co++) {
          let sum = 0;
          for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
            const iy = oy * SH - PT + ky * DH, ix = ox * SW - PL + kx * DW;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            for (let c = 0; c < C; c++) sum += (xq[((n * H + iy) * W + ix) * C + c] - za) * w[((ky * KW + kx) * C + c) * CO + co];
          }
          if (got[m * CO + co] !== sum) throw new Error(`conv definition ${g}: m=${m} co=${co} got ${got[m * CO + co]} want ${sum}`);
        }
      }
      s.free();
      t.reset();
    }
  });

  it('qdepthwise matches bit for bit (C 1..33, multipliers, 3x3 / 5x5 / 1x3, strides, same / valid, batches, zero points, epilogues)', () => {
    const r = rng(11);
    let cases = 0;
    for (const C of [1, 3, 7, 8, 16, 17, 33]) for (const mult of [1, 2]) for (const [KH, KW] of [[3, 3], [5, 5], [1, 3]]) {
      for (const S of [1, 2]) for (const pad of ['same', 'valid'] as const) for (const za of [0, 128, 255]) {
        // batch 1 and 3 in turn; size and dilation drawn per case
        const N = cases % 2 ? 3 : 1;
        const H = 4 + Math.floor(r() * 5), W = 4 + Math.floor(r() * 6), D = r() < 0.2 ? 2 : 1;
        const g = dwGeometry(N, H, W, C, KH, KW, S, pad, D, mult);
        runDepthwise(t, r, g, za, `C=${C} mult=${mult} ${KH}x${KW} s${S} ${pad} d${D} N=${N} za=${za}`);
        cases++;
      }
    }
    expect(cases).toBe(7 * 2 * 3 * 2 * 2 * 3);
  });

  it('qdepthwise: every zero point on an interior-heavy shape, weights at -128 / 127, inputs at 0 / 255, and empty outputs', () => {
    const r = rng(12);
    for (const za of [0, 128, 255]) {
      runDepthwise(t, r, dwGeometry(1, 9, 11, 33, 3, 3, 1, 'same', 1, 1), za, `interior za=${za}`);
      runDepthwise(t, r, dwGeometry(2, 7, 7, 32, 3, 3, 2, 'valid', 1, 1), za, `extreme za=${za}`, 'extreme');
      runDepthwise(t, r, dwGeometry(1, 8, 8, 48, 3, 3, 1, 'same', 1, 1), za, `-128 weights za=${za}`, 'minus128');
    }
    runDepthwise(t, r, dwGeometry(1, 2, 2, 16, 3, 3, 1, 'valid', 1, 1), 7, 'OH = OW = 0');
    // rows longer than the staged epilogue's stretch (8 KiB of f32: 51 pixels of 40 channels; one pixel of 2100)
    runDepthwise(t, r, dwGeometry(1, 3, 150, 40, 3, 3, 1, 'same', 1, 1), 99, 'long rows');
    runDepthwise(t, r, dwGeometry(1, 2, 4, 2100, 3, 3, 2, 'same', 1, 1), 3, 'a pixel past the stage');
  });

  it('qdepthwise epilogues with NaN, infinite and huge multipliers: no trap (scalar build: no trunc_sat), the same bytes', () => {
    const r = rng(13);
    const g = dwGeometry(1, 5, 5, 20, 3, 3, 1, 'same', 1, 1), CO = 20, P = 25;
    const X = t.buf(P * 20, u8s(P * 20, r)), Wt = t.buf(9 * CO, s8(9 * CO, r));
    const mult = t.buf(CO * 4, Float32Array.from({ length: CO }, (_, o) => [NaN, Infinity, -Infinity, 1e30, -1e30, 0, -0, 1e-3][o % 8]));
    const work = { w: t.be.alloc(t.be.kernels.qdepthwiseWorkSize(1, 5, 5, 20, CO)), r: 0 };
    const geo = [g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, CO] as const;
    const Yu = t.buf(P * CO), Yf = t.buf(P * CO * 4);
    for (const za of [0, 200]) {
      t.be.kernels.qdepthwise(...geo, X.w, za, Wt.w, 0, QOUT_U8, Yu.w, mult.w, 3, 0, 255, 0, work.w);
      t.ref.qdepthwise(...geo, X.r, za, Wt.r, 0, QOUT_U8, Yu.r, mult.r, 3, 0, 255, 0, work.r);
      t.expectSame(Yu, `u8 za=${za}`);
      for (const act of [0, 1, 2]) {
        t.be.kernels.qdepthwise(...geo, X.w, za, Wt.w, 0, QOUT_F32, Yf.w, mult.w, 0, 0, 255, act, work.w);
        t.ref.qdepthwise(...geo, X.r, za, Wt.r, 0, QOUT_F32, Yf.r, mult.r, 0, 0, 255, act, work.r);
        // NaN payloads may differ between engines: compare NaN as NaN, everything else bit for bit
        const { want, got } = t.bytes(Yf);
        const a = new Float32Array(want.buffer), b = new Float32Array(got.buffer);
        for (let i = 0; i < a.length; i++) {
          if (Number.isNaN(a[i]) || Number.isNaN(b[i])) expect([i, Number.isNaN(a[i])]).toEqual([i, Number.isNaN(b[i])]);
          else expect(Object.is(a[i], b[i]), `f32 za=${za} act=${act} at ${i}: wasm ${a[i]}, ref ${b[i]}`).toBe(true);
        }
      }
    }
    t.be.free(work.w);
    t.reset();
  });
});

interface DwGeometry { N: number; H: number; W: number; C: number; KH: number; KW: number; SH: number; SW: number; PT: number; PL: number; DH: number; DW: number; OH: number; OW: number; CO: number }

/** 'same' (TF: the extra pad at the bottom / right) or 'valid' geometry of a depthwise convolution. */
function dwGeometry(N: number, H: number, W: number, C: number, KH: number, KW: number, S: number, pad: 'same' | 'valid', D: number, mult: number): DwGeometry {
  const side = (n: number, k: number): [number, number] => {
    const ek = (k - 1) * D + 1;
    if (pad === 'valid') return [0, Math.max(0, Math.floor((n - ek) / S) + 1)];
    const out = Math.ceil(n / S), total = Math.max(0, (out - 1) * S + ek - n);
    return [Math.floor(total / 2), out];
  };
  const [PT, OH] = side(H, KH), [PL, OW] = side(W, KW);
  return { N, H, W, C, KH, KW, SH: S, SW: S, PT, PL, DH: D, DW: D, OH, OW, CO: C * mult };
}

/**
 * qdepthwise in both heaps with every epilogue (i32, u8 with a clamp, f32 linear / ReLU / ReLU6, with and
 * without bias), compared byte for byte; the i32 sums also against the definition written out here.
 */
function runDepthwise(t: Twin, r: () => number, g: DwGeometry, za: number, what: string, fill: 'rand' | 'extreme' | 'minus128' = 'rand'): void {
  const { N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, CO } = g;
  const inBytes = N * H * W * C, P = N * OH * OW;
  const xs = fill === 'extreme' ? Uint8Array.from({ length: inBytes }, () => (r() < 0.5 ? 0 : 255)) : u8s(inBytes, r);
  const ws = fill === 'extreme' ? Int8Array.from({ length: KH * KW * CO }, () => (r() < 0.5 ? -128 : 127))
    : fill === 'minus128' ? s8(KH * KW * CO, r).map((v, i) => (i % 5 === 0 ? -128 : v)) : s8(KH * KW * CO, r);
  const X = t.buf(inBytes, xs), Wt = t.buf(KH * KW * CO, ws);
  const bias = t.buf(CO * 4, Int32Array.from({ length: CO }, () => Math.floor((r() - 0.5) * 2e5)));
  // CO multipliers, then the output scale of the QOUT_U8F epilogue
  const mult = t.buf((CO + 1) * 4, Float32Array.from({ length: CO + 1 }, (_, o) => (o === CO ? 0.0123 : o % 3 === 0 ? 2 ** -(6 + Math.floor(r() * 6)) : (r() - 0.3) * 2e-3)));
  const work = { w: t.be.alloc(Math.max(1, t.be.kernels.qdepthwiseWorkSize(N, H, W, C, CO))), r: t.buf(t.ref.qdepthwiseWorkSize(N, H, W, C, CO)).r };
  const geo = [N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, CO] as const;
  const both = (Y: { w: number; r: number }, b: { w: number; r: number } | null, mode: number, zy: number, qmin: number, qmax: number, act: number) => {
    t.be.kernels.qdepthwise(...geo, X.w, za, Wt.w, b ? b.w : 0, mode, Y.w, mult.w, zy, qmin, qmax, act, work.w);
    t.ref.qdepthwise(...geo, X.r, za, Wt.r, b ? b.r : 0, mode, Y.r, mult.r, zy, qmin, qmax, act, work.r);
  };
  const Yi = t.buf(P * CO * 4);
  both(Yi, null, QOUT_I32, 0, 0, 255, 0);
  t.expectSame(Yi, `qdepthwise i32 ${what}`);
  // the sums by the definition: (x - za) * w over the taps inside the image
  const got = new Int32Array(t.mem.buffer, Yi.r, P * CO), mul = CO / C;
  let p = 0;
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++, p++) {
    for (let o = 0; o < CO; o++) {
      let s = 0;
      for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
        const iy = oy * SH - PT + ky * DH, ix = ox * SW - PL + kx * DW;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += (xs[((n * H + iy) * W + ix) * C + Math.floor(o / mul)] - za) * ws[(ky * KW + kx) * CO + o];
      }
      if (got[p * CO + o] !== s) throw new Error(`qdepthwise definition ${what}: pixel ${p} channel ${o}: got ${got[p * CO + o]}, want ${s}`);
    }
  }
  const Yu = t.buf(P * CO);
  for (const [zy, qmin, qmax] of [[128, 0, 255], [3, 0, 6], [0, 0, 255]]) {
    both(Yu, bias, QOUT_U8, zy, qmin, qmax, 0);
    t.expectSame(Yu, `qdepthwise u8 ${what} zy=${zy} [${qmin}, ${qmax}]`);
  }
  const Yf = t.buf(P * CO * 4);
  for (const act of [0, 1, 2]) for (const b of [bias, null]) {
    both(Yf, b, QOUT_F32, 0, 0, 255, act);
    t.expectSame(Yf, `qdepthwise f32 ${what} act=${act} bias=${!!b}`);
  }
  // QOUT_U8F: the f32 epilogue's values quantized (as quantizeU8, by scale mult[CO]) in the kernel
  const Yq = t.buf(P * CO), Yd = t.buf(P * CO);
  for (const act of [0, 1, 2]) for (const zy of [0, 77, 255]) {
    both(Yq, bias, QOUT_U8F, zy, 0, 255, act);
    t.expectSame(Yq, `qdepthwise u8f ${what} act=${act} zy=${zy}`);
    both(Yf, bias, QOUT_F32, 0, 0, 255, act);
    t.ref.quantizeU8(P * CO, Yf.r, 0.0123, zy, Yd.r);
    const a = new Uint8Array(t.mem.buffer, Yq.r, P * CO), d = new Uint8Array(t.mem.buffer, Yd.r, P * CO);
    const bad = a.findIndex((v, i) => v !== d[i]);
    if (bad >= 0) throw new Error(`qdepthwise u8f ${what} act=${act} zy=${zy}: value ${bad} is ${a[bad]}, quantizeU8 of the f32 output gives ${d[bad]}`);
  }
  t.be.free(work.w);
  t.reset();
}

it('the reference quantizeU8 saturates +Infinity and huge values to 255 for every zero point (ONNX QuantizeLinear)', () => {
  // (the wasm builds agree: test/asm-fixes.test.ts)
  const mem = new RefMemory(1), k = quantKernels(mem);
  const n = 20;
  new Float32Array(mem.buffer, 0, n).set(Float32Array.from({ length: n }, (_, i) => (i % 2 ? Infinity : 3e9)));
  for (const zp of [0, 1, 100, 128, 255]) {
    k.quantizeU8(n, 0, 1, zp, 128);
    expect(Array.from(new Uint8Array(mem.buffer, 128, n))).toEqual(new Array(n).fill(255));
  }
});
