// Integer tensors through ONNX graphs (issue 20): integer inputs read by arithmetic, comparisons, pooling and
// the integer quantized ops are held as exact integers in float32, with integer semantics where they differ
// from float (Div truncates toward zero, 8-bit sums wrap, Pow gives integers, quantization rounds half to
// even and saturates); integer outputs come back as int32. Each case against ONNX Runtime (onnxruntime-web)
// where it runs the type, else against a plain reference written here.
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

const UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9, FLOAT = 1;
type Attr = { name: string; type: number; ints?: number[]; i?: number };
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
type Io = { name: string; dims: number[]; elem: number };
/** an initializer of ONNX type elem */
const init = (name: string, elem: number, vals: number[], dims = [vals.length]) => {
  const raw = elem === FLOAT ? new Uint8Array(Float32Array.from(vals).buffer) : elem === UINT8 ? Uint8Array.from(vals) : elem === INT8 ? new Uint8Array(Int8Array.from(vals).buffer) : new Uint8Array(Int32Array.from(vals).buffer);
  return { name, dims, dataType: elem, rawData: raw };
};

function model(nodes: unknown[], inits: unknown[], inputs: Io[], outputs: Io[], opset = 13): Uint8Array {
  const vi = ({ name, dims, elem }: Io) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'integers', node: nodes, initializer: inits, input: inputs.map(vi), output: outputs.map(vi) },
  })).finish();
}

const ORT_TYPES: Record<number, [string, (v: number[]) => ArrayLike<number | bigint>]> = {
  [FLOAT]: ['float32', (v) => Float32Array.from(v)], [UINT8]: ['uint8', (v) => Uint8Array.from(v)], [INT8]: ['int8', (v) => Int8Array.from(v)],
  [INT32]: ['int32', (v) => Int32Array.from(v)], [INT64]: ['int64', (v) => BigInt64Array.from(v.map(BigInt))],
};

/** ONNX Runtime's outputs, as numbers, for inputs of the types the model declares. */
async function ort(bytes: Uint8Array, inputs: Io[], data: number[][]): Promise<number[][]> {
  const rt = await import('onnxruntime-web');
  rt.env.wasm.numThreads = 1;
  const s = await rt.InferenceSession.create(bytes);
  const feeds: Record<string, InstanceType<typeof rt.Tensor>> = {};
  inputs.forEach((io, k) => { const [type, make] = ORT_TYPES[io.elem]; feeds[io.name] = new rt.Tensor(type as 'float32', make(data[k]) as Float32Array, io.dims); });
  const r = await s.run(feeds);
  return s.outputNames.map((o) => Array.from(r[o].data as ArrayLike<number | bigint>, Number));
}

/** edgegrad's outputs for the same inputs (integers as int32 tensors), with their dtypes. */
async function ours(bytes: Uint8Array, inputs: Io[], data: number[][]): Promise<{ values: number[][]; dtypes: string[]; shapes: number[][] }> {
  const m = await eg.loadModel(bytes);
  const xs = inputs.map((io, k) => (io.elem === FLOAT ? eg.tensor(data[k], io.dims) : eg.tensor(Int32Array.from(data[k]), io.dims, 'int32')));
  const y = m.predict(xs);
  const ys = y instanceof eg.Tensor ? [y] : Array.isArray(y) ? y : Object.values(y);
  return { values: ys.map((t) => Array.from(t.dataSync())), dtypes: ys.map((t) => t.dtype), shapes: ys.map((t) => t.shape.slice()) };
}

/** Both runtimes on one model: the same integers, int32 tensors of the declared shape from edgegrad. */
async function againstOrt(bytes: Uint8Array, inputs: Io[], outputs: Io[], data: number[][]): Promise<number[]> {
  const want = await ort(bytes, inputs, data);
  const got = await ours(bytes, inputs, data);
  expect(got.values).toEqual(want);
  expect(got.shapes).toEqual(outputs.map((o) => o.dims));
  expect(got.dtypes).toEqual(outputs.map((o) => (o.elem === FLOAT ? 'float32' : 'int32')));
  return got.values[0];
}

describe('integer tensors through ONNX graphs', () => {
  beforeAll(() => { useBuild('simd'); });

  it('uint8 Add, Sub and Mul wrap modulo 256 as C does (a plain reference: ONNX Runtime has no uint8 Add)', async () => {
    const x = [200, 3, 255, 0, 17, 128], y = [100, 5, 1, 0, 16, 2];
    for (const [op, f] of [['Add', (a: number, b: number) => a + b], ['Sub', (a: number, b: number) => a - b], ['Mul', (a: number, b: number) => a * b]] as const) {
      const io: Io[] = [{ name: 'x', dims: [2, 3], elem: UINT8 }, { name: 'y', dims: [2, 3], elem: UINT8 }];
      const out: Io[] = [{ name: 'z', dims: [2, 3], elem: UINT8 }];
      const got = await ours(model([node(op, ['x', 'y'], ['z'])], [], io, out), io, [x, y]);
      expect([op, got.dtypes[0], got.values[0]]).toEqual([op, 'int32', x.map((a, i) => (((f(a, y[i]) % 256) + 256) % 256))]);
    }
  });

  it('int64 Div truncates toward zero, negatives included, as ONNX Runtime does', async () => {
    const io: Io[] = [{ name: 'x', dims: [2, 4], elem: INT64 }, { name: 'y', dims: [2, 4], elem: INT64 }];
    const out: Io[] = [{ name: 'z', dims: [2, 4], elem: INT64 }];
    const z = await againstOrt(model([node('Div', ['x', 'y'], ['z'])], [], io, out), io, out, [[-7, 7, -7, 7, 9, -1, 100000, -5], [2, 2, -2, -2, 3, 3, 7, 5]]);
    expect(z).toEqual([-3, 3, 3, -3, 3, 0, 14285, -1]);
  });

  it('int32 Max and Min broadcast ([2, 3] against [3]) as ONNX Runtime does', async () => {
    const io: Io[] = [{ name: 'a', dims: [2, 3], elem: INT32 }, { name: 'b', dims: [3], elem: INT32 }];
    const out: Io[] = [{ name: 'hi', dims: [2, 3], elem: INT32 }, { name: 'lo', dims: [2, 3], elem: INT32 }];
    const bytes = model([node('Max', ['a', 'b'], ['hi']), node('Min', ['a', 'b'], ['lo'])], [], io, out);
    await againstOrt(bytes, io, out, [[-5, 12, 7, 1000000, -2, 0], [3, -4, 7]]);
  });

  it('Clip of int8 to int8 bounds (an initializer and a scalar input), as ONNX Runtime does', async () => {
    const io: Io[] = [{ name: 'x', dims: [2, 4], elem: INT8 }, { name: 'hi', dims: [], elem: INT8 }];
    const out: Io[] = [{ name: 'y', dims: [2, 4], elem: INT8 }];
    const bytes = model([node('Clip', ['x', 'lo', 'hi'], ['y'])], [init('lo', INT8, [-3], [])], io, out);
    const y = await againstOrt(bytes, io, out, [[-128, -4, -3, 0, 5, 6, 7, 127], [6]]);
    expect(y).toEqual([-3, -3, -3, 0, 5, 6, 6, 6]);
  });

  it('Equal of int32 inputs is a bool output: 0s and 1s as int32', async () => {
    const io: Io[] = [{ name: 'a', dims: [2, 3], elem: INT32 }, { name: 'b', dims: [3], elem: INT32 }];
    const out: Io[] = [{ name: 'eq', dims: [2, 3], elem: BOOL }];
    const got = await ours(model([node('Equal', ['a', 'b'], ['eq'])], [], io, out), io, [[1, 2, 3, 3, 2, 1], [1, 5, 1]]);
    expect([got.dtypes[0], got.values[0]]).toEqual(['int32', [1, 0, 0, 0, 0, 1]]);
  });

  it('ConvInteger of a uint8 image (padding, zero points) gives the int32 sums ONNX Runtime gives', async () => {
    const io: Io[] = [{ name: 'x', dims: [1, 2, 4, 4], elem: UINT8 }];
    const out: Io[] = [{ name: 'y', dims: [1, 3, 4, 4], elem: INT32 }];
    const w = Array.from({ length: 3 * 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const bytes = model([node('ConvInteger', ['x', 'w', 'xz', 'wz'], ['y'], [ints('pads', [1, 1, 1, 1])])],
      [init('w', UINT8, w, [3, 2, 3, 3]), init('xz', UINT8, [7], []), init('wz', UINT8, [128], [])], io, out, 10);
    const x = Array.from({ length: 32 }, (_, i) => (i * 53 + 11) % 256);
    await againstOrt(bytes, io, out, [x]);
  });

  it('QLinearMatMul of two uint8 inputs requantizes (round half to even, saturate) as ONNX Runtime does', async () => {
    const io: Io[] = [{ name: 'a', dims: [3, 4], elem: UINT8 }, { name: 'b', dims: [4, 2], elem: UINT8 }];
    const out: Io[] = [{ name: 'y', dims: [3, 2], elem: UINT8 }];
    const bytes = model([node('QLinearMatMul', ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], ['y'])],
      [init('as', FLOAT, [0.02], []), init('az', UINT8, [113], []), init('bs', FLOAT, [0.005], []), init('bz', UINT8, [114], []),
        init('ys', FLOAT, [0.003], []), init('yz', UINT8, [118], [])], io, out, 10);
    await againstOrt(bytes, io, out, [[208, 236, 0, 238, 3, 214, 255, 29, 1, 255, 100, 50], [152, 51, 244, 60, 26, 255, 0, 127]]);
  });

  it('QuantizeLinear per axis gives u8 integers, DequantizeLinear per axis reads raw u8 ones, as ONNX Runtime does', async () => {
    const q: Io[] = [{ name: 'x', dims: [1, 3, 2], elem: FLOAT }], qo: Io[] = [{ name: 'y', dims: [1, 3, 2], elem: UINT8 }];
    const qb = model([node('QuantizeLinear', ['x', 's', 'z'], ['y'])], [init('s', FLOAT, [0.5, 0.1, 2], [3]), init('z', UINT8, [0, 128, 10], [3])], q, qo);
    await againstOrt(qb, q, qo, [[1.25, -3, 0.25, -0.05, 1000, 3]]);
    const d: Io[] = [{ name: 'x', dims: [1, 3, 2], elem: UINT8 }], dout: Io[] = [{ name: 'y', dims: [1, 3, 2], elem: FLOAT }];
    const db = model([node('DequantizeLinear', ['x', 's', 'z'], ['y'])], [init('s', FLOAT, [0.5, 0.1, 2], [3]), init('z', UINT8, [0, 128, 10], [3])], d, dout);
    await againstOrt(db, d, dout, [[0, 255, 3, 200, 9, 11]]);
  });

  it('refuses what float32 cannot hold exactly: integer sums beyond 2^24 at load, an input beyond 2^24 at predict', async () => {
    const io: Io[] = [{ name: 'a', dims: [1, 300], elem: UINT8 }];
    const big = model([node('MatMulInteger', ['a', 'b'], ['y'])], [init('b', UINT8, new Array(300).fill(255), [300, 1])], io, [{ name: 'y', dims: [1, 1], elem: INT32 }], 10);
    await expect(eg.loadModel(big)).rejects.toThrow(/MatMulInteger.*integer sums may reach 19507500, beyond 2\^24/);
    const add: Io[] = [{ name: 'x', dims: [1, 2], elem: INT32 }, { name: 'y', dims: [1, 2], elem: INT32 }];
    const m = await eg.loadModel(model([node('Add', ['x', 'y'], ['z'])], [], add, [{ name: 'z', dims: [1, 2], elem: INT32 }]));
    expect(() => m.predict([eg.tensor(Int32Array.of(1, 1 << 25), [1, 2], 'int32'), eg.tensor(Int32Array.of(1, 2), [1, 2], 'int32')])).toThrow(/input 'x' holds 33554432 at index 1: .*exact only up to 2\^24/);
    // a sum that leaves float32's exact range says so at run time, naming the node
    expect(() => m.predict([eg.tensor(Int32Array.of(1, 1 << 24), [1, 2], 'int32'), eg.tensor(Int32Array.of(1, 1 << 24), [1, 2], 'int32')])).toThrow(/node 'Add_z' \(Add, int32\) gives 33554432, beyond 2\^24/);
  });

  it('a graph with no inputs (a Constant output) loads, and predict([]) returns it', async () => {
    const t = { dims: [2, 2], dataType: FLOAT, rawData: new Uint8Array(Float32Array.of(1, -2, 3.5, 4).buffer) };
    const m = await eg.loadModel(model([{ ...node('Constant', [], ['c']), attribute: [{ name: 'value', type: 4, t }] }], [], [], [{ name: 'c', dims: [2, 2], elem: FLOAT }]));
    expect(m.inputNames).toEqual([]);
    const c = m.predict([]) as eg.Tensor;
    expect([c.shape, Array.from(c.dataSync())]).toEqual([[2, 2], [1, -2, 3.5, 4]]);
  });

  it('a model with an integer input trains its float weights; integer values carry no gradient', async () => {
    // counts (int32) + an integer offset, cast to float, through a MatMul: only W trains
    const io: Io[] = [{ name: 'n', dims: [1, 3], elem: INT32 }];
    const bytes = model([node('Add', ['n', 'off'], ['m']), { ...node('Cast', ['m'], ['f']), attribute: [{ name: 'to', type: 2, i: FLOAT }] }, node('MatMul', ['f', 'W'], ['y'])],
      [init('off', INT32, [1, 2, 3], [3]), init('W', FLOAT, [0.1, -0.2, 0.3, 0.05, 0.2, -0.1], [3, 2])], io, [{ name: 'y', dims: [1, 2], elem: FLOAT }]);
    const m = await eg.loadModel(bytes);
    const params = () => m.graph.values.filter((v) => v.kind === 'param').map((v) => [v.name, v.trainable, Array.from(v.tensor!.dataSync())] as const);
    const offset = params().find(([, , d]) => d.join() === '1,2,3')!;
    expect(offset[1]).toBe(false);
    const x = eg.tensor(Int32Array.of(1, 0, 2, 3, 1, 0, 0, 2, 2, 4, 4, 1), [4, 3], 'int32');
    const target = eg.tensor([1, 0, 0, 1, 1, 1, 0.5, -0.5], [4, 2]);
    const before = m.graph.values.find((v) => v.name.endsWith('/W'))!.tensor!.dataSync().slice();
    const loss = (y: eg.Tensor) => { const d = y.dataSync(), t = target.dataSync(); let s = 0; for (let i = 0; i < d.length; i++) s += (d[i] - t[i]) ** 2; return s; };
    const l0 = loss(m.predict(x) as eg.Tensor);
    // as a layer (eg.sequential) the model takes its integers as float32 values, as its graph holds them
    const seq = eg.sequential([m]);
    seq.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.01 }), loss: 'mse' });
    await seq.fit(eg.tensor(Float32Array.from(x.dataSync()), [4, 3]), target, { epochs: 20, batchSize: 4 });
    expect(loss(m.predict(x) as eg.Tensor)).toBeLessThan(l0);
    expect(m.graph.values.find((v) => v.name.endsWith('/W'))!.tensor!.dataSync()).not.toEqual(before);
    expect(Array.from(params().find(([nm]) => nm === offset[0])![2])).toEqual([1, 2, 3]);
  });
});
