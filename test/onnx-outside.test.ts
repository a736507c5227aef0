// What an outside check of the day's ONNX work found, each now a test against ONNX Runtime (onnxruntime-web)
// or the rule: comparisons with NaN and infinities (IEEE: NaN equals nothing), a Constant node's numbers stay
// fixed when the graph trains while weights train, TinyTL's biases include MatMul + Add ones, and MaxPool's
// indices are int32 values that arithmetic refuses rather than reads as floats.
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const FLOAT = 1;
type Io = { name: string; dims: number[]; elem: number };
const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
const floats = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: FLOAT, rawData: new Uint8Array(Float32Array.from(vals).buffer) });

function model(nodes: unknown[], inits: unknown[], inputs: Io[], outputs: Io[], constants: Array<{ name: string; vals: number[]; dims: number[] }> = []): Uint8Array {
  const vi = ({ name, dims, elem }: Io) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const constNodes = constants.map((c) => ({ opType: 'Constant', name: `Constant_${c.name}`, input: [], output: [c.name], attribute: [{ name: 'value', type: 4, t: floats(c.name, c.vals, c.dims) }] }));
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'outside', node: [...constNodes, ...nodes], initializer: inits, input: inputs.map(vi), output: outputs.map(vi) },
  })).finish();
}

describe('ONNX: what an outside check found', () => {
  beforeAll(() => { useBuild('simd'); });

  it('Equal, GreaterOrEqual, LessOrEqual, Greater and Less with NaN and infinities give what ONNX Runtime gives', async () => {
    const x = [1, NaN, -2, Infinity, NaN, 0.5, -Infinity, 3], w = [1, 2, NaN, Infinity, -1, 0.5, -Infinity, Infinity];
    const ops = ['Equal', 'GreaterOrEqual', 'LessOrEqual', 'Greater', 'Less'];
    const bytes = model(ops.flatMap((op, k) => [node(op, ['x', 'w'], [`b${k}`]), node('Cast', [`b${k}`], [`y${k}`], [{ name: 'to', type: 2, i: FLOAT }])]),
      [], [{ name: 'x', dims: [1, 8], elem: FLOAT }, { name: 'w', dims: [1, 8], elem: FLOAT }], ops.map((_, k) => ({ name: `y${k}`, dims: [1, 8], elem: FLOAT })));
    const rt = await import('onnxruntime-web');
    rt.env.wasm.numThreads = 1;
    const s = await rt.InferenceSession.create(bytes);
    const r = await s.run({ x: new rt.Tensor('float32', Float32Array.from(x), [1, 8]), w: new rt.Tensor('float32', Float32Array.from(w), [1, 8]) });
    const m = await eg.loadModel(bytes, { nonFinite: 'allow' });
    const got = m.predict([eg.tensor(x, [1, 8]), eg.tensor(w, [1, 8])]) as eg.Tensor[];
    ops.forEach((op, k) => expect(Array.from(got[k].dataSync()), op).toEqual(Array.from(r[`y${k}`].data as Float32Array)));
    // without nonFinite: 'allow', the NaN is refused at predict, naming the input
    const strict = await eg.loadModel(bytes);
    expect(() => strict.predict([eg.tensor(x, [1, 8]), eg.tensor(w, [1, 8])])).toThrow(/input 'x' contains 4 NaN or infinite values/);
  });

  it('a Constant node\'s numbers (0.5, an epsilon) stay fixed while initializers train; TinyTL trains MatMul + Add biases', async () => {
    // y = ((x W + b) * 0.5 + 2) / 3 with W, b initializers and 0.5, 2, 3 Constant nodes; then LayerNorm-like + eps
    const bytes = model([node('MatMul', ['x', 'W'], ['xw']), node('Add', ['xw', 'b'], ['z']), node('Mul', ['z', 'half'], ['h']),
      node('Add', ['h', 'two'], ['s']), node('Div', ['s', 'three'], ['y'])],
    [floats('W', [0.1, -0.2, 0.3, 0.4, -0.5, 0.6], [3, 2]), floats('b', [0.05, -0.05])],
    [{ name: 'x', dims: [4, 3], elem: FLOAT }], [{ name: 'y', dims: [4, 2], elem: FLOAT }],
    [{ name: 'half', vals: [0.5], dims: [] }, { name: 'two', vals: [2], dims: [] }, { name: 'three', vals: [3], dims: [] }]);
    const gm = await eg.loadModel(bytes);
    expect(gm.countParams()).toBe(8); // W and b: the Constant nodes' numbers are not weights
    const x = eg.tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), [4, 3]), t = eg.tensor(Float32Array.from({ length: 8 }, (_, i) => Math.cos(i)), [4, 2]);
    const train = async (trainBiases: boolean) => {
      const g = await eg.loadModel(bytes);
      if (trainBiases) g.freeze({ trainBiases: true });
      const m = eg.sequential([g]);
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.5 }), loss: 'mse' });
      const before = g.graph.values.filter((v) => v.kind === 'param').map((v) => [v.name, Array.from(v.tensor!.dataSync())] as const);
      await m.fit(x, t, { epochs: 3, batchSize: 4 });
      return g.graph.values.filter((v) => v.kind === 'param').map((v, k) => [v.name, before[k][1].some((u, i) => u !== v.tensor!.dataSync()[i])] as const);
    };
    const all = Object.fromEntries(await train(false));
    // W and b moved (two weights), nothing else
    expect(Object.values(all).filter(Boolean).length).toBe(2);
    expect(Object.keys(all).filter((nm) => /half|two|three|Mul_h|Add_s|Div_y/.test(nm)).every((nm) => !all[nm])).toBe(true);
    const tiny = Object.fromEntries(await train(true));
    // TinyTL: the bias added after the MatMul trains, the MatMul's weights do not
    expect(Object.values(tiny).filter(Boolean).length).toBe(1);
    expect(Object.entries(tiny).find(([, moved]) => moved)![0]).toMatch(/Add_z/);
  });

  it('MaxPool\'s indices are int32: an output as ONNX Runtime gives it; arithmetic on them is refused, not read as floats', async () => {
    const x = Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i * 1.7));
    const pool = node('MaxPool', ['x'], ['y', 'i'], [{ name: 'kernel_shape', type: 7, ints: [2, 2] }, { name: 'strides', type: 7, ints: [2, 2] }]);
    const asOutput = model([pool], [], [{ name: 'x', dims: [1, 2, 4, 4], elem: FLOAT }], [{ name: 'y', dims: [1, 2, 2, 2], elem: FLOAT }, { name: 'i', dims: [1, 2, 2, 2], elem: 7 }]);
    const rt = await import('onnxruntime-web');
    rt.env.wasm.numThreads = 1;
    const s = await rt.InferenceSession.create(asOutput);
    const r = await s.run({ x: new rt.Tensor('float32', x, [1, 2, 4, 4]) });
    const [, i] = (await eg.loadModel(asOutput)).predict([eg.tensor(x, [1, 2, 4, 4])]) as eg.Tensor[];
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual(Array.from(r.i.data as BigInt64Array, Number));
    const added = model([pool, node('Add', ['i', 'i'], ['j'])], [], [{ name: 'x', dims: [1, 2, 4, 4], elem: FLOAT }], [{ name: 'j', dims: [1, 2, 2, 2], elem: 7 }]);
    await expect(eg.loadModel(added)).rejects.toThrow(/node 'Add_j' \(Add\) reads 'i', int32 indices .*not in arithmetic yet/);
  });
  it('BatchNormalization over [N, C, L] that no Conv1d produced (BatchNorm1d on features) normalizes axis 1 as ONNX Runtime does, and exports back', async () => {
    const C = 3, x = Float32Array.from({ length: 2 * C * 5 }, (_, i) => Math.sin(i * 0.9) * 2);
    const bytes = model([node('BatchNormalization', ['x', 'g', 'b', 'm', 'v'], ['y'], [{ name: 'epsilon', type: 1, f: 1e-3 }])],
      [floats('g', [1.5, 0.5, -1]), floats('b', [0.1, -0.2, 0.3]), floats('m', [0.2, -0.1, 0.4]), floats('v', [0.9, 1.7, 0.3])],
      [{ name: 'x', dims: [2, C, 5], elem: FLOAT }], [{ name: 'y', dims: [2, C, 5], elem: FLOAT }]);
    const rt = await import('onnxruntime-web');
    rt.env.wasm.numThreads = 1;
    const run = async (b: Uint8Array) => Array.from((await (await rt.InferenceSession.create(b)).run({ x: new rt.Tensor('float32', x, [2, C, 5]) })).y.data as Float32Array);
    const want = await run(bytes);
    const gm = await eg.loadModel(bytes);
    const got = Array.from((gm.predict(eg.tensor(x, [2, C, 5])) as eg.Tensor).dataSync());
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
    (await run(await eg.toOnnx(gm))).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
  });
});
