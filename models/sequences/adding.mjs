// The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 / Arjovsky et al. 2016):
// each input is T steps of two channels, a random value in [0, 1) and a marker that is 1 at exactly two
// steps (one in the first half, one in the second) and 0 elsewhere; the target is the sum of the two marked
// values. The net must carry the first marked value across at least T/2 steps. Predicting the mean (1.0)
// gives MSE Var(u1 + u2) = 2/12 = 0.167; "solved" here is a test MSE below 0.01 (17x below that).
//
// For each lag T, a simple RNN and an LSTM (same units, Adam with gradient clipping by norm) train on fresh
// random sequences (1,024 per epoch) until the validation MSE is below 0.002 or a step budget is spent. The gradient through time is
// shown by the norm of d y / d x_t (y: the net's output, x_t: the input at step t) for every t, averaged
// over sequences, computed in float64 by backpropagation through time written out here from the layers'
// weights (independent of the library's own backward pass), checked against the library's forward pass
// and against central differences of its predictions. It is measured before and after training.
//
// `eg` is the library (the package, or its sources in tests). Run: node models/sequences/adding.mjs
//   [--lags 10,25,50,100] [--units 64] [--steps 6000] [--budget SECONDS] [--lr 3e-3] [--quick] [--verbose]
//   [--svg models/sequences/adding-gradients.svg]

/** A seeded uniform generator in [0, 1) (mulberry32), independent of the library's RNG. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n adding-problem sequences of length T: x [n, T, 2] (value, marker) and y [n, 1], as Float32Arrays. */
export function addingData(T, n, rand) {
  const x = new Float32Array(n * T * 2), y = new Float32Array(n);
  const half = Math.floor(T / 2);
  for (let s = 0; s < n; s++) {
    const o = s * T * 2;
    for (let t = 0; t < T; t++) x[o + 2 * t] = rand();
    const a = Math.floor(rand() * half), b = half + Math.floor(rand() * (T - half));
    x[o + 2 * a + 1] = 1; x[o + 2 * b + 1] = 1;
    y[s] = x[o + 2 * a] + x[o + 2 * b];
  }
  return { x, y };
}

/** MSE of predicting `c` for every target (the trivial baseline, from the data itself). */
export function constantMse(y, c = 1) {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (y[i] - c) ** 2;
  return s / y.length;
}

export function mse(pred, y) {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (pred[i] - y[i]) ** 2;
  return s / y.length;
}

/** A recurrent layer of `units` (kind 'simpleRNN' | 'lstm') on [T, 2] and a linear output. */
export function addingModel(eg, kind, T, { units = 64, learningRate = 3e-3, clipNorm = 1, seed = 1 } = {}) {
  const m = eg.sequential([
    eg.layers[kind]({ units, inputShape: [T, 2], seed }),
    eg.layers.dense({ units: 1, seed: seed + 2 }),
  ]);
  m.compile({ optimizer: eg.optimizers.adam({ learningRate, clipNorm }), loss: 'meanSquaredError' });
  return m;
}

const f64 = (t) => Float64Array.from(t.dataSync());

/**
 * The model's output for one sequence and d y / d x_t for every t, in float64: the forward pass of the
 * recurrent layer (Keras formulas and weight layouts: simpleRNN h = tanh(x W + h R + b); LSTM gates
 * i, f, g, o in the columns of W, R, b) and the dense output, then backpropagation through time.
 * Returns { y, grad: Float64Array [T * F] }.
 */
export function bptt(kind, w, xs, T, F) {
  const { W, R, b, U, wd, bd } = w;
  const G = kind === 'lstm' ? 4 : 1;
  const hs = new Float64Array((T + 1) * U), cs = new Float64Array((T + 1) * U), acts = new Float64Array(T * G * U);
  for (let t = 0; t < T; t++) {
    const z = acts.subarray(t * G * U, (t + 1) * G * U);
    for (let j = 0; j < G * U; j++) {
      let s = b[j];
      for (let f = 0; f < F; f++) s += xs[t * F + f] * W[f * G * U + j];
      for (let i = 0; i < U; i++) s += hs[t * U + i] * R[i * G * U + j];
      z[j] = s;
    }
    if (kind === 'lstm') {
      for (let j = 0; j < U; j++) {
        const ig = sig(z[j]), fg = sig(z[U + j]), gg = Math.tanh(z[2 * U + j]), og = sig(z[3 * U + j]);
        z[j] = ig; z[U + j] = fg; z[2 * U + j] = gg; z[3 * U + j] = og;
        const c = fg * cs[t * U + j] + ig * gg;
        cs[(t + 1) * U + j] = c;
        hs[(t + 1) * U + j] = og * Math.tanh(c);
      }
    } else {
      for (let j = 0; j < U; j++) { z[j] = Math.tanh(z[j]); hs[(t + 1) * U + j] = z[j]; }
    }
  }
  let y = bd;
  for (let j = 0; j < U; j++) y += hs[T * U + j] * wd[j];
  const grad = new Float64Array(T * F);
  let gh = Float64Array.from(wd);
  let gc = new Float64Array(U);
  const dz = new Float64Array(G * U);
  for (let t = T - 1; t >= 0; t--) {
    const z = acts.subarray(t * G * U, (t + 1) * G * U);
    if (kind === 'lstm') {
      const gcPrev = new Float64Array(U);
      for (let j = 0; j < U; j++) {
        const ig = z[j], fg = z[U + j], gg = z[2 * U + j], og = z[3 * U + j];
        const tc = Math.tanh(cs[(t + 1) * U + j]);
        const dc = gc[j] + gh[j] * og * (1 - tc * tc);
        dz[j] = dc * gg * ig * (1 - ig);
        dz[U + j] = dc * cs[t * U + j] * fg * (1 - fg);
        dz[2 * U + j] = dc * ig * (1 - gg * gg);
        dz[3 * U + j] = gh[j] * tc * og * (1 - og);
        gcPrev[j] = dc * fg;
      }
      gc = gcPrev;
    } else {
      for (let j = 0; j < U; j++) dz[j] = gh[j] * (1 - z[j] * z[j]);
    }
    for (let f = 0; f < F; f++) {
      let s = 0;
      for (let j = 0; j < G * U; j++) s += W[f * G * U + j] * dz[j];
      grad[t * F + f] = s;
    }
    const ghPrev = new Float64Array(U);
    for (let i = 0; i < U; i++) {
      let s = 0;
      for (let j = 0; j < G * U; j++) s += R[i * G * U + j] * dz[j];
      ghPrev[i] = s;
    }
    gh = ghPrev;
  }
  return { y, grad };
}
const sig = (v) => 1 / (1 + Math.exp(-v));

/**
 * Mean over the sequences of || d y / d x_t || for t = 0..T-1 (float64 BPTT), the largest difference
 * between that forward pass and the model's own predictions, and a central-difference check of the
 * gradient through the model's predictions at a few steps (float32: resolves gradients above ~1e-4).
 */
export function gradientThroughTime(eg, model, kind, x, T, n, { check = true } = {}) {
  const F = 2;
  const [rec, dense] = model.layers;
  const [W, R, b] = rec.getWeights().map(f64);
  const [wd, bd] = dense.getWeights().map(f64);
  const U = wd.length;
  const w = { W, R, b, U, wd, bd: bd[0] };
  const norms = new Float64Array(T);
  const ys = new Float64Array(n);
  let grad0 = null;
  for (let s = 0; s < n; s++) {
    const r = bptt(kind, w, x.subarray(s * T * F, (s + 1) * T * F), T, F);
    ys[s] = r.y;
    if (s === 0) grad0 = r.grad;
    for (let t = 0; t < T; t++) norms[t] += Math.hypot(r.grad[t * F], r.grad[t * F + 1]) / n;
  }
  const pred = model.predict(eg.tensor(x.slice(0, n * T * F), [n, T, F])).dataSync();
  let forwardDiff = 0;
  for (let s = 0; s < n; s++) forwardDiff = Math.max(forwardDiff, Math.abs(pred[s] - ys[s]));
  // central differences of the model's own float32 predictions for sequence 0, both channels, at a few
  // steps where the float64 gradient is large enough for float32 to resolve: one batch of perturbed copies
  let fdCheck = null;
  if (check) {
    const eps = 1e-2;
    const steps = [...new Set([T - 1, T - 2, Math.floor(T / 2), 0])].filter((t) => Math.abs(grad0[t * F]) > 1e-3 || Math.abs(grad0[t * F + 1]) > 1e-3);
    if (steps.length) {
      const cases = steps.flatMap((t) => [[t, 0], [t, 1]]);
      const xb = new Float32Array(cases.length * 2 * T * F);
      cases.forEach(([t, f], c) => {
        for (const [k, sgn] of [[0, 1], [1, -1]]) {
          const o = (2 * c + k) * T * F;
          xb.set(x.subarray(0, T * F), o);
          xb[o + t * F + f] += sgn * eps;
        }
      });
      const p = model.predict(eg.tensor(xb, [cases.length * 2, T, F])).dataSync();
      let worst = 0;
      cases.forEach(([t, f], c) => {
        const fd = (p[2 * c] - p[2 * c + 1]) / (2 * eps);
        const an = grad0[t * F + f];
        worst = Math.max(worst, Math.abs(fd - an) / Math.max(Math.abs(an), 1e-2));
      });
      fdCheck = { steps, worstRelErr: worst };
    }
  }
  return { norms, forwardDiff, fdCheck };
}

/**
 * Train `kind` on the adding problem at lag T on fresh sequences (chunks of `chunk`), until the validation
 * MSE is below `stopAt` or `budgetS` seconds are spent; then the test MSE on `nTest` held-out sequences.
 */
export async function trainAdding(eg, kind, T, { units = 64, learningRate = 3e-3, clipNorm = 1, batchSize = 32, chunk = 1024, budgetS = Infinity, maxSteps = 6000, stopAt = 0.002, solvedAt = 0.01, nVal = 512, nTest = 2000, seed = 1, gradN = 64, log = () => {} } = {}) {
  const rand = rng(seed * 1000 + T);
  const model = addingModel(eg, kind, T, { units, learningRate, clipNorm, seed });
  const probe = addingData(T, gradN, rng(7 + T));
  const before = gradientThroughTime(eg, model, kind, probe.x, T, gradN);
  const val = addingData(T, nVal, rng(99 + T)), test = addingData(T, nTest, rng(12345 + T));
  const valX = eg.tensor(val.x, [nVal, T, 2]), testX = eg.tensor(test.x, [nTest, T, 2]);
  const evalMse = (X, y) => mse(model.predict(X, { batchSize: 256 }).dataSync(), y);
  const t0 = performance.now();
  let steps = 0, valMse = evalMse(valX, val.y), solvedStep = null, seconds = 0;
  const curve = [[0, valMse]];
  while (valMse >= stopAt && seconds < budgetS && steps < maxSteps) {
    const d = addingData(T, chunk, rand);
    await model.fit(eg.tensor(d.x, [chunk, T, 2]), eg.tensor(d.y, [chunk, 1]), { epochs: 1, batchSize, shuffle: false });
    steps += Math.ceil(chunk / batchSize);
    valMse = evalMse(valX, val.y);
    seconds = (performance.now() - t0) / 1000;
    curve.push([steps, valMse]);
    if (solvedStep === null && valMse < solvedAt) solvedStep = steps;
    log(`  ${kind} T=${T}: ${steps} steps, ${seconds.toFixed(1)} s, validation MSE ${valMse.toFixed(4)}`);
  }
  const testMse = evalMse(testX, test.y);
  const after = gradientThroughTime(eg, model, kind, probe.x, T, gradN, { check: false });
  return { kind, T, units, testMse, baseline: constantMse(test.y, 1), solved: testMse < solvedAt, solvedStep, steps, seconds, curve, before, after, model };
}

const fmt = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e3 ? v.toPrecision(3) : v.toExponential(1));

/** The markdown tables of a run. */
export function addingTables(results, { solvedAt = 0.01 } = {}) {
  const out = [];
  out.push(`| T | model | test MSE | baseline (predict 1.0) | solved (MSE < ${solvedAt}) | steps to val. MSE < ${solvedAt} | steps trained | time (s) |`);
  out.push('| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const r of results) out.push(`| ${r.T} | ${r.kind} | ${r.testMse.toFixed(4)} | ${r.baseline.toFixed(4)} | ${r.solved ? 'yes' : 'no'} | ${r.solvedStep ?? '-'} | ${r.steps} | ${r.seconds.toFixed(1)} |`);
  out.push('');
  out.push('Gradient through time: mean over 64 sequences of ||d y / d x_t|| (float64 BPTT on the layers\' weights), at distance k = T-1-t from the output, before training (untrained) and after; ratio = norm at t = 0 / norm at t = T-1.');
  out.push('');
  out.push('| T | model | weights | k = 0 | k = 10 | k = T/2 | k = T-1 (t = 0) | ratio t=0 / t=T-1 | forward vs model | central differences |');
  out.push('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    for (const [when, g] of [['untrained', r.before], ['trained', r.after]]) {
      const T = r.T, at = (k) => g.norms[T - 1 - Math.min(k, T - 1)];
      out.push(`| ${T} | ${r.kind} | ${when} | ${fmt(at(0))} | ${fmt(at(10))} | ${fmt(at(Math.floor(T / 2)))} | ${fmt(at(T - 1))} | ${fmt(at(T - 1) / at(0))} | ${g.forwardDiff.toExponential(1)} | ${g.fdCheck ? `rel. err ${g.fdCheck.worstRelErr.toExponential(1)} at t = ${g.fdCheck.steps.join(', ')}` : '-'} |`);
    }
  }
  return out.join('\n');
}

/** A small SVG: log10 ||d y / d x_t|| against the distance from the output, one line per (model, weights). */
export function gradientSvg(results, T) {
  const rs = results.filter((r) => r.T === T);
  const lines = rs.flatMap((r) => [[`${r.kind} untrained`, r.before.norms, r.kind === 'lstm' ? '#1f77b4' : '#d62728', '4 3'], [`${r.kind} trained`, r.after.norms, r.kind === 'lstm' ? '#1f77b4' : '#d62728', '']]);
  const W = 640, H = 360, L = 60, B = 40, Rm = 170, Tm = 20;
  let lo = Infinity, hi = -Infinity;
  for (const [, n] of lines) for (const v of n) if (v > 0) { lo = Math.min(lo, Math.log10(v)); hi = Math.max(hi, Math.log10(v)); }
  lo = Math.floor(Math.max(lo, -30)); hi = Math.ceil(hi);
  const every = Math.max(1, Math.ceil((hi - lo) / 10));
  const X = (k) => L + (k / (T - 1)) * (W - L - Rm), Y = (v) => Tm + (1 - (v - lo) / (hi - lo || 1)) * (H - Tm - B);
  const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  for (let e = hi; e >= lo; e -= every) svg.push(`<line x1="${L}" x2="${W - Rm}" y1="${Y(e)}" y2="${Y(e)}" stroke="#ddd"/><text x="${L - 6}" y="${Y(e) + 4}" text-anchor="end">1e${e}</text>`);
  for (let k = 0; k < T; k += Math.max(1, Math.round(T / 8 / 5) * 5)) svg.push(`<text x="${X(k)}" y="${H - B + 14}" text-anchor="middle">${k}</text>`);
  svg.push(`<text x="${(L + W - Rm) / 2}" y="${H - 8}" text-anchor="middle">steps back from the output (k = T-1-t), T = ${T}; below 1e${lo} drawn at 1e${lo}</text>`);
  svg.push(`<text x="14" y="${(H - B) / 2}" transform="rotate(-90 14 ${(H - B) / 2})" text-anchor="middle">||dy/dx_t||</text>`);
  lines.forEach(([name, n, color, dash], i) => {
    const pts = [];
    for (let k = 0; k < T; k++) { const v = n[T - 1 - k]; if (v > 0) pts.push(`${X(k).toFixed(1)},${Y(Math.max(Math.log10(v), lo)).toFixed(1)}`); }
    svg.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${pts.join(' ')}"/>`);
    svg.push(`<line x1="${W - Rm + 12}" x2="${W - Rm + 36}" y1="${Tm + 10 + i * 18}" y2="${Tm + 10 + i * 18}" stroke="${color}" stroke-width="1.6" ${dash ? `stroke-dasharray="${dash}"` : ''}/><text x="${W - Rm + 42}" y="${Tm + 14 + i * 18}">${name}</text>`);
  });
  svg.push('</svg>');
  return svg.join('\n');
}

async function main() {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const eg = await import('../../dist/index.js');
  const { writeFileSync } = await import('node:fs');
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
  const quick = argv.includes('--quick');
  const lags = opt('lags', quick ? '10,50' : '10,25,50,100').split(',').map(Number);
  const units = Number(opt('units', 64));
  const maxSteps = Number(opt('steps', quick ? 2000 : 6000));
  const budget = Number(opt('budget', Infinity));
  const lr = Number(opt('lr', 3e-3));
  const svgPath = opt('svg', null);
  const be = await eg.ready({ threads: 1 });
  console.log(`adding problem: lags ${lags.join(', ')}; ${units} units; Adam ${lr}, clipNorm 1; batch 32; fresh sequences, at most ${maxSteps} steps per (model, lag)${Number.isFinite(budget) ? ` or ${budget} s` : ''}, stopping early at validation MSE < 0.002; edgegrad ${be.build} build, Node ${process.version}`);
  const results = [];
  for (const T of lags) {
    for (const kind of ['simpleRNN', 'lstm']) {
      const r = await trainAdding(eg, kind, T, { units, learningRate: lr, maxSteps, budgetS: budget, log: argv.includes('--verbose') ? console.log : () => {} });
      console.log(`T=${T} ${kind}: test MSE ${r.testMse.toFixed(4)} (baseline ${r.baseline.toFixed(4)}), ${r.steps} steps, ${r.seconds.toFixed(1)} s${r.solvedStep ? `, validation MSE < 0.01 after ${r.solvedStep} steps` : ''}`);
      r.model.dispose?.();
      delete r.model;
      results.push(r);
    }
  }
  console.log('');
  console.log(addingTables(results));
  if (svgPath) { writeFileSync(svgPath, gradientSvg(results, Math.max(...lags))); console.log(`\nwrote ${svgPath}`); }
}

import { fileURLToPath } from 'node:url';
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
