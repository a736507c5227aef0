// Post-training quantization of the shipped digits CNN: int8 accuracy within a point of float32 on the
// held-out digits, a file >= 3.5x smaller, the QDQ export run by ONNX Runtime to the same outputs and read
// back by the importer, weight-only int8 and float16, a frozen int8 backbone under a new head, and bad input.
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { BUILDS, useBuild, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

const MODEL = join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx');

async function digits(filter: (label: number) => boolean, from: number, to: number, limit = Infinity) {
  const d = await eg.data.loadDigits();
  const idx: number[] = [];
  for (let n = from; n < to && idx.length < limit; n++) if (filter(d.labels[n])) idx.push(n);
  return { x: eg.data.gather(d.images, idx), labels: idx.map((i) => d.labels[i]) };
}
const accuracy = (m: { predict(x: eg.Tensor): eg.Tensor }, x: eg.Tensor, labels: number[], offset = 0) => {
  const y = m.predict(x).arraySync() as number[][];
  return y.filter((r, i) => r.indexOf(Math.max(...r)) === labels[i] - offset).length / labels.length;
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };

describe('quantize', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });

  it('int8 digits-cnn: accuracy within 1 point, >= 3.5x smaller, ONNX Runtime and the importer agree', async () => {
    const float = await eg.loadModel(MODEL);
    const calib = await digits((l) => l < 5, 0, 8000, 256);
    const test = await digits((l) => l < 5, 8000, 10000);
    const progress: number[] = [];
    const q = await eg.quantize(float, { calibration: calib.x, batchSize: 100, onProgress: (done, total) => { progress.push(done); expect(total).toBe(256); } });
    expect(progress).toEqual([100, 200, 256]);
    // the default policy keeps the one-channel first conv float (its float kernel is faster)
    expect(q.quantization!.nodes.map((n) => `${n.name}:${n.as}`)).toEqual(['block1_conv:float32', 'block2_conv:int8', 'features:int8', 'head:int8']);
    expect(q.quantization!.nodes[0].reason).toMatch(/1 input channel\(s\): the float kernel is faster \(minInputChannels\)/);
    expect(q.summary({ print: false })).toMatch(/qconv2d.*qdense|qdense.*qconv2d/);
    const a32 = accuracy(float, test.x, test.labels), a8 = accuracy(q, test.x, test.labels);
    expect(a32).toBeGreaterThan(0.97);
    expect(Math.abs(a8 - a32), `float ${a32}, int8 ${a8}`).toBeLessThanOrEqual(0.01);
    const f32Bytes = await eg.toOnnx(float), int8Bytes = await eg.toOnnx(q);
    expect(f32Bytes.length / int8Bytes.length).toBeGreaterThanOrEqual(3.5);
    // ONNX Runtime runs the QDQ file (int8 weights, int32 biases, u8 activations): the same quantized
    // arithmetic, so the same outputs to float rounding
    const probe = eg.data.slice(test.x, 0, 64);
    const ours = q.predict(probe).dataSync();
    expect(maxAbs(ours, await runOrt(int8Bytes, probe))).toBeLessThan(1e-5);
    // and edgegrad reads the QDQ file back into its int8 kernels: the same integers, the same outputs
    const back = await eg.loadModel(int8Bytes);
    expect(back.quantization!.nodes.map((n) => n.as)).toEqual(['float32', 'int8', 'int8', 'int8']);
    expect(back.summary({ print: false })).not.toMatch(/fakeQuant/);
    expect(maxAbs(ours, back.predict(probe).dataSync())).toBe(0);
  });

  it('every int8 path (1x1, strided 3x3, depthwise, dense, split activations) matches ONNX Runtime on every build', async () => {
    for (const build of BUILDS) {
      useBuild(build);
      const m = eg.sequential([
        eg.layers.conv2d({ filters: 20, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6', inputShape: [11, 9, 3], seed: 1 }),
        eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', seed: 2 }),
        eg.layers.conv2d({ filters: 13, kernelSize: 1, activation: 'elu', seed: 3 }),
        eg.layers.flatten(),
        eg.layers.dense({ units: 37, activation: 'tanh', seed: 4 }),
        eg.layers.dense({ units: 5, seed: 5 }),
      ]);
      const calib = eg.randomUniform([40, 11, 9, 3], -1, 2, 6), x = eg.randomUniform([7, 11, 9, 3], -1, 2, 7);
      const q = await eg.quantize(m, { calibration: calib, minInputChannels: 1 });
      expect(q.quantization!.nodes.map((n) => n.as)).toEqual(['int8', 'int8', 'int8', 'int8', 'int8']);
      expect(q.graph.nodes.map((n) => n.op).filter((op) => op === 'qconv2d' || op === 'conv2d')).toEqual(['qconv2d', 'qconv2d', 'qconv2d']);
      const ours = q.predict(x).dataSync();
      expect(maxAbs(ours, await runOrt(await eg.toOnnx(q), x)), build).toBeLessThan(1e-5);
      // and the quantized model stays close to the float one
      const ref = m.predict(x).dataSync();
      expect(maxAbs(ours, ref) / Math.max(...Array.from(ref, Math.abs))).toBeLessThan(0.05);
    }
    useBuild('simd');
  });

  it('consecutive int8 layers pass u8 to each other in the inference plan, with the bytes of the f32 path, on every build', async () => {
    for (const build of BUILDS) {
      useBuild(build);
      // conv -> depthwise -> conv -> conv (two readers) -> dense: links where only int8 layers read a value
      const inp = eg.input({ shape: [9, 10, 8] });
      const a = eg.layers.conv2d({ filters: 24, kernelSize: 1, activation: 'relu6', seed: 1 }).apply(inp) as eg.SymbolicTensor;
      const b = eg.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', seed: 2 }).apply(a) as eg.SymbolicTensor;
      const c = eg.layers.conv2d({ filters: 17, kernelSize: 1, seed: 3 }).apply(b) as eg.SymbolicTensor;
      const d1 = eg.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', seed: 4 }).apply(c) as eg.SymbolicTensor;
      const d2 = eg.layers.conv2d({ filters: 6, kernelSize: 1, seed: 5 }).apply(c) as eg.SymbolicTensor;
      const out = eg.layers.dense({ units: 3, seed: 6 }).apply(eg.layers.flatten().apply(eg.layers.concatenate().apply([d1, d2]) as eg.SymbolicTensor) as eg.SymbolicTensor) as eg.SymbolicTensor;
      const m = eg.model({ inputs: inp, outputs: out });
      const calib = eg.randomUniform([20, 9, 10, 8], -1, 2, 8), x = eg.randomUniform([3, 9, 10, 8], -1, 2, 9);
      const q = await eg.quantize(m, { calibration: calib });
      const ours = q.predict(x).dataSync();
      // the plan's graph (private): a, b and c go u8 (c has two int8 readers with one quantization); d1, d2 feed a concat
      const plan = (q as unknown as { inferGraph: { nodes: Array<{ name: string; attrs: Record<string, unknown> }> } }).inferGraph;
      const linked = plan.nodes.filter((n) => n.attrs.outQ).map((n) => n.name);
      expect(linked.length, build).toBe(3);
      expect(plan.nodes.filter((n) => n.attrs.inU8).length, build).toBe(4);
      expect(q.graph.nodes.some((n) => n.attrs.outQ || n.attrs.inU8), 'the stored graph keeps f32').toBe(false);
      // the same model with the links taken out: every layer returns f32 and the next one quantizes it
      for (const n of plan.nodes) { delete n.attrs.outQ; delete n.attrs.inU8; }
      (q as unknown as { plans: Map<number, unknown> }).plans.clear();
      expect(Array.from(q.predict(x).dataSync()), build).toEqual(Array.from(ours));
      // and ONNX Runtime on the QDQ file agrees as before
      expect(maxAbs(ours, await runOrt(await eg.toOnnx(q), x)), build).toBeLessThan(1e-5);
    }
    useBuild('simd');
  });

  it('weight-only int8 and float16 storage keep accuracy at a quarter and a half of the file', async () => {
    const float = await eg.loadModel(MODEL);
    const test = await digits((l) => l < 5, 8000, 10000);
    const a32 = accuracy(float, test.x, test.labels);
    const full = (await eg.toOnnx(float)).length;
    const w8 = await eg.quantize(float, { activations: 'float32' });
    expect(Math.abs(accuracy(w8, test.x, test.labels) - a32)).toBeLessThanOrEqual(0.01);
    const w8Bytes = await eg.toOnnx(w8);
    expect(full / w8Bytes.length).toBeGreaterThanOrEqual(3.5);
    const probe = eg.data.slice(test.x, 0, 16);
    expect(maxAbs(w8.predict(probe).dataSync(), await runOrt(w8Bytes, probe))).toBeLessThan(1e-4);
    const h = await eg.quantize(float, { weights: 'float16' });
    expect(Math.abs(accuracy(h, test.x, test.labels) - a32)).toBeLessThanOrEqual(0.002);
    const hBytes = await eg.toOnnx(h);
    expect(full / hBytes.length).toBeGreaterThan(1.9);
    expect(maxAbs(h.predict(probe).dataSync(), await runOrt(hBytes, probe))).toBeLessThan(1e-5);
  });

  it('a frozen int8 backbone under a new float head trains like the float one (digits 5-9, 100 each)', async () => {
    const train = await (async () => {
      const d = await eg.data.loadDigits();
      const seen = new Array(10).fill(0), idx: number[] = [];
      for (let n = 0; n < 8000; n++) if (d.labels[n] >= 5 && seen[d.labels[n]]++ < 100) idx.push(n);
      return { x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i] - 5), [idx.length], 'int32') };
    })();
    const test = await digits((l) => l >= 5, 8000, 10000);
    const calib = await digits((l) => l < 5, 0, 8000, 256);
    const run = async (backbone: eg.GraphModel) => {
      const m = eg.sequential([backbone.cut('flatten').freeze(), eg.layers.dense({ units: 64, activation: 'relu', seed: 5 }), eg.layers.dense({ units: 5, activation: 'softmax', seed: 6 })]);
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const h = await m.fit(train.x, train.y, { epochs: 60, batchSize: 32, seed: 1 });
      expect(h.cachedFeatures?.layers).toBe(1);
      return accuracy(m, test.x, test.labels, 5);
    };
    const float = await eg.loadModel(MODEL);
    const aFloat = await run(float);
    const aInt8 = await run(await eg.quantize(float, { calibration: calib.x }));
    expect(aFloat).toBeGreaterThan(0.93);
    expect(Math.abs(aInt8 - aFloat), `float backbone ${aFloat}, int8 backbone ${aInt8}`).toBeLessThanOrEqual(0.01);
  });

  it('says what is wrong: calibration shape, empty or missing calibration, unknown names', async () => {
    const m = await eg.loadModel(MODEL);
    await expect(eg.quantize(m)).rejects.toThrow(/int8 activations need calibration data/);
    await expect(eg.quantize(m, { calibration: eg.zeros([4, 28, 28]) })).rejects.toThrow(/calibration data \[4,28,28\] does not match the model input \[n, 28, 28, 1\]/);
    await expect(eg.quantize(m, { calibration: eg.zeros([0, 28, 28, 1]) })).rejects.toThrow(/the calibration set is empty/);
    await expect(eg.quantize(m, { calibration: eg.zeros([2, 28, 28, 1]), keepFloat: ['heda'] })).rejects.toThrow(/keepFloat names 'heda', which is not a node/);
    await expect(eg.quantize(m, { weights: 'int4' as 'int8' })).rejects.toThrow(/weights must be 'int8' or 'float16', got 'int4'/);
    // an imported QDQ model whose scale is zero or NaN
    const calib = eg.randomUniform([8, 28, 28, 1], 0, 1, 2);
    const proto = (onnxProto as unknown as { onnx: { ModelProto: { decode(b: Uint8Array): { graph: { initializer: Array<{ name: string; rawData: Uint8Array }> } }; encode(m: unknown): { finish(): Uint8Array } } } }).onnx;
    for (const bad of [0, NaN]) {
      const model = proto.ModelProto.decode(await eg.toOnnx(await eg.quantize(m, { calibration: calib })));
      const init = model.graph.initializer.find((t) => t.name.endsWith('block2_conv/input_scale'))!;
      init.rawData = new Uint8Array(Float32Array.of(bad).buffer);
      await expect(eg.loadModel(proto.ModelProto.encode(model).finish())).rejects.toThrow(new RegExp(`ONNX op 'QuantizeLinear' \\(node 'block2_conv/quantize_input'.*scale ${bad}: scales must be positive and finite`));
    }
    const kept = await eg.quantize(m, { calibration: eg.randomUniform([8, 28, 28, 1], 0, 1, 2), keepFloat: ['block1_conv', 'head'] });
    expect(kept.quantization!.nodes.filter((n) => n.as === 'float32').map((n) => `${n.name}: ${n.reason}`)).toEqual(['block1_conv: kept float by keepFloat', 'head: kept float by keepFloat']);
  });
});
