// Restricted Boltzmann machines trained by contrastive divergence (Hinton 2002, "Training products of experts
// by minimizing contrastive divergence"; the recipe of Hinton 2010, "A practical guide to training RBMs"),
// stacked greedily into a deep belief net (Hinton, Osindero & Teh 2006) whose weights initialize dense
// layers with sigmoid activations.
//
// An RBM has visible units v (V), hidden units h (H), weights W [V, H], visible biases b, hidden biases c:
//   p(h_j = 1 | v) = σ(c_j + Σ_i v_i W_ij)
//   p(v_i = 1 | h) = σ(b_i + Σ_j h_j W_ij)                 binary (Bernoulli) visible units, data in [0, 1]
//   v_i | h ~ N(b_i + Σ_j h_j W_ij, 1)                     Gaussian visible units, data standardized
// CD-k is not the gradient of a loss: it starts a Gibbs chain at the data v0, samples h0 ~ p(h | v0), and
// alternates k times; the update is the difference of the pair statistics at both ends of the chain:
//   ΔW = ε (⟨v0 p(h | v0)ᵀ⟩ − ⟨vk p(h | vk)ᵀ⟩),  Δb = ε ⟨v0 − vk⟩,  Δc = ε ⟨p(h | v0) − p(h | vk)⟩
// (means over the batch), with momentum (the guide, §9). As the guide recommends (§3), hidden states that
// drive a reconstruction are sampled (binary), the reconstructions themselves are the visible means
// (probabilities, or the Gaussian's mean), and the statistics use hidden probabilities. CD is not a loss's
// gradient, so the update is written out here over Float32Arrays; its matrix products run on the backend's
// GEMM (eager matMul), the rest in plain TypeScript.
//
// Free energy (what p(v) ∝ exp(−F(v)) means; the guide, §16.1):
//   binary:   F(v) = −Σ_i b_i v_i − Σ_j softplus(c_j + Σ_i v_i W_ij)
//   Gaussian: F(v) = Σ_i (v_i − b_i)² / 2 − Σ_j softplus(c_j + Σ_i v_i W_ij)

import { matMul } from '../ops/matmul.js';
import { tensor } from '../tensor.js';

export type VisibleUnits = 'binary' | 'gaussian';

/** An RBM's parameters: W [visible, hidden] row-major (a dense layer's kernel layout), b [visible], c [hidden]. */
export interface Rbm {
  visible: number;
  hidden: number;
  units: VisibleUnits;
  w: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

export interface CdOptions {
  /** Gibbs steps per update (CD-k); default 1. */
  k?: number;
  learningRate: number;
  /** Momentum of the updates; 0 for none. */
  momentum?: number;
  /** Uniform numbers in [0, 1) for the hidden samples, in order (rows × hidden per Gibbs step). */
  uniform: () => number;
}

/** Velocities of the momentum updates, one per parameter of the RBM (zeros at first). */
export interface RbmVelocity {
  w: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

export function rbmVelocity(r: Rbm): RbmVelocity {
  return { w: new Float32Array(r.w.length), b: new Float32Array(r.b.length), c: new Float32Array(r.c.length) };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => (x > 30 ? x : Math.log1p(Math.exp(x)));

/**
 * op(A) op(B) of row-major Float32Arrays by the backend's GEMM (eager matMul: the statistics of CD are
 * three products per batch of [batch, visible] x [visible, hidden], the bulk of the work).
 */
function gemm(a: ArrayLike<number>, aShape: [number, number], b: ArrayLike<number>, bShape: [number, number], tA = false, tB = false): Float32Array {
  const ta = tensor(Float32Array.from(a), aShape), tb = tensor(Float32Array.from(b), bShape);
  const c = matMul(ta, tb, tA, tB);
  const out = Float32Array.from(c.dataSync());
  ta.dispose(); tb.dispose(); c.dispose();
  return out;
}

/** p(h = 1 | v) for `rows` rows of v: [rows, hidden]. */
export function hiddenProbs(r: Rbm, v: ArrayLike<number>, rows: number): Float32Array {
  const H = r.hidden, out = gemm(v, [rows, r.visible], r.w, [r.visible, H]);
  for (let q = 0; q < out.length; q++) out[q] = sigmoid(out[q] + r.c[q % H]);
  return out;
}

/** The visible means given hidden states h: σ(b + W h) for binary units, b + W h for Gaussian ones. */
export function visibleMeans(r: Rbm, h: ArrayLike<number>, rows: number): Float32Array {
  const V = r.visible, out = gemm(h, [rows, r.hidden], r.w, [V, r.hidden], false, true);
  for (let q = 0; q < out.length; q++) out[q] = r.units === 'binary' ? sigmoid(out[q] + r.b[q % V]) : out[q] + r.b[q % V];
  return out;
}

/** Mean free energy F(v) over `rows` rows (formula at the top of this file). */
export function freeEnergy(r: Rbm, v: ArrayLike<number>, rows: number): number {
  const V = r.visible, H = r.hidden, pre = gemm(v, [rows, V], r.w, [V, H]);
  let total = 0;
  for (let n = 0; n < rows; n++) {
    let vis = 0, hid = 0;
    for (let i = 0; i < V; i++) {
      const x = v[n * V + i];
      vis += r.units === 'binary' ? -r.b[i] * x : (x - r.b[i]) * (x - r.b[i]) / 2;
    }
    for (let j = 0; j < H; j++) hid += softplus(pre[n * H + j] + r.c[j]);
    total += vis - hid;
  }
  return total / rows;
}

/**
 * One CD-k update of `r` in place on a batch v0 [rows, visible]; returns the batch's reconstruction error,
 * the mean over rows of Σ_i (v0_i − v1_i)², v1 the first reconstruction's visible means (the guide's §5
 * monitor: not what CD minimizes, but it falls as the model learns).
 */
export function cdStep(r: Rbm, v0: ArrayLike<number>, rows: number, vel: RbmVelocity, o: CdOptions): number {
  const V = r.visible, H = r.hidden, k = o.k ?? 1, mom = o.momentum ?? 0, eps = o.learningRate;
  const ph0 = hiddenProbs(r, v0, rows);
  const h = new Float32Array(rows * H);
  let ph: Float32Array = ph0, v: Float32Array | undefined, recon = 0;
  for (let step = 0; step < k; step++) {
    for (let q = 0; q < h.length; q++) h[q] = o.uniform() < ph[q] ? 1 : 0;
    v = visibleMeans(r, h, rows);
    if (step === 0) for (let q = 0; q < v.length; q++) recon += (v0[q] - v[q]) ** 2;
    ph = hiddenProbs(r, v, rows);
  }
  // positive minus negative statistics, averaged over the batch: v0ᵀ p(h | v0) − vkᵀ p(h | vk)
  const vk = v!;
  const pos = gemm(v0, [rows, V], ph0, [rows, H], true), neg = gemm(vk, [rows, V], ph, [rows, H], true);
  const gb = new Float64Array(V), gc = new Float64Array(H);
  for (let q = 0; q < rows * V; q++) gb[q % V] += v0[q] - vk[q];
  for (let q = 0; q < rows * H; q++) gc[q % H] += ph0[q] - ph[q];
  const s = eps / rows;
  const apply = (p: Float32Array, g: (q: number) => number, u: Float32Array) => {
    for (let q = 0; q < p.length; q++) { u[q] = mom * u[q] + s * g(q); p[q] += u[q]; }
  };
  apply(r.w, (q) => pos[q] - neg[q], vel.w);
  apply(r.b, (q) => gb[q], vel.b);
  apply(r.c, (q) => gc[q], vel.c);
  return recon / rows;
}
