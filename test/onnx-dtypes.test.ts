// float16, bfloat16 and float64 at an ONNX model's boundary, and Cast / CastLike inside a float32 graph:
// predict takes and returns float32 tensors; a float16 / bfloat16 input or output holds exactly its type's
// values, and a Cast to float16 / bfloat16 / an integer type rounds as that type does. Checked against a
// rounding written here from arithmetic (not bit tricks: an independent derivation) and against ONNX Runtime.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { rng, useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { Graph } from '../src/graph/ir.js';
import { Plan } from '../src/graph/executor.js';
import { buildBackward } from '../src/autodiff.js';
import { tensor } from '../src/tensor.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const FLOAT = 1, STRING = 8, FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16, INT32 = 6;

/** Round half to even, in float64 (exact for the integers-and-halves it sees here). */
function roundEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * x (a float32) rounded to a binary format of `mant` stored mantissa bits, smallest normal exponent `emin`,
 * largest finite value `max`: to nearest, ties to even, subnormals below 2^emin, ±Infinity past the largest.
 */
function roundTo(x: number, mant: number, emin: number, max: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const q = 2 ** (Math.max(e, emin) - mant);
  const y = roundEven(a / q) * q;
  return Math.sign(x) * (y > max ? Infinity : y);
}
const refHalf = (x: number) => roundTo(x, 10, -14, 65504);
const refBf16 = (x: number) => roundTo(x, 7, -126, (2 - 2 ** -7) * 2 ** 127);

/** Half bits of an exact half value (for ONNX Runtime's float16 tensors), by arithmetic. */
function halfBits(h: number): number {
  const s = h < 0 || Object.is(h, -0) ? 0x8000 : 0, a = Math.abs(h);
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  return s | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
const bitsHalf = (b: number) => {
  const s = b & 0x8000 ? -1 : 1, e = (b >> 10) & 31, f = b & 1023;
  return e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
};

// ---- tiny ONNX models ----
const vi = (name: string, elemType: number, dims: number[]) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const node = (opType: string, input: string[], output: string[], attribute: unknown[] = []) => ({ opType, name: `${opType}_${output[0]}`, input, output, attribute });
const to = (t: number) => ({ name: 'to', type: 2, i: t });
function model(nodes: unknown[], inputs: unknown[], outputs: unknown[], initializer: unknown[] = [], opset = 15): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'dtypes', node: nodes, input: inputs, output: outputs, initializer },
  })).finish();
}

/** Values where rounding is delicate: every float16 tie point near 1 and in the subnormals, overflow, random. */
function hardValues(): Float32Array {
  const v: number[] = [0, -0, 1, -1, 65504, -65504, 65519.99, 65520, 65536, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 6e-8, 1e-9, 0.1, 1 / 3, 2 / 3, 3.4e38, -3.4e38, 2 ** -126, 2 ** -130];
  // float16 ties (halfway between neighbouring halves) and their float32 neighbours, over several binades
  for (const e of [-24, -20, -15, -14, -10, -1, 0, 1, 5, 10, 15]) {
    const q = 2 ** Math.max(e - 10, -24);
    for (let k = 0; k < 40; k++) {
      const tie = Math.fround(2 ** e + (k + 0.5) * q);
      v.push(tie, -tie, Math.fround(tie * (1 + 2 ** -23)), Math.fround(tie * (1 - 2 ** -23)));
    }
  }
  // bfloat16 ties near 1 and 1000
  for (const b of [1, 1000, 2 ** -120]) for (let k = 0; k < 40; k++) { const tie = Math.fround(b * (1 + (k + 0.5) * 2 ** -7)); v.push(tie, -tie, Math.fround(tie * (1 + 2 ** -23))); }
  const r = rng(7);
  for (let i = 0; i < 2000; i++) v.push((r() * 2 - 1) * 10 ** Math.floor(r() * 12 - 6));
  return Float32Array.from(v);
}

async function ortRun(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes);
  return s.run(feeds);
}

describe('float16, bfloat16 and float64 in ONNX models', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });

  it('the reference rounding is right on values known by hand', () => {
    expect([refHalf(1 + 2 ** -11), refHalf(1 + 3 * 2 ** -11), refHalf(65519), refHalf(65520), refHalf(2 ** -25), refHalf(3 * 2 ** -25)]).toEqual([1, 1 + 2 ** -9, 65504, Infinity, 0, 2 ** -23]);
    expect([refBf16(1 + 2 ** -8), refBf16(1 + 3 * 2 ** -8), refBf16(-(1 + 2 ** -8 + 2 ** -20))]).toEqual([1, 1 + 2 ** -6, -(1 + 2 ** -7)]);
    expect(bitsHalf(halfBits(refHalf(0.1)))).toBe(refHalf(0.1));
  });

  it('Cast to float16 / bfloat16 in a float graph rounds to nearest, ties to even, overflowing to ±Infinity', async () => {
    const xs = hardValues();
    for (const [type, ref] of [[FLOAT16, refHalf], [BFLOAT16, refBf16]] as const) {
      const bytes = model([node('Cast', ['x'], ['h'], [to(type)]), node('Cast', ['h'], ['y'], [to(FLOAT)])], [vi('x', FLOAT, [1, xs.length])], [vi('y', FLOAT, [1, xs.length])]);
      const m = await eg.loadModel(bytes);
      const got = (m.predict(eg.tensor(xs, [1, xs.length])) as eg.Tensor).dataSync();
      const bad = Array.from(xs.keys()).filter((i) => !Object.is(got[i], ref(xs[i])) && !(got[i] === 0 && ref(xs[i]) === 0));
      expect(bad.map((i) => `${xs[i]} -> ${got[i]}, want ${ref(xs[i])}`).slice(0, 5), `type ${type}`).toEqual([]);
    }
  });

  it('the float16 round trip agrees with ONNX Runtime', async () => {
    const xs = hardValues();
    const bytes = model([node('Cast', ['x'], ['h'], [to(FLOAT16)]), node('Cast', ['h'], ['y'], [to(FLOAT)])], [vi('x', FLOAT, [1, xs.length])], [vi('y', FLOAT, [1, xs.length])]);
    const theirs = (await ortRun(bytes, { x: new ort.Tensor('float32', xs, [1, xs.length]) })).y.data as Float32Array;
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(xs, [1, xs.length])) as eg.Tensor).dataSync();
    expect(Array.from(xs.keys()).filter((i) => ours[i] !== theirs[i]).map((i) => `${xs[i]}: ours ${ours[i]}, ORT ${theirs[i]}`).slice(0, 5)).toEqual([]);
  });

  it('the bfloat16 round trip agrees with ONNX Runtime (round to nearest even, as its Cast has it)', async () => {
    const xs = hardValues();
    const bytes = model([node('Cast', ['x'], ['h'], [to(BFLOAT16)]), node('Cast', ['h'], ['y'], [to(FLOAT)])], [vi('x', FLOAT, [1, xs.length])], [vi('y', FLOAT, [1, xs.length])]);
    const theirs = (await ortRun(bytes, { x: new ort.Tensor('float32', xs, [1, xs.length]) })).y.data as Float32Array;
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(xs, [1, xs.length])) as eg.Tensor).dataSync();
    expect(Array.from(xs.keys()).filter((i) => ours[i] !== theirs[i]).map((i) => `${xs[i]}: ours ${ours[i]}, ORT ${theirs[i]}`).slice(0, 5)).toEqual([]);
  });

  it('a float16 model: inputs take float32 tensors rounded to halves, outputs are halves as float32; as ONNX Runtime computes it', async () => {
    const bytes = model([node('Add', ['a', 'b'], ['s']), node('Mul', ['s', 'a'], ['y'])], [vi('a', FLOAT16, [2, 4]), vi('b', FLOAT16, [2, 4])], [vi('y', FLOAT16, [2, 4])]);
    const a = Float32Array.of(0.1, 1 / 3, -2.7, 100.3, 7e-6, 3.14159, -0.001, 20), b = Float32Array.of(0.2, 1 / 7, 1.1, -50.1, 1e-5, 2.71828, 0.5, 1000.7);
    const m = await eg.loadModel(bytes);
    const y = m.predict([eg.tensor(a, [2, 4]), eg.tensor(b, [2, 4])]) as eg.Tensor;
    expect(y.dtype).toBe('float32');
    const ours = y.dataSync();
    // each output a half; the same as float16 arithmetic (sum and product rounded once each) on these values
    for (let i = 0; i < ours.length; i++) expect(ours[i], `element ${i}`).toBe(refHalf(ours[i]));
    const h = (v: Float32Array) => new ort.Tensor('float16', Uint16Array.from(v, (x) => halfBits(refHalf(x))), [2, 4]);
    const theirs = Array.from((await ortRun(bytes, { a: h(a), b: h(b) })).y.data as Uint16Array, bitsHalf);
    expect(Array.from(ours)).toEqual(theirs);
    // edgegrad computes in float32 between the boundaries and rounds the output once (half inputs, float32
    // sum and product, one rounding): float16 arithmetic rounding after each op could differ in the last bit
    const want = Array.from(a, (v, i) => refHalf(Math.fround(Math.fround(refHalf(v) + refHalf(b[i])) * refHalf(v))));
    expect(Array.from(ours)).toEqual(want);
    // exported, the roundings are Casts to float16 and back (float32 inputs and outputs): ONNX Runtime agrees
    const again = await ortRun(await eg.toOnnx(m), { a: new ort.Tensor('float32', a, [2, 4]), b: new ort.Tensor('float32', b, [2, 4]) });
    expect(Array.from(Object.values(again)[0].data as Float32Array)).toEqual(want);
  });

  it('a float16 image (NCHW) keeps its layout through the rounding at both ends; as ONNX Runtime computes it', async () => {
    const w = { name: 'w', dims: [3, 2, 1, 1], dataType: FLOAT16, int32Data: [0.5, -1, 0.25, 2, 1 / 3, 3].map((v) => halfBits(refHalf(v))) };
    const bytes = model([node('Conv', ['x', 'w'], ['c']), node('Relu', ['c'], ['y'])], [vi('x', FLOAT16, [1, 2, 3, 4])], [vi('y', FLOAT16, [1, 3, 3, 4])], [w]);
    const r = rng(3), x = Float32Array.from({ length: 24 }, () => r() * 4 - 2);
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(x, [1, 2, 3, 4])) as eg.Tensor).dataSync();
    const theirs = Array.from((await ortRun(bytes, { x: new ort.Tensor('float16', Uint16Array.from(x, (v) => halfBits(refHalf(v))), [1, 2, 3, 4]) })).y.data as Uint16Array, bitsHalf);
    // a 1x1 conv of two channels: the float32 sum of two half products rounds once, as ONNX Runtime's MLAS does
    expect(Array.from(ours)).toEqual(theirs);
  });

  it('a float64 model takes and returns float32 tensors, values as float32 holds them; as ONNX Runtime computes it', async () => {
    const w = Float64Array.of(0.1, -2.5, 3, 1e-3);
    const bytes = model([node('Mul', ['x', 'w'], ['y'])], [vi('x', DOUBLE, [1, 4])], [vi('y', DOUBLE, [1, 4])], [{ name: 'w', dims: [4], dataType: DOUBLE, rawData: new Uint8Array(w.buffer) }]);
    const x = Float32Array.of(1.5, 0.25, -7, 1000);
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(x, [1, 4])) as eg.Tensor).dataSync();
    const theirs = (await ortRun(bytes, { x: new ort.Tensor('float64', Float64Array.from(x), [1, 4]) })).y.data as Float64Array;
    for (let i = 0; i < 4; i++) expect(ours[i]).toBe(Math.fround(theirs[i]));
    // float64 data makes a float32 tensor, each value rounded to float32
    const d = Float64Array.of(0.1, 1 / 3, 1e-50, 1e300);
    const t = eg.tensor(d, [1, 4]);
    expect([t.dtype, ...t.dataSync()]).toEqual(['float32', ...Array.from(d, Math.fround)]);
  });

  it('Cast to an integer type truncates toward zero, as ONNX Runtime does; Cast to bool is 0 or 1', async () => {
    const xs = Float32Array.of(-2.9, -1.5, -0.5, -0, 0.49, 0.5, 1.5, 2.5, 1e6 + 0.5, 7.99);
    const bytes = model([node('Cast', ['x'], ['i'], [to(INT32)]), node('Cast', ['i'], ['y'], [to(FLOAT)])], [vi('x', FLOAT, [1, xs.length])], [vi('y', FLOAT, [1, xs.length])]);
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(xs, [1, xs.length])) as eg.Tensor).dataSync();
    const theirs = (await ortRun(bytes, { x: new ort.Tensor('float32', xs, [1, xs.length]) })).y.data as Float32Array;
    expect(Array.from(ours, (v) => v + 0)).toEqual(Array.from(theirs, (v) => v + 0));
    expect(Array.from(ours, (v) => v + 0)).toEqual([-2, -1, -0, 0, 0, 0, 1, 2, 1e6, 7].map((v) => v + 0));
    const b = model([node('Cast', ['x'], ['t'], [to(9)]), node('Cast', ['t'], ['y'], [to(FLOAT)])], [vi('x', FLOAT, [1, 4])], [vi('y', FLOAT, [1, 4])]);
    expect(Array.from(((await eg.loadModel(b)).predict(eg.tensor([[0, 0.25, -3, -0]])) as eg.Tensor).dataSync())).toEqual([0, 1, 1, 0]);
  });

  it('CastLike casts to the type of its second input; constants cast at load round too', async () => {
    const like = { name: 'like', dims: [1], dataType: FLOAT16, int32Data: [0] };
    const k = { name: 'k', dims: [1], dataType: FLOAT, floatData: [0.1] };
    const bytes = model([node('CastLike', ['x', 'like'], ['h']), node('Cast', ['k'], ['kh'], [to(FLOAT16)]), node('Cast', ['kh'], ['k32'], [to(FLOAT)]), node('Cast', ['h'], ['h32'], [to(FLOAT)]), node('Add', ['h32', 'k32'], ['y'])],
      [vi('x', FLOAT, [1, 3])], [vi('y', FLOAT, [1, 3])], [like, k]);
    const x = Float32Array.of(1 / 3, 1000.3, -5e-6);
    const ours = ((await eg.loadModel(bytes)).predict(eg.tensor(x, [1, 3])) as eg.Tensor).dataSync();
    expect(Array.from(ours)).toEqual(Array.from(x, (v) => Math.fround(refHalf(v) + refHalf(0.1))));
    const theirs = (await ortRun(bytes, { x: new ort.Tensor('float32', x, [1, 3]) })).y.data as Float32Array;
    expect(Array.from(ours)).toEqual(Array.from(theirs));
  });

  it('a bfloat16 input rounds what predict is given; summary lists declared types beside predict\'s', async () => {
    const bytes = model([node('Cast', ['x'], ['y'], [to(FLOAT)])], [vi('x', BFLOAT16, [1, 3])], [vi('y', FLOAT, [1, 3])]);
    const m = await eg.loadModel(bytes);
    const x = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 / 3);
    expect(Array.from((m.predict(eg.tensor(x, [1, 3])) as eg.Tensor).dataSync())).toEqual(Array.from(x, refBf16));
    expect(m.summary({ print: false })).toContain('Inputs: x bfloat16 (float32 in predict) [batch, 3]');
    expect(m.summary({ print: false })).toContain('Outputs: y float32 [batch, 3]');
    const h = await eg.loadModel(model([node('Cast', ['x'], ['y'], [to(FLOAT16)])], [vi('x', DOUBLE, [1, 3])], [vi('y', FLOAT16, [1, 3])]));
    expect(h.summary({ print: false })).toMatch(/Inputs: x float64 \(float32 in predict\) \[batch, 3\]\nOutputs: y float16 \(float32 in predict\) \[batch, 3\]/);
  });

  it('gradients pass straight through a float16 cast', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 3]);
    const w = g.param('w', tensor(Float32Array.of(0.1, 1 / 3, 2.7), [3]), true);
    const [c] = g.node('cast', [w], { to: 'float16' }, 'c');
    const [y] = g.node('mul', [x, c], {}, 'y');
    const dy = g.input('dy', [-1, 3]);
    const grads = buildBackward(g, new Map([[y, dy]]), [w]);
    const plan = new Plan(g, { batch: 2, training: true, keep: [y, ...grads.values()] });
    plan.view(x).set([1, 2, 3, 4, 5, 6]);
    plan.view(dy).set([1, 1, 1, 0.5, 0.5, 0.5]);
    plan.run();
    expect(Array.from(plan.view(y))).toEqual([1, 2, 3, 4, 5, 6].map((v, i) => Math.fround(v * refHalf([0.1, 1 / 3, 2.7][i % 3]))));
    // d/dw sum(dy * x * cast(w)) = sum over the batch of dy * x, as if the cast were not there
    expect(Array.from(plan.view(grads.get(w)!))).toEqual([1 + 2, 2 + 2.5, 3 + 3]);
    plan.dispose();
  });

  it('strings, sequences and optionals are refused at load, naming the input or output and its type', async () => {
    const str = model([node('Cast', ['x'], ['y'], [to(FLOAT)])], [vi('x', STRING, [3])], [vi('y', FLOAT, [3])]);
    await expect(eg.loadModel(str)).rejects.toThrow(/input 'x' is a string tensor: .*out of its scope/);
    const toStr = model([node('Cast', ['x'], ['y'], [to(STRING)])], [vi('x', FLOAT, [1, 3])], [vi('y', STRING, [1, 3])]);
    await expect(eg.loadModel(toStr)).rejects.toThrow(/output 'y' is a string tensor/);
    const seqType = { sequenceType: { elemType: { tensorType: { elemType: FLOAT } } } };
    const seq = model([node('Identity', ['x'], ['y'])], [{ name: 'x', type: seqType }], [{ name: 'y', type: seqType }], [], 16);
    await expect(eg.loadModel(seq)).rejects.toThrow(/input 'x' is a sequence: .*sequence, optional, map and sparse types are out of its scope/);
    const optType = { optionalType: { elemType: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 3 }] } } } } };
    const opt = model([node('Identity', ['x'], ['y'])], [vi('x', FLOAT, [1, 3])], [{ name: 'y', type: optType }], [], 16);
    await expect(eg.loadModel(opt)).rejects.toThrow(/output 'y' is an optional/);
  });
});
