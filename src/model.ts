// Model: a DAG of layers compiled to graph plans. predict / evaluate / fit / summary.
// Training builds forward + loss + autodiff's backward pass into one graph and plans its memory once per
// batch size; each step copies a batch in, runs the plan, and applies the optimizer's fused updates.
import './ops/index.js'; // every op family registers its graph ops
import { buildBackward } from './autodiff.js';
import { Plan } from './graph/executor.js';
import { checkpoint, plannedBytes, type CheckpointPolicy } from './graph/recompute.js';
import { Graph, sizeOfShape } from './graph/ir.js';
import { getOp } from './graph/registry.js';
import { lossOnLogits, maskActivations, optimizeForInference } from './graph/passes.js';
import { placementLine } from './ops/quant.js';
import { GraphModel, type ModelInputs, type SaveOptions } from './graph-model.js';
import { nearestNames } from './names.js';
import { Layer, SymbolicTensor, fmtCount, checkBatchNormMode, input as symbolicInput, type BatchNormMode, type LayerConfig, type Weight } from './layers/layer.js';
import { BatchNormalization } from './layers/core.js';
import { GraphLayer } from './layers/graph-layer.js';
import { LOSSES, type LossName } from './ops/loss.js';
import { Tensor, formatShape } from './tensor.js';
import type { Logs } from './train/callbacks.js';
import { METRICS, type MetricName } from './train/metrics.js';
import { getOptimizer, type Optimizer, type OptimizerName } from './train/optimizers.js';
import { checkBackend, refuseNonFinite, refuseNonFiniteAsync, type ReadGuard } from './graph/finite.js';
import { getBackend, whileActive } from './backend/index.js';
import { deviceOp } from './backend/device-ops.js';
import { rowsOf } from './data/rows.js';
import { Features, runPrefix } from './train/features.js';
import { Pacer, type Pacing } from './train/pace.js';
import { accumulateBatches, deviceSteps, type TrainPlan } from './train/step.js';
import { fitLoop, validationRows, type FitArgs, type History } from './train/fit.js';
import { sparsityLine } from './compress/targets.js';
import { checkClassNames, classesLine } from './io/onnx/export/metadata.js';

export type { FitArgs, History };

export { Features };

/** Keras loss names; the logits forms are used internally when the model ends in softmax / sigmoid. */
export type LossSpec = LossName | 'sparseCategoricalCrossentropy' | 'mse' | 'mae';

/**
 * The losses of a model with several outputs (Keras's forms): one loss for every output, an array with one per
 * output, or a { outputName: loss } map; null (or a name the map leaves out) is an output that does not train
 * (fit takes no labels for it).
 */
export type LossesSpec = LossSpec | Array<LossSpec | null> | Record<string, LossSpec | null>;

export interface CompileArgs {
  optimizer: Optimizer | OptimizerName;
  loss: LossesSpec;
  /** Metrics of the output, or (several outputs) of every output, an array of lists per output, or a { outputName: [...] } map. */
  metrics?: MetricName[] | MetricName[][] | Record<string, MetricName[]>;
  /** Several outputs: the weights of their losses in the total that trains (default 1 each), an array or a { outputName: w } map. */
  lossWeights?: number[] | Record<string, number>;
  /** Huber delta, BCE epsilon. */
  lossOptions?: { delta?: number; epsilon?: number };
}

/** fit / evaluate labels: one tensor (one output), or per trained output an array in output order or a { outputName: labels } map. */
export type Targets = Tensor | Array<Tensor | null | undefined> | Record<string, Tensor>;

/** An output that trains, of a model with several: its loss, the loss's weight in the total, its metrics. */
interface OutputLoss {
  output: number;
  name: string;
  loss: LossName | 'sparseCategoricalCrossentropy';
  weight: number;
  metrics: MetricName[];
}

const LOSS_ALIASES: Record<string, LossName | 'sparseCategoricalCrossentropy'> = { mse: 'meanSquaredError', mae: 'meanAbsoluteError' };

/** fit's options (FitArgs and Pacing): one outside them is a mistake (a typo, a Keras option edgegrad lacks), not ignored. */
const FIT_OPTIONS = ['epochs', 'batchSize', 'shuffle', 'seed', 'validationSplit', 'validationData', 'callbacks', 'cacheFeatures',
  'cacheBatchSize', 'onDivergence', 'memoryBudget', 'signal', 'yieldEvery', 'verbose'];

function checkFitArgs(args: FitArgs): void {
  if (args === null || typeof args !== 'object') throw new Error(`edgegrad.fit: options must be an object, got ${String(args)}`);
  for (const k of Object.keys(args)) {
    if (FIT_OPTIONS.includes(k)) continue;
    const near = nearestNames(k, FIT_OPTIONS);
    throw new Error(`edgegrad.fit: unknown option '${k}'${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(' or ')}?)` : ''}: fit takes ${FIT_OPTIONS.join(', ')}`);
  }
}

function checkLoss(l: LossSpec, where: string): LossName | 'sparseCategoricalCrossentropy' {
  const loss = (LOSS_ALIASES[l] ?? l) as LossName | 'sparseCategoricalCrossentropy';
  if (!LOSSES.includes(loss as LossName) && loss !== 'sparseCategoricalCrossentropy') {
    throw new Error(`edgegrad.compile: unknown loss '${l}'${where} (expected one of ${[...LOSSES, 'sparseCategoricalCrossentropy', 'mse', 'mae'].join(', ')})`);
  }
  return loss;
}

function checkMetrics(ms: MetricName[], where: string): MetricName[] {
  if (!Array.isArray(ms)) throw new Error(`edgegrad.compile: metrics${where} must be an array of metric names`);
  for (const m of ms) if (!METRICS.includes(m)) throw new Error(`edgegrad.compile: unknown metric '${m}'${where} (expected one of ${METRICS.join(', ')})`);
  return ms.slice();
}

export class Model extends Layer {
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  optimizer?: Optimizer;
  stopTraining = false;
  private lossName?: LossName | 'sparseCategoricalCrossentropy';
  private lossOptions: { delta?: number; epsilon?: number } = {};
  private metricNames: MetricName[] = [];
  /** A model with several outputs: the outputs that train (compile's losses per output), in output order. */
  private heads?: OutputLoss[];
  private plans = new Map<string, Plan | TrainPlan>();

  constructor(cfg: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string }) {
    super({ name: cfg.name }, 'model');
    this.inputs = Array.isArray(cfg.inputs) ? cfg.inputs : [cfg.inputs];
    this.outputs = Array.isArray(cfg.outputs) ? cfg.outputs : [cfg.outputs];
    this.built = true;
    // inputs and outputs are fed and returned by name: each once
    const twice = (names: string[]) => names.find((n, i) => names.indexOf(n) !== i);
    const din = twice(this.inputNames), dout = new Set(this.outputs).size !== this.outputs.length ? this.outputNames.find((n, i) => this.outputNames.indexOf(n) !== i) : undefined;
    if (din !== undefined) throw new Error(`edgegrad.model: two inputs are named '${din}': give each eg.input its own name`);
    if (dout !== undefined) throw new Error(`edgegrad.model: output '${dout}' is listed twice`);
  }

  /** The layers in topological order (each once). */
  get layers(): Layer[] {
    const seen: Layer[] = [];
    const visit = (s: SymbolicTensor) => {
      if ('input' in s.source) return;
      s.source.inputs.forEach(visit);
      if (!seen.includes(s.source.layer)) seen.push(s.source.layer);
    };
    this.outputs.forEach(visit);
    return seen;
  }

  getLayer(name: string): Layer {
    const l = this.layers.find((x) => x.name === name);
    if (!l) throw new Error(`edgegrad: no layer '${name}' in model '${this.name}' (layers: ${this.layers.map((x) => x.name).join(', ')})`);
    return l;
  }

  override get weights(): Weight[] {
    return this.layers.flatMap((l) => l.weights);
  }

  override countParams(trainableOnly = false): number {
    return this.layers.reduce((s, l) => s + l.countParams(trainableOnly), 0);
  }

  override getWeights(): Tensor[] {
    return this.weights.map((w) => w.tensor.clone());
  }

  override setWeights(values: Tensor[]): void {
    const ws = this.weights;
    if (values.length !== ws.length) throw new Error(`edgegrad: model '${this.name}' has ${ws.length} weights, got ${values.length}`);
    let k = 0;
    for (const l of this.layers) { l.setWeights(values.slice(k, k + l.weights.length)); k += l.weights.length; }
    this.dropPlans(); // plans may hold folded copies of the old weights
  }

  /** Inline this model's DAG into `g` (so models nest as layers). */
  protected call(g: Graph, inputIds: number[]): number[] {
    const map = new Map<SymbolicTensor, number>(), calls = new Map<SymbolicTensor[], number[]>();
    this.inputs.forEach((s, i) => map.set(s, inputIds[i]));
    const visit = (s: SymbolicTensor): number => {
      const known = map.get(s);
      if (known !== undefined) return known;
      if ('input' in s.source) throw new Error(`edgegrad: model '${this.name}': input '${s.source.input}' is not among the model's inputs`);
      // the outputs of one call (applyAll) share its inputs array: the layer is added once for all of them
      let outs = calls.get(s.source.inputs);
      if (!outs) calls.set(s.source.inputs, outs = s.source.layer.addTo(g, s.source.inputs.map(visit)));
      map.set(s, outs[s.source.index]);
      return outs[s.source.index];
    };
    return this.outputs.map(visit);
  }

  private _classNames?: string[];
  /**
   * The names of the output classes, in output order (saved in the ONNX file's metadata by save / toOnnx), or
   * undefined. Set: an array of strings, one per class of a [batch, classes] output.
   */
  get classNames(): string[] | undefined {
    return this._classNames?.slice();
  }

  set classNames(v: string[] | undefined) {
    const s = this.outputs[0]?.shape ?? [];
    this._classNames = checkClassNames(v, s.length === 2 && s[1] > 0 ? s[1] : undefined, `model '${this.name}'`);
  }

  /** Per-example input shape (the first input's). */
  get inputShapeOf(): number[] {
    return this.inputs[0].shape.slice(1);
  }

  /** The inputs' names (eg.input's name), in order. */
  get inputNames(): string[] {
    return this.inputs.map((s, i) => ('input' in s.source ? s.source.input : `input_${i}`));
  }

  /**
   * The outputs' names, in order: an imported graph's outputs keep their own (the file's), the others take
   * the producing layer's (with its output index where a layer gives several).
   */
  get outputNames(): string[] {
    const own = (s: SymbolicTensor): string | undefined => {
      const src = s.source as { layer?: Layer; index?: number };
      return src.layer instanceof GraphLayer && src.index !== undefined && src.layer.model.outputNames.length > 1 ? src.layer.model.outputNames[src.index] : undefined;
    };
    const base = this.outputs.map((s, i) => own(s) ?? ('layer' in s.source ? s.source.layer.name : `output_${i}`));
    return this.outputs.map((s, i) => (base.indexOf(base[i]) !== base.lastIndexOf(base[i]) && 'index' in s.source ? `${base[i]}:${s.source.index}` : base[i]));
  }

  /**
   * fit / evaluate labels: a tensor (one output), or one per output that trains (compile's losses), in
   * output order (an array with an entry per output, null for one that does not train, or with one per
   * trained output) or by output name.
   */
  private targetsOf(y: Targets, op: string): Tensor | Tensor[] {
    const heads = this.heads;
    if (!heads) {
      if (!(y instanceof Tensor) && (Array.isArray(y) || (y && typeof y === 'object'))) return this.onlyOneTarget(y, op);
      return y as Tensor;
    }
    const trained = heads.map((h) => h.name).join(', ');
    if (y instanceof Tensor) {
      if (heads.length === 1) return [y];
      throw new Error(`edgegrad.${op}: model '${this.name}' trains ${heads.length} outputs (${trained}): pass their labels as an array in output order or a { outputName: labels } map`);
    }
    if (Array.isArray(y)) {
      const n = this.outputs.length;
      if (y.length === n) {
        const extra = y.findIndex((t, k) => t != null && !heads.some((h) => h.output === k));
        if (extra >= 0 && heads.length !== n) throw new Error(`edgegrad.${op}: labels were given for output '${this.outputNames[extra]}', which has no loss (compile's loss for it is null)`);
        return heads.map((h) => this.targetAt(y[h.output], h, op));
      }
      if (y.length === heads.length) return heads.map((h, k) => this.targetAt(y[k], h, op));
      throw new Error(`edgegrad.${op}: model '${this.name}' has ${n} outputs, ${heads.length} of them with a loss (${trained}); got ${y.length} label tensors`);
    }
    if (y && typeof y === 'object') {
      const names = this.outputNames, keys = Object.keys(y);
      const unknown = keys.filter((k) => !names.includes(k)), untrained = keys.filter((k) => names.includes(k) && !heads.some((h) => h.name === k));
      if (unknown.length) throw new Error(`edgegrad.${op}: no output of model '${this.name}' is named ${unknown.map((u) => `'${u}'`).join(', ')} (outputs: ${names.join(', ')})`);
      if (untrained.length) throw new Error(`edgegrad.${op}: labels were given for output${untrained.length > 1 ? 's' : ''} ${untrained.map((u) => `'${u}'`).join(', ')}, which ha${untrained.length > 1 ? 've' : 's'} no loss (compile's loss for it is null)`);
      return heads.map((h) => this.targetAt((y as Record<string, Tensor>)[h.name], h, op));
    }
    throw new Error(`edgegrad.${op}: y must be a Tensor, an array of tensors in output order, or a { outputName: labels } map`);
  }

  private targetAt(t: Tensor | null | undefined, h: OutputLoss, op: string): Tensor {
    if (!(t instanceof Tensor)) throw new Error(`edgegrad.${op}: the labels of output '${h.name}' (loss ${h.loss}) are missing${t === undefined || t === null ? '' : ': not a Tensor'}`);
    return t;
  }

  private onlyOneTarget(y: Array<Tensor | null | undefined> | Record<string, Tensor>, op: string): Tensor {
    const name = this.outputNames[0];
    const t = Array.isArray(y) ? (y.length === 1 ? y[0] : undefined) : Object.keys(y).length === 1 ? y[name] : undefined;
    if (!(t instanceof Tensor)) throw new Error(`edgegrad.${op}: model '${this.name}' has one output (${name}): pass its labels as a tensor${Array.isArray(y) ? '' : ` (or { ${name}: labels })`}`);
    return t;
  }

  /** A call's inputs in input order: one tensor (a model with one input), an array in input order, or a { name: tensor } map. */
  private inputsOf(x: ModelInputs, op: string): Tensor[] {
    const names = this.inputNames, k = names.length;
    if (x instanceof Tensor) {
      if (k !== 1) throw new Error(`edgegrad.${op}: model '${this.name}' takes ${k} inputs (${names.join(', ')}): pass them as an array in that order or a { name: tensor } map`);
      return [x];
    }
    if (Array.isArray(x)) {
      if (x.length !== k) throw new Error(`edgegrad.${op}: model '${this.name}' takes ${k} input${k === 1 ? '' : 's'} (${names.join(', ')}), got ${x.length}`);
      return x;
    }
    if (x && typeof x === 'object' && !(x instanceof Features)) {
      const given = Object.keys(x), extra = given.filter((g) => !names.includes(g)), missing = names.filter((nm) => !given.includes(nm));
      if (extra.length || missing.length) {
        throw new Error(`edgegrad.${op}: model '${this.name}' has inputs ${names.join(', ')}${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; no input named ${extra.join(', ')}` : ''}`);
      }
      return names.map((nm) => (x as Record<string, Tensor>)[nm]);
    }
    throw new Error(`edgegrad.${op}: x must be a Tensor, an array of tensors in input order, or a { name: tensor } map`);
  }

  compile(args: CompileArgs): void {
    // checked whole before anything changes: a bad compile leaves the last one in force
    const heads = this.outputs.length > 1 ? this.outputLosses(args) : undefined;
    const loss = heads ? heads[0].loss : checkLoss(this.onlyOne(args.loss, 'loss') as LossSpec, '');
    const metrics = heads ? [] : checkMetrics(this.onlyOne(args.metrics ?? [], 'metrics') as MetricName[], '');
    if (!heads && args.lossWeights !== undefined) this.onlyOne(args.lossWeights, 'lossWeights');
    this.optimizer?.dispose();
    this.optimizer = getOptimizer(args.optimizer);
    this.lossName = loss;
    this.heads = heads;
    this.lossOptions = args.lossOptions ?? {};
    this.metricNames = metrics;
    this.dropPlans();
  }

  /** A one-output model's compile argument given in a per-output form (an array of one, a map by its name): the one value. */
  private onlyOne<T>(v: T | T[] | Record<string, T>, what: string): T | T[] | Record<string, T> {
    const name = this.outputNames[0];
    if (what === 'metrics' ? Array.isArray(v) && v.length === 1 && Array.isArray(v[0]) : Array.isArray(v)) {
      if ((v as T[]).length !== 1) throw new Error(`edgegrad.compile: ${what} has ${(v as T[]).length} entries; model '${this.name}' has one output (${name})`);
      return (v as T[])[0];
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length !== 1 || keys[0] !== name) throw new Error(`edgegrad.compile: ${what} names ${keys.join(', ') || 'no output'}; model '${this.name}' has one output, '${name}'`);
      return (v as Record<string, T>)[name];
    }
    return v;
  }

  /** compile's losses, weights and metrics per output of a model with several (Keras's list and map forms). */
  private outputLosses(args: CompileArgs): OutputLoss[] {
    const names = this.outputNames;
    // a value per output from one for all, an array in output order, or a map by output name
    const perOutput = <T>(v: T | T[] | Record<string, T> | undefined, what: string, isOne: (x: unknown) => boolean, missing: T): T[] => {
      if (v === undefined || isOne(v)) return names.map(() => (v === undefined ? missing : v as T));
      if (Array.isArray(v)) {
        if (v.length !== names.length) throw new Error(`edgegrad.compile: ${what} has ${v.length} entries; model '${this.name}' has ${names.length} outputs (${names.join(', ')})`);
        return v;
      }
      if (typeof v === 'object' && v !== null) {
        const unknown = Object.keys(v).filter((k) => !names.includes(k));
        if (unknown.length) throw new Error(`edgegrad.compile: ${what} names ${unknown.map((u) => `'${u}'`).join(', ')}, not an output of model '${this.name}' (outputs: ${names.join(', ')})`);
        return names.map((nm) => (nm in v ? (v as Record<string, T>)[nm] : missing));
      }
      throw new Error(`edgegrad.compile: ${what} must be one value, an array with one per output, or a { outputName: value } map`);
    };
    const losses = perOutput<LossSpec | null>(args.loss, 'loss', (x) => typeof x === 'string', null);
    const weights = perOutput<number>(args.lossWeights, 'lossWeights', (x) => typeof x === 'number', 1);
    const metrics = perOutput<MetricName[]>(args.metrics as MetricName[] | MetricName[][] | Record<string, MetricName[]>, 'metrics', (x) => Array.isArray(x) && x.every((m) => typeof m === 'string'), []);
    const heads: OutputLoss[] = [];
    losses.forEach((l, k) => {
      const where = ` (output '${names[k]}')`;
      if (!(Number.isFinite(weights[k]) && weights[k] >= 0)) throw new Error(`edgegrad.compile: lossWeights${where} must be a finite number >= 0, got ${weights[k]}`);
      const ms = checkMetrics(metrics[k] ?? [], where);
      if (l === null || l === undefined) {
        if (ms.length) throw new Error(`edgegrad.compile: metrics${where} are asked for an output without a loss: give it a loss (lossWeights 0 keeps it from training)`);
        return;
      }
      heads.push({ output: k, name: names[k], loss: checkLoss(l, where), weight: weights[k], metrics: ms });
    });
    if (!heads.length) throw new Error(`edgegrad.compile: no output of model '${this.name}' has a loss (outputs: ${names.join(', ')})`);
    return heads;
  }

  protected dropPlans(): void {
    for (const p of this.plans.values()) ('plan' in p ? p.plan : p).dispose();
    this.plans.clear();
    this.head?.model.dropPlans();
    this.head = undefined;
  }

  /** Keras semantics: a model's trainable flag is passed to every layer in it. */
  override get trainable(): boolean {
    return super.trainable;
  }

  override set trainable(v: boolean) {
    super.trainable = v;
    for (const l of this.layers) l.trainable = v;
  }

  /**
   * A model that ends at the output of layer `at` (a name or an index into layers), over the same layers
   * and weights: a feature extractor for a new head.
   */
  cut(at: string | number): Model {
    const layers = this.layers;
    const target = typeof at === 'number' ? layers[at] : layers.find((l) => l.name === at);
    if (!target) {
      const near = typeof at === 'string' ? nearestNames(at, layers.map((l) => l.name)) : [];
      throw new Error(`edgegrad.cut: model '${this.name}' has no layer ${JSON.stringify(at)}${near.length ? ` (similar: ${near.join(', ')})` : ''}`);
    }
    let found: SymbolicTensor | undefined;
    const visit = (s: SymbolicTensor) => {
      if (found || 'input' in s.source) return;
      if (s.source.layer === target) { found = s; return; }
      s.source.inputs.forEach(visit);
    };
    this.outputs.forEach(visit);
    return new Model({ inputs: this.inputs, outputs: found!, name: `${this.name}/${target.name}` });
  }

  /**
   * Freeze all layers, or those up to and including `upTo` (a name or an index). `batchNorm` sets how the
   * batch norms that stay trainable normalize in training (BatchNormMode; 'inference' for fine-tuning on
   * little data), in its layers and the imported graphs among them.
   */
  freeze(opts: { upTo?: string | number; batchNorm?: BatchNormMode } = {}): this {
    const layers = this.layers;
    const last = opts.upTo === undefined ? layers.length - 1 : typeof opts.upTo === 'number' ? opts.upTo : layers.findIndex((l) => l.name === opts.upTo);
    if (last < 0 || last >= layers.length) throw new Error(`edgegrad.freeze: model '${this.name}' has no layer ${JSON.stringify(opts.upTo)}`);
    layers.slice(0, last + 1).forEach((l) => { l.trainable = false; });
    if (opts.batchNorm) this.setBatchNormMode(opts.batchNorm, 'freeze');
    this.dropPlans();
    return this;
  }

  /** Make every layer trainable; `batchNorm` as in freeze. */
  unfreeze(opts: { batchNorm?: BatchNormMode } = {}): this {
    this.layers.forEach((l) => { l.trainable = true; });
    if (opts.batchNorm) this.setBatchNormMode(opts.batchNorm, 'unfreeze');
    this.dropPlans();
    return this;
  }

  private setBatchNormMode(mode: BatchNormMode, op: string): void {
    checkBatchNormMode(mode, op);
    const visit = (l: Layer): void => {
      if (l instanceof Model) l.layers.forEach(visit);
      else if (l instanceof BatchNormalization) l.mode = mode;
      else if (l instanceof GraphLayer) l.model.batchNormMode = mode;
    };
    this.layers.forEach(visit);
  }

  /** The inference graph (for export and inspection). */
  inferenceGraph(): Graph {
    return this.forwardGraph().g;
  }

  /**
   * Save as ONNX (a path in Node, Deno, Bun, or indexeddb://name): a temporary file renamed into place.
   * `weights: 'float16'` stores the weights at half the size.
   */
  async save(target: string, options: SaveOptions = {}): Promise<void> {
    const io = await import('./io/index.js');
    await io.saveModel(this.exportSource(options), target);
  }

  /** What the ONNX exporter writes: the inference graph, with the model's input and output names. */
  exportSource(options: SaveOptions = {}): import('./io/onnx/export/index.js').ExportSource {
    return { graph: this.inferenceGraph(), name: this.name, nchwBoundary: false, weights: options.weights, inputNames: this.inputNames, outputNames: this.outputNames, classNames: this._classNames };
  }

  /** Forward graph: inputs -> outputs (x, out: the first of each). */
  private forwardGraph(): { g: Graph; xs: number[]; outs: number[]; x: number; out: number } {
    const g = new Graph();
    const xs = this.inputs.map((s, i) => g.input(i === 0 ? 'x' : this.inputNames[i], [-1, ...s.shape.slice(1)]));
    const outs = this.addTo(g, xs);
    g.outputs = outs.slice();
    return { g, xs, outs, x: xs[0], out: outs[0] };
  }

  /** @internal Inference folds batch norms and pads into convs (for frozen prefixes whose plans are short-lived). */
  foldForInference = false;

  /** The inference plan at this batch size; callers run checkTrainability() first, once per call. */
  private inferencePlan(batch: number, dropout = false): Plan & { xIds: number[]; outIds: number[] } {
    const key = `infer:${batch}:${dropout}`;
    let p = this.plans.get(key) as (Plan & { xIds: number[]; outIds: number[] }) | undefined;
    // folded copies of frozen weights go stale when those weights change elsewhere (another model trains them)
    if (p?.stale) { p.dispose(); this.plans.delete(key); p = undefined; }
    if (!p) {
      const { g, xs, outs } = this.forwardGraph();
      // inference folds batch norms into convs (only frozen ones, unless this is a frozen prefix) and pads
      const run = optimizeForInference(g, { frozenOnly: !this.foldForInference });
      p = Object.assign(new Plan(run, { batch, training: false, dropout }), { xIds: xs, outIds: outs });
      this.plans.set(key, p);
    }
    return p;
  }

  private trainability = '';

  /** Which weights train and how batch norms normalize: every plan depends on both. */
  private trainabilitySignature(): string {
    const bits = this.layers.flatMap((l) => allWeights(l).map((w) => (w.layer.isTrainable(w.weight) ? 1 : 0))).join('');
    const modes = allLayers(this).map((l) => (l.batchNormMode === 'inference' ? 'i' : '')).join('');
    return `${bits}/${modes}`;
  }

  /**
   * Plans hold folded copies of frozen weights (batch norms folded into convs), so they are rebuilt
   * whenever which weights train changes (freezing a backbone directly included): weights that trained
   * while unfrozen must not come back stale.
   */
  private checkTrainability(): void {
    const sig = this.trainabilitySignature();
    if (sig !== this.trainability) { this.dropPlans(); this.trainability = sig; }
  }

  /** Forward + loss (+ backward when training). Softmax/sigmoid + cross-entropy run on the logits. */
  /** The memory budget of the fit in progress (FitArgs.memoryBudget), read by lossPlan. */
  private stepBudget?: number;

  private lossPlan(batch: number, training: boolean): TrainPlan {
    // which weights train is part of the plan: freezing after compile (or from a callback, between steps)
    // builds a new one; evaluate checks once per call instead
    if (training) this.checkTrainability();
    const budget = training ? this.stepBudget : undefined;
    const key = `${training ? 'train' : 'eval'}:${batch}${budget ? `:${budget}` : ''}`;
    const cached = this.plans.get(key) as TrainPlan | undefined;
    if (cached && !cached.plan.stale) return cached;
    if (cached) { cached.plan.dispose(); this.plans.delete(key); }
    if (!this.lossName) throw new Error(`edgegrad: model '${this.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
    const policy = budget === undefined ? { every: 1 } : this.checkpointing(batch, budget).policy;
    const { g, y, ys, lossV, out, xs, grads, heads } = this.stepGraph(training, policy);
    // labels stay alive to the end: metrics read them after the run, and the planner would reuse their bytes
    const plan = new Plan(g, { batch, training, keep: [...ys, ...grads.map((x) => x.grad)] });
    const tp: TrainPlan = { plan, x: xs[0], xs, y, pred: out, loss: lossV, grads: grads.map((gr) => ({ ...gr, grad: gr.grad })), ...(heads ? { heads } : {}) };
    this.plans.set(key, tp);
    return tp;
  }

  /**
   * A training step's graph: forward, loss and (training) backward, the backward reading only the forward
   * values the checkpoint policy keeps (see graph/recompute.ts).
   */
  private stepGraph(training: boolean, policy: CheckpointPolicy) {
    const fwd = this.forwardGraph(), { xs, out } = fwd;
    // frozen batch norms fold into their convs and pads into convs, in training as in inference: the
    // frozen part of a step runs the inference graph
    const g = optimizeForInference(fwd.g, { frozenOnly: true });
    // a loss per output that trains (one, or compile's heads), each seeding the backward pass at its output
    const seeds = new Map<number, number>(), ys: number[] = [], heads: NonNullable<TrainPlan['heads']> = [];
    let total = -1;
    for (const h of this.heads ?? [{ output: 0, name: '', loss: this.lossName!, weight: 1, metrics: this.metricNames }]) {
      const o = fwd.outs[h.output], tag = this.heads ? `_${h.name}` : '';
      const { lossName, lossInput } = lossOnLogits(g, o, h.loss);
      const sparse = lossName === 'sparseSoftmaxCrossEntropy';
      const outShape = g.values[o].shape;
      const y = g.input(`y${tag}`, sparse ? outShape.slice(0, -1) : outShape.slice(), sparse ? 'int32' : 'float32');
      const [lv, dPred] = g.node('loss', [lossInput, y], { loss: lossName, ...this.lossOptions }, `loss${tag}`);
      let weighted = lv, seed = dPred;
      if (h.weight !== 1) {
        // the total is sum_k w_k L_k: each head's loss and its gradient scaled by its weight
        const w = g.node('constant', [], { value: h.weight }, `loss${tag}_weight`)[0];
        weighted = g.node('mul', [lv, w], {}, `loss${tag}_weighted`)[0];
        seed = g.node('mul', [dPred, w], {}, `loss${tag}_dweighted`)[0];
      }
      const had = seeds.get(lossInput);
      seeds.set(lossInput, had === undefined ? seed : g.node('add', [had, seed], {}, `loss${tag}_dsum`)[0]);
      total = total < 0 ? weighted : g.node('add', [total, weighted], {}, `loss${tag}_total`)[0];
      ys.push(y);
      if (this.heads) heads.push({ name: h.name, y, pred: o, loss: lv, metrics: h.metrics, sparse });
    }
    const lossV = total, y = ys[0];
    const owners = new Map<Tensor, { weight: Weight; layer: Layer }>();
    for (const layer of this.layers) for (const w of allWeights(layer)) owners.set(w.weight.tensor, w);
    const grads: TrainPlan['grads'] = [];
    g.outputs = this.heads ? [...fwd.outs, lossV, ...heads.map((h) => h.loss)] : [out, lossV];
    let recomputed = 0;
    if (training) {
      const forwardCount = g.nodes.length;
      const wrt = g.values.filter((v) => v.kind === 'param' && v.trainable).map((v) => v.id);
      const gm = buildBackward(g, seeds, wrt);
      for (const [pid, gid] of gm) {
        const owner = owners.get(g.values[pid].tensor!)!;
        grads.push({ ...owner, grad: gid });
      }
      // activations the backward pass reads only for their derivative keep 1-bit masks instead (TinyTL)
      const masks = maskActivations(g, forwardCount);
      recomputed = checkpoint(g, forwardCount + masks, policy, true);
    }
    return { g, y, ys, lossV, out: this.heads ? heads[0].pred : out, xs, grads, recomputed, heads: this.heads ? heads : undefined };
  }

  /**
   * The checkpoint policy with the fewest recomputed nodes whose step fits `budget` bytes at this batch
   * size, among: every k-th recomputable value (k = 2..4); every k-th waist (a value its consumer widens,
   * k = 1..3), recomputed for each reader or not, and with pointwise convs recomputed inside their batch
   * norms' gradients; every k-th value of at most T elements per example (k = 1, 2; T over the values' sizes).
   * A budget none reaches is an error naming the least.
   */
  private checkpointing(batch: number, budget: number): { policy: CheckpointPolicy; bytes: number; recomputed: number } {
    if (!(typeof budget === 'number' && budget > 0)) throw new Error(`edgegrad.fit: memoryBudget must be a positive number of bytes, got ${budget}`);
    const { best, least } = this.checkpointSearch(batch, budget);
    if (best) return best;
    const p = least.policy;
    const how = `every ${p.every} ${p.waists ? 'waist' : p.maxElements !== undefined ? `value of at most ${p.maxElements} elements per example` : 'value'} kept`;
    throw new Error(`edgegrad.fit: memoryBudget ${budget} bytes is below what a training step of model '${this.name}' can plan at batch ${batch}: at least ${least.bytes} bytes (${how}); raise it or lower the batch size`);
  }

  /** The policies tried (see checkpointing): the one with the fewest recomputed nodes within budget, and the least bytes any reaches. */
  private checkpointSearch(batch: number, budget: number): { best?: { policy: CheckpointPolicy; bytes: number; recomputed: number }; least: { policy: CheckpointPolicy; bytes: number } } {
    const full = this.stepGraph(true, { every: 1 });
    const fullBytes = plannedBytes(full.g, batch, [...full.ys, ...full.grads.map((x) => x.grad)]);
    if (fullBytes <= budget) return { best: { policy: { every: 1 }, bytes: fullBytes, recomputed: 0 }, least: { policy: { every: 1 }, bytes: fullBytes } };
    // the per-example sizes of the forward values, largest first (at most 8 thresholds, spread out)
    const sizes = [...new Set(full.g.values.filter((v) => v.kind === 'node').map((v) => v.shape.reduce((p, d) => p * Math.abs(d), 1)))].sort((a, b) => b - a);
    const thresholds = sizes.length <= 8 ? sizes : Array.from({ length: 8 }, (_, i) => sizes[Math.round((i * (sizes.length - 1)) / 7)]);
    const policies: CheckpointPolicy[] = [
      ...[2, 3, 4].map((every) => ({ every })),
      ...[1, 2, 3].map((every) => ({ every, waists: true })),
      ...[1, 2].map((every) => ({ every, waists: true, fresh: true })),
      // and with a pointwise conv's output recomputed in blocks inside its batch norm's gradient: where it is
      // within 4x of the widest value (the peak's: one more pass of a few convs), or everywhere
      ...[sizes[0] / 4, 0].flatMap((fuseAbove) => [
        { every: 1, waists: true, fuseAbove },
        ...[1, 2].map((every) => ({ every, waists: true, fresh: true, fuseAbove })),
      ]),
      ...thresholds.flatMap((maxElements) => [1, 2].map((every) => ({ every, maxElements }))),
    ];
    let best: { policy: CheckpointPolicy; bytes: number; recomputed: number } | undefined;
    let least = { policy: { every: 1 } as CheckpointPolicy, bytes: fullBytes };
    for (const policy of policies) {
      const { g, ys, grads, recomputed } = this.stepGraph(true, policy);
      const bytes = plannedBytes(g, batch, [...ys, ...grads.map((x) => x.grad)]);
      if (bytes < least.bytes) least = { policy, bytes };
      if (bytes <= budget && (!best || recomputed < best.recomputed)) best = { policy, bytes, recomputed };
    }
    return { best, least };
  }

  /**
   * Planned memory at a batch size, in bytes of the plans' arenas (activations and gradients; weights and
   * optimizer state are apart): inference, a training step as it is, and (with memoryBudget) the step that
   * fit would run under that budget, with how often it keeps a forward value and how many nodes it recomputes.
   */
  trainingMemory(batchSize: number, opts: { memoryBudget?: number } = {}): { inference: number; step: number; budgeted?: { bytes: number; checkpoints: CheckpointPolicy; recomputedNodes: number } } {
    if (!this.lossName) throw new Error(`edgegrad.trainingMemory: model '${this.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`edgegrad.trainingMemory: batchSize must be a positive integer, got ${batchSize}`);
    const f = this.forwardGraph();
    f.g.outputs = f.outs;
    const inference = plannedBytes(optimizeForInference(f.g), batchSize, []);
    const full = this.stepGraph(true, { every: 1 });
    const step = plannedBytes(full.g, batchSize, [...full.ys, ...full.grads.map((x) => x.grad)]);
    if (opts.memoryBudget === undefined) return { inference, step };
    const c = this.checkpointing(batchSize, opts.memoryBudget);
    return { inference, step, budgeted: { bytes: c.bytes, checkpoints: c.policy, recomputedNodes: c.recomputed } };
  }

  /** The inputs of a call checked (type, dtype, backend, shape, finite values, one batch size); returns the batch size. */
  private checkX(x: Tensor | Tensor[], op: string): number {
    const xs = Array.isArray(x) ? x : [x], several = this.inputs.length > 1;
    let n = -1;
    xs.forEach((t, k) => {
      const what = several ? `input '${this.inputNames[k]}'` : 'x', want = this.inputs[k].shape.slice(1);
      if (!(t instanceof Tensor)) throw new Error(`edgegrad.${op}: ${what} must be a Tensor`);
      if (t.dtype !== 'float32') throw new Error(`edgegrad.${op}: ${what} must be float32, got ${t.dtype}`);
      checkBackend(t, op);
      if (t.rank !== want.length + 1 || want.some((d, i) => d !== t.shape[i + 1])) {
        throw new Error(`edgegrad.${op}: model '${this.name}' expects ${several ? `${what} ` : 'input '}[batch, ${want.join(', ')}], got ${formatShape(t.shape)}`);
      }
      if (t.shape[0] === 0) throw new Error(`edgegrad.${op}: the dataset is empty (${what} is ${formatShape(t.shape)})`);
      if (n >= 0 && t.shape[0] !== n) throw new Error(`edgegrad.${op}: the inputs have different numbers of examples (${xs.map((u, i) => `${this.inputNames[i]} ${u.shape[0]}`).join(', ')})`);
      n = t.shape[0];
      refuseNonFinite(t, op, several ? this.inputNames[k] : 'x');
    });
    return n;
  }

  /** On a backend that reads back only asynchronously: the inputs' NaN and infinities, counted on the device (checkX's count, there). */
  private async refuseNonFiniteInputs(xs: Tensor[], op: string): Promise<void> {
    for (const [k, t] of xs.entries()) await refuseNonFiniteAsync(t, op, xs.length > 1 ? this.inputNames[k] : 'x');
  }

  /**
   * The labels (targetsOf's: a tensor, or one per head) checked; `host`: a copy of each one's data (a backend
   * that reads back only asynchronously).
   */
  private checkYs(y: Tensor | Tensor[], n: number, op: string, host?: Array<ArrayLike<number> | undefined>): void {
    if (!Array.isArray(y)) return this.checkY(y, n, op, host?.[0]);
    y.forEach((t, k) => this.checkY(t, n, op, host?.[k], this.heads![k]));
  }

  /** y's shape, dtype and values for the output (head) it labels; `host`: a copy of its data. */
  private checkY(y: Tensor, n: number, op: string, host?: ArrayLike<number>, head?: OutputLoss): void {
    const what = head ? `the labels of output '${head.name}'` : 'y';
    if (!(y instanceof Tensor)) throw new Error(`edgegrad.${op}: ${what} must be a Tensor`);
    checkBackend(y, op, head ? `y (${head.name})` : 'y');
    if (y.shape[0] !== n) throw new Error(`edgegrad.${op}: x has ${n} examples but ${what} ${head ? 'have' : 'has'} ${y.shape[0]} (${formatShape(y.shape)})`);
    const lossName = head?.loss ?? this.lossName;
    // class indices: the sparse cross-entropies, on probabilities (softmax output) or on logits
    const sparse = lossName === 'sparseCategoricalCrossentropy' || lossName === 'sparseSoftmaxCrossEntropy';
    const outShape = this.outputs[head?.output ?? 0].shape.slice(1);
    if (sparse) {
      // one index per example, or per step of an example with a sequence of predictions
      const want = [n, ...outShape.slice(0, -1)], per = sizeOfShape(outShape.slice(0, -1));
      if (y.dtype !== 'int32' || y.rank !== want.length || want.some((d, i) => d !== y.shape[i])) {
        throw new Error(`edgegrad.${op}: loss '${lossName}'${head ? ` (output '${head.name}')` : ''} needs int32 class indices ${formatShape(want)}, got ${y.dtype} ${formatShape(y.shape)}`);
      }
      // the loss kernel reads logits[row * classes + label]: a label out of range would read another row or past the batch
      const classes = outShape[outShape.length - 1], v = host ?? y.view();
      for (let i = 0; i < v.length; i++) {
        if (!(v[i] >= 0 && v[i] < classes)) {
          throw new Error(`edgegrad.${op}: label ${v[i]} of example ${Math.floor(i / per)}${per > 1 ? ` (step ${i % per})` : ''} is outside [0, ${classes}): the model has ${classes} outputs`);
        }
      }
    } else if (y.dtype !== 'float32' || y.rank !== outShape.length + 1 || outShape.some((d, i) => d !== y.shape[i + 1])) {
      throw new Error(`edgegrad.${op}: loss '${lossName}'${head ? ` (output '${head.name}')` : ''} needs float32 labels [${n}, ${outShape.join(', ')}] like the model output, got ${y.dtype} ${formatShape(y.shape)}`);
    }
    if (!sparse) {
      refuseNonFinite(y, op, head ? `y (${head.name})` : 'y');
      if (host && host.length) {
        const bad = Array.prototype.findIndex.call(host, (v: number) => !Number.isFinite(v));
        if (bad >= 0) throw new Error(`edgegrad.${op}: ${what} contains NaN or infinite values (the first, ${host[bad]}, in example ${Math.floor(bad / (y.size / n))})`);
      }
      checkTargets(host ?? y.view(), y.shape[0], y.shape[y.rank - 1] ?? 1, lossName!, op);
    }
  }

  private batchSizeOf(b: number | undefined, op: string): number {
    const v = b ?? 32;
    if (!Number.isInteger(v) || v < 1) throw new Error(`edgegrad.${op}: batchSize must be a positive integer, got ${String(b)}`);
    return v;
  }

  /**
   * Outputs for x, in batches. With mcSamples > 0 (Monte-Carlo dropout, Gal & Ghahramani 2016) dropout stays
   * active and the result is the mean and variance over that many passes. NaN or infinite inputs are refused
   * (on webgpu, counted on the device: reading an output, `await y.data()`, rejects).
   */
  predict(x: Tensor | Features, opts?: { batchSize?: number }): Tensor;
  predict(x: Tensor | Features, opts: { batchSize?: number; mcSamples: number }): { mean: Tensor; variance: Tensor };
  predict(x: ModelInputs, opts?: { batchSize?: number }): Tensor | Tensor[] | Record<string, Tensor>;
  predict(x: ModelInputs | Features, opts: { batchSize?: number; mcSamples?: number } = {}): Tensor | Tensor[] | Record<string, Tensor> | { mean: Tensor; variance: Tensor } {
    if (x instanceof Features) return this.featuresHead(x, 'predict').predict(x.tensor, opts as { batchSize?: number; mcSamples: number });
    const xs = this.inputsOf(x, 'predict');
    const n = this.checkX(xs, 'predict');
    const bs = this.batchSizeOf(opts.batchSize, 'predict');
    const outs = this.outputs, several = outs.length > 1;
    if (several && x instanceof Tensor) {
      throw new Error(`edgegrad.predict: model '${this.name}' has ${outs.length} outputs (${this.outputNames.join(', ')}): pass its input as [x] (outputs in order) or { ${this.inputNames[0]}: x } (outputs by name)`);
    }
    this.checkTrainability();
    const per = this.inputs.map((s) => sizeOfShape(s.shape.slice(1))), outPer = outs.map((o) => sizeOfShape(o.shape.slice(1)));
    // batches in and out by copies on the backend: nothing crosses to the CPU
    const pass = (dropout: boolean, ys: Tensor[]) => {
      for (let s = 0; s < n; s += bs) {
        const b = Math.min(bs, n - s);
        const p = this.inferencePlan(b, dropout);
        p.prepack();
        const release = p.be.hold();
        try {
          p.xIds.forEach((id, k) => p.be.copy(p.ptr(id), xs[k].ptr + s * per[k] * 4, b * per[k] * 4));
          p.run();
          p.outIds.forEach((id, k) => p.be.copy(ys[k].ptr + s * outPer[k] * 4, p.ptr(id), b * outPer[k] * 4));
        } finally {
          release();
        }
      }
    };
    if (opts.mcSamples !== undefined && !(Number.isInteger(opts.mcSamples) && opts.mcSamples >= 1)) {
      throw new Error(`edgegrad.predict: mcSamples must be a positive integer, got ${opts.mcSamples}`);
    }
    const samples = opts.mcSamples ?? 0;
    if (!samples) {
      const ys = outs.map((o) => Tensor.empty([n, ...o.shape.slice(1)]));
      pass(false, ys);
      // a GPU reads back asynchronously: checkX's count runs on the device, and reading an output refuses
      (getBackend() as ReadGuard).refuseNonFiniteOnRead?.(xs, xs.map((_, k) => (xs.length > 1 ? this.inputNames[k] : 'x')), ys, 'predict');
      if (!several) return ys[0];
      return Array.isArray(x) ? ys : Object.fromEntries(ys.map((t, k) => [this.outputNames[k], t]));
    }
    if (several) throw new Error(`edgegrad.predict: mcSamples takes a model with one output; '${this.name}' has ${outs.length}`);
    const outShape = [n, ...outs[0].shape.slice(1)];
    const draw = Tensor.empty(outShape);
    // draws on a GPU: their moments summed there (src/backend/webgpu/device-ops.ts)
    if (!draw.backend.syncRead) return deviceOp('mcMoments')(samples, draw, () => pass(true, [draw]));
    const size = n * outPer[0], sum = new Float64Array(size), sq = new Float64Array(size), buf = new Float32Array(size);
    for (let k = 0; k < samples; k++) {
      pass(true, [draw]);
      buf.set(draw.dataSync());
      for (let i = 0; i < buf.length; i++) { sum[i] += buf[i]; sq[i] += buf[i] * buf[i]; }
    }
    draw.dispose();
    const mean = Tensor.empty(outShape), variance = Tensor.empty(outShape);
    const mv = mean.view(), vv = variance.view();
    for (let i = 0; i < buf.length; i++) {
      const m = sum[i] / samples;
      mv[i] = m;
      vv[i] = Math.max(0, sq[i] / samples - m * m);
    }
    return { mean, variance };
  }

  /**
   * Mean loss and metrics over (x, y). A model with several outputs that train (compile's losses per output)
   * takes their labels as an array in output order or a { outputName: labels } map, and logs the weighted
   * total `loss` with each output's `<output>_loss` and `<output>_<metric>` (Keras's names).
   */
  evaluate(x: ModelInputs | Features, y0: Targets, opts: { batchSize?: number } = {}): Logs {
    refuseWithoutSyncReads('evaluate', 'use await model.evaluateAsync(x, y), which evaluates on the device');
    if (!this.lossName) throw new Error(`edgegrad.evaluate: model '${this.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
    const y = this.targetsOf(y0, 'evaluate');
    if (x instanceof Features) return this.featuresHead(x, 'evaluate').evaluate(x.tensor, y, opts);
    const xs = this.inputsOf(x, 'evaluate');
    const n = this.checkX(xs, 'evaluate');
    this.checkYs(y, n, 'evaluate');
    const bs = this.batchSizeOf(opts.batchSize, 'evaluate');
    this.checkTrainability();
    return accumulateBatches((b) => this.lossPlan(b, false), this.metricNames, xs, y, n, bs).logs(n, '');
  }

  /**
   * evaluate on every backend: the same logs, as a Promise. On a backend that reads back only asynchronously
   * (webgpu) the loss and metrics are summed on the device and read once at the end; on wasm this is evaluate.
   */
  async evaluateAsync(x: ModelInputs | Features, y0: Targets, opts: { batchSize?: number } = {}): Promise<Logs> {
    const be = getBackend();
    if (be.syncRead) return this.evaluate(x, y0, opts);
    if (!this.lossName) throw new Error(`edgegrad.evaluate: model '${this.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
    const y = this.targetsOf(y0, 'evaluate');
    if (x instanceof Features) return this.featuresHead(x, 'evaluate').evaluateAsync(x.tensor, y, opts);
    const xs = this.inputsOf(x, 'evaluate');
    const n = this.checkX(xs, 'evaluate');
    await this.refuseNonFiniteInputs(xs, 'evaluate');
    this.checkYs(y, n, 'evaluate', await hostLabels(y, be));
    const bs = this.batchSizeOf(opts.batchSize, 'evaluate');
    this.checkTrainability();
    return deviceSteps.evaluate!(this, xs.length === 1 ? xs[0] : xs, y, bs);
  }

  /**
   * Train on (x, y). y: a tensor, or for a model with several outputs that train (compile's losses per
   * output) their labels as an array in output order or a { outputName: labels } map; each step descends
   * the weighted sum of their losses (compile's lossWeights).
   */
  async fit(x0: ModelInputs | Features, y0: Targets, args: FitArgs = {}): Promise<History> {
    checkFitArgs(args);
    new Pacer(args, 'fit').check('before the first step');
    const be = getBackend();
    if (!this.optimizer || !this.lossName) throw new Error(`edgegrad.fit: model '${this.name}' is not compiled: call model.compile({ optimizer, loss }) first`);
    const y = this.targetsOf(y0, 'fit');
    // one input: a tensor (the path with feature caching); several: the tensors in input order
    const xs = x0 instanceof Features ? undefined : this.inputsOf(x0, 'fit');
    const x: Tensor | Features | Tensor[] = x0 instanceof Features ? x0 : xs!.length === 1 ? xs![0] : xs!;
    if (x instanceof Features) {
      const head = this.featuresHead(x, 'fit');
      const v = args.validationData;
      if (v && !(v[0] instanceof Features)) throw new Error('edgegrad.fit: with features as x, validationData must be features too (model.features(xVal))');
      if (v) this.featuresHead(v[0] as Features, 'fit (validationData)');
      try {
        const h = await head.fit(x.tensor, y, { ...args, validationData: v && [(v[0] as Features).tensor, v[1]] });
        h.cachedFeatures = cacheReport(x.layers, x.shape, x.inside);
        return h;
      } finally {
        head.dropPlans();
      }
    }
    // validation data is checked before any step: an error after an epoch of training would leave changed weights
    const v = args.validationData;
    if (v !== undefined) {
      if (!Array.isArray(v) || v.length !== 2) throw new Error('edgegrad.fit: validationData must be [x, y]');
      if (!(v[0] instanceof Features) && be.syncRead) this.checkYs(this.targetsOf(v[1], 'fit (validationData)'), this.checkX(this.inputsOf(v[0], 'fit (validationData)'), 'fit (validationData)'), 'fit (validationData)');
    }
    // validation inputs in input order from here on (a map becomes an array; one input, a tensor), labels per head
    const vx = v && !(v[0] instanceof Features) ? this.inputsOf(v[0], 'fit (validationData)') : undefined;
    if (!be.syncRead) {
      // what checkX / checkYs could not count synchronously on a GPU: NaN or infinite inputs, bad validation labels
      if (xs) await this.refuseNonFiniteInputs(xs, 'fit');
      if (vx) {
        const vn = this.checkX(vx, 'fit (validationData)'), vy = this.targetsOf(v![1], 'fit (validationData)');
        await this.refuseNonFiniteInputs(vx, 'fit (validationData)');
        this.checkYs(vy, vn, 'fit (validationData)', await hostLabels(vy, be));
      }
    }
    const inOrder: FitArgs = vx ? { ...args, validationData: [vx.length === 1 ? vx[0] : vx, this.targetsOf(v![1], 'fit (validationData)')] } : args;
    if (args.cacheFeatures !== false && this instanceof Sequential && x instanceof Tensor && y instanceof Tensor) {
      const cached = await this.fitOnCachedFeatures(x, y, inOrder);
      if (cached) return cached;
    }
    const n = this.checkX(x, 'fit');
    this.checkYs(y, n, 'fit', be.syncRead ? undefined : await hostLabels(y, be));
    const bs = this.batchSizeOf(args.batchSize, 'fit');
    if (args.memoryBudget === undefined) return fitLoop(this, x, y, n, bs, inOrder);
    // the budget holds for every step's plan (checked, and checkpoints chosen, before the first step)
    this.checkpointing(Math.min(bs, n), args.memoryBudget);
    this.stepBudget = args.memoryBudget;
    try {
      return await fitLoop(this, x, y, n, bs, inOrder);
    } finally {
      this.stepBudget = undefined;
    }
  }

  /** @internal For the fit loop: the forward + loss (+ backward) plan at a batch size. */
  trainingPlan(batch: number, training: boolean): TrainPlan {
    return this.lossPlan(batch, training);
  }

  /** @internal For the fit loop: the compiled metrics, and the classes the output has (for accuracy at chance). */
  get compiledMetrics(): readonly MetricName[] {
    return this.metricNames;
  }

  /**
   * Where feature caching splits this model: the leading layers that train nothing and act the same in
   * training and inference (a frozen backbone), reaching inside the next layer when it is an imported graph
   * frozen only in part (the cache then holds the output of its last frozen node before the first trainable
   * one). Undefined when nothing can be cached.
   */
  private frozenPrefix(): { prefix: Layer[]; rest: Layer[]; layers: number; inside?: string } | undefined {
    const layers = this.layers;
    const isStatic = (l: Layer): boolean => {
      if (l.stochastic || allWeights(l).some((w) => w.layer.isTrainable(w.weight))) return false;
      return l instanceof Model ? l.layers.every(isStatic) : true;
    };
    let k = 0;
    while (k < layers.length - 1 && isStatic(layers[k])) k++;
    const next = layers[k];
    if (next instanceof GraphLayer) {
      const s = next.model.splitStatic(next.trainable);
      if (s) {
        const rest = s.rest.asLayer();
        rest.trainable = next.trainable;
        rest.lrScale = next.lrScale;
        return { prefix: [...layers.slice(0, k), s.prefix.asLayer()], rest: [rest, ...layers.slice(k + 1)], layers: k, inside: `${next.name}/${s.at}` };
      }
    }
    return k === 0 ? undefined : { prefix: layers.slice(0, k), rest: layers.slice(k), layers: k };
  }

  /**
   * The head that trains on cached features: the layers after the frozen prefix, as a model of their own.
   * Callers ran checkTrainability(), so `trainability` is current.
   */
  private headFor(split: NonNullable<ReturnType<Model['frozenPrefix']>>, featureShape: number[]): Model {
    const sig = this.trainability;
    if (this.head && this.head.sig === sig) return this.head.model;
    this.head?.model.dropPlans();
    const inp = symbolicInput({ shape: featureShape, name: `${this.name}/features` });
    let t = inp;
    for (const l of split.rest) t = l.apply(t);
    const model = new Model({ inputs: inp, outputs: t, name: `${this.name}/head` });
    if (this.optimizer && this.lossName) model.compile({ optimizer: this.optimizer, loss: this.lossName, metrics: this.metricNames, lossOptions: this.lossOptions });
    this.head = { sig, model };
    return model;
  }

  private head?: { sig: string; model: Model };

  /**
   * The outputs of the frozen prefix for x (what fit caches), computed once in inference mode in batches of
   * `batchSize` (default 8). Pass them to fit, evaluate or predict in place of x to skip the backbone;
   * they stay valid while which weights train, and the frozen weights themselves, stay the same. `bytes`
   * is the memory they hold.
   */
  async features(x: Tensor, opts: { batchSize?: number; onProgress?: (done: number, total: number) => void | Promise<void> } & Pacing = {}): Promise<Features> {
    if (!(this instanceof Sequential)) {
      throw new Error(`edgegrad.features: model '${this.name}' is functional; features are cached for sequential models (a frozen prefix of layers in a row): build the frozen part and the head as eg.sequential, or fit with cacheFeatures: false`);
    }
    this.checkX(x, 'features');
    this.checkTrainability();
    const split = this.frozenPrefix();
    if (!split) throw new Error(`edgegrad.features: model '${this.name}' has no frozen prefix to cache (its first layer trains, or is random like dropout)`);
    const bs = this.batchSizeOf(opts.batchSize ?? 8, 'features');
    const prefix = new Sequential({ layers: split.prefix, name: `${this.name}/frozen` });
    prefix.foldForInference = true;
    try {
      const t = await runPrefix(prefix, x, bs, opts.onProgress, new Pacer(opts, 'features'));
      return new Features(t, split.layers, split.inside, this.trainability, this, prefixVersion(split.prefix));
    } finally {
      prefix.dispose();
    }
  }

  /** The head's input for features computed by this model, or an error saying why they no longer fit. */
  private featuresHead(f: Features, op: string): Model {
    if (f.model !== this) throw new Error(`edgegrad.${op}: these features were computed by model '${f.model.name}', not '${this.name}'`);
    if (f.tensor.isDisposed) throw new Error(`edgegrad.${op}: these features were disposed`);
    this.checkTrainability();
    if (f.signature !== this.trainability) {
      throw new Error(`edgegrad.${op}: which layers of model '${this.name}' train has changed since these features were computed; compute them again with model.features(x)`);
    }
    const split = this.frozenPrefix()!;
    if (f.prefixVersion !== prefixVersion(split.prefix)) {
      throw new Error(`edgegrad.${op}: the weights of model '${this.name}''s frozen layers changed since these features were computed (trained in another model, or set); compute them again with model.features(x)`);
    }
    return this.headFor(split, f.shape);
  }

  /**
   * Feature caching: when the leading layers train nothing and are deterministic, their outputs for x (and
   * the validation data) are computed once, in inference mode, and the remaining layers train on them as a
   * model of their own (same layer objects, same optimizer). Undefined when there is no such prefix.
   */
  private async fitOnCachedFeatures(x: Tensor, y: Tensor, args: FitArgs): Promise<History | undefined> {
    this.checkTrainability();
    const split = this.frozenPrefix();
    if (!split) return undefined;
    const n = this.checkX(x, 'fit');
    // labels are checked before the features are computed; a GPU's are read back once, here
    this.checkY(y, n, 'fit', y.backend.syncRead ? undefined : Array.from(await y.data()));
    const bs = this.batchSizeOf(args.batchSize, 'fit');
    const prefix = new Sequential({ layers: split.prefix, name: `${this.name}/frozen` });
    prefix.foldForInference = true;
    let xs = x, ys = y, val = args.validationData;
    const held = validationRows(x, y, n, args.validationSplit);
    if (held) {
      val = held.val;
      xs = rowsOf(x, 0, n - held.nVal); ys = rowsOf(y, 0, n - held.nVal);
    }
    const cbs = this.batchSizeOf(args.cacheBatchSize ?? Math.min(bs, 8), 'fit (cacheBatchSize)');
    const callbacks = args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks];
    const total = xs.shape[0] + (val && val[0] instanceof Tensor ? val[0].shape[0] : 0);
    const report = async (done: number) => { for (const c of callbacks) await c.onFeaturesProgress?.(done, total); };
    let features: Tensor, valFeatures: Tensor | undefined;
    const dropRows = () => { if (xs !== x) { xs.dispose(); ys.dispose(); (val?.[0] as Tensor | undefined)?.dispose(); (val?.[1] as Tensor | undefined)?.dispose(); } };
    try {
      const pacer = new Pacer(args, 'fit');
      features = await runPrefix(prefix, xs, cbs, report, pacer);
      try {
        valFeatures = val && val[0] instanceof Tensor ? await runPrefix(prefix, val[0], cbs, (d) => report(xs.shape[0] + d), pacer) : undefined;
      } catch (e) {
        features.dispose();
        throw e;
      }
    } catch (e) {
      dropRows(); // cancelled (or failed) while computing the features
      throw e;
    } finally {
      prefix.dispose();
    }
    if (val && val[0] instanceof Features) this.featuresHead(val[0], 'fit (validationData)');
    const head = this.headFor(split, features.shape.slice(1));
    const valData = val && (val[0] instanceof Features ? [val[0].tensor, val[1]] : valFeatures ? [valFeatures, val[1]] : undefined) as [Tensor, Tensor] | undefined;
    try {
      const h = await head.fit(features, ys, { ...args, validationSplit: undefined, validationData: valData, cacheFeatures: false });
      h.cachedFeatures = cacheReport(split.layers, features.shape.slice(1), split.inside);
      return h;
    } finally {
      head.dropPlans();
      features.dispose();
      valFeatures?.dispose();
      dropRows();
    }
  }

  /**
   * A table of layers, output shapes, parameters (trainable / frozen), FLOPs per example and the planned
   * memory of inference at batch 1. Returned and, unless `print` is false, printed.
   */
  summary(opts: { print?: boolean } = {}): string {
    // described where its weights live (a model left on wasm while webgpu is active, say)
    return whileActive(this.weights.map((w) => w.tensor), () => this.summaryHere(opts));
  }

  private summaryHere(opts: { print?: boolean }): string {
    this.checkTrainability();
    const plan = this.inferencePlan(1);
    const g = plan.graph;
    const rows: string[][] = [['Layer (type)', 'Output shape', 'Params', 'FLOPs']];
    let flopsTotal = 0;
    const notes: string[] = [];
    for (const layer of this.layers) {
      const names = new Set([layer.name, ...layer.sublayers.map((l) => l.name)]);
      const nodes = g.nodes.filter((nd) => names.has(nd.layer ?? ''));
      // the layer's output: the last of its values that the rest of the graph reads (a recurrent op's
      // sequence or last state, not its saved activations)
      const mine = new Set(nodes.flatMap((nd) => nd.outputs));
      const read = new Set([...g.outputs, ...g.nodes.filter((nd) => !names.has(nd.layer ?? '')).flatMap((nd) => nd.inputs)]);
      const out = [...mine].filter((v) => read.has(v)).pop() ?? nodes[nodes.length - 1]?.outputs[0];
      const shape = out !== undefined ? g.values[out].shape : [];
      const flops = nodes.reduce((s, nd) => {
        const f = getOp(nd.op).flops;
        return s + (f ? f(nd.inputs.map((i) => plan.shapes[i]), nd.outputs.map((o) => plan.shapes[o]), nd.attrs) : 0);
      }, 0);
      flopsTotal += flops;
      const all = layer.countParams(), tr = layer.countParams(true);
      const frozen = all && !tr ? ' (frozen)' : tr < all ? ` (${tr} trainable)` : '';
      const note = layer.summaryNote(flops);
      if (note) notes.push(`${layer.name}: ${note}`);
      rows.push([`${layer.name} (${layer.constructor.name})`, formatShape(shape.map((d) => (d === -1 ? 'null' : d)) as unknown as number[]), `${layer.countParams()}${frozen}`, fmtCount(flops)]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c])).join('  ');
    const total = this.countParams(), trainable = this.countParams(true);
    const stateBytes = this.weights.filter((w) => !w.trainable).reduce((s, w) => s + w.tensor.size * 4, 0);
    const io = (list: SymbolicTensor[], names: string[]) => list.map((t, k) => `${names[k]} float32 [batch, ${t.shape.slice(1).join(', ')}]`).join('; ');
    const out = [
      `Model: ${this.name}`,
      `Inputs: ${io(this.inputs, this.inputNames)}`,
      `Outputs: ${io(this.outputs, this.outputNames)}`,
      line(rows[0]), '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)),
      ...rows.slice(1).map(line),
      ...notes,
      `Total params: ${total} (trainable ${trainable}, frozen ${total - trainable}); ${fmtBytes(total * 4 + stateBytes)} of weights and state`,
      `FLOPs per example: ${fmtCount(flopsTotal)}`,
      `Planned activation memory at batch 1: ${fmtBytes(plan.planBytes)} (${fmtBytes(plan.naiveBytes)} without reuse)`,
      placementLine(g.nodes),
      // compiled: what a training step plans (activations and gradients), as fit runs it and under a budget
      ...(this.lossName && trainable > 0 ? [this.stepMemoryLine()] : []),
      // pruned weights: the share of zeros per layer (no line for a dense model)
      ...[sparsityLine(this.inferenceGraph())].filter(Boolean),
      ...classesLine(this._classNames),
    ].join('\n');
    if (opts.print !== false) console.log(out);
    return out;
  }

  /** summary()'s line on a training step's planned memory at batch 32 (and the least a memoryBudget reaches). */
  private stepMemoryLine(): string {
    const batch = 32;
    const mem = this.trainingMemory(batch);
    const { least: l } = this.checkpointSearch(batch, 1);
    const least = l.bytes < 0.95 * mem.step ? `; with recomputation (fit's memoryBudget) down to ${fmtBytes(l.bytes)}` : '';
    return `Training step at batch ${batch}: ${fmtBytes(mem.step)} planned (inference ${fmtBytes(mem.inference)})${least}`;
  }

  /** Zero the states of every stateful recurrent layer (a new series begins). */
  resetStates(): void {
    const visit = (l: Layer): void => {
      (l as Layer & { resetStates?: () => void }).resetStates?.();
      l.sublayers.forEach(visit);
    };
    this.layers.forEach(visit);
  }

  /** Free plans and optimizer state (weights stay, owned by the layers). */
  dispose(): void {
    this.dropPlans();
    this.optimizer?.dispose();
  }
}

/** A model whose layers run one after another. */
export class Sequential extends Model {
  private list: Layer[] = [];

  constructor(cfg: { layers?: Array<Layer | GraphModel>; name?: string } = {}) {
    const x = new SymbolicTensor([-1], { input: 'pending' });
    super({ inputs: x, outputs: x, name: cfg.name });
    for (const l of cfg.layers ?? []) this.add(l);
  }

  add(item: Layer | GraphModel): void {
    const layer = item instanceof GraphModel ? item.asLayer() : item;
    if (this.list.length === 0) {
      const shape = layer.inputShape ?? (layer instanceof Model ? layer.inputShapeOf : undefined);
      if (!shape) throw new Error(`edgegrad.sequential: the first layer ('${layer.name}') needs an inputShape`);
      this.inputs = [symbolicInput({ shape, name: `${this.name}_input` })];
      this.outputs = this.inputs;
    }
    const outs = layer.applyAll(this.outputs[0]);
    if (outs.length !== 1) {
      throw new Error(`edgegrad.sequential: layer '${layer.name}' has ${outs.length} outputs (returnState?): a sequential model's layers have one each; use the functional API (layer.applyAll) for the others`);
    }
    this.outputs = outs;
    this.list.push(layer);
  }

  override get layers(): Layer[] {
    return this.list.slice();
  }
}

/**
 * Targets a loss cannot mean: binary cross-entropy needs values in [0, 1] (soft labels included; 3 gives a
 * negative loss), categorical cross-entropy rows of non-negative values summing to at most 1 (one-hot or
 * smoothed; all zeros counts for nothing).
 */
/** Labels are checked on the CPU: a GPU's are read back once (one copy per head), for checkYs. */
async function hostLabels(y: Tensor | Tensor[], be: ReturnType<typeof getBackend>): Promise<Array<number[] | undefined>> {
  return Promise.all([y].flat().map(async (t) => (!(t instanceof Tensor) || t.backend !== be ? undefined : Array.from(await t.data()))));
}

/**
 * What returns numbers synchronously (evaluate's logs, Monte-Carlo statistics, features cached on the CPU)
 * cannot on a backend that reads back only asynchronously (webgpu): refused there, saying what to do instead.
 */
function refuseWithoutSyncReads(op: string, instead: string): void {
  const be = getBackend();
  if (be.syncRead) return;
  throw new Error(`edgegrad.${op}: not available on the '${be.name}' backend yet (it reads results back synchronously): ${instead}`);
}

function checkTargets(v: ArrayLike<number>, n: number, cols: number, loss: string, op: string): void {
  const per = v.length / Math.max(n, 1), rows = v.length / cols, steps = per / cols;
  const where = (i: number): string => `example ${Math.floor(i / per)}${steps > 1 ? ` (step ${Math.floor((i % per) / cols)})` : ''}`;
  if (loss === 'binaryCrossentropy' || loss === 'sigmoidCrossEntropy') {
    for (let i = 0; i < v.length; i++) {
      if (!(v[i] >= 0 && v[i] <= 1)) throw new Error(`edgegrad.${op}: loss '${loss}' needs targets in [0, 1], got ${v[i]} in ${where(i)}`);
    }
  } else if (loss === 'categoricalCrossentropy' || loss === 'softmaxCrossEntropy') {
    // a distribution over the last axis: per example, or per step of a sequence of predictions
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = r * cols; j < (r + 1) * cols; j++) {
        if (v[j] < 0) throw new Error(`edgegrad.${op}: loss '${loss}' needs non-negative targets, got ${v[j]} in ${where(j)}`);
        s += v[j];
      }
      // one-hot or smoothed rows sum to 1; an all-zero row (an example that counts for nothing) is allowed
      if (s > 1 + 1e-3) throw new Error(`edgegrad.${op}: loss '${loss}' needs target rows that sum to 1 (one-hot or smoothed), ${where(r * cols)} sums to ${s}`);
    }
  }
}

/** History.cachedFeatures: `inside` only where the cache ends inside an imported graph. */
function cacheReport(layers: number, shape: number[], inside: string | undefined): NonNullable<History['cachedFeatures']> {
  return { layers, shape, ...(inside ? { inside } : {}) };
}

/** The versions of every weight of these layers, summed: it changes when any of them is trained or set. */
function prefixVersion(layers: Layer[]): number {
  return layers.flatMap(allWeights).reduce((s, w) => s + w.weight.tensor.version, 0);
}

/** Every layer, nested models' layers included. */
function allLayers(m: Model): Layer[] {
  return m.layers.flatMap((l) => (l instanceof Model ? [l, ...allLayers(l)] : [l]));
}

function allWeights(layer: Layer): Array<{ weight: Weight; layer: Layer }> {
  if (layer instanceof Model) return layer.layers.flatMap(allWeights);
  return layer.weights.map((weight) => ({ weight, layer }));
}

/** Keras' validationSplit: the last fraction f of the n examples, copied out (undefined without f). */


function fmtBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export type { LayerConfig };
