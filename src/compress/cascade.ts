// Cascade correlation (Fahlman & Lebiere 1990, "The Cascade-Correlation Learning Architecture"): grow a
// dense network one hidden unit at a time. It starts with the inputs wired straight to the outputs; then,
// repeatedly, a pool of candidate units (each sees the inputs and every hidden unit so far) is trained to
// maximize the magnitude of the covariance between its value V and the network's residual error E,
//   S = Σ_o |Σ_p (V_p − V̄)(E_p,o − Ē_o)|,
//   ∂S/∂w_i = Σ_p Σ_o σ_o (E_p,o − Ē_o) f'_p I_p,i,   σ_o = sign of output o's covariance
// (the V̄ term drops out because the centred errors sum to zero over the examples); the best candidate is
// installed with its input weights frozen, and the output weights are trained again over the wider input.
// Tables are small, so the growing runs in float64 here (Adam for both phases, in place of the paper's
// Quickprop); the result is an ordinary edgegrad model of dense and concatenate layers: predict, evaluate,
// fit (the output layer), ONNX export and quantization all work on it.
import { mulberry32 } from '../data/rows.js';
import { Dense } from '../layers/core.js';
import { Concatenate } from '../layers/merge.js';
import { input as symbolicInput } from '../layers/layer.js';
import { Model } from '../model.js';
import { Tensor, formatShape, tensor } from '../tensor.js';
import type { Optimizer, OptimizerName } from '../train/optimizers.js';

export type CascadeActivation = 'tanh' | 'sigmoid' | 'relu';
export type CascadeLoss = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError';

export interface CascadeArgs {
  /**
   * The loss of the output layer: class indices (int32 y) default to 'sparseCategoricalCrossentropy',
   * float y to 'meanSquaredError'; 'categoricalCrossentropy' takes one-hot float rows. Cross-entropy
   * outputs are a softmax, squared error outputs linear.
   */
  loss?: CascadeLoss;
  /** Most hidden units to add (default 10). */
  maxUnits?: number;
  /** Candidate units trained per round; the best is installed (default 8). */
  candidates?: number;
  /** The hidden units' activation (default 'tanh', the paper's symmetric sigmoid). */
  activation?: CascadeActivation;
  /** Stop after this many units in a row that did not lower the validation loss (default 2); the best size is kept. */
  patience?: number;
  /** Held-out [x, y] that decides when to stop; without it, growing stops at maxUnits or when the training loss stalls. */
  validationData?: [Tensor, Tensor];
  /** Full-batch Adam steps for the output weights per round (default 300) and their learning rate (default 0.05). */
  outputEpochs?: number;
  outputLearningRate?: number;
  /** Adam steps per candidate pool (default 300) and their learning rate (default 0.05). */
  candidateEpochs?: number;
  candidateLearningRate?: number;
  /** Seeds the candidates' initial weights. */
  seed?: number;
  /** Compiles the grown model with this optimizer (default Adam 1e-3) for evaluate and further fitting. */
  optimizer?: Optimizer | OptimizerName;
  /** Called after each round (0 hidden units first). */
  onUnit?: (step: CascadeStep) => void | Promise<void>;
}

export interface CascadeStep {
  /** Hidden units in the network. */
  units: number;
  /** Training loss after the output weights were trained. */
  loss: number;
  /** Accuracy on the training data (classification). */
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  /** S of the unit just installed (undefined for the start with none). */
  score?: number;
}

export interface CascadeResult {
  /** The grown network at its best size: inputs → [units, each seeing the inputs and the units before] → outputs. */
  model: Model;
  /** Hidden units in `model`. */
  units: number;
  /** Each round, from 0 units up to the last one tried (which may be more than `units`). */
  history: CascadeStep[];
}

// ---- the numerics, on plain arrays (exported for the tests) ----

/** Row-major n × cols. */
interface Mat { data: Float64Array; rows: number; cols: number }

function act(name: CascadeActivation, s: number): number {
  return name === 'tanh' ? Math.tanh(s) : name === 'sigmoid' ? 1 / (1 + Math.exp(-s)) : Math.max(0, s);
}

/** f'(s) from f(s) = v (and s for relu). */
function actGrad(name: CascadeActivation, v: number, s: number): number {
  return name === 'tanh' ? 1 - v * v : name === 'sigmoid' ? v * (1 - v) : s > 0 ? 1 : 0;
}

/**
 * A candidate's values V_p = f(Σ_i w_i I_p,i + b) over the n rows of I (inputs and hidden units), its score S
 * against the residual errors E (n × outputs) and, if `grad` is given, ∂S/∂[w, b] into it.
 */
export function candidateScore(I: Mat, w: ArrayLike<number>, E: Mat, activation: CascadeActivation, grad?: Float64Array): { score: number; values: Float64Array } {
  const n = I.rows, d = I.cols, m = E.cols;
  const s = new Float64Array(n), v = new Float64Array(n);
  let vMean = 0;
  for (let p = 0; p < n; p++) {
    let z = w[d];
    for (let i = 0; i < d; i++) z += w[i] * I.data[p * d + i];
    s[p] = z;
    v[p] = act(activation, z);
    vMean += v[p];
  }
  vMean /= n;
  const eMean = columnMeans(E);
  const cov = new Float64Array(m);
  for (let p = 0; p < n; p++) for (let o = 0; o < m; o++) cov[o] += (v[p] - vMean) * (E.data[p * m + o] - eMean[o]);
  let score = 0;
  for (let o = 0; o < m; o++) score += Math.abs(cov[o]);
  if (grad) {
    grad.fill(0);
    for (let p = 0; p < n; p++) {
      let back = 0;
      for (let o = 0; o < m; o++) back += Math.sign(cov[o]) * (E.data[p * m + o] - eMean[o]);
      back *= actGrad(activation, v[p], s[p]);
      for (let i = 0; i < d; i++) grad[i] += back * I.data[p * d + i];
      grad[d] += back;
    }
  }
  return { score, values: v };
}

function columnMeans(E: Mat): Float64Array {
  const mean = new Float64Array(E.cols);
  for (let p = 0; p < E.rows; p++) for (let o = 0; o < E.cols; o++) mean[o] += E.data[p * E.cols + o];
  for (let o = 0; o < E.cols; o++) mean[o] /= E.rows;
  return mean;
}

/** Adam (Kingma & Ba 2015) on a flat vector; `sign` -1 descends, +1 ascends. */
class Adam {
  private m: Float64Array;
  private v: Float64Array;
  private t = 0;
  constructor(size: number, private readonly lr: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }
  step(w: Float64Array, g: Float64Array, sign: number): void {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    this.t++;
    const c1 = 1 - b1 ** this.t, c2 = 1 - b2 ** this.t;
    for (let i = 0; i < w.length; i++) {
      this.m[i] = b1 * this.m[i] + (1 - b1) * g[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      w[i] += sign * this.lr * (this.m[i] / c1) / (Math.sqrt(this.v[i] / c2) + eps);
    }
  }
}

/** The output layer: W is (d + 1) × m (last row the bias); softmax + cross-entropy or linear + squared error. */
function outputs(F: Mat, W: Float64Array, m: number, softmax: boolean): Float64Array {
  const n = F.rows, d = F.cols, out = new Float64Array(n * m);
  for (let p = 0; p < n; p++) {
    for (let o = 0; o < m; o++) {
      let z = W[d * m + o];
      for (let i = 0; i < d; i++) z += F.data[p * d + i] * W[i * m + o];
      out[p * m + o] = z;
    }
    if (softmax) {
      let mx = -Infinity, se = 0;
      for (let o = 0; o < m; o++) mx = Math.max(mx, out[p * m + o]);
      for (let o = 0; o < m; o++) { out[p * m + o] = Math.exp(out[p * m + o] - mx); se += out[p * m + o]; }
      for (let o = 0; o < m; o++) out[p * m + o] /= se;
    }
  }
  return out;
}

/**
 * Loss, accuracy (classification) and the residual errors E = ∂loss_p/∂z_p,o (the prediction minus the
 * target for both softmax + cross-entropy and linear + squared error, the error the candidates correlate with).
 */
function scoreOutputs(Y: Mat, P: Float64Array, softmax: boolean): { loss: number; accuracy?: number; E: Mat } {
  const n = Y.rows, m = Y.cols, E = new Float64Array(n * m);
  let loss = 0, hits = 0;
  for (let p = 0; p < n; p++) {
    let best = 0, label = 0;
    for (let o = 0; o < m; o++) {
      const k = p * m + o, y = Y.data[k];
      E[k] = P[k] - y;
      loss += softmax ? -y * Math.log(Math.max(P[k], 1e-15)) : (P[k] - y) ** 2 / m;
      if (P[k] > P[p * m + best]) best = o;
      if (y > Y.data[p * m + label]) label = o;
    }
    if (best === label) hits++;
  }
  return { loss: loss / n, accuracy: softmax ? hits / n : undefined, E: { data: E, rows: n, cols: m } };
}

/** Full-batch Adam on the output weights (warm-started from W). */
function trainOutputs(F: Mat, Y: Mat, W: Float64Array, softmax: boolean, epochs: number, lr: number): void {
  const n = F.rows, d = F.cols, m = Y.cols, g = new Float64Array(W.length), opt = new Adam(W.length, lr);
  for (let e = 0; e < epochs; e++) {
    const { E } = scoreOutputs(Y, outputs(F, W, m, softmax), softmax);
    g.fill(0);
    // ∂(mean loss)/∂W: E (for squared error, 2E/m per output) times the layer's input
    const k = softmax ? 1 / n : 2 / (n * m);
    for (let p = 0; p < n; p++) {
      for (let o = 0; o < m; o++) {
        const ep = E.data[p * m + o] * k;
        for (let i = 0; i < d; i++) g[i * m + o] += ep * F.data[p * d + i];
        g[d * m + o] += ep;
      }
    }
    opt.step(W, g, -1);
  }
}

/** Train a pool of candidates on (I, E); the best one's weights [w, b], score and values. */
function trainCandidates(I: Mat, E: Mat, pool: number, activation: CascadeActivation, epochs: number, lr: number, rand: () => number): { w: Float64Array; score: number; values: Float64Array } {
  const d = I.cols;
  let best: { w: Float64Array; score: number; values: Float64Array } | undefined;
  for (let c = 0; c < pool; c++) {
    // uniform in ±1/√fan-in, so tanh units start in their linear range
    const w = Float64Array.from({ length: d + 1 }, () => (2 * rand() - 1) / Math.sqrt(d + 1));
    const g = new Float64Array(d + 1), opt = new Adam(d + 1, lr);
    for (let e = 0; e < epochs; e++) {
      candidateScore(I, w, E, activation, g);
      opt.step(w, g, +1);
    }
    const r = candidateScore(I, w, E, activation);
    if (!best || r.score > best.score) best = { w, score: r.score, values: r.values };
  }
  return best!;
}

/** A matrix with one more column. */
function withColumn(F: Mat, col: Float64Array): Mat {
  const n = F.rows, d = F.cols, out = new Float64Array(n * (d + 1));
  for (let p = 0; p < n; p++) {
    out.set(F.data.subarray(p * d, (p + 1) * d), p * (d + 1));
    out[p * (d + 1) + d] = col[p];
  }
  return { data: out, rows: n, cols: d + 1 };
}

/** A unit's values over the rows of F. */
function unitValues(F: Mat, w: Float64Array, activation: CascadeActivation): Float64Array {
  const v = new Float64Array(F.rows);
  for (let p = 0; p < F.rows; p++) {
    let z = w[F.cols];
    for (let i = 0; i < F.cols; i++) z += w[i] * F.data[p * F.cols + i];
    v[p] = act(activation, z);
  }
  return v;
}

/** Output weights for a layer one input wider: the new input's row is zero (the outputs start where they were). */
function widen(W: Float64Array, d: number, m: number): Float64Array {
  const out = new Float64Array((d + 2) * m);
  out.set(W.subarray(0, d * m));
  out.set(W.subarray(d * m), (d + 1) * m);
  return out;
}

// ---- eg.cascadeCorrelation ----

function fail(msg: string): never {
  throw new Error(`edgegrad.cascadeCorrelation: ${msg}`);
}

function positiveInt(v: number, name: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) fail(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** x as float64 rows [n, d], checked. */
function table(x: Tensor, what: string): Mat {
  if (!(x instanceof Tensor)) fail(`${what} must be a Tensor`);
  if (x.dtype !== 'float32' || x.rank !== 2) fail(`${what} must be a float32 table [examples, features], got ${x.dtype} ${formatShape(x.shape)}`);
  if (x.shape[0] < 2) fail(`${what} needs at least 2 examples, got ${x.shape[0]}`);
  const data = Float64Array.from(x.dataSync());
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) fail(`${what} holds ${data[bad]} at example ${Math.floor(bad / x.shape[1])}, feature ${bad % x.shape[1]}`);
  return { data, rows: x.shape[0], cols: x.shape[1] };
}

/** Targets as float64 rows [n, m]: class indices become one-hot rows. */
function targets(y: Tensor, n: number, loss: CascadeLoss, classes: number | undefined, what: string): Mat {
  if (!(y instanceof Tensor)) fail(`${what} must be a Tensor`);
  if (y.shape[0] !== n) fail(`${what} has ${y.shape[0]} examples, its x has ${n}`);
  if (loss === 'sparseCategoricalCrossentropy') {
    if (y.dtype !== 'int32' || y.rank !== 1) fail(`loss '${loss}' needs int32 class indices [${n}] as ${what}, got ${y.dtype} ${formatShape(y.shape)}`);
    const v = y.dataSync(), m = classes ?? Math.max(...Array.from(v)) + 1, out = new Float64Array(n * m);
    for (let p = 0; p < n; p++) {
      if (!(v[p] >= 0 && v[p] < m)) fail(`${what}: label ${v[p]} of example ${p} is outside [0, ${m})`);
      out[p * m + v[p]] = 1;
    }
    return { data: out, rows: n, cols: m };
  }
  if (y.dtype !== 'float32' || y.rank !== 2) fail(`loss '${loss}' needs float32 targets [${n}, outputs] as ${what}, got ${y.dtype} ${formatShape(y.shape)}`);
  if (classes !== undefined && y.shape[1] !== classes) fail(`${what} has ${y.shape[1]} outputs, the training targets ${classes}`);
  const data = Float64Array.from(y.dataSync());
  const bad = data.findIndex((v) => !Number.isFinite(v) || (loss === 'categoricalCrossentropy' && (v < 0 || v > 1)));
  if (bad >= 0) fail(`${what} holds ${data[bad]} at example ${Math.floor(bad / y.shape[1])}${loss === 'categoricalCrossentropy' ? ' (one-hot rows need values in [0, 1])' : ''}`);
  return { data, rows: n, cols: y.shape[1] };
}

/**
 * Grow a dense network for a table by cascade correlation (Fahlman & Lebiere 1990). x: float32 [n, features]
 * (standardize it first, as for any network); y: int32 class indices, one-hot rows, or float targets. Returns
 * the network at the size with the lowest validation loss, and the loss after each unit.
 */
export async function cascadeCorrelation(x: Tensor, y: Tensor, args: CascadeArgs = {}): Promise<CascadeResult> {
  const loss: CascadeLoss = args.loss ?? (y instanceof Tensor && y.dtype === 'int32' ? 'sparseCategoricalCrossentropy' : 'meanSquaredError');
  if (!['sparseCategoricalCrossentropy', 'categoricalCrossentropy', 'meanSquaredError'].includes(loss)) {
    fail(`unknown loss '${String(loss)}' (expected sparseCategoricalCrossentropy, categoricalCrossentropy or meanSquaredError)`);
  }
  const activation = args.activation ?? 'tanh';
  if (!['tanh', 'sigmoid', 'relu'].includes(activation)) fail(`activation must be 'tanh', 'sigmoid' or 'relu', got ${JSON.stringify(activation)}`);
  const maxUnits = positiveInt(args.maxUnits ?? 10, 'maxUnits', 0);
  const pool = positiveInt(args.candidates ?? 8, 'candidates');
  const patience = positiveInt(args.patience ?? 2, 'patience');
  const outEpochs = positiveInt(args.outputEpochs ?? 300, 'outputEpochs');
  const candEpochs = positiveInt(args.candidateEpochs ?? 300, 'candidateEpochs');
  const rate = (v: number | undefined, name: string) => {
    const r = v ?? 0.05;
    if (!(typeof r === 'number' && r > 0 && Number.isFinite(r))) fail(`${name} must be a positive number, got ${String(v)}`);
    return r;
  };
  const outLr = rate(args.outputLearningRate, 'outputLearningRate'), candLr = rate(args.candidateLearningRate, 'candidateLearningRate');
  const X = table(x, 'x');
  const Y = targets(y, X.rows, loss, undefined, 'y');
  const softmax = loss !== 'meanSquaredError', m = Y.cols, d0 = X.cols;
  let VX: Mat | undefined, VY: Mat | undefined;
  if (args.validationData !== undefined) {
    if (!Array.isArray(args.validationData) || args.validationData.length !== 2) fail('validationData must be [x, y]');
    VX = table(args.validationData[0], 'validationData x');
    if (VX.cols !== d0) fail(`validationData x has ${VX.cols} features, x has ${d0}`);
    VY = targets(args.validationData[1], VX.rows, loss, m, 'validationData y');
  }
  const rand = mulberry32(args.seed ?? 0x5eed);
  let F = X, VF = VX, W: Float64Array = new Float64Array((d0 + 1) * m);
  const units: Float64Array[] = [], history: CascadeStep[] = [];
  let best = { units: 0, loss: Infinity, W: W.slice() }, wait = 0, lastScore = 0;
  for (let k = 0; ; k++) {
    trainOutputs(F, Y, W, softmax, outEpochs, outLr);
    const tr = scoreOutputs(Y, outputs(F, W, m, softmax), softmax);
    const step: CascadeStep = { units: k, loss: tr.loss, ...(softmax ? { accuracy: tr.accuracy } : {}) };
    if (k > 0) step.score = lastScore;
    let monitored = tr.loss;
    if (VF && VY) {
      const va = scoreOutputs(VY, outputs(VF, W, m, softmax), softmax);
      step.valLoss = va.loss;
      if (softmax) step.valAccuracy = va.accuracy;
      monitored = va.loss;
    }
    history.push(step);
    await args.onUnit?.(step);
    // without validation data, a unit that lowers the training loss by under 0.1% counts as no improvement
    if (monitored < best.loss * (VF ? 1 : 0.999)) { best = { units: k, loss: monitored, W: W.slice() }; wait = 0; } else wait++;
    if (k >= maxUnits || wait >= patience) break;
    const c = trainCandidates(F, tr.E, pool, activation, candEpochs, candLr, rand);
    lastScore = c.score;
    units.push(c.w);
    F = withColumn(F, c.values);
    if (VF) VF = withColumn(VF, unitValues(VF, c.w, activation));
    W = widen(W, F.cols - 1, m);
  }
  const model = buildModel(units.slice(0, best.units), best.W, d0, m, activation, softmax);
  model.compile({ optimizer: args.optimizer ?? 'adam', loss: softmax ? (loss === 'sparseCategoricalCrossentropy' ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy') : 'meanSquaredError', metrics: softmax ? ['accuracy'] : [] });
  return { model, units: best.units, history };
}

/**
 * The grown network as edgegrad layers: unit j is a one-unit dense layer over the concatenation of the inputs
 * and units 0..j-1 (frozen, as installed), the outputs a dense layer over all of them.
 */
function buildModel(units: Float64Array[], W: Float64Array, d0: number, m: number, activation: CascadeActivation, softmax: boolean): Model {
  const inp = symbolicInput({ shape: [d0], name: 'x' });
  let cur = inp;
  const layers: Array<{ layer: Dense; w: Float64Array }> = [];
  units.forEach((w, j) => {
    const layer = new Dense({ units: 1, activation, name: `cascade_unit_${j}`, trainable: false });
    const h = layer.apply(cur);
    cur = new Concatenate({ name: `cascade_concat_${j}` }).apply([cur, h]);
    layers.push({ layer, w });
  });
  const out = new Dense({ units: m, activation: softmax ? 'softmax' : 'linear', name: 'cascade_output' });
  const model = new Model({ inputs: inp, outputs: out.apply(cur), name: 'cascade' });
  for (const { layer, w } of layers) {
    const d = w.length - 1;
    layer.setWeights([tensor(Float32Array.from(w.subarray(0, d)), [d, 1]), tensor(Float32Array.from(w.subarray(d)), [1])]);
  }
  const d = W.length / m - 1;
  out.setWeights([tensor(Float32Array.from(W.subarray(0, d * m)), [d, m]), tensor(Float32Array.from(W.subarray(d * m)), [m])]);
  return model;
}
