// The ops that loop over tensor memory on wasm (integer semantics, casts, fakeQuant, the frozen batch norm's
// gradient, categorical cross-entropy) run on the webgpu backend through its own kernels
// (src/backend/webgpu/numeric.ts): each against the same op on wasm, bit for bit where wasm's loop is exact
// (rounding, wrap-around, saturation), within float32 sums where wasm sums in float64. Dawn on SwiftShader, as
// test/webgpu.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as eg from '../src/index.js';
import { Tensor } from '../src/tensor.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { runEager } from '../src/graph/eager.js';
import '../src/ops/integer.js';
import type { Attrs } from '../src/graph/ir.js';
import { tensorData } from '../src/io/onnx/import/tensor.js';
import { expectClose, randArr, rng, useBuild } from './helpers.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-cpu-ops-e: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

const data = (shape: number[], seed: number, lo = -1, hi = 1) => randArr(shape, seed, lo, hi).data;

/** Values that probe rounding: ties, signed zeros, the 2^24 edge, half / bfloat16 boundaries, specials. */
function probes(): number[] {
  const v = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 127.5, 128, -128.5, -129, 255.5, 256, 300.7, -300.7,
    32767.5, 32768, -32768.5, 65535.5, 65536.2, 16777216, -16777216, 8388607.5, 4194303.5, 1e-8, -1e-8, 65504, 65519.99, 65520, -65520,
    6.1e-5, 6.0e-8, 2.98e-8, 5.96e-8, 3.0e-8, 1.00048828125, 1.000244140625, 1.0009765625, 3.4e38, -3.4e38, 1.4e-45, 1.1754942e-38];
  const r = rng(7);
  for (let i = 0; i < 150; i++) v.push((r() - 0.5) * 2 ** Math.floor(r() * 40 - 10));
  for (let i = 0; i < 40; i++) v.push(Math.floor((r() - 0.5) * 1000) + 0.5);
  return v;
}

/** float32 bits, NaN as one value (wasm's host loops keep whichever NaN the JS engine writes). */
const bits = (a: Float32Array) => Array.from(new Uint32Array(Float32Array.from(a, (v) => (Number.isNaN(v) ? NaN : v)).buffer));

describe.skipIf(!driver)('webgpu kernels of the ops that loop on the CPU elsewhere (numbers)', () => {
  let wasm: Backend, gpu: WebGpuBackend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' }) as WebGpuBackend;
  });

  /** f on wasm and on webgpu (inputs made on each from the same host data); each output's data. */
  async function both(f: () => Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
    setBackend(wasm);
    const a = f().map((t) => t.dataSync() as Float32Array);
    setBackend(gpu);
    const outs = f();
    for (const t of outs) expect(t.location).toBe('webgpu');
    const b = await Promise.all(outs.map(async (t) => await t.data() as Float32Array));
    return [a, b];
  }

  /** One op, eagerly, on both backends: bit for bit (tol undefined) or within tol. */
  async function same(what: string, op: string, inputs: Array<[Float32Array | number[], number[]]>, attrs: Attrs, tol?: number): Promise<void> {
    const [a, b] = await both(() => runEager(op, inputs.map(([d, s]) => eg.tensor(Float32Array.from(d), s)), attrs));
    expect(b.length).toBe(a.length);
    a.forEach((want, i) => {
      if (tol === undefined) expect(bits(b[i]), `${what} [${i}]`).toEqual(bits(want));
      else expectClose(b[i], want, tol, `${what} [${i}]`);
    });
  }

  it('toInteger: truncation and half to even, 8 / 16-bit wrap-around, 32-bit values, bit for bit', async () => {
    const v = probes().filter((x) => Math.abs(x) <= 16777216);
    for (const round of ['trunc', 'even'] as const) {
      for (const [bitsN, signed] of [[8, true], [8, false], [16, true], [16, false], [32, true], [64, true]] as const) {
        await same(`${round} ${signed ? 'int' : 'uint'}${bitsN}`, 'toInteger', [[v, [v.length]]], { round, bits: bitsN, signed, what: 'test' });
      }
    }
    // unsigned 32 / 64 bits take non-negative values only
    const pos = v.map(Math.abs);
    await same('trunc uint32', 'toInteger', [[pos, [pos.length]]], { round: 'trunc', bits: 32, signed: false, what: 'test' });
  });

  it('toInteger: what wasm refuses, the GPU flags and the next read throws with wasm\'s message (the first offending element)', async () => {
    const cases: Array<[number[], Attrs]> = [
      [[1, 2, Infinity, NaN], { round: 'trunc', bits: 32, signed: true, what: "Div node 'q'" }],
      [[3, -16777218, 16777220, 1], { round: 'even', bits: 8, signed: true, what: "Pow node 'p'" }],
      [[0, 4, -0.5, -2, 7], { round: 'trunc', bits: 32, signed: false, what: "Cast node 'c'" }],
    ];
    for (const [v, attrs] of cases) {
      setBackend(wasm);
      let message = '';
      try { runEager('toInteger', [eg.tensor(v, [v.length])], attrs); } catch (err) { message = (err as Error).message; }
      expect(message).toMatch(/^edgegrad: /);
      setBackend(gpu);
      const y = runEager('toInteger', [eg.tensor(v, [v.length])], attrs)[0];
      await expect(y.data()).rejects.toThrow(message);
      // reported once: the next read is clean
      expect(Array.from(await eg.tensor([1, 2]).data())).toEqual([1, 2]);
    }
  });

  it('requantize: divide and multiply, per tensor and per axis, on odd shapes with ties, bit for bit', async () => {
    const r = rng(3);
    const shape = [3, 5, 7], n = 105;
    const scales = Array.from({ length: 5 }, () => Math.fround(0.01 + r() * 0.3));
    // x = (k + 0.5) * scale rounded to float32: the quotient lands on or next to a tie
    const x = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Math.fround((Math.floor(r() * 600) - 300 + 0.5) * scales[Math.floor(i / 7) % 5]) : (r() - 0.5) * 200));
    x[1] = NaN; x[2] = Infinity; x[4] = -Infinity; x[5] = -0;
    for (const mode of ['divide', 'multiply'] as const) {
      await same(`${mode} per axis`, 'requantize', [[x, shape]], { scale: scales, zeroPoint: [0, 3, -7, 128, 1], axis: 1, qmin: -128, qmax: 127, mode });
      await same(`${mode} per tensor`, 'requantize', [[x, shape]], { scale: [scales[2]], zeroPoint: [17], axis: 0, qmin: 0, qmax: 255, mode });
    }
    // a sweep of scales over 60 binary orders (the quotient divided on the integers: WGSL's '/' is within 2.5
    // ulp), each x on a tie or a float32 next to one: the correctly rounded quotient decides every one
    const C = 64, per = 24, sc = Array.from({ length: C }, () => Math.fround((1 + r()) * 2 ** Math.floor(r() * 60 - 40)));
    const f = new Float32Array(1), u = new Int32Array(f.buffer);
    const near = Array.from({ length: C * per }, (_, i) => {
      f[0] = (Math.floor(r() * 2 ** 20) - 2 ** 19 + 0.5) * sc[i % C];
      u[0] += (i % 3) - 1;
      return f[0];
    });
    await same('scale sweep', 'requantize', [[near, [per, C]]], { scale: sc, zeroPoint: sc.map(() => 0), axis: 1, qmin: -(2 ** 24), qmax: 2 ** 24, mode: 'divide' });
    // division by 1/10 of float32 (not a power of two): the correctly rounded quotient decides the ties
    const tenth = Math.fround(0.1), xs = Array.from({ length: 301 }, (_, i) => Math.fround((i - 150) * 0.05));
    await same('x / 0.1', 'requantize', [[xs, [301]]], { scale: [tenth], zeroPoint: [0], axis: 0, qmin: -128, qmax: 127, mode: 'divide' });
  });

  it('fakeQuant (QuantizeLinear -> DequantizeLinear) bit for bit', async () => {
    const x = Array.from(data([9, 13], 5, -3, 3));
    x[0] = NaN; x[3] = 1e30; x[7] = Math.fround(0.75 * Math.fround(0.02));
    await same('u8', 'fakeQuant', [[x, [9, 13]]], { scale: Math.fround(0.02), zeroPoint: 128, qmin: 0, qmax: 255 });
    await same('s8', 'fakeQuant', [[x, [9, 13]]], { scale: Math.fround(0.0137), zeroPoint: -3, qmin: -128, qmax: 127 });
  });

  it('cast to float16, bfloat16 (ties to even, overflow to infinity, subnormals), integer and bool, bit for bit', async () => {
    const v = [...probes(), Infinity, -Infinity, NaN];
    for (let i = 0; i < 200; i++) v.push(Math.fround(2 ** -24 * i * 0.25), Math.fround(1 + i * 2 ** -12), -Math.fround(60000 + i * 30));
    for (const to of ['float16', 'bfloat16', 'integer', 'bool']) await same(`cast ${to}`, 'cast', [[v, [v.length]]], { to });
  });

  it('batchNormFrozenGrad: dx, dgamma, dbeta (gamma read only with needGamma), within float32 sums', async () => {
    for (const shape of [[3, 5, 7], [2, 3, 3, 11], [17, 1]]) {
      const C = shape[shape.length - 1], n = shape.reduce((a, b) => a * b);
      const dy: [Float32Array, number[]] = [data(shape, 11), shape], x: [Float32Array, number[]] = [data(shape, 12, -2, 3), shape];
      const g: [Float32Array, number[]] = [data([C], 13), [C]], mv: [Float32Array, number[]] = [data([C], 14, 0.1, 2), [C]], mm: [Float32Array, number[]] = [data([C], 15), [C]];
      expect(n).toBeGreaterThan(0);
      await same(`${shape} all`, 'batchNormFrozenGrad', [dy, g, mv, x, mm], { epsilon: 1e-3, needX: true, needG: true, needGamma: true }, 1e-5);
      await same(`${shape} betas only`, 'batchNormFrozenGrad', [dy, g, mv], { epsilon: 1e-3, needX: true, needG: true, needGamma: false }, 1e-5);
      await same(`${shape} sums only`, 'batchNormFrozenGrad', [dy, g, mv, x, mm], { epsilon: 1e-5, needX: false, needG: true, needGamma: true }, 1e-5);
      await same(`${shape} dx`, 'batchNormFrozenGrad', [dy, g, mv], { epsilon: 1e-5, needG: false }, 1e-5);
    }
  });

  it('conv1x1BatchNormGrad (a 1x1 conv recomputed in blocks of rows inside a batch norm\'s gradient): dx, dgamma, dbeta, within float32 sums', async () => {
    // 800 rows at 96 channels: two blocks of the recomputed conv, the second partial
    for (const [shape, CO] of [[[2, 20, 20, 8], 96], [[1, 3, 5, 4], 6]] as Array<[number[], number]>) {
      const K = shape[3], out = [...shape.slice(0, 3), CO];
      const inputs: Array<[Float32Array, number[]]> = [[data(shape, 31), shape], [data([1, 1, K, CO], 32), [1, 1, K, CO]], [data(out, 33), out],
        [data([CO], 34, 0.5, 2), [CO]], [data([CO], 35), [CO]], [data([CO], 36, 0.5, 2), [CO]]];
      await same(`${shape} -> ${CO}`, 'conv1x1BatchNormGrad', inputs, {}, 1e-4);
    }
  });

  it('loss categoricalCrossentropy on probabilities: the mean and its gradient, clipped at eps', async () => {
    for (const [rows, cols] of [[1, 3], [7, 5], [33, 10]]) {
      const p = Array.from(data([rows, cols], 21, 0, 1)), t = Array.from({ length: rows * cols }, (_, i) => +(i % cols === (i * 7) % cols));
      p[0] = 0; p[Math.min(1, p.length - 1)] = 1; if (p.length > 4) { p[3] = 1e-7; p[4] = Math.fround(1 - 1e-7); }
      await same(`${rows}x${cols}`, 'loss', [[p, [rows, cols]], [t, [rows, cols]]], { loss: 'categoricalCrossentropy' }, 1e-5);
      await same(`${rows}x${cols} no grad`, 'loss', [[p, [rows, cols]], [t, [rows, cols]]], { loss: 'categoricalCrossentropy', grad: false }, 1e-5);
    }
  });

  it('models train on webgpu as on wasm through a frozen-statistics batch norm (moving statistics frozen, gamma / beta trained, TinyTL) and categorical cross-entropy: the same weights', async () => {
    const x = data([6, 4], 31), y = Float32Array.from({ length: 18 }, (_, i) => +(i % 3 === Math.floor(i / 3) % 3));
    const weights = async (be: Backend, setup: 'frozen' | 'inference'): Promise<Float32Array[]> => {
      setBackend(be);
      eg.setSeed(3);
      const m = eg.sequential({ layers: [
        eg.layers.dense({ units: 5, inputShape: [4], name: 'd1' }),
        eg.layers.batchNormalization({ name: 'bn' }),
        // sigmoid, not softmax: a softmax before the loss would fuse into softmaxCrossEntropy
        eg.layers.dense({ units: 3, activation: 'sigmoid', name: 'out' }),
      ] });
      // 'frozen': the batch norm does not train (its gradient is dx only); 'inference': gamma and beta train on
      // the moving statistics under a frozen first layer (dgamma, dbeta, no dx)
      if (setup === 'frozen') m.layers[1].trainable = false;
      else m.freeze({ upTo: 'd1', batchNorm: 'inference' });
      const bn = m.layers[1], w = bn.getWeights();
      bn.setWeights([eg.tensor([1.5, 0.8, 2, 1.2, 0.7]), eg.tensor([0.5, -0.3, 0.2, 0.1, 0]), eg.tensor([0.1, -0.2, 0.3, 0, 0.05]), eg.tensor([0.5, 0.7, 1.3, 2, 0.9])]);
      void w;
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.1 }), loss: 'categoricalCrossentropy' });
      await m.fit(eg.tensor(x, [6, 4]), eg.tensor(y, [6, 3]), { epochs: 2, batchSize: 3, shuffle: false, verbose: 0 } as never);
      return Promise.all(m.getWeights().map(async (t) => await t.data() as Float32Array));
    };
    for (const setup of ['frozen', 'inference'] as const) {
      const want = await weights(wasm, setup), got = await weights(gpu, setup);
      expect(got.length).toBe(want.length);
      want.forEach((w, i) => expectClose(got[i], w, 1e-4, `${setup}: weight ${i}`));
    }
    // TinyTL on an imported CNN: biases and batch-norm shifts train, scales and moving statistics stay
    const tuned = async (be: Backend): Promise<Float32Array[]> => {
      setBackend(be);
      const base = await eg.loadModel(new Uint8Array(readFileSync('models/digits-cnn.onnx')));
      base.freeze({ trainBiases: true });
      const m = eg.sequential([base]);
      m.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy' });
      const d = await eg.data.loadDigits(), idx: number[] = [];
      for (let i = 0; idx.length < 16; i++) if (d.labels[i] < 5) idx.push(i);
      await m.fit(eg.data.gather(d.images, idx), eg.tensor(Int32Array.from(idx, (r) => d.labels[r]), [16], 'int32'), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as never);
      return Promise.all(m.getWeights().map(async (t) => await t.data() as Float32Array));
    };
    const want = await tuned(wasm), got = await tuned(gpu);
    want.forEach((w, i) => expectClose(got[i], w, 1e-4, `TinyTL weight ${i}`));
  });

  it('ONNX Cast models (float32 to float16 / bfloat16, onnx/backend/test) predict on webgpu as on wasm, bit for bit', async () => {
    for (const t of ['test_cast_FLOAT_to_FLOAT16', 'test_cast_FLOAT_to_BFLOAT16']) {
      const file = `/usr/share/libonnx-testdata/data/node/${t}/model.onnx`;
      if (!existsSync(file)) continue;
      const bytes = new Uint8Array(readFileSync(file));
      const run = async (be: Backend): Promise<Float32Array> => {
        setBackend(be);
        const m = await eg.loadModel(bytes);
        const shape = [3, ...m.inputShape];
        const n = shape.reduce((p, q) => p * q, 1);
        const x = Float32Array.from(probes().slice(0, n).concat(Array.from({ length: Math.max(0, n - probes().length) }, (_, i) => i * 1.0009765625)));
        const y = m.predict(eg.tensor(x, shape)) as Tensor;
        if (be === gpu) expect(y.location).toBe('webgpu');
        return await y.data() as Float32Array;
      };
      const want = await run(wasm);
      expect(bits(await run(gpu)), t).toEqual(bits(want));
    }
  });

  it("ONNX's node tests of integer, cast and quantization ops (onnx/backend/test) run on webgpu as on wasm, bit for bit", async () => {
    const DIR = '/usr/share/libonnx-testdata/data/node';
    if (!existsSync(DIR)) return;
    const names = readdirSync(DIR).filter((t) => /^test_(cast|castlike|quantizelinear|dequantizelinear|dynamicquantizelinear|div|mod|pow|round|clip|batchnorm)/.test(t));
    const FLOATS = new Set([1, 10, 11, 16]), INT = new Set([2, 3, 4, 5, 6, 7, 9, 12, 13]);
    const typeOf = (v: { type?: { tensorType?: { elemType?: number } } }) => v.type?.tensorType?.elemType ?? 0;
    const ran: string[] = [], failed: string[] = [];
    for (const name of names) {
      const dir = join(DIR, name), bytes = readFileSync(join(dir, 'model.onnx'));
      const m = onnx.ModelProto.decode(bytes);
      const inits = new Set(m.graph.initializer.map((i: { name: string }) => i.name));
      const ins = m.graph.input.filter((i: { name: string }) => !inits.has(i.name));
      const types: number[] = ins.map(typeOf);
      if (types.some((t) => !FLOATS.has(t) && !INT.has(t)) || m.graph.output.some((o: never) => !FLOATS.has(typeOf(o)) && !INT.has(typeOf(o)))) continue;
      const given = (k: number) => {
        const t = onnx.TensorProto.decode(readFileSync(join(dir, 'test_data_set_0', `input_${k}.pb`)));
        if (types[k] === 16 && t.dataType === 4) t.dataType = 16;
        const x = tensorData(t, name);
        return INT.has(types[k]) ? eg.tensor(Int32Array.from(x.data), x.dims, 'int32') : eg.tensor(x.data, x.dims);
      };
      const run = async (be: Backend): Promise<Float32Array[]> => {
        setBackend(be);
        const model = await eg.loadModel(bytes, { nonFinite: 'allow' });
        const xs = ins.map((_: unknown, k: number) => given(k));
        const ys = model.predict(xs.length === 1 && model.outputNames.length === 1 ? xs[0] : xs);
        const outs: Tensor[] = ys instanceof Tensor ? [ys] : Array.isArray(ys) ? ys : Object.values(ys);
        return Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
      };
      let want: Float32Array[];
      try { want = await run(wasm); } catch { continue; }
      ran.push(name);
      try {
        const got = await run(gpu);
        // a float Pow is WGSL's pow (exp2(y log2 x)) on the GPU: 9^3 = 729.0002 there, 729 on wasm; its integer
        // forms round (toInteger) and match exactly
        const close = (g: Float32Array, w: Float32Array) => g.every((v, i) => Math.abs(v - w[i]) <= 1e-6 * Math.abs(w[i]));
        const floatPow = name.startsWith('test_pow') && FLOATS.has(typeOf(m.graph.output[0]));
        if (got.some((g, k) => (floatPow ? !close(g, want[k]) : bits(g).join() !== bits(want[k]).join()))) failed.push(`${name}: differs`);
      } catch (err) {
        failed.push(`${name}: ${(err as Error).message}`);
      }
    }
    expect(failed).toEqual([]);
    expect(ran.length).toBeGreaterThanOrEqual(40);
  });

  it('an imported ONNX model with integer Div, Cast to float16 and QuantizeLinear runs on webgpu as on wasm', async () => {
    const FLOAT = 1, INT32 = 6, UINT8 = 2, FLOAT16 = 10;
    const vi = (name: string, elem: number, dims: number[]) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const init = (name: string, elem: number, raw: Uint8Array, dims: number[]) => ({ name, dims, dataType: elem, rawData: raw });
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'numbers',
        node: [
          { opType: 'Div', name: 'div', input: ['a', 'b'], output: ['q'] },
          { opType: 'Cast', name: 'half', input: ['x'], output: ['h'], attribute: [{ name: 'to', type: 2, i: FLOAT16 }] },
          { opType: 'Cast', name: 'back', input: ['h'], output: ['hf'], attribute: [{ name: 'to', type: 2, i: FLOAT }] },
          { opType: 'QuantizeLinear', name: 'quant', input: ['x', 's', 'z'], output: ['y'] },
        ],
        initializer: [init('s', FLOAT, new Uint8Array(Float32Array.of(0.05).buffer), []), init('z', UINT8, Uint8Array.of(100), [])],
        input: [vi('a', INT32, [2, 7]), vi('b', INT32, [2, 7]), vi('x', FLOAT, [3, 5])],
        output: [vi('q', INT32, [2, 7]), vi('hf', FLOAT, [3, 5]), vi('y', UINT8, [3, 5])],
      },
    })).finish();
    const a = Int32Array.from({ length: 14 }, (_, i) => (i * 37) % 201 - 100), b = Int32Array.from({ length: 14 }, (_, i) => ((i * 5) % 9) - 4 || 3);
    const x = Float32Array.from(data([3, 5], 41, -8, 8), (v, i) => (i % 4 === 0 ? Math.fround((Math.round(v * 20) + 0.5) * 0.05) : v));
    const run = async (be: Backend): Promise<number[][]> => {
      setBackend(be);
      const m = await eg.loadModel(bytes);
      const ys = m.predict([eg.tensor(a, [2, 7], 'int32'), eg.tensor(b, [2, 7], 'int32'), eg.tensor(x, [3, 5])]) as Tensor[];
      if (be === gpu) for (const t of ys) expect(t.location).toBe('webgpu');
      return Promise.all(ys.map(async (t) => Array.from(await t.data())));
    };
    const want = await run(wasm), got = await run(gpu);
    expect(got).toEqual(want);
    expect(want[0]).toEqual(Array.from(a, (v, i) => Math.trunc(v / b[i])));
    // an integer input beyond 2^24: wasm refuses it at once, webgpu at the next read, with the same message
    const big = a.slice();
    big[3] = 16777221;
    setBackend(wasm);
    const m = await eg.loadModel(bytes);
    const ins = () => [eg.tensor(big, [2, 7], 'int32'), eg.tensor(b, [2, 7], 'int32'), eg.tensor(x, [3, 5])];
    expect(() => m.predict(ins())).toThrow("input 'a' holds 16777221 at index 3");
    setBackend(gpu);
    const mg = await eg.loadModel(bytes);
    const ys = mg.predict(ins()) as Tensor[];
    await expect(ys[0].data()).rejects.toThrow("edgegrad.predict: input 'a' holds 16777221 at index 3: the model reads it as float32, exact only up to 2^24");
  });
});
