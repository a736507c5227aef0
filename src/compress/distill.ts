// Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network"): a
// small student learns from a teacher's softened outputs. Per example, with teacher logits v, student logits
// z, temperature T and one-hot label y:
//   L = a·T²·KL(softmax(v/T) ‖ softmax(z/T)) + (1 − a)·CE(y, softmax(z)),   a = α (labelled), 1 (unlabelled)
//   ∂L/∂z = a·T·(softmax(z/T) − softmax(v/T)) + (1 − a)·(softmax(z)·Σy − y)
// The T² keeps the soft term's gradient the same size as the hard term's when T changes (the paper, §2).
// The loss is one graph op (the seed of autodiff, like 'loss'); the student's forward and backward pass and
// the optimizer are the fit loop's own. The teacher's logits are computed once and cached when they do not
// change between epochs (the teacher never trains here; the student has no augmentation in front of it),
// otherwise the teacher runs inside the training graph on each batch, on the student's augmented input.
import '../ops/index.js';
import { buildBackward } from '../autodiff.js';
import { getBackend } from '../backend/index.js';
import { Plan } from '../graph/executor.js';
import { Graph, sizeOfShape } from '../graph/ir.js';
import { registerOp } from '../graph/registry.js';
import { optimizeForInference } from '../graph/passes.js';
import { refuseNonFinite } from '../graph/finite.js';
import { GraphModel } from '../graph-model.js';
import { Layer, input as symbolicInput, type Weight } from '../layers/layer.js';
import { Model, Sequential } from '../model.js';
import { Tensor, formatShape } from '../tensor.js';
import type { Callback, Logs } from '../train/callbacks.js';
import { fitLoop, type History, type Trainee } from '../train/fit.js';
import type { MetricName } from '../train/metrics.js';
import type { Optimizer, OptimizerName } from '../train/optimizers.js';
import { Pacer, type Pacing } from '../train/pace.js';
import type { TrainPlan } from '../train/step.js';
import { runPrefix } from '../train/features.js';
import { rowsOf } from '../data/rows.js';

export interface DistillArgs extends Pacing {
  /** Softening temperature T > 0 of both softmaxes in the soft term (default 4). */
  temperature?: number;
  /** Weight α in [0, 1] of the soft term for labelled examples (default 0.9); unlabelled ones use 1. */
  alpha?: number;
  epochs?: number;
  /** Examples per step (default 32). */
  batchSize?: number;
  shuffle?: boolean;
  /** Seeds the shuffling and the dropout masks. */
  seed?: number;
  /** Examples without labels: they learn from the teacher alone (α = 1 on them). */
  unlabeled?: Tensor;
  /** Held-out [x, y] evaluated on the student (its compiled loss and metrics) after each epoch, as val_*. */
  validationData?: [Tensor, Tensor];
  callbacks?: Callback[] | Callback;
  /** Compiles the student (categorical cross-entropy and accuracy for validation) when it is not compiled. */
  optimizer?: Optimizer | OptimizerName;
  /**
   * Compute the teacher's logits once and reuse them each epoch (default: when possible, i.e. the student
   * has no augmentation or other random layer in front of its first weights). false runs the teacher per batch.
   */
  cacheTeacher?: boolean;
  /** As fit's: 'warn' (default), 'stop' or 'ignore' when training diverges. */
  onDivergence?: 'warn' | 'stop' | 'ignore';
}

export interface DistillHistory extends History {
  /** Whether the teacher's logits were computed once (true) or per batch inside the training graph. */
  teacherCached: boolean;
}

/** A teacher: a loaded model (eg.loadModel) or one built here (eg.sequential / eg.model). */
export type Teacher = Model | GraphModel;

// ---- the loss op ----

/**
 * The distillation loss over rows of logits, in float64: the mean of L over the rows and, if wanted, ∂L/∂z
 * (already divided by the number of rows, as the other losses' gradients). The reference the tests and the
 * op share: written once, from the formula at the top of this file.
 */
export function distillLossRows(
  z: ArrayLike<number>, v: ArrayLike<number>, y: ArrayLike<number>, rows: number, cols: number, T: number, alpha: number, grad?: Float32Array,
): number {
  let total = 0;
  const q = new Float64Array(cols), p = new Float64Array(cols), r = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let ysum = 0;
    for (let c = 0; c < cols; c++) ysum += y[o + c];
    // an example whose label row is all zeros has no label: it learns from the teacher alone
    const a = ysum > 0 ? alpha : 1;
    const lq = logSoftmax(z, o, cols, 1 / T, q), lp = logSoftmax(v, o, cols, 1 / T, p), lr = logSoftmax(z, o, cols, 1, r);
    let kl = 0, ce = 0;
    for (let c = 0; c < cols; c++) {
      const pc = Math.exp(lp[c]);
      if (pc > 0) kl += pc * (lp[c] - lq[c]);
      ce -= y[o + c] * lr[c];
    }
    total += a * T * T * kl + (a < 1 ? (1 - a) * ce : 0);
    if (grad) {
      for (let c = 0; c < cols; c++) {
        const soft = a * T * (Math.exp(lq[c]) - Math.exp(lp[c]));
        const hard = a < 1 ? (1 - a) * (Math.exp(lr[c]) * ysum - y[o + c]) : 0;
        grad[o + c] = (soft + hard) / rows;
      }
    }
  }
  return total / rows;
}

/** log softmax(s·x) of one row, stable (max subtracted), into out. */
function logSoftmax(x: ArrayLike<number>, o: number, cols: number, s: number, out: Float64Array): Float64Array {
  let m = -Infinity;
  for (let c = 0; c < cols; c++) m = Math.max(m, s * x[o + c]);
  let se = 0;
  for (let c = 0; c < cols; c++) se += Math.exp(s * x[o + c] - m);
  const lse = m + Math.log(se);
  for (let c = 0; c < cols; c++) out[c] = s * x[o + c] - lse;
  return out;
}

registerOp({
  name: 'distillLoss',
  // inputs: student logits [B, K], teacher logits [B, K], labels [B, K] (a zero row: unlabelled);
  // outputs: [1] mean loss, ∂loss/∂(student logits)
  infer([z, v, y], _a, node) {
    const same = (s: number[]) => s.length === z.length && s.every((d, i) => i === 0 || d === z[i]);
    if (z.length !== 2) throw new Error(`edgegrad.distill: node '${node}': student logits must be [batch, classes], got ${formatShape(z)}`);
    if (!same(v)) throw new Error(`edgegrad.distill: node '${node}': teacher logits ${formatShape(v)} do not match the student's ${formatShape(z)}`);
    if (!same(y)) throw new Error(`edgegrad.distill: node '${node}': labels ${formatShape(y)} do not match the student's logits ${formatShape(z)}`);
    return [[1], z.slice()];
  },
  outputDtype: () => 'float32',
  run(ctx, n) {
    // a host kernel on the backend's memory (wasm, reference): distill refuses backends without synchronous reads
    const [z, v, y] = n.inputs, [l, g] = n.outputs;
    const shape = ctx.shape(z), cols = shape[1], rows = shape[0], size = sizeOfShape(shape);
    const f = (id: number) => ctx.be.f32(ctx.ptr(id), size);
    const grad = g === undefined ? undefined : ctx.be.f32(ctx.ptr(g), size);
    const loss = distillLossRows(f(z), f(v), f(y), rows, cols, n.attrs.temperature as number, n.attrs.alpha as number, grad);
    ctx.be.f32(ctx.ptr(l), 1)[0] = loss;
  },
});

// ---- the teacher's logits ----

/**
 * The logits a model's output comes from: the input of a final softmax, or the output itself when it has
 * none. A final log-softmax gives v − logsumexp(v): the logits up to a constant per row, which every softmax
 * here (at any temperature) ignores, so it is used as it is.
 */
function logitsOf(g: Graph, out: number, who: string): number {
  const prod = g.producer(out);
  const act = prod?.op === 'activation' ? prod.attrs.activation as string : undefined;
  if (act === 'softmax') return prod!.inputs[0];
  if (act && act !== 'linear' && act !== 'logSoftmax') {
    throw new Error(`edgegrad.distill: the ${who} ends in a '${act}' activation; distillation needs a softmax output, a log-softmax or logits (a linear output)`);
  }
  return out;
}

/**
 * A layer that runs a teacher and gives its logits: the input of its final softmax. (Working from the
 * teacher's probabilities instead would give log p = v − logsumexp(v), the logits up to a constant per row,
 * and so the same softmax(·/T); but probabilities in float32 underflow to 0 for classes far below the top
 * one, exactly the small differences a high temperature is meant to show, so the logits are taken from the
 * graph itself.)
 */
class TeacherLogits extends Layer {
  constructor(readonly teacher: Layer) {
    super({ name: `${teacher.name}/logits` }, 'teacher_logits');
    this.built = true;
  }

  override get weights(): Weight[] {
    return this.teacher.weights;
  }

  override isTrainable(): boolean {
    return false;
  }

  protected call(g: Graph, xs: number[]): number[] {
    const outs = this.teacher.addTo(g, xs);
    if (outs.length !== 1) throw new Error(`edgegrad.distill: the teacher '${this.teacher.name}' has ${outs.length} outputs; distillation takes a teacher with one`);
    return [logitsOf(g, outs[0], `teacher '${this.teacher.name}'`)];
  }
}

function teacherLayer(t: Teacher): Layer {
  if (t instanceof GraphModel) return t.asLayer();
  if (t instanceof Model) return t;
  throw new Error('edgegrad.distill: the teacher must be a model (eg.loadModel, eg.sequential or eg.model)');
}

/**
 * Run the teacher's nodes as a frozen model inside a training graph: its parameters train nothing, its batch
 * norms use their moving statistics and its dropout is off (the teacher is always at inference).
 */
function freezeNodes(g: Graph, fromNode: number): void {
  for (const nd of g.nodes.slice(fromNode)) {
    if (nd.op === 'batchNorm') nd.attrs = { ...nd.attrs, frozen: true };
    if (nd.op === 'dropout') nd.attrs = { ...nd.attrs, rate: 0 };
    for (const i of nd.inputs) if (g.values[i].kind === 'param') g.values[i].trainable = false;
  }
}

/** The teacher's logits for x, at inference, in batches: [n, classes]. */
export async function teacherLogits(teacher: Teacher, x: Tensor, opts: { batchSize?: number } & Pacing = {}): Promise<Tensor> {
  const layer = teacherLayer(teacher);
  const inp = symbolicInput({ shape: x.shape.slice(1), name: 'teacher_input' });
  const m = new Model({ inputs: inp, outputs: new TeacherLogits(layer).apply(inp), name: `${layer.name}_logits` });
  try {
    return await runPrefix(m, x, opts.batchSize ?? 64, undefined, new Pacer(opts, 'distill'));
  } finally {
    m.dispose();
  }
}

// ---- the training loop's model ----

/** Every weight of a layer with the layer that owns it (nested models' layers included). */
function ownedWeights(layer: Layer): Array<{ weight: Weight; layer: Layer }> {
  if (layer instanceof Model) return layer.layers.flatMap(ownedWeights);
  return layer.weights.map((weight) => ({ weight, layer }));
}

/** The leading layers of a sequential student that are random and weightless (augmentation): the teacher sees their output. */
function augmentationPrefix(student: Model): Layer[] {
  if (!(student instanceof Sequential)) return [];
  const out: Layer[] = [];
  for (const l of student.layers) {
    if (l.weights.length || !l.stochastic) break;
    out.push(l);
  }
  return out;
}

/** What the fit loop trains: the student, with the distillation loss over its logits. */
class DistillTrainee implements Trainee {
  private plans = new Map<string, TrainPlan>();
  constructor(
    readonly student: Model,
    private readonly teacher: Layer | undefined, // per batch; undefined: cached logits are fed as an input
    private readonly prefix: Layer[],
    private readonly T: number,
    private readonly alpha: number,
  ) {}

  get name(): string { return this.student.name; }
  get optimizer(): Optimizer | undefined { return this.student.optimizer; }
  get outputs(): ReadonlyArray<{ shape: number[] }> { return this.student.outputs; }
  // training metrics would mix labelled and unlabelled rows: accuracy is reported on validation data
  get compiledMetrics(): readonly MetricName[] { return []; }
  get stopTraining(): boolean { return this.student.stopTraining; }
  set stopTraining(v: boolean) { this.student.stopTraining = v; }
  getWeights(): Tensor[] { return this.student.getWeights(); }
  setWeights(w: Tensor[]): void { this.student.setWeights(w); }

  evaluate(x: Tensor | Tensor[], y: Tensor, opts?: { batchSize?: number }): Logs {
    return this.student.evaluate(Array.isArray(x) ? x[0] : x, y, opts);
  }

  trainingPlan(batch: number, training: boolean): TrainPlan {
    const key = `${training}:${batch}`;
    const cached = this.plans.get(key);
    if (cached && !cached.plan.stale) return cached;
    cached?.plan.dispose();
    const s = this.student, g0 = new Graph();
    const x = g0.input('x', [-1, ...s.inputShapeOf]);
    // the student's augmentation, then the student (from its first weighted layer) and the teacher on its output
    let h = x;
    for (const l of this.prefix) h = l.addTo(g0, [h])[0];
    const rest = this.prefix.length ? s.layers.slice(this.prefix.length) : [s as Layer];
    let out = h;
    for (const l of rest) out = l.addTo(g0, [out])[0];
    let tIn: number;
    if (this.teacher) {
      const from = g0.nodes.length;
      tIn = new TeacherLogits(this.teacher).addTo(g0, [h])[0];
      freezeNodes(g0, from);
    } else {
      tIn = g0.input('teacher_logits', [-1, s.outputs[0].shape.at(-1)!]);
    }
    g0.outputs = [out];
    const g = optimizeForInference(g0, { frozenOnly: true });
    const z = logitsOf(g, out, `student '${s.name}'`);
    const y = g.input('y', g.values[z].shape.slice());
    const [lossV, dz] = g.node('distillLoss', [z, tIn, y], { temperature: this.T, alpha: this.alpha }, 'distill_loss');
    const owners = new Map<Tensor, { weight: Weight; layer: Layer }>();
    for (const w of ownedWeights(s)) owners.set(w.weight.tensor, w);
    const grads: TrainPlan['grads'] = [];
    if (training) {
      const wrt = g.values.filter((v) => v.kind === 'param' && v.trainable && owners.has(v.tensor!)).map((v) => v.id);
      for (const [pid, gid] of buildBackward(g, new Map([[z, dz]]), wrt)) grads.push({ ...owners.get(g.values[pid].tensor!)!, grad: gid });
    }
    g.outputs = [out, lossV];
    const xs = this.teacher ? [x] : [x, tIn];
    const plan = new Plan(g, { batch, training, keep: [y, ...grads.map((gr) => gr.grad)] });
    const tp: TrainPlan = { plan, x, xs, y, pred: out, loss: lossV, grads };
    this.plans.set(key, tp);
    return tp;
  }

  dispose(): void {
    for (const p of this.plans.values()) p.plan.dispose();
    this.plans.clear();
  }
}

// ---- eg.distill ----

/** Labels as one-hot float32 rows [n, classes]: from one-hot / soft rows, or int32 class indices. */
function oneHotLabels(y: Tensor, n: number, classes: number): Tensor {
  if (!(y instanceof Tensor)) throw new Error('edgegrad.distill: y must be a Tensor (or undefined: no labels)');
  if (y.shape[0] !== n) throw new Error(`edgegrad.distill: x has ${n} examples but y has ${y.shape[0]} (${formatShape(y.shape)})`);
  if (y.dtype === 'int32') {
    if (y.rank !== 1) throw new Error(`edgegrad.distill: int32 labels must be class indices [${n}], got ${formatShape(y.shape)}`);
    const v = y.view(), out = Tensor.empty([n, classes]), o = out.view();
    o.fill(0);
    for (let i = 0; i < n; i++) {
      if (!(v[i] >= 0 && v[i] < classes)) throw new Error(`edgegrad.distill: label ${v[i]} of example ${i} is outside [0, ${classes}): the student has ${classes} outputs`);
      o[i * classes + v[i]] = 1;
    }
    return out;
  }
  if (y.rank !== 2 || y.shape[1] !== classes) throw new Error(`edgegrad.distill: labels must be one-hot [${n}, ${classes}] (the student's outputs) or int32 class indices [${n}], got ${y.dtype} ${formatShape(y.shape)}`);
  const v = y.view();
  for (let i = 0; i < v.length; i++) {
    if (!(v[i] >= 0 && v[i] <= 1)) throw new Error(`edgegrad.distill: label rows must hold values in [0, 1] (one-hot or smoothed), got ${v[i]} in example ${Math.floor(i / classes)}`);
  }
  return y.clone();
}

function checkNumber(v: number, name: string, ok: (v: number) => boolean, want: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`edgegrad.distill: ${name} must be ${want}, got ${String(v)}`);
  return v;
}

/** Rows of several tensors one after another (same per-row shape). */
function concatRows(ts: Tensor[]): Tensor {
  const n = ts.reduce((s, t) => s + t.shape[0], 0);
  const out = Tensor.empty([n, ...ts[0].shape.slice(1)]), o = out.view();
  let off = 0;
  for (const t of ts) { o.set(t.view(), off); off += t.size; }
  return out;
}

/**
 * Train `student` on `teacher`'s softened outputs (Hinton et al. 2015) and, where given, on the labels y:
 * α·T²·KL(softmax(v/T) ‖ softmax(z/T)) + (1 − α)·CE(y, softmax(z)). Both models end in a softmax (or give
 * logits) over the same classes; the teacher is not changed. The student must be compiled (its optimizer
 * trains it, its loss and metrics score validationData) or `optimizer` given. Returns a History like fit's.
 */
export async function distill(student: Model, teacher: Teacher, x: Tensor, y?: Tensor, args: DistillArgs = {}): Promise<DistillHistory> {
  new Pacer(args, 'distill').check('before the first step');
  if (!(student instanceof Model)) throw new Error('edgegrad.distill: the student must be a model built with eg.sequential or eg.model');
  const tLayer = teacherLayer(teacher);
  const be = getBackend();
  if (!be.syncRead) throw new Error(`edgegrad.distill: not available on the '${be.name}' backend yet (the loss runs on the CPU side of the memory): distill on wasm`);
  const T = checkNumber(args.temperature ?? 4, 'temperature', (v) => v > 0, 'a number > 0');
  const alpha = checkNumber(args.alpha ?? 0.9, 'alpha', (v) => v >= 0 && v <= 1, 'in [0, 1]');
  if (student.outputs.length !== 1) throw new Error(`edgegrad.distill: the student '${student.name}' has ${student.outputs.length} outputs; distillation takes one`);
  const sOut = student.outputs[0].shape;
  if (sOut.length !== 2) throw new Error(`edgegrad.distill: the student's output must be [batch, classes], got ${formatShape(sOut)}`);
  const classes = sOut[1];
  if (!(x instanceof Tensor)) throw new Error('edgegrad.distill: x must be a Tensor');
  const want = student.inputShapeOf;
  const checkX = (t: Tensor, what: string) => {
    if (!(t instanceof Tensor) || t.dtype !== 'float32' || t.rank !== want.length + 1 || want.some((d, i) => d !== t.shape[i + 1])) {
      throw new Error(`edgegrad.distill: the student '${student.name}' takes [batch, ${want.join(', ')}]; ${what} is ${t instanceof Tensor ? `${t.dtype} ${formatShape(t.shape)}` : 'not a Tensor'}`);
    }
    refuseNonFinite(t, 'distill', what);
  };
  checkX(x, 'x');
  if (args.unlabeled) checkX(args.unlabeled, 'unlabeled');
  // the teacher's output against the student's, from the shapes alone (nothing runs yet)
  const probe = new TeacherLogits(tLayer).apply(symbolicInput({ shape: want, name: 'probe' }));
  if (probe.shape.length !== 2 || probe.shape[1] !== classes) {
    throw new Error(`edgegrad.distill: the teacher '${tLayer.name}' gives [batch, ${probe.shape.slice(1).join(', ')}] on the student's input [batch, ${want.join(', ')}] but the student gives [batch, ${classes}]: they must classify the same classes`);
  }
  // the student's output must be logits or come from them, checked on its graph before anything runs
  const sg = new Graph();
  logitsOf(sg, student.addTo(sg, [sg.input('x', [-1, ...want])])[0], `student '${student.name}'`);
  if (!student.optimizer) {
    if (!args.optimizer) throw new Error(`edgegrad.distill: the student '${student.name}' is not compiled: compile it (its optimizer trains it; its loss scores validationData) or pass an optimizer`);
    const sparse = args.validationData?.[1].dtype === 'int32' || (y?.dtype === 'int32');
    student.compile({ optimizer: args.optimizer, loss: sparse ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy', metrics: ['accuracy'] });
  }
  if (args.validationData !== undefined) {
    const v = args.validationData;
    if (!Array.isArray(v) || v.length !== 2) throw new Error('edgegrad.distill: validationData must be [x, y]');
    checkX(v[0], 'validationData x');
    // labels the student's compiled loss cannot score would fail only after the first epoch: one row now
    const one = [rowsOf(v[0], 0, 1), rowsOf(v[1], 0, 1)];
    try {
      student.evaluate(one[0], one[1]);
    } catch (e) {
      throw new Error(`edgegrad.distill: validationData is scored by the student's compiled loss: ${(e as Error).message.replace(/^edgegrad\.\w+: /, '')}`);
    } finally {
      one.forEach((t) => t.dispose());
    }
  }
  const n = x.shape[0];
  const labels = y === undefined ? Tensor.empty([n, classes]) : oneHotLabels(y, n, classes);
  if (y === undefined) labels.view().fill(0);
  const extra = args.unlabeled?.shape[0] ?? 0;
  let xs = x, ys = labels;
  if (extra) {
    const none = Tensor.empty([extra, classes]);
    none.view().fill(0);
    xs = concatRows([x, args.unlabeled!]);
    ys = concatRows([labels, none]);
    none.dispose();
    labels.dispose();
  }
  const prefix = augmentationPrefix(student);
  const cache = args.cacheTeacher ?? prefix.length === 0;
  const bs = args.batchSize ?? 32;
  if (!Number.isInteger(bs) || bs < 1) throw new Error(`edgegrad.distill: batchSize must be a positive integer, got ${String(args.batchSize)}`);
  // cached: the augmentation prefix would change the student's input per epoch, the cache would not follow it
  if (cache && prefix.length) throw new Error(`edgegrad.distill: cacheTeacher is on but the student starts with random layers (${prefix.map((l) => l.name).join(', ')}): the teacher must see each batch as they change it; leave cacheTeacher unset`);
  let logits: Tensor | undefined;
  const trainee = new DistillTrainee(student, cache ? undefined : tLayer, prefix, T, alpha);
  try {
    if (cache) logits = await teacherLogits(teacher, xs, { ...args, batchSize: Math.min(bs, 64) });
    const h = await fitLoop(trainee, logits ? [xs, logits] : xs, ys, xs.shape[0], bs, {
      epochs: args.epochs, batchSize: bs, shuffle: args.shuffle, seed: args.seed, callbacks: args.callbacks,
      validationData: args.validationData, signal: args.signal, yieldEvery: args.yieldEvery, onDivergence: args.onDivergence,
    });
    return { ...h, teacherCached: cache };
  } finally {
    trainee.dispose();
    logits?.dispose();
    if (xs !== x) xs.dispose();
    ys.dispose();
  }
}

