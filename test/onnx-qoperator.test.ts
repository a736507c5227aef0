// ONNX QOperator models (QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger, with u8 max pooling and
// flattening between them), built with onnx-proto and checked against ONNX Runtime on the same files.
import { describe, expect, it, beforeAll } from 'vitest';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { useBuild, rng, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { onnx } = onnxProto as unknown as { onnx: any };
const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6;

function build(nodes: unknown[], inits: unknown[], inShape: Array<number | string>, outShape: Array<number | string>): Uint8Array {
  const vi = (name: string, dims: Array<number | string>) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'qoperator', node: nodes, initializer: inits, input: [vi('x', inShape)], output: [vi('y', outShape)] },
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('ONNX QOperator import', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });
  const r = rng(3);
  const inits: unknown[] = [];
  const t = (name: string, dims: number[], dataType: number, values: ArrayLike<number>) => {
    const raw = dataType === FLOAT ? new Uint8Array(Float32Array.from(values).buffer) : dataType === INT32 ? new Uint8Array(Int32Array.from(values).buffer)
      : dataType === INT8 ? new Uint8Array(Int8Array.from(values).buffer) : Uint8Array.from(values);
    inits.push({ name, dims, dataType, rawData: raw });
    return name;
  };
  const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: output[0], input, output, attribute });
  const ints = (name: string, v: number[]) => ({ name, type: 7, ints: v });
  const int = (name: string, v: number) => ({ name, type: 2, i: v });
  const rand8 = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 255) - 127);

  it('QLinearConv (per-channel, int32 bias, padding), u8 max pooling, a depthwise QLinearConv, QLinearMatMul', async () => {
    inits.length = 0;
    const nodes = [
      node('QuantizeLinear', ['x', t('xs', [], FLOAT, [0.02]), t('xz', [], UINT8, [128])], ['xq']),
      node('QLinearConv', ['xq', 'xs', 'xz', t('w1', [6, 3, 3, 3], INT8, rand8(162)), t('w1s', [6], FLOAT, [0.01, 0.02, 0.015, 0.03, 0.01, 0.02]), t('w1z', [6], INT8, new Array(6).fill(0)),
        t('y1s', [], FLOAT, [0.05]), t('y1z', [], UINT8, [10]), t('b1', [6], INT32, [100, -200, 50, 0, 300, -20])], ['c1'], [ints('pads', [1, 1, 1, 1])]),
      node('MaxPool', ['c1'], ['p1'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
      node('QLinearConv', ['p1', 'y1s', 'y1z', t('w2', [6, 1, 3, 3], INT8, rand8(54)), t('w2s', [], FLOAT, [0.02]), t('w2z', [], INT8, [0]),
        t('y2s', [], FLOAT, [0.04]), t('y2z', [], UINT8, [100])], ['c2'], [ints('pads', [1, 1, 1, 1]), int('group', 6)]),
      node('Flatten', ['c2'], ['f']),
      node('QLinearMatMul', ['f', 'y2s', 'y2z', t('w3', [96, 5], INT8, rand8(480)), t('w3s', [], FLOAT, [0.01]), t('w3z', [], INT8, [0]), t('y3s', [], FLOAT, [0.1]), t('y3z', [], UINT8, [128])], ['m']),
      node('DequantizeLinear', ['m', 'y3s', 'y3z'], ['y']),
    ];
    const bytes = build(nodes, inits, ['N', 3, 8, 8], ['N', 5]);
    const m = await eg.loadModel(bytes);
    // the depthwise QLinearConv (6 groups of 1 channel) runs the int8 depthwise kernel
    expect(m.quantization!.nodes.map((n) => `${n.name}:${n.as}`)).toEqual(['c1:int8', 'c2:int8', 'm:int8']);
    const x = eg.randomUniform([4, 3, 8, 8], -2, 2, 5);
    const ours = m.predict(x).dataSync(), theirs = await runOrt(bytes, x);
    // outputs are quantized at 0.1: equal, or one step apart where a float sum lands on a rounding boundary
    let off = 0;
    for (let i = 0; i < ours.length; i++) { const d = Math.round(Math.abs(ours[i] - theirs[i]) / 0.1); expect(d).toBeLessThanOrEqual(1); off += d; }
    expect(off).toBeLessThanOrEqual(1);
  });

  it('MatMulInteger and ConvInteger give the exact int32 sums', async () => {
    inits.length = 0;
    const mm = build([
      node('QuantizeLinear', ['x', t('xs', [], FLOAT, [0.05]), t('xz', [], UINT8, [120])], ['xq']),
      node('MatMulInteger', ['xq', t('w', [10, 4], INT8, rand8(40)), 'xz', t('wz', [], INT8, [3])], ['acc']),
      node('Cast', ['acc'], ['accf'], [int('to', FLOAT)]),
      node('Mul', ['accf', t('s', [], FLOAT, [0.5])], ['y']),
    ], inits, ['N', 10], ['N', 4]);
    const x = eg.randomUniform([6, 10], -3, 3, 7);
    expect(Array.from((await eg.loadModel(mm)).predict(x).dataSync())).toEqual(Array.from(await runOrt(mm, x)));
    inits.length = 0;
    const cv = build([
      node('QuantizeLinear', ['x', t('xs', [], FLOAT, [0.05]), t('xz', [], UINT8, [120])], ['xq']),
      node('ConvInteger', ['xq', t('w', [3, 2, 3, 3], INT8, rand8(54)), 'xz'], ['acc'], [ints('strides', [2, 2])]),
      node('Cast', ['acc'], ['accf'], [int('to', FLOAT)]),
      node('Flatten', ['accf'], ['y']),
    ], inits, ['N', 2, 7, 7], ['N', 27]);
    const xc = eg.randomUniform([2, 2, 7, 7], -3, 3, 8);
    expect(Array.from((await eg.loadModel(cv)).predict(xc).dataSync())).toEqual(Array.from(await runOrt(cv, xc)));
  });
});
