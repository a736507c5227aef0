// Test helpers: deterministic data, the per-build backend switch, and comparisons against references.
import { expect } from 'vitest';
import { backendBuilds, createBackend, loadBackends, setBackend, type HeapBackend, type WasmBuild } from '../src/backend/index.js';
import { Tensor, tensor } from '../src/tensor.js';
import type { Arr } from '../src/ops/util.js';
import type { Model } from '../src/model.js';
import { buildBackward } from '../src/autodiff.js';
import { Plan } from '../src/graph/executor.js';
import { Graph } from '../src/graph/ir.js';

/** The wasm builds: model-level suites run on each. */
export const BUILDS: WasmBuild[] = ['relaxed', 'simd', 'scalar'];

/**
 * Every build of every backend this runtime has (the three wasm builds, then 'ref'): the op suites run on
 * each, so a backend that registers itself in src/backend/index.ts gets the whole op suite.
 */
export const BACKENDS: string[] = backendBuilds().map((b) => b.build);
await loadBackends();

/** Instantiate the given build ('relaxed' | 'simd' | 'scalar', or a backend's name) and make it active. */
export function useBuild(build: string): HeapBackend {
  const entry = backendBuilds().find((b) => b.build === build);
  if (!entry) throw new Error(`test: no backend build '${build}' in this runtime`);
  const be = createBackend(entry.backend, build) as HeapBackend;
  // every kernel call that takes the shared workspace is checked for writing past it, in every test
  be.guardWorkspace = true;
  // EDGEGRAD_RECLAIM_FLOOR=0 runs the suite under constant memory pressure (every allocation that does not
  // fit evicts the coldest tensors and plans first): a stress run for code that holds a pointer too long
  if (process.env.EDGEGRAD_RECLAIM_FLOOR !== undefined) be.reclaimFloor = Number(process.env.EDGEGRAD_RECLAIM_FLOOR);
  setBackend(be);
  return be;
}

/** mulberry32: a tiny seeded generator for test data (independent of the library's own RNG). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randArr(shape: number[], seed: number, lo = -1, hi = 1): { shape: number[]; data: Float32Array } {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r();
  return { shape, data };
}

export function t(a: Arr): Tensor {
  return tensor(Float32Array.from(a.data), a.shape);
}

/** max |got - want| <= tol * max(1, max |want|): absolute near zero, relative for large outputs. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4, what = ''): void {
  expect(got.length, `${what} length`).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst) || Number.isNaN(d)) { worst = d; at = i; }
  }
  if (!(worst <= tol * scale)) {
    throw new Error(`${what}: max abs error ${worst} at ${at} (got ${got[at]}, want ${want[at]}), tolerance ${tol * scale}`);
  }
}

/**
 * Central finite differences of a scalar function of `x` (float64), at every index or a sample of them.
 * Returns [index, numeric derivative] pairs.
 */
export function numericGrad(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3, maxPoints = 64, seed = 1): Array<[number, number]> {
  const n = x.length;
  const idx: number[] = [];
  if (n <= maxPoints) for (let i = 0; i < n; i++) idx.push(i);
  else { const r = rng(seed); const s = new Set<number>(); while (s.size < maxPoints) s.add(Math.floor(r() * n)); idx.push(...s); }
  const xp = Float64Array.from(x);
  return idx.map((i) => {
    const v = xp[i];
    xp[i] = v + h; const fp = f(xp);
    xp[i] = v - h; const fm = f(xp);
    xp[i] = v;
    return [i, (fp - fm) / (2 * h)] as [number, number];
  });
}

/** Relative error < tol at every sampled point: |a - n| / max(|a|, |n|, floor). */
export function expectGradClose(analytic: ArrayLike<number>, numeric: Array<[number, number]>, what: string, tol = 1e-2, floor = 1e-2): void {
  for (const [i, nv] of numeric) {
    const av = analytic[i];
    const rel = Math.abs(av - nv) / Math.max(Math.abs(av), Math.abs(nv), floor);
    if (!(rel < tol)) throw new Error(`${what}: gradient at ${i}: analytic ${av} vs numeric ${nv} (relative error ${rel.toExponential(2)})`);
  }
}

/** sum(g * y): the scalar whose gradient w.r.t. y is g, to check backward passes against finite differences. */
export function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += g[i] * y[i];
  return s;
}

/** max |a - b| / max |b|: error relative to the output's scale (how the model-I/O bars are stated). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < b.length; i++) { scale = Math.max(scale, Math.abs(b[i])); err = Math.max(err, Math.abs(a[i] - b[i])); }
  return err / Math.max(scale, 1e-12);
}

/** ONNX Runtime (onnxruntime-web, wasm, one thread) on an ONNX model's first input and output. */
export async function runOrt(bytes: Uint8Array, x: Tensor): Promise<Float32Array> {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape as number[]) });
  return r[s.outputNames[0]].data as Float32Array;
}

/**
 * Whole-model gradients against central finite differences: the training graph (forward, categorical
 * cross-entropy on one-hot ys, backward) at batch ys.length / classes, checked at the 5 largest entries of
 * every parameter's gradient (small ones are below what a float32 loss can resolve).
 */
export function checkModelGradients(m: Model, inputShape: number[], ys: Float32Array, seed = 5): void {
  const g = new Graph();
  const x = g.input('x', [-1, ...inputShape]);
  const [o] = (m as unknown as { addTo(g: Graph, i: number[]): number[] }).addTo(g, [x]);
  const classes = g.values[o].shape.at(-1)!;
  const y = g.input('y', [-1, classes]);
  const [lossV, dPred] = g.node('loss', [o, y], { loss: 'categoricalCrossentropy' });
  const params = g.values.filter((v) => v.kind === 'param').map((v) => v.id);
  const grads = buildBackward(g, new Map([[o, dPred]]), params);
  expect(grads.size).toBe(params.length);
  const B = ys.length / classes;
  const plan = new Plan(g, { batch: B, training: true, keep: [lossV, ...grads.values()] });
  const r = rng(seed);
  const xs = Float32Array.from({ length: B * inputShape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
  // running statistics change on every training run; restore them so each evaluation is the same function
  const states = g.values.filter((v) => v.kind === 'state').map((v) => v.tensor!);
  const saved = states.map((t) => t.dataSync());
  const lossAt = () => {
    states.forEach((t, i) => t.view().set(saved[i]));
    plan.view(x).set(xs); plan.view(y).set(ys);
    plan.run();
    return plan.view(lossV)[0];
  };
  lossAt();
  for (const pid of params) {
    const t = g.values[pid].tensor!;
    const analytic = plan.view(grads.get(pid)!).slice();
    const v = t.view();
    const idx = Array.from(analytic.keys()).sort((a, b) => Math.abs(analytic[b]) - Math.abs(analytic[a])).slice(0, 5);
    for (const i of idx) {
      const h = 1e-3;
      const w0 = v[i];
      v[i] = w0 + h; const lp = lossAt();
      v[i] = w0 - h; const lm = lossAt();
      v[i] = w0;
      const num = (lp - lm) / (2 * h);
      const rel = Math.abs(num - analytic[i]) / Math.max(Math.abs(num), Math.abs(analytic[i]), 2e-3);
      expect(rel, `${g.values[pid].name}[${i}]: analytic ${analytic[i]} numeric ${num}`).toBeLessThan(3e-2);
    }
  }
  plan.dispose();
}
