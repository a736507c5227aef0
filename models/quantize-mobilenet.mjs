// MobileNetV2 int8 with its depthwise layers int8 (assembly/dwconv_i8.ts): accuracy of the frozen backbone +
// new head on the digits (float32 vs int8, mobilenet-transfer.mjs) and inference time: float32, int8 with the
// depthwise layers kept float (keepFloat: the arithmetic before the int8 depthwise kernel) and int8 throughout,
// at batch 1 and 32, the fastest of interleaved rounds in one process, one thread; plus the two depthwise layers
// 112x112x32 and 14x14x576 alone (3x3, ReLU6) and each model's depthwise share from model.profile.
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
  const share = (m) => { const p = m.profile(x1, { runs: 5 }); const s = p.filter((r) => dw.includes(r.node)).reduce((a, r) => a + r.ms, 0); return `${s.toFixed(1)} of ${p.reduce((a, r) => a + r.ms, 0).toFixed(1)} ms`; };
  console.log(`depthwise layers (model.profile, batch 1): float32 ${share(float)}, int8 before ${share(before)}, int8 after ${share(after)}`);
  for (const batch of [1, 32]) {
    const x = prep.predict(eg.data.slice(d.images, 9000, 9000 + batch));
    const [tf, tb, ta] = bench([() => float.predict(x).dispose(), () => before.predict(x).dispose(), () => after.predict(x).dispose()], batch > 1 ? 7 : 21, batch > 1 ? 1 : 3);
    console.log(`MobileNetV2 batch ${batch}: float32 ${tf.toFixed(1)} ms; int8, depthwise float ${tb.toFixed(1)} ms (${(tf / tb).toFixed(2)}x); int8 with int8 depthwise ${ta.toFixed(1)} ms (${(tf / ta).toFixed(2)}x)`);
  }
}
