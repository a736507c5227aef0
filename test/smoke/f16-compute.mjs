// Float16 compute (loadModel's compute: 'float16') on a WebGPU device with shader-f16 (Deno's wgpu on Mesa
// lavapipe: test/f16-compute.test.ts). Each model is saved as ONNX on wasm and loaded three ways on the same
// inputs: float16 weights computed in float32 on wasm (the truth: the path checked against ONNX Runtime),
// the same on webgpu, and float16 compute on webgpu. Prints one JSON report per model.
import * as eg from 'edgegrad';
import onnxProto from 'onnx-proto';

const data = (n, seed, scale = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453 % 1 * scale);
const fixture = (f) => new URL(`../fixtures/${f}`, import.meta.url);

async function models() {
  await eg.ready({ backend: 'wasm' });
  // odd sizes: K = 301, 257, 27, 117 (not multiples of 4), N = 257, 129, 13, 21, 9, 11 (odd)
  const mlp = eg.sequential([
    eg.layers.dense({ units: 257, activation: 'relu', inputShape: [301] }),
    eg.layers.dense({ units: 129, activation: 'tanh' }),
    eg.layers.dense({ units: 11 }),
  ]);
  const cnn = eg.sequential([
    eg.layers.conv2d({ filters: 13, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [15, 17, 3] }),
    eg.layers.conv2d({ filters: 21, kernelSize: 3, strides: 2, activation: 'relu' }),
    eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2 }),
    eg.layers.conv2d({ filters: 9, kernelSize: 1, activation: 'relu6' }),
    eg.layers.flatten(),
    eg.layers.dense({ units: 11 }),
  ]);
  const mlpBytes = await eg.toOnnx(mlp);
  const out = [
    { name: 'mlp', bytes: mlpBytes, shape: [37, 301] },
    // one row: the smallest tile, mostly idle (the f32 path takes its one-thread-per-output kernel here)
    { name: 'mlp-batch1', bytes: mlpBytes, shape: [1, 301] },
    { name: 'cnn', bytes: await eg.toOnnx(cnn), shape: [5, 15, 17, 3] },
    { name: 'matmul', bytes: tokensMatMul(), shape: [3, 6, 33] },
  ];
  out.push({ name: 'squeezenet', bytes: new Uint8Array(await (await fetch(fixture('squeezenet1_1.onnx'))).arrayBuffer()), shape: [2, 3, 224, 224] });
  return out;
}

/** ONNX MatMul of tokens [batch, 6, 33] by a constant [33, 19], then Relu: a matMul node (not a dense one). */
function tokensMatMul() {
  const { onnx } = onnxProto;
  const vi = (name, dims) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const b = data(33 * 19, 3, 0.5);
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tokens',
      node: [{ opType: 'MatMul', name: 'proj', input: ['x', 'B'], output: ['z'] }, { opType: 'Relu', name: 'relu', input: ['z'], output: ['y'] }],
      initializer: [{ name: 'B', dims: [33, 19], dataType: 1, rawData: new Uint8Array(b.buffer) }],
      input: [vi('x', ['N', 6, 33])], output: [vi('y', ['N', 6, 19])],
    },
  })).finish();
}

async function run(bytes, shape, options) {
  const m = await eg.loadModel(bytes, options);
  const x = eg.tensor(data(shape.reduce((a, b) => a * b, 1), 7), shape);
  const y = await m.predict(x).data();
  // warm: the best of three runs, shaders compiled (informative only: a CPU's Vulkan emulates the GPU)
  let ms = Infinity;
  for (let i = 0; i < 3; i++) { const t0 = performance.now(); await m.predict(x).data(); ms = Math.min(ms, performance.now() - t0); }
  return { y, ms, summary: m.summary({ print: false }) };
}

const rows = (y, n) => Array.from({ length: n }, (_, r) => y.subarray((r * y.length) / n, ((r + 1) * y.length) / n));
const argmax = (v) => v.indexOf(Math.max(...v));

const list = await models();
const truth = [];
for (const { bytes, shape } of list) truth.push((await run(bytes, shape, { weights: 'float16' })).y);
const gpu = await eg.ready({ backend: 'webgpu' });
const reports = [];
for (const [k, { name, bytes, shape }] of list.entries()) {
  const f32 = await run(bytes, shape, { weights: 'float16' });
  const before = gpu.half.dispatches;
  const f16 = await run(bytes, shape, { weights: 'float16', compute: 'float16' });
  const want = truth[k], scale = Math.max(...want.map(Math.abs));
  const err = (a) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0) / scale;
  const n = shape[0], agree = rows(f16.y, n).filter((r, i) => argmax(Array.from(r)) === argmax(Array.from(rows(want, n)[i]))).length;
  reports.push({
    name, scale, rows: n, agree, msF32: Math.round(f32.ms), msF16: Math.round(f16.ms),
    errF32: err(f32.y), errF16: err(f16.y),
    f16VsF32: f16.y.reduce((m, v, i) => Math.max(m, Math.abs(v - f32.y[i])), 0) / scale,
    // per predict: the first run, then the three timed ones
    dispatches: (gpu.half.dispatches - before) / 4,
    summary: f16.summary,
  });
}

// where it cannot run, the error names why: the wasm backend (shader-f16 missing is the Node/Dawn test's)
await eg.ready({ backend: 'wasm' });
let wasmError = '';
try { await eg.loadModel(list[0].bytes, { weights: 'float16', compute: 'float16' }); } catch (e) { wasmError = e.message; }
let optionError = '';
try { await eg.loadModel(list[0].bytes, { compute: 'float16' }); } catch (e) { optionError = e.message; }
console.log(JSON.stringify({ adapter: gpu.adapter, reports, wasmError, optionError }));
process.exit(0);
