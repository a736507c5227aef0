// Every kernel that takes a workspace, and every backward path, on random shapes with guard bytes around
// each operand and the workspace (exactly the size its *Size function promises), on every build, after the
// memory has grown (an overflow then lands on live data instead of trapping). Bounded here;
// `npm run fuzz -- --cases 1000` runs the full campaign (EDGEGRAD_FUZZ_CASES).
import { describe, expect, it, beforeAll } from 'vitest';
import { BUILDS, useBuild, rng, randArr, t, expectClose } from './helpers.js';
import type { HeapBackend } from '../src/backend/index.js';
import { conv2dBackpropFilter, conv2dBackpropInput, convGeometry, refConv2dBackward } from '../src/ops/conv.js';
import { growMemory } from './fuzz/guard.js';
import { randomConv, randomGemm, randomPool, runBatchNormBackward, runConv, runGemm, runPoolBackward, geometry, type ConvPath } from './fuzz/kernels.js';

const CASES = Number(process.env.EDGEGRAD_FUZZ_CASES ?? 40);
/** Cases whose float64 reference costs more than this many multiply-adds check the guards only. */
const REF_WORK = Number(process.env.EDGEGRAD_FUZZ_REF_WORK ?? 3e5);

describe.each(BUILDS)('kernel fuzz (%s build)', (build) => {
  let be: HeapBackend;
  beforeAll(() => { be = useBuild(build); growMemory(be, 64 << 20); });

  for (const path of ['forward', 'backwardInput', 'backwardFilter'] as ConvPath[]) {
    it(`conv2d ${path}: ${CASES} random shapes stay inside their buffers and match the reference`, () => {
      const r = rng(path.length * 7919 + build.length);
      let checked = 0;
      for (let i = 0; i < CASES; i++) {
        // every fourth case may be big (batch 32-64 of real feature maps): guards only
        const c = randomConv(r, i % 4 === 3 ? 6e7 : 2e6);
        const g = geometry(c);
        const refWork = g.N * g.OH * g.OW * g.CO * g.KH * g.KW * (g.C / g.G);
        runConv(be, c, path, r, refWork <= REF_WORK || i % 4 !== 3);
        if (refWork <= REF_WORK || i % 4 !== 3) checked++;
      }
      expect(checked).toBeGreaterThan(CASES / 2);
    });
  }

  it(`gemm (all transposes, beta): ${CASES} random shapes around tile and block edges`, () => {
    const r = rng(4242 + build.length);
    for (let i = 0; i < CASES; i++) runGemm(be, randomGemm(r, 1.5e6), r);
  });

  it(`batch-norm backward and pooling backward: ${CASES} random shapes each`, () => {
    const r = rng(99 + build.length);
    for (let i = 0; i < CASES; i++) {
      runBatchNormBackward(be, { M: 1 + Math.floor(r() * 300), C: 1 + Math.floor(r() * 70) }, r);
      runPoolBackward(be, randomPool(r), r);
    }
  });

  it('a 1x1 convolution\'s filter gradient at batch 32 (MobileNetV2-sized) stays in its workspace and is right', () => {
    // the reported case: one GEMM over all 32*28*28 pixels needed 8.16 MiB of packed dY in a 5.48 MiB workspace
    const r = rng(7);
    runConv(be, { x: [32, 28, 28, 64], w: [1, 1, 64, 64], s: [1, 1], pad: 'same', d: [1, 1] }, 'backwardFilter', r, true);
    runConv(be, { x: [32, 7, 7, 160], w: [1, 1, 160, 960], s: [1, 1], pad: 'valid', d: [1, 1] }, 'backwardFilter', r, false);
    runConv(be, { x: [32, 7, 7, 960], w: [1, 1, 960, 160], s: [1, 1], pad: 'valid', d: [1, 1] }, 'backwardInput', r, false);
    // and through the public API, after other allocations grew the memory
    const x = randArr([32, 28, 28, 64], 1), dy = randArr([32, 28, 28, 64], 2), w = randArr([1, 1, 64, 64], 3);
    const g = convGeometry(x.shape, w.shape, 1, 'same', 1, 'test');
    const ref = refConv2dBackward(x, w, dy, g);
    const { dw, db } = conv2dBackpropFilter(t(x), t(dy), w.shape, 1, 'same');
    expectClose(dw.dataSync(), ref.dw.data, 1e-4, 'dw');
    expectClose(db.dataSync(), ref.db.data, 1e-4, 'db');
    expectClose(conv2dBackpropInput(x.shape, t(dy), t(w), 1, 'same').dataSync(), ref.dx.data, 1e-4, 'dx');
  });

  it('the shared workspace is guarded in every test: a write one byte past it is named at the next kernel call', () => {
    const ws = be.workspace(100);
    new Uint8Array(be.memory.buffer, ws, 100).fill(1); // inside: fine
    expect(() => be.checkWorkspace()).not.toThrow();
    const ws2 = be.workspace(100);
    new Uint8Array(be.memory.buffer, ws2 + 100, 1)[0] = 0;
    expect(() => be.workspace(8)).toThrow(/a kernel wrote past its workspace of 100 bytes \(at \+0 beyond it\)/);
  });

  it('the chunked backward paths at their chunk boundaries (pixel counts around the chunk size)', () => {
    const r = rng(11);
    // K = 3*3*16 = 144: chunks of floor(262144 / 144) & ~3 = 1820 pixels; around 1, 2 and 3 chunks
    for (const pixels of [1819, 1820, 1821, 3640, 3641]) {
      const c = { x: [1, 1, pixels, 16], w: [3, 3, 16, 20], s: [1, 1] as [number, number], pad: 'same' as const, d: [1, 1] as [number, number] };
      runConv(be, c, 'backwardFilter', r, true);
      runConv(be, c, 'backwardInput', r, true);
    }
    // pointwise: K = Cg = 64, chunks of 4096 pixels
    for (const pixels of [4095, 4096, 4097, 8193]) {
      runConv(be, { x: [1, 1, pixels, 64], w: [1, 1, 64, 24], s: [1, 1], pad: 'valid', d: [1, 1] }, 'backwardFilter', r, true);
    }
  });
});
