// The ONNX op semantics past the common forms: ArgMax / ArgMin with select_last_index, a standalone Erf,
// Gather by computed indices along any axis, MatMul of rank 4 and more with broadcast batch axes, Slice with
// negative steps, LSTM with per-sequence lengths, and Dropout's mask output (and training_mode with ratio 0).
// Each model is built with onnx-proto on inputs other than the node tests' (a free batch > 1, ties, other
// shapes) and checked against ONNX Runtime; the new differentiable ops against finite differences.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { backendBuilds, createBackend, getBackend, setBackend } from '../src/backend/index.js';
import { buildBackward } from '../src/autodiff.js';
import { Plan } from '../src/graph/executor.js';
import { Graph } from '../src/graph/ir.js';
import { runEager } from '../src/graph/eager.js';
import { erf } from '../src/ops/elementwise.js';
import { refErf } from '../src/ops/activation.js';
import { dot, expectGradClose, maxRelDiff, numericGrad, rng, useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: `${opType}_${output.find(Boolean)}`, input, output, attribute });
const int = (name: string, v: number) => ({ name, type: 2, i: v });
const str = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });
const i64 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
const f32 = (name: string, vals: ArrayLike<number>, dims = [vals.length]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });
const bool = (name: string, v: boolean) => ({ name, dims: [], dataType: 9, rawData: Uint8Array.of(+v) });
type Io = { name: string; dims: Array<number | string>; elem?: number };

function model(nodes: unknown[], inits: unknown[], inputs: Io[], outputs: Io[], opset = 17): Uint8Array {
  const vi = ({ name, dims, elem = 1 }: Io) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'semantics', node: nodes, initializer: inits, input: inputs.map(vi), output: outputs.map(vi) },
  })).finish();
}

/** A feed: float32 data, or integers (int64 indices, int32 lengths). */
type Feed = { data: Float32Array; dims: number[] } | { int64: number[]; dims: number[]; int32?: boolean };

/** ONNX Runtime's outputs in order, as plain numbers. */
async function ortRun(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<number[][]> {
  const rt = await import('onnxruntime-web');
  rt.env.wasm.numThreads = 1;
  const s = await rt.InferenceSession.create(bytes);
  const f: Record<string, InstanceType<typeof rt.Tensor>> = {};
  for (const [k, v] of Object.entries(feeds)) {
    f[k] = 'data' in v ? new rt.Tensor('float32', v.data, v.dims) : v.int32 ? new rt.Tensor('int32', Int32Array.from(v.int64), v.dims) : new rt.Tensor('int64', BigInt64Array.from(v.int64.map(BigInt)), v.dims);
  }
  const r = await s.run(f);
  return s.outputNames.map((o) => Array.from(r[o].data as ArrayLike<number | bigint>, Number));
}

/** edgegrad's outputs in order (the model loaded from bytes), with their shapes. */
async function egRun(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<{ data: number[][]; shapes: number[][] }> {
  const m = await eg.loadModel(bytes);
  const xs: Record<string, eg.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) xs[k] = 'data' in v ? eg.tensor(v.data, v.dims) : eg.tensor(Int32Array.from(v.int64), v.dims, 'int32');
  const y = m.predict(m.inputNames.length === 1 && m.outputNames.length === 1 ? xs[m.inputNames[0]] : m.inputNames.map((nm) => xs[nm]));
  const outs = y instanceof eg.Tensor ? [y] : Array.isArray(y) ? y : Object.values(y);
  return { data: outs.map((t) => Array.from(t.dataSync())), shapes: outs.map((t) => t.shape.slice()) };
}

/** Both runtimes on the same feeds: same shapes (when given) and numbers within tol of the outputs' scale. */
async function expectLikeOrt(bytes: Uint8Array, feeds: Record<string, Feed>, shapes?: number[][], tol = 1e-5): Promise<number[][]> {
  const theirs = await ortRun(bytes, feeds), ours = await egRun(bytes, feeds);
  if (shapes) expect(ours.shapes).toEqual(shapes);
  expect(ours.data.length).toBe(theirs.length);
  ours.data.forEach((o, k) => {
    expect(o.length, `output ${k}`).toBe(theirs[k].length);
    expect(maxRelDiff(o, theirs[k]), `output ${k}`).toBeLessThanOrEqual(tol);
  });
  return ours.data;
}

const randData = (n: number, seed: number, lo = -1, hi = 1) => { const r = rng(seed); return Float32Array.from({ length: n }, () => lo + (hi - lo) * r()); };
const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * d/dx sum(g * op(x)) by the graph's gradient rule against central differences: x a trainable value of
 * `shape`, build(graph, x) the op's nodes, g fixed random weights.
 */
function checkGradient(shape: number[], build: (g: Graph, x: number) => number, seed: number, x0?: Float32Array): void {
  const g = new Graph();
  const xs = x0 ?? randData(size(shape), seed);
  const x = g.param('x', eg.tensor(xs, shape), true);
  const y = build(g, x);
  const ys = g.values[y].shape, weights = randData(size(ys), seed + 1);
  const dy = g.param('dy', eg.tensor(weights, ys), false);
  const grads = buildBackward(g, new Map([[y, dy]]), [x]);
  const plan = new Plan(g, { batch: 1, training: true, keep: [y, grads.get(x)!] });
  const at = (v: ArrayLike<number>) => { g.values[x].tensor!.view().set(v); plan.run(); return plan.view(y).slice(); };
  at(xs);
  const analytic = plan.view(grads.get(x)!).slice();
  const numeric = numericGrad((v) => dot(weights, at(v)), xs, 1e-2);
  expectGradClose(analytic, numeric, g.values[y].name);
  plan.dispose();
}

describe('ONNX op semantics against ONNX Runtime', () => {
  beforeAll(() => useBuild('simd'));

  it('ArgMax / ArgMin with select_last_index take the last of equal extremes, on any axis, with and without keepdims', async () => {
    // small integers: many ties along every axis
    const r = rng(3), dims = [3, 4, 5], x = Float32Array.from({ length: size(dims) }, () => Math.floor(r() * 3));
    for (const op of ['ArgMax', 'ArgMin']) for (const [axis, keep] of [[1, 1], [2, 0], [-1, 1], [-2, 0]]) {
      const outDims = keep ? dims.map((d, i) => (i === (axis + 3) % 3 ? 1 : d)) : dims.filter((_, i) => i !== (axis + 3) % 3);
      const bytes = model([node(op, ['x'], ['y'], [int('axis', axis), int('keepdims', keep), int('select_last_index', 1)])], [],
        [{ name: 'x', dims: ['N', 4, 5] }], [{ name: 'y', dims: ['N', ...outDims.slice(1)], elem: 7 }], 13);
      const [ours] = await expectLikeOrt(bytes, { x: { data: x, dims } }, [outDims], 0);
      // and it is not the first of the ties: the first-index form differs somewhere on these data
      const first = model([node(op, ['x'], ['y'], [int('axis', axis), int('keepdims', keep)])], [], [{ name: 'x', dims: ['N', 4, 5] }], [{ name: 'y', dims: ['N', ...outDims.slice(1)], elem: 7 }], 13);
      expect((await egRun(first, { x: { data: x, dims } })).data[0]).not.toEqual(ours);
    }
  });

  it('a standalone Erf (and a GELU chain whose steps are read elsewhere) matches ONNX Runtime, and exports back', async () => {
    const dims = [3, 2, 7], x = randData(size(dims), 11, -4, 4);
    const alone = model([node('Erf', ['x'], ['e']), node('Mul', ['e', 'x'], ['y'])], [], [{ name: 'x', dims: ['N', 2, 7] }], [{ name: 'y', dims: ['N', 2, 7] }], 13);
    await expectLikeOrt(alone, { x: { data: x, dims } }, [dims]);
    const m = await eg.loadModel(alone);
    const back = await ortRun(await eg.toOnnx(m), { x: { data: x, dims } });
    expect(maxRelDiff(Array.from(m.predict(eg.tensor(x, dims)).dataSync()), back[0])).toBeLessThan(1e-5);
    // x / sqrt 2 -> Erf -> + 1, that sum read by the GELU's Mul and by a second output
    const gelu = model([
      node('Div', ['x', 'sqrt2'], ['s']), node('Erf', ['s'], ['e']), node('Add', ['e', 'one'], ['e1']),
      node('Mul', ['x', 'e1'], ['t']), node('Mul', ['t', 'half'], ['y']), node('Neg', ['e1'], ['z']),
    ], [f32('sqrt2', [Math.SQRT2], []), f32('one', [1], []), f32('half', [0.5], [])], [{ name: 'x', dims: ['N', 2, 7] }],
    [{ name: 'y', dims: ['N', 2, 7] }, { name: 'z', dims: ['N', 2, 7] }], 13);
    await expectLikeOrt(gelu, { x: { data: x, dims } }, [dims, dims]);
  });

  it('Gather by computed indices along any axis (negative indices, repeats) matches ONNX Runtime', async () => {
    const dims = [2, 5, 4], x = randData(size(dims), 21);
    for (const [axis, ids, idDims] of [[1, [4, -1, 0, 2, 2, -5], [2, 3]], [2, [3, -4, 1], [3]], [-1, [0], [1, 1]]] as Array<[number, number[], number[]]>) {
      const a = (axis + 3) % 3, outDims = [...dims.slice(0, a), ...idDims, ...dims.slice(a + 1)];
      const bytes = model([node('Gather', ['x', 'i'], ['y'], [int('axis', axis)])], [],
        [{ name: 'x', dims: [2, 5, 4] }, { name: 'i', dims: idDims, elem: 7 }], [{ name: 'y', dims: outDims }], 13);
      await expectLikeOrt(bytes, { x: { data: x, dims }, i: { int64: ids, dims: idDims } }, [outDims], 0);
    }
    // an index out of range is an error that says which
    const bad = model([node('Gather', ['x', 'i'], ['y'], [int('axis', 1)])], [], [{ name: 'x', dims: [2, 5, 4] }, { name: 'i', dims: [2], elem: 7 }], [{ name: 'y', dims: [2, 2, 4] }], 13);
    const m = await eg.loadModel(bad);
    expect(() => m.predict([eg.tensor(x, dims), eg.tensor(Int32Array.of(1, 5), [2], 'int32')])).toThrow(/index 5 \(position 1\) is outside \[-5, 5\)/);
  });

  it('MatMul of rank 4 and 5, batch axes broadcast (a batch of 3), matches ONNX Runtime and exports back', async () => {
    const aDims = [3, 2, 3, 4], bDims = [3, 2, 4, 5], a = randData(size(aDims), 31), b = randData(size(bDims), 32);
    const both = model([node('MatMul', ['a', 'b'], ['y'])], [], [{ name: 'a', dims: ['N', 2, 3, 4] }, { name: 'b', dims: ['N', 2, 4, 5] }], [{ name: 'y', dims: ['N', 2, 3, 5] }], 13);
    await expectLikeOrt(both, { a: { data: a, dims: aDims }, b: { data: b, dims: bDims } }, [[3, 2, 3, 5]]);
    // [N, 2, 1, 3, 4] x a constant [3, 4, 5]: broadcast to [N, 2, 3, 3, 5]
    const xDims = [3, 2, 1, 3, 4], x = randData(size(xDims), 33);
    const konst = model([node('MatMul', ['x', 'w'], ['y'])], [f32('w', randData(60, 34), [3, 4, 5])], [{ name: 'x', dims: ['N', 2, 1, 3, 4] }], [{ name: 'y', dims: ['N', 2, 3, 3, 5] }], 13);
    await expectLikeOrt(konst, { x: { data: x, dims: xDims } }, [[3, 2, 3, 3, 5]]);
    const m = await eg.loadModel(konst);
    const back = await ortRun(await eg.toOnnx(m), { x: { data: x, dims: xDims } });
    expect(maxRelDiff(Array.from(m.predict(eg.tensor(x, xDims)).dataSync()), back[0])).toBeLessThan(1e-5);
  });

  it('Slice with negative (and other) steps, clamped starts and ends, matches ONNX Runtime and exports back', async () => {
    const dims = [2, 9, 7], x = randData(size(dims), 41);
    const cases: Array<[number[], number[], number[], number[]]> = [
      [[-1, 5], [-100, 0], [1, 2], [-2, -3]], // to the start of the axis
      [[100, 2], [1, 100], [1, 2], [-3, 2]], // a start past the end clamps to the last
      [[7, 3], [2, 3], [-1, 1], [-1, -1]], // empty along axis 1
    ];
    for (const [starts, ends, axes, steps] of cases) {
      const bytes = model([node('Slice', ['x', 'st', 'en', 'ax', 'sp'], ['y'])], [i64('st', starts), i64('en', ends), i64('ax', axes), i64('sp', steps)],
        [{ name: 'x', dims: ['N', 9, 7] }], [{ name: 'y', dims: ['N', 'A', 'B'] }], 13);
      const theirs = await ortRun(bytes, { x: { data: x, dims } });
      const m = await eg.loadModel(bytes);
      const ours = m.predict(eg.tensor(x, dims));
      expect(Array.from(ours.dataSync())).toEqual(theirs[0]);
      if (ours.size === 0) continue;
      expect((await ortRun(await eg.toOnnx(m), { x: { data: x, dims } }))[0]).toEqual(theirs[0]);
    }
  });

  it('LSTM, GRU and RNN with sequence_lens read at run time (forward and bidirectional, a batch of 3) match ONNX Runtime', async () => {
    const T = 4, B = 3, F = 3, H = 2;
    for (const [op, G] of [['LSTM', 4], ['GRU', 3], ['RNN', 1]] as const) for (const dir of ['forward', 'bidirectional']) {
      const D = dir === 'bidirectional' ? 2 : 1, states = op === 'LSTM' ? ['yh', 'yc'] : ['yh'];
      const bytes = model([node(op, ['x', 'W', 'R', 'B', 'len'], ['y', ...states], [int('hidden_size', H), str('direction', dir)])],
        [f32('W', randData(D * G * H * F, 51), [D, G * H, F]), f32('R', randData(D * G * H * H, 52), [D, G * H, H]), f32('B', randData(D * 2 * G * H, 53), [D, 2 * G * H])],
        [{ name: 'x', dims: [T, 'N', F] }, { name: 'len', dims: ['N'], elem: 6 }],
        [{ name: 'y', dims: [T, D, 'N', H] }, ...states.map((nm) => ({ name: nm, dims: [D, 'N', H] }))], 14);
      const ours = await expectLikeOrt(bytes, { x: { data: randData(T * B * F, 54), dims: [T, B, F] }, len: { int64: [4, 1, 2], dims: [B], int32: true } },
        [[T, D, B, H], ...states.map(() => [D, B, H])]);
      // past its length a sequence's outputs are 0 (sequence 1 has one step: steps 1..3 are 0)
      for (let t = 1; t < T; t++) for (let d = 0; d < D; d++) for (let j = 0; j < H; j++) expect(ours[0][((t * D + d) * B + 1) * H + j] === 0, `${op} ${dir}`).toBe(true);
    }
  });

  it('Split with a zero-size part, and zero-size inputs declared so (Split, Reshape with allowzero), match ONNX Runtime', async () => {
    const dims = [3, 5], x = randData(15, 81);
    const bytes = model([node('Split', ['x', 'sp'], ['a', 'b', 'c'], [int('axis', 1)]), node('Relu', ['c'], ['r'])], [i64('sp', [2, 0, 3])],
      [{ name: 'x', dims: ['N', 5] }], [{ name: 'a', dims: ['N', 2] }, { name: 'b', dims: ['N', 0] }, { name: 'r', dims: ['N', 3] }], 13);
    await expectLikeOrt(bytes, { x: { data: x, dims } }, [[3, 2], [3, 0], [3, 3]], 0);
    const empty = model([node('Reshape', ['x', 'shape'], ['y'], [int('allowzero', 1)]), node('Split', ['y', 'sp'], ['p', 'q'], [int('axis', 1)])],
      [i64('shape', [3, 4, 0]), i64('sp', [0, 4])], [{ name: 'x', dims: [0, 3, 4] }], [{ name: 'p', dims: [3, 0, 0] }, { name: 'q', dims: [3, 4, 0] }], 14);
    await expectLikeOrt(empty, { x: { data: new Float32Array(0), dims: [0, 3, 4] } }, [[3, 0, 0], [3, 4, 0]], 0);
  });

  it("Dropout's mask is all true at inference and with training_mode at ratio 0; a ratio above 0 in training is refused, saying how to train with dropout", async () => {
    const dims = [2, 3, 4], x = randData(size(dims), 61);
    const io = { inputs: [{ name: 'x', dims: ['N', 3, 4] }], outputs: [{ name: 'y', dims: ['N', 3, 4] }, { name: 'z', dims: ['N', 3, 4], elem: 9 }] };
    const inference = model([node('Dropout', ['x', 'r'], ['y', 'z'])], [f32('r', [0.3], [])], io.inputs, io.outputs, 13);
    const zeroRatio = model([node('Dropout', ['x', 'r', 't'], ['y', 'z'])], [f32('r', [0], []), bool('t', true)], io.inputs, io.outputs, 13);
    for (const bytes of [inference, zeroRatio]) {
      const ours = await egRun(bytes, { x: { data: x, dims } }), theirs = await ortRun(bytes, { x: { data: x, dims } });
      expect(ours.data[0]).toEqual(Array.from(x));
      expect(ours.data[1]).toEqual(theirs[1]);
      expect(ours.data[1].every((v) => v === 1)).toBe(true);
    }
    const random = model([node('Dropout', ['x', 'r', 't'], ['y'])], [f32('r', [0.5], []), bool('t', true)], io.inputs, io.outputs.slice(0, 1), 13);
    await expect(eg.loadModel(random)).rejects.toThrow(/training_mode true with ratio 0\.5: a random mask .*eg\.layers\.dropout\(\{ rate: 0\.5 \}\)/);
  });
});

describe('the new ops: erf precision on every backend, and gradients against finite differences', () => {
  beforeAll(() => useBuild('simd'));

  it('erf is within 1e-6 of the float64 erf on every backend build, infinities and NaN included', () => {
    const was = getBackend();
    const xs = Float32Array.from({ length: 14001 }, (_, i) => -7 + i * 0.001);
    const special = Float32Array.of(0, -0, 1e-30, -1e-8, Infinity, -Infinity, NaN, 3.4e38);
    try {
      for (const { backend, build } of backendBuilds()) {
        if (backend === 'webgpu') continue;
        setBackend(createBackend(backend, build));
        const got = erf(eg.tensor(xs)).dataSync();
        let worst = 0;
        for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(got[i] - refErf(xs[i])));
        expect(worst, `${backend} ${build}`).toBeLessThan(1e-6);
        expect(Array.from(erf(eg.tensor(special)).dataSync()).map((v, i) => (i < 4 ? Math.abs(v - refErf(special[i])) < 1e-7 : v)), `${backend} ${build}`)
          .toEqual([true, true, true, true, 1, -1, NaN, 1]);
      }
    } finally {
      setBackend(was);
    }
  });

  it('lengthMask (int32 sequence_lens) marks the steps t < length of each sequence', () => {
    const g = new Graph();
    const lens = g.param('lens', eg.tensor(Int32Array.of(3, 0, 1), [3], 'int32'), false);
    const [m] = g.node('lengthMask', [lens], { steps: 3 }, 'mask');
    const plan = new Plan(g, { batch: 1, training: false, keep: [m] });
    plan.run();
    expect(Array.from(plan.view(m))).toEqual([1, 1, 1, 0, 0, 0, 1, 0, 0]);
    plan.dispose();
  });

  it('erf: (2 / sqrt pi) exp(-x^2)', () => {
    checkGradient([3, 5], (g, x) => g.node('erf', [x], {}, 'erf')[0], 71, randData(15, 71, -2, 2));
  });

  it('gather along a middle axis, an index taken twice getting both gradients', () => {
    checkGradient([2, 5, 3], (g, x) => {
      const ids = g.param('ids', eg.tensor(Int32Array.of(4, -1, 0, 2, 2), [5], 'int32'), false);
      return g.node('gather', [x, ids], { axis: 1 }, 'gather')[0];
    }, 72);
  });

  it('slice with a negative step', () => {
    checkGradient([2, 7, 3], (g, x) => g.node('slice', [x], { axis: 1, start: 6, end: -1, step: -2 }, 'slice')[0], 73);
  });

  it('matMul of rank 4 whose batch axes broadcast ([3, 2, 3, 4] x [1, 2, 4, 3])', () => {
    checkGradient([3, 2, 3, 4], (g, x) => {
      const w = g.param('w', eg.tensor(randData(24, 74), [1, 2, 4, 3]), true);
      return g.node('matMul', [x, w], {}, 'mm')[0];
    }, 75);
    checkGradient([1, 2, 4, 3], (g, w) => {
      const x = g.param('a', eg.tensor(randData(72, 76), [3, 2, 3, 4]), false);
      return g.node('matMul', [x, w], {}, 'mm')[0];
    }, 77);
  });
});

// the new ops on WebGPU (Dawn on SwiftShader, as test/webgpu.test.ts): erf, a negative-step slice (negative
// strides in the WGSL strided copy), a rank-4 matMul and gather (its own kernel: src/backend/webgpu/indexing.ts)
// as on wasm
describe.skipIf(!existsSync('/usr/lib/chromium/vk_swiftshader_icd.json'))('the new ops on webgpu', () => {
  afterAll(() => useBuild('simd'));

  it('erf, slice with a negative step, a rank-4 matMul and gather give wasm\'s numbers', async () => {
    const wasm = useBuild('simd');
    const gpu = await eg.ready({ backend: 'webgpu' });
    const xs = Float32Array.from({ length: 301 }, (_, i) => -6 + i * 0.04), a = randData(72, 91), b = randData(72, 92);
    const run = () => [
      erf(eg.tensor(xs)),
      runEager('slice', [eg.tensor(a, [3, 6, 4])], { axis: 1, start: 5, end: -1, step: -2 })[0],
      eg.matMul(eg.tensor(a, [3, 2, 3, 4]), eg.tensor(b.subarray(0, 24), [1, 2, 4, 3])),
      runEager('gather', [eg.tensor(a, [3, 6, 4]), eg.tensor(Int32Array.of(1, -1, 1), [3], 'int32')], { axis: 1 })[0],
    ];
    setBackend(wasm);
    const want = run().map((t) => Array.from(t.dataSync()));
    setBackend(gpu);
    const got = await Promise.all(run().map(async (t) => Array.from(await t.data())));
    got.forEach((g, k) => expect(maxRelDiff(g, want[k]), `output ${k}`).toBeLessThan(1e-6));
    setBackend(wasm);
  });
});
