// Layers add nodes to a graph. Their parameters are persistent tensors created on first use from the
// input shape; every graph built from the same layers (inference, training) shares them. The functional
// form composes SymbolicTensors: eg.input() -> layer.apply(...) -> eg.model({ inputs, outputs }).
import { Graph, type Shape } from '../graph/ir.js';
import { Tensor, formatShape, hostCopyOf, keepHostCopy } from '../tensor.js';
import type { Regularizer, Constraint } from '../train/regularizers.js';

/**
 * How a trainable batch norm normalizes in training: 'train' uses the batch's statistics and updates the
 * moving ones (Keras's default); 'inference' uses the moving statistics and keeps them, while gamma and beta
 * still train (Keras's advice for fine-tuning on little data: `base_model(x, training=False)`). A frozen
 * batch norm always runs in inference mode.
 */
export type BatchNormMode = 'train' | 'inference';

/** A BatchNormMode from user input, or an error that names the call. */
export function checkBatchNormMode(m: BatchNormMode, op: string): BatchNormMode {
  if (m !== 'train' && m !== 'inference') throw new Error(`edgegrad.${op}: batchNorm must be 'train' or 'inference', got ${JSON.stringify(m)}`);
  return m;
}

export interface LayerConfig {
  name?: string;
  /** Shape of one example (no batch dimension), for the first layer of a model. */
  inputShape?: number[];
  trainable?: boolean;
}

export interface Weight {
  name: string;
  tensor: Tensor;
  /** false for state that training must not update by gradient (batch-norm running statistics) */
  trainable: boolean;
  regularizer?: Regularizer;
  constraint?: Constraint;
}

/** A count for people: 1.23G, 4.56M, 7.8k. */
export function fmtCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n));
}

const counters = new Map<string, number>();
export function uniqueName(prefix: string): string {
  const n = counters.get(prefix) ?? 0;
  counters.set(prefix, n + 1);
  return n === 0 ? prefix : `${prefix}_${n}`;
}

/** A value in a model under construction: its shape (batch dimension -1) and where it comes from. */
export class SymbolicTensor {
  constructor(
    readonly shape: Shape,
    readonly source: { layer: Layer; inputs: SymbolicTensor[]; index: number } | { input: string },
  ) {}
}

/** A learning-rate factor: a finite number >= 0 (0 keeps the parameters as they are), or an error naming `who`. */
export function checkLrScale(v: number, who: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`edgegrad: ${who}: lrScale must be a finite number >= 0, got ${String(v)}`);
  return v;
}

export abstract class Layer {
  readonly name: string;
  readonly inputShape?: number[];
  private _trainable: boolean;
  private _lrScale = 1;

  /** Learning-rate factor for this layer's parameters (fine-tuning at a lower rate): a finite number >= 0. */
  get lrScale(): number {
    return this._lrScale;
  }

  set lrScale(v: number) {
    this._lrScale = checkLrScale(v, `layer '${this.name}'`);
  }
  private own: Weight[] = [];
  protected built = false;

  /** Parameters (trainable) and state (e.g. batch-norm running statistics), in creation order. */
  get weights(): Weight[] {
    return this.own;
  }

  constructor(cfg: LayerConfig, prefix: string) {
    this.name = cfg.name ?? uniqueName(prefix);
    this.inputShape = cfg.inputShape?.slice();
    this._trainable = cfg.trainable ?? true;
  }

  /** Whether training updates this layer's parameters (freeze by setting false; a model passes it to its layers). */
  get trainable(): boolean {
    return this._trainable;
  }

  set trainable(v: boolean) {
    this._trainable = v;
  }

  /**
   * Whether the layer acts differently in training than at inference beyond its weights (dropout, random
   * slopes): such a layer and those after it are never cached as a frozen prefix.
   */
  get stochastic(): boolean {
    return false;
  }

  /** How the batch norms in this layer normalize while it trains: over the batch ('train') or with their moving statistics. */
  get batchNormMode(): BatchNormMode | undefined {
    return undefined;
  }

  /** Layers this one runs inside itself (a wrapper's), whose nodes count as its own in summaries. */
  get sublayers(): Layer[] {
    return [];
  }

  private ownRng?: Tensor;

  /**
   * The graph value of this layer's own random stream (augmentation, dropout with a seed), seeded with `seed`
   * on first use; its ops draw from it instead of the backend's stream.
   */
  protected ownStream(g: Graph, seed: number): number {
    if (!this.ownRng) {
      this.ownRng = Tensor.empty([4]);
      this.ownRng.backend.kernels.rngSeed(this.ownRng.ptr, seed >>> 0);
    }
    return g.state(`${this.name}/rng`, this.ownRng, this.name);
  }

  /** A line for summary() below the table (a recurrent layer's state size and FLOPs per step), or ''. */
  summaryNote(_flopsPerExample: number): string {
    return '';
  }

  /** Create parameters for these input shapes (batch dimension -1). Called once. */
  protected build(_inputShapes: Shape[]): void {}

  /** Add this layer's nodes to `g` for these input values; return the output values. */
  protected abstract call(g: Graph, inputs: number[]): number[];

  /** Whether a sequence mask on the input applies to the output too (layers that act per step). */
  protected get propagatesMask(): boolean {
    return false;
  }

  /** Build on first use, then add the nodes. */
  addTo(g: Graph, inputs: number[]): number[] {
    if (!this.built) {
      this.build(inputs.map((i) => g.values[i].shape));
      this.built = true;
    }
    const outs = this.call(g, inputs);
    const mask = g.masks.get(inputs[0]);
    if (mask !== undefined && this.propagatesMask && outs.length === 1) g.masks.set(outs[0], mask);
    return outs;
  }

  /** A graph value for one of this layer's weights. */
  protected weightValue(g: Graph, w: Weight): number {
    const id = w.trainable ? g.param(`${this.name}/${w.name}`, w.tensor, w.trainable && this.trainable, this.name) : g.state(`${this.name}/${w.name}`, w.tensor, this.name);
    return id;
  }

  protected addWeight(name: string, tensor: Tensor, trainable = true, regularizer?: Regularizer, constraint?: Constraint): Weight {
    const w: Weight = { name, tensor, trainable, regularizer, constraint };
    this.own.push(w);
    return w;
  }

  /** Functional API: apply this layer to symbolic inputs. */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const g = new Graph();
    const ids = list.map((s, i) => g.input(`in${i}`, s.shape));
    const outs = this.addTo(g, ids);
    return new SymbolicTensor(g.values[outs[0]].shape, { layer: this, inputs: list, index: 0 });
  }

  /**
   * Functional API: apply this layer and get every output it has, in order (a recurrent layer with
   * returnState: the output, then its final states).
   */
  applyAll(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const g = new Graph();
    const outs = this.addTo(g, list.map((s, i) => g.input(`in${i}`, s.shape)));
    return outs.map((o, index) => new SymbolicTensor(g.values[o].shape, { layer: this, inputs: list, index }));
  }

  /** Parameters (not state); with trainableOnly, those that training updates now (isTrainable). */
  countParams(trainableOnly = false): number {
    return this.weights.filter((w) => w.trainable && (!trainableOnly || this.isTrainable(w))).reduce((s, w) => s + w.tensor.size, 0);
  }

  /** Whether training updates this weight now (layer and weight trainable, and not frozen). */
  isTrainable(w: Weight): boolean {
    return this.trainable && w.trainable;
  }

  /** Copies of the weights, in order. */
  getWeights(): Tensor[] {
    return this.weights.map((w) => w.tensor.clone());
  }

  setWeights(values: Tensor[]): void {
    if (values.length !== this.weights.length) throw new Error(`edgegrad: layer '${this.name}' has ${this.weights.length} weights, got ${values.length}`);
    values.forEach((v, i) => {
      const w = this.weights[i];
      if (v.size !== w.tensor.size || v.shape.some((d, j) => d !== w.tensor.shape[j])) {
        throw new Error(`edgegrad: layer '${this.name}' weight '${w.name}' is ${formatShape(w.tensor.shape)}, got ${formatShape(v.shape)}`);
      }
      const src = v.backend === w.tensor.backend ? v : v.to(w.tensor.location);
      w.tensor.backend.copy(w.tensor.ptr, src.ptr, w.tensor.size * 4);
      if (src !== v) src.dispose();
      // a weight on a GPU keeps the values it was set to on the host (readable if the device is lost)
      const host = v.backend.syncRead ? v.dataSync().slice() : hostCopyOf(v);
      if (host) keepHostCopy(w.tensor, host);
      w.tensor.version++;
    });
  }
}

/** eg.input({ shape }): a model input of this per-example shape. */
export function input(cfg: { shape: number[]; name?: string }): SymbolicTensor {
  if (!Array.isArray(cfg.shape) || !cfg.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`edgegrad.input: shape must be positive integers (no batch dimension), got ${JSON.stringify(cfg.shape)}`);
  }
  return new SymbolicTensor([-1, ...cfg.shape], { input: cfg.name ?? uniqueName('input') });
}
