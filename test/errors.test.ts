// Bad calls fail in the TypeScript layer with errors that name the op and the shapes, before any kernel
// runs; a raw kernel given a pointer past the end of memory traps instead of writing anywhere.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { lossAndGrad } from '../src/ops/loss.js';
import type { HeapBackend } from '../src/backend/index.js';

describe('bad input', () => {
  let be: HeapBackend;
  beforeAll(() => { be = useBuild('simd'); });

  it('fit names an option it does not take (a typo, a Keras option), with the nearest it does', async () => {
    const m = eg.sequential([eg.layers.dense({ units: 2, inputShape: [3], seed: 1 })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = eg.tensor(new Float32Array(12), [4, 3]), y = eg.tensor(new Float32Array(8), [4, 2]);
    const w = Array.from(m.getWeights()[0].dataSync());
    await expect(m.fit(x, y, { epoch: 3 } as never)).rejects.toThrow(/unknown option 'epoch' \(did you mean 'epochs'\?\): fit takes epochs, batchSize/);
    await expect(m.fit(x, y, { classWeight: { 0: 2 } } as never)).rejects.toThrow(/unknown option 'classWeight'/);
    // nothing trained on the way
    expect(Array.from(m.getWeights()[0].dataSync())).toEqual(w);
    await m.fit(x, y, { epochs: 1, batchSize: 2, shuffle: false, validationSplit: undefined });
  });

  it('fitStandardizer (and its async form) names a NaN or infinite value by example and feature', async () => {
    const v = Float32Array.from({ length: 12 }, (_, i) => i);
    v[7] = NaN;
    const x = eg.tensor(v, [4, 3]);
    expect(() => eg.data.fitStandardizer(x)).toThrow('edgegrad.data.fitStandardizer: x holds NaN at example 2, feature 1');
    v[7] = -Infinity;
    await expect(eg.data.fitStandardizerAsync(eg.tensor(v, [4, 3]))).rejects.toThrow('x holds -Infinity at example 2, feature 1');
  });

  it('matMul names both shapes when inner dimensions differ', () => {
    expect(() => eg.matMul(eg.zeros([2, 3]), eg.zeros([4, 5]))).toThrow('edgegrad.matMul: inner dimensions differ: [2,3] x [4,5] (3 vs 4)');
    expect(() => eg.matMul(eg.zeros([2]), eg.zeros([2, 2]))).toThrow(/operands must be rank 2 or more, got \[2\] and \[2,2\]/);
    expect(() => eg.matMul(eg.zeros([2, 2, 3]), eg.zeros([3, 3, 4]))).toThrow(/batch dimensions differ: \[2,2,3\] x \[3,3,4\]/);
  });

  it('conv2d rejects channel mismatches, bad ranks, bad padding and kernels that do not fit', () => {
    expect(() => eg.conv2d(eg.zeros([1, 5, 5, 3]), eg.zeros([3, 3, 2, 4]), 1, 'same'))
      .toThrow(/input has 3 channels but the filter \[3,3,2,4\] expects 2 per group/);
    expect(() => eg.conv2d(eg.zeros([5, 5, 3]), eg.zeros([3, 3, 3, 4]), 1, 'same')).toThrow(/x must be rank 4 .* got \[5,5,3\]/);
    expect(() => eg.conv2d(eg.zeros([1, 5, 5, 3]), eg.zeros([3, 3, 3, 4]), 0, 'same')).toThrow(/'strides' must be a positive integer/);
    expect(() => eg.conv2d(eg.zeros([1, 5, 5, 3]), eg.zeros([3, 3, 3, 4]), 1, 'full' as never)).toThrow(/pad must be 'same', 'valid'/);
    expect(() => eg.conv2d(eg.zeros([1, 2, 2, 3]), eg.zeros([3, 3, 3, 4]), 1, 'valid')).toThrow(/kernel 3 .* does not fit input size 2/);
    expect(() => eg.depthwiseConv2d(eg.zeros([1, 5, 5, 3]), eg.zeros([3, 3, 4, 1]), 1, 'same')).toThrow(/filter \[3,3,4,1\] is for 4 channels/);
  });

  it('non-finite hyper-parameters are refused by name', () => {
    expect(() => eg.leakyRelu(eg.zeros([3]), NaN)).toThrow("edgegrad.leakyRelu: 'alpha' must be a finite number, got NaN");
    expect(() => eg.batchNorm(eg.zeros([2, 3]), eg.zeros([3]), eg.ones([3]), undefined, undefined, Infinity)).toThrow(/'varianceEpsilon' must be a finite number/);
    expect(() => eg.randomUniform([3], 0, NaN)).toThrow(/'maxval' must be a finite number/);
    expect(() => eg.dropout(eg.zeros([3]), NaN)).toThrow(/'rate' must be a finite number/);
  });

  it('wrong dtypes and disposed tensors are named', () => {
    const i = eg.tensor([1, 2, 3, 4], [2, 2], 'int32');
    expect(() => eg.matMul(i, eg.zeros([2, 2]))).toThrow("edgegrad.matMul: 'a' must be float32, got int32 [2,2]");
    const d = eg.zeros([2, 2]);
    d.dispose();
    expect(() => eg.relu(d)).toThrow("edgegrad.relu: 'x' was disposed");
    expect(() => d.dataSync()).toThrow(/disposed/);
  });

  it('tensor() reports ragged arrays and size mismatches', () => {
    expect(() => eg.tensor([[1, 2], [3]])).toThrow(/ragged nested array: expected length 2 at depth 1, got 1/);
    expect(() => eg.tensor([1, 2, 3], [2, 2])).toThrow('edgegrad.tensor: 3 values do not fill shape [2,2] (4 elements)');
    expect(() => eg.zeros([2, -1])).toThrow(/invalid shape \[2,-1\]/);
  });

  it('broadcasting, reductions, losses and activations reject what does not fit', () => {
    expect(() => eg.add(eg.zeros([2, 3]), eg.zeros([4]))).toThrow('edgegrad.add: shapes [2,3] and [4] do not broadcast (axis 1: 3 vs 4)');
    expect(() => eg.sum(eg.zeros([2, 3]), 2)).toThrow('edgegrad.sum: axis 2 is out of range for rank 2');
    expect(() => lossAndGrad('meanSquaredError', eg.zeros([2, 3]), eg.zeros([3, 2]))).toThrow(/labels \[2,3\] and predictions \[3,2\] must have the same shape/);
    expect(() => lossAndGrad('sparseSoftmaxCrossEntropy', eg.tensor([0, 7], [2], 'int32'), eg.zeros([2, 3]))).toThrow(/label 7 at row 1 is outside \[0, 3\)/);
    expect(() => eg.activation(eg.zeros([2]), 'swishy' as never)).toThrow(/unknown activation 'swishy'/);
    expect(() => eg.maxout(eg.zeros([2, 5]), 2)).toThrow(/last axis 5 of \[2,5\] is not divisible into 2 units/);
    expect(() => eg.prelu(eg.zeros([2, 4]), eg.zeros([3]))).toThrow(/alpha must have 1 or 4 \(channels\) elements/);
  });

  it('a kernel handed a pointer past the end of memory traps (wasm bounds checks), memory stays intact', () => {
    const x = eg.tensor([1, 2, 3]);
    const end = be.memory.buffer.byteLength;
    expect(() => be.kernels.actForward(1, 16, end - 8, end - 8, 0)).toThrow(/out of bounds/);
    expect(Array.from(x.dataSync())).toEqual([1, 2, 3]);
  });

  it('ready() rejects unknown backends and builds', async () => {
    await expect(eg.ready({ backend: 'cuda' as never })).rejects.toThrow(/unknown backend 'cuda'/);
    await expect(eg.ready({ wasmBuild: 'avx' as never })).rejects.toThrow(/unknown wasm build 'avx' \(the builds: relaxed, simd, scalar; this runtime runs (relaxed, )?simd, scalar\)/);
  });
});

describe('training mistakes, said before any step', () => {
  beforeAll(() => { useBuild('simd'); });

  it('optimizers refuse a learning rate that is not a number or schedule, and options they do not have', () => {
    expect(() => eg.optimizers.adam({ learningRate: 'x' as never })).toThrow("'learningRate' must be a positive number or a schedule (eg.schedules.*), got \"x\"");
    expect(() => eg.optimizers.adam({ learningRat: 0.1 } as never)).toThrow("unknown option 'learningRat' (this optimizer takes learningRate, clipValue, clipNorm, beta1, beta2, epsilon)");
    expect(() => eg.optimizers.momentum({ momentum: 0.5, nesterov: true })).not.toThrow();
    expect(() => eg.optimizers.sgd({ learningRate: eg.schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 }) })).not.toThrow();
  });

  it('validationData is checked before the first step: the weights do not move when it is wrong', async () => {
    const m = eg.sequential([eg.layers.dense({ units: 4, inputShape: [3], activation: 'softmax', seed: 1 })]);
    m.compile({ optimizer: eg.optimizers.adam(), loss: 'sparseCategoricalCrossentropy' });
    const w0 = Array.from(m.getWeights()[0].dataSync());
    const x = eg.ones([64, 3]), y = eg.tensor(new Int32Array(64), [64], 'int32');
    await expect(m.fit(x, y, { validationData: [eg.ones([10, 5]), eg.tensor(new Int32Array(10), [10], 'int32')] })).rejects.toThrow(/edgegrad\.fit \(validationData\): model '\w+' expects input \[batch, 3\], got \[10,5\]/);
    await expect(m.fit(x, y, { validationData: [eg.ones([10, 3]), eg.tensor(Int32Array.of(0, 1, 2, 3, 4, 0, 0, 0, 0, 0), [10], 'int32')] })).rejects.toThrow('edgegrad.fit (validationData): label 4 of example 4 is outside [0, 4)');
    await expect(m.fit(x, y, { validationData: [eg.ones([10, 3]), eg.tensor(new Int32Array(9), [9], 'int32')] })).rejects.toThrow('edgegrad.fit (validationData): x has 10 examples but y has 9');
    expect(Array.from(m.getWeights()[0].dataSync())).toEqual(w0);
  });

  it("an imported graph's lrScale is the one its layer trains with: 0 keeps it as it is; bad values are refused", async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const g = await eg.loadModel(readFileSync(join(import.meta.dirname, '..', 'models', 'digits-cnn.onnx')));
    expect(() => { g.lrScale = -1; }).toThrow(/lrScale must be a finite number >= 0, got -1/);
    const features = g.cut('flatten');
    features.lrScale = 0;
    const m = eg.sequential({ layers: [features, eg.layers.dense({ units: 5, activation: 'softmax', seed: 2 })] });
    expect(m.layers[0].lrScale).toBe(0);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy' });
    const x = eg.randomUniform([32, 28, 28, 1], 0, 1, 3), y = eg.tensor(Int32Array.from({ length: 32 }, (_, i) => i % 5), [32], 'int32');
    const probe = eg.randomUniform([2, 28, 28, 1], 0, 1, 4);
    const before = Array.from(eg.sequential([features]).predict(probe).dataSync());
    await m.fit(x, y, { epochs: 2, batchSize: 8, cacheFeatures: false });
    expect(Array.from(eg.sequential([features]).predict(probe).dataSync())).toEqual(before);
    m.layers[0].lrScale = 1; // the same number, seen from the model
    expect(features.lrScale).toBe(1);
  });
});
