// Fine-tuning all of MobileNetV2 (the shipped features + a 5-way softmax head) at batch 8 under a memory
// budget, against the same fine-tune without one: planned bytes of a step, the checkpoints chosen, time
// per step, and the largest weight difference after 10 Adam steps. Writes mobilenet-budget.json.
// node models/budget/mobilenet-budget.mjs [--steps 10] [--budget 5] (budget in multiples of inference)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const here = dirname(fileURLToPath(import.meta.url));
const eg = await import(process.env.EDGEGRAD_MODULE ?? join(here, '..', '..', 'dist', 'index.js'));
const arg = (k, d) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const steps = arg('steps', 10), factor = arg('budget', 5), batch = 8;
await eg.ready({ threads: 1 });
const make = async () => {
  const base = await eg.loadModel(join(here, '..', 'mobilenet-v2-features.onnx'));
  eg.setSeed(1);
  const m = eg.sequential([base, eg.layers.dense({ units: 5, activation: 'softmax' })]);
  m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-4 }), loss: 'sparseCategoricalCrossentropy' });
  return m;
};
const x = eg.randomUniform([batch * steps, 224, 224, 3], 0, 1, 3);
const y = eg.tensor(Int32Array.from({ length: batch * steps }, (_, i) => i % 5), [batch * steps], 'int32');
const free = await make(), tight = await make();
const mem = tight.trainingMemory(batch);
const budget = Math.round(factor * mem.inference);
const planned = tight.trainingMemory(batch, { memoryBudget: budget }).budgeted;
const run = async (m, extra) => { const t0 = performance.now(); const h = await m.fit(x, y, { epochs: 1, batchSize: batch, shuffle: false, ...extra }); return { ms: (performance.now() - t0) / steps, loss: h.history.loss[0] }; };
const a = await run(free, {}), b = await run(tight, { memoryBudget: budget });
let maxDiff = 0, maxAbs = 0;
const wa = free.getWeights(), wb = tight.getWeights();
wa.forEach((t, k) => { const p = t.dataSync(), q = wb[k].dataSync(); for (let i = 0; i < p.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(p[i] - q[i])); maxAbs = Math.max(maxAbs, Math.abs(p[i])); } });
const out = {
  batch, steps, inferenceBytes: mem.inference, stepBytes: mem.step, stepOverInference: +(mem.step / mem.inference).toFixed(2),
  budgetBytes: budget, budgetedBytes: planned.bytes, budgetedOverInference: +(planned.bytes / mem.inference).toFixed(2), checkpoints: planned.checkpoints, recomputedNodes: planned.recomputedNodes,
  msPerStep: { unbudgeted: +a.ms.toFixed(0), budgeted: +b.ms.toFixed(0) }, loss: { unbudgeted: a.loss, budgeted: b.loss }, maxWeightDiff: maxDiff, maxWeight: maxAbs,
};
console.log(JSON.stringify(out, null, 1));
writeFileSync(join(here, 'mobilenet-budget.json'), JSON.stringify(out, null, 1) + '\n');
