// MobileNetV2 int8 with its depthwise layers int8 (assembly/dwconv_i8.ts): accuracy of the frozen backbone +
// new head on the digits (float32 vs int8, mobilenet-transfer.mjs) and inference time: float32, int8 with the
// depthwise layers kept float (keepFloat: the arithmetic before the int8 depthwise kernel) and int8 throughout,
// at batch 1 and 32, the fastest of interleaved rounds in one process, one thread; plus the kernels alone, the
// two depthwise layers 112x112x32 and 14x14x576 alone (3x3, ReLU6) and per-layer times from model.profile.
// `node models/quantize-mobilenet.mjs [--no-accuracy] [--no-speed]` (after npm run build; EG=path picks another build).
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { mobilenetTransfer } from './mobilenet-transfer.mjs';
const eg = await import(process.env.EG ?? '../dist/index.js');
const args = new Set(process.argv.slice(2));
const be = await eg.ready({ threads: 1 });
console.log(`wasm build ${be.build}, int8 dot ${be.int8Path?.dot}`);
const MODEL = new URL('./mobilenet-v2-features.onnx', import.meta.url).pathname;

if (!args.has('--no-accuracy')) {
  const f = await mobilenetTransfer(eg, { modelPath: MODEL, testCount: 1000 });
  const q = await mobilenetTransfer(eg, { modelPath: MODEL, testCount: 1000, int8: true });
  const nodes = q.model.layers.find((l) => l.quantization)?.quantization?.nodes;
  console.log(`accuracy on ${f.test} test digits: float32 ${(f.accuracy * 100).toFixed(1)}%, int8 ${(q.accuracy * 100).toFixed(1)}%`
    + `${nodes ? ` (${nodes.filter((n) => n.as === 'int8').length} of ${nodes.length} convs int8)` : ''}; files ${(q.bytes.float32 / 1e6).toFixed(2)} MB -> ${(q.bytes.int8 / 1e6).toFixed(2)} MB`);
}

if (!args.has('--no-speed')) {
  // the fastest of interleaved rounds: other processes on a shared machine only ever add time
  const best = (a) => Math.min(...a);
  const bench = (fns, rounds, reps) => {
    fns.forEach((f) => f());
    const t = fns.map(() => []);
    for (let r = 0; r < rounds; r++) fns.forEach((f, i) => { const t0 = performance.now(); for (let k = 0; k < reps; k++) f(); t[i].push((performance.now() - t0) / reps); });
    return t.map(best);
  };
  // the kernels alone (3x3, stride 1, same padding, ReLU6): qdepthwise (u8 in, f32 out) against the float
  // depthwise kernel (conv2dForward, groups = channels) and the quantizeU8 pass the int8 layer adds
  const k = be.kernels;
  for (const [h, c] of [[112, 32], [56, 144], [14, 576], [7, 960]]) {
    const n = h * h * c, r = (i) => Math.sin(i * 12.9898) * 0.5 + 0.5;
    const x = be.alloc(n * 4), xq = be.alloc(n), w = be.alloc(9 * c), wf = be.alloc(9 * c * 4), y = be.alloc(n * 4), mult = be.alloc(c * 4), bias = be.alloc(c * 4);
    const work = be.alloc(k.qdepthwiseWorkSize(1, h, h, c, c)), geom = be.alloc(64);
    be.f32(x, n).set(Float32Array.from({ length: n }, (_, i) => r(i) * 6));
    new Int8Array(be.memory.buffer, w, 9 * c).set(Int8Array.from({ length: 9 * c }, (_, i) => Math.round(r(i + 7) * 254) - 127));
    be.f32(wf, 9 * c).set(Float32Array.from({ length: 9 * c }, (_, i) => r(i + 7) - 0.5));
    be.f32(mult, c).fill(0.001); be.f32(bias, c).fill(0);
    be.i32(geom, 16).set([1, h, h, c, 3, 3, 1, 1, 1, 1, 1, 1, h, h, c, c]);
    const reps = Math.max(3, Math.round(2e6 / n));
    const [tq, td, tf] = bench([() => k.quantizeU8(n, x, 0.0235, 0, xq),
      () => k.qdepthwise(1, h, h, c, 3, 3, 1, 1, 1, 1, 1, 1, h, h, c, xq, 0, w, bias, 2, y, mult, 0, 0, 255, 2, work),
      () => k.conv2dForward(geom, x, wf, bias, y, 2, 0, 0)], 15, reps);
    console.log(`kernels, 3x3 over ${h}x${h}x${c}: qdepthwise ${td.toFixed(3)} ms (+ quantizeU8 ${tq.toFixed(3)} ms), float depthwise ${tf.toFixed(3)} ms (${(tf / td).toFixed(2)}x)`);
    for (const p of [x, xq, w, wf, y, mult, bias, work, geom]) be.free(p);
  }
  for (const [h, c] of [[112, 32], [14, 576]]) {
    for (const batch of [1, 32]) {
      const m = eg.sequential([eg.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6', inputShape: [h, h, c], seed: 1 })]);
      const q = await eg.quantize(m, { calibration: eg.randomUniform([4, h, h, c], 0, 6, 2) });
      const x = eg.randomUniform([batch, h, h, c], 0, 6, 3);
      const [tf, tq] = bench([() => m.predict(x).dispose(), () => q.predict(x).dispose()], batch > 1 ? 7 : 15, batch > 1 ? 1 : 5);
      console.log(`depthwise 3x3 ${h}x${h}x${c} + ReLU6, batch ${batch}: float32 ${tf.toFixed(2)} ms, int8 ${tq.toFixed(2)} ms (${(tf / tq).toFixed(2)}x)`);
    }
  }
  const float = await eg.loadModel(MODEL);
  const d = await eg.data.loadDigits();
  const prep = eg.sequential([eg.layers.resizing({ height: 224, width: 224, inputShape: [28, 28, 1] }), eg.layers.grayscaleToRgb()]);
  const calibration = prep.predict(eg.data.slice(d.images, 0, 64));
  const g = float.graph;
  const dw = g.nodes.filter((n) => n.op === 'conv2d' && g.values[n.inputs[1]].shape[2] === 1 && g.values[n.inputs[0]].shape[3] > 1).map((n) => n.name);
  const before = await eg.quantize(float, { calibration, keepFloat: dw });
  const after = await eg.quantize(float, { calibration });
  console.log(`QDQ files: int8 with depthwise float ${((await eg.toOnnx(before)).length / 1e6).toFixed(3)} MB, with int8 depthwise ${((await eg.toOnnx(after)).length / 1e6).toFixed(3)} MB`);
  const x1 = prep.predict(eg.data.slice(d.images, 9000, 9001));
  // model.profile: ms per node (the int8 ones include quantizing their float input); the depthwise layers
  // over 112x112x32 and 14x14x576 by their input shapes
  const first = dw.find((n) => g.values[g.nodes.find((m) => m.name === n).inputs[0]].shape[3] === 32);
  const mid = dw.find((n) => { const s = g.values[g.nodes.find((m) => m.name === n).inputs[0]].shape; return s[3] === 576 && s[1] === 14; });
  const profiles = [float, before, after].map((m) => m.profile(x1, { runs: 11 }));
  const ms = (p, f) => p.filter(f).reduce((a, r) => a + r.ms, 0).toFixed(2);
  const [pf, pb, pa] = profiles;
  console.log(`model.profile, batch 1 (float32 / int8 with depthwise float / int8 with int8 depthwise):`);
  console.log(`  all 17 depthwise layers ${ms(pf, (r) => dw.includes(r.node))} / ${ms(pb, (r) => dw.includes(r.node))} / ${ms(pa, (r) => dw.includes(r.node))} ms of ${ms(pf, () => true)} / ${ms(pb, () => true)} / ${ms(pa, () => true)}`);
  console.log(`  ${first} (112x112x32) ${ms(pf, (r) => r.node === first)} / ${ms(pb, (r) => r.node === first)} / ${ms(pa, (r) => r.node === first)} ms`);
  console.log(`  ${mid} (14x14x576) ${ms(pf, (r) => r.node === mid)} / ${ms(pb, (r) => r.node === mid)} / ${ms(pa, (r) => r.node === mid)} ms`);
  for (const batch of [1, 32]) {
    const x = prep.predict(eg.data.slice(d.images, 9000, 9000 + batch));
    const [tf, tb, ta] = bench([() => float.predict(x).dispose(), () => before.predict(x).dispose(), () => after.predict(x).dispose()], batch > 1 ? 7 : 21, batch > 1 ? 1 : 3);
    console.log(`MobileNetV2 batch ${batch}: float32 ${tf.toFixed(1)} ms; int8, depthwise float ${tb.toFixed(1)} ms (${(tf / tb).toFixed(2)}x); int8 with int8 depthwise ${ta.toFixed(1)} ms (${(tf / ta).toFixed(2)}x)`);
  }
}
