// The ops that wasm runs as TypeScript loops over tensor memory, on the webgpu backend's own kernels
// (src/backend/webgpu/indexing.ts): gathers (embedding, gather and its gradient), argMax / argMin's last
// index, the sequence-length mask, resizing (every method and coordinate rule) with its gradient, grayscale
// -> RGB and its gradient, and pooling of any rank with its gradient and Indices. Each against the same op on
// wasm (the TypeScript loops: an independent code path) on odd shapes, an index out of range as wasm's error
// (read back from the device), and ONNX's own node-test models run on webgpu as on wasm and as their data.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as eg from '../src/index.js';
import { Tensor } from '../src/tensor.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { runEager } from '../src/graph/eager.js';
import { tensorData } from '../src/io/onnx/import/tensor.js';
import { resizeGrad } from '../src/ops/image.js';
import { expectClose, randArr, useBuild } from './helpers.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-cpu-ops-f: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');
const NODE = '/usr/share/libonnx-testdata/data/node';

const data = (shape: number[], seed: number, lo = -1, hi = 1) => randArr(shape, seed, lo, hi).data;
const ints = (v: number[], shape = [v.length]) => eg.tensor(Int32Array.from(v), shape, 'int32');

describe.skipIf(!driver)('webgpu: the ops that loop over tensor memory on wasm', () => {
  let wasm: Backend, gpu: WebGpuBackend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' }) as WebGpuBackend;
  });

  /** Run f on wasm and on webgpu (inputs made by f on each); every output's data from each. */
  async function same(what: string, f: () => Tensor | Tensor[], tol = 1e-5): Promise<void> {
    setBackend(wasm);
    const a = [f()].flat().map((t) => ({ v: Array.from(t.dataSync()), dtype: t.dtype, shape: t.shape.join() }));
    setBackend(gpu);
    const outs = [f()].flat();
    for (const t of outs) expect(t.location).toBe('webgpu');
    const b = await Promise.all(outs.map(async (t) => Array.from(await t.data())));
    a.forEach((x, i) => {
      expect(outs[i].dtype, `${what} [${i}] dtype`).toBe(x.dtype);
      expect(outs[i].shape.join(), `${what} [${i}] shape`).toBe(x.shape);
      if (x.dtype === 'int32') expect(b[i], `${what} [${i}]`).toEqual(x.v);
      else expectClose(b[i], x.v, tol, `${what} [${i}]`);
    });
  }

  it('gather on any axis and embedding rows by int32 indices (negative, repeated), and the gradient adding repeats', async () => {
    const ids = [2, -1, 0, 2, 4, -5, 2];
    for (const [shape, axis] of [[[5, 3], 0], [[3, 5, 7], 1], [[2, 3, 5], 2], [[5], 0]] as Array<[number[], number]>) {
      const len = shape[axis];
      const idx = ids.map((v) => (v >= len || v < -len ? v % len : v));
      const idShape = [idx.length];
      const dyShape = [...shape.slice(0, axis), idx.length, ...shape.slice(axis + 1)];
      await same(`gather ${shape} axis ${axis}`, () => {
        const x = eg.tensor(data(shape, 1), shape), k = ints(idx, idShape);
        return [runEager('gather', [x, k], { axis })[0], runEager('gatherGrad', [eg.tensor(data(dyShape, 2), dyShape), k, x], { axis })[0]];
      });
    }
    // ids of rank 2 into a table [7, 2, 3]: [...ids, 2, 3]
    await same('embedding', () => runEager('embedding', [eg.tensor(data([7, 2, 3], 3), [7, 2, 3]), ints([6, 0, -7, 3, 3, 1], [2, 3])])[0]);
  });

  it('an index out of range: wasm throws at the op; webgpu flags it on the device and the next read throws the same error, once', async () => {
    setBackend(wasm);
    expect(() => runEager('gather', [eg.tensor(data([5, 3], 4), [5, 3]), ints([0, 1, 5, -6])], { axis: 0 })).toThrow(/index 5 \(position 2\) is outside \[-5, 5\)/);
    setBackend(gpu);
    const y = runEager('gather', [eg.tensor(data([5, 3], 4), [5, 3]), ints([0, 1, 5, -6])], { axis: 0 })[0];
    const e = await y.data().then(() => undefined, (err: Error) => err.message);
    expect(e).toContain('index 5 (position 2) is outside [-5, 5)');
    expect(e).toContain('edgegrad.gather');
    // reported once: the next read is clean, and a later good gather reads back
    expect(Array.from(await eg.tensor([1, 2]).data())).toEqual([1, 2]);
    const ok = runEager('embedding', [eg.tensor([1, 2, 3, 4], [2, 2]), ints([1, -2])])[0];
    expect(Array.from(await ok.data())).toEqual([3, 4, 1, 2]);
    // lengthMask's lengths likewise
    const m = runEager('lengthMask', [ints([2, 5])], { steps: 4 })[0];
    await expect(m.data()).rejects.toThrow("edgegrad.lengthMask: node 'lengthMask': length 5 (sequence 1) is outside [0, 4]");
  });

  it('argMax of a reversed axis (ONNX select_last_index): the last of equal extremes', async () => {
    for (const [shape, axis] of [[[3, 7, 5], 1], [[4, 6], 0], [[2, 3, 9], 2]] as Array<[number[], number]>) {
      // values on a coarse grid: many ties
      const v = data(shape, 5).map((t) => Math.round(t * 2));
      await same(`argMax reversed ${shape} axis ${axis}`, () => runEager('argMax', [eg.tensor(v, shape)], { axis, reversed: true })[0]);
    }
  });

  it('lengthMask: int32 lengths into a [B, T, 1] mask', async () => {
    await same('lengthMask', () => runEager('lengthMask', [ints([0, 7, 3, 1, 7])], { steps: 7 })[0]);
  });

  it('resize2d and its gradient: every method and coordinate rule, the crop box and extrapolation, on odd shapes', async () => {
    const cases: Array<[string, Record<string, unknown>, [number, number]]> = [
      ['bilinear', {}, [7, 4]], ['bilinear', { alignCorners: true }, [5, 9]], ['bilinear', { halfPixelCenters: true }, [3, 11]],
      ['nearest', {}, [7, 4]], ['nearest', { alignCorners: true }, [9, 5]], ['nearest', { halfPixelCenters: true }, [2, 7]],
      ['bicubic', {}, [7, 9]], ['bicubic', { cubicCoeffA: -0.5, excludeOutside: true }, [3, 4]],
      ['bicubic', { coordinate: 'align_corners' }, [9, 3]], ['bicubic', { coordinate: 'asymmetric', scales: [1.5, 0.8] }, [7, 4]],
      ['bilinear', { coordinate: 'half_pixel', scales: [1.5, 0.8] }, [7, 4]], ['bilinear', { coordinate: 'pytorch_half_pixel' }, [1, 3]],
      ['bilinear', { coordinate: 'align_corners' }, [8, 2]], ['bilinear', { coordinate: 'asymmetric' }, [9, 9]],
      ['nearest', { coordinate: 'tf_half_pixel_for_nn' }, [3, 7]], ['nearest', { coordinate: 'asymmetric', nearestMode: 'ceil' }, [8, 6]],
      ['nearest', { coordinate: 'half_pixel', nearestMode: 'round_prefer_ceil' }, [10, 3]], ['nearest', { coordinate: 'align_corners', nearestMode: 'floor' }, [6, 6]],
      ['nearest', { coordinate: 'half_pixel', nearestMode: 'round_prefer_floor' }, [10, 3]],
      ['bilinear', { coordinate: 'tf_crop_and_resize', roi: [0.4, 0.6, 0.6, 0.8], extrapolation: 10 }, [3, 3]],
      ['bilinear', { coordinate: 'tf_crop_and_resize', roi: [-0.3, 0.1, 1.2, 0.9], extrapolation: -2.5 }, [5, 7]],
      ['nearest', { coordinate: 'tf_crop_and_resize', roi: [-0.3, 0.1, 1.2, 0.9], extrapolation: 7 }, [5, 7]],
      ['bicubic', { coordinate: 'tf_crop_and_resize', roi: [-0.2, -0.1, 1.1, 1.3], extrapolation: 1 }, [6, 4]],
    ];
    const xs = [2, 5, 6, 3];
    for (const [method, o, size] of cases) {
      const attrs = { method, size, ...o }, ys = [2, size[0], size[1], 3];
      await same(`resize2d ${method} ${JSON.stringify(o)} -> ${size}`, () => {
        const x = eg.tensor(data(xs, 6), xs);
        return [runEager('resize2d', [x], attrs)[0], runEager('resize2dGrad', [x, eg.tensor(data(ys, 7), ys)], attrs)[0]];
      });
    }
  });

  it('resize2d and its gradient with an infinite pixel: NaN and infinity where wasm has them (a zero bicubic weight reads nothing; bilinear weighs every tap)', async () => {
    const xs = [1, 4, 5, 1], x = data(xs, 13);
    x[0] = Infinity;
    x[9] = -Infinity;
    for (const attrs of [{ method: 'bicubic', excludeOutside: true, size: [7, 3] }, { method: 'bicubic', size: [3, 8] }, { method: 'bilinear', size: [6, 7] }, { method: 'nearest', size: [7, 6] }]) {
      // and the gradient of an infinite dy
      const ys = [1, attrs.size[0], attrs.size[1], 1], dy = data(ys, 14);
      dy[3] = Infinity;
      const run = () => [runEager('resize2d', [eg.tensor(x, xs)], attrs)[0], runEager('resize2dGrad', [eg.tensor(x, xs), eg.tensor(dy, ys)], attrs)[0]];
      setBackend(wasm);
      const wants = run().map((t) => Array.from(t.dataSync()));
      setBackend(gpu);
      const gots = await Promise.all(run().map(async (t) => Array.from(await t.data())));
      const kind = (v: number) => (Number.isNaN(v) ? 'nan' : Number.isFinite(v) ? 'finite' : String(v));
      wants.forEach((want, k) => {
        const got = gots[k], what = `${attrs.method} ${k ? 'gradient' : 'forward'}`;
        expect(got.map(kind), what).toEqual(want.map(kind));
        expect(want.some((v) => !Number.isFinite(v)), what).toBe(true);
        expectClose(got.map((v) => (Number.isFinite(v) ? v : 0)), want.map((v) => (Number.isFinite(v) ? v : 0)), 1e-5, what);
      });
    }
  });

  it('larger shapes: a resize and a pool with their gradients over some thousands of threads', async () => {
    const xs = [2, 33, 29, 5], ys = [2, 61, 17, 5];
    for (const attrs of [{ method: 'bilinear', size: [61, 17], halfPixelCenters: true }, { method: 'bicubic', size: [61, 17] }]) {
      await same(`resize2d ${attrs.method} ${xs} -> ${ys}`, () => {
        const x = eg.tensor(data(xs, 15), xs);
        return [runEager('resize2d', [x], attrs)[0], runEager('resize2dGrad', [x, eg.tensor(data(ys, 16), ys)], attrs)[0]];
      }, 1e-5);
    }
    const ps = [2, 5, 19, 23], a = { kind: 'max', kernel: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1], ceil: true, countIncludePad: false, storageOrder: 0 };
    for (const kind of ['max', 'avg']) {
      await same(`poolNd ${kind} ${ps}`, () => {
        const x = eg.tensor(data(ps, 17).map((v) => Math.round(v * 4)), ps);
        const outs = runEager('poolNd', [x], { ...a, kind });
        return [...outs, runEager('poolNdGrad', [x, eg.tensor(data(outs[0].shape.slice(), 18), outs[0].shape.slice())], { ...a, kind })[0]];
      });
    }
  });

  it('the eager image functions (eg.image.resizeBilinear / resizeNearestNeighbor / grayscaleToRGB, the resize gradient) run on webgpu as on wasm', async () => {
    const xs = [2, 5, 7, 3];
    await same('eager image', () => {
      const x = eg.tensor(data(xs, 19), xs);
      return [
        eg.image.resizeBilinear(x, [8, 4]), eg.image.resizeBilinear(x, [3, 9], true), eg.image.resizeNearestNeighbor(x, [9, 5], false, true),
        eg.image.grayscaleToRGB(eg.tensor(data([2, 3, 1], 20), [2, 3, 1])),
        resizeGrad(x, eg.tensor(data([2, 8, 4, 3], 21), [2, 8, 4, 3]), 'bilinear', false, true),
      ];
    });
  });

  it('grayscaleToRgb and its gradient sumLastGroups', async () => {
    await same('grayscale', () => [
      runEager('grayscaleToRgb', [eg.tensor(data([2, 3, 5, 1], 8), [2, 3, 5, 1])])[0],
      runEager('sumLastGroups', [eg.tensor(data([2, 3, 5, 3], 9), [2, 3, 5, 3])], { groups: 3 })[0],
      runEager('sumLastGroups', [eg.tensor(data([7, 10], 10), [7, 10])], { groups: 5 })[0],
    ]);
  });

  it('poolNd and its gradient: max / average, ranks 1 to 3, dilations, ceil mode, count_include_pad, the Indices both orders', async () => {
    const base = { strides: [1], dilations: [1], pads: [0, 0], ceil: false, countIncludePad: false };
    const cases: Array<[number[], Record<string, unknown>]> = [
      [[2, 3, 11], { kind: 'max', kernel: [3], strides: [2], pads: [1, 1], storageOrder: 0 }],
      [[2, 3, 11], { kind: 'avg', kernel: [4], strides: [3], pads: [2, 1], ceil: true, countIncludePad: true }],
      [[1, 2, 7, 9], { kind: 'max', kernel: [3, 2], strides: [2, 3], dilations: [2, 1], pads: [1, 0, 1, 2], ceil: true, storageOrder: 1 }],
      [[1, 2, 7, 9], { kind: 'max', kernel: [2, 3], strides: [1, 2], dilations: [1, 2], pads: [0, 1, 0, 1], storageOrder: 0 }],
      [[1, 2, 7, 9], { kind: 'avg', kernel: [3, 3], strides: [2, 2], dilations: [2, 2], pads: [2, 1, 1, 2], countIncludePad: false }],
      [[1, 2, 7, 9], { kind: 'avg', kernel: [3, 2], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1], ceil: true, countIncludePad: true }],
      [[2, 1, 5, 4, 6], { kind: 'max', kernel: [2, 3, 2], strides: [2, 1, 3], dilations: [1, 1, 2], pads: [1, 0, 1, 0, 1, 1], storageOrder: 1 }],
      [[2, 1, 5, 4, 6], { kind: 'avg', kernel: [2, 2, 3], strides: [1, 2, 2], dilations: [2, 1, 1], pads: [0, 1, 1, 1, 0, 1], ceil: true }],
    ];
    for (const [xs, o] of cases) {
      const r = xs.length - 2;
      const a = { ...base, strides: Array(r).fill(1), dilations: Array(r).fill(1), pads: Array(2 * r).fill(0), ...o };
      await same(`poolNd ${xs} ${JSON.stringify(o)}`, () => {
        // ties in max windows: values on a coarse grid
        const x = eg.tensor(data(xs, 11).map((v) => (o.kind === 'max' ? Math.round(v * 3) : v)), xs);
        const outs = runEager('poolNd', [x], a);
        const dy = eg.tensor(data(outs[0].shape.slice(), 12), outs[0].shape.slice());
        return [...outs, runEager('poolNdGrad', [x, dy], a)[0]];
      });
    }
  });

  it('a model with resizing and grayscale -> RGB layers between convolutions trains on webgpu as on wasm (their gradients reach the first conv)', async () => {
    const N = 6, x = data([N, 7, 5, 2], 20, 0, 1), y = data([N, 3], 21);
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      const run = async (be: Backend) => {
        setBackend(be);
        const m = eg.sequential([
          eg.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', inputShape: [7, 5, 2], seed: 1 }),
          eg.layers.resizing({ height: 9, width: 4, interpolation }), eg.layers.grayscaleToRgb(),
          eg.layers.conv2d({ filters: 2, kernelSize: 2, activation: 'tanh', seed: 2 }),
          eg.layers.flatten(), eg.layers.dense({ units: 3, seed: 3 }),
        ]);
        // plain SGD: Adam's step would hide a gradient off by a factor
        m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
        await m.fit(eg.tensor(x, [N, 7, 5, 2]), eg.tensor(y, [N, 3]), { epochs: 3, batchSize: 3, shuffle: false });
        return Promise.all(m.getWeights().map(async (w) => Array.from(await w.data())));
      };
      const want = await run(wasm), got = await run(gpu);
      // the first conv's kernel moved (its gradient came through both layers), and equally on both backends
      setBackend(wasm);
      const init = eg.sequential([eg.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', inputShape: [7, 5, 2], seed: 1 })]).getWeights()[0].dataSync();
      expect(Math.max(...want[0].map((v, i) => Math.abs(v - init[i])))).toBeGreaterThan(1e-3);
      want.forEach((w, i) => expectClose(got[i], w, 1e-4, `${interpolation} weight ${i}`));
    }
  });

  it('an ONNX model of Resize (tf_crop_and_resize), dilated MaxPool with Indices, ArgMax select_last_index and an embedding Gather: webgpu as wasm as ONNX Runtime', async () => {
    const FLOAT = 1, INT64 = 7;
    const attr = (name: string, v: number | number[] | string | Float32Array) => (typeof v === 'string' ? { name, type: 3, s: new TextEncoder().encode(v) }
      : Array.isArray(v) ? { name, type: 7, ints: v } : v instanceof Float32Array ? { name, type: 1, f: v[0] } : { name, type: 2, i: v });
    const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: opType, input, output, attribute });
    const init = (name: string, elem: number, vals: number[], dims: number[]) =>
      ({ name, dims, dataType: elem, rawData: new Uint8Array(elem === FLOAT ? Float32Array.from(vals).buffer : BigInt64Array.from(vals.map(BigInt)).buffer) });
    const vi = (name: string, elem: number, dims: number[]) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const table = Array.from(data([7, 4], 30));
    const bytes: Uint8Array = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'cpu-ops',
        node: [
          node('Resize', ['x', 'roi', '', 'sizes'], ['r'], [attr('mode', 'linear'), attr('coordinate_transformation_mode', 'tf_crop_and_resize'), attr('extrapolation_value', Float32Array.of(0.5))]),
          node('MaxPool', ['r'], ['p', 'idx'], [attr('kernel_shape', [2, 3]), attr('dilations', [2, 1]), attr('strides', [1, 2]), attr('pads', [1, 0, 0, 1])]),
          node('ArgMax', ['r'], ['am'], [attr('axis', 3), attr('keepdims', 1), attr('select_last_index', 1)]),
          node('Gather', ['table', 'ids'], ['emb'], [attr('axis', 0)]),
        ],
        initializer: [init('roi', FLOAT, [0, 0, -0.1, 0.2, 1, 1, 0.9, 1.2], [8]), init('sizes', INT64, [1, 2, 5, 7], [4]), init('table', FLOAT, table, [7, 4])],
        input: [vi('x', FLOAT, [1, 2, 6, 5]), vi('ids', INT64, [2, 3])],
        output: [vi('p', FLOAT, [1, 2, 4, 3]), vi('idx', INT64, [1, 2, 4, 3]), vi('am', INT64, [1, 2, 5, 1]), vi('emb', FLOAT, [2, 3, 4])],
      },
    })).finish();
    // on a coarse grid: ties for the last index and the first maximum
    const x = Array.from(data([1, 2, 6, 5], 31), (v) => Math.round(v * 2) / 2), ids = [6, -1, 0, 3, 3, -7];
    const outs: number[][][] = [];
    for (const be of [wasm, gpu]) {
      setBackend(be);
      const m = await eg.loadModel(bytes);
      const ys = m.predict([eg.tensor(x, [1, 2, 6, 5]), ints(ids, [2, 3])]) as Tensor[];
      if (be === gpu) for (const t of ys) expect(t.location).toBe('webgpu');
      outs.push(await Promise.all(ys.map(async (t) => Array.from(await t.data()))));
    }
    const rt = await import('onnxruntime-web');
    rt.env.wasm.numThreads = 1;
    const session = await rt.InferenceSession.create(bytes);
    const r = await session.run({ x: new rt.Tensor('float32', Float32Array.from(x), [1, 2, 6, 5]), ids: new rt.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 3]) });
    const ort = session.outputNames.map((o) => Array.from(r[o].data as ArrayLike<number | bigint>, Number));
    outs[0].forEach((w, k) => {
      expectClose(outs[1][k], w, 1e-5, `output ${session.outputNames[k]} (webgpu against wasm)`);
      expectClose(outs[1][k], ort[k], 1e-5, `output ${session.outputNames[k]} (webgpu against ONNX Runtime)`);
    });
  });

  // ONNX's node tests whose models import to these ops: run on webgpu as on wasm and as their data
  const tests = ['test_maxpool_with_argmax_2d_precomputed_strides', 'test_maxpool_with_argmax_2d_precomputed_pads', 'test_maxpool_2d_dilations',
    'test_maxpool_3d_default', 'test_averagepool_3d_default', 'test_averagepool_1d_default', 'test_resize_tf_crop_and_resize',
    'test_resize_upsample_scales_cubic_A_n0p5_exclude_outside', 'test_resize_downsample_sizes_linear_pytorch_half_pixel',
    'test_resize_upsample_sizes_nearest_ceil_half_pixel', 'test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn',
    'test_argmax_keepdims_random_select_last_index', 'test_argmin_no_keepdims_example_select_last_index', 'test_argmax_negative_axis_keepdims_random_select_last_index',
    'test_gather_0', 'test_gather_1', 'test_gather_2d_indices', 'test_gather_negative_indices'];

  it.skipIf(!existsSync(NODE))('ONNX node-test models (MaxPool with Indices, dilated / 3-D pools, Resize, ArgMax / ArgMin select_last_index, Gather) on webgpu as on wasm', async () => {
    for (const name of tests) {
      const dir = join(NODE, name), bytes = readFileSync(join(dir, 'model.onnx'));
      const m = onnx.ModelProto.decode(bytes);
      const inits = new Set(m.graph.initializer.map((i: { name: string }) => i.name));
      const names: string[] = m.graph.input.filter((i: { name: string }) => !inits.has(i.name)).map((i: { name: string }) => i.name);
      const read = (f: string) => tensorData(onnx.TensorProto.decode(readFileSync(join(dir, 'test_data_set_0', f))), f);
      const ins = m.graph.input.filter((i: { name: string }) => !inits.has(i.name));
      // integer inputs (Gather's indices) as int32 tensors
      const isInt = (k: number) => ins[k].type.tensorType.elemType !== 1;
      const given = (k: number) => { const x = read(`input_${k}.pb`); return isInt(k) ? ints(Array.from(x.data, Number), x.dims) : eg.tensor(Float32Array.from(x.data), x.dims); };
      const outs: number[][][] = [];
      for (const be of [wasm, gpu]) {
        setBackend(be);
        // operands the importer needs constant (a resize's roi and scales) bound at load, as the conformance suite does
        const bound: Record<string, eg.Tensor> = {};
        let model;
        for (;;) {
          try { model = await eg.loadModel(bytes, { constants: bound }); break; } catch (e) {
            const want = /input \d+ \('([^']+)'\)/.exec((e as Error).message);
            const k = want ? names.indexOf(want[1]) : -1;
            if (k < 0 || bound[names[k]]) throw e;
            // the importer reads a bound constant on the CPU: made on wasm, whichever backend runs the model
            setBackend(wasm);
            bound[names[k]] = given(k);
            setBackend(be);
          }
        }
        const xs = names.filter((nm) => !bound[nm]).map((nm) => given(names.indexOf(nm)));
        const ys = model.predict(xs.length === 1 && model.outputNames.length === 1 ? xs[0] : xs);
        const list: Tensor[] = ys instanceof Tensor ? [ys] : Array.isArray(ys) ? ys : Object.values(ys);
        if (be === gpu) for (const t of list) expect(t.location, name).toBe('webgpu');
        outs.push(await Promise.all(list.map(async (t) => Array.from(await t.data()))));
      }
      const [onWasm, onGpu] = outs;
      onWasm.forEach((w, k) => {
        expectClose(onGpu[k], w, 1e-5, `${name} output ${k} (webgpu against wasm)`);
        expectClose(onGpu[k], Array.from(read(`output_${k}.pb`).data, Number), 1e-4, `${name} output ${k} (webgpu against the test's data)`);
      });
    }
  });
});
