// Constant folding at import and the Reduce family, against ONNX Runtime: graphs that compute shapes,
// masks and per-channel constants from Shape through arithmetic (what exporters write), reductions over
// maps and plain values on any axes, and the gradient of a reduction (finite differences).
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { useBuild, maxRelDiff, runOrt } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

type Attr = { name: string; type: number; ints?: number[]; i?: number; f?: number; t?: unknown };
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });

function model(nodes: unknown[], inits: unknown[], inDims: Array<number | string>, outDims: Array<number | string>, opset = 17): Uint8Array {
  const vi = (name: string, dims: Array<number | string>) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'fold', node: nodes, initializer: inits, input: [vi('x', inDims)], output: [vi('y', outDims)] },
  })).finish();
}
const i64 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
const f32 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });

/**
 * Weights `ks` of a model compiled with SGD at learning rate 1 and a mean loss: the gradient one full-batch
 * step applies, and the central differences (step 1e-2) of the loss it evaluates, per weight.
 */
async function stepVsDifferences(net: import('../src/index.js').Model, x: eg.Tensor, y: eg.Tensor, ks: number[]): Promise<Array<{ grad: number[]; fd: number[] }>> {
  const ws = net.getWeights(), w0 = ws.map((t) => Float32Array.from(t.dataSync())), eps = 1e-2;
  const fds = ks.map((k) => Array.from(w0[k], (_, i) => {
    const at = (d: number) => { const p = Float32Array.from(w0[k]); p[i] += d; ws[k].write(p); net.setWeights(ws); return net.evaluate(x, y).loss; };
    const v = (at(eps) - at(-eps)) / (2 * eps);
    ws[k].write(w0[k]); net.setWeights(ws);
    return v;
  }));
  await net.fit(x, y, { epochs: 1, batchSize: x.shape[0], shuffle: false });
  const after = net.getWeights();
  return ks.map((k, j) => ({ grad: Array.from(after[k].dataSync(), (v, i) => w0[k][i] - v), fd: fds[j] }));
}

describe('ONNX constant folding', () => {
  beforeAll(() => useBuild('simd'));

  it('ShuffleNet-style shape arithmetic: Shape -> Gather -> Div -> Concat -> Reshape (no "two constant operands")', async () => {
    const nodes = [
      node('Shape', ['x'], ['s']),
      node('Gather', ['s', 'one'], ['c'], [int('axis', 0)]),
      node('Div', ['c', 'two'], ['half']),                       // int64 / int64: truncating
      node('Add', ['half', 'zero'], ['half2']),                  // two constant operands
      node('Unsqueeze', ['half2', 'ax0'], ['h1']),
      node('Concat', ['minus1', 'twoV', 'h1', 'sixteen'], ['shape'], [int('axis', 0)]),
      node('Reshape', ['x', 'shape'], ['r']),
      node('Transpose', ['r'], ['t'], [ints('perm', [0, 2, 1, 3])]),
      node('Reshape', ['t', 'back'], ['y']),
    ];
    const inits = [i64('one', [1], []), i64('two', [2], []), i64('zero', [0], []), i64('ax0', [0]), i64('minus1', [-1]), i64('twoV', [2]), i64('sixteen', [16]), i64('back', [0, 6, 4, 4])];
    const bytes = model(nodes, inits, ['N', 6, 4, 4], ['N', 6, 4, 4]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 6, 4, 4], 0, 1, 3);
    expect(Array.from(m.predict(x).dataSync())).toEqual(Array.from(await runOrt(bytes, x)));
  });

  it('folds Range, Cast, Mul, Pow, Sqrt, Greater, Where, Expand, Tile, Slice (negative steps), ConstantOfShape, ReduceProd, Equal and Mod into a per-channel constant', async () => {
    const nodes = [
      node('Range', ['r0', 'r6', 'r1'], ['idx']),                 // 0..5 (int64)
      node('Cast', ['idx'], ['idxf'], [int('to', 1)]),
      node('Mul', ['idxf', 'half'], ['m']),
      node('Pow', ['m', 'twoF'], ['p']),
      node('Sqrt', ['p'], ['sq']),
      node('Greater', ['sq', 'one5'], ['gt']),
      node('Mod', ['idx', 'three'], ['mod']),
      node('Equal', ['mod', 'r0'], ['eq']),
      node('Cast', ['eq'], ['eqf'], [int('to', 1)]),
      node('Where', ['gt', 'sq', 'eqf'], ['w']),
      node('Slice', ['w', 'sStart', 'sEnd', 'sAx', 'sStep'], ['rev']),   // reversed
      node('ConstantOfShape', ['cShape'], ['ones'], [{ name: 'value', type: 4, t: f32('v', [0.25], [1]) }]),
      node('ReduceProd', ['cShape'], ['prod'], [int('keepdims', 0)]),
      node('Cast', ['prod'], ['prodf'], [int('to', 1)]),
      node('Mul', ['ones', 'prodf'], ['onesP']),                  // 0.25 * 6 = 1.5
      node('Add', ['rev', 'onesP'], ['bias']),
      node('Unsqueeze', ['bias', 'ax12'], ['b3']),                // [6, 1, 1]
      node('Expand', ['b3', 'eShape'], ['b4']),                   // [1, 6, 1, 1]
      node('Tile', ['b4', 'reps'], ['b5']),                       // [1, 6, 2, 2]
      node('Add', ['x', 'b5'], ['a']),
      node('Relu', ['a'], ['y']),
    ];
    const inits = [
      i64('r0', [0], []), i64('r6', [6], []), i64('r1', [1], []), f32('half', [0.5], []), f32('twoF', [2], []), f32('one5', [1.2], []),
      i64('three', [3], []), i64('sStart', [-1]), i64('sEnd', [-100]), i64('sAx', [0]), i64('sStep', [-1]), i64('cShape', [6]),
      i64('ax12', [1, 2]), i64('eShape', [1, 6, 1, 1]), i64('reps', [1, 1, 2, 2]),
    ];
    const bytes = model(nodes, inits, ['N', 6, 2, 2], ['N', 6, 2, 2]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([3, 6, 2, 2], 0, 1, 4);
    expect(maxRelDiff(m.predict(x).dataSync(), await runOrt(bytes, x))).toBeLessThan(1e-6);
    // everything before the last Add folded: one add (of a parameter) and the ReLU remain
    expect(m.summary({ print: false })).toMatch(/Parameters: 24\b/);
  });

  it('says which op is only supported on constants, and bad folds name the node', async () => {
    const nodes = [node('Range', ['r0', 'x', 'r1'], ['y'])];
    await expect(eg.loadModel(model(nodes, [f32('r0', [0], []), f32('r1', [1], [])], [1], [1]))).rejects.toThrow(/ONNX op 'Range' \(node 'Range_y', opset 17\): supported only on constants/);
    const bad = [node('Reshape', ['c', 'sh'], ['k']), node('Add', ['x', 'k'], ['y'])];
    await expect(eg.loadModel(model(bad, [f32('c', [1, 2, 3]), i64('sh', [2, 2])], ['N', 4], ['N', 4]))).rejects.toThrow(/node 'Reshape_k', opset 17\): constant folding: reshape of \[3\] to \[2,2\]/);
    const gather = [node('Gather', ['c', 'i'], ['k']), node('Add', ['x', 'k'], ['y'])];
    await expect(eg.loadModel(model(gather, [f32('c', [1, 2, 3]), i64('i', [3])], ['N', 1], ['N', 1]))).rejects.toThrow(/Gather.*index 3 is outside \[-3, 3\)/);
  });
});

describe('ONNX unary ops on computed values', () => {
  beforeAll(() => useBuild('simd'));

  const chain = () => [
    node('Conv', ['x', 'w'], ['c'], [ints('kernel_shape', [1, 1])]),
    node('Abs', ['c'], ['a']), node('Sqrt', ['a'], ['s']), node('Neg', ['s'], ['n']), node('Exp', ['n'], ['e']),
    node('Reciprocal', ['e'], ['r']), node('Log', ['r'], ['l']), node('Mul', ['l', 'e'], ['y']),
  ];
  const w = Array.from({ length: 3 * 2 }, (_, i) => Math.sin(2 * i + 1));

  it('Abs, Sqrt, Neg, Exp, Reciprocal, Log match ONNX Runtime and export back', async () => {
    const bytes = model(chain(), [f32('w', w, [3, 2, 1, 1])], ['N', 2, 3, 4], ['N', 3, 3, 4]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 2, 3, 4], 0, 1, 5);
    const theirs = await runOrt(bytes, x);
    expect(maxRelDiff(m.predict(x).dataSync(), theirs)).toBeLessThan(1e-5);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-5);
  });

  it('their gradients match finite differences', async () => {
    const base = await eg.loadModel(model(chain(), [f32('w', w, [3, 2, 1, 1])], ['N', 2, 3, 4], ['N', 3, 3, 4]));
    const net = eg.sequential([base, eg.layers.flatten()]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'mse' });
    const x = eg.randomNormal([3, 3, 4, 2], 0, 1, 6), y = eg.randomNormal([3, 36], 0, 0.2, 7);
    const [{ grad, fd }] = await stepVsDifferences(net, x, y, [0]);
    expect(maxRelDiff(grad, fd)).toBeLessThan(2e-2);
  });
});

describe('ONNX Reduce ops on computed values', () => {
  beforeAll(() => useBuild('simd'));

  const cases: Array<[string, string, number[], number, number[]]> = [
    // op, what, axes, keepdims, output dims (after the batch)
    ['ReduceMean', 'over H and W of a map (global average pooling, as PyTorch writes it)', [2, 3], 0, [5]],
    ['ReduceMean', 'over H and W, keepdims', [2, 3], 1, [5, 1, 1]],
    ['ReduceMax', 'over the channels, keepdims', [1], 1, [1, 3, 4]],
    ['ReduceSum', 'over W, no keepdims (a map leaves its layout)', [3], 0, [5, 3]],
    ['ReduceMin', 'over H, keepdims (a map stays a map)', [-2], 1, [5, 1, 4]],
    ['ReduceSum', 'over C, H and W', [1, 2, 3], 0, []],
  ];
  it.each(cases)('%s %s matches ONNX Runtime, and exports back', async (op, _what, axes, keep, dims) => {
    // opset 18 reads axes from an input for all four; 17 from an attribute except ReduceSum
    const axesIn = op === 'ReduceSum';
    const nodes = [
      node('Conv', ['x', 'w'], ['c'], [ints('kernel_shape', [1, 1])]),
      node(op, axesIn ? ['c', 'axes'] : ['c'], ['r'], [...(axesIn ? [] : [ints('axes', axes)]), int('keepdims', keep)]),
      node('Relu', ['r'], ['y']),
    ];
    const w = Array.from({ length: 5 * 2 }, (_, i) => Math.sin(i + 1));
    const bytes = model(nodes, [f32('w', w, [5, 2, 1, 1]), i64('axes', axes)], ['N', 2, 3, 4], ['N', ...dims]);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([2, 2, 3, 4], 0, 1, 9);
    const ours = m.predict(x), theirs = await runOrt(bytes, x);
    expect(ours.shape).toEqual([2, ...dims]);
    expect(maxRelDiff(ours.dataSync(), theirs)).toBeLessThan(1e-5);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-5);
  });

  it('trains through a reduction: a ReduceMax / ReduceMean head fine-tunes, gradients match finite differences', async () => {
    const nodes = [
      node('Conv', ['x', 'w'], ['c'], [ints('kernel_shape', [1, 1])]),
      node('ReduceMax', ['c'], ['r'], [ints('axes', [3]), int('keepdims', 0)]),
      node('ReduceMean', ['r'], ['y'], [ints('axes', [2]), int('keepdims', 0)]),
    ];
    const w = Array.from({ length: 3 * 2 }, (_, i) => Math.cos(i + 1));
    const base = await eg.loadModel(model(nodes, [f32('w', w, [3, 2, 1, 1])], ['N', 2, 3, 4], ['N', 3]));
    const x = eg.randomNormal([4, 3, 4, 2], 0, 1, 2); // NHWC inside a sequential model
    const y = eg.randomNormal([4, 3], 0, 1, 3);
    const net = eg.sequential([base]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'mse' });
    // the conv weight's gradient from one step of SGD at lr 1 against central differences of the loss
    const [{ grad, fd }] = await stepVsDifferences(net, x, y, [0]);
    expect(maxRelDiff(grad, fd)).toBeLessThan(2e-2);
  });
});

describe('ONNX MatMul beyond dense layers, LayerNormalization, Pow', () => {
  beforeAll(() => useBuild('simd'));

  // tokens [N, 4, 6] -> LayerNorm -> x W (constant) -> (x W)(x W)ᵀ (two computed operands) -> Pow 2 -> mean
  const block = (opset: number) => {
    const nodes = [
      node('LayerNormalization', ['x', 'g', 'b'], ['ln'], [int('axis', -1)]),
      node('MatMul', ['ln', 'w'], ['h']),
      node('Transpose', ['h'], ['ht'], [ints('perm', [0, 2, 1])]),
      node('MatMul', ['h', 'ht'], ['s']),
      node('Pow', ['s', 'two'], ['p']),
      node('ReduceMean', ['p'], ['y'], [ints('axes', [2]), int('keepdims', 0)]),
    ];
    const w = Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i + 0.5) / 2);
    return model(nodes, [f32('g', [1, 0.5, 2, 1.5, 1, 0.8]), f32('b', [0, 0.1, -0.2, 0.3, 0, 0.05]), f32('w', w, [6, 5]), f32('two', [2], [])], ['N', 4, 6], ['N', 4], opset);
  };

  it('match ONNX Runtime and export back', async () => {
    const bytes = block(17);
    const m = await eg.loadModel(bytes);
    const x = eg.randomNormal([3, 4, 6], 0, 1, 8);
    const theirs = await runOrt(bytes, x);
    expect(maxRelDiff(m.predict(x).dataSync(), theirs)).toBeLessThan(1e-5);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-5);
  });

  it('train: the gradients of the LayerNorm scale and of the MatMul weight match finite differences', async () => {
    const base = await eg.loadModel(block(17));
    const net = eg.sequential([base]);
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'mse' });
    const x = eg.randomNormal([3, 4, 6], 0, 1, 9), y = eg.randomNormal([3, 4], 0, 1, 10);
    const ws = net.getWeights();
    // the trainable ones: the LayerNorm scale and bias and the MatMul weight (the epsilon is a constant)
    const trained = ws.map((t, k) => k).filter((k) => ws[k].size > 1);
    expect(trained.map((k) => ws[k].shape)).toEqual([[6], [6], [6, 5]]);
    const got = await stepVsDifferences(net, x, y, trained);
    got.forEach(({ grad, fd }, j) => expect(maxRelDiff(grad, fd), `weight ${trained[j]} ${ws[trained[j]].shape} ${grad.slice(0, 4)} vs ${fd.slice(0, 4)}`).toBeLessThan(3e-2));
  });

  it('Pow by any other exponent (a scalar, a tensor per feature) is the pow op: matches ONNX Runtime, exports back, and trains the base by b·a^(b-1)', async () => {
    for (const [e, dims] of [[[2.5], []], [[1.5, -0.5, 4], [3]]] as Array<[number[], number[]]>) {
      const bytes = model([node('Gemm', ['x', 'w'], ['h']), node('Abs', ['h'], ['a']), node('Pow', ['a', 'e'], ['y'])], [f32('w', [0.5, -1, 0.3, 0.8, 0.2, -0.6, 1.1, 0.4, -0.9], [3, 3]), f32('e', e, dims)], ['N', 3], ['N', 3]);
      const m = await eg.loadModel(bytes);
      const x = eg.randomNormal([5, 3], 0, 1, 4);
      const theirs = await runOrt(bytes, x);
      expect(maxRelDiff((m.predict(x) as eg.Tensor).dataSync(), theirs)).toBeLessThan(1e-5);
      expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-5);
      const net = eg.sequential([m]);
      net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1 }), loss: 'mse' });
      const [{ grad, fd }] = await stepVsDifferences(net, x, eg.randomNormal([5, 3], 0, 1, 5), [0]);
      expect(maxRelDiff(grad, fd)).toBeLessThan(2e-2);
    }
  });
});

describe('ONNX exact GELU (Erf inside x * 0.5 * (1 + erf(x / sqrt 2)))', () => {
  beforeAll(() => useBuild('simd'));

  it.each([['Div by sqrt 2', false], ['Mul by 1 / sqrt 2, operands swapped', true]] as const)('is one gelu activation (%s), matches ONNX Runtime and exports back; a bare Erf is the erf op', async (_what, alt) => {
    const nodes = [
      alt ? node('Mul', ['k', 'x'], ['s']) : node('Div', ['x', 'k'], ['s']),
      node('Erf', ['s'], ['e']),
      alt ? node('Add', ['one', 'e'], ['e1']) : node('Add', ['e', 'one'], ['e1']),
      alt ? node('Mul', ['e1', 'x'], ['t']) : node('Mul', ['x', 'e1'], ['t']),
      alt ? node('Mul', ['half', 't'], ['y']) : node('Mul', ['t', 'half'], ['y']),
    ];
    const bytes = model(nodes, [f32('k', [alt ? Math.SQRT1_2 : Math.SQRT2], []), f32('one', [1], []), f32('half', [0.5], [])], ['N', 5], ['N', 5]);
    const m = await eg.loadModel(bytes);
    expect(m.summary({ print: false })).toMatch(/1 nodes after inference passes \(1 imported\): activation/);
    const x = eg.randomNormal([4, 5], 0, 2, 11);
    const theirs = await runOrt(bytes, x);
    expect(maxRelDiff(m.predict(x).dataSync(), theirs)).toBeLessThan(1e-6);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(m), x), theirs)).toBeLessThan(1e-6);
    // a bare Erf, and a GELU step read by another op, are the erf op (test/onnx-semantics.test.ts checks its precision)
    const bare = model([node('Erf', ['x'], ['y'])], [], ['N', 5], ['N', 5]);
    expect(maxRelDiff((await eg.loadModel(bare)).predict(x).dataSync(), await runOrt(bare, x))).toBeLessThan(1e-5);
    const leaked = model([...nodes.slice(0, 2), node('Relu', ['e'], ['y'])], [f32('k', [alt ? Math.SQRT1_2 : Math.SQRT2], [])], ['N', 5], ['N', 5]);
    const lm = await eg.loadModel(leaked);
    expect(lm.summary({ print: false })).toMatch(/activation/);
    expect(maxRelDiff(lm.predict(x).dataSync(), await runOrt(leaked, x))).toBeLessThan(1e-5);
  });
});

describe('ONNX integer inputs: an embedding', () => {
  beforeAll(() => useBuild('simd'));

  it('int64 token ids gather rows of a constant table, as ONNX Runtime does; the export keeps the int64 input', async () => {
    const table = Array.from({ length: 10 * 3 }, (_, i) => Math.cos(i));
    const ids64 = (name: string) => ({ name, type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4 }] } } } });
    const out = { name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } } };
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'emb', node: [node('Gather', ['table', 'ids'], ['rows']), node('ReduceMean', ['rows'], ['y'], [ints('axes', [1]), int('keepdims', 0)])], initializer: [f32('table', table, [10, 3])], input: [ids64('ids')], output: [out] },
    })).finish();
    const m = await eg.loadModel(bytes);
    expect(m.summary({ print: false })).toMatch(/Inputs: ids int32 \[batch, 4\]/);
    const ids = Int32Array.of(0, 3, 9, -1, 2, 2, 7, 5);
    const ort = await import('onnxruntime-web');
    const want = async (b: Uint8Array) => {
      const s = await ort.InferenceSession.create(b);
      return (await s.run({ [s.inputNames[0]]: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [2, 4]) }))[s.outputNames[0]].data as Float32Array;
    };
    const theirs = await want(bytes);
    expect(maxRelDiff(m.predict(eg.tensor(ids, [2, 4], 'int32')).dataSync(), theirs)).toBeLessThan(1e-6);
    expect(maxRelDiff(await want(await eg.toOnnx(m)), theirs)).toBeLessThan(1e-6);
    expect(() => m.predict(eg.tensor(Int32Array.of(0, 1, 2, 10), [1, 4], 'int32'))).toThrow("node 'Gather_rows': index 10 (position 3) is outside [-10, 10)");
    expect(() => m.predict(eg.zeros([1, 4]))).toThrow("x must be int32 (indices: eg.tensor(Int32Array.from(ids), shape, 'int32')), got float32");
    // an integer input read anywhere but as a Gather's indices is held exactly in float32 (onnx-integers.test.ts)
    const relu = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'relu', node: [node('Relu', ['ids'], ['y'])], input: [ids64('ids')], output: [out] },
    })).finish();
    const r = (await eg.loadModel(relu)).predict(eg.tensor(Int32Array.of(-3, 0, 5, -1), [1, 4], 'int32')) as eg.Tensor;
    expect(Array.from(r.dataSync())).toEqual([0, 0, 5, 0]);
  });
});
