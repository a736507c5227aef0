// ONNX LSTM / GRU / RNN against ONNX Runtime (onnxruntime-web, wasm, in Node): the fixtures of
// scripts/export-recurrent.py (PyTorch's exports, both batch layouts, two layers, both directions, states as
// inputs; by hand what PyTorch never writes: peepholes, linear_before_reset 0, layout 1, reverse, activations)
// load and match every output within 1e-5 of its scale; models built with the recurrent layers export and
// ONNX Runtime runs them to model.predict's outputs; what edgegrad does not read is refused by name.
import { describe, expect, it, beforeAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { BACKENDS, useBuild, maxRelDiff, randArr } from './helpers.js';
import * as eg from '../src/index.js';
import type { GraphModel } from '../src/graph-model.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const dir = join(import.meta.dirname, 'fixtures', 'recurrent');
/** layout-1 files have a layout-0 twin (the same node between Transposes): ONNX Runtime runs layout 0 only */
const FIXTURES = readdirSync(dir).filter((f) => f.endsWith('.onnx') && !f.endsWith('.layout0.onnx')).sort();
const TOL = 1e-5;

/** Random inputs by the file's declared shapes (a dynamic batch as 3), as ONNX Runtime and edgegrad tensors. */
function inputsOf(bytes: Uint8Array, seed: number): Array<{ name: string; dims: number[]; data: Float32Array }> {
  const m = onnx.ModelProto.decode(bytes);
  const inits = new Set(m.graph.initializer.map((i: { name: string }) => i.name));
  return m.graph.input.filter((i: { name: string }) => !inits.has(i.name)).map((i: any, k: number) => {
    const dims: number[] = i.type.tensorType.shape.dim.map((d: { dimValue?: unknown }) => (d.dimValue ? Number(d.dimValue) : 3));
    return { name: i.name as string, dims, data: randArr(dims, seed + k).data };
  });
}

async function runOrt(bytes: Uint8Array, ins: Array<{ name: string; dims: number[]; data: Float32Array }>): Promise<Record<string, { dims: readonly number[]; data: Float32Array }>> {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run(Object.fromEntries(ins.map((i) => [i.name, new ort.Tensor('float32', i.data, i.dims)])));
  return Object.fromEntries(s.outputNames.map((o) => [o, { dims: r[o].dims, data: r[o].data as Float32Array }]));
}

/** max |ours - ORT| / max |ORT| over every output of a fixture; shapes must agree */
async function compare(file: string): Promise<Record<string, number>> {
  const bytes = readFileSync(join(dir, file));
  const oracle = file.includes('layout1') ? readFileSync(join(dir, file.replace('.onnx', '.layout0.onnx'))) : bytes;
  const m = (await eg.loadModel(bytes)) as GraphModel;
  const ins = inputsOf(bytes, 11);
  const want = await runOrt(oracle, ins);
  const ys = m.predict(ins.map((i) => eg.tensor(i.data, i.dims)));
  const got = (Array.isArray(ys) ? ys : [ys]) as eg.Tensor[];
  expect(m.outputNames.sort()).toEqual(Object.keys(want).sort());
  const diffs: Record<string, number> = {};
  m.outputNames.forEach((o, k) => {
    expect(got[k].shape, `${file}: ${o}`).toEqual([...want[o].dims]);
    diffs[o] = maxRelDiff(got[k].dataSync(), want[o].data);
  });
  return diffs;
}

/** A model with one node built with onnx-proto: X [T, B, F] -> op -> Y (for the refusals). */
function oneNode(op: string, attribute: unknown[], extra: { gates?: number; inputs?: string[]; h0?: boolean; steps?: string } = {}): Uint8Array {
  const H = 3, F = 2, G = extra.gates ?? { LSTM: 4, GRU: 3, RNN: 1 }[op]!;
  const t = (name: string, dims: number[]) => ({ name, dims, dataType: 1, floatData: Array.from(randArr(dims, 3).data) });
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'edgegrad-test', opsetImport: [{ domain: '', version: 14 }],
    graph: {
      name: 'one', node: [{ opType: op, name: 'the_rnn', input: extra.inputs ?? ['X', 'W', 'R'], output: ['Y'], attribute: [{ name: 'hidden_size', type: 2, i: H }, ...attribute] }],
      input: [extra.steps ? { name: 'X', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: extra.steps }, { dimValue: 2 }, { dimValue: F }] } } } } : vi('X', [4, 2, F]), ...(extra.inputs?.includes('lens') ? [{ name: 'lens', type: { tensorType: { elemType: 6, shape: { dim: [{ dimValue: 2 }] } } } }] : [])],
      output: [vi('Y', [4, 1, 2, H])], initializer: [t('W', [1, G * H, F]), t('R', [1, G * H, H]), ...(extra.h0 ? [t('h0', [1, 2, H])] : [])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
const str = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });

describe('ONNX recurrent ops against ONNX Runtime', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });

  it.each(FIXTURES)('%s: every output within 1e-5 of its scale, on every build', async (file) => {
    try {
      for (const build of BACKENDS) {
        useBuild(build);
        const diffs = await compare(file);
        for (const [o, d] of Object.entries(diffs)) expect(d, `${file} (${build}): ${o}`).toBeLessThan(TOL);
      }
    } finally {
      useBuild('simd');
    }
  });

  it('a layout-0 X is read with its batch on axis 1 (predict takes [T, batch, F] and any batch size)', async () => {
    const m = (await eg.loadModel(readFileSync(join(dir, 'lstm_time_major.onnx')))) as GraphModel;
    expect(m.boundary.inputs[0]).toMatchObject({ shape: [6, 5], batchAxis: 1 });
    expect(m.summary({ print: false })).toMatch(/Inputs: x float32 \[6, batch, 5\]\nOutputs: y float32 \[6, batch, 7\]; h_n float32 \[1, batch, 7\]; c_n/);
    const [y, h] = m.predict([eg.tensor(randArr([6, 5, 5], 2).data, [6, 5, 5])]) as eg.Tensor[];
    expect(y.shape).toEqual([6, 5, 7]);
    expect(h.shape).toEqual([1, 5, 7]);
    expect(() => m.predict([eg.tensor(randArr([5, 6, 5], 2).data, [5, 6, 5])])).toThrow(/expects input \[6, batch, 5\], got \[5,6,5\]/);
  });

  it('a constant initial state (one row for all) serves any batch size', async () => {
    const m = (await eg.loadModel(readFileSync(join(dir, 'lstm_peepholes.onnx')))) as GraphModel;
    const x2 = randArr([6, 2, 5], 4), x3 = new Float32Array(6 * 3 * 5);
    // batch 3: the same two examples and a third (X is [T, batch, F])
    for (let t = 0; t < 6; t++) { x3.set(x2.data.subarray(t * 10, t * 10 + 10), t * 15); x3.set(randArr([5], t).data, t * 15 + 10); }
    const y2 = (m.predict([eg.tensor(x2.data, [6, 2, 5])]) as eg.Tensor[])[0].dataSync(), y3 = (m.predict([eg.tensor(x3, [6, 3, 5])]) as eg.Tensor[])[0].dataSync();
    for (let t = 0; t < 6; t++) expect(maxRelDiff(y3.subarray(t * 12, t * 12 + 8), y2.subarray(t * 8, t * 8 + 8))).toBeLessThan(1e-6);
  });

  it('states as inputs share the batch of X, on their own batch axis', async () => {
    const m = (await eg.loadModel(readFileSync(join(dir, 'lstm_2layers_states_batch_first.onnx')))) as GraphModel;
    expect(m.boundary.inputs.map((i) => i.batchAxis ?? 0)).toEqual([0, 1, 1]);
    const x = eg.tensor(randArr([4, 6, 5], 1).data, [4, 6, 5]), h = eg.tensor(randArr([2, 4, 7], 2).data, [2, 4, 7]);
    expect((m.predict([x, h, h]) as eg.Tensor[])[0].shape).toEqual([4, 6, 7]);
    expect(() => m.predict([x, eg.tensor(randArr([2, 3, 7], 2).data, [2, 3, 7]), h])).toThrow(/different batch sizes \(4, 3, 4\)/);
  });

  it.each([
    ['clip', oneNode('LSTM', [{ name: 'clip', type: 1, f: 3 }]), /ONNX op 'LSTM' \(node 'the_rnn', opset 14\): clip 3/],
    ['input_forget', oneNode('LSTM', [{ name: 'input_forget', type: 2, i: 1 }]), /'the_rnn'.*input_forget 1/],
    ['an activation edgegrad has no cell for', oneNode('RNN', [{ name: 'activations', type: 8, strings: [new TextEncoder().encode('Softsign')] }]), /'the_rnn'.*activation 'Softsign'/],
    ['different g and h activations', oneNode('LSTM', [{ name: 'activations', type: 8, strings: ['Sigmoid', 'Tanh', 'Relu'].map((s) => new TextEncoder().encode(s)) }]), /'the_rnn'.*\(g, h\) must be the same/],
    ['activation_alpha', oneNode('GRU', [{ name: 'activation_alpha', type: 6, floats: [0.1] }]), /'the_rnn'.*activation_alpha/],
    ['a constant initial state whose rows differ (it fixes the batch)', oneNode('RNN', [], { inputs: ['X', 'W', 'R', '', '', 'h0'], h0: true }), /'the_rnn'.*initial_h is a constant \[1,2,3\] whose rows differ per example: it fixes the batch at 2/],
    ['a dynamic sequence length', oneNode('LSTM', [], { steps: 'time' }), /input 'X' has dynamic dimensions \[-1,-1,2\] beyond the batch \(a recurrent model runs a fixed number of steps here: export it with a fixed sequence length\)/],
    ['a direction ONNX does not have', oneNode('RNN', [str('direction', 'sideways')]), /'the_rnn'.*direction 'sideways'/],
  ])('refuses %s, naming the node', async (_what, bytes, msg) => {
    await expect(eg.loadModel(bytes)).rejects.toThrow(msg);
  });
});

describe('recurrent layers exported to ONNX', () => {
  beforeAll(() => { useBuild('simd'); ort.env.wasm.numThreads = 1; });
  const T = 5, F = 4;

  async function roundTrip(model: eg.Model, batch = 3): Promise<number> {
    const x = randArr([batch, T, F], 9);
    const ours = (await model.predict(eg.tensor(x.data, x.shape))) as eg.Tensor;
    const bytes = await eg.toOnnx(model);
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) });
    const theirs = r[s.outputNames[0]];
    expect([...theirs.dims]).toEqual(ours.shape);
    return maxRelDiff(ours.dataSync(), theirs.data as Float32Array);
  }

  it('lstm -> gru -> simpleRNN, sequences out', async () => {
    const m = eg.sequential([
      eg.layers.lstm({ units: 6, returnSequences: true, inputShape: [T, F] }),
      eg.layers.gru({ units: 5, returnSequences: true }),
      eg.layers.simpleRNN({ units: 4, returnSequences: true }),
    ]);
    expect(await roundTrip(m)).toBeLessThan(TOL);
  });

  it('GRU reset before, hardSigmoid and relu activations, goBackwards, last step only', async () => {
    const m = eg.sequential([
      eg.layers.gru({ units: 5, resetAfter: false, recurrentActivation: 'hardSigmoid', returnSequences: true, goBackwards: true, inputShape: [T, F] }),
      eg.layers.lstm({ units: 4, activation: 'relu', goBackwards: true, returnSequences: true }),
      eg.layers.simpleRNN({ units: 3, activation: 'relu' }),
    ]);
    expect(await roundTrip(m)).toBeLessThan(TOL);
  });

  it('linear activations (ONNX Affine with its alpha and beta written)', async () => {
    const m = eg.sequential([
      eg.layers.lstm({ units: 4, activation: 'linear', recurrentActivation: 'hardSigmoid', returnSequences: true, inputShape: [T, F] }),
      eg.layers.gru({ units: 3, activation: 'linear', returnSequences: true }),
      eg.layers.simpleRNN({ units: 3, activation: 'linear' }),
    ]);
    expect(await roundTrip(m)).toBeLessThan(TOL);
  });

  it('bidirectional LSTM (concat) and GRU (sum), peepholes, then a dense head', async () => {
    const m = eg.sequential([
      eg.layers.bidirectional({ layer: eg.layers.lstm({ units: 4, returnSequences: true, usePeepholes: true }), inputShape: [T, F] }),
      eg.layers.bidirectional({ layer: eg.layers.gru({ units: 3 }), mergeMode: 'sum' }),
      eg.layers.dense({ units: 2 }),
    ]);
    expect(await roundTrip(m, 2)).toBeLessThan(TOL);
  });

  it('initial states and returnState (an encoder\'s final h, c start a decoder), no bias: every output', async () => {
    const inp = eg.input({ shape: [T, F] });
    const [, h, c] = eg.layers.lstm({ units: 4, returnState: true, useBias: false }).applyAll(inp);
    const [y, h2] = eg.layers.gru({ units: 4, returnSequences: true, returnState: true }).applyAll([inp, h]);
    const z = eg.layers.lstm({ units: 4, returnSequences: true, goBackwards: true }).apply([y, h2, c]);
    const m = eg.model({ inputs: inp, outputs: [z, h2, c] });
    const x = randArr([3, T, F], 5);
    const ours = (await m.predict([eg.tensor(x.data, x.shape)])) as eg.Tensor[];
    const s = await ort.InferenceSession.create(await eg.toOnnx(m));
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) });
    s.outputNames.forEach((o, k) => {
      expect([...r[o].dims]).toEqual(ours[k].shape);
      expect(maxRelDiff(ours[k].dataSync(), r[o].data as Float32Array), o).toBeLessThan(TOL);
    });
  });

  it('a stateful layer is refused by name (ONNX states start from the inputs every run)', async () => {
    const m = eg.sequential([eg.layers.lstm({ units: 3, stateful: true, batchSize: 2, inputShape: [T, F], name: 'carry' })]);
    await expect(eg.toOnnx(m)).rejects.toThrow(/node 'carry.*\(lstm\): a stateful recurrent layer carries its states between batches/);
  });

  it("an imported model exports again and ONNX Runtime agrees with the original's outputs", async () => {
    for (const file of ['lstm_bidirectional_2layers_time_major.onnx', 'gru_linear_before_reset_0.onnx', 'lstm_peepholes.onnx', 'lstm_head.onnx']) {
      const bytes = readFileSync(join(dir, file));
      const m = (await eg.loadModel(bytes)) as GraphModel;
      const ins = inputsOf(bytes, 4);
      const want = await runOrt(bytes, ins), again = await runOrt(await eg.toOnnx(m), ins);
      for (const o of Object.keys(want)) expect(maxRelDiff(again[o].data, want[o].data), `${file}: ${o}`).toBeLessThan(TOL);
    }
  });
});
