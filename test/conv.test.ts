// conv2d / depthwiseConv2d against the float64 reference over kernel sizes, strides, paddings,
// dilations, groups and odd channel counts; backward passes against finite differences.
import { describe, expect, it, beforeAll } from 'vitest';
import { BACKENDS, useBuild, randArr, t, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import {
  conv2d, depthwiseConv2d, fusedConv2d, conv2dBackpropInput, conv2dBackpropFilter, convGeometry, refConv2d, type Padding,
} from '../src/ops/conv.js';
import { refActivation } from '../src/ops/activation.js';

interface Case { x: number[]; w: number[]; s: number | [number, number]; pad: Padding; d?: number | [number, number] }

const CASES: Case[] = [
  { x: [1, 5, 5, 3], w: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 7, 6, 5], w: [3, 3, 5, 7], s: 2, pad: 'same' },
  { x: [1, 8, 8, 4], w: [3, 3, 4, 9], s: 1, pad: 'valid' },
  { x: [1, 6, 9, 2], w: [1, 1, 2, 5], s: 1, pad: 'valid' },           // pointwise: plain GEMM path
  { x: [3, 4, 4, 13], w: [1, 1, 13, 3], s: 1, pad: 'same' },
  { x: [1, 9, 9, 3], w: [1, 1, 3, 4], s: 2, pad: 'valid' },           // strided 1x1: implicit GEMM
  { x: [1, 11, 10, 3], w: [5, 5, 3, 6], s: [2, 3], pad: 'same' },
  { x: [1, 9, 9, 2], w: [3, 3, 2, 3], s: 1, pad: 'same', d: 2 },     // dilation
  { x: [1, 7, 8, 3], w: [2, 3, 3, 2], s: 1, pad: [[1, 2], [0, 3]] }, // explicit asymmetric padding
  { x: [1, 6, 6, 4], w: [3, 3, 2, 6], s: 1, pad: 'same' },           // 2 groups
  { x: [2, 5, 5, 6], w: [3, 3, 2, 9], s: 2, pad: 'valid' },          // 3 groups
  { x: [1, 17, 3, 1], w: [4, 2, 1, 1], s: 3, pad: 'same' },
  { x: [2, 12, 12, 1], w: [5, 5, 1, 6], s: 1, pad: 'same' },         // LeNet's first layer: direct kernel, 4-pixel blocks
  { x: [1, 10, 11, 6], w: [5, 5, 6, 16], s: 1, pad: 'valid' },        // LeNet's second layer: direct kernel, 16 channels
];

const DW: Array<{ x: number[]; w: number[]; s: number; pad: Padding; d?: number }> = [
  { x: [1, 7, 7, 8], w: [3, 3, 8, 1], s: 1, pad: 'same' },
  { x: [2, 9, 8, 13], w: [3, 3, 13, 1], s: 2, pad: 'same' },
  { x: [1, 6, 6, 3], w: [3, 3, 3, 2], s: 1, pad: 'valid' },          // channel multiplier 2
  { x: [1, 10, 10, 5], w: [5, 5, 5, 1], s: 1, pad: 'same', d: 2 },
  { x: [2, 11, 12, 16], w: [3, 3, 16, 1], s: 2, pad: 'same', d: 2 },  // unrolled 3x3 path, strided, dilated
  { x: [1, 9, 9, 12], w: [3, 3, 12, 1], s: 1, pad: 'valid' },          // unrolled 3x3 path, no borders
  { x: [1, 5, 2, 4], w: [3, 3, 4, 1], s: 2, pad: [[1, 1], [0, 1]] },    // window wider than the input row, strided
];

describe.each(BACKENDS)('conv2d (%s build)', (build) => {
  beforeAll(() => { useBuild(build); });

  it('forward matches the reference', () => {
    CASES.forEach((c, i) => {
      const x = randArr(c.x, 10 + i), w = randArr(c.w, 20 + i);
      const y = conv2d(t(x), t(w), c.s, c.pad, c.d);
      const g = convGeometry(c.x, c.w, c.s, c.pad, c.d, 'test');
      expect(y.shape).toEqual([g.N, g.OH, g.OW, g.CO]);
      expectClose(y.dataSync(), refConv2d(x, w, g).data, 1e-5, `case ${i} ${JSON.stringify(c)}`);
    });
  });

  it('same padding follows TF: output ceil(in / stride), odd padding at the end', () => {
    const g = convGeometry([1, 7, 8, 1], [3, 3, 1, 1], 2, 'same', 1, 'test');
    expect([g.OH, g.OW, g.PT, g.PB, g.PL, g.PR]).toEqual([4, 4, 1, 1, 0, 1]);
  });

  it('fuses bias and activation', () => {
    const x = randArr([1, 6, 6, 3], 1), w = randArr([3, 3, 3, 8], 2), b = randArr([8], 3);
    for (const act of ['relu', 'relu6', 'leakyRelu', 'elu', 'sigmoid'] as const) {
      const y = fusedConv2d({ x: t(x), filter: t(w), strides: 1, pad: 'same', bias: t(b), activation: act });
      const g = convGeometry(x.shape, w.shape, 1, 'same', 1, 'test');
      expectClose(y.dataSync(), refActivation(refConv2d(x, w, g, b), act).data, 1e-5, act);
    }
  });

  it('depthwise matches the reference (multipliers, strides, dilation)', () => {
    DW.forEach((c, i) => {
      const x = randArr(c.x, 30 + i), w = randArr(c.w, 40 + i);
      const y = depthwiseConv2d(t(x), t(w), c.s, c.pad, c.d);
      const gw = { shape: [c.w[0], c.w[1], 1, c.w[2] * c.w[3]], data: w.data };
      const g = convGeometry(c.x, gw.shape, c.s, c.pad, c.d, 'test');
      expectClose(y.dataSync(), refConv2d(x, gw, g).data, 1e-5, `depthwise ${i}`);
    });
  });

  it('backward input, filter and bias match finite differences (grouped and depthwise too)', () => {
    const all = [...CASES, ...DW.map((c) => ({ ...c, w: [c.w[0], c.w[1], 1, c.w[2] * c.w[3]] }))];
    all.forEach((c, i) => {
      const x = randArr(c.x, 50 + i), w = randArr(c.w, 60 + i);
      const g = convGeometry(c.x, c.w, c.s, c.pad, c.d, 'test');
      const dyShape = [g.N, g.OH, g.OW, g.CO];
      const dy = randArr(dyShape, 70 + i);
      const dx = conv2dBackpropInput(c.x, t(dy), t(w), c.s, c.pad, c.d);
      const { dw, db } = conv2dBackpropFilter(t(x), t(dy), c.w, c.s, c.pad, c.d);
      const fx = (v: Float64Array) => dot(dy.data, refConv2d({ shape: c.x, data: v }, w, g).data);
      const fw = (v: Float64Array) => dot(dy.data, refConv2d(x, { shape: c.w, data: v }, g).data);
      const bias0 = { shape: [g.CO], data: new Float64Array(g.CO) };
      const fb = (v: Float64Array) => dot(dy.data, refConv2d(x, w, g, { shape: [g.CO], data: v }).data);
      expectGradClose(dx.dataSync(), numericGrad(fx, x.data), `dx case ${i}`);
      expectGradClose(dw.dataSync(), numericGrad(fw, w.data), `dw case ${i}`);
      expectGradClose(db.dataSync(), numericGrad(fb, bias0.data), `db case ${i}`);
    });
  });

  it('backward passes hold on a larger layer that spans several workspace chunks', () => {
    const c = { x: [2, 20, 20, 16], w: [3, 3, 16, 24], s: 1, pad: 'same' as Padding };
    const x = randArr(c.x, 1), w = randArr(c.w, 2);
    const g = convGeometry(c.x, c.w, c.s, c.pad, 1, 'test');
    const dy = randArr([g.N, g.OH, g.OW, g.CO], 3);
    const dx = conv2dBackpropInput(c.x, t(dy), t(w), c.s, c.pad);
    const { dw } = conv2dBackpropFilter(t(x), t(dy), c.w, c.s, c.pad);
    const fx = (v: Float64Array) => dot(dy.data, refConv2d({ shape: c.x, data: v }, w, g).data);
    const fw = (v: Float64Array) => dot(dy.data, refConv2d(x, { shape: c.w, data: v }, g).data);
    expectGradClose(dx.dataSync(), numericGrad(fx, x.data, 1e-3, 24), 'dx large');
    expectGradClose(dw.dataSync(), numericGrad(fw, w.data, 1e-3, 24), 'dw large');
  });
});
