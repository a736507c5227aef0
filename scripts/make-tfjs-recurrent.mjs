// `node scripts/make-tfjs-recurrent.mjs`: the TensorFlow.js layers models with recurrent layers that
// test/tfjs-recurrent.test.ts loads, built with @tensorflow/tfjs (cpu backend, no tfjs-node) from seeded
// weights and saved in the layers format (model.json + one .bin shard) to test/fixtures/tfjs-recurrent/<name>/,
// with an input batch and TensorFlow.js's outputs for it in io.json.
// One fixture TensorFlow.js cannot run: GRU with reset_after (Keras's default since TF 2, which tfjs refuses);
// its model.json is tfjs's GRU with that flag and a [2, 3U] bias, and its outputs come from a float64
// reference of Keras's formula here, which is first checked against tfjs's own GRU (reset_after false).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'tfjs-recurrent');
await tf.setBackend('cpu');

function rng(seed) { // mulberry32
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
const uniform = (n, r, a) => Float32Array.from({ length: n }, () => (2 * r() - 1) * a);

/** model.json + weights as tfjs writes them (the manifest lists one shard beside model.json). */
async function save(model, dir, edit) {
  let art;
  await model.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  let specs = art.weightSpecs, data = new Uint8Array(tf.io.concatenateArrayBuffers([art.weightData].flat()));
  let topo = art.modelTopology;
  if (edit) ({ topo, specs, data } = edit(topo, specs, data));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'group1-shard1of1.bin'), data);
  const json = { modelTopology: topo, format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`, convertedBy: null, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
}

/** Every weight from the seeded generator (uniform in [-scale, scale]), except those `keep` names. */
function seed(model, s, scale = 0.6, keep = () => false) {
  const r = rng(s);
  model.setWeights(model.weights.map((w) => (keep(w.originalName ?? w.name) ? w.read().clone() : tf.tensor(uniform(w.shape.reduce((a, b) => a * b, 1), r, scale), w.shape))));
}

const B = 3, T = 5, F = 3;
const fixtures = [];
function add(name, note, build, { ints = 0, keep, edit, expected, pad } = {}) { fixtures.push({ name, note, build, ints, keep, edit, expected, pad }); }
// padded steps (masks): example 0 ends with 2, example 1 starts with 1, example 2 has one in the middle
const PADDED = [[0, 3], [0, 4], [1, 0], [2, 2]];
const seq = (...layers) => tf.sequential({ layers });
const inp = { inputShape: [T, F] };

add('lstm_last', 'LSTM, tfjs defaults (recurrent_activation hard_sigmoid), last step', () => seq(tf.layers.lstm({ name: 'lstm', units: 5, ...inp })));
add('lstm_seq_sigmoid', 'LSTM, recurrent_activation sigmoid, return_sequences', () => seq(tf.layers.lstm({ name: 'lstm', units: 4, recurrentActivation: 'sigmoid', returnSequences: true, ...inp })));
add('lstm_unit_forget_bias', 'LSTM, unit_forget_bias with the initialized bias kept (ones on the forget gate), no bias seeded', () => seq(tf.layers.lstm({ name: 'lstm', units: 6, unitForgetBias: true, recurrentActivation: 'sigmoid', ...inp })), { keep: (n) => n.endsWith('bias') });
add('lstm_go_backwards', 'LSTM, go_backwards, return_sequences (processing order), relu cell activation', () => seq(tf.layers.lstm({ name: 'lstm', units: 4, goBackwards: true, returnSequences: true, activation: 'relu', ...inp })));
add('lstm_no_bias', 'LSTM, use_bias false', () => seq(tf.layers.lstm({ name: 'lstm', units: 4, useBias: false, ...inp })));
add('gru_reset_before', 'GRU (reset_after false: the only kind tfjs runs), last step', () => seq(tf.layers.gru({ name: 'gru', units: 5, ...inp })));
add('gru_seq_backwards', 'GRU, sigmoid, go_backwards, return_sequences', () => seq(tf.layers.gru({ name: 'gru', units: 4, recurrentActivation: 'sigmoid', goBackwards: true, returnSequences: true, ...inp })));
add('simple_rnn_tanh', 'SimpleRNN, tanh, return_sequences', () => seq(tf.layers.simpleRNN({ name: 'rnn', units: 4, returnSequences: true, ...inp })));
add('simple_rnn_relu', 'SimpleRNN, relu, last step', () => seq(tf.layers.simpleRNN({ name: 'rnn', units: 5, activation: 'relu', ...inp })));
add('bidi_lstm_concat', 'Bidirectional(LSTM, return_sequences), merge_mode concat', () => seq(tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.lstm({ name: 'lstm', units: 4, returnSequences: true }), mergeMode: 'concat', ...inp })));
add('bidi_lstm_sum', 'Bidirectional(LSTM, last step), merge_mode sum', () => seq(tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.lstm({ name: 'lstm', units: 4, recurrentActivation: 'sigmoid' }), mergeMode: 'sum', ...inp })));
add('bidi_rnn_mul', 'Bidirectional(SimpleRNN, return_sequences), merge_mode mul', () => seq(tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.simpleRNN({ name: 'rnn', units: 4, returnSequences: true }), mergeMode: 'mul', ...inp })));
add('bidi_gru_ave_functional', 'functional: input -> Bidirectional(GRU, ave) -> Dense softmax', () => {
  const x = tf.input({ name: 'sequence', shape: [T, F] });
  const h = tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.gru({ name: 'gru', units: 5 }), mergeMode: 'ave' }).apply(x);
  return tf.model({ inputs: x, outputs: tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }).apply(h) });
});
add('lstm_return_state_functional', 'functional: LSTM(return_state) -> Concatenate(its h and c states) -> Dense', () => {
  const x = tf.input({ name: 'sequence', shape: [T, F] });
  const [, h, c] = tf.layers.lstm({ name: 'lstm', units: 4, returnState: true, recurrentActivation: 'sigmoid' }).apply(x);
  const hc = tf.layers.concatenate({ name: 'states' }).apply([h, c]);
  return tf.model({ inputs: x, outputs: tf.layers.dense({ name: 'head', units: 2 }).apply(hc) });
});
add('stack_lstm_dense', 'LSTM(6, sequences) -> LSTM(4) -> Dense(3, softmax)', () => seq(
  tf.layers.lstm({ name: 'lstm_1', units: 6, returnSequences: true, ...inp }),
  tf.layers.lstm({ name: 'lstm_2', units: 4 }),
  tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' })));
add('lstm_time_distributed', 'LSTM(5, sequences) -> TimeDistributed(Dense(3, tanh))', () => seq(
  tf.layers.lstm({ name: 'lstm', units: 5, returnSequences: true, ...inp }),
  tf.layers.timeDistributed({ name: 'td', layer: tf.layers.dense({ name: 'dense', units: 3, activation: 'tanh' }) })));
add('text_classifier', 'Embedding(20, 8) -> LSTM(6) -> Dense(1, sigmoid) on token ids', () => seq(
  tf.layers.embedding({ name: 'embed', inputDim: 20, outputDim: 8, inputLength: T }),
  tf.layers.lstm({ name: 'lstm', units: 6 }),
  tf.layers.dense({ name: 'head', units: 1, activation: 'sigmoid' })), { ints: 20 });
add('text_bidi_maxpool', 'Embedding(30, 6) -> Bidirectional(LSTM, sequences) -> GlobalMaxPooling1D -> Dense(2, softmax) on token ids', () => seq(
  tf.layers.embedding({ name: 'embed', inputDim: 30, outputDim: 6, inputLength: T }),
  tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.lstm({ name: 'lstm', units: 4, returnSequences: true }) }),
  tf.layers.globalMaxPooling1d({ name: 'pool' }),
  tf.layers.dense({ name: 'head', units: 2, activation: 'softmax' })), { ints: 30 });
add('gru_avgpool', 'GRU(5, sequences) -> GlobalAveragePooling1D -> Dense(1)', () => seq(
  tf.layers.gru({ name: 'gru', units: 5, returnSequences: true, ...inp }),
  tf.layers.globalAveragePooling1d({ name: 'pool' }),
  tf.layers.dense({ name: 'head', units: 1 })));
// ---- GRU with reset_after: a float64 reference of Keras's formula ----
const act = { tanh: Math.tanh, sigmoid: (v) => 1 / (1 + Math.exp(-v)), hard_sigmoid: (v) => Math.min(1, Math.max(0, 0.2 * v + 0.5)), relu: (v) => Math.max(0, v), linear: (v) => v };
/** Keras GRU, batch-major x [B, T, F], kernel [F, 3U], recurrent [U, 3U], bias [3U] or [2, 3U] (reset_after). */
function gruRef(x, kernel, rec, bias, U, { resetAfter, activation = 'tanh', recurrentActivation = 'hard_sigmoid', returnSequences = false }) {
  const f = act[activation], g = act[recurrentActivation], out = [];
  const bi = (j) => bias[j], br = (j) => (resetAfter ? bias[3 * U + j] : 0);
  for (let b = 0; b < B; b++) {
    let h = new Float64Array(U);
    for (let t = 0; t < T; t++) {
      const xw = new Float64Array(3 * U), hr = new Float64Array(3 * U);
      for (let j = 0; j < 3 * U; j++) {
        let s = bi(j), r = br(j);
        for (let k = 0; k < F; k++) s += x[(b * T + t) * F + k] * kernel[k * 3 * U + j];
        for (let k = 0; k < U; k++) r += h[k] * rec[k * 3 * U + j];
        xw[j] = s; hr[j] = r;
      }
      const z = (j) => g(xw[j] + hr[j]), rr = (j) => g(xw[U + j] + hr[U + j]);
      const hh = new Float64Array(U);
      for (let j = 0; j < U; j++) {
        if (resetAfter) hh[j] = f(xw[2 * U + j] + rr(j) * hr[2 * U + j]);
        else { let s = 0; for (let k = 0; k < U; k++) s += rr(k) * h[k] * rec[k * 3 * U + 2 * U + j]; hh[j] = f(xw[2 * U + j] + s); }
      }
      h = Float64Array.from(h, (hp, j) => z(j) * hp + (1 - z(j)) * hh[j]);
      if (returnSequences || t === T - 1) out.push(...h);
    }
  }
  return out;
}
const gruWeights = (m) => m.getWeights().map((w) => w.dataSync());
add('gru_reset_after', 'GRU with reset_after (Keras default; bias [2, 3U]), sigmoid, return_sequences: outputs from the float64 reference (tfjs refuses reset_after)', () => seq(tf.layers.gru({ name: 'gru', units: 4, recurrentActivation: 'sigmoid', returnSequences: true, ...inp })), {
  edit(topo, specs, data) {
    const t = structuredClone(topo);
    (t.model_config ?? t).config.layers.find((l) => l.class_name === 'GRU').config.reset_after = true;
    const U = 4, extra = uniform(3 * U, rng(99), 0.6);
    const s = specs.map((w) => (w.name.endsWith('bias') ? { ...w, shape: [2, 3 * U] } : w));
    // the bias bytes come last: tfjs's bias [3U] is row 0 (input bias), the seeded extra row 1 (recurrent bias)
    const d = new Uint8Array(data.length + extra.byteLength);
    d.set(data); d.set(new Uint8Array(extra.buffer), data.length);
    return { topo: t, specs: s, data: d };
  },
  expected(model, x) {
    const [k, r, b] = gruWeights(model);
    const U = 4, bias = [...b, ...uniform(3 * U, rng(99), 0.6)];
    return gruRef(x, k, r, bias, U, { resetAfter: true, recurrentActivation: 'sigmoid', returnSequences: true });
  },
});

add('masking_lstm_stack', 'Masking(0) -> LSTM(5, sequences) -> LSTM(4) -> Dense(2): padded steps skipped', () => seq(
  tf.layers.masking({ name: 'mask', maskValue: 0, ...inp }),
  tf.layers.lstm({ name: 'lstm_1', units: 5, returnSequences: true }),
  tf.layers.lstm({ name: 'lstm_2', units: 4, recurrentActivation: 'sigmoid' }),
  tf.layers.dense({ name: 'head', units: 2 })), { pad: true });
add('masking_rnn_backwards', 'Masking(0) -> SimpleRNN(go_backwards, sequences) -> GRU(sequences): tfjs passes the mask on unreversed', () => seq(
  tf.layers.masking({ name: 'mask', maskValue: 0, ...inp }),
  tf.layers.simpleRNN({ name: 'rnn', units: 4, goBackwards: true, returnSequences: true }),
  tf.layers.gru({ name: 'gru', units: 3, returnSequences: true })), { pad: true });
add('mask_zero_bidi_gru', 'Embedding(12, 4, mask_zero) -> Bidirectional(GRU, sequences) -> TimeDistributed(Dense(2)) on token ids, 0 padding', () => seq(
  tf.layers.embedding({ name: 'embed', inputDim: 12, outputDim: 4, inputLength: T, maskZero: true }),
  tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.gru({ name: 'gru', units: 4, returnSequences: true }) }),
  tf.layers.timeDistributed({ name: 'td', layer: tf.layers.dense({ name: 'dense', units: 2 }) })), { ints: 12, pad: true });
add('bidi_merge_null_functional', 'functional: Bidirectional(SimpleRNN, merge_mode null, return_state) -> its two outputs and two states concatenated -> Dense', () => {
  const x = tf.input({ name: 'sequence', shape: [T, F] });
  const [yf, yb, hf, hb] = tf.layers.bidirectional({ name: 'bidi', layer: tf.layers.simpleRNN({ name: 'rnn', units: 3, returnState: true }), mergeMode: null }).apply(x);
  const all = tf.layers.concatenate({ name: 'all' }).apply([yb, hf, yf, hb]);
  return tf.model({ inputs: x, outputs: tf.layers.dense({ name: 'head', units: 2 }).apply(all) });
});

rmSync(root, { recursive: true, force: true });
let s = 1;
for (const f of fixtures) {
  const model = f.build();
  seed(model, s++, 0.6, f.keep ?? (() => false));
  const r = rng(1000 + s);
  const shape = f.ints ? [B, T] : [B, T, F];
  const n = shape.reduce((a, b) => a * b, 1);
  const input = f.ints ? Array.from({ length: n }, () => (f.pad ? 1 : 0) + Math.floor(r() * (f.ints - (f.pad ? 1 : 0)))) : Array.from(uniform(n, r, 1));
  const step = shape.slice(2).reduce((a, b) => a * b, 1);
  if (f.pad) for (const [b, t] of PADDED) input.fill(0, (b * T + t) * step, (b * T + t + 1) * step);
  const y = model.predict(tf.tensor(input, shape, f.ints ? 'int32' : 'float32'));
  const tfjsOut = Array.from(y.dataSync());
  let output = tfjsOut, source = `TensorFlow.js ${tf.version.tfjs} (cpu backend)`;
  if (f.expected) {
    // the reference must first agree with tfjs on the kind tfjs runs
    const check = gruRef(input, ...gruWeights(model), model.layers[0].cell.units, { resetAfter: false, recurrentActivation: 'sigmoid', returnSequences: true });
    const d = Math.max(...check.map((v, i) => Math.abs(v - tfjsOut[i])));
    if (!(d < 1e-5)) throw new Error(`${f.name}: the float64 GRU reference differs from tfjs by ${d}`);
    output = f.expected(model, input);
    source = `float64 reference of Keras's GRU formula in scripts/make-tfjs-recurrent.mjs (it matches tfjs's reset_after=false GRU within ${d.toExponential(1)})`;
  }
  const dir = join(root, f.name);
  await save(model, dir, f.edit);
  writeFileSync(join(dir, 'io.json'), JSON.stringify({ note: f.note, source, input: { shape, dtype: f.ints ? 'int32' : 'float32', data: input }, output: { shape: y.shape, data: output } }) + '\n');
  console.log(`${f.name}: ${JSON.stringify(shape)} -> ${JSON.stringify(y.shape)}`);
}
