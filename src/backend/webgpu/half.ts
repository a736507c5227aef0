// The webgpu kernels of float16 weights (src/ops/half.ts): packed halves widened to float32, one word (two
// values) per thread, by WGSL's unpack2x16float (core WGSL: no shader-f16 needed); and, where the device has
// shader-f16 (loadModel's compute: 'float16'), the tiled GEMM and forward convolution reading those packed
// halves as B directly, multiplying in f16 and summing in f32 (./tiled.ts tiledCodeF16).
import type { GpuHeap } from './gpu.js';
import { ACT, GEOM, MAIN, e, pointwise, tileChooser } from './kernels.js';
import { HALF_AT, THIN, tiledCodeF16, tiledThreads, tileBytes, type HalfKind, type Tile } from './tiled.js';

/** n halves at `packed` (two per word, element 2k low) as float32 at y. u: n packed y */
const UNPACK_HALF = /* wgsl */ `
${MAIN} {
  let k = flat(g, nw);
  let n = ai(0u);
  if (2u * k >= n) { return; }
  let v = unpack2x16float(bitcast<u32>(mem[ai(1u) + k]));
  mem[ai(2u) + 2u * k] = v.x;
  if (2u * k + 1u < n) { mem[ai(2u) + 2u * k + 1u] = v.y; }
}`;

/**
 * The f16 GEMM one thread per output, for few rows (a batch of one: a tile's 32 rows would idle): the tiled
 * kernel's arithmetic (A rounded to f16, f16 products, f32 sums in ascending k) and its epilogue.
 * u: tA tB M N K A lda B ldb C ldc bias act; f: alpha beta p (as the f32 GEMM; tA = tB = 0, alpha 1, beta 0)
 */
const GEMM_F16 = /* wgsl */ `enable f16;
${ACT}${HALF_AT}
${MAIN} {
  let i = flat(g, nw);
  let M = ai(2u); let N = ai(3u); let K = ai(4u);
  if (i >= M * N) { return; }
  let m = i / N; let n = i % N;
  let A = ai(5u) + m * ai(6u);
  var s: f32 = 0.0;
  for (var k = 0u; k < K; k++) { s += f32(f16(mem[A + k]) * halfAt(ai(7u), k * ai(8u) + n)); }
  var v = s;
  if (ai(11u) != 0u) { v += mem[ai(11u) + n]; }
  mem[ai(9u) + m * ai(10u) + n] = epi(ai(12u), v, af(15u));
}`;

export interface DeviceHalf {
  unpack(n: number, packed: number, y: number): void;
  /** The device has shader-f16: gemm and conv2dForward below can run. */
  readonly f16: boolean;
  /**
   * C[M, N] = A B (+ bias, the GEMM epilogue act / p), B the packed halves of a row-major [K, N] matrix from
   * word handle B on; A (row-major, lda), C (ldc) and bias float32 (handles in bytes, as the f32 gemm).
   */
  gemm(M: number, N: number, K: number, A: number, lda: number, B: number, C: number, ldc: number, bias: number, act: number, p: number): void;
  /** The forward convolution (geometry: the 16 values of the conv block) with the filter w as packed halves. */
  conv2dForward(geometry: readonly number[], x: number, w: number, bias: number, y: number, act: number, p: number): void;
  /** f16 dispatches so far (tests: the float16 kernels ran, not the widening path). */
  dispatches: number;
}

export function deviceHalf(gpu: GpuHeap, f16: boolean): DeviceHalf {
  const choose = tileChooser(gpu);
  const storage = gpu.device.limits.maxComputeWorkgroupStorageSize;
  // where chooseTile would take the naive kernel: a product of few rows has GEMM_F16, anything else the smallest
  // tile (a small layer: partly idle; the graph keeps layers with few columns per group on the widening path)
  const tile = (kind: HalfKind, M: number, N: number, G: number): Tile => {
    const t = choose(kind, M, N, G);
    if (t && tileBytes(kind, t, true) <= storage) return t;
    return { rm: 4, rn: 4, bk: 8 };
  };
  const need = (what: string) => {
    if (!f16) throw new Error(`edgegrad: ${what} in float16 needs a WebGPU device with 'shader-f16', which this adapter lacks`);
  };
  const half: DeviceHalf = {
    f16,
    dispatches: 0,
    unpack: (n, packed, y) => gpu.run(UNPACK_HALF, Math.ceil(n / 2), { u: [n, e(packed), e(y)] }),
    gemm(M, N, K, A, lda, B, C, ldc, bias, act, p) {
      need('a matrix product');
      // the f32 GEMM's arguments (alpha 1, beta 0): the tiled kernel's store reads them
      const args = { u: [0, 0, M, N, K, e(A), lda, e(B), N, e(C), ldc, bias ? e(bias) : 0, act], f: [1, 0, p] };
      const t = M < THIN ? choose('gemmNN', M, N, 1) : tile('gemmNN', M, N, 1);
      if (t) gpu.run(tiledCodeF16('gemmNN', t, ACT), tiledThreads(t, M, N, 1), args);
      else gpu.run(GEMM_F16, M * N, args);
      half.dispatches++;
    },
    conv2dForward(gm, x, w, bias, y, act, p) {
      need('a convolution');
      const [N, , , C, , , , , , , , , OH, OW, G, CO] = gm;
      // a 1x1 convolution with unit strides is a plain GEMM (where its activation is one the GEMM epilogue has)
      if (pointwise(gm) && act <= 3) { half.gemm(N * OH * OW, CO, C, x, C, w, y, CO, bias, act, p); return; }
      const t = tile('convForward', N * OH * OW, CO / G, G);
      gpu.run(tiledCodeF16('convForward', t, ACT + GEOM), tiledThreads(t, N * OH * OW, CO / G, G), { u: [...gm, e(x), e(w), bias ? e(bias) : 0, e(y), act], f: [p] });
      half.dispatches++;
    },
  };
  return half;
}
