// `node bench/threads.mjs [--json] [--quick]` (run by bench/run.mjs in a process of its own): edgegrad with
// 2 threads against 1 on the same kernels and models, and MobileNetV2 against onnxruntime-web with 2 threads.
// Nothing else runs in this process: no other library's thread pool spins beside the one measured.
import v8 from 'node:v8';
// as in run.mjs: the relaxed build, which current runtimes (Node 22+, Deno, Bun, Chromium) run by default
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const eg = await import('../dist/index.js');
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufOn, compare, convGeometryOn, lenet5 as lenet5Of, median } from './common.mjs';

const JSON_OUT = process.argv.includes('--json');
const QUICK = process.argv.includes('--quick');
const here = dirname(fileURLToPath(import.meta.url));
const log = (...m) => { if (!JSON_OUT) console.error(...m); };
let be, k;
const buf = (n, seed = 1) => bufOn(be, n, seed);
const convGeometry = (...a) => convGeometryOn(be, ...a);
const lenet5 = () => lenet5Of(eg);
const rows = [];
function row(name, unit, ours, other, note = '', ratio = NaN) {
  const r = { name, unit, ours: +ours.toFixed(unit === 'GFLOP/s' ? 1 : 3), tfjs: Number.isFinite(other) ? +other.toFixed(unit === 'GFLOP/s' ? 1 : 3) : null, ratio: Number.isFinite(ratio) ? +ratio.toFixed(2) : null };
  if (note) r.note = note;
  rows.push(r);
  log(`${name.padEnd(44)} ${String(r.ours).padStart(9)} ${String(r.tfjs ?? 'n/a').padStart(9)} ${unit.padEnd(8)} ${r.ratio ?? ''}${note ? '  ' + note : ''}`);
}

const be1 = await eg.ready({ threads: 1 });
const be2 = await eg.ready({ threads: 2 });
const tinfo = be2.threads ? `${be2.threads.threads} threads (${be2.threads.reason})` : 'this dist/ predates threads: rebuild it';
log(`threads: ${tinfo}`);
const rounds = QUICK ? 5 : 11;
const med = median;
/** Interleaved rounds of async sides; returns each side's median ms and the median per-round ratio side0 / side1. */
async function rounds2(sides, reps, warm = 2) {
  for (let i = 0; i < warm; i++) for (const f of sides) await f();
  const t = sides.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sides.length; i++) {
      // a pause between sides: thread pools that spin after a run (onnxruntime-web's, edgegrad's) go idle
      // before the next side starts, so none is timed against another's spinning threads
      await new Promise((res) => setTimeout(res, 30));
      const t0 = performance.now();
      for (let j = 0; j < reps; j++) await sides[i]();
      t[i].push((performance.now() - t0) / reps);
    }
  }
  const ratios = (a, b) => med(t[a].map((x, r) => x / t[b][r]));
  return { ms: t.map(med), ratios };
}
const on = async (threads) => { be = await eg.ready({ threads }); k = be.kernels; };
// GEMM 1024 and conv 3x3 56x56x64: kernels on each backend's own buffers
const kernelSide = (b, setup) => { be = b; k = b.kernels; return setup(); };
const gemmSetup = () => {
  const n = 1024, A = buf(n * n, 1), B = buf(n * n, 2), C = be.alloc(n * n * 4), ws = be.workspace(k.gemmWorkspaceSize(n, n, n));
  const kk = k;
  return () => kk.gemm(0, 0, n, n, n, 1, A, n, B, n, 0, C, n, 0, 0, 0, ws);
};
const convSetup = () => {
  const [N, H, W, C, CO] = [1, 56, 56, 64, 64];
  const x = buf(N * H * W * C), w = buf(9 * C * CO), y = be.alloc(N * H * W * CO * 4);
  const geom = convGeometry(N, H, W, C, 3, 3, 1, CO, 1, 'same');
  const ws = be.alloc(k.convWorkspaceSize(geom));
  const kk = k;
  return () => kk.conv2dForward(geom, x, w, 0, y, 0, 0, ws);
};
{
  const f1 = kernelSide(be1, gemmSetup), f2 = kernelSide(be2, gemmSetup);
  const [o, t, sp] = compare(f2, f1, { reps: 1 });
  const gf = (ms) => (2 * 1024 ** 3) / ms / 1e6;
  row('gemm 1024x1024x1024, 2 threads (vs 1 thread)', 'GFLOP/s', gf(o), gf(t), `edgegrad 1 thread in the second column; ${tinfo}`, sp);
}
{
  const f1 = kernelSide(be1, convSetup), f2 = kernelSide(be2, convSetup);
  const [o, t, sp] = compare(f2, f1, { reps: 5 });
  row('conv2d 3x3 56x56x64->64 b1, 2 threads (vs 1)', 'ms', o, t, 'edgegrad 1 thread in the second column', sp);
}
// LeNet-5 training step, batch 32 (the model of the training section), one model per backend
{
  const d = await eg.data.loadDigits();
  const steps = QUICK ? 4 : 8;
  const make = async (threads) => {
    await on(threads);
    const m = lenet5();
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    // the data on this backend (a tensor lives on the backend that was active when it was made)
    const x = eg.tensor(eg.data.slice(d.images, 0, 32 * steps).dataSync(), [32 * steps, 28, 28, 1]);
    const y = eg.tensor(eg.data.slice(eg.data.oneHot(d.labels, 10), 0, 32 * steps).dataSync(), [32 * steps, 10]);
    const step = async () => { await on(threads); await m.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false }); };
    return step;
  };
  const s1 = await make(1), s2 = await make(2);
  const { ms, ratios } = await rounds2([s2, s1], 1);
  row('LeNet-5 train step b32, 2 threads (vs 1)', 'ms', ms[0] / steps, ms[1] / steps, 'edgegrad 1 thread in the second column', ratios(1, 0));
}
// MobileNetV2 batch 1 (nsfwjs, as above): edgegrad 2 threads, 1 thread, and onnxruntime-web with 2 threads
// in a worker thread of its own (its thread count is fixed when its wasm loads; the rows above use 1)
{
  const { createRequire: cr } = await import('node:module');
  const { Worker } = await import('node:worker_threads');
  const req = cr(import.meta.url);
  const nsfwDir = join(here, '..', 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
  const modelJson = req(join(nsfwDir, 'model.min.js'));
  const shard = Uint8Array.from(Buffer.from(req(join(nsfwDir, 'group1-shard1of1.min.js')), 'base64'));
  const make = async (threads) => {
    await on(threads);
    const m = await eg.loadModel({ modelJson, weights: shard });
    const x = eg.randomUniform([1, 224, 224, 3], 0, 1, 3);
    return { m, x, run: async () => { await on(threads); m.predict(x).dispose(); } };
  };
  const m1 = await make(1), m2 = await make(2);
  const w = new Worker(new URL('./ort-threads.mjs', import.meta.url));
  let failed = null;
  w.on('error', (e) => { failed = e; });
  w.on('exit', (c) => { failed ??= new Error(`onnxruntime-web worker exited (${c})`); });
  const ask = (msg) => new Promise((res, rej) => {
    if (failed) { rej(failed); return; }
    const t = setInterval(() => { if (failed) { clearInterval(t); rej(failed); } }, 100);
    w.once('message', (r) => { clearInterval(t); if (r.error) rej(new Error(r.error)); else res(r); });
    w.postMessage(msg);
  });
  await ask({ onnx: await eg.toOnnx(m2.m), input: m2.x.dataSync(), shape: [1, 224, 224, 3], threads: 2 });
  let ortLast = 0;
  const ortRun = async () => { ortLast = (await ask({ run: true })).ms; };
  const ortTimes = [];
  const { ms, ratios } = await rounds2([m2.run, m1.run, async () => { await ortRun(); ortTimes.push(ortLast); }], 1);
  await ask({ close: true }).catch(() => {});
  await w.terminate();
  const ortMs = med(ortTimes.slice(-rounds)); // the worker's own timing of each run (no message latency)
  row('MobileNetV2 b1, 2 threads (vs 1)', 'ms', ms[0], ms[1], 'edgegrad 1 thread in the second column', ratios(1, 0));
  row('MobileNetV2 b1, 2 threads (vs onnxruntime-web 2 threads)', 'ms', ms[0], ortMs,
    `onnxruntime-web (wasm, 2 threads, own worker thread, edgegrad's ONNX export) in the second column; per-round ratio incl. message latency ${ratios(2, 0).toFixed(2)}`, ortMs / ms[0]);
}

if (JSON_OUT) console.log(JSON.stringify(rows));
