// The rest of the ONNX op list, and the torchvision patterns it stands for (ShuffleNet's channel shuffle:
// Split, Reshape to 5-D, Transpose, Reshape; MobileNet's HardSwish; padding, slicing, squeezing), in one
// model built with onnx-proto, checked against ONNX Runtime, then exported again and checked once more.
import { describe, expect, it, beforeAll } from 'vitest';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { useBuild, rng, maxRelDiff, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

function kitchenSink(): Uint8Array {
  const r = rng(42);
  const inits: unknown[] = [];
  const f = (name: string, dims: number[], scale = 0.5) => {
    const n = dims.reduce((a, b) => a * b, 1);
    inits.push({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale).buffer) });
    return name;
  };
  const i64 = (name: string, vals: number[]) => {
    inits.push({ name, dims: [vals.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
    return name;
  };
  const fc = (name: string, dims: number[], v: number) => {
    inits.push({ name, dims, dataType: 1, rawData: new Uint8Array(new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v).buffer) });
    return name;
  };
  const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
  const ints = (name: string, v: number[]) => ({ name, type: 7, ints: v });
  const fl = (name: string, v: number) => ({ name, type: 1, f: v });
  const int = (name: string, v: number) => ({ name, type: 2, i: v });
  const nodes = [
    node('Conv', ['x', f('w1', [8, 4, 3, 3]), f('b1', [8])], ['a'], [ints('pads', [1, 1, 1, 1]), ints('kernel_shape', [3, 3])]),
    node('Split', ['a', i64('split', [4, 4])], ['s1', 's2'], [int('axis', 1)]),
    node('Relu', ['s1'], ['r1']),
    node('Conv', ['s2', f('w2', [4, 4, 1, 1])], ['c2']),
    node('HardSwish', ['c2'], ['h2']),
    node('Concat', ['r1', 'h2'], ['cat'], [int('axis', 1)]),
    node('Reshape', ['cat', i64('shape5', [0, 2, 4, 8, 8])], ['r5']),
    node('Transpose', ['r5'], ['t5'], [ints('perm', [0, 2, 1, 3, 4])]),
    node('Reshape', ['t5', i64('shape4', [0, 8, 8, 8])], ['shuffled']),
    node('Pad', ['shuffled', i64('pads', [0, 0, 1, 1, 0, 0, 1, 1])], ['padded']),
    node('Sub', ['padded', f('c1', [1, 8, 1, 1])], ['sub1']),
    node('Div', ['sub1', fc('two', [1], 2)], ['div1']),
    node('PRelu', ['div1', f('slope', [8, 1, 1], 0.3)], ['pr']),
    node('HardSigmoid', ['pr'], ['hs'], [fl('alpha', 0.3), fl('beta', 0.4)]),
    node('Slice', ['hs', i64('starts', [1]), i64('ends', [9]), i64('axes', [2])], ['sl']),
    node('Mul', ['sl', 'sl'], ['sq']),
    node('GlobalAveragePool', ['sq'], ['gp']),
    node('Squeeze', ['gp', i64('axes23', [2, 3])], ['sqz']),
    node('Unsqueeze', ['sqz', i64('axes2', [2])], ['usq']),
    node('Flatten', ['usq'], ['fl']),
    node('Gemm', ['fl', f('wg', [3, 8]), f('bg', [3])], ['y'], [int('transB', 1)]),
  ];
  const vi = (name: string, dims: Array<number | string>) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'kitchen_sink', node: nodes, initializer: inits, input: [vi('x', ['N', 4, 8, 8])], output: [vi('y', ['N', 3])] },
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('ONNX op coverage', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });

  it('Split, HardSwish, Concat, 5-D Reshape + Transpose (channel shuffle), Pad, Sub, Div, PRelu, HardSigmoid, Slice, Squeeze, Unsqueeze match ONNX Runtime', async () => {
    const bytes = kitchenSink();
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 4, 8, 8], 0, 1, 5);
    const theirs = await runOrt(bytes, x);
    const ours = m.predict(x);
    expect(ours.shape).toEqual([2, 3]);
    expect(maxRelDiff(ours.dataSync(), theirs)).toBeLessThan(1e-4);
    // and exported again
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-4);
  });

  it('a bias Unsqueezed to [C, 1, 1] adds to a map, Sign runs and exports back; a second graph output is computed too', async () => {
    const inits = [
      { name: 'b', dims: [4], dataType: 1, rawData: new Uint8Array(Float32Array.of(0.5, -0.25, 0, 1).buffer) },
      { name: 'axes', dims: [2], dataType: 7, rawData: new Uint8Array(BigInt64Array.of(1n, 2n).buffer) },
    ];
    const nodes = [
      { opType: 'Unsqueeze', name: 'u', input: ['b', 'axes'], output: ['b3'] },
      { opType: 'Add', name: 'add', input: ['x', 'b3'], output: ['s'] },
      { opType: 'Sign', name: 'sign', input: ['s'], output: ['y'] },
      { opType: 'Sigmoid', name: 'other', input: ['x'], output: ['z'] },
    ];
    const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4 }, { dimValue: 3 }, { dimValue: 3 }] } } } });
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'two_outputs', node: nodes, initializer: inits, input: [vi('x')], output: [vi('y'), vi('z')] },
    })).finish();
    const m = await eg.loadModel(bytes);
    expect(m.outputNames).toEqual(['y', 'z']);
    const x = eg.randomNormal([2, 4, 3, 3], 0, 1, 6);
    const ort = await import('onnxruntime-web');
    const session = await ort.InferenceSession.create(bytes);
    const theirs = await session.run({ x: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 4, 3, 3]) });
    expect(() => m.predict(x)).toThrow("model 'two_outputs' has 2 outputs (y, z): pass its input as [x] (outputs in order) or { x: x } (outputs by name)");
    const [y, z] = m.predict([x]) as eg.Tensor[];
    expect(Array.from(y.dataSync())).toEqual(Array.from(theirs.y.data as Float32Array));
    expect(maxRelDiff(z.dataSync(), theirs.z.data as Float32Array)).toBeLessThan(1e-6);
    const byName = m.predict({ x }) as Record<string, eg.Tensor>;
    expect(Object.keys(byName)).toEqual(['y', 'z']);
    expect(Array.from(byName.z.dataSync())).toEqual(Array.from(z.dataSync()));
    // exported back: both outputs, by the same names
    const back = await ort.InferenceSession.create(await eg.toOnnx(m));
    expect(back.outputNames).toEqual(['y', 'z']);
    const again = await back.run({ [back.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 4, 3, 3]) });
    expect(Array.from(again.y.data as Float32Array)).toEqual(Array.from(theirs.y.data as Float32Array));
    expect(maxRelDiff(again.z.data as Float32Array, theirs.z.data as Float32Array)).toBeLessThan(1e-6);
  });
});
