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

describe('ONNX boundaries and Resize, as an outside run found them', () => {
  beforeAll(() => { useBuild('simd'); });

  type Dims = Array<number | string>;
  const vi = (name: string, dims: Dims) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const f32 = (name: string, dims: number[], vals: number[]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });
  const i64 = (name: string, vals: number[]) => ({ name, dims: [vals.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
  const str = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });
  const build = (nodes: unknown[], inits: unknown[], inputs: Array<[string, Dims]>, outputs: Array<[string, Dims]>): Uint8Array => onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'outside', node: nodes, initializer: inits, input: inputs.map(([n, d]) => vi(n, d)), output: outputs.map(([n, d]) => vi(n, d)) },
  })).finish();
  const ortRun = async (bytes: Uint8Array, feeds: Record<string, eg.Tensor>) => {
    const ort = await import('onnxruntime-web');
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.dataSync() as Float32Array, t.shape as number[])])));
    return Object.fromEntries(s.outputNames.map((k) => [k, { data: r[k].data as Float32Array, dims: [...r[k].dims] }]));
  };

  it.each([['half_pixel', 1.5], ['asymmetric', 1.5], ['half_pixel', 0.5], ['pytorch_half_pixel', 0.5]] as const)('linear Resize (%s) by scales %s on 9x11 maps coordinates by 1 / scale, and exports back', async (ctm, sc) => {
    const OH = Math.floor(9 * sc), OW = Math.floor(11 * sc);
    const bytes = build([{ opType: 'Resize', name: 'r', input: ['x', '', 's'], output: ['y'], attribute: [str('mode', 'linear'), str('coordinate_transformation_mode', ctm)] }],
      [f32('s', [4], [1, 1, sc, sc])], [['x', ['N', 2, 9, 11]]], [['y', ['N', 2, OH, OW]]]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 2, 9, 11], 0, 1, 4);
    const theirs = (await ortRun(bytes, { x })).y;
    const ours = m.predict(x);
    expect(ours.shape).toEqual(theirs.dims);
    expect(maxRelDiff(ours.dataSync(), theirs.data)).toBeLessThan(1e-5);
    const back = (await ortRun(await eg.toOnnx(m), { x })).y;
    expect(maxRelDiff(back.data, theirs.data)).toBeLessThan(1e-5);
  });

  it('a Resize to sizes (8x10 -> 13x7, nearest and linear) exports with its sizes: ONNX Runtime loads and matches it', async () => {
    for (const mode of ['nearest', 'linear']) {
      const bytes = build([{ opType: 'Resize', name: 'r', input: ['x', '', '', 'sz'], output: ['y'], attribute: [str('mode', mode), str('coordinate_transformation_mode', 'asymmetric'), str('nearest_mode', 'floor')] }],
        [i64('sz', [1, 2, 13, 7])], [['x', [1, 2, 8, 10]]], [['y', [1, 2, 13, 7]]]);
      const m = await eg.loadModel(bytes);
      const x = eg.randomNormal([1, 2, 8, 10], 0, 1, 5);
      const theirs = (await ortRun(bytes, { x })).y;
      expect(maxRelDiff(m.predict(x).dataSync(), theirs.data)).toBeLessThan(1e-5);
      const back = (await ortRun(await eg.toOnnx(m), { x })).y;
      expect(back.dims).toEqual([1, 2, 13, 7]);
      expect(maxRelDiff(back.data, theirs.data)).toBeLessThan(1e-5);
    }
  });

  it('an output transposed to NHWC stays NHWC when exported; a map input that is not the first keeps NCHW', async () => {
    const w = Array.from({ length: 6 * 4 * 9 }, (_, i) => Math.sin(i));
    const perm = build([
      { opType: 'Conv', name: 'c', input: ['x', 'w'], output: ['c'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
      { opType: 'Transpose', name: 't', input: ['c'], output: ['y'], attribute: [{ name: 'perm', type: 7, ints: [0, 2, 3, 1] }] },
    ], [f32('w', [6, 4, 3, 3], w)], [['x', ['N', 4, 8, 10]]], [['y', ['N', 8, 10, 6]]]);
    const x = eg.randomNormal([1, 4, 8, 10], 0, 1, 6);
    const theirs = (await ortRun(perm, { x })).y;
    const m = await eg.loadModel(perm);
    expect(maxRelDiff(m.predict(x).dataSync(), theirs.data)).toBeLessThan(1e-5);
    const back = (await ortRun(await eg.toOnnx(m), { x })).y;
    expect(back.dims).toEqual([1, 8, 10, 6]);
    expect(maxRelDiff(back.data, theirs.data)).toBeLessThan(1e-5);

    const vecFirst = build([
      { opType: 'Conv', name: 'c', input: ['x', 'w2'], output: ['c'] },
      { opType: 'Unsqueeze', name: 'u', input: ['v', 'ax'], output: ['v4'] },
      { opType: 'Mul', name: 'm', input: ['c', 'v4'], output: ['y'] },
    ], [f32('w2', [2, 4, 1, 1], [1, 2, 3, 4, -1, 0.5, 2, -3]), i64('ax', [2, 3])], [['v', ['N', 2]], ['x', ['N', 4, 9, 11]]], [['y', ['N', 2, 9, 11]]]);
    const v = eg.randomNormal([3, 2], 0, 1, 7), x2 = eg.randomNormal([3, 4, 9, 11], 0, 1, 8);
    const want = (await ortRun(vecFirst, { v, x: x2 })).y;
    const m2 = await eg.loadModel(vecFirst);
    expect(maxRelDiff((m2.predict([v, x2]) as eg.Tensor).dataSync(), want.data)).toBeLessThan(1e-5);
    const back2 = (await ortRun(await eg.toOnnx(m2), { v, x: x2 })).y;
    expect(back2.dims).toEqual([3, 2, 9, 11]);
    expect(maxRelDiff(back2.data, want.data)).toBeLessThan(1e-5);
  });

  it('says what a refusal is about: the ONNX node of a shape that does not fit (and the batch reading), input types by name, a missing input', async () => {
    // an image without its batch ([3, 16, 16]) minus a per-channel mean: with a batch axis first it cannot
    // broadcast, so (every input declared in full) it loads as the whole tensor the file declares
    const sub = (first: number | string) => build([{ opType: 'Sub', name: '/transform/Sub', input: ['x', 'm'], output: ['y'] }], [f32('m', [3, 1, 1], [1, 2, 3])], [['x', [first, 16, 16]]], [['y', [first, 16, 16]]]);
    const whole = await eg.loadModel(sub(3));
    expect(whole.summary({ print: false })).toContain('Inputs: x float32 [3, 16, 16]');
    expect(Array.from((whole.predict(eg.ones([3, 16, 16])) as eg.Tensor).dataSync().filter((_, i) => i % 256 === 0))).toEqual([0, -1, -2]);
    // a free first dimension is the batch: the refusal names the node, and the batch reading
    await expect(eg.loadModel(sub('N'))).rejects.toThrow(/ONNX op 'Sub' \(node '\/transform\/Sub', opset 13\): .*do not broadcast.*edgegrad reads each input's first dimension as the batch/);
    const typed = (elemType: number) => onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'ids', node: [{ opType: 'Identity', name: 'i', input: ['ids'], output: ['y'] }], input: [{ name: 'ids', type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4 }] } } } }], output: [vi('y', ['N', 4])] } })).finish();
    await expect(eg.loadModel(typed(8))).rejects.toThrow("input 'ids' is a string tensor: edgegrad computes numbers (string tensors are out of its scope)");
    // an integer input that any op but a Gather reads is held exactly in float32 (test/onnx-integers.test.ts)
    const ids = (await eg.loadModel(typed(7))).predict(eg.tensor(Int32Array.of(1, -2, 3, 40000), [1, 4], 'int32')) as eg.Tensor;
    expect(Array.from(ids.dataSync())).toEqual([1, -2, 3, 40000]);
    const two = build([{ opType: 'Add', name: 'a', input: ['p', 'q'], output: ['y'] }], [], [['p', ['N', 3]], ['q', ['N', 3]]], [['y', ['N', 3]]]);
    const m = await eg.loadModel(two);
    expect(() => m.predict({ p: eg.zeros([1, 3]) })).toThrow("input 'q' is missing (inputs: p, q)");
  });
});
