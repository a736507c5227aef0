// `npm run bench -- --webgpu [--small]`: edgegrad's webgpu backend beside TensorFlow.js's WebGPU backend
// (@tensorflow/tfjs-backend-webgpu) on the same adapter, in one Node process (npm 'webgpu', Dawn), and beside
// edgegrad's own wasm backend where the issue asks for it (a LeNet training step), and MobileNetV2 beside
// onnxruntime-web's WebGPU provider where that runs (the table's notes say why not where it does not). Rows: GEMM 1024 / 2048 /
// 4096, a 3x3 conv, MobileNetV2 inference at batch 1 and 32, a LeNet training step at batch 256 and a
// MobileNetV2 + new head training step (frozen backbone) at batch 32. Each time waits for the GPU (a 4-byte
// read of the result after the work); medians of rounds after warm-up. Writes bench/results/webgpu.md
// (--small: bench/results/webgpu-small.md, sizes cut and the MobileNetV2 rows left out so a software
// adapter finishes in a minute: what `npm test` runs to keep this script working). README speed figures come only from a real GPU's run.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SMALL = process.argv.includes('--small');
const eg = await import(process.env.EDGEGRAD_MODULE ?? '../dist/index.js');
const gpu = await eg.ready({ backend: 'webgpu' });
const adapter = gpu.adapter;
// TF.js's WebGPU backend reads navigator.gpu: a second Dawn instance on the same driver
const dawn = await import('webgpu');
for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) globalThis[k] = v;
if (!globalThis.navigator?.gpu) Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu: dawn.create([]) }, configurable: true });
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-webgpu');
let tfNote = '';
try {
  if (!(await tf.setBackend('webgpu'))) throw new Error('setBackend returned false');
  await tf.ready();
} catch (e) {
  tfNote = `tfjs-backend-webgpu did not start: ${String(e.message ?? e).split('\n')[0]}`;
}
const tfOk = !tfNote;
// onnxruntime-web's WebGPU provider on the same navigator.gpu, where it runs in this runtime (in Node with
// Dawn 'webgpu' and onnxruntime-web 1.30 on SwiftShader, creating a session fails with 'Invalid argument')
let ortNote = '';
const ort = await import('onnxruntime-web/webgpu').catch((e) => { ortNote = `onnxruntime-web/webgpu did not load: ${e.message}`; });
if (ort) ort.env.wasm.numThreads = 1;
/**
 * An onnxruntime-web session on the WebGPU provider that has run `feed(session)` once, or undefined with
 * ortNote saying why not.
 */
async function ortSession(bytes, feed) {
  if (!ort || ortNote) return undefined;
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
    await session.run(feed(session));
    return session;
  } catch (e) {
    ortNote = `onnxruntime-web's WebGPU provider did not run here: ${String(e.message ?? e).split('\n')[0]}`;
    await session?.release().catch(() => {});
    return undefined;
  }
}

const med = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1];
/** Median ms of an async step over rounds, after warm-up rounds (GPU pipelines compile on first use). */
async function time(step, { warm = SMALL ? 1 : 3, rounds = SMALL ? 3 : 10 } = {}) {
  for (let i = 0; i < warm; i++) await step();
  const t = [];
  for (let i = 0; i < rounds; i++) { const t0 = performance.now(); await step(); t.push(performance.now() - t0); }
  return med(t);
}
/** Wait for edgegrad's GPU work: a 4-byte read of the output after it (reads wait for the queue). */
const ours = async (t) => { await t.backend.read(t.ptr, 4); t.dispose(); };
const theirs = async (t) => { const s = tf.slice(t.reshape([-1]), 0, 1); await s.data(); s.dispose(); t.dispose(); };

const rows = [];
function row(name, unit, a, b, note = '', higherIsBetter = false) {
  const ratio = a && b ? (higherIsBetter ? a / b : b / a) : NaN;
  rows.push({ name, unit, ours: a, tfjs: b, ratio, note });
  console.log(`${name.padEnd(44)} ${fmt(a).padStart(10)} ${fmt(b).padStart(10)} ${unit.padEnd(8)} ${Number.isFinite(ratio) ? ratio.toFixed(2) + 'x' : '-'}  ${note}`);
}
const fmt = (v) => (v === undefined || Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 3));

console.log(`edgegrad webgpu bench on ${adapter.vendor} ${adapter.architecture} (${adapter.description || adapter.device}${adapter.fallback ? ', a software adapter: not a speed figure' : ''})${tfNote ? `; ${tfNote}` : ''}`);
console.log(`${'benchmark'.padEnd(44)} ${'edgegrad'.padStart(10)} ${'tfjs-webgpu'.padStart(10)} unit     ratio`);

// ---- GEMM ----
for (const n of SMALL ? [64, 128] : [1024, 2048, 4096]) {
  const a = eg.randomUniform([n, n], -1, 1, 1), b = eg.randomUniform([n, n], -1, 1, 2);
  const ms = await time(() => ours(eg.matMul(a, b)));
  let tms;
  if (tfOk) {
    const ta = tf.randomUniform([n, n], -1, 1), tb = tf.randomUniform([n, n], -1, 1);
    tms = await time(() => theirs(tf.matMul(ta, tb)));
    ta.dispose(); tb.dispose();
  }
  const gf = (t) => t && (2 * n ** 3) / t / 1e6;
  row(`GEMM ${n} f32`, 'GFLOP/s', gf(ms), gf(tms), '', true);
  a.dispose(); b.dispose();
}

// ---- a 3x3 convolution, NHWC ----
{
  const [N, H, C, CO] = SMALL ? [1, 14, 16, 16] : [8, 56, 64, 64];
  const x = eg.randomUniform([N, H, H, C], -1, 1, 3), w = eg.randomUniform([3, 3, C, CO], -1, 1, 4);
  const ms = await time(() => ours(eg.conv2d(x, w, 1, 'same')));
  let tms;
  if (tfOk) {
    const tx = tf.randomUniform([N, H, H, C]), tw = tf.randomUniform([3, 3, C, CO]);
    tms = await time(() => theirs(tf.conv2d(tx, tw, 1, 'same')));
  }
  row(`conv 3x3 ${N}x${H}x${H}x${C} -> ${CO}`, 'ms', ms, tms);
}

// ---- MobileNetV2 inference (nsfwjs's TF.js model: the same weights on both sides) ----
const require = createRequire(import.meta.url);
const nsfwDir = join(here, '..', 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
const modelJson = require(join(nsfwDir, 'model.min.js'));
const shard = Uint8Array.from(Buffer.from(require(join(nsfwDir, 'group1-shard1of1.min.js')), 'base64'));
const mnv2 = SMALL ? undefined : await eg.loadModel({ modelJson, weights: shard });
const tfModel = tfOk && !SMALL ? await tf.loadLayersModel(tf.io.fromMemory({
  modelTopology: modelJson.modelTopology,
  weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
  weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
})) : undefined;
// (--small leaves the MobileNetV2 rows out: a software adapter takes seconds per image)
for (const batch of SMALL ? [] : [1, 32]) {
  const x = eg.randomUniform([batch, 224, 224, 3], 0, 1, 5);
  const ms = await time(() => ours(mnv2.predict(x)));
  let tms;
  if (tfModel) {
    const tx = tf.randomUniform([batch, 224, 224, 3]);
    tms = await time(() => theirs(tfModel.predict(tx)));
    tx.dispose();
  }
  row(`MobileNetV2 inference b${batch} (nsfwjs)`, 'ms', ms, tms);
  const input = ort && new ort.Tensor('float32', await x.data(), [batch, 224, 224, 3]);
  const session = await ortSession(await eg.toOnnx(mnv2), (s) => ({ [s.inputNames[0]]: input }));
  if (session) {
    const feed = { [session.inputNames[0]]: input };
    const oms = await time(() => session.run(feed));
    row(`MobileNetV2 inference b${batch} vs onnxruntime-web webgpu`, 'ms', ms, oms, "onnxruntime-web's WebGPU provider (edgegrad's ONNX export of the same model) in the second column");
    await session.release();
  }
  x.dispose();
}
// --small: whether the provider starts at all (a small MLP), so the note says what a full run would meet
if (SMALL) {
  const mlp = readFileSync(join(here, '..', 'test', 'fixtures', 'mlp_tanh_sigmoid.onnx'));
  await ortSession(mlp, (s) => ({ [s.inputNames[0]]: new ort.Tensor('float32', new Float32Array(4 * 784).fill(0.5), [4, 784]) })).then((s) => s?.release());
}

// ---- a LeNet training step (Adam, batch 256): webgpu against tfjs-webgpu, and against edgegrad's wasm ----
{
  const batch = SMALL ? 32 : 256, steps = SMALL ? 2 : 10;
  const lenet = (e) => e.sequential({ layers: [
    e.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    e.layers.maxPooling2d({ poolSize: 2 }),
    e.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }),
    e.layers.maxPooling2d({ poolSize: 2 }),
    e.layers.flatten(),
    e.layers.dense({ units: 120, activation: 'relu' }),
    e.layers.dense({ units: 84, activation: 'relu' }),
    e.layers.dense({ units: 10, activation: 'softmax' }),
  ] });
  const xs = new Float32Array(batch * steps * 784).map((_, i) => ((i * 2654435761) % 1000) / 1000);
  const ys = new Float32Array(batch * steps * 10).map((_, i) => (i % 10 === (Math.floor(i / 10) % 10) ? 1 : 0));
  const stepMs = async () => {
    const m = lenet(eg);
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = eg.tensor(xs, [batch * steps, 28, 28, 1]), y = eg.tensor(ys, [batch * steps, 10]);
    await m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false }); // warm-up: pipelines, plans
    await ours(m.getWeights()[0]);
    const t0 = performance.now();
    await m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false });
    await ours(m.getWeights()[0]);
    return (performance.now() - t0) / steps;
  };
  const onGpu = await stepMs();
  let tms;
  if (tfOk) {
    const m = lenet(tf);
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = tf.tensor(xs, [batch * steps, 28, 28, 1]), y = tf.tensor(ys, [batch * steps, 10]);
    await m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false, verbose: 0 });
    const t0 = performance.now();
    await m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false, verbose: 0 });
    tms = (performance.now() - t0) / steps;
  }
  row(`LeNet training step b${batch} (Adam)`, 'ms', onGpu, tms);
  await eg.ready({ backend: 'wasm' });
  const onWasm = await stepMs();
  await eg.ready({ backend: 'webgpu' });
  row(`LeNet training step b${batch}: webgpu vs edgegrad wasm`, 'ms', onGpu, onWasm, 'edgegrad wasm in the second column');
}

// ---- MobileNetV2 + new head training step (backbone frozen, not cached: forward through it every step) ----
if (!SMALL) {
  const batch = 32;
  const base = await eg.loadModel(join(here, '..', 'models', 'mobilenet-v2-features.onnx'));
  const m = eg.sequential([base.freeze(), eg.layers.dense({ units: 5, activation: 'softmax', seed: 1 })]);
  m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy' });
  const x = eg.randomUniform([batch * 2, 224, 224, 3], 0, 1, 7);
  const y = eg.tensor(Int32Array.from({ length: batch * 2 }, (_, i) => i % 5), [batch * 2], 'int32');
  const fit = () => m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false, cacheFeatures: false });
  await fit();
  const t0 = performance.now();
  await fit();
  await ours(m.getWeights()[m.getWeights().length - 1]);
  row(`MobileNetV2 + head training step b${batch}`, 'ms', (performance.now() - t0) / 2, undefined, 'frozen backbone, features not cached');
}

const out = [
  `# edgegrad webgpu bench${SMALL ? ' (--small: sizes cut for a software adapter)' : ''}`, '',
  `Adapter: ${adapter.vendor} ${adapter.architecture} (${adapter.description || adapter.device})${adapter.fallback ? ' — a software adapter: these are not speed figures' : ''}; ${new Date().toISOString()}${tfNote ? `; ${tfNote}` : ''}`, '',
  '| benchmark | edgegrad | tfjs-webgpu | unit | ratio |', '| --- | ---: | ---: | --- | ---: |',
  ...rows.map((r) => `| ${r.name} | ${fmt(r.ours)} | ${fmt(r.tfjs)} | ${r.unit} | ${Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : '-'} |`),
  '', ...rows.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`), ...(ortNote ? [`- ${ortNote}`] : []), '',
];
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', SMALL ? 'webgpu-small.md' : 'webgpu.md');
writeFileSync(file, out.join('\n'));
if (ortNote) console.log(ortNote);
console.log(`written ${file}`);
process.exit(0); // Dawn's instances keep the event loop alive
