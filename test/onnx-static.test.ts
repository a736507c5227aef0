// ONNX models as their files state them: inputs without a batch axis (where the graph computes across the
// first axis, and every input is declared in full), inputs bound at load (loadModel's `constants`), and the
// op forms that go with them (Flatten / LayerNormalization / Softmax over any axis, Clip to any bounds,
// SELU's constants, Resize's ONNX coordinate rules), each against ONNX Runtime on the same file.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { maxRelDiff, useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

type Attr = { name: string; type: number; ints?: number[]; i?: number; f?: number; s?: Uint8Array };
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
const flt = (name: string, v: number): Attr => ({ name, type: 1, f: v });
const str = (name: string, v: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(v) });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
const f32 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });
type Io = { name: string; dims: Array<number | string>; elem?: number };

function model(nodes: unknown[], inits: unknown[], inputs: Io[], outputs: Io[], opset = 17): Uint8Array {
  const vi = ({ name, dims, elem = 1 }: Io) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'static', node: nodes, initializer: inits, input: inputs.map(vi), output: outputs.map(vi) },
  })).finish();
}

/** ONNX Runtime's outputs (in order) for these inputs: float32 tensors, or int64 ones given as { int64: values }. */
async function ort(bytes: Uint8Array, feeds: Record<string, eg.Tensor | { int64: number[]; dims: number[] }>): Promise<Float32Array[]> {
  const rt = await import('onnxruntime-web');
  rt.env.wasm.numThreads = 1;
  const s = await rt.InferenceSession.create(bytes);
  const f: Record<string, InstanceType<typeof rt.Tensor>> = {};
  for (const [k, v] of Object.entries(feeds)) {
    f[k] = v instanceof eg.Tensor ? new rt.Tensor('float32', v.dataSync() as Float32Array, v.shape as number[]) : new rt.Tensor('int64', BigInt64Array.from(v.int64.map(BigInt)), v.dims);
  }
  const r = await s.run(f);
  return s.outputNames.map((o) => r[o].data as Float32Array);
}

function nchwToNhwc(d: Float32Array, [N, C, H, W]: number[]): Float32Array {
  const o = new Float32Array(d.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) o[((n * H + h) * W + w) * C + c] = d[((n * C + c) * H + h) * W + w];
  return o;
}

const outputsOf = (y: eg.Tensor | eg.Tensor[] | Record<string, eg.Tensor>): eg.Tensor[] => (y instanceof eg.Tensor ? [y] : Array.isArray(y) ? y : Object.values(y));

describe('ONNX inputs without a batch axis, and inputs bound at load', () => {
  beforeAll(() => useBuild('simd'));

  // x [3, 4, 5] -> mean over axis 0 -> [4, 5] -> softmax over axis 0 (opset 13's single axis)
  const acrossFirst = (first: number | string) => model(
    [node('ReduceMean', ['x'], ['m'], [ints('axes', [0]), int('keepdims', 0)]), node('Softmax', ['m'], ['y'], [int('axis', 0)])],
    [], [{ name: 'x', dims: [first, 4, 5] }], [{ name: 'y', dims: [4, 5] }]);

  it('a graph that reduces the first axis loads with the input as one whole tensor of its declared shape, and matches ONNX Runtime', async () => {
    const bytes = acrossFirst(3);
    const m = await eg.loadModel(bytes);
    expect(m.summary({ print: false })).toContain('Inputs: x float32 [3, 4, 5]');
    const x = eg.randomNormal([3, 4, 5], 0, 1, 4);
    const y = m.predict(x) as eg.Tensor;
    expect(y.shape).toEqual([4, 5]);
    const [theirs] = await ort(bytes, { x });
    expect(maxRelDiff(y.dataSync(), theirs)).toBeLessThan(1e-5);
    // the declared shape is the only one it takes
    expect(() => m.predict(eg.randomNormal([2, 3, 4, 5], 0, 1, 5))).toThrow(/expects input \[3, 4, 5\], got \[2,3,4,5\]/);
    // and it exports back to a file ONNX Runtime runs the same
    const [again] = await ort(await eg.toOnnx(m), { x });
    expect(maxRelDiff(again, theirs)).toBeLessThan(1e-5);
  });

  it('a free first dimension stays the batch: reducing it is refused, naming the node', async () => {
    await expect(eg.loadModel(acrossFirst('N'))).rejects.toThrow(/ReduceMean_m.*reducing the batch dimension/);
  });

  it('a model that keeps its batch loads as before, even with a fixed 1 declared', async () => {
    const bytes = model([node('Relu', ['x'], ['y'])], [], [{ name: 'x', dims: [1, 3, 4, 4] }], [{ name: 'y', dims: [1, 3, 4, 4] }]);
    const m = await eg.loadModel(bytes);
    expect(m.summary({ print: false })).toContain('Inputs: x float32 [batch, 3, 4, 4]');
    expect((m.predict(eg.randomNormal([5, 3, 4, 4], 0, 1, 1)) as eg.Tensor).shape).toEqual([5, 3, 4, 4]);
  });

  // x [2, 6] reshaped to the shape fed as the int64 input 's'
  const reshapeBy = () => model([node('Reshape', ['x', 's'], ['y'])], [], [{ name: 'x', dims: [2, 6] }, { name: 's', dims: [3], elem: 7 }], [{ name: 'y', dims: [3, 2, 2] }]);

  it('constants: an input an op needs constant (a shape) is refused by name, and bound at load it runs as ONNX Runtime runs the file with it fed', async () => {
    const bytes = reshapeBy();
    await expect(eg.loadModel(bytes)).rejects.toThrow(/Reshape_y.*input 1 \('s'\) must be a constant/);
    const m = await eg.loadModel(bytes, { constants: { s: eg.tensor(Int32Array.of(3, 2, 2), [3], 'int32') } });
    expect(m.inputNames).toEqual(['x']);
    const x = eg.randomNormal([2, 6], 0, 1, 2);
    const y = m.predict(x) as eg.Tensor;
    expect(y.shape).toEqual([3, 2, 2]);
    const [theirs] = await ort(bytes, { x, s: { int64: [3, 2, 2], dims: [3] } });
    expect(Array.from(y.dataSync())).toEqual(Array.from(theirs));
  });

  it('constants: a name that is not an input, a shape that is not the declared one, fractions for an integer input are clear errors', async () => {
    const bytes = reshapeBy();
    await expect(eg.loadModel(bytes, { constants: { t: eg.tensor([1], [1]) } })).rejects.toThrow(/constants: the graph has no input 't' \(inputs: 'x', 's'\)/);
    await expect(eg.loadModel(bytes, { constants: { s: eg.tensor(Int32Array.of(3, 4), [2], 'int32') } })).rejects.toThrow(/constants: input 's' is declared \[3\], got \[2\]/);
    await expect(eg.loadModel(bytes, { constants: { s: eg.tensor([3, 2, 2.5], [3]) } })).rejects.toThrow(/input 's' is int64, and the values bound to it are not all integers/);
  });
});

describe('ONNX inputs with named dimensions beside the batch (freeDimensionOverrides)', () => {
  beforeAll(() => useBuild('simd'));

  // tokens [N, seq, 8] x W [8, 4], then a mean over the sequence
  const tokens = () => model([node('MatMul', ['x', 'w'], ['h']), node('ReduceMean', ['h'], ['y'], [ints('axes', [1]), int('keepdims', 0)])],
    [f32('w', Array.from({ length: 32 }, (_, i) => Math.sin(i) / 3), [8, 4])], [{ name: 'x', dims: ['N', 'seq', 8] }], [{ name: 'y', dims: ['N', 4] }]);

  it('a named dimension is refused with the option that sizes it; sized at load, the model matches ONNX Runtime at that size', async () => {
    await expect(eg.loadModel(tokens())).rejects.toThrow(/input 'x' has dynamic dimensions \[-1,-1,8\] beyond the batch: give it a size at load, eg\.loadModel\(file, \{ freeDimensionOverrides: \{ seq: \.\.\. \} \}\)/);
    const m = await eg.loadModel(tokens(), { freeDimensionOverrides: { seq: 5 } });
    expect(m.summary({ print: false })).toContain('Inputs: x float32 [batch, 5, 8]');
    const x = eg.randomNormal([3, 5, 8], 0, 1, 12);
    const [theirs] = await ort(tokens(), { x });
    expect(maxRelDiff((m.predict(x) as eg.Tensor).dataSync(), theirs)).toBeLessThan(1e-5);
  });

  it('a name no input has, or a size that is not a positive integer, is a clear error', async () => {
    await expect(eg.loadModel(tokens(), { freeDimensionOverrides: { len: 5 } })).rejects.toThrow("freeDimensionOverrides: no input has a dimension named 'len' (named dimensions: 'N', 'seq')");
    await expect(eg.loadModel(tokens(), { freeDimensionOverrides: { seq: 2.5 } })).rejects.toThrow("freeDimensionOverrides: 'seq' must be a positive integer, got 2.5");
  });
});

describe('ONNX op forms over any axis and any constants, against ONNX Runtime', () => {
  beforeAll(() => useBuild('simd'));

  const check = async (bytes: Uint8Array, x: eg.Tensor, exportToo = true) => {
    const m = await eg.loadModel(bytes);
    const ours = outputsOf(m.predict(m.outputNames.length > 1 ? [x] : x)).map((t) => t.dataSync());
    const theirs = await ort(bytes, { x });
    theirs.forEach((t, k) => expect(maxRelDiff(ours[k], t), `output ${k}`).toBeLessThan(1e-5));
    if (exportToo) (await ort(await eg.toOnnx(m), { x })).forEach((t, k) => expect(maxRelDiff(t, theirs[k]), `output ${k} exported`).toBeLessThan(1e-5));
    return m;
  };

  it('LayerNormalization over the last two axes, with its Mean and InvStdDev outputs', async () => {
    const bytes = model([node('LayerNormalization', ['x', 'g', 'b'], ['y', 'mean', 'isd'], [int('axis', 1), flt('epsilon', 1e-3)])],
      [f32('g', Array.from({ length: 12 }, (_, i) => 0.5 + i / 10), [3, 4]), f32('b', Array.from({ length: 12 }, (_, i) => i / 20 - 0.3), [3, 4])],
      [{ name: 'x', dims: ['N', 3, 4] }], [{ name: 'y', dims: ['N', 3, 4] }, { name: 'mean', dims: ['N', 1, 1] }, { name: 'isd', dims: ['N', 1, 1] }]);
    await check(bytes, eg.randomNormal([5, 3, 4], 1, 2, 3), false);
  });

  it('Flatten at axis 2 and a softmax over the middle axis (opset 11: the axes from it on are one)', async () => {
    const bytes = model([node('Flatten', ['x'], ['f'], [int('axis', 2)]), node('Softmax', ['x'], ['s'], [int('axis', 1)]), node('Flatten', ['s'], ['y'], [int('axis', 0)])],
      [], [{ name: 'x', dims: [2, 3, 4, 5] }], [{ name: 'f', dims: [6, 20] }, { name: 'y', dims: [1, 120] }], 11);
    const m = await check(bytes, eg.randomNormal([2, 3, 4, 5], 0, 1, 6));
    expect(m.summary({ print: false })).toContain('Inputs: x float32 [2, 3, 4, 5]');
    // exported, the whole tensor keeps its declared shape (no batch, no image layout)
    const back = onnx.ModelProto.decode(await eg.toOnnx(m));
    expect(back.graph.input[0].type.tensorType.shape.dim.map((d: { dimValue?: unknown; dimParam?: string }) => d.dimParam ?? Number(d.dimValue))).toEqual([2, 3, 4, 5]);
    expect(back.graph.node.map((n: { opType: string }) => n.opType)).not.toContain('Transpose');
  });

  it('Clip to [-0.3, 0.4] and SELU with other constants after a Gemm: match, export, and the Gemm weights train by the right gradient', async () => {
    const w = Array.from({ length: 4 * 3 }, (_, i) => Math.sin(i + 1));
    const bytes = model([node('Gemm', ['x', 'w'], ['h']), node('Clip', ['h', 'lo', 'hi'], ['c']), node('Selu', ['c'], ['y'], [flt('alpha', 2), flt('gamma', 1.5)])],
      [f32('w', w, [4, 3]), f32('lo', [-0.3], []), f32('hi', [0.4], [])], [{ name: 'x', dims: ['N', 4] }], [{ name: 'y', dims: ['N', 3] }]);
    const x = eg.randomNormal([6, 4], 0, 0.5, 7);
    const m = await check(bytes, x);
    // one SGD step at lr 1 on a mean squared error moves w by its gradient: central differences of the loss
    const net = eg.sequential([m]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'mse' });
    const target = eg.randomNormal([6, 3], 0, 0.3, 8);
    const ws = net.getWeights(), wt = ws[0], w0 = Float32Array.from(wt.dataSync()), eps = 1e-3;
    expect(wt.shape).toEqual([4, 3]);
    const fd = Array.from(w0, (_, i) => {
      const at = (d: number) => { const p = Float32Array.from(w0); p[i] += d; wt.write(p); net.setWeights(ws); return net.evaluate(x, target).loss; };
      const v = (at(eps) - at(-eps)) / (2 * eps);
      wt.write(w0); net.setWeights(ws);
      return v;
    });
    await net.fit(x, target, { epochs: 1, batchSize: 6, shuffle: false });
    const grad = Array.from(net.getWeights()[0].dataSync(), (v, i) => w0[i] - v);
    expect(maxRelDiff(grad, fd)).toBeLessThan(2e-2);
  });

  it('one-dimensional Conv (strided, padded, dilated, grouped), MaxPool and AveragePool counting its padding, over [N, C, L]', async () => {
    const w1 = Array.from({ length: 6 * 2 * 3 }, (_, i) => Math.sin(i * 0.7) / 2), w2 = Array.from({ length: 6 * 3 * 2 }, (_, i) => Math.cos(i * 0.3) / 2);
    const bytes = model([
      node('Conv', ['x', 'w1', 'b1'], ['c1'], [ints('kernel_shape', [3]), ints('strides', [2]), ints('pads', [1, 2]), ints('dilations', [2])]),
      node('Relu', ['c1'], ['r1']),
      node('Conv', ['r1', 'w2'], ['c2'], [ints('kernel_shape', [2]), int('group', 2)]),
      node('MaxPool', ['c2'], ['p1'], [ints('kernel_shape', [2]), ints('strides', [1])]),
      node('AveragePool', ['p1'], ['y'], [ints('kernel_shape', [3]), ints('pads', [1, 1]), int('count_include_pad', 1)]),
    ], [f32('w1', w1, [6, 2, 3]), f32('b1', [0.1, -0.1, 0.2, 0, 0.05, -0.2]), f32('w2', w2, [6, 3, 2])], [{ name: 'x', dims: ['N', 2, 17] }], [{ name: 'y', dims: ['N', 6, 6] }]);
    const m = await check(bytes, eg.randomNormal([3, 2, 17], 0, 1, 10));
    expect(m.summary({ print: false })).toContain('Outputs: y float32 [batch, 6, 6]');
  });

  it('Max, Min and Sum of three operands (two computed, one constant, broadcast) match ONNX Runtime and export back', async () => {
    const bytes = model([node('Max', ['a', 'b', 'c'], ['mx']), node('Min', ['a', 'b', 'c'], ['mn']), node('Sum', ['a', 'b', 'c'], ['sm'])],
      [f32('c', [0.1, -0.2, 0.3])], [{ name: 'a', dims: ['N', 3] }, { name: 'b', dims: ['N', 3] }], [{ name: 'mx', dims: ['N', 3] }, { name: 'mn', dims: ['N', 3] }, { name: 'sm', dims: ['N', 3] }]);
    const m = await eg.loadModel(bytes);
    const a = eg.randomNormal([5, 3], 0, 1, 14), b = eg.randomNormal([5, 3], 0, 1, 15);
    const ours = (m.predict([a, b]) as eg.Tensor[]).map((t) => t.dataSync());
    const theirs = await ort(bytes, { a, b });
    theirs.forEach((t, k) => expect(maxRelDiff(ours[k], t), `output ${k}`).toBeLessThan(1e-6));
    (await ort(await eg.toOnnx(m), { a, b })).forEach((t, k) => expect(maxRelDiff(t, theirs[k]), `exported output ${k}`).toBeLessThan(1e-6));
  });

  it('Expand and Tile of computed values and Where by a constant mask match ONNX Runtime, export back, and train', async () => {
    const i64 = (name: string, vals: number[]) => ({ name, dims: [vals.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
    const mask = { name: 'm', dims: [4, 3], dataType: 9, rawData: Uint8Array.from([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0]) };
    const bytes = model([
      node('Gemm', ['x', 'w'], ['h']), node('Reshape', ['h', 'r'], ['h3']),
      node('Expand', ['h3', 'e'], ['ex']), node('Tile', ['h3', 't'], ['ti']),
      node('Where', ['m', 'ex', 'half'], ['wh']), node('Flatten', ['wh'], ['f1']), node('Flatten', ['ti'], ['f2']), node('Concat', ['f1', 'f2'], ['y'], [int('axis', 1)]),
    ], [f32('w', Array.from({ length: 6 }, (_, i) => Math.cos(i)), [2, 3]), i64('r', [-1, 1, 3]), i64('e', [1, 4, 3]), i64('t', [1, 2, 2]), mask, f32('half', [0.5], [])],
    [{ name: 'x', dims: ['N', 2] }], [{ name: 'y', dims: ['N', 24] }]);
    const x = eg.randomNormal([5, 2], 0, 1, 16);
    const m = await check(bytes, x);
    const net = eg.sequential([m]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
    const target = eg.zeros([5, 24]), before = net.evaluate(x, target).loss;
    await net.fit(x, target, { epochs: 3, batchSize: 5 });
    expect(net.evaluate(x, target).loss).toBeLessThan(before);
  });

  it('token ids and an attention mask (int64): ids index an embedding, the mask cast to float weights a masked mean; matches ONNX Runtime and exports back', async () => {
    const i64 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
    const bytes = model([
      node('Gather', ['table', 'ids'], ['emb']), node('Cast', ['mask'], ['m'], [int('to', 1)]), node('Unsqueeze', ['m', 'ax2'], ['m3']),
      node('Mul', ['emb', 'm3'], ['masked']), node('ReduceSum', ['masked', 'ax1'], ['s'], [int('keepdims', 0)]), node('ReduceSum', ['m3', 'ax1'], ['cnt'], [int('keepdims', 0)]),
      node('Div', ['s', 'cnt'], ['y']),
    ], [f32('table', Array.from({ length: 40 }, (_, i) => Math.sin(i)), [10, 4]), i64('ax1', [1]), i64('ax2', [2])],
    [{ name: 'ids', dims: ['N', 6], elem: 7 }, { name: 'mask', dims: ['N', 6], elem: 7 }], [{ name: 'y', dims: ['N', 4] }], 13);
    const m = await eg.loadModel(bytes);
    expect(m.summary({ print: false })).toContain('Inputs: ids int32 [batch, 6]; mask int32 [batch, 6]');
    const ids = [1, 4, 2, 9, 0, 0, 3, 3, 7, 1, 5, 0], mask = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0];
    const ours = (m.predict([eg.tensor(Int32Array.from(ids), [2, 6], 'int32'), eg.tensor(Int32Array.from(mask), [2, 6], 'int32')]) as eg.Tensor).dataSync();
    const feeds = { ids: { int64: ids, dims: [2, 6] }, mask: { int64: mask, dims: [2, 6] } };
    const [theirs] = await ort(bytes, feeds);
    expect(maxRelDiff(ours, theirs)).toBeLessThan(1e-6);
    const [again] = await ort(await eg.toOnnx(m), feeds);
    expect(maxRelDiff(again, theirs)).toBeLessThan(1e-6);
  });

  it('comparisons and logic on computed values are 0/1 masks: a Where by such a mask, a bool input as a mask, match ONNX Runtime', async () => {
    const bytes = model([
      node('Greater', ['x', 'zero'], ['pos']), node('Less', ['x', 'y'], ['lt']), node('Equal', ['x', 'y'], ['eq']),
      node('LessOrEqual', ['x', 'y'], ['le']), node('GreaterOrEqual', ['x', 'y'], ['ge']),
      node('Or', ['pos', 'eq'], ['o1']), node('And', ['o1', 'keep'], ['a1']), node('Xor', ['lt', 'ge'], ['x1']), node('Not', ['x1'], ['n1']),
      node('Where', ['a1', 'x', 'y'], ['w']), node('Cast', ['n1'], ['nf'], [int('to', 1)]), node('Cast', ['le'], ['lf'], [int('to', 1)]),
      node('Add', ['w', 'nf'], ['s']), node('Add', ['s', 'lf'], ['out']),
    ], [f32('zero', [0], [])],
    [{ name: 'x', dims: ['N', 5] }, { name: 'y', dims: ['N', 5] }, { name: 'keep', dims: ['N', 5], elem: 9 }], [{ name: 'out', dims: ['N', 5] }, { name: 'a1', dims: ['N', 5], elem: 9 }]);
    const m = await eg.loadModel(bytes);
    const xv = [0.5, -1, 2, 2, -0.25, 1, 1, -3, 0, 4], yv = [0.5, 0, 1, 2, -0.5, 1, 2, -3, 1, 3], keep = [1, 1, 0, 1, 1, 0, 1, 1, 1, 0];
    const x = eg.tensor(xv, [2, 5]), y = eg.tensor(yv, [2, 5]);
    const [out, a1] = m.predict([x, y, eg.tensor(Int32Array.from(keep), [2, 5], 'int32')]) as eg.Tensor[];
    const rt = await import('onnxruntime-web');
    const sess = await rt.InferenceSession.create(bytes);
    const r = await sess.run({ x: new rt.Tensor('float32', Float32Array.from(xv), [2, 5]), y: new rt.Tensor('float32', Float32Array.from(yv), [2, 5]), keep: new rt.Tensor('bool', Uint8Array.from(keep), [2, 5]) });
    expect(Array.from(out.dataSync())).toEqual(Array.from(r.out.data as Float32Array));
    expect(Array.from(a1.dataSync())).toEqual(Array.from(r.a1.data as Uint8Array, Number));
  });

  it('ArgMax / ArgMin (keepdims either way) are int32 outputs, equal to ONNX Runtime\'s int64 ones, and export back as ArgMax', async () => {
    const w = Array.from({ length: 4 * 5 }, (_, i) => Math.sin(i * 1.3));
    const bytes = model([node('Gemm', ['x', 'w'], ['logits']), node('ArgMax', ['logits'], ['cls'], [int('axis', 1), int('keepdims', 0)]), node('ArgMin', ['logits'], ['low'], [int('axis', -1)])],
      [f32('w', w, [4, 5])], [{ name: 'x', dims: ['N', 4] }], [{ name: 'logits', dims: ['N', 5] }, { name: 'cls', dims: ['N'], elem: 7 }, { name: 'low', dims: ['N', 1], elem: 7 }]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([6, 4], 0, 1, 13);
    const [, cls, low] = m.predict([x]) as eg.Tensor[];
    expect([cls.dtype, low.dtype, cls.shape, low.shape]).toEqual(['int32', 'int32', [6], [6, 1]]);
    const theirs = await ort(bytes, { x });
    expect(Array.from(cls.dataSync())).toEqual(Array.from(theirs[1], Number));
    expect(Array.from(low.dataSync())).toEqual(Array.from(theirs[2], Number));
    const again = await ort(await eg.toOnnx(m), { x });
    expect(Array.from(again[1], Number)).toEqual(Array.from(theirs[1], Number));
    expect(Array.from(again[2], Number)).toEqual(Array.from(theirs[2], Number));
  });

  it('a constant output (the Shape of a whole tensor) is returned as it is; with a batch it is refused; a quantized output is its integers (int32)', async () => {
    const shapeOf = (first: number | string) => model([node('Shape', ['x'], ['s']), node('Relu', ['x'], ['y'])], [], [{ name: 'x', dims: [first, 4] }], [{ name: 's', dims: [2], elem: 7 }, { name: 'y', dims: [first, 4] }]);
    const m = await eg.loadModel(shapeOf(3));
    const [s] = m.predict([eg.randomNormal([3, 4], 0, 1, 1)]) as eg.Tensor[];
    expect([s.dtype, Array.from(s.dataSync())]).toEqual(['int32', [3, 4]]);
    await expect(eg.loadModel(shapeOf('N'))).rejects.toThrow("the model output 's' is a constant (it does not depend on the input): with a batch dimension edgegrad cannot return it");
    const q = model([node('QuantizeLinear', ['x', 'sc', 'zp'], ['y'])], [f32('sc', [0.1], []), { name: 'zp', dims: [], dataType: 2, rawData: Uint8Array.of(128) }], [{ name: 'x', dims: ['N', 4] }], [{ name: 'y', dims: ['N', 4], elem: 2 }]);
    // x / 0.1 rounded half to even, + 128, saturated to uint8: as ONNX Runtime gives it
    const xq = eg.tensor([-13, -0.05, 0.05, 0.15, 12.7, 30, 0.25, -0.25], [2, 4]);
    const yq = (await eg.loadModel(q)).predict(xq) as eg.Tensor;
    const [want] = await ort(q, { x: xq });
    expect([yq.dtype, Array.from(yq.dataSync())]).toEqual(['int32', Array.from(want)]);
    expect(Array.from(want)).toEqual([0, 128, 128, 130, 255, 255, 130, 126]);
  });

  for (const [file, dims] of [['conv1d', [4, 3, 64]], ['layernorm2d', [4, 8, 16]], ['interpolate', [4, 3, 7, 9]]] as Array<[string, number[]]>) {
    it(`PyTorch's ${file} export (test/fixtures/pytorch-forms/export.py) matches ONNX Runtime, exports back, and trains`, async () => {
      const bytes = new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch-forms', `${file}.onnx`)));
      const x = eg.randomNormal(dims, 0, 1, 11);
      const m = await check(bytes, x);
      // one epoch of Adam toward zeros lowers the loss (inside a sequential model maps are NHWC)
      const net = eg.sequential([m]);
      net.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'mse' });
      const xin = dims.length === 4 ? eg.tensor(nchwToNhwc(x.dataSync() as Float32Array, dims), [dims[0], dims[2], dims[3], dims[1]]) : x;
      const target = eg.zeros((m.predict(x) as eg.Tensor).shape);
      const before = net.evaluate(xin, target).loss;
      await net.fit(xin, target, { epochs: 3, batchSize: 4 });
      expect(net.evaluate(xin, target).loss).toBeLessThan(before);
    });
  }

  for (const [mode, ctm, nearest, scales] of [
    ['nearest', 'half_pixel', 'round_prefer_floor', [1, 1, 1.7, 0.6]],
    ['nearest', 'asymmetric', 'ceil', [1, 1, 2.5, 1.5]],
    ['nearest', 'align_corners', 'floor', [1, 1, 2, 0.75]],
    ['linear', 'pytorch_half_pixel', '', [1, 1, 1.6, 0.5]],
    ['linear', 'align_corners', '', [1, 1, 0.6, 1.7]],
    ['cubic', 'half_pixel', '', [1, 1, 1.6, 0.8]],
    ['cubic', 'align_corners', 'a=-0.5', [1, 1, 0.8, 2]],
    ['cubic', 'asymmetric', 'exclude_outside', [1, 1, 2, 1.5]],
  ] as Array<[string, string, string, number[]]>) {
    it(`Resize ${mode} with ${ctm}${nearest ? ` and ${nearest}` : ''} at scales ${scales.slice(2).join(' x ')}`, async () => {
      const extra = mode !== 'cubic' ? (nearest ? [str('nearest_mode', nearest)] : []) : nearest === 'a=-0.5' ? [flt('cubic_coeff_a', -0.5)] : nearest ? [int('exclude_outside', 1)] : [];
      const attrs = [str('mode', mode), str('coordinate_transformation_mode', ctm), ...extra];
      const OH = Math.floor(5 * scales[2]), OW = Math.floor(7 * scales[3]);
      const bytes = model([node('Resize', ['x', '', 'scales'], ['y'], attrs)], [f32('scales', scales)], [{ name: 'x', dims: ['N', 2, 5, 7] }], [{ name: 'y', dims: ['N', 2, OH, OW] }], 13);
      await check(bytes, eg.randomNormal([2, 2, 5, 7], 0, 1, 9));
    });
  }
});
