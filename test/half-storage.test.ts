// Float16 weight storage (loadModel's weights: 'float16'): half the bytes for the weights of convolutions,
// dense layers and matrix products, widened to float32 layer by layer. Checked against ONNX Runtime on the
// file saved from it (FLOAT16 initializers), against the float32 model (the cost of half precision), and on
// webgpu (Dawn on SwiftShader) against wasm.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as eg from '../src/index.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import { unpackHalves } from '../src/ops/half.js';
import { floatToHalf, halfToFloat } from '../src/io/half.js';
import { decodeModel } from '../src/io/onnx/decode.js';
import { FLOAT16 } from '../src/io/onnx/proto.js';
import { expectClose, randArr, runOrt, useBuild } from './helpers.js';

const fixture = (f: string) => join(import.meta.dirname, 'fixtures', f);
const maxAbs = (a: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m; };

describe('float16 weight storage', () => {
  let wasm: Backend;
  beforeAll(() => { wasm = useBuild('simd'); });

  it('widening: every half value, packed two per word (odd counts too), equals the reference conversion', () => {
    const n = 65537, words = new Int32Array(Math.ceil(n / 2)), want = new Float32Array(n);
    for (let k = 0; k < n; k++) { const h = k & 0xffff; words[k >> 1] |= h << ((k & 1) * 16); want[k] = halfToFloat(h); }
    const got = new Float32Array(n);
    unpackHalves(words, n, got);
    for (let k = 0; k < n; k++) if (!(Object.is(got[k], want[k]) || (Number.isNaN(got[k]) && Number.isNaN(want[k])))) throw new Error(`half ${k & 0xffff}: ${got[k]} != ${want[k]}`);
  });

  it('SqueezeNet 1.1 with float16 weights: half the weight bytes, outputs as ONNX Runtime runs the file it saves (FLOAT16 initializers), within half precision of float32', async () => {
    setBackend(wasm);
    const bytes = readFileSync(fixture('squeezenet1_1.onnx'));
    const full = await eg.loadModel(bytes), half = await eg.loadModel(bytes, { weights: 'float16' });
    const r = half.halfStorage!;
    expect(r.weights).toBe(26); // every conv filter; the biases stay float32
    expect(r.bytes / r.float32Bytes).toBeCloseTo(0.5, 3);
    expect(half.summary({ print: false })).toContain(`Float16 storage: 26 weights held as float16, ${r.bytes} bytes (${r.float32Bytes} as float32)`);
    expect(half.countParams()).toBe(full.countParams()); // the same weights, counted as they are (frozen)
    const x = eg.tensor(randArr([2, 3, 224, 224], 7, 0, 1).data, [2, 3, 224, 224]);
    const y = half.predict(x).dataSync() as Float32Array, y32 = full.predict(x).dataSync() as Float32Array;
    // the saved file stores those weights as float16: ONNX Runtime's outputs for it are the truth
    const file = await eg.toOnnx(half);
    const m = decodeModel(file);
    expect(m.graph!.initializer.filter((t) => t.dataType === FLOAT16).length).toBe(26);
    expect(file.byteLength).toBeLessThan(0.6 * bytes.byteLength);
    const ort = await runOrt(file, x);
    expectClose(y, ort, 1e-4 * maxAbs(ort), 'edgegrad float16 storage vs ONNX Runtime on the saved file');
    // and the cost of half precision against the float32 model: small, not zero
    let d = 0;
    for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - y32[i]));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(2e-2 * maxAbs(y32));
    // reloaded in float32, the file gives the same outputs
    expectClose((await eg.loadModel(file)).predict(x).dataSync() as Float32Array, y, 1e-6 * maxAbs(y), 'reloaded');
  });

  it('a head trains on a float16-stored backbone (which stays as it was); a bad option is named', async () => {
    setBackend(wasm);
    const base = await eg.loadModel('models/digits-cnn.onnx', { weights: 'float16' });
    const before = base.graph.values.filter((v) => v.half).map((v) => Array.from(v.tensor!.dataSync()));
    expect(before.length).toBeGreaterThan(0);
    const m = eg.sequential([base.cut('flatten'), eg.layers.dense({ units: 3, activation: 'softmax', seed: 1 })]);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const d = await eg.data.loadDigits();
    const h = await m.fit(eg.data.slice(d.images, 0, 64), eg.tensor(Int32Array.from(d.labels.subarray(0, 64), (l) => l % 3), [64], 'int32'), { epochs: 3, batchSize: 16, cacheFeatures: false });
    expect(h.history.loss[2]).toBeLessThan(h.history.loss[0]);
    expect(base.graph.values.filter((v) => v.half).map((v) => Array.from(v.tensor!.dataSync()))).toEqual(before);
    await expect(eg.loadModel('models/digits-cnn.onnx', { weights: 'f16' as never })).rejects.toThrow("options.weights must be 'float32' or 'float16', got \"f16\"");
  });

  it('a weight beyond float16\'s range stays float32, named in the report', async () => {
    setBackend(wasm);
    const m = await eg.loadModel('models/digits-cnn.onnx');
    const big = m.graph.values.find((v) => v.kind === 'param' && v.shape.length === 4 && v.tensor!.size >= 256)!;
    const w = (big.tensor!.dataSync() as Float32Array).slice();
    w[3] = 1e6;
    big.tensor!.write(w);
    const { storeHalf } = await import('../src/graph/half.js');
    const r = await storeHalf(m.graph);
    expect(r.kept).toEqual([{ name: big.name, reason: "value 1000000 (element 3) is beyond float16's range" }]);
    expect(floatToHalf(1e6)).toBe(0x7c00);
  });

  const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
  it.skipIf(!driver)('on webgpu the float16 weights are widened by a WGSL kernel: SqueezeNet outputs as on wasm', async () => {
    setBackend(wasm);
    const bytes = readFileSync(fixture('squeezenet1_1.onnx'));
    const x = randArr([1, 3, 224, 224], 3, 0, 1).data;
    const want = (await eg.loadModel(bytes, { weights: 'float16' })).predict(eg.tensor(x, [1, 3, 224, 224])).dataSync() as Float32Array;
    await eg.ready({ backend: 'webgpu' });
    const onGpu = await eg.loadModel(bytes, { weights: 'float16' });
    expect(onGpu.halfStorage!.weights).toBe(26);
    const got = await onGpu.predict(eg.tensor(x, [1, 3, 224, 224])).data() as Float32Array;
    expectClose(got, want, 1e-4 * maxAbs(want), 'webgpu vs wasm, float16 storage');
    // saved from the GPU: the same file as from wasm
    const file = await eg.toOnnx(onGpu);
    expect(decodeModel(file).graph!.initializer.filter((t) => t.dataType === FLOAT16).length).toBe(26);
    setBackend(wasm);
  });
});
