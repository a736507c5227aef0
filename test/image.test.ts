// Image resizing and grayscale -> RGB: forward against TensorFlow.js's tf.image on the same inputs (every
// coordinate rule), gradients against finite differences, and the layers inside a trained graph.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useBuild, randArr, numericGrad, expectGradClose, dot, checkModelGradients } from './helpers.js';
import * as eg from '../src/index.js';
import { runEager } from '../src/graph/eager.js';

describe('image ops', () => {
  beforeAll(async () => { useBuild('simd'); await tf.setBackend('cpu'); });

  const cases: Array<{ shape: number[]; size: [number, number] }> = [
    { shape: [2, 5, 7, 3], size: [11, 4] }, // up in height, down in width
    { shape: [1, 28, 28, 1], size: [224, 224] }, // the digits into MobileNetV2
    { shape: [1, 1, 3, 2], size: [4, 1] },
  ];
  for (const method of ['bilinear', 'nearest'] as const) {
    for (const [alignCorners, halfPixelCenters] of [[false, false], [true, false], [false, true]]) {
      it(`${method} resize (alignCorners ${alignCorners}, halfPixelCenters ${halfPixelCenters}) equals tf.image`, () => {
        for (const { shape, size } of cases) {
          const x = randArr(shape, 3);
          const ours = (method === 'bilinear' ? eg.image.resizeBilinear : eg.image.resizeNearestNeighbor)(eg.tensor(Float32Array.from(x.data), shape), size, alignCorners, halfPixelCenters);
          const tx = tf.tensor4d(Float32Array.from(x.data), shape as [number, number, number, number]);
          const theirs = (method === 'bilinear' ? tf.image.resizeBilinear : tf.image.resizeNearestNeighbor)(tx, size, alignCorners, halfPixelCenters);
          expect(ours.shape).toEqual(theirs.shape);
          const a = ours.dataSync(), b = theirs.dataSync();
          let worst = 0;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
          expect(worst, `${JSON.stringify(shape)} -> ${size}`).toBeLessThan(1e-5);
        }
      });
    }
  }

  it('resize gradients match finite differences', () => {
    for (const method of ['bilinear', 'nearest'] as const) {
      for (const [alignCorners, halfPixelCenters] of [[false, false], [true, false], [false, true]]) {
        const shape = [2, 4, 5, 2], size: [number, number] = [7, 3];
        const x = randArr(shape, 8), gy = randArr([2, 7, 3, 2], 9);
        const f = (v: Float64Array) => dot(gy.data, (method === 'bilinear' ? eg.image.resizeBilinear : eg.image.resizeNearestNeighbor)(eg.tensor(Float32Array.from(v), shape), size, alignCorners, halfPixelCenters).dataSync());
        const dx = eg.backprop.resize(eg.tensor(Float32Array.from(x.data), shape), eg.tensor(Float32Array.from(gy.data), [2, 7, 3, 2]), method, alignCorners, halfPixelCenters);
        expectGradClose(dx.dataSync(), numericGrad(f, x.data, 1e-2), `${method} ${alignCorners} ${halfPixelCenters}`);
      }
    }
  });

  it('bicubic resizing (ONNX\'s cubic mode) passes gradients that match finite differences, edge taps and excluded taps included', () => {
    for (const o of [{ coordinate: 'half_pixel' }, { coordinate: 'align_corners', cubicCoeffA: -0.5 }, { coordinate: 'asymmetric', excludeOutside: true, scales: [1.6, 0.7] }]) {
      const shape = [2, 4, 5, 2], size = [7, 3];
      const attrs = { size, method: 'bicubic', ...o };
      const x = randArr(shape, 10), gy = randArr([2, 7, 3, 2], 11);
      const f = (v: Float64Array) => dot(gy.data, runEager('resize2d', [eg.tensor(Float32Array.from(v), shape)], attrs)[0].dataSync());
      const [dx] = runEager('resize2dGrad', [eg.tensor(Float32Array.from(x.data), shape), eg.tensor(Float32Array.from(gy.data), [2, 7, 3, 2])], attrs);
      expectGradClose(dx.dataSync(), numericGrad(f, x.data, 1e-2), `bicubic ${JSON.stringify(o)}`);
    }
  });

  it('grayscaleToRGB repeats the channel; bad shapes are named', () => {
    const x = eg.tensor([[0.1], [0.7]]);
    expect(Array.from(eg.image.grayscaleToRGB(x).dataSync())).toEqual(Array.from(Float32Array.from([0.1, 0.1, 0.1, 0.7, 0.7, 0.7])));
    expect(() => eg.image.grayscaleToRGB(eg.zeros([2, 2]))).toThrow(/grayscaleToRGB: the last dimension must be 1.*\[2,2\]/);
    expect(() => eg.image.resizeBilinear(eg.zeros([2, 2, 1]), [3, 3])).toThrow(/resizeBilinear.*rank 4/);
    expect(() => eg.image.resizeBilinear(eg.zeros([1, 2, 2, 1]), [0, 3])).toThrow(/size must be \[height, width\]/);
    expect(() => eg.layers.resizing({ height: 224, width: -1 })).toThrow(/width must be a positive integer/);
  });

  it('resizing and grayscaleToRgb layers pass gradients to the layers below them', () => {
    const inp = eg.input({ shape: [5, 4, 2] });
    const c = eg.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', activation: 'tanh', seed: 1 }).apply(inp);
    const r = eg.layers.resizing({ height: 8, width: 6 }).apply(c);
    const rgb = eg.layers.grayscaleToRgb().apply(r);
    const c2 = eg.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2, activation: 'tanh', seed: 2 }).apply(rgb);
    const out = eg.layers.dense({ units: 3, activation: 'softmax', seed: 3 }).apply(eg.layers.flatten().apply(c2));
    checkModelGradients(eg.model({ inputs: inp, outputs: out }), [5, 4, 2], Float32Array.from([1, 0, 0, 0, 0, 1]));
  });
});
