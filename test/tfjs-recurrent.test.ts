// TensorFlow.js layers models with recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional, TimeDistributed,
// Embedding) against TensorFlow.js: the fixtures of scripts/make-tfjs-recurrent.mjs (model.json + shard, an
// input batch and tfjs's outputs), one model built, saved and run by tfjs live, and what the import refuses.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BACKENDS, useBuild, maxRelDiff, rng } from './helpers.js';
import * as eg from '../src/index.js';

const root = join(import.meta.dirname, 'fixtures', 'tfjs-recurrent');
const names = readdirSync(root).sort();
interface Io { note: string; input: { shape: number[]; dtype: 'float32' | 'int32'; data: number[] }; output: { shape: number[]; data: number[] } }
const io = (name: string): Io => JSON.parse(readFileSync(join(root, name, 'io.json'), 'utf8'));
const fixture = (name: string) => ({ modelJson: JSON.parse(readFileSync(join(root, name, 'model.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(root, name, 'group1-shard1of1.bin'))) });
const input = ({ input: i }: Io) => eg.tensor(i.dtype === 'int32' ? Int32Array.from(i.data) : Float32Array.from(i.data), i.shape, i.dtype);

describe('TensorFlow.js recurrent import', () => {
  beforeAll(async () => { useBuild('simd'); await tf.setBackend('cpu'); });

  it('covers the fixtures the script writes', () => {
    expect(names).toEqual(expect.arrayContaining(['lstm_last', 'lstm_seq_sigmoid', 'lstm_unit_forget_bias', 'gru_reset_before', 'gru_reset_after', 'simple_rnn_tanh',
      'simple_rnn_relu', 'bidi_lstm_concat', 'bidi_lstm_sum', 'lstm_go_backwards', 'stack_lstm_dense', 'text_classifier', 'lstm_time_distributed', 'masking_lstm_stack', 'mask_zero_bidi_gru']));
  });

  for (const name of names) {
    it(`${name} matches TensorFlow.js (${io(name).note})`, async () => {
      const want = io(name);
      const m = await eg.loadModel(join(root, name, 'model.json'));
      const y = m.predict(input(want));
      expect(y.shape).toEqual(want.output.shape);
      const d = maxRelDiff(y.dataSync(), want.output.data);
      console.log(`${name}: max |edgegrad - tfjs| / max |tfjs| = ${d.toExponential(2)}`);
      expect(d).toBeLessThan(1e-5);
    });
  }

  it("eg.layers given the fixtures' weights in tfjs's order give tfjs's outputs too", () => {
    const L = eg.layers, inputShape = [5, 3], hard = 'hardSigmoid' as const;
    const cases: Record<string, () => eg.Layer[]> = {
      lstm_go_backwards: () => [L.lstm({ units: 4, goBackwards: true, returnSequences: true, activation: 'relu', recurrentActivation: hard, inputShape })],
      lstm_no_bias: () => [L.lstm({ units: 4, useBias: false, recurrentActivation: hard, inputShape })],
      gru_seq_backwards: () => [L.gru({ units: 4, resetAfter: false, goBackwards: true, returnSequences: true, inputShape })],
      gru_reset_after: () => [L.gru({ units: 4, returnSequences: true, inputShape })],
      simple_rnn_relu: () => [L.simpleRNN({ units: 5, activation: 'relu', inputShape })],
      bidi_rnn_mul: () => [L.bidirectional({ layer: L.simpleRNN({ units: 4, returnSequences: true }), mergeMode: 'mul', inputShape })],
      lstm_time_distributed: () => [L.lstm({ units: 5, returnSequences: true, recurrentActivation: hard, inputShape }), L.timeDistributed({ layer: L.dense({ units: 3, activation: 'tanh' }) })],
    };
    for (const [name, layers] of Object.entries(cases)) {
      const { modelJson, weights } = fixture(name), f = new Float32Array(weights.buffer, weights.byteOffset, weights.length / 4);
      let off = 0;
      const model = eg.sequential(layers());
      model.setWeights(modelJson.weightsManifest[0].weights.map((w: { shape: number[] }) => { const n = w.shape.reduce((a, b) => a * b, 1); return eg.tensor(f.slice(off, off += n), w.shape); }));
      const want = io(name);
      expect(maxRelDiff(model.predict(input(want)).dataSync(), want.output.data), name).toBeLessThan(1e-5);
    }
  });

  it('every backend build agrees on the Bidirectional and stacked models', async () => {
    for (const build of BACKENDS) {
      useBuild(build);
      for (const name of ['bidi_lstm_concat', 'bidi_gru_ave_functional', 'stack_lstm_dense', 'gru_reset_after']) {
        const want = io(name);
        const m = await eg.loadModel(fixture(name));
        expect(maxRelDiff(m.predict(input(want)).dataSync(), want.output.data), `${name} on ${build}`).toBeLessThan(1e-5);
      }
    }
    useBuild('simd');
  });

  it('a model tfjs builds, saves and runs here, now: Bidirectional(GRU) -> LSTM -> TimeDistributed(Dense)', async () => {
    const [T, F] = [7, 4];
    const model = tf.sequential({ layers: [
      tf.layers.bidirectional({ layer: tf.layers.gru({ units: 6, returnSequences: true }), mergeMode: 'concat', inputShape: [T, F] }),
      tf.layers.lstm({ units: 5, returnSequences: true, goBackwards: true, recurrentActivation: 'sigmoid' }),
      tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2, activation: 'softmax' }) }),
    ] });
    const r = rng(42);
    model.setWeights(model.weights.map((w) => { const shape = w.shape as number[]; return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() - 0.5), shape); }));
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-tfjs-rnn-'));
    await model.save(tf.io.withSaveHandler(async (a) => {
      writeFileSync(join(dir, 'weights.bin'), new Uint8Array(tf.io.concatenateArrayBuffers([a.weightData!].flat())));
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const x = eg.randomUniform([4, T, F], -1, 1, 3);
    const want = (model.predict(tf.tensor(x.dataSync(), [4, T, F])) as tf.Tensor).dataSync();
    const m = await eg.loadModel(join(dir, 'model.json'));
    const y = m.predict(x);
    expect(y.shape).toEqual([4, T, 2]);
    const d = maxRelDiff(y.dataSync(), want);
    console.log(`live Bidirectional(GRU) -> LSTM -> TimeDistributed(Dense): ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-5);
  });

  it('an imported Bidirectional(GRU) model fine-tunes: BPTT through the imported nodes lowers the loss', async () => {
    const model = eg.sequential([await eg.loadModel(fixture('bidi_gru_ave_functional'))]);
    model.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'categoricalCrossentropy' });
    const x = eg.randomUniform([16, 5, 3], -1, 1, 1);
    const y = eg.tensor(Float32Array.from({ length: 48 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), [16, 3]);
    const { loss } = (await model.fit(x, y, { epochs: 20, batchSize: 16 })).history;
    expect(loss[loss.length - 1]).toBeLessThan(0.9 * loss[0]);
  });

  it("Keras's explicit backward_layer: its own name and weights", async () => {
    const { modelJson, weights } = fixture('bidi_lstm_sum');
    const bidi = modelJson.modelTopology.config.layers[0].config;
    bidi.backward_layer = { class_name: 'LSTM', config: { ...bidi.layer.config, name: 'rev', go_backwards: true } };
    for (const w of modelJson.weightsManifest[0].weights) w.name = w.name.replace('backward_lstm', 'rev');
    const want = io('bidi_lstm_sum');
    expect(maxRelDiff((await eg.loadModel({ modelJson, weights })).predict(input(want)).dataSync(), want.output.data)).toBeLessThan(1e-5);
  });

  it("Keras's own weight names (tensorflowjs_converter of a TF 2 model: a cell scope inside the layer's)", async () => {
    for (const [name, rename] of [['bidi_lstm_concat', (n: string) => n.replace(/(ward_lstm)\//, '$1/lstm_cell_1/')], ['gru_reset_after', (n: string) => n.replace('gru/', 'gru/gru_cell/')]] as const) {
      const { modelJson, weights } = fixture(name);
      for (const w of modelJson.weightsManifest[0].weights) w.name = rename(w.name);
      Object.assign(modelJson.modelTopology.config.layers[0].config.layer?.config ?? modelJson.modelTopology.config.layers[0].config, { time_major: false, unroll: false, implementation: 2 });
      const want = io(name);
      expect(maxRelDiff((await eg.loadModel({ modelJson, weights })).predict(input(want)).dataSync(), want.output.data), name).toBeLessThan(1e-5);
    }
  });

  it('token ids of the Embedding model are int32; a float input is refused with how to pass them', async () => {
    const want = io('text_classifier');
    const m = await eg.loadModel(fixture('text_classifier'));
    expect(() => m.predict(eg.tensor(Float32Array.from(want.input.data), want.input.shape))).toThrow(/must be int32/);
  });

  it('refuses what it cannot run, naming the layer and the option', async () => {
    const edit = async (name: string, f: (layers: Array<{ class_name: string; config: Record<string, unknown> }>) => void) => {
      const { modelJson, weights } = fixture(name);
      f(modelJson.modelTopology.config.layers);
      return eg.loadModel({ modelJson, weights });
    };
    await expect(edit('lstm_last', (l) => { l[0].config.stateful = true; })).rejects.toThrow(/layer 'lstm' \(LSTM\): stateful true is not supported/);
    await expect(edit('simple_rnn_relu', (l) => { l[0].config.activation = 'softsign'; })).rejects.toThrow(/layer 'rnn' \(SimpleRNN\): activation 'softsign' is not supported/);
    await expect(edit('gru_reset_before', (l) => { l[0].config.reset_after = true; })).rejects.toThrow(/layer 'gru' \(GRU\): weight 'bias' is \[15\], not \[2,15\]/);
    await expect(edit('bidi_lstm_sum', (l) => { l[0].config.merge_mode = 'max'; })).rejects.toThrow(/layer 'bidi': merge_mode "max" is not supported/);
    await expect(edit('text_bidi_maxpool', (l) => { l[0].config.mask_zero = true; })).rejects.toThrow(/layer 'pool' \(GlobalMaxPooling1D\) receives the mask of padded steps/);
    await expect(edit('lstm_time_distributed', (l) => { (l[1].config.layer as { class_name: string }).class_name = 'Conv2D'; })).rejects.toThrow(/layer 'td': TimeDistributed of Conv2D/);
    await expect(edit('bidi_lstm_concat', (l) => { (l[0].config.layer as { config: Record<string, unknown> }).config.go_backwards = true; })).rejects.toThrow(/layer 'bidi': Bidirectional of a go_backwards layer with return_sequences/);
    // dropout acts in training only: the same outputs
    const want = io('lstm_last');
    const m = await edit('lstm_last', (l) => { l[0].config.dropout = 0.5; l[0].config.recurrent_dropout = 0.3; });
    expect(maxRelDiff(m.predict(input(want)).dataSync(), want.output.data)).toBeLessThan(1e-5);
  });
});
