// The spatial ONNX ops in full: Pad with a value, edge and reflect (any axes but the batch's), AveragePool
// in ceil mode, 3-D MaxPool / AveragePool, dilated MaxPool, MaxPool's Indices (storage_order 0 and 1),
// PRelu with a slope of any broadcastable shape, Resize's tf_crop_and_resize, BatchNormalization's
// training_mode. Each against ONNX Runtime (or, where ONNX Runtime's build has no training mode, a plain
// reference written here) on shapes and batches the node tests do not use; the new graph ops' gradients
// against central finite differences; and what the exporter writes (or refuses) for them.
import { beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { dot, maxRelDiff, rng, useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { buildBackward } from '../src/autodiff.js';
import { Plan } from '../src/graph/executor.js';
import { Graph } from '../src/graph/ir.js';
import '../src/ops/index.js';

const { onnx } = onnxProto as unknown as { onnx: any };

type Attr = { name: string; type: number; ints?: number[]; i?: number; f?: number; s?: Uint8Array };
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
const flt = (name: string, v: number): Attr => ({ name, type: 1, f: v });
const str = (name: string, v: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(v) });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
const f32 = (name: string, vals: number[], dims = [vals.length]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(vals).buffer) });
const i64 = (name: string, vals: number[]) => ({ name, dims: [vals.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer) });
type Io = { name: string; dims: Array<number | string>; elem?: number };

function model(nodes: unknown[], inits: unknown[], inputs: Io[], outputs: Io[], opset = 17): Uint8Array {
  // dims [] for an output: its shape left to inference
  const vi = ({ name, dims, elem = 1 }: Io) => ({ name, type: { tensorType: { elemType: elem, ...(dims.length ? { shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } : {}) } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'spatial', node: nodes, initializer: inits, input: inputs.map(vi), output: outputs.map(vi) },
  })).finish();
}

/** ONNX Runtime's outputs, in order, as numbers (int64 outputs converted). */
async function ort(bytes: Uint8Array, x: eg.Tensor): Promise<number[][]> {
  const rt = await import('onnxruntime-web');
  rt.env.wasm.numThreads = 1;
  const s = await rt.InferenceSession.create(bytes);
  const r = await s.run({ [s.inputNames[0]]: new rt.Tensor('float32', x.dataSync() as Float32Array, x.shape as number[]) });
  return s.outputNames.map((o) => Array.from(r[o].data as ArrayLike<number | bigint>, Number));
}

const outputsOf = (y: eg.Tensor | eg.Tensor[] | Record<string, eg.Tensor>): eg.Tensor[] => (y instanceof eg.Tensor ? [y] : Array.isArray(y) ? y : Object.values(y));

/** Load the one-node model, run it on x here and in ONNX Runtime; every output within 1e-5 of the largest. */
async function agrees(bytes: Uint8Array, x: eg.Tensor, shapes: number[][]): Promise<eg.Tensor[]> {
  const m = await eg.loadModel(bytes);
  const ys = outputsOf(m.predict(m.outputNames.length > 1 ? [x] : x));
  const theirs = await ort(bytes, x);
  expect(ys.map((y) => y.shape)).toEqual(shapes);
  ys.forEach((y, k) => expect(maxRelDiff(y.dataSync(), theirs[k]), `output ${k}`).toBeLessThan(1e-5));
  return ys;
}

const randn = (shape: number[], seed: number) => eg.randomNormal(shape, 0, 1, seed);

/**
 * The gradients of a graph's first output w.r.t. its first input (and its trainable parameters) against
 * central finite differences of sum(seed * y), at batch B.
 */
function checkGradients(g: Graph, B: number, seed = 3): void {
  const x = g.values.find((v) => v.kind === 'input')!.id, o = g.outputs[0];
  const params = g.values.filter((v) => v.kind === 'param' && v.trainable).map((v) => v.id);
  const dy = g.input('dy', g.values[o].shape.slice());
  const grads = buildBackward(g, new Map([[o, dy]]), [x, ...params]);
  const plan = new Plan(g, { batch: B, training: false, keep: [o, ...grads.values()] });
  const r = rng(seed);
  // distinct inputs 0.05 apart (a permutation), none within 0.025 of 0: a step of h = 0.01 never changes
  // which one a max picks, nor crosses a PRelu's kink
  const xs = Float32Array.from(plan.view(x), (_, i) => (i * 0.05) - 1.975);
  for (let i = xs.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [xs[i], xs[j]] = [xs[j], xs[i]]; }
  const seedY = Float32Array.from(plan.view(o), () => r() * 2 - 1);
  const f = () => { plan.view(x).set(xs); plan.view(dy).set(seedY); plan.run(); return dot(seedY, plan.view(o)); };
  const check = (id: number, v: Float32Array) => {
    f();
    const analytic = plan.view(grads.get(id)!).slice();
    for (let i = 0; i < v.length; i += Math.max(1, Math.floor(v.length / 48))) {
      const h = 1e-2, v0 = v[i];
      v[i] = v0 + h; const fp = f();
      v[i] = v0 - h; const fm = f();
      v[i] = v0;
      const num = (fp - fm) / (2 * h);
      expect(Math.abs(num - analytic[i]), `${g.values[id].name}[${i}]: analytic ${analytic[i]}, numeric ${num}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(num)));
    }
  };
  check(x, xs);
  for (const p of params) { const t = g.values[p].tensor!.view() as Float32Array; check(p, t); }
  plan.dispose();
}

describe('spatial ONNX ops in full, against ONNX Runtime', () => {
  beforeAll(() => useBuild('simd'));

  it('Pad: a constant value, edge and reflect, on the channels too, for maps and plain values', async () => {
    const x = randn([2, 3, 5, 6], 1);
    for (const mode of ['constant', 'edge', 'reflect']) {
      const pads = [0, 1, 2, 1, 0, 2, 1, 3];
      const bytes = model([node('Pad', mode === 'constant' ? ['x', 'pads', 'value'] : ['x', 'pads'], ['y'], [str('mode', mode)])],
        [i64('pads', pads), f32('value', [0.75], [])], [{ name: 'x', dims: ['N', 3, 5, 6] }], [{ name: 'y', dims: ['N', 6, 8, 10] }], 13);
      await agrees(bytes, x, [[2, 6, 8, 10]]);
    }
    // a plain rank-3 value, opset 18's axes: reflect on the last axis only
    const bytes = model([node('Pad', ['x', 'pads', '', 'axes'], ['y'], [str('mode', 'reflect')])],
      [i64('pads', [3, 2]), i64('axes', [-1])], [{ name: 'x', dims: ['N', 4, 7] }], [{ name: 'y', dims: ['N', 4, 12] }], 18);
    await agrees(bytes, randn([3, 4, 7], 2), [[3, 4, 12]]);
  });

  it('Pad refuses, naming the node: reflect wider than the axis, negative pads, the batch axis', async () => {
    const pad = (pads: number[], mode: string) => model([node('Pad', ['x', 'pads'], ['y'], [str('mode', mode)])], [i64('pads', pads)], [{ name: 'x', dims: ['N', 2, 3, 3] }], [{ name: 'y', dims: [] }], 13);
    await expect(eg.loadModel(pad([0, 0, 3, 0, 0, 0, 0, 0], 'reflect'))).rejects.toThrow(/Pad_y.*reflect pads.*3 on axis 2 of length 3/);
    await expect(eg.loadModel(pad([0, 0, -1, 0, 0, 0, 0, 0], 'constant'))).rejects.toThrow(/Pad_y.*negative pads/);
    await expect(eg.loadModel(pad([1, 0, 0, 0, 0, 0, 0, 0], 'edge'))).rejects.toThrow(/Pad_y.*batch dimension/);
  });

  it('AveragePool in ceil mode, with and without its padding counted', async () => {
    const x = randn([2, 3, 7, 9], 3);
    for (const cip of [0, 1]) {
      const bytes = model([node('AveragePool', ['x'], ['y'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 0, 0, 1]), int('ceil_mode', 1), int('count_include_pad', cip)])],
        [], [{ name: 'x', dims: ['N', 3, 7, 9] }], [{ name: 'y', dims: [] }], 11);
      await agrees(bytes, x, [[2, 3, 4, 5]]);
    }
  });

  it('3-D MaxPool and AveragePool (strides, pads, ceil mode, padding counted or not) over [N, C, D, H, W]', async () => {
    const x = randn([2, 2, 6, 6, 7], 4);
    const base = [ints('kernel_shape', [2, 3, 2]), ints('strides', [2, 1, 2]), ints('pads', [1, 0, 1, 0, 1, 1])];
    const forms: Array<[string, Attr[]]> = [
      ['MaxPool', []], ['MaxPool', [int('ceil_mode', 1)]], ['AveragePool', []], ['AveragePool', [int('count_include_pad', 1)]], ['AveragePool', [int('ceil_mode', 1)]],
    ];
    for (const [op, extra] of forms) {
      const bytes = model([node(op, ['x'], ['y'], [...base, ...extra])], [], [{ name: 'x', dims: ['N', 2, 6, 6, 7] }], [{ name: 'y', dims: [] }], 12);
      const ceil = extra.some((a) => a.name === 'ceil_mode');
      await agrees(bytes, x, [[2, 2, ceil ? 4 : 3, 5, 4]]);
    }
  });

  it('dilated MaxPool, 2-D and 3-D', async () => {
    const x2 = randn([2, 2, 9, 8], 5);
    const b2 = model([node('MaxPool', ['x'], ['y'], [ints('kernel_shape', [2, 3]), ints('dilations', [2, 1]), ints('strides', [1, 2]), ints('pads', [1, 1, 0, 1])])],
      [], [{ name: 'x', dims: ['N', 2, 9, 8] }], [{ name: 'y', dims: [] }], 12);
    await agrees(b2, x2, [[2, 2, 8, 4]]);
    const x3 = randn([2, 1, 6, 5, 7], 6);
    const b3 = model([node('MaxPool', ['x'], ['y'], [ints('kernel_shape', [2, 2, 2]), ints('dilations', [2, 1, 3])])],
      [], [{ name: 'x', dims: ['N', 1, 6, 5, 7] }], [{ name: 'y', dims: [] }], 12);
    await agrees(b3, x3, [[2, 1, 4, 4, 4]]);
  });

  it("MaxPool's Indices: flat NCHW indices over the batch, row-major (storage_order 0) and column-major (1)", async () => {
    const x = randn([2, 3, 6, 7], 7);
    for (const order of [0, 1]) {
      const bytes = model([node('MaxPool', ['x'], ['y', 'i'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), int('storage_order', order)])],
        [], [{ name: 'x', dims: ['N', 3, 6, 7] }], [{ name: 'y', dims: [] }, { name: 'i', dims: [], elem: 7 }], 12);
      const [, i] = await agrees(bytes, x, [[2, 3, 3, 4], [2, 3, 3, 4]]);
      expect(i.dtype).toBe('int32');
    }
    // one spatial axis: [N, C, L] indices
    const b1 = model([node('MaxPool', ['x'], ['y', 'i'], [ints('kernel_shape', [3]), ints('strides', [2]), ints('pads', [1, 1])])],
      [], [{ name: 'x', dims: ['N', 3, 9] }], [{ name: 'y', dims: [] }, { name: 'i', dims: [], elem: 7 }], 12);
    await agrees(b1, randn([2, 3, 9], 14), [[2, 3, 5], [2, 3, 5]]);
  });

  it('PRelu with slopes of other shapes than one per channel', async () => {
    const x = randn([2, 3, 4, 5], 8);
    for (const dims of [[4, 5], [3, 1, 5], [1, 1, 5], [3, 4, 5]]) {
      const n = dims.reduce((a, b) => a * b, 1), r = rng(n);
      const slope = Array.from({ length: n }, () => r() - 0.5);
      const bytes = model([node('PRelu', ['x', 'slope'], ['y'])], [f32('slope', slope, dims)], [{ name: 'x', dims: ['N', 3, 4, 5] }], [{ name: 'y', dims: [] }], 16);
      await agrees(bytes, x, [[2, 3, 4, 5]]);
    }
    // a [C, 1] slope on a plain [N, C, L] value (PyTorch's PReLU(C) after a Conv1d): per channel, not per L
    const slope = [0.1, -0.2, 0.3];
    const bytes = model([node('PRelu', ['x', 'slope'], ['y'])], [f32('slope', slope, [3, 1])], [{ name: 'x', dims: ['N', 3, 3] }], [{ name: 'y', dims: [] }], 16);
    await agrees(bytes, randn([4, 3, 3], 9), [[4, 3, 3]]);
  });

  it("Resize's tf_crop_and_resize (linear, nearest, cubic): the box, and the extrapolation value outside the image", async () => {
    const x = randn([2, 3, 6, 7], 10);
    for (const mode of ['linear', 'nearest', 'cubic']) {
      const bytes = model([node('Resize', ['x', 'roi', '', 'sizes'], ['y'], [str('mode', mode), str('coordinate_transformation_mode', 'tf_crop_and_resize'), flt('extrapolation_value', 3.5)])],
        [f32('roi', [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3]), i64('sizes', [2, 3, 5, 4])], [{ name: 'x', dims: ['N', 3, 6, 7] }], [{ name: 'y', dims: [] }], 13);
      const [y] = await agrees(bytes, x, [[2, 3, 5, 4]]);
      expect(Array.from(y.dataSync()).filter((v) => v === 3.5).length).toBeGreaterThan(0);
    }
  });

  it("BatchNormalization's training_mode: Y with the batch's statistics, and the running mean and variance (momentum)", async () => {
    const C = 3, eps = 1e-3, momentum = 0.8;
    const mean0 = [0.5, -1, 2], var0 = [1, 0.5, 2], scale = [1.5, -0.5, 2], bias = [0.1, 0.2, -0.3];
    const bytes = model([node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y', 'rm', 'rv'], [flt('epsilon', eps), flt('momentum', momentum), int('training_mode', 1)])],
      [f32('s', scale), f32('b', bias), f32('m', mean0), f32('v', var0)], [{ name: 'x', dims: ['N', 3, 4, 5] }],
      [{ name: 'y', dims: [] }, { name: 'rm', dims: [3] }, { name: 'rv', dims: [3] }], 15);
    const m = await eg.loadModel(bytes);
    const x = randn([6, 3, 4, 5], 11), xv = x.dataSync();
    const [y, rm, rv] = outputsOf(m.predict([x])).map((t) => t.dataSync());
    // the reference: per channel, over the batch and the map, the mean and the biased variance
    for (let c = 0; c < C; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 6; n++) for (let k = 0; k < 20; k++) vals.push(xv[(n * C + c) * 20 + k]);
      const mu = vals.reduce((a, b) => a + b, 0) / vals.length, va = vals.reduce((a, b) => a + (b - mu) ** 2, 0) / vals.length;
      expect(rm[c]).toBeCloseTo(mean0[c] * momentum + mu * (1 - momentum), 5);
      expect(rv[c]).toBeCloseTo(var0[c] * momentum + va * (1 - momentum), 5);
      for (let n = 0; n < 6; n++) for (let k = 0; k < 20; k++) {
        const i = (n * C + c) * 20 + k;
        expect(y[i]).toBeCloseTo(scale[c] * (xv[i] - mu) / Math.sqrt(va + eps) + bias[c], 4);
      }
    }
    // the same file without training_mode normalizes with the running statistics (as before)
    const inference = model([node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], [flt('epsilon', eps)])],
      [f32('s', scale), f32('b', bias), f32('m', mean0), f32('v', var0)], [{ name: 'x', dims: ['N', 3, 4, 5] }], [{ name: 'y', dims: [] }], 15);
    await agrees(inference, x, [[6, 3, 4, 5]]);
    // and training mode is not exported as an inference batch norm
    await expect(eg.toOnnx(m)).rejects.toThrow(/batch's statistics.*not exported/);
  });
});

describe('exports of the new forms', () => {
  beforeAll(() => useBuild('simd'));

  it('Pad (value, edge, reflect) and tf_crop_and_resize export to files ONNX Runtime runs the same', async () => {
    const x = randn([2, 3, 5, 6], 12);
    const files = [
      ...['constant', 'edge', 'reflect'].map((mode) => model([node('Pad', mode === 'constant' ? ['x', 'pads', 'value'] : ['x', 'pads'], ['y'], [str('mode', mode)])],
        [i64('pads', [0, 1, 2, 1, 0, 2, 1, 3]), f32('value', [-1.25], [])], [{ name: 'x', dims: ['N', 3, 5, 6] }], [{ name: 'y', dims: [] }], 13)),
      model([node('Resize', ['x', 'roi', '', 'sizes'], ['y'], [str('mode', 'linear'), str('coordinate_transformation_mode', 'tf_crop_and_resize'), flt('extrapolation_value', -2)])],
        // (not 5 rows from 5: ONNX Runtime ignores the box on an axis whose size stays)
        [f32('roi', [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3]), i64('sizes', [2, 3, 4, 4])], [{ name: 'x', dims: ['N', 3, 5, 6] }], [{ name: 'y', dims: [] }], 13),
    ];
    for (const [k, bytes] of files.entries()) {
      const m = await eg.loadModel(bytes);
      const [mine] = outputsOf(m.predict(x));
      const [theirs] = await ort(await eg.toOnnx(m), x);
      expect(maxRelDiff(mine.dataSync(), theirs), ['constant', 'edge', 'reflect', 'tf_crop_and_resize'][k]).toBeLessThan(1e-5);
    }
  });

  it('the general pool (dilations, Indices, an average counting its padding in ceil mode) exports as MaxPool / AveragePool', async () => {
    const x = randn([2, 3, 9, 8], 13);
    const files = [
      model([node('MaxPool', ['x'], ['y', 'i'], [ints('kernel_shape', [2, 3]), ints('dilations', [2, 1]), ints('pads', [1, 0, 1, 1]), int('storage_order', 1)])],
        [], [{ name: 'x', dims: ['N', 3, 9, 8] }], [{ name: 'y', dims: [] }, { name: 'i', dims: [], elem: 7 }], 12),
      model([node('AveragePool', ['x'], ['y'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 0, 1]), int('ceil_mode', 1), int('count_include_pad', 1)])],
        [], [{ name: 'x', dims: ['N', 3, 9, 8] }], [{ name: 'y', dims: [] }], 12),
    ];
    for (const bytes of files) {
      const m = await eg.loadModel(bytes);
      const mine = outputsOf(m.predict(m.outputNames.length > 1 ? [x] : x));
      const theirs = await ort(await eg.toOnnx(m), x);
      mine.forEach((t, k) => expect(maxRelDiff(t.dataSync(), theirs[k]), `output ${k}`).toBeLessThan(1e-5));
    }
  });
});

describe.each(['simd', 'ref'])('gradients of the new graph ops and compositions (finite differences), %s backend', (build) => {
  beforeAll(() => useBuild(build));

  it('pad: constant, edge and reflect over several axes (corners included)', () => {
    for (const mode of ['constant', 'edge', 'reflect']) {
      const g = new Graph();
      const x = g.input('x', [-1, 4, 5, 3]);
      g.outputs = g.node('pad', [x], { pads: [[0, 0], [2, 1], [3, 2], [1, 2]], mode, value: 0.5 }, 'pad');
      checkGradients(g, 2);
    }
  });

  it('poolNd: dilated max, average with its padding counted in ceil mode, 3-D', () => {
    const forms = [
      { shape: [-1, 2, 7, 8], a: { kind: 'max', kernel: [2, 3], strides: [1, 2], dilations: [2, 1], pads: [1, 0, 1, 1], ceil: false, countIncludePad: false } },
      { shape: [-1, 2, 7, 8], a: { kind: 'avg', kernel: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 0, 1], ceil: true, countIncludePad: true } },
      { shape: [-1, 1, 4, 5, 6], a: { kind: 'max', kernel: [2, 2, 3], strides: [1, 2, 2], dilations: [1, 2, 1], pads: [0, 1, 1, 1, 0, 0], ceil: true, countIncludePad: false, storageOrder: 0 } },
    ];
    for (const { shape, a } of forms) {
      const g = new Graph();
      const x = g.input('x', shape);
      g.outputs = [g.node('poolNd', [x], a, 'pool')[0]];
      checkGradients(g, 2);
    }
  });

  it('imported 3-D pools and PRelu with a broadcast slope train: the composed graphs have the right gradients', async () => {
    const pools = [['MaxPool', 0], ['AveragePool', 0], ['AveragePool', 1]] as const;
    for (const [op, cip] of pools) {
      const bytes = model([node(op, ['x'], ['y'], [ints('kernel_shape', [2, 3, 2]), ints('strides', [2, 1, 2]), ints('pads', [1, 0, 1, 0, 1, 1]), ...(op === 'AveragePool' ? [int('count_include_pad', cip)] : [])])],
        [], [{ name: 'x', dims: ['N', 2, 4, 5, 5] }], [{ name: 'y', dims: [] }], 12);
      checkGradients((await eg.loadModel(bytes)).graph, 2);
    }
    const r = rng(4), slope = Array.from({ length: 15 }, () => r() - 0.5);
    const prelu = model([node('PRelu', ['x', 'slope'], ['y'])], [f32('slope', slope, [3, 1, 5])], [{ name: 'x', dims: ['N', 3, 4, 5] }], [{ name: 'y', dims: [] }], 16);
    checkGradients((await eg.loadModel(prelu)).graph, 2);
  });
});
