// Memory that needs no dispose on the common path: under pressure the coldest tensors move to the JS heap
// (paged back in when a kernel needs them) and the coldest plans give their scratch back (taken again on
// next use); a plan collected without dispose() frees its blocks. Forced here by a zero reclaim floor:
// every allocation that does not fit evicts first, and results must not change.
import { describe, expect, it, beforeEach } from 'vitest';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import type { HeapBackend } from '../src/backend/index.js';
import * as eg from '../src/index.js';

describe('plans under memory pressure', () => {
  let be: HeapBackend;
  // a fresh backend per case: what one case left in memory must not decide whether the next one evicts
  beforeEach(() => { be = useBuild('simd'); be.reclaimFloor = 0; });

  it('training, evaluation and prediction give the same numbers when plans are evicted between uses', async () => {
    const d = await eg.data.loadDigits();
    const x = eg.data.slice(d.images, 0, 96), y = eg.tensor(Int32Array.from(d.labels.slice(0, 96)), [96], 'int32');
    const run = async (pressure: boolean) => {
      const m = eg.sequential([
        eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
        eg.layers.batchNormalization(),
        eg.layers.maxPooling2d({ poolSize: 2 }),
        eg.layers.flatten(),
        eg.layers.dense({ units: 10, activation: 'softmax', seed: 2 }),
      ]);
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const evicted0 = be.evictedBytes;
      const losses: number[] = [];
      for (let e = 0; e < 3; e++) {
        // batch sizes 32 and 16 alternate: two training plans, one of them always cold
        const h = await m.fit(x, y, { epochs: 1, batchSize: e % 2 ? 16 : 32, seed: e, validationSplit: 0.25 });
        losses.push(h.history.loss[0], h.history.val_loss[0]);
        if (pressure) {
          // fill the free memory so that the next allocation must evict: a burst of big, short-lived tensors
          for (let k = 0; k < 40; k++) eg.randomNormal([1 << 16]);
        }
        losses.push(...(m.predict(eg.data.slice(x, 0, 7)).dataSync() as Float32Array).slice(0, 10));
      }
      return { losses, evicted: be.evictedBytes - evicted0 };
    };
    const calm = await run(false), pressed = await run(true);
    expect(pressed.evicted).toBeGreaterThan(0);
    calm.losses.forEach((v, i) => expect(pressed.losses[i]).toBe(v));
  });

  it('a first training step that allocates optimizer state for many weights keeps its gradients (the plan is held)', async () => {
    // 30 dense layers: Adam's first step allocates 120 slots after the plan ran, enough to make it cold
    const run = async (pressure: boolean) => {
      be = useBuild('simd');
      be.reclaimFloor = pressure ? 0 : 1e12;
      const layers = [eg.layers.dense({ units: 24, activation: 'tanh', inputShape: [8], seed: 1 })];
      for (let i = 0; i < 29; i++) layers.push(eg.layers.dense({ units: 24, activation: 'tanh', seed: 2 + i }));
      const m = eg.sequential([...layers, eg.layers.dense({ units: 2, seed: 99 })]);
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
      const x = eg.randomNormal([16, 8], 0, 1, 3), y = eg.randomNormal([16, 2], 0, 1, 4);
      // no free byte left: every allocation of the step (the plan, then each optimizer slot) must evict or grow
      if (pressure) { be.arena.fillFree(0xff); while (be.arena.tryAlloc(64) >= 0) { /* fill */ } }
      await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false });
      return m.getWeights().map((t) => Array.from(t.dataSync()));
    };
    const calm = await run(false), pressed = await run(true);
    pressed.forEach((w, i) => expect(w).toEqual(calm[i]));
  });

  it('an evicted tensor keeps its data: read where it is, paged back in for a kernel, written through its view', () => {
    const a = eg.tensor(Float32Array.from({ length: 1000 }, (_, i) => i + 1), [1000]);
    const want = Array.from(a.dataSync());
    // a goes cold, and is evicted when a block bigger than the whole memory needs the room
    const squeeze = () => { for (let k = 0; k < 100; k++) eg.randomNormal([1 << 14]); be.free(be.alloc(be.memoryBytes())); be.arena.fillFree(0xff); };
    const before = be.evictedBytes;
    squeeze();
    expect(be.evictedBytes).toBeGreaterThan(before);
    expect(Array.from(a.dataSync())).toEqual(want); // from its copy in the JS heap
    expect(Array.from(eg.add(a, a).dataSync())).toEqual(want.map((v) => 2 * v)); // paged back in for the kernel
    expect(Array.from(a.dataSync())).toEqual(want);
    const b = eg.randomNormal([1000], 0, 1, 9);
    squeeze();
    b.view().fill(2); // written while evicted
    expect(Array.from(eg.mul(b, b).dataSync()).every((v) => v === 4)).toBe(true);
  });

  it('10,000 results of 4 MiB in a synchronous loop need no dispose (sized down here: 400), memory stays bounded', () => {
    be.reclaimFloor = 64 * 1024 * 1024;
    const x = eg.randomNormal([1 << 20]);
    for (let i = 0; i < 400; i++) eg.relu(x); // 1.6 GB of results, all dropped, no task boundary for finalizers
    expect(be.memoryBytes()).toBeLessThan(256 * 1024 * 1024);
  });

  it('a graph model\'s plans come back after eviction, with their packed weights repacked', async () => {
    const m = await eg.loadModel(join(import.meta.dirname, 'fixtures', 'mlp_tanh_sigmoid.onnx'));
    const x = eg.randomUniform([8, 784], 0, 1, 3);
    const a = m.predict(x).dataSync();
    const before = be.evictedBytes;
    for (let k = 0; k < 200; k++) eg.randomNormal([1 << 14]); // the plan goes cold and is evicted when space is needed
    const big = eg.randomNormal([1 << 24]); // 64 MiB: does not fit without evicting
    big.dispose();
    expect(be.evictedBytes).toBeGreaterThan(before);
    // garbage where the plan's blocks were: what comes back must be rebuilt, not found
    be.arena.fillFree(0xff);
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(a));
  });
});
