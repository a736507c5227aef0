// The webgpu backend on a real WebGPU implementation: in Node, Dawn (npm 'webgpu') on the SwiftShader
// Vulkan driver that Debian's chromium ships (vitest.config.ts puts it on the loader path). Every op with a
// WGSL kernel against the same op on wasm, on small odd shapes (a software adapter is slow); reads are
// asynchronous. Skipped, saying why, only where this machine has no such driver (CI installs chromium).
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as eg from '../src/index.js';
import { Tensor } from '../src/tensor.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { runEager } from '../src/graph/eager.js';
import { expectClose, randArr, useBuild } from './helpers.js';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

/** Random host data of a shape. */
const data = (shape: number[], seed: number, lo = -1, hi = 1) => randArr(shape, seed, lo, hi).data;

describe.skipIf(!driver)('webgpu backend (Dawn on SwiftShader)', () => {
  let wasm: Backend, gpu: WebGpuBackend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' }) as WebGpuBackend;
  });

  /** Run f on wasm and on webgpu; the outputs' data from each. */
  async function both(f: () => Tensor | Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
    setBackend(wasm);
    const a = [f()].flat().map((t) => t.dataSync() as Float32Array);
    setBackend(gpu);
    const outs = [f()].flat();
    for (const t of outs) expect(t.location).toBe('webgpu');
    const b = await Promise.all(outs.map(async (t) => await t.data() as Float32Array));
    return [a, b];
  }

  /** A tensor made on another backend (to pass to an op on this one). */
  function gpuFrom(be: Backend): Tensor {
    const active = gpu;
    setBackend(be);
    const t = eg.tensor([1, -1]);
    setBackend(active);
    return t;
  }

  async function same(what: string, f: () => Tensor | Tensor[], tol = 1e-5): Promise<void> {
    const [a, b] = await both(f);
    a.forEach((x, i) => expectClose(b[i], x, tol, `${what} [${i}]`));
  }

  it('reports its adapter, and says what it lacks', () => {
    expect(gpu.name).toBe('webgpu');
    expect(gpu.adapter.vendor + gpu.adapter.device).toMatch(/swiftshader|google/i);
    expect(gpu.adapter.fallback).toBe(true);
    // every kernel but the int8 ones: a kernel added to the ABI without a WGSL form fails here
    expect(gpu.lacks().sort()).toEqual(['dequantizeU8', 'qQuantizePackA', 'qWeightsAre7Bit', 'qdepthwise', 'qdepthwiseWorkSize', 'qgemm', 'qgemmPackA', 'qgemmPackB',
      'qgemmPackedASize', 'qgemmPackedBSize', 'qgemmWorkSize', 'qim2col', 'quantizeU8']);
    expect(eg.backends().map((b) => b.name)).toContain('webgpu');
  });

  it('reads asynchronously; dataSync refuses with a message', async () => {
    setBackend(gpu);
    const t = eg.tensor([1, 2, 3, 4], [2, 2]);
    expect(() => t.dataSync()).toThrow("use 'await t.data()'");
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4]);
    expect(() => t.to('wasm')).toThrow("use 'await t.copyTo('wasm')'");
    const back = await t.copyTo('wasm');
    expect(back.location).toBe('wasm');
    expect(Array.from(back.dataSync())).toEqual([1, 2, 3, 4]);
  });

  it('the data helpers make their tensors on the GPU: digits, slices, gathers, one-hot', async () => {
    setBackend(wasm);
    const dw = await eg.data.loadDigits();
    const want = [eg.data.slice(dw.images, 10, 13).dataSync(), eg.data.gather(dw.images, [5, 0, 7]).dataSync(), eg.data.oneHot([2, 0], 3).dataSync()];
    setBackend(gpu);
    const dg = await eg.data.loadDigits();
    expect(dg.images.location).toBe('webgpu');
    const got = await Promise.all([eg.data.slice(dg.images, 10, 13), eg.data.gather(dg.images, [5, 0, 7]), eg.data.oneHot([2, 0], 3)].map((t) => t.data()));
    got.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(want[i])));
  });

  it('matMul: both transposes, batches, fused bias and epilogues', async () => {
    const A = data([17, 23], 1), B = data([23, 9], 2), bias = data([9], 3);
    await same('matMul', () => eg.matMul(eg.tensor(A, [17, 23]), eg.tensor(B, [23, 9])));
    await same('matMul tA tB', () => eg.matMul(eg.tensor(A, [23, 17]), eg.tensor(B, [9, 23]), true, true));
    await same('batched', () => eg.matMul(eg.tensor(data([3, 5, 4], 4), [3, 5, 4]), eg.tensor(data([1, 4, 6], 5), [1, 4, 6])));
    for (const activation of ['relu', 'relu6', 'leakyRelu', 'gelu', 'sigmoid'] as const) {
      await same(`fused ${activation}`, () => eg.fused.matMul({ a: eg.tensor(A, [17, 23]), b: eg.tensor(B, [23, 9]), bias: eg.tensor(bias), activation }));
    }
  });

  it('every activation and its gradient; softmax and log-softmax', async () => {
    const x = data([5, 7], 6, -4, 4), dy = data([5, 7], 7);
    for (const name of eg.ACTIVATIONS) {
      await same(name, () => {
        const t = eg.tensor(x, [5, 7]);
        const y = eg.activation(t, name);
        return [y, eg.backprop.activation(name, t, y, eg.tensor(dy, [5, 7]))];
      }, 2e-5);
    }
  });

  it('large and non-finite inputs: tanh saturates, NaN propagates through activations, max/min, pooling and fused epilogues as on wasm', async () => {
    const v = Float32Array.of(89, 100, 1e4, -100, -1e4, NaN, 0.5, -Infinity, Infinity, NaN, -3, 2);
    /** NaN where wasm has NaN, the same infinities, finite values within 1e-6 relative. */
    const sameSpecials = async (what: string, f: () => Tensor | Tensor[]) => {
      const [a, b] = await both(f);
      a.forEach((want, k) => want.forEach((w, i) => {
        const g = b[k][i];
        const ok = Number.isFinite(w) ? Math.abs(g - w) <= 1e-6 * Math.max(1, Math.abs(w)) : Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w));
        expect(ok, `${what} [${k}][${i}]: webgpu ${g}, wasm ${w} (input ${v[i % v.length]})`).toBe(true);
      }));
    };
    for (const name of eg.ACTIVATIONS.filter((a) => a !== 'softmax' && a !== 'logSoftmax')) {
      await sameSpecials(`${name} at extremes`, () => eg.activation(eg.tensor(v, [3, 4]), name));
    }
    // pow's special values: negative bases (integer and fractional exponents), zeros
    await sameSpecials('pow of negative bases and zeros', () => eg.pow(eg.tensor([-2, -2, -2, 0, 0, 0, 2, 4, -3, -1, 1, 0], [3, 4]), eg.tensor([2, 3, 0.5, 0, -1, 2, -2, 0.5, 3, 4, 7, 3], [3, 4])));
    await sameSpecials('max/min with NaN', () => [eg.maximum(eg.tensor(v, [3, 4]), 0), eg.minimum(eg.tensor(v, [3, 4]), 0)]);
    await sameSpecials('pool and reduce with NaN', () => [eg.maxPool(eg.tensor(v, [1, 3, 4, 1]), 2, 1, 'valid'), eg.max(eg.tensor(v, [3, 4]), 1), eg.min(eg.tensor(v, [3, 4]), 1)]);
    await sameSpecials('fused relu with NaN', () => eg.fused.matMul({ a: eg.tensor(v, [3, 4]), b: eg.tensor(Float32Array.of(1, 0, 0, 1, 0, 0, 0, 0), [4, 2]), activation: 'relu' }));
  });

  it('broadcasting binary ops and their gradients, unary ops, reductions', async () => {
    const a = data([2, 3, 4], 8, 0.5, 2), b = data([3, 1], 9, 0.5, 2);
    for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow'] as const) {
      await same(op, () => {
        const ta = eg.tensor(a, [2, 3, 4]), tb = eg.tensor(b, [3, 1]);
        const { da, db } = eg.backprop.binary(op, ta, tb, eg.tensor(data([2, 3, 4], 10), [2, 3, 4]));
        return [{ add: eg.add, sub: eg.sub, mul: eg.mul, div: eg.div, max: eg.maximum, min: eg.minimum, pow: eg.pow }[op](ta, tb), da, db];
      });
    }
    for (const f of [eg.neg, eg.abs, eg.exp, eg.log, eg.sqrt, eg.square, eg.reciprocal]) await same(f.name, () => f(eg.tensor(a, [2, 3, 4])));
    for (const f of [eg.sum, eg.mean, eg.max, eg.min]) {
      await same('reduce', () => [f(eg.tensor(a, [2, 3, 4]), 1), f(eg.tensor(a, [2, 3, 4]), [0, 2], true), f(eg.tensor(a, [2, 3, 4]))]);
    }
    await same('reduce grads', () => (['sum', 'mean', 'max', 'min'] as const).map((op) => eg.backprop.reduce(op, eg.tensor(a, [2, 3, 4]), 1, eg.tensor(data([2, 4], 11), [2, 4]))));
    const [ia, ib] = await both(() => eg.argMax(eg.tensor(a, [2, 3, 4]), 2));
    expect(Array.from(new Int32Array(ib[0].buffer, ib[0].byteOffset, ib[0].length))).toEqual(Array.from(new Int32Array(ia[0].buffer, ia[0].byteOffset, ia[0].length)));
  });

  it('convolution: grouped, strided, dilated, padded, depthwise, and both backward passes', async () => {
    const x = data([2, 7, 6, 6], 12), w = data([3, 3, 2, 6], 13), bias = data([6], 14);
    await same('conv', () => eg.fused.conv2d({ x: eg.tensor(x, [2, 7, 6, 6]), filter: eg.tensor(w, [3, 3, 2, 6]), strides: 2, pad: 'same', bias: eg.tensor(bias), activation: 'relu' }));
    await same('dilated', () => eg.conv2d(eg.tensor(x, [2, 7, 6, 6]), eg.tensor(w, [3, 3, 2, 6]), 1, [[1, 2], [0, 1]], 2));
    await same('depthwise', () => eg.depthwiseConv2d(eg.tensor(x, [2, 7, 6, 6]), eg.tensor(data([3, 3, 6, 2], 15), [3, 3, 6, 2]), 1, 'same'));
    await same('1x1', () => eg.conv2d(eg.tensor(x, [2, 7, 6, 6]), eg.tensor(data([1, 1, 6, 5], 16), [1, 1, 6, 5]), 1, 'valid'));
    const dy = data([2, 4, 3, 6], 17);
    await same('backprop', () => {
      const dx = eg.backprop.conv2dInput([2, 7, 6, 6], eg.tensor(dy, [2, 4, 3, 6]), eg.tensor(w, [3, 3, 2, 6]), 2, 'same');
      const { dw, db } = eg.backprop.conv2dFilter(eg.tensor(x, [2, 7, 6, 6]), eg.tensor(dy, [2, 4, 3, 6]), [3, 3, 2, 6], 2, 'same');
      return [dx, dw, db];
    }, 2e-5);
  });

  it('pooling and its gradients, global average pooling', async () => {
    const x = data([2, 7, 5, 3], 18), dy = data([2, 4, 3, 3], 19);
    await same('pools', () => [eg.maxPool(eg.tensor(x, [2, 7, 5, 3]), 3, 2, 'same'), eg.avgPool(eg.tensor(x, [2, 7, 5, 3]), 3, 2, 'same'), eg.globalAvgPool(eg.tensor(x, [2, 7, 5, 3]))]);
    await same('pool grads', () => [
      eg.backprop.maxPool(eg.tensor(x, [2, 7, 5, 3]), eg.tensor(dy, [2, 4, 3, 3]), 3, 2, 'same'),
      eg.backprop.avgPool(eg.tensor(x, [2, 7, 5, 3]), eg.tensor(dy, [2, 4, 3, 3]), 3, 2, 'same'),
      eg.backprop.globalAvgPool(eg.tensor(x, [2, 7, 5, 3]), eg.tensor(data([2, 3], 20), [2, 3])),
    ]);
  });

  it('batch norm: inference, training with moving statistics, gradient', async () => {
    const x = data([6, 5], 21), g = data([5], 22), b = data([5], 23), m = data([5], 24), v = data([5], 25, 0.5, 2);
    await same('bn', () => {
      const mm = eg.tensor(m), mv = eg.tensor(v);
      const train = eg.backprop.batchNormTrain(eg.tensor(x, [6, 5]), eg.tensor(g), eg.tensor(b), { movingMean: mm, movingVariance: mv, momentum: 0.9 });
      const grad = eg.backprop.batchNorm(eg.tensor(x, [6, 5]), eg.tensor(data([6, 5], 26), [6, 5]), eg.tensor(g), train.mean, train.invStd);
      return [eg.batchNorm(eg.tensor(x, [6, 5]), eg.tensor(m), eg.tensor(v), eg.tensor(b), eg.tensor(g)), train.y, train.mean, train.invStd, mm, mv, grad.dx, grad.dgamma, grad.dbeta];
    }, 2e-5);
  });

  it('batch norm statistics over many rows far from zero (25,088 rows of mean 10) agree with wasm, which sums in float64', async () => {
    const shape = [32, 28, 28, 2], x = data(shape, 42, 9, 11), g = data([2], 43), b = data([2], 44), dy = data(shape, 45, 0, 1e-3);
    const [want, got] = await both(() => {
      const t = eg.backprop.batchNormTrain(eg.tensor(x, shape), eg.tensor(g), eg.tensor(b), {});
      const d = eg.backprop.batchNorm(eg.tensor(x, shape), eg.tensor(dy, shape), eg.tensor(g), t.mean, t.invStd);
      return [t.mean, t.invStd, d.dgamma, d.dbeta];
    });
    // per channel, relative: plain f32 sums of 25,088 terms drift by ~1e-4 of the sum
    want.forEach((w, k) => w.forEach((v, i) => expect(Math.abs(got[k][i] - v), `output ${k} channel ${i}: webgpu ${got[k][i]}, wasm ${v}`).toBeLessThanOrEqual(2e-6 * Math.abs(v) + 1e-9)));
  });

  it('shape ops: transposes, concatenation, padding, cropping, slices (and their gradients)', async () => {
    const x = data([2, 3, 4, 5], 28), y = data([2, 3, 4, 2], 29);
    await same('shape ops', () => {
      const tx = eg.tensor(x, [2, 3, 4, 5]), ty = eg.tensor(y, [2, 3, 4, 2]);
      const padded = runEager('zeroPad2d', [tx], { padding: [[1, 2], [0, 3]] })[0];
      return [
        runEager('transpose', [tx], { perm: [0, 3, 1, 2] })[0],
        runEager('nchwToNhwc', [tx])[0],
        runEager('nhwcToNchw', [tx])[0],
        runEager('concat', [tx, ty])[0],
        ...runEager('concatGrad', [eg.tensor(data([2, 3, 4, 7], 30), [2, 3, 4, 7]), tx, ty]),
        padded,
        runEager('crop2d', [padded, tx], { padding: [[1, 2], [0, 3]] })[0],
        runEager('slice', [tx], { axis: 2, start: 1, end: 3 })[0],
        runEager('sliceGrad', [eg.tensor(data([2, 3, 2, 5], 31), [2, 3, 2, 5]), tx], { axis: 2, start: 1, end: 3 })[0],
      ];
    });
  });

  it('imported ONNX models (torchvision exports: MobileNetV2 features, SqueezeNet 1.1) predict on webgpu as on wasm', async () => {
    for (const file of ['models/mobilenet-v2-features.onnx', 'test/fixtures/squeezenet1_1.onnx']) {
      const bytes = new Uint8Array(readFileSync(file));
      setBackend(wasm);
      const onWasm = await eg.loadModel(bytes);
      const shape = [1, ...onWasm.inputShape];
      const x = data(shape, 32, 0, 1);
      const want = onWasm.predict(eg.tensor(x, shape)).dataSync();
      setBackend(gpu);
      const onGpu = await eg.loadModel(bytes);
      const got = onGpu.predict(eg.tensor(x, shape));
      expect(got.location).toBe('webgpu');
      expectClose(await got.data(), want, 1e-4, file);
    }
  });

  it('a model that ran on one backend says so on another instead of computing on stale plans; what webgpu cannot do is refused clearly', async () => {
    setBackend(wasm);
    const m = eg.sequential({ layers: [eg.layers.dense({ units: 2, inputShape: [3], kernelInitializer: 'ones' })] });
    expect(Array.from((m.predict(eg.tensor([[1, 2, 3]])) as Tensor).dataSync())).toEqual([6, 6]);
    setBackend(gpu);
    expect(() => m.predict(eg.tensor([[1, 2, 3]]))).toThrow("weight 'dense/kernel' of layer 'dense' lives on backend 'wasm' (simd build) but the active one is 'webgpu'");
    expect(() => eg.relu(gpuFrom(wasm))).toThrow("'x' lives on backend 'wasm' (simd build) but the active one is 'webgpu': move it with x.to('webgpu')");
    const onGpu = eg.sequential({ layers: [eg.layers.dense({ units: 2, inputShape: [3] })] });
    onGpu.compile({ optimizer: 'sgd', loss: 'mse' });
    expect(() => onGpu.evaluate(eg.tensor([[1, 2, 3]]), eg.tensor([[1, 1]]))).toThrow("edgegrad.evaluate: not available on the 'webgpu' backend yet (it reads results back synchronously): use await model.evaluateAsync(x, y), which evaluates on the device");
    expect((await onGpu.evaluateAsync(eg.tensor([[1, 2, 3]]), eg.tensor([[1, 1]]))).loss).toBeGreaterThanOrEqual(0);
    await expect(onGpu.features(eg.tensor([[1, 2, 3]]))).rejects.toThrow('has no frozen prefix to cache');
    expect(() => eg.data.oneHot(eg.tensor([1, 0], [2]), 2)).toThrow("the labels live on the 'webgpu' backend as float32: make them int32 class indices there");
    expect((await eg.toOnnx(onGpu as never)).byteLength).toBeGreaterThan(0); // its weights read back first
    // quantize reads the weights back and builds the int8 model on wasm (test/webgpu-gaps.test.ts)
    expect((await eg.quantize(onGpu, { activations: 'float32' })).quantization!.nodes.map((n) => n.as)).toEqual(['int8']);
  });

  it('a LeNet fit of 50 steps on webgpu (accuracy and validation too) matches the same fit on wasm (same seed, same batches) within 1e-3 in every weight', async () => {
    const d = await (setBackend(wasm), eg.data.loadDigits());
    const xs = eg.data.slice(d.images, 0, 500).dataSync().slice(), ys = eg.data.slice(d.labels, 0, 500).dataSync().slice();
    const lenet = () => eg.sequential({
      layers: [
        eg.layers.conv2d({ filters: 6, kernelSize: 5, activation: 'relu', inputShape: [28, 28, 1], seed: 1 }),
        eg.layers.maxPooling2d({ poolSize: 2 }),
        eg.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', seed: 2 }),
        eg.layers.maxPooling2d({ poolSize: 2 }),
        eg.layers.flatten(),
        eg.layers.dense({ units: 32, activation: 'relu', seed: 3 }),
        eg.layers.dropout({ rate: 0.2 }),
        eg.layers.dense({ units: 10, activation: 'softmax', seed: 4 }),
      ],
    });
    const train = async (be: Backend) => {
      setBackend(be);
      const m = lenet();
      m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.002 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      const h = await m.fit(eg.tensor(xs, [500, 28, 28, 1]), eg.tensor(ys, [500], 'int32'), { epochs: 2, batchSize: 16, seed: 7, validationSplit: 0.2 });
      const weights = await Promise.all(m.getWeights().map((w) => w.data()));
      return { loss: h.history.loss, acc: h.history.accuracy, valLoss: h.history.val_loss, valAcc: h.history.val_accuracy, weights };
    };
    const onWasm = await train(wasm);
    const onGpu = await train(gpu);
    expectClose(onGpu.loss, onWasm.loss, 1e-3, 'epoch losses');
    expectClose(onGpu.valLoss, onWasm.valLoss, 1e-3, 'validation losses');
    // accuracies count examples: equal unless an example sits on a tie within float noise
    expectClose(onGpu.acc, onWasm.acc, 1 / 400 + 1e-9, 'accuracy');
    expectClose(onGpu.valAcc, onWasm.valAcc, 1 / 100 + 1e-9, 'validation accuracy');
    expect(onWasm.loss[1]).toBeLessThan(onWasm.loss[0]);
    onWasm.weights.forEach((w, i) => expectClose(onGpu.weights[i], w, 1e-3, `weight ${i}`));
  });

  it('clipNorm, L1/L2 regularizers and max-norm constraints train on webgpu as on wasm (every optimizer)', async () => {
    const x = data([24, 6], 40), y = data([24, 3], 41);
    for (const name of ['sgd', 'momentum', 'adagrad', 'adadelta', 'rmsprop', 'adam', 'nadam', 'rprop'] as const) {
      const run = async (be: Backend) => {
        setBackend(be);
        const m = eg.sequential({ layers: [
          eg.layers.dense({ units: 5, activation: 'tanh', inputShape: [6], seed: 1, kernelRegularizer: eg.regularizers.l1l2({ l1: 0.01, l2: 0.02 }), kernelConstraint: eg.constraints.maxNorm({ maxValue: 0.9 }) }),
          eg.layers.dense({ units: 3, seed: 2 }),
        ] });
        const opt = name === 'momentum' ? eg.optimizers.sgd({ learningRate: 0.05, momentum: 0.9, nesterov: true, clipNorm: 0.5 })
          : (eg.optimizers as Record<string, (c: object) => eg.Optimizer>)[name]({ learningRate: 0.05, clipNorm: 0.5 });
        m.compile({ optimizer: opt, loss: 'mse' });
        await m.fit(eg.tensor(x, [24, 6]), eg.tensor(y, [24, 3]), { epochs: 3, batchSize: 8, seed: 3 });
        return Promise.all(m.getWeights().map((w) => w.data()));
      };
      const want = await run(wasm), got = await run(gpu);
      want.forEach((w, i) => expectClose(got[i], w, 1e-4, `${name} weight ${i}`));
    }
  });

  it('a kernel the backend lacks is named, with the backend; a result the GPU cannot return synchronously names the asynchronous form', async () => {
    setBackend(gpu);
    expect(() => gpu.kernels.qgemmPackA(1, 1, 0, 1, 0)).toThrow("backend 'webgpu' lacks kernel 'qgemmPackA'");
    const x = eg.tensor([1, NaN, -3, Infinity, 2, -Infinity, 0.5]);
    expect(() => gpu.kernels.countNonFinite(7, x.ptr)).toThrow("use 'await backend.countNonFiniteAsync(n, x)'");
    expect(await gpu.countNonFiniteAsync(7, x.ptr)).toBe(3);
    const w = data([1001], 50), tw = eg.tensor(w);
    let ss = 0, pen = 0;
    for (const v of w) { ss += v * v; pen += 0.01 * Math.abs(v) + 0.02 * v * v; }
    expect(Math.abs(await gpu.sumSquaresAsync(1001, tw.ptr) - ss)).toBeLessThan(1e-5 * ss);
    expect(Math.abs(await gpu.penaltyAsync(1001, tw.ptr, 0.01, 0.02) - pen)).toBeLessThan(1e-5 * pen);
  });

  it('a trained model predicts on webgpu as on wasm', async () => {
    setBackend(wasm);
    const model = eg.sequential({
      layers: [
        eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], padding: 'same', seed: 1 }),
        eg.layers.maxPooling2d({ poolSize: 2 }),
        eg.layers.batchNormalization(),
        eg.layers.flatten(),
        eg.layers.dense({ units: 5, activation: 'softmax', seed: 2 }),
      ],
    });
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = data([6, 8, 8, 1], 27);
    const y = new Float32Array(30).map((_, i) => (i % 5 === Math.floor(i / 5) % 5 ? 1 : 0));
    await model.fit(eg.tensor(x, [6, 8, 8, 1]), eg.tensor(y, [6, 5]), { epochs: 2, batchSize: 3 });
    const want = (model.predict(eg.tensor(x, [6, 8, 8, 1])) as Tensor).dataSync();
    // the same weights on the GPU
    const weights = model.getWeights().map((w) => w.dataSync().slice());
    setBackend(gpu);
    const onGpu = eg.sequential({
      layers: [
        eg.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], padding: 'same' }),
        eg.layers.maxPooling2d({ poolSize: 2 }),
        eg.layers.batchNormalization(),
        eg.layers.flatten(),
        eg.layers.dense({ units: 5, activation: 'softmax' }),
      ],
    });
    onGpu.setWeights(weights.map((w, i) => eg.tensor(w, model.getWeights()[i].shape)));
    const got = onGpu.predict(eg.tensor(x, [6, 8, 8, 1])) as Tensor;
    expect(got.location).toBe('webgpu');
    expectClose(await got.data(), want, 1e-5, 'predictions');
  });
  /** A model made by `make` trained on wasm and on webgpu (same seed, same batches): its weights before and after, and the per-batch losses. */
  async function fitBoth(make: () => eg.Sequential | eg.Model, x: Float32Array, xShape: number[], y: Float32Array, yShape: number[],
    opts: { optimizer?: () => eg.Optimizer; loss?: string; epochs?: number; batchSize?: number } = {}) {
    const run = async (be: Backend) => {
      setBackend(be);
      const m = make();
      m.compile({ optimizer: opts.optimizer?.() ?? eg.optimizers.sgd({ learningRate: 1 }), loss: (opts.loss ?? 'categoricalCrossentropy') as never });
      const before = await Promise.all(m.getWeights().map((w) => w.data()));
      const losses: number[] = [];
      await m.fit(eg.tensor(x, xShape), eg.tensor(y, yShape), { epochs: opts.epochs ?? 1, batchSize: opts.batchSize ?? xShape[0], shuffle: false, seed: 4,
        callbacks: { onBatchEnd: (_b: number, l?: { loss?: number }) => { losses.push(l?.loss ?? NaN); } } });
      const after = await Promise.all(m.getWeights().map((w) => w.data()));
      const pred = [m.predict(eg.tensor(x, xShape))].flat() as Tensor[];
      return { before, after, losses, pred: await pred[0].data() as Float32Array };
    };
    return { wasm: await run(wasm), gpu: await run(gpu) };
  }

  const oneHotRows = (n: number, c: number) => Float32Array.from({ length: n * c }, (_, i) => (i % c === (Math.floor(i / c) * 7) % c ? 1 : 0));

  it('maxout, PReLU and randomized ReLU forward and backward as on wasm; a seed draws the same slopes (and the dropout masks after them)', async () => {
    const x = data([3, 7, 10], 51), dy5 = data([3, 7, 5], 52), dy = data([3, 7, 10], 53), alpha = data([10], 54, 0, 0.5);
    x[3] = x[2]; // a tie: the first of the group takes the gradient
    await same('maxout', () => [eg.maxout(eg.tensor(x, [3, 7, 10]), 5), eg.backprop.maxout(eg.tensor(x, [3, 7, 10]), 5, eg.tensor(dy5, [3, 7, 5]))], 1e-6);
    await same('prelu', () => {
      const { dx, dalpha } = eg.backprop.prelu(eg.tensor(x, [3, 7, 10]), eg.tensor(alpha), eg.tensor(dy, [3, 7, 10]));
      return [eg.prelu(eg.tensor(x, [3, 7, 10]), eg.tensor(alpha)), dx, dalpha];
    }, 1e-6);
    await same('rrelu', () => {
      eg.setSeed(9);
      const a = eg.rrelu(eg.tensor(x, [3, 7, 10]), { lower: 0.1, upper: 0.3, training: true });
      const b = eg.rrelu(eg.tensor(dy, [3, 7, 10]), { lower: 0.2, upper: 0.25, training: true });
      // the stream went on after the slopes, by as many draws as there were negative inputs: the same masks follow
      return [a.y, a.slopes!, b.y, b.slopes!, eg.dropout(eg.tensor(x, [3, 7, 10]), 0.4), eg.rrelu(eg.tensor(x, [3, 7, 10])).y];
    }, 1e-6);
    // in a model, with dropout on the same stream, training several steps: the weights follow wasm's
    const xs = data([12, 6], 55), ys = oneHotRows(12, 3);
    const r = await fitBoth(() => eg.sequential([
      eg.layers.dense({ units: 10, inputShape: [6], seed: 1 }), eg.layers.prelu(), eg.layers.rrelu(), eg.layers.dropout({ rate: 0.3 }),
      eg.layers.dense({ units: 6, seed: 2 }), eg.layers.maxout({ units: 3 }), eg.layers.activation({ activation: 'softmax' }),
    ]), xs, [12, 6], ys, [12, 3], { optimizer: () => eg.optimizers.adam({ learningRate: 0.01 }), epochs: 3, batchSize: 4 });
    r.wasm.after.forEach((w, i) => expectClose(r.gpu.after[i], w, 1e-4, `weight ${i}`));
    expectClose(r.gpu.losses, r.wasm.losses, 1e-4, 'losses');
  });

  it('LSTM (peepholes), GRU and simple RNN layers with masking: predictions and a training step\'s gradients as on wasm (batch 3, 7 steps, 5 units)', async () => {
    const B = 3, T = 7, F = 4;
    const x = data([B, T, F], 56);
    // padding: example 1 ends after 4 steps, example 2 has a gap at step 2
    for (let t = 4; t < T; t++) x.fill(0, (1 * T + t) * F, (1 * T + t + 1) * F);
    x.fill(0, (2 * T + 2) * F, (2 * T + 3) * F);
    const y = oneHotRows(B, 3);
    const r = await fitBoth(() => eg.sequential([
      eg.layers.masking({ maskValue: 0, inputShape: [T, F] }),
      eg.layers.lstm({ units: 5, returnSequences: true, usePeepholes: true, seed: 1 }),
      eg.layers.gru({ units: 5, returnSequences: true, seed: 2 }),
      eg.layers.gru({ units: 5, returnSequences: true, resetAfter: false, recurrentActivation: 'hardSigmoid', seed: 3 }),
      eg.layers.simpleRNN({ units: 5, seed: 4 }),
      eg.layers.dense({ units: 3, activation: 'softmax', seed: 5 }),
    ]), x, [B, T, F], y, [B, 3]);
    // the orthogonal recurrent kernels come from normal draws on the host (the reference kernels: within an ulp of wasm's)
    r.wasm.before.forEach((w, i) => expectClose(r.gpu.before[i], w, 1e-6, `initial weight ${i}`));
    // one SGD step at learning rate 1: the weights moved by minus the gradient
    r.wasm.after.forEach((w, i) => {
      const gw = w.map((v, k) => r.wasm.before[i][k] - v), gg = r.gpu.after[i].map((v, k) => r.gpu.before[i][k] - v);
      expect(gw.some((v) => v !== 0), `gradient ${i} is not zero`).toBe(true);
      expectClose(gg, gw, 1e-4, `gradient ${i}`);
    });
    expectClose(r.gpu.pred, r.wasm.pred, 1e-4, 'predictions after the step');
  });

  it('bidirectional LSTM and GRU (recurrent dropout, sequences) train on webgpu as on wasm', async () => {
    const B = 3, T = 7, F = 3;
    const x = data([B, T, F], 57), y = oneHotRows(B, 2);
    const make = () => {
      const inp = eg.input({ shape: [T, F] });
      const a = eg.layers.bidirectional({ layer: eg.layers.lstm({ units: 5, returnSequences: true, recurrentDropout: 0.2, seed: 1 }) }).apply(inp);
      const b = eg.layers.bidirectional({ layer: eg.layers.gru({ units: 4, seed: 2 }), mergeMode: 'ave' }).apply(a);
      const c = eg.layers.bidirectional({ layer: eg.layers.simpleRNN({ units: 3, seed: 3 }), mergeMode: 'sum' }).apply(a);
      return eg.model({ inputs: inp, outputs: eg.layers.dense({ units: 2, activation: 'softmax', seed: 4 }).apply(eg.layers.concatenate().apply([b, c])) });
    };
    const r = await fitBoth(make, x, [B, T, F], y, [B, 2], { optimizer: () => eg.optimizers.adam({ learningRate: 0.01 }), epochs: 3 });
    r.wasm.after.forEach((w, i) => expectClose(r.gpu.after[i], w, 1e-4, `weight ${i}`));
    expectClose(r.gpu.losses, r.wasm.losses, 1e-4, 'losses');
  });

  it('augmentation ops in training: every fill mode and interpolation, value adjustments, and their gradients as on wasm', async () => {
    const x = data([3, 5, 7, 2], 58, 0, 1), g = data([3, 5, 7, 2], 59), gc = data([3, 4, 3, 2], 60);
    for (const fillMode of ['reflect', 'wrap', 'constant', 'nearest'] as const) {
      for (const interpolation of ['bilinear', 'nearest'] as const) {
        const attrs = { flip: 'horizontal_and_vertical', rotation: [-0.2, 0.2], translate: { h: [-0.3, 0.3], w: [-0.4, 0.4] }, zoom: { h: [-0.3, 0.4] }, fillMode, fillValue: 0.25, interpolation };
        await same(`affine ${fillMode} ${interpolation}`, () => {
          eg.setSeed(21);
          const [yv, mats] = runEager('randomAffine', [eg.tensor(x, [3, 5, 7, 2])], attrs, { training: true });
          return [yv, mats, runEager('randomAffineGrad', [eg.tensor(g, [3, 5, 7, 2]), mats, eg.tensor(x, [3, 5, 7, 2])], attrs)[0]];
        }, 1e-5);
      }
    }
    await same('crop', () => {
      eg.setSeed(22);
      const attrs = { crop: [4, 3] };
      const [yv, mats] = runEager('randomAffine', [eg.tensor(x, [3, 5, 7, 2])], attrs, { training: true });
      return [yv, runEager('randomAffineGrad', [eg.tensor(gc, [3, 4, 3, 2]), mats, eg.tensor(x, [3, 5, 7, 2])], attrs)[0]];
    }, 1e-6);
    // a stream that RReLU moved to the GPU cannot be drawn from on the host until it is seeded again: said, not silently wrong
    setBackend(gpu);
    eg.setSeed(24);
    eg.rrelu(eg.tensor(x, [3, 5, 7, 2]), { training: true });
    expect(() => runEager('randomAffine', [eg.tensor(x, [3, 5, 7, 2])], { flip: 'horizontal' }, { training: true })).toThrow('its state is there and the host cannot draw from it synchronously: seed it again (eg.setSeed)');
    for (const kind of ['contrast', 'brightness'] as const) {
      await same(kind, () => {
        eg.setSeed(23);
        const attrs = { kind, range: kind === 'contrast' ? [0.5, 1.8] : [-0.3, 0.3], valueRange: [0, 1] };
        const [yv, p] = runEager('imageAdjust', [eg.tensor(x, [3, 5, 7, 2])], attrs, { training: true });
        return [yv, p, runEager('imageAdjustGrad', [eg.tensor(g, [3, 5, 7, 2]), p, eg.tensor(x, [3, 5, 7, 2])], attrs)[0]];
      }, 1e-5);
    }
  });

  it('a model with every augmentation layer (seeded) trains on webgpu as on wasm', async () => {
    const N = 6, H = 8, W = 7, C = 2;
    const x = data([N, H, W, C], 61, 0, 1), y = oneHotRows(N, 2);
    const r = await fitBoth(() => eg.sequential([
      eg.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', inputShape: [H, W, C], seed: 1 }),
      eg.layers.randomFlip({ seed: 1 }), eg.layers.randomRotation({ factor: 0.1, seed: 2 }),
      eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.2, fillMode: 'wrap', seed: 3 }),
      eg.layers.randomZoom({ heightFactor: [-0.2, 0.2], fillMode: 'constant', seed: 4 }),
      eg.layers.randomContrast({ factor: 0.3, valueRange: [-2, 2], seed: 5 }), eg.layers.randomBrightness({ factor: 0.2, valueRange: [-2, 2], seed: 6 }),
      eg.layers.randomCrop({ height: 6, width: 5, seed: 7 }),
      eg.layers.flatten(), eg.layers.dense({ units: 2, activation: 'softmax', seed: 8 }),
    ]), x, [N, H, W, C], y, [N, 2], { optimizer: () => eg.optimizers.adam({ learningRate: 0.01 }), epochs: 2, batchSize: 3 });
    r.wasm.after.forEach((w, i) => expectClose(r.gpu.after[i], w, 1e-4, `weight ${i}`));
    expectClose(r.gpu.losses, r.wasm.losses, 1e-4, 'losses');
  });

  it('fit on webgpu: an L2 regularizer\'s penalty is in the per-batch loss as on wasm, and the NaN guard names the same layer and step', async () => {
    const x = data([12, 4], 62), y = data([12, 2], 63);
    const r = await fitBoth(() => eg.sequential([
      eg.layers.dense({ units: 6, activation: 'tanh', inputShape: [4], seed: 1, kernelRegularizer: eg.regularizers.l2(0.05) }),
      eg.layers.dense({ units: 2, seed: 2, kernelRegularizer: eg.regularizers.l1(0.02) }),
    ]), x, [12, 4], y, [12, 2], { loss: 'mse', optimizer: () => eg.optimizers.sgd({ learningRate: 0.1 }), epochs: 2, batchSize: 4 });
    expect(r.wasm.losses.length).toBe(6);
    expectClose(r.gpu.losses, r.wasm.losses, 1e-5, 'losses with penalties');
    r.wasm.after.forEach((w, i) => expectClose(r.gpu.after[i], w, 1e-5, `weight ${i}`));
    // an example of 1e30 overflows the gradients of its batch (batch 1): the output layer's first
    const big = x.slice();
    big[5 * 4] = 1e30;
    const fail = async (be: Backend) => {
      setBackend(be);
      const m = eg.sequential([eg.layers.dense({ units: 3, inputShape: [4], seed: 1, name: 'hidden' }), eg.layers.dense({ units: 2, seed: 2, name: 'out' })]);
      m.compile({ optimizer: 'sgd', loss: 'mse' });
      return m.fit(eg.tensor(big, [12, 4]), eg.tensor(y, [12, 2]), { epochs: 1, batchSize: 4, shuffle: false }).then(() => 'trained', (err: Error) => err.message);
    };
    const pattern = /the gradient of layer '(\w+)' \((\w+)\) became non-finite at epoch (\d+), batch (\d+)/;
    const onWasm = (await fail(wasm)).match(pattern), onGpu = (await fail(gpu)).match(pattern);
    expect(onWasm?.slice(1)).toEqual(['out', 'kernel', '0', '1']);
    expect(onGpu?.slice(1)).toEqual(onWasm?.slice(1));
  });
  it('a model with two outputs trains on a loss per output (weighted, with per-output metrics and validation) as on wasm', async () => {
    const x = data([12, 5], 61), value = data([12, 2], 62), labels = Int32Array.from({ length: 12 }, (_, i) => (i * 5) % 3);
    const run = async (be: Backend) => {
      setBackend(be);
      const inp = eg.input({ shape: [5], name: 'x' });
      const trunk = eg.layers.dense({ units: 6, activation: 'tanh', seed: 1 }).apply(inp);
      const m = eg.model({ inputs: inp, outputs: [eg.layers.dense({ units: 3, activation: 'softmax', seed: 2, name: 'classes' }).apply(trunk), eg.layers.dense({ units: 2, seed: 3, name: 'value' }).apply(trunk)] });
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss: ['sparseCategoricalCrossentropy', 'mse'], lossWeights: [1, 0.25], metrics: { classes: ['accuracy'], value: ['mae'] } });
      const h = await m.fit(eg.tensor(x, [12, 5]), { classes: eg.tensor(labels, [12], 'int32'), value: eg.tensor(value, [12, 2]) }, { epochs: 3, batchSize: 4, shuffle: false, validationSplit: 0.25 });
      return { h: h.history, w: await Promise.all(m.getWeights().map((t) => t.data())) };
    };
    const a = await run(wasm), b = await run(gpu);
    expect(Object.keys(b.h).sort()).toEqual(Object.keys(a.h).sort());
    expect(Object.keys(a.h)).toContain('val_value_mae');
    for (const k of Object.keys(a.h)) expectClose(b.h[k], a.h[k], 1e-4, k);
    a.w.forEach((w, i) => expectClose(b.w[i], w, 1e-4, `weight ${i}`));
  });
  it('1-bit activation masks (ReLU, ReLU6, leaky ReLU) and the masked backward, in place too, as on wasm; a TinyTL step that keeps them trains as on wasm', async () => {
    const rows = 3, per = 45, words = 2;
    const y = data([rows, per], 71, -2, 8), dy = data([rows, per], 72);
    for (const [kind, slope] of [[1, 0], [2, 0], [3, 0.3]]) {
      await same(`actMask ${kind}`, () => {
        const be = eg.getBackend();
        const yt = eg.tensor(y, [rows, per]), m = eg.tensor(new Int32Array(rows * words), [rows, words], 'int32'), g = eg.tensor(dy, [rows, per]), dx = eg.tensor(new Float32Array(rows * per), [rows, per]);
        be.kernels.actMask(kind, rows, per, yt.ptr, m.ptr);
        be.kernels.actMaskedBackward(rows, per, m.ptr, g.ptr, dx.ptr, slope);
        be.kernels.actMaskedBackward(rows, per, m.ptr, g.ptr, g.ptr, slope);
        return [dx, g, eg.tensor(new Float32Array(1), [1])];
      }, 0);
    }
    // a trainable dense under ReLU6 (masked: the frozen dense above it reads no input) and a frozen dense with ReLU fused (masked)
    const x = data([6, 10], 73), labels = Int32Array.from({ length: 6 }, (_, i) => i % 3);
    const run = async (be: Backend) => {
      setBackend(be);
      eg.setSeed(9);
      const m = eg.sequential([
        eg.layers.dense({ units: 8, inputShape: [10], name: 'd1' }),
        eg.layers.activation({ activation: 'relu6' }),
        eg.layers.dense({ units: 6, activation: 'relu', name: 'd2' }),
        eg.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ]);
      for (const l of m.layers) if (l.name === 'd2' || l.name === 'out') l.trainable = false;
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy' });
      const step = (m as unknown as { stepGraph(t: boolean, p: { every: number }): { g: { nodes: Array<{ op: string }> } } }).stepGraph(true, { every: 1 }).g;
      expect(step.nodes.filter((n) => n.op === 'activationMask').length).toBe(2);
      await m.fit(eg.tensor(x, [6, 10]), eg.tensor(labels, [6], 'int32'), { epochs: 2, batchSize: 3, shuffle: false });
      return Promise.all(m.getWeights().map((t) => t.data()));
    };
    const a = await run(wasm), b = await run(gpu);
    a.forEach((w, i) => expectClose(b[i], w, 1e-5, `weight ${i}`));
  });
});
