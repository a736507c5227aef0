// `npm run bench [-- --json] [-- --quick] [-- --webgpu]`: edgegrad's kernels beside TensorFlow.js's wasm backend
// (XNNPACK, single thread) on the same shapes, in one Node process. Each row alternates ours and theirs
// over several rounds and reports medians after warm-up, so machine drift hits both sides alike.
// Writes bench/results/latest.md; ratio > 1 means edgegrad is better (faster, or more GFLOP/s).
// BENCH_ONLY=rnn,gemm (comma-separated section names: gemm conv relu simd128 lenet train rnn inference
// torchvision int8 threads) runs only those sections and writes bench/results/only.md instead.
import v8 from 'node:v8';
// Node 20's V8 ships relaxed SIMD behind a flag; Node 22+, Deno, Bun and Chromium enable it by default.
// Turn it on so the default build here is the one users of current runtimes get; the SIMD128 build is
// measured too, in the same run (tfjs-wasm's binary does not use relaxed SIMD either way).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const eg = await import('../dist/index.js');
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { bufOn, compare, convGeometryOn, lenet5 as lenet5Of } from './common.mjs';

const args = new Set(process.argv.slice(2));
// `--webgpu [--small]`: the WebGPU bench instead (bench/webgpu.mjs: edgegrad's webgpu backend against tfjs-webgpu)
if (args.has('--webgpu')) await import('./webgpu.mjs');
const JSON_OUT = args.has('--json');
const QUICK = args.has('--quick');
const here = dirname(fileURLToPath(import.meta.url));
const log = (...m) => { if (!JSON_OUT) console.log(...m); };
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((x) => x.trim()).filter(Boolean)) : null;
const want = (section) => !ONLY || ONLY.has(section);

const require = createRequire(import.meta.url);
setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
setThreadsCount(1);
await tf.setBackend('wasm');
await tf.ready();
// one thread for every row below but the threads section: tfjs-wasm and onnxruntime-web run one thread too
let be = await eg.ready({ threads: 1 });
let k = be.kernels;
const defaultBuild = be.build;
let tag = '';

// ---- our side: buffers live in wasm memory; kernels are called on them directly (no copies) ----
const buf = (n, seed = 1) => bufOn(be, n, seed);
const freeAll = (...ps) => ps.forEach((p) => be.free(p));

/** LeNet-5 (conv5x5(6)-pool-conv5x5(16)-pool-dense 120-84-10) on the active backend: the training rows' model. */
const lenet5 = () => lenet5Of(eg);

const rows = [];
const trainMem = [];
function row(name, unit, ours, tfjs, note = '', speedup = NaN) {
  // speedup: median over rounds of their time / our time (> 1: we are faster)
  const better = speedup;
  const r = { name, unit, ours: +ours.toFixed(unit === 'GFLOP/s' ? 1 : 3), tfjs: Number.isFinite(tfjs) ? +tfjs.toFixed(unit === 'GFLOP/s' ? 1 : 3) : null, ratio: Number.isFinite(better) ? +better.toFixed(2) : null };
  if (note) r.note = note;
  rows.push(r);
  log(`${name.padEnd(44)} ${String(r.ours).padStart(9)} ${String(r.tfjs ?? 'n/a').padStart(9)} ${unit.padEnd(8)} ${r.ratio ?? ''}${note ? '  ' + note : ''}`);
}

log(`edgegrad wasm build: ${be.build} (runtime validates: ${eg.supportedBuilds().join(', ')}); tfjs-wasm ${tf.version_core}, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, 1 thread`);
log(`${'benchmark'.padEnd(44)} ${'edgegrad'.padStart(9)} ${'tfjs-wasm'.padStart(9)} ${'unit'.padEnd(8)} ratio`);

// ---- GEMM ----
function gemmRow(M, N, K, label) {
  const A = buf(M * K, 1), B = buf(K * N, 2), C = be.alloc(M * N * 4);
  const ws = be.workspace(k.gemmWorkspaceSize(M, N, K));
  const ta = tf.randomNormal([M, K]), tb = tf.randomNormal([K, N]);
  const reps = M * N * K > 1e8 ? 1 : M * N * K > 1e7 ? 3 : 20;
  const [o, t, sp] = compare(() => k.gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N, 0, 0, 0, ws), () => tf.matMul(ta, tb).dispose(), { reps });
  const gf = (ms) => (2 * M * N * K) / ms / 1e6;
  row(label + tag, 'GFLOP/s', gf(o), gf(t), '', sp);
  freeAll(A, B, C); ta.dispose(); tb.dispose();
}
function gemmRows(all = true) {
  gemmRow(256, 256, 256, 'gemm 256x256x256');
  gemmRow(512, 512, 512, 'gemm 512x512x512');
  gemmRow(1024, 1024, 1024, 'gemm 1024x1024x1024');
  if (!all) return;
  gemmRow(1, 1024, 1024, 'gemv 1x1024x1024');
  gemmRow(32, 256, 784, 'gemm 32x784x256 (tall-skinny)');
}
if (want('gemm')) gemmRows();

// ---- convolution, pooling, activation ----
/** The geometry block the conv kernels take (assembly/conv.ts), in memory of its own. */
const convGeometry = (...a) => convGeometryOn(be, ...a);
function convRows() {
{
  const [N, H, W, C, CO] = [1, 56, 56, 64, 64];
  const x = buf(N * H * W * C), w = buf(9 * C * CO), y = be.alloc(N * H * W * CO * 4);
  const geom = convGeometry(N, H, W, C, 3, 3, 1, CO, 1, 'same');
  const ws = be.workspace(k.convWorkspaceSize(geom));
  const tx = tf.randomNormal([N, H, W, C]), tw = tf.randomNormal([3, 3, C, CO]);
  const [o, t, sp] = compare(() => { k.conv2dForward(geom, x, w, 0, y, 0, 0, ws); }, () => tf.conv2d(tx, tw, 1, 'same').dispose(), { reps: 5 });
  row('conv2d 3x3 56x56x64->64 NHWC b1' + tag, 'ms', o, t, '', sp);
  freeAll(x, w, y, geom); tx.dispose(); tw.dispose();
}
{
  const [N, H, W, C] = [1, 112, 112, 32];
  const x = buf(N * H * W * C), w = buf(9 * C), y = be.alloc(N * H * W * C * 4);
  const geom = convGeometry(N, H, W, C, 3, 3, 1, C, C, 'same');
  const ws = be.workspace(k.convWorkspaceSize(geom));
  const tx = tf.randomNormal([N, H, W, C]), tw = tf.randomNormal([3, 3, C, 1]);
  const [o, t, sp] = compare(() => { k.conv2dForward(geom, x, w, 0, y, 0, 0, ws); }, () => tf.depthwiseConv2d(tx, tw, 1, 'same').dispose(), { reps: 5 });
  row('depthwise 3x3 112x112x32 b1' + tag, 'ms', o, t, '', sp);
  freeAll(x, w, y, geom); tx.dispose(); tw.dispose();
}
{
  const [N, H, W, C] = [1, 112, 112, 64];
  const x = buf(N * H * W * C), y = be.alloc(N * 56 * 56 * C * 4);
  const tx = tf.randomNormal([N, H, W, C]);
  const [o, t, sp] = compare(() => k.pool2dForward(0, N, H, W, C, 2, 2, 2, 2, 0, 0, 56, 56, x, y), () => tf.maxPool(tx, 2, 2, 'valid').dispose(), { reps: 10 });
  row('maxpool 2x2 112x112x64 b1' + tag, 'ms', o, t, '', sp);
  freeAll(x, y); tx.dispose();
}
}
if (want('conv')) convRows();
if (want('relu')) {
  const n = 1 << 20;
  const x = buf(n), y = be.alloc(n * 4);
  const tx = tf.randomNormal([n]);
  const [o, t, sp] = compare(() => k.actForward(1, n, x, y, 0), () => tf.relu(tx).dispose(), { reps: 20 });
  row('relu 1M floats', 'ms', o, t, '', sp);
  freeAll(x, y); tx.dispose();
}

// ---- the same kernels in the SIMD128 build (what Node 20 picks without the flag, and older browsers) ----
let wasmPeak = be.memoryBytes(), arenaPeak = be.arena.peak;
if (defaultBuild !== 'simd' && want('simd128')) {
  wasmPeak = Math.max(wasmPeak, be.memoryBytes()); arenaPeak = Math.max(arenaPeak, be.arena.peak);
  be = await eg.ready({ wasmBuild: 'simd', threads: 1 });
  k = be.kernels;
  tag = ' [simd128 build]';
  gemmRows(false);
  convRows();
  wasmPeak = Math.max(wasmPeak, be.memoryBytes()); arenaPeak = Math.max(arenaPeak, be.arena.peak);
  be = await eg.ready({ wasmBuild: defaultBuild, threads: 1 });
  k = be.kernels;
  tag = '';
}

// ---- LeNet-sized conv forward + backward, batch 32: conv5x5(6)-relu-maxpool2-conv5x5(16)-relu-maxpool2 ----
if (want('lenet')) {
  const B = 32;
  const x = eg.randomNormal([B, 28, 28, 1], 0, 1, 1);
  const w1 = eg.randomNormal([5, 5, 1, 6], 0, 0.2, 2), b1 = eg.zeros([6]);
  const w2 = eg.randomNormal([5, 5, 6, 16], 0, 0.1, 3), b2 = eg.zeros([16]);
  const lenet = () => {
    // forward through the eager ops, backward with the same kernels the trainer uses (via the backend)
    const c1 = eg.fused.conv2d({ x, filter: w1, strides: 1, pad: 'same', bias: b1, activation: 'relu' });
    const p1 = eg.maxPool(c1, 2);
    const c2 = eg.fused.conv2d({ x: p1, filter: w2, strides: 1, pad: 'valid', bias: b2, activation: 'relu' });
    const p2 = eg.maxPool(c2, 2);
    const dy = eg.ones(p2.shape);
    // pool, relu, conv2 backward
    const dc2 = poolBack(c2, dy, 2); reluBack(c2, dc2);
    const ws2 = conv2Grad(p1, dc2, w2, 'valid');
    const dp1 = ws2.dx;
    const dc1 = poolBack(c1, dp1, 2); reluBack(c1, dc1);
    const ws1 = conv2Grad(x, dc1, w1, 'same', false);
    for (const t of [c1, p1, c2, p2, dy, dc2, dp1, dc1, ws2.dw, ws2.db, ws1.dw, ws1.db]) t.dispose();
  };
  function poolBack(xx, dyy, s) {
    const dx = eg.zeros(xx.shape);
    const [n, h, w, c] = xx.shape;
    k.pool2dBackward(0, n, h, w, c, s, s, s, s, 0, 0, h / s | 0, w / s | 0, xx.ptr, dyy.ptr, dx.ptr);
    return dx;
  }
  function reluBack(y, d) { k.actBackward(1, y.size, y.ptr, 0, d.ptr, d.ptr, 0); }
  function conv2Grad(xx, dyy, ww, pad, wantDx = true) {
    const dx = wantDx ? eg.backprop.conv2dInput(xx.shape, dyy, ww, 1, pad) : null;
    const { dw, db } = eg.backprop.conv2dFilter(xx, dyy, ww.shape, 1, pad);
    return { dx, dw, db };
  }
  let tfNote = '';
  let tfFn = null;
  try {
    const tx = tf.randomNormal([B, 28, 28, 1]), tw1 = tf.variable(tf.randomNormal([5, 5, 1, 6])), tw2 = tf.variable(tf.randomNormal([5, 5, 6, 16]));
    // tidy returns nothing here: handing it a typed array makes it walk every element
    const f = () => tf.tidy(() => {
      const g = tf.grads((a, b) => tf.sum(tf.maxPool(tf.relu(tf.conv2d(tf.maxPool(tf.relu(tf.conv2d(tx, a, 1, 'same')), 2, 2, 'valid'), b, 1, 'valid')), 2, 2, 'valid')));
      g([tw1, tw2]).forEach((t) => t.dataSync());
    });
    f();
    tfFn = f;
  } catch (e) {
    tfNote = `tfjs-wasm: ${String(e.message).split('\n')[0].slice(0, 70)}`;
  }
  const [o, t, sp] = compare(lenet, tfFn, { reps: 3 });
  row('LeNet conv fwd+bwd b32 (2 conv, 2 pool)', 'ms', o, t, tfNote, sp);
}

// ---- training (issue #3): the digits MLP, 10 epochs, and a LeNet-5 training step ----
if (want('train')) {
  const d = await eg.data.loadDigits();
  const x = d.images.reshape([d.count, 784]);
  const y = eg.data.oneHot(d.labels, 10);
  const xTr = eg.data.slice(x, 0, 8000), yTr = eg.data.slice(y, 0, 8000), xTe = eg.data.slice(x, 8000), yTe = eg.data.slice(y, 8000);
  const epochs = QUICK ? 1 : 10;
  const ours = eg.sequential([
    eg.layers.dense({ units: 256, activation: 'relu', inputShape: [784], seed: 1 }),
    eg.layers.dense({ units: 128, activation: 'relu', seed: 2 }),
    eg.layers.dense({ units: 10, activation: 'softmax', seed: 3 }),
  ]);
  ours.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  let t0 = performance.now();
  await ours.fit(xTr, yTr, { epochs, batchSize: 32, seed: 42 });
  const oursS = (performance.now() - t0) / 1000;
  const oursAcc = ours.evaluate(xTe, yTe).accuracy;
  const theirs = tf.sequential({ layers: [
    tf.layers.dense({ units: 256, activation: 'relu', inputShape: [784] }),
    tf.layers.dense({ units: 128, activation: 'relu' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ] });
  theirs.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const txTr = tf.tensor(xTr.dataSync(), [8000, 784]), tyTr = tf.tensor(yTr.dataSync(), [8000, 10]);
  const txTe = tf.tensor(xTe.dataSync(), [xTe.shape[0], 784]), tyTe = tf.tensor(yTe.dataSync(), [yTe.shape[0], 10]);
  t0 = performance.now();
  await theirs.fit(txTr, tyTr, { epochs, batchSize: 32, shuffle: true, verbose: 0 });
  const theirsS = (performance.now() - t0) / 1000;
  const theirsAcc = (await theirs.evaluate(txTe, tyTe)[1].data())[0];
  row(`MLP 784-256-128-10 digits fit, ${epochs} epochs`, 's', oursS, theirsS, `test accuracy: edgegrad ${(oursAcc * 100).toFixed(1)}%, tfjs-wasm ${(theirsAcc * 100).toFixed(1)}%`, theirsS / oursS);
  trainMem.push(['after the MLP', process.memoryUsage().rss, be.memoryBytes()]);

  // LeNet-5: conv5x5(6)-pool-conv5x5(16)-pool-dense 120-84-10, batch 32, one Adam step
  const lenet = lenet5();
  lenet.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  const steps = QUICK ? 10 : 40;
  const lx = eg.data.slice(d.images, 0, 32 * steps), ly = eg.data.slice(y, 0, 32 * steps);
  await lenet.fit(eg.data.slice(lx, 0, 320), eg.data.slice(ly, 0, 320), { epochs: 2, batchSize: 32 }); // warm-up
  t0 = performance.now();
  await lenet.fit(lx, ly, { epochs: 1, batchSize: 32, shuffle: false });
  const lenetMs = (performance.now() - t0) / steps;
  const tfLenet = () => tf.sequential({ layers: [
    tf.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 120, activation: 'relu' }),
    tf.layers.dense({ units: 84, activation: 'relu' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ] });
  const tlx = tf.tensor(lx.dataSync().slice(0, 32 * 784), [32, 28, 28, 1]), tly = tf.tensor(ly.dataSync().slice(0, 320), [32, 10]);
  let wasmNote = '';
  try {
    const m = tfLenet();
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    await m.fit(tlx, tly, { epochs: 1, batchSize: 32, verbose: 0 });
    wasmNote = 'tfjs-wasm ran it';
  } catch (e) {
    wasmNote = `tfjs-wasm: ${String(e.message).split('\n')[0].slice(0, 80)}`;
  }
  // TF.js's pure-JS cpu backend is the TF.js path that can train it here
  // (TF.js prints a tfjs-node advertisement on stdout when it first runs in Node; keep --json clean)
  const say = console.log;
  console.log = (...a) => { if (!JSON_OUT) process.stderr.write(a.join(' ') + '\n'); };
  await tf.setBackend('cpu');
  const m = tfLenet();
  m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  await m.fit(tlx, tly, { epochs: 1, batchSize: 32, verbose: 0 });
  const cpuSteps = QUICK ? 1 : 3;
  t0 = performance.now();
  await m.fit(tf.concat(Array(cpuSteps).fill(tlx)), tf.concat(Array(cpuSteps).fill(tly)), { epochs: 1, batchSize: 32, verbose: 0, shuffle: false });
  const cpuMs = (performance.now() - t0) / cpuSteps;
  await tf.setBackend('wasm');
  console.log = say;
  row('LeNet-5 train step b32 (vs tfjs cpu)', 'ms', lenetMs, cpuMs, wasmNote, cpuMs / lenetMs);
  trainMem.push(['after LeNet', process.memoryUsage().rss, be.memoryBytes()]);
}

// ---- recurrent layers (issue 14): one training step of LSTM(128) + dense softmax on 28 steps of 28
// features (digits read row by row), batch 32, Adam, categorical cross-entropy, against the same model in
// TF.js on its wasm backend; GRU alike (TF.js's GRU is Keras's resetAfter: false, so ours is too here);
// and LSTM inference at batch 32. Each round runs `steps` training steps (one fit epoch) of each side,
// back to back; the ratio is the median of the per-round ratios, as in compare(). ----
if (want('rnn')) {
  const d = await eg.data.loadDigits();
  const B = 32, steps = QUICK ? 2 : 3, rounds = QUICK ? 3 : 5, n = B * steps;
  const seqs = eg.data.slice(d.images, 0, n).reshape([n, 28, 28]);
  const labels = eg.data.oneHot(Array.from(d.labels.subarray(0, n)), 10);
  const tx = tf.tensor(seqs.dataSync(), [n, 28, 28]), ty = tf.tensor(labels.dataSync(), [n, 10]);
  const med = (v) => v.slice().sort((x, y) => x - y)[v.length >> 1];
  // TF.js warns about its orthogonal initializer on 128x512 matrices; keep the table readable
  const warn = console.warn;
  console.warn = () => {};
  const models = {};
  for (const kind of ['lstm', 'gru']) {
    const opts = kind === 'gru' ? { resetAfter: false } : {};
    const ours = eg.sequential([
      eg.layers[kind]({ units: 128, inputShape: [28, 28], seed: 1, ...opts }),
      eg.layers.dense({ units: 10, activation: 'softmax', seed: 2 }),
    ]);
    ours.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'categoricalCrossentropy' });
    const theirs = tf.sequential({ layers: [
      tf.layers[kind]({ units: 128, inputShape: [28, 28] }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ] });
    theirs.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    models[kind] = { ours, theirs };
    let oursLoss = NaN, theirsLoss = NaN;
    const oursEpoch = async () => { oursLoss = (await ours.fit(seqs, labels, { epochs: 1, batchSize: B, shuffle: false })).history.loss[0]; };
    const theirsEpoch = async () => { theirsLoss = (await theirs.fit(tx, ty, { epochs: 1, batchSize: B, shuffle: false, verbose: 0 })).history.loss[0]; };
    // warm-up by time, as compare() does (both wasm binaries reach V8's optimizing tier)
    let spentO = 0, spentT = 0;
    for (let i = 0; i < 2 || spentO < (QUICK ? 300 : 600) || spentT < (QUICK ? 300 : 600); i++) {
      let t0 = performance.now(); await oursEpoch(); spentO += performance.now() - t0;
      t0 = performance.now(); await theirsEpoch(); spentT += performance.now() - t0;
    }
    const a = [], b = [], q = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now(); await oursEpoch(); const o = (performance.now() - t0) / steps;
      t0 = performance.now(); await theirsEpoch(); const t = (performance.now() - t0) / steps;
      a.push(o); b.push(t); q.push(t / o);
    }
    const label = kind === 'lstm' ? 'LSTM' : 'GRU (resetAfter: false)';
    row(`${label} train step (128 units, 28 steps, 28 features, batch 32)`, 'ms', med(a), med(b),
      `Adam, categorical cross-entropy, digits row by row; mean loss of the last epoch of ${steps} steps: edgegrad ${oursLoss.toFixed(3)}, tfjs-wasm ${theirsLoss.toFixed(3)}`, med(q));
  }
  {
    const { ours, theirs } = models.lstm;
    const x = eg.data.slice(seqs, 0, B), txb = tf.tensor(x.dataSync(), [B, 28, 28]);
    const [o, t, sp] = compare(() => ours.predict(x).dispose(), () => theirs.predict(txb).dispose(), { reps: 3 });
    row('LSTM predict (128 units, 28 steps, 28 features, batch 32)', 'ms', o, t, '', sp);
    txb.dispose();
  }
  console.warn = warn;
  for (const { theirs } of Object.values(models)) theirs.dispose();
  tx.dispose(); ty.dispose();
  trainMem.push(['after the recurrent rows', process.memoryUsage().rss, be.memoryBytes()]);
}

// ---- model inference (issue #4): SqueezeNet 1.1 (ONNX) and MobileNetV2 (nsfwjs, TF.js), batch 1 ----
if (want('inference')) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const { readFileSync } = await import('node:fs');
  const { createRequire: cr } = await import('node:module');
  const req = cr(import.meta.url);
  const nsfwDir = join(here, '..', 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
  const models = [];
  const sqBytes = readFileSync(join(here, '..', 'test', 'fixtures', 'squeezenet1_1.onnx'));
  models.push({ name: 'SqueezeNet 1.1 inference b1 (ONNX)', ours: await eg.loadModel(sqBytes), onnx: sqBytes, shape: [1, 3, 224, 224] });
  const modelJson = req(join(nsfwDir, 'model.min.js'));
  const shard = Uint8Array.from(Buffer.from(req(join(nsfwDir, 'group1-shard1of1.min.js')), 'base64'));
  const mnv2 = await eg.loadModel({ modelJson, weights: shard });
  // ONNX Runtime runs MobileNetV2 from edgegrad's own ONNX export of it (checked equal in the tests)
  const tfModel = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
  }));
  models.push({ name: 'MobileNetV2 inference b1 (nsfwjs)', ours: mnv2, onnx: await eg.toOnnx(mnv2), shape: [1, 224, 224, 3], tf: tfModel });
  for (const m of models) {
    const x = eg.randomUniform(m.shape, 0, 1, 3);
    const session = await ort.InferenceSession.create(m.onnx);
    const ox = new ort.Tensor('float32', x.dataSync(), m.shape);
    const ortTimes = [];
    for (let i = 0; i < 3; i++) await session.run({ [session.inputNames[0]]: ox });
    const oursFn = () => m.ours.predict(x).dispose();
    const tx = tf.tensor(x.dataSync(), m.shape);
    const tfFn = m.tf ? () => { const y = m.tf.predict(tx); y.dispose(); } : null;
    const [o, t, sp] = compare(oursFn, tfFn, { reps: 2 });
    for (let r = 0; r < (QUICK ? 5 : 11); r++) { const t0 = performance.now(); await session.run({ [session.inputNames[0]]: ox }); ortTimes.push(performance.now() - t0); }
    const ortMs = ortTimes.sort((p, q) => p - q)[ortTimes.length >> 1];
    row(m.name, 'ms', o, t, `onnxruntime-web (wasm, 1 thread): ${ortMs.toFixed(2)} ms, edgegrad ${(ortMs / o).toFixed(2)}x faster`, sp);
  }
}

// ---- torchvision architectures as PyTorch exports them (issue 12), batch 1, against onnxruntime-web on the
// same file, one thread each: exported by scripts/export-torchvision.py (Debian's python3-torchvision; the
// test suite caches them in node_modules/.cache), skipped with a note where neither is there ----
if (want('torchvision')) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const { existsSync, readFileSync, mkdirSync: mk } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const names = ['resnet18', 'mobilenet_v3_small', 'mobilenet_v3_large', 'shufflenet_v2_x1_0', 'efficientnet_b0', 'regnet_x_400mf', 'mnasnet1_0', 'googlenet', 'densenet121'];
  const dir = join(here, '..', 'node_modules', '.cache', 'edgegrad-torchvision');
  const missing = names.filter((n) => !existsSync(join(dir, `${n}.onnx`)));
  if (missing.length) {
    try {
      mk(dir, { recursive: true });
      execFileSync('/usr/bin/python3', [join(here, '..', 'scripts', 'export-torchvision.py'), dir, ...missing], { stdio: 'ignore', timeout: 300_000 });
    } catch { log(`torchvision: ${missing.join(', ')} not exported (needs /usr/bin/python3 with torchvision): rows skipped`); }
  }
  for (const name of names.filter((n) => existsSync(join(dir, `${n}.onnx`)))) {
    const bytes = readFileSync(join(dir, `${name}.onnx`));
    const m = await eg.loadModel(bytes);
    const x = eg.randomUniform([1, 3, 224, 224], 0, 1, 3);
    const session = await ort.InferenceSession.create(bytes);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.dataSync(), [1, 3, 224, 224]) };
    const reps = 2, rounds = QUICK ? 5 : 11;
    for (let i = 0; i < 5; i++) { m.predict(x).dispose(); await session.run(feeds); }
    const a = [], b = [], q = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      for (let j = 0; j < reps; j++) m.predict(x).dispose();
      const o = (performance.now() - t0) / reps;
      t0 = performance.now();
      for (let j = 0; j < reps; j++) await session.run(feeds);
      const t = (performance.now() - t0) / reps;
      a.push(o); b.push(t); q.push(t / o);
    }
    const med = (v) => v.slice().sort((u, w) => u - w)[v.length >> 1];
    row(`${name} b1 (torchvision, vs onnxruntime-web)`, 'ms', med(a), med(b), 'onnxruntime-web (wasm, 1 thread) on the same file in the second column', med(q));
    await session.release?.();
  }
}

// ---- int8 (issue #6): the int8 GEMM and quantized models against edgegrad's own float32, same run ----
if (want('int8')) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const dot = be.relaxedDotOk() ? 'relaxed i8 x i7 dot' : be.build === 'relaxed' ? 'SIMD128 i16 dot: this engine fails the relaxed-dot known-answer test' : 'SIMD128 i16 dot';
  {
    const n = 1024;
    const A = be.alloc(n * n), W = be.alloc(n * n), Af = buf(n * n, 1), Bf = buf(n * n, 2), C = be.alloc(n * n * 4);
    const bytes = new Uint8Array(be.memory.buffer);
    for (let i = 0; i < n * n; i++) { bytes[A + i] = (i * 73 + 11) & 255; bytes[W + i] = ((i * 41 + 3) % 255) - 127 & 255; }
    const pb = be.alloc(k.qgemmPackedBSize(n, n)), cs = be.alloc(n * 4), pa = be.alloc(k.qgemmPackedASize(n, n)), work = be.alloc(k.qgemmWorkSize(n, n));
    k.qgemmPackB(n, n, W, n, pb, cs, 0);
    const ws = be.workspace(k.gemmWorkspaceSize(n, n, n));
    const int8 = () => { k.qgemmPackA(n, n, A, n, pa); k.qgemm(n, n, n, pa, 7, pb, cs, 0, 0, 0, C, n, 0, 0, 0, 255, 0, work); };
    const f32 = () => k.gemm(0, 0, n, n, n, 1, Af, n, Bf, n, 0, C, n, 0, 0, 0, ws);
    const [o, t, sp] = compare(int8, f32, { reps: 1 });
    const g = (ms) => (2 * n ** 3) / ms / 1e6;
    row('int8 gemm 1024 (vs edgegrad f32 GFLOP/s)', 'GFLOP/s', g(o), g(t), `int8 ${g(o).toFixed(1)} Gop/s vs f32 ${g(t).toFixed(1)} GFLOP/s: ${sp.toFixed(2)}x; int8 path: ${dot}`, sp);
    freeAll(A, W, Af, Bf, C, pb, cs, pa, work);
  }
  const d = await eg.data.loadDigits();
  const digitsF = await eg.loadModel(join(here, '..', 'models', 'digits-cnn.onnx'));
  const digitsQ = await eg.quantize(digitsF, { calibration: eg.data.slice(d.images, 0, 256) });
  const mbF = await eg.loadModel(join(here, '..', 'models', 'mobilenet-v2-features.onnx'));
  const prep = eg.sequential([eg.layers.resizing({ height: 224, width: 224, inputShape: [28, 28, 1] }), eg.layers.grayscaleToRgb()]);
  const mbCalib = prep.predict(eg.data.slice(d.images, 0, 32));
  const mbQ = await eg.quantize(mbF, { calibration: mbCalib });
  const cases = [
    { name: 'digits-cnn int8 b1', f: digitsF, q: digitsQ, x: eg.data.slice(d.images, 0, 1) },
    { name: 'digits-cnn int8 b32', f: digitsF, q: digitsQ, x: eg.data.slice(d.images, 0, 32) },
    { name: 'MobileNetV2 features int8 b1', f: mbF, q: mbQ, x: eg.data.slice(mbCalib, 0, 1) },
  ];
  if (!QUICK) cases.push({ name: 'MobileNetV2 features int8 b32', f: mbF, q: mbQ, x: mbCalib });
  for (const c of cases) {
    const [o, t, sp] = compare(() => c.q.predict(c.x).dispose(), () => c.f.predict(c.x).dispose(), { reps: 1, rounds: QUICK ? 3 : c.x.shape[0] > 8 && c.f === mbF ? 5 : 11, warmMs: 300 });
    // ONNX Runtime on the same files: the QDQ export and the float one
    const ortMs = async (bytes) => {
      const s = await ort.InferenceSession.create(bytes);
      const ox = new ort.Tensor('float32', c.x.dataSync(), c.x.shape);
      for (let i = 0; i < 2; i++) await s.run({ [s.inputNames[0]]: ox });
      const t = [];
      for (let r = 0; r < (QUICK ? 3 : 5); r++) { const t0 = performance.now(); await s.run({ [s.inputNames[0]]: ox }); t.push(performance.now() - t0); }
      return t.sort((p, q) => p - q)[t.length >> 1];
    };
    const oq = await ortMs(await eg.toOnnx(c.q)), of = await ortMs(await eg.toOnnx(c.f));
    const int8Nodes = c.q.quantization.nodes.filter((n) => n.as === 'int8').length;
    row(`${c.name} (vs edgegrad f32)`, 'ms', o, t, `edgegrad int8 ${o.toFixed(2)} ms vs f32 ${t.toFixed(2)} ms: ${sp.toFixed(2)}x (${int8Nodes} of ${c.q.quantization.nodes.length} dense/conv int8); onnxruntime-web on the same QDQ file ${oq.toFixed(2)} ms, on the float file ${of.toFixed(2)} ms`, sp);
  }
}

// ---- threads (issue 15): bench/threads.mjs in a process of its own, so that no other library's threads
// (tfjs-wasm, onnxruntime-web's pool in this process) and none of this process's heap share the two cores
if (want('threads')) {
  const out = execFileSync(process.execPath, [join(here, 'threads.mjs'), '--json', ...(QUICK ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const r of JSON.parse(out.trim().split('\n').pop())) row(r.name, r.unit, r.ours, r.tfjs ?? NaN, r.note, r.ratio ?? NaN);
}

wasmPeak = Math.max(wasmPeak, be.memoryBytes()); arenaPeak = Math.max(arenaPeak, be.arena.peak);
const mem = { rssMB: +(process.memoryUsage().rss / 2 ** 20).toFixed(1), wasmMB: +(wasmPeak / 2 ** 20).toFixed(1), arenaPeakMB: +(arenaPeak / 2 ** 20).toFixed(1) };
log(`memory: process RSS ${mem.rssMB} MiB (both libraries), edgegrad wasm memory peak ${mem.wasmMB} MiB (arena peak ${mem.arenaPeakMB} MiB)`);
for (const [when, rss, wasm] of trainMem) log(`training memory ${when}: process RSS ${(rss / 2 ** 20).toFixed(1)} MiB, edgegrad wasm memory ${(wasm / 2 ** 20).toFixed(1)} MiB`);

if (JSON_OUT) console.log(JSON.stringify(rows, null, 2));
const md = [
  `# edgegrad benchmark`,
  ``,
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, edgegrad wasm build \`${be.build}\`, tfjs-wasm ${tf.version_core} (XNNPACK, SIMD, 1 thread), same process.`,
  `Ratio > 1: edgegrad faster. Values are medians after a time-based warm-up (both libraries' wasm reaches V8's optimizing tier); the ratio is the median over rounds of (tfjs time / edgegrad time), both timed back to back in each round.`,
  ``,
  `| benchmark | edgegrad | tfjs-wasm | unit | ratio |`,
  `| --- | ---: | ---: | --- | ---: |`,
  ...rows.map((r) => `| ${r.name} | ${r.ours} | ${r.tfjs ?? 'n/a'} | ${r.unit} | ${r.ratio ?? (r.note ?? '')} |`),
  ``,
  ...rows.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`),
  `- Memory: process RSS ${mem.rssMB} MiB at the end (both libraries loaded), edgegrad wasm memory peak ${mem.wasmMB} MiB (arena peak ${mem.arenaPeakMB} MiB).`,
  ...trainMem.map(([when, rss, wasm]) => `- Training memory ${when}: process RSS ${(rss / 2 ** 20).toFixed(1)} MiB, edgegrad wasm memory ${(wasm / 2 ** 20).toFixed(1)} MiB.`),
  ``,
].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', ONLY ? 'only.md' : 'latest.md'), md);
