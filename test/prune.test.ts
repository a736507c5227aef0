// Unstructured pruning (issue 18): TF-MOT's schedules against their formula; masks that hold through every
// optimizer's steps; exact counts per layer and global; the Gauss-Newton / Fisher diagonal against its closed
// form on a softmax layer and against finite differences through a conv net; Optimal Brain Surgeon against
// a direct float64 computation (explicit inverses of the kept weights' Hessian); pruned models in ONNX
// Runtime and through int8 quantization; the digits CNN at 70%; the prune command; clear errors.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBuild, rng, maxRelDiff, runOrt } from './helpers.js';
import * as eg from '../src/index.js';
import { main } from '../src/cli/index.js';
import { obsPrune } from '../src/compress/saliency.js';
// @ts-expect-error an experiment script in plain JavaScript
import { pruneOnce, digitsSplit, accuracy } from '../models/compress/prune-digits.mjs';

const root = join(import.meta.dirname, '..');

function randomData(n: number, shape: number[], classes: number, seed: number): { x: eg.Tensor; y: eg.Tensor; labels: Int32Array } {
  const r = rng(seed), per = shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: n * per }, () => r() * 2 - 1);
  const labels = Int32Array.from({ length: n }, () => Math.floor(r() * classes));
  return { x: eg.tensor(x, [n, ...shape]), y: eg.tensor(labels, [n], 'int32'), labels };
}

function smallCnn(seed = 1): eg.Sequential {
  return eg.sequential([
    eg.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 2], seed }),
    eg.layers.flatten(),
    eg.layers.dense({ name: 'd1', units: 8, activation: 'tanh', seed: seed + 1 }),
    eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: seed + 2 }),
  ]);
}

/** The kernels of a built model by layer name (copies). */
function kernels(m: eg.Model): Record<string, Float32Array> {
  const o: Record<string, Float32Array> = {};
  for (const l of m.layers) if (l.weights[0]?.name === 'kernel') o[l.name] = l.weights[0].tensor.dataSync() as Float32Array;
  return o;
}

describe('pruning', () => {
  beforeAll(() => { useBuild('simd'); });

  it('polynomialDecay and constantSparsity follow TF-MOT: s_f + (s_i - s_f)(1 - p)^power, pruning every frequency steps in range', () => {
    const s = eg.pruning.polynomialDecay({ initialSparsity: 0.1, finalSparsity: 0.8, beginStep: 20, endStep: 120, power: 3, frequency: 25 });
    for (const t of [0, 19, 20, 21, 45, 70, 95, 119, 120, 121, 500]) {
      const p = Math.min(1, Math.max(0, (t - 20) / 100));
      expect(s.at(t).sparsity).toBeCloseTo(0.8 + (0.1 - 0.8) * (1 - p) ** 3, 12);
      expect(s.at(t).prune).toBe(t >= 20 && t <= 120 && (t - 20) % 25 === 0);
    }
    expect(s.at(20).sparsity).toBeCloseTo(0.1, 12);
    expect(s.at(120).sparsity).toBeCloseTo(0.8, 12);
    // defaults: power 3, frequency 100, initial 0, begin 0
    const d = eg.pruning.polynomialDecay({ finalSparsity: 0.5, endStep: 1000 });
    expect(d.at(500).sparsity).toBeCloseTo(0.5 * (1 - 0.5 ** 3), 12);
    expect([0, 100, 150, 1000, 1100].map((t) => d.at(t).prune)).toEqual([true, true, false, true, false]);
    const c = eg.pruning.constantSparsity({ targetSparsity: 0.6, beginStep: 10, frequency: 5 });
    expect([9, 10, 12, 15, 10_000].map((t) => c.at(t))).toEqual([
      { prune: false, sparsity: 0.6 }, { prune: true, sparsity: 0.6 }, { prune: false, sparsity: 0.6 }, { prune: true, sparsity: 0.6 }, { prune: true, sparsity: 0.6 }]);
  });

  it('per-layer pruning zeroes exactly round(s·n) of each kernel, its smallest |w|; global zeroes round(s·N) below one threshold', () => {
    const m = smallCnn(3);
    m.predict(eg.zeros([1, 6, 6, 2]));
    const w0 = kernels(m);
    const p = new eg.Pruning(m, { scope: 'layer' }).prune(0.37);
    const w1 = kernels(m);
    for (const [name, w] of Object.entries(w0)) {
      const k = Math.round(0.37 * w.length);
      const zeros = w1[name].filter((v) => v === 0).length;
      expect(zeros, name).toBe(k);
      // the zeroed ones are the k smallest magnitudes; the rest are untouched
      const sorted = Array.from(w, Math.abs).sort((a, b) => a - b);
      for (let i = 0; i < w.length; i++) {
        if (w1[name][i] === 0) expect(Math.abs(w[i])).toBeLessThanOrEqual(sorted[k - 1]);
        else { expect(w1[name][i]).toBe(w[i]); expect(Math.abs(w[i])).toBeGreaterThanOrEqual(sorted[k - 1]); }
      }
      expect(Array.from(p.maskOf(name)!).filter((v) => v === 0).length).toBe(k);
    }
    expect(eg.pruning.sparsity(m).map((r) => [r.layer, r.zeros])).toEqual(Object.entries(w0).map(([n, w]) => [n, Math.round(0.37 * w.length)]));

    const g = smallCnn(3);
    g.predict(eg.zeros([1, 6, 6, 2]));
    new eg.Pruning(g, { scope: 'global' }).prune(0.6);
    const after = kernels(g), all = Object.values(w0), N = all.reduce((s, w) => s + w.length, 0);
    let zeros = 0, maxPruned = 0, minKept = Infinity;
    for (const [name, w] of Object.entries(w0)) {
      w.forEach((v, i) => {
        if (after[name][i] === 0) { zeros++; maxPruned = Math.max(maxPruned, Math.abs(v)); } else minKept = Math.min(minKept, Math.abs(v));
      });
    }
    expect(zeros).toBe(Math.round(0.6 * N));
    expect(maxPruned).toBeLessThanOrEqual(minKept);
    // the layers end up unequally sparse: the threshold is shared
    const shares = eg.pruning.sparsity(g).map((r) => r.sparsity);
    expect(Math.max(...shares) - Math.min(...shares)).toBeGreaterThan(0.05);
    // only the layers named
    const only = smallCnn(5);
    only.predict(eg.zeros([1, 6, 6, 2]));
    new eg.Pruning(only, { layers: ['d1'] }).prune(0.5);
    expect(eg.pruning.sparsity(only).map((r) => r.zeros)).toEqual([0, 256, 0]);
  });

  it('a functional model: a layer applied twice is one target, pruned once; masks hold while it trains', async () => {
    const inp = eg.input({ shape: [5] });
    const shared = eg.layers.dense({ name: 'shared', units: 6, activation: 'relu', seed: 1 });
    const a = shared.apply(inp), b = shared.apply(eg.layers.dense({ name: 'pre', units: 5, seed: 2 }).apply(inp));
    const out = eg.layers.dense({ name: 'head', units: 2, activation: 'softmax', seed: 3 }).apply(eg.layers.concatenate().apply([a, b]));
    const m = eg.model({ inputs: inp, outputs: out });
    expect(eg.pruning.targets(m).map((t) => [t.layer, t.shape])).toEqual([['shared', [5, 6]], ['pre', [5, 5]], ['head', [12, 2]]]);
    const { x, y } = randomData(40, [5], 2, 5);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const p = eg.pruning.pruneLowMagnitude(m, { schedule: eg.pruning.constantSparsity({ targetSparsity: 0.4 }) });
    await m.fit(x, y, { epochs: 3, batchSize: 8, callbacks: [p] });
    expect(eg.pruning.sparsity(m).map((r) => r.zeros)).toEqual([12, 10, 10]);
  });

  const OPTIMIZERS: Array<[string, () => eg.Optimizer]> = [
    ['sgd', () => eg.optimizers.sgd({ learningRate: 0.05 })],
    ['momentum', () => eg.optimizers.momentum({ learningRate: 0.05 })],
    ['nesterov', () => eg.optimizers.nesterov({ learningRate: 0.05 })],
    ['adam', () => eg.optimizers.adam({ learningRate: 0.01 })],
    ['nadam', () => eg.optimizers.nadam({ learningRate: 0.01 })],
    ['rmsprop', () => eg.optimizers.rmsprop({ learningRate: 0.01, momentum: 0.5 })],
    ['adagrad', () => eg.optimizers.adagrad({ learningRate: 0.05 })],
    ['adadelta', () => eg.optimizers.adadelta({ learningRate: 1 })],
    ['rprop', () => eg.optimizers.rprop({ learningRate: 0.01 })],
  ];

  it.each(OPTIMIZERS)('pruned weights stay exactly zero through %s steps while the others train; stripped, they train again', async (_name, make) => {
    const { x, y } = randomData(48, [6, 6, 2], 3, 11);
    const m = smallCnn(7);
    m.compile({ optimizer: make(), loss: 'sparseCategoricalCrossentropy' });
    // a first epoch without pruning gives the optimizer momentum and moments on every weight
    await m.fit(x, y, { epochs: 1, batchSize: 16, seed: 1 });
    const p = eg.pruning.pruneLowMagnitude(m, { scope: 'global', schedule: eg.pruning.constantSparsity({ targetSparsity: 0.5, frequency: 1000 }) });
    const before = kernels(m);
    await m.fit(x, y, { epochs: 3, batchSize: 16, seed: 2, callbacks: [p] });
    expect(p.step).toBe(9);
    const after = kernels(m);
    let pruned = 0, moved = 0, kept = 0;
    for (const name of Object.keys(before)) {
      const mask = p.maskOf(name)!;
      after[name].forEach((v, i) => {
        if (!mask[i]) { expect(v).toBe(0); pruned++; } else { kept++; if (v !== before[name][i]) moved++; }
      });
    }
    const N = pruned + kept;
    expect(pruned).toBe(Math.round(0.5 * N));
    expect(moved).toBeGreaterThan(0.9 * kept);
    // without the masks the same optimizer moves the pruned weights again: the masks were what held them
    const masks = Object.fromEntries(Object.keys(before).map((name) => [name, p.maskOf(name)!]));
    eg.pruning.stripPruning(p);
    await m.fit(x, y, { epochs: 1, batchSize: 16, seed: 3 });
    const later = kernels(m);
    const revived = Object.keys(later).reduce((s, name) => s + Array.from(later[name]).filter((v, i) => !masks[name][i] && v !== 0).length, 0);
    expect(revived).toBeGreaterThan(0.5 * pruned);
  });

  it.each(OPTIMIZERS.filter(([n]) => ['momentum', 'nesterov', 'rmsprop', 'adagrad'].includes(n)))('%s keeps no state for weights pruned from the start: their first step after stripping is a fresh optimizer\'s', async (_name, make) => {
    const { x, y } = randomData(32, [6, 6, 2], 3, 13);
    const m = smallCnn(8);
    m.compile({ optimizer: make(), loss: 'sparseCategoricalCrossentropy' });
    // pruned from the first step: masked gradients never reach the optimizer's state
    const p = eg.pruning.pruneLowMagnitude(m, { scope: 'global', schedule: eg.pruning.constantSparsity({ targetSparsity: 0.5 }) });
    await m.fit(x, y, { epochs: 3, batchSize: 8, seed: 2, callbacks: [p] });
    const masks = Object.fromEntries(['c1', 'd1', 'out'].map((l) => [l, p.maskOf(l)!]));
    eg.pruning.stripPruning(p);
    const fresh = smallCnn(8);
    fresh.predict(eg.zeros([1, 6, 6, 2]));
    fresh.setWeights(m.getWeights());
    fresh.compile({ optimizer: make(), loss: 'sparseCategoricalCrossentropy' });
    // one full-batch step each: the carried optimizer and a new one
    await m.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false });
    await fresh.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false });
    const a = kernels(m), b = kernels(fresh);
    let same = 0, differ = 0;
    for (const l of Object.keys(masks)) {
      a[l].forEach((v, i) => {
        if (!masks[l][i]) { expect(v).toBeCloseTo(b[l][i], 6); same++; } else if (Math.abs(v - b[l][i]) > 1e-6) differ++;
      });
    }
    expect(same).toBeGreaterThan(250);
    expect(differ).toBeGreaterThan(100); // the kept weights' state is carried: the check can tell
  });

  it('polynomialDecay during fit raises the sparsity at its steps and ends at the final sparsity', async () => {
    const { x, y } = randomData(64, [6, 6, 2], 3, 12);
    const m = smallCnn(9);
    m.compile({ optimizer: eg.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
    const sched = eg.pruning.polynomialDecay({ initialSparsity: 0.2, finalSparsity: 0.75, beginStep: 2, endStep: 10, frequency: 2 });
    const p = eg.pruning.pruneLowMagnitude(m, { schedule: sched });
    const seen: number[] = [];
    const total = () => { const r = eg.pruning.sparsity(m); return r.reduce((s, v) => s + v.zeros, 0) / r.reduce((s, v) => s + v.size, 0); };
    await m.fit(x, y, { epochs: 4, batchSize: 16, seed: 4, callbacks: [p, { onBatchEnd: () => { seen.push(total()); } }] });
    // per layer, rounded: each kernel holds round(s(t) · n) zeros after a pruning step t
    const sizes = eg.pruning.sparsity(m).map((r) => r.size), N = sizes.reduce((a, b) => a + b, 0);
    const expectAt = (t: number) => sizes.reduce((s, n) => s + Math.round(sched.at(t).sparsity * n), 0) / N;
    expect(seen[0]).toBe(0);
    expect(seen[1]).toBe(0);
    expect(seen[2]).toBeCloseTo(expectAt(2), 12);
    expect(seen[3]).toBeCloseTo(expectAt(2), 12);
    expect(seen[4]).toBeCloseTo(expectAt(4), 12);
    expect(seen[10]).toBeCloseTo(expectAt(10), 12);
    expect(seen[15]).toBeCloseTo(expectAt(10), 12);
    expect(expectAt(10)).toBeCloseTo(0.75, 2);
  });

  it('the Gauss-Newton diagonal of a softmax layer is mean x_i² p_j (1 - p_j); the empirical one mean x_i² (p_j - y_j)²', async () => {
    const { x, labels } = randomData(10, [4], 3, 21);
    const m = eg.sequential([eg.layers.dense({ name: 'soft', units: 3, activation: 'softmax', inputShape: [4], seed: 2 })]);
    const p = m.predict(x).dataSync(), xs = x.dataSync();
    const gn = new Float64Array(12), emp = new Float64Array(12);
    for (let n = 0; n < 10; n++) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 3; j++) {
          const xi = xs[n * 4 + i], pj = p[n * 3 + j];
          gn[i * 3 + j] += (xi * xi * pj * (1 - pj)) / 10;
          emp[i * 3 + j] += (xi * (pj - (labels[n] === j ? 1 : 0))) ** 2 / 10;
        }
      }
    }
    const [fisher] = await eg.pruning.hessianDiagonal(m, { x });
    expect(fisher.layer).toBe('soft');
    expect(maxRelDiff(fisher.diagonal, gn)).toBeLessThan(1e-5);
    const [empirical] = await eg.pruning.hessianDiagonal(m, { x, y: labels, hessian: 'empirical' });
    expect(maxRelDiff(empirical.diagonal, emp)).toBeLessThan(1e-5);
  });

  it('through a conv net, the diagonals match central differences of each example\'s -log p_c', async () => {
    const { x, labels } = randomData(4, [6, 6, 2], 3, 31);
    const m = smallCnn(13);
    const h = await eg.pruning.hessianDiagonal(m, { x, y: labels, hessian: 'empirical' });
    const gn = await eg.pruning.hessianDiagonal(m, { x });
    const layers = m.layers.filter((l) => l.weights[0]?.name === 'kernel');
    const eps = 2e-3;
    const logp = (): Float64Array => Float64Array.from(m.predict(x).dataSync(), (v) => Math.log(v));
    const p0 = m.predict(x).dataSync();
    for (const [li, layer] of layers.entries()) {
      const w = layer.weights[0].tensor;
      const base = w.dataSync() as Float32Array;
      // the three entries of largest GN diagonal (small ones are below what float32 resolves)
      const top = Array.from(gn[li].diagonal.keys()).sort((a, b) => gn[li].diagonal[b] - gn[li].diagonal[a]).slice(0, 3);
      for (const j of top) {
        const set = (v: number) => { const c = base.slice(); c[j] = v; layer.setWeights([eg.tensor(c, w.shape as number[]), ...layer.getWeights().slice(1)]); };
        set(base[j] + eps); const up = logp();
        set(base[j] - eps); const down = logp();
        set(base[j]);
        let e = 0, f = 0;
        for (let n = 0; n < 4; n++) {
          for (let c = 0; c < 3; c++) {
            const g = -(up[n * 3 + c] - down[n * 3 + c]) / (2 * eps); // d(-log p_c)/dw_j
            if (c === labels[n]) e += g * g / 4;
            f += p0[n * 3 + c] * g * g / 4;
          }
        }
        expect(Math.abs(h[li].diagonal[j] - e) / e, `${layer.name}[${j}] empirical`).toBeLessThan(2e-2);
        expect(Math.abs(gn[li].diagonal[j] - f) / f, `${layer.name}[${j}] Gauss-Newton`).toBeLessThan(2e-2);
      }
    }
  });

  it('OBS on a small dense layer matches a direct computation: least w_q²/(2[H⁻¹]_qq) first, the others moved by -w_q/[H⁻¹]_qq H⁻¹e_q', async () => {
    const K = 4, C = 3, P = K * C, n = 24, alpha = 1e-2;
    const { x, labels } = randomData(n, [K], C, 41);
    const m = eg.sequential([eg.layers.dense({ name: 'soft', units: C, activation: 'softmax', inputShape: [K], seed: 5, useBias: false })]);
    const w0 = Float64Array.from(m.layers[0].weights[0].tensor.dataSync());
    const p = m.predict(x).dataSync(), xs = x.dataSync();
    // H = αI + (1/n) Σ g gᵀ with the empirical per-example gradient g = x ⊗ (p - e_y), in float64
    const H = new Float64Array(P * P);
    for (let i = 0; i < P; i++) H[i * P + i] = alpha;
    for (let e = 0; e < n; e++) {
      const g = new Float64Array(P);
      for (let i = 0; i < K; i++) for (let j = 0; j < C; j++) g[i * C + j] = xs[e * K + i] * (p[e * C + j] - (labels[e] === j ? 1 : 0));
      for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) H[a * P + b] += (g[a] * g[b]) / n;
    }
    // the reference: each step inverts H over the weights still free, explicitly
    const k = Math.round(0.5 * P), w = w0.slice(), free = Array.from({ length: P }, (_, i) => i);
    for (let s = 0; s < k; s++) {
      const inv = invert(free.map((a) => free.map((b) => H[a * P + b])));
      let q = 0, best = Infinity;
      free.forEach((a, ai) => { const L = w[a] ** 2 / (2 * inv[ai][ai]); if (L < best) { best = L; q = ai; } });
      const f = w[free[q]] / inv[q][q];
      free.forEach((a, ai) => { w[a] -= f * inv[ai][q]; });
      w[free[q]] = 0;
      free.splice(q, 1);
    }
    const pr = await eg.pruning.obs(m, { layer: 'soft', x, y: labels, hessian: 'empirical', sparsity: 0.5, damping: alpha });
    const got = m.layers[0].weights[0].tensor.dataSync();
    expect(Array.from(got).filter((v) => v === 0).length).toBe(k);
    expect(Array.from(pr.maskOf('soft')!)).toEqual(Array.from(w, (v) => (v === 0 ? 0 : 1)));
    expect(maxRelDiff(got, w)).toBeLessThan(1e-4);
    // and the core alone, on this H's inverse in float64
    const w2 = w0.slice(), hinv = Float64Array.from(invert(Array.from({ length: P }, (_, a) => Array.from({ length: P }, (_, b) => H[a * P + b]))).flat());
    obsPrune(w2, hinv, k);
    expect(maxRelDiff(w2, w)).toBeLessThan(1e-9);
    // the surgeon's step keeps the loss lower than zeroing the same weights alone
    const zeroed = w0.map((v, i) => (w[i] === 0 ? 0 : v));
    const quad = (v: Float64Array | number[]) => { let s = 0; for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) s += (v[a] - w0[a]) * H[a * P + b] * (v[b] - w0[b]); return s / 2; };
    expect(quad(w)).toBeLessThan(quad(zeroed));
  });

  it('a pruned model exports to ONNX as dense initializers that ONNX Runtime runs to the same outputs, zeros kept', async () => {
    const m = smallCnn(17);
    const x = eg.randomUniform([5, 6, 6, 2], -1, 1, 3);
    m.predict(x);
    new eg.Pruning(m, { scope: 'global' }).prune(0.7);
    const bytes = await eg.toOnnx(m);
    expect(maxRelDiff(await runOrt(bytes, x), m.predict(x).dataSync())).toBeLessThan(1e-5);
    const back = await eg.loadModel(bytes);
    expect(eg.pruning.sparsity(back).map((r) => r.zeros)).toEqual(eg.pruning.sparsity(m).map((r) => r.zeros));
    expect(back.summary({ print: false })).toMatch(/Sparsity \(zero weights\): .*70\.1% of 608 prunable weights/);
    expect(m.summary({ print: false })).toMatch(/Sparsity \(zero weights\): c1 \d+\.\d% \(\d+\/72\)/);
    expect(smallCnn(2).summary({ print: false })).not.toMatch(/Sparsity/);
  });

  it('the digits CNN pruned to 70%: OBD beats magnitude before recovery, one epoch of recovery loses under a point; ONNX Runtime and int8 agree', async () => {
    const path = join(root, 'models', 'digits-cnn.onnx');
    const data = await digitsSplit(eg);
    const base = await eg.loadModel(path);
    const before = accuracy(eg, base, data.test.x, data.test.labels);
    expect(before).toBeGreaterThan(0.97);
    const opts = { sparsity: 0.7, epochs: 1, calibration: 1024 };
    const mag = await pruneOnce(eg, path, data, { ...opts, method: 'magnitude-global' });
    const obdRun = await pruneOnce(eg, path, data, { ...opts, method: 'obd-global' });
    expect(obdRun.achieved).toBeCloseTo(0.7, 3);
    expect(obdRun.pruned).toBeGreaterThan(mag.pruned);
    expect(obdRun.recovered).toBeGreaterThanOrEqual(before - 0.01);
    expect(mag.recovered).toBeGreaterThanOrEqual(before - 0.01);
    // the pruned GraphModel in ONNX Runtime
    const pruned = obdRun.model as eg.GraphModel;
    const xs = eg.data.slice(data.test.x, 0, 16);
    expect(maxRelDiff(await runOrt(await eg.toOnnx(pruned), xs), pruned.predict(xs).dataSync())).toBeLessThan(1e-5);
    // int8: every weight that was zero is a zero int8 weight
    const q = await eg.quantize(pruned, { calibration: eg.data.slice(data.train.x, 0, 64), minInputChannels: 1 });
    const zeroAt = new Map(pruned.graph.nodes.filter((nd) => nd.op === 'conv2d' || nd.op === 'dense').map((nd) => [nd.name, pruned.graph.values[nd.inputs[1]].tensor!.dataSync()]));
    let checked = 0;
    for (const nd of q.graph.nodes) {
      const qw = (nd.attrs.q as { w: Int8Array } | undefined)?.w;
      const f = zeroAt.get(nd.name);
      if (!qw || !f) continue;
      expect(qw.length).toBe(f.length);
      for (let i = 0; i < f.length; i++) if (f[i] === 0) { expect(qw[i]).toBe(0); checked++; }
    }
    expect(checked).toBeGreaterThan(0.65 * 105424);
    const qa = accuracy(eg, q, data.test.x, data.test.labels);
    expect(qa).toBeGreaterThan(obdRun.recovered - 0.01);
  });

  it('edgegrad prune: accuracy before, after pruning and after recovery, sparsity, an ONNX file with the zeros', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-prune-'));
    const lines: string[] = [];
    const code = await main(['prune', join(root, 'models', 'digits-cnn.onnx'), '--sparsity', '0.7', '--data', 'digits', '--epochs', '1', '--method', 'obd', '--samples', '64', '--out', join(dir, 'p.onnx'), '--json'], (s) => lines.push(s));
    expect(code).toBe(0);
    const r = JSON.parse(lines.at(-1)!);
    expect(r.sparsity).toBeCloseTo(0.7, 3);
    expect(r.accuracy.test).toBe(1131);
    expect(r.accuracy.before).toBeGreaterThan(0.97);
    expect(r.accuracy.recovered).toBeGreaterThan(r.accuracy.before - 0.01);
    expect(existsSync(join(dir, 'p.onnx'))).toBe(true);
    const back = await eg.loadModel(join(dir, 'p.onnx'));
    const rows = eg.pruning.sparsity(back);
    expect(rows.reduce((s, v) => s + v.zeros, 0) / rows.reduce((s, v) => s + v.size, 0)).toBeCloseTo(0.7, 3);
    // bad usage: exit code 2 with what was wrong
    const errs: string[] = [];
    const orig = console.error;
    console.error = (s: string) => { errs.push(s); };
    try {
      expect(await main(['prune', 'models/digits-cnn.onnx', '--sparsity', '1', '--data', 'digits', '--out', join(dir, 'q.onnx')])).toBe(2);
      expect(await main(['prune', 'models/digits-cnn.onnx', '--sparsity', '0.5', '--data', 'digits', '--method', 'random', '--out', join(dir, 'q.onnx')])).toBe(2);
    } finally {
      console.error = orig;
    }
    expect(errs[0]).toMatch(/--sparsity must be in \[0, 1\), got 1/);
    expect(errs[1]).toMatch(/--method must be 'magnitude' or 'obd', got 'random'/);
  });

  it('refuses bad input, saying what and where', async () => {
    const m = smallCnn(1);
    const x = eg.randomUniform([4, 6, 6, 2], -1, 1, 1);
    m.predict(x);
    expect(() => new eg.Pruning(m).prune(1)).toThrow(/sparsity must be a number in \[0, 1\), got 1/);
    expect(() => new eg.Pruning(m).prune(-0.1)).toThrow(/sparsity must be a number in \[0, 1\), got -0.1/);
    expect(() => eg.pruning.polynomialDecay({ finalSparsity: 1.2, endStep: 10 })).toThrow(/polynomialDecay: finalSparsity must be a number in \[0, 1\), got 1.2/);
    expect(() => eg.pruning.polynomialDecay({ finalSparsity: 0.5, beginStep: 10, endStep: 10 })).toThrow(/endStep \(10\) must be after beginStep \(10\)/);
    expect(() => eg.pruning.constantSparsity({ targetSparsity: 0.5, frequency: 0 })).toThrow(/frequency must be an integer >= 1, got 0/);
    expect(() => eg.pruning.pruneLowMagnitude(m, { layers: ['d2'] })).toThrow(/no prunable layer "d2" \(similar: d1[^)]*\) \(prunable: c1, d1, out\)/);
    expect(() => eg.pruning.pruneLowMagnitude(m, { scope: 'all' as eg.PruningScope })).toThrow(/scope must be 'layer' or 'global', got "all"/);
    await expect(eg.pruning.obd(m, { x, sparsity: 1 })).rejects.toThrow(/obd: sparsity must be a number in \[0, 1\), got 1/);
    await expect(eg.pruning.obd(m, { x, sparsity: 0.5, hessian: 'empirical' })).rejects.toThrow(/hessian 'empirical' needs labels y/);
    await expect(eg.pruning.obd(m, { x, sparsity: 0.5, samples: 5 })).rejects.toThrow(/samples must be an integer in \[1, 4\]/);
    const big = eg.sequential([eg.layers.dense({ name: 'wide', units: 30, inputShape: [40] })]);
    await expect(eg.pruning.obs(big, { layer: 'wide', x: eg.zeros([2, 40]), sparsity: 0.5 })).rejects.toThrow(/layer 'wide' has 1200 weights; OBS keeps their full inverse Hessian and takes at most 1024/);
    await expect(eg.pruning.obs(m, { layer: 'nope', x, sparsity: 0.5 })).rejects.toThrow(/no prunable layer "nope"/);
    expect(() => eg.pruning.stripPruning({} as eg.Pruning)).toThrow(/stripPruning: expects what pruneLowMagnitude/);
    expect(() => eg.pruning.sparsity(42 as unknown as eg.Model)).toThrow(/sparsity: expects a model/);
    const noKernels = eg.sequential([eg.layers.flatten({ inputShape: [2, 2] })]);
    expect(() => eg.pruning.pruneLowMagnitude(noKernels)).toThrow(/has no dense or convolution kernels to prune/);
    // OBD's Fisher is a softmax's: one output (regression, binary sigmoid) or a sigmoid head is refused; NaN too
    const reg = eg.sequential([eg.layers.dense({ units: 4, activation: 'tanh', inputShape: [3] }), eg.layers.dense({ units: 1 })]);
    await expect(eg.pruning.obd(reg, { x: eg.zeros([4, 3]), sparsity: 0.5 })).rejects.toThrow(/gives one output per example; the Hessian estimate is the Fisher of a softmax over classes/);
    const sig = eg.sequential([eg.layers.dense({ units: 4, activation: 'tanh', inputShape: [3] }), eg.layers.dense({ units: 3, activation: 'sigmoid' })]);
    await expect(eg.pruning.obd(sig, { x: eg.zeros([4, 3]), sparsity: 0.5 })).rejects.toThrow(/ends in a sigmoid activation/);
    const nan = x.dataSync().slice(); nan[7] = NaN;
    await expect(eg.pruning.obd(m, { x: eg.tensor(nan, x.shape), sparsity: 0.5 })).rejects.toThrow(/obd: x contains 1 NaN/);
  });

  it('OBD twice at the same sparsity keeps the count exact: equal saliencies (zero weights first) go by |w|', async () => {
    const m = smallCnn(3), { x } = randomData(16, [6, 6, 2], 3, 4);
    const zeros = () => eg.pruning.sparsity(m).reduce((s, r) => s + r.zeros, 0);
    await eg.pruning.obd(m, { x, sparsity: 0.3, scope: 'layer' });
    const once = zeros();
    await eg.pruning.obd(m, { x, sparsity: 0.3, scope: 'layer' });
    expect(zeros()).toBe(once);
  });

  it('during fit: a frozen backbone is not pruned, a pruning of another model is refused, and restoreBestWeights keeps the masks', async () => {
    const backbone = smallCnn(5);
    backbone.layers.slice(0, 3).forEach((l) => { l.trainable = false; });
    const p = eg.pruning.pruneLowMagnitude(backbone, { schedule: eg.pruning.constantSparsity({ targetSparsity: 0.5 }) });
    expect(p.targets.map((t) => t.layer)).toEqual(['out']);
    const { x, y } = randomData(32, [6, 6, 2], 3, 6);
    const compile = (mm: eg.Model) => mm.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy' });
    const other = smallCnn(7);
    compile(other);
    await expect(other.fit(x, y, { epochs: 1, batchSize: 16, callbacks: [eg.pruning.pruneLowMagnitude(smallCnn(8))] })).rejects.toThrow(/this pruning holds the weights of model '.*', and the model being trained updates none of them/);
    // pruning ramps from 0 to 80%; early stopping restores the best epoch's weights (less sparse): the masks hold
    const m = smallCnn(9);
    compile(m);
    const ramp = eg.pruning.pruneLowMagnitude(m, { schedule: eg.pruning.polynomialDecay({ initialSparsity: 0, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 1 }) });
    const dense = m.getWeights();
    await m.fit(x, y, { epochs: 8, batchSize: 16, callbacks: [ramp, eg.callbacks.earlyStopping({ monitor: 'loss', patience: 1, restoreBestWeights: true })] });
    for (const r of eg.pruning.sparsity(m)) expect(r.zeros, r.layer).toBe(Math.round(0.8 * r.size));
    // what restoreBestWeights does at the end (weights from an epoch of lower sparsity): the masks apply again
    m.setWeights(dense);
    for (const r of eg.pruning.sparsity(m)) expect(r.zeros, r.layer).toBe(Math.round(0.8 * r.size));
    eg.pruning.stripPruning(ramp);
    m.setWeights(dense);
    expect(eg.pruning.sparsity(m).every((r) => r.zeros === 0)).toBe(true);
  });
});

/** Gauss-Jordan inverse of a small symmetric positive definite matrix, in float64. */
function invert(a: number[][]): number[][] {
  const n = a.length, m = a.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    const d = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      if (f) for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((r) => r.slice(n));
}
