// Files of opsets before 11, read by rewriting each old op form to its current one at load: checked against
// ONNX Runtime on the same files (opsets 7-10), and against plain loops where ONNX Runtime no longer reads
// the opset (the legacy broadcast of opsets before 7).
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { useBuild, maxRelDiff, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

type Attr = Record<string, unknown>;
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
const flt = (name: string, v: number): Attr => ({ name, type: 1, f: v });
const floats = (name: string, v: number[]): Attr => ({ name, type: 6, floats: v });
const str = (name: string, v: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(v) });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
const f32 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });

function model(opset: number, nodes: unknown[], inits: unknown[], inDims: number[], outDims: number[]): Uint8Array {
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d, i) => (i === 0 ? { dimParam: 'N' } : { dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: opset < 9 ? 3 : 5, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: `opset${opset}`, node: nodes, initializer: inits, input: [vi('x', inDims)], output: [vi('y', outDims)] },
  })).finish();
}

const bn = (c: number) => [f32('s', Array.from({ length: c }, (_, i) => 1 + i / 10)), f32('b', Array.from({ length: c }, (_, i) => i / 5 - 0.3)), f32('m', Array.from({ length: c }, (_, i) => i / 7)), f32('v', Array.from({ length: c }, (_, i) => 0.5 + i / 4))];

describe('ONNX opsets before 11', () => {
  beforeAll(() => useBuild('simd'));

  it('opset 7: Upsample (scales attribute), Clip, Slice and Pad attributes, BatchNormalization spatial, match ONNX Runtime', async () => {
    const nodes = [
      node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['bn'], [int('spatial', 1), flt('epsilon', 1e-5)]),
      node('Clip', ['bn'], ['c'], [flt('min', 0), flt('max', 6)]),
      node('Upsample', ['c'], ['u'], [floats('scales', [1, 1, 2, 2]), str('mode', 'nearest')]),
      node('Slice', ['u'], ['sl'], [ints('starts', [1, 1]), ints('ends', [7, 6]), ints('axes', [2, 3])]),
      node('Pad', ['sl'], ['y'], [ints('pads', [0, 0, 1, 0, 0, 0, 0, 2]), flt('value', 0)]),
    ];
    const bytes = model(7, nodes, bn(3), [2, 3, 4, 4], [2, 3, 7, 7]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 3, 4, 4], 0, 2, 1);
    const theirs = await runOrt(bytes, x), ours = m.predict(x);
    expect(ours.shape).toEqual([2, 3, 7, 7]);
    expect(maxRelDiff(ours.dataSync(), theirs)).toBeLessThan(1e-5);
  });

  it('opset 9: Upsample with a scales input, linear; opset 10: Resize (X, scales) nearest and Slice inputs', async () => {
    const up9 = model(9, [node('Upsample', ['x', 'sc'], ['y'], [str('mode', 'linear')])], [f32('sc', [1, 1, 2, 3])], [1, 2, 3, 3], [1, 2, 6, 9]);
    const x = eg.randomNormal([2, 2, 3, 3], 0, 1, 2);
    expect(maxRelDiff((await eg.loadModel(up9)).predict(x).dataSync(), await runOrt(up9, x))).toBeLessThan(1e-5);
    const i64 = (name: string, v: number[]) => ({ name, dims: [v.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer) });
    const r10 = model(10, [
      node('Resize', ['x', 'sc'], ['r'], [str('mode', 'nearest')]),
      node('Slice', ['r', 'st', 'en', 'ax'], ['y']),
    ], [f32('sc', [1, 1, 3, 2]), i64('st', [1]), i64('en', [8]), i64('ax', [2])], [1, 2, 3, 3], [1, 2, 7, 6]);
    expect(maxRelDiff((await eg.loadModel(r10)).predict(x).dataSync(), await runOrt(r10, x))).toBeLessThan(1e-6);
  });

  it('before 7: an Add with broadcast 1 at axis 1 adds a per-channel constant (a plain loop says what that means)', async () => {
    const bytes = model(6, [node('Add', ['x', 'c'], ['y'], [int('broadcast', 1), int('axis', 1)])], [f32('c', [10, 20, 30])], [1, 3, 2, 2], [1, 3, 2, 2]);
    const x = eg.randomNormal([2, 3, 2, 2], 0, 1, 3);
    const xs = x.dataSync(), want = Float32Array.from(xs, (v, i) => v + [10, 20, 30][Math.floor(i / 4) % 3]);
    expect(maxRelDiff((await eg.loadModel(bytes)).predict(x).dataSync(), want)).toBeLessThan(1e-6);
    // and the refusals name the node
    await expect(eg.loadModel(model(8, [node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], [int('spatial', 0)])], bn(3), [1, 3, 2, 2], [1, 3, 2, 2])))
      .rejects.toThrow("ONNX op 'BatchNormalization' (node 'BatchNormalization_y', opset 8): spatial 0");
    await expect(eg.loadModel(model(22, [node('Relu', ['x'], ['y'])], [], [1, 3], [1, 3]))).rejects.toThrow('ONNX opset 22 is not supported (opsets 1-21)');
  });
});
