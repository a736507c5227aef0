// npm run soak -- [--cycles 1000] [--eager 10000]: memory over a long life, written the README's way (no
// dispose anywhere). (1) load the shipped digits CNN, predict, put a head on it, fit, predict: `cycles`
// times, sampling wasm memory, arena bytes in use and RSS; (2) `eager` relu calls on a 4 MiB tensor in one
// synchronous loop. Writes bench/results/soak.csv and soak.svg (the plot) and prints the verdict against
// issue #17's bars: growth over the run under 5% of the working set, and the eager loop finishing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as eg from 'edgegrad';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i < 0 ? def : Number(args[i + 1]); };
const cycles = opt('cycles', 1000), eager = opt('eager', 10000);
const be = await eg.ready();
const MiB = 2 ** 20;
const d = await eg.data.loadDigits();
const x = eg.data.slice(d.images, 0, 64), y = eg.tensor(Int32Array.from(d.labels.slice(0, 64)), [64], 'int32');
const rows = [];
const t0 = performance.now();
for (let i = 0; i < cycles; i++) {
  const base = await eg.loadModel(join(root, 'models', 'digits-cnn.onnx'));
  base.predict(eg.data.slice(d.images, 0, 8));
  const m = eg.sequential([base.cut('flatten').freeze(), eg.layers.dense({ units: 10, activation: 'softmax' })]);
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  await m.fit(x, y, { epochs: 1, batchSize: 32 });
  m.predict(x);
  rows.push({ cycle: i + 1, wasm: be.memoryBytes() / MiB, inUse: be.arena.inUse / MiB, rss: process.memoryUsage().rss / MiB });
  if ((i + 1) % 100 === 0) console.error(`cycle ${i + 1}/${cycles}: wasm ${rows.at(-1).wasm.toFixed(0)} MiB, in use ${rows.at(-1).inUse.toFixed(1)} MiB, rss ${rows.at(-1).rss.toFixed(0)} MiB, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
// "flat after the first cycles": the mean over cycles 100-199 (the arena has reached its reclaim floor,
// everything is planned) against the mean over the last 100, as growth per 1,000 cycles relative to the
// first (the working set); means, because RSS moves with every collection
const mean = (rs, k) => rs.reduce((s, r) => s + r[k], 0) / rs.length;
const early = rows.slice(Math.min(99, Math.max(0, rows.length - 200)), Math.min(199, rows.length)), late = rows.slice(-100);
const span = Math.max(1, (rows.length - 100) - 150) / 1000;
const growth = { wasm: (mean(late, 'wasm') - mean(early, 'wasm')) / mean(early, 'wasm') / span, rss: (mean(late, 'rss') - mean(early, 'rss')) / mean(early, 'rss') / span };
const warm = { wasm: mean(early, 'wasm'), rss: mean(early, 'rss') }, last = { wasm: mean(late, 'wasm'), rss: mean(late, 'rss') };

let eagerDone = 0, eagerError = '';
const a = eg.randomNormal([1 << 20]);
try {
  for (let i = 0; i < eager; i++) { eg.relu(a); eagerDone++; }
} catch (e) {
  eagerError = e.message;
}

const out = join(root, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'soak.csv'), ['cycle,wasm_mib,in_use_mib,rss_mib', ...rows.map((r) => `${r.cycle},${r.wasm.toFixed(2)},${r.inUse.toFixed(2)},${r.rss.toFixed(2)}`)].join('\n') + '\n');
// the plot: wasm memory, arena in use and RSS against the cycle
const W = 640, H = 320, pad = 40, maxY = Math.max(...rows.map((r) => Math.max(r.wasm, r.rss))) * 1.05;
const line = (k, color) => `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${rows.map((r) => `${(pad + (W - 2 * pad) * (r.cycle - 1) / Math.max(1, cycles - 1)).toFixed(1)},${(H - pad - (H - 2 * pad) * r[k] / maxY).toFixed(1)}`).join(' ')}"/>`;
writeFileSync(join(out, 'soak.svg'), `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="black"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="black"/>
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">load / predict / fit cycle (no dispose)</text>
<text x="8" y="${pad - 8}">MiB (max ${maxY.toFixed(0)})</text>
${line('wasm', '#1f77b4')}${line('inUse', '#2ca02c')}${line('rss', '#d62728')}
<text x="${W - pad - 150}" y="${pad + 10}" fill="#1f77b4">wasm memory</text><text x="${W - pad - 150}" y="${pad + 24}" fill="#2ca02c">arena in use</text><text x="${W - pad - 150}" y="${pad + 38}" fill="#d62728">process RSS</text>
</svg>
`);
const result = {
  cycles, seconds: +((performance.now() - t0) / 1000).toFixed(1),
  wasmMiB: { cycles100to199: +warm.wasm.toFixed(1), last100: +last.wasm.toFixed(1), growthPer1000Cycles: +growth.wasm.toFixed(3) },
  rssMiB: { cycles100to199: +warm.rss.toFixed(1), last100: +last.rss.toFixed(1), growthPer1000Cycles: +growth.rss.toFixed(3) },
  eager: { asked: eager, done: eagerDone, error: eagerError || null, wasmMiB: +(be.memoryBytes() / MiB).toFixed(1) },
  bars: { flat: growth.wasm < 0.05 && growth.rss < 0.05, eagerLoop: eagerDone === eager },
};
console.log(JSON.stringify(result, null, 2));
