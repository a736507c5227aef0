// The backend seam as a user meets it: eg.backends(), ready({ backend }), where tensors live and how they
// move, reads on a backend without synchronous reads, and a whole training run on the reference backend
// against the same run on wasm.
import { describe, expect, it } from 'vitest';
import * as eg from '../src/index.js';
import { Tensor } from '../src/tensor.js';
import { getBackend, setBackend, type Backend } from '../src/backend/index.js';
import { expectClose, randArr, useBuild } from './helpers.js';

describe('backends', () => {
  it('lists what this runtime has: the wasm builds, best first, and the reference backend', () => {
    const list = eg.backends();
    expect(list.map((b) => b.name)).toEqual(['wasm', 'ref']);
    expect(list[0].builds).toContain('simd');
    expect(list[0].builds).toContain('scalar');
    expect(list[1].builds).toEqual(['ref']);
  });

  it('ready picks one by name, refuses an unknown one, and tensors say where they live', async () => {
    await expect(eg.ready({ backend: 'gpu' as never })).rejects.toThrow("unknown backend 'gpu' (expected 'auto' or one of 'wasm', 'webgpu', 'ref')");
    const ref = await eg.ready({ backend: 'ref' });
    expect(ref.name).toBe('ref');
    expect(eg.tensor([1, 2, 3]).location).toBe('ref');
    const wasm = await eg.ready({ backend: 'wasm', wasmBuild: 'simd' });
    expect(wasm.name).toBe('wasm');
    expect(getBackend()).toBe(wasm);
    expect(eg.tensor([1]).location).toBe('wasm');
  });

  it('moving a tensor is explicit, and an op refuses an operand from another backend', async () => {
    const simd = useBuild('simd');
    const a = eg.tensor([[1, 2], [3, 4]]);
    const r = a.to('ref');
    expect(r.location).toBe('ref');
    expect(r).not.toBe(a);
    expect(Array.from(r.dataSync())).toEqual([1, 2, 3, 4]);
    expect(a.to('wasm')).toBe(a);
    expect(() => eg.matMul(a, r)).toThrow("'b' lives on backend 'ref' but the active one is 'wasm' (simd build): move it with b.to('wasm')");
    // the same op on the reference backend gives the same numbers
    await eg.ready({ backend: 'ref' });
    const onRef = eg.matMul(r, r).dataSync();
    setBackend(simd);
    expect(Array.from(onRef)).toEqual(Array.from(eg.matMul(a, a).dataSync()));
  });

  it('dataSync refuses on a backend that reads back only asynchronously; data() works', async () => {
    const ref = useBuild('ref');
    const asyncOnly = Object.create(ref, { syncRead: { value: false } }) as Backend;
    const t = new Tensor([3], 'float32', asyncOnly, asyncOnly.alloc(12));
    asyncOnly.write(t.ptr, Float32Array.of(1, 2, 3));
    expect(() => t.dataSync()).toThrow("dataSync() cannot read a [3] tensor on backend 'ref' synchronously: use 'await t.data()'");
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
  });

  it('a model trains on the reference backend as on wasm (same initial weights, same data, same losses)', async () => {
    const run = async (build: string) => {
      useBuild(build);
      const model = eg.sequential({
        layers: [
          eg.layers.dense({ units: 8, activation: 'relu', inputShape: [4], kernelInitializer: 'glorotUniform', seed: 3 }),
          eg.layers.batchNormalization(),
          eg.layers.dense({ units: 3, activation: 'softmax', seed: 4 }),
        ],
      });
      model.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const x = randArr([24, 4], 9);
      const y = Int32Array.from({ length: 24 }, (_, i) => (x.data[i * 4] > 0 ? 1 : 0) + (x.data[i * 4 + 1] > 0.5 ? 1 : 0));
      const h = await model.fit(eg.tensor(x.data, [24, 4]), eg.tensor(y, [24], 'int32'), { epochs: 3, batchSize: 8, shuffle: false });
      return { loss: h.history.loss, out: (model.predict(eg.tensor(x.data, [24, 4])) as Tensor).dataSync() };
    };
    const wasm = await run('scalar');
    const ref = await run('ref');
    expectClose(ref.loss, wasm.loss, 1e-4, 'losses per epoch');
    expectClose(ref.out, wasm.out, 1e-4, 'predictions after training');
    expect(wasm.loss[2]).toBeLessThan(wasm.loss[0]);
  });
});
