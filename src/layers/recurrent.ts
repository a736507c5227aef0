// Recurrent layers with Keras's names, options and weight layouts: simpleRNN, lstm, gru, and the wrappers
// bidirectional and timeDistributed. Each recurrent layer is one graph op over the whole sequence
// (src/ops/recurrent.ts), trained by backpropagation through time. Input [batch, steps, features]; output the
// last step's h [batch, units], or every step's [batch, steps, units] with returnSequences; with returnState,
// applyAll() also gives the final states (h, and c for an LSTM).
import type { Graph, Shape } from '../graph/ir.js';
import { GATES, RECURRENT_ACTIVATIONS, type Cell, type RecurrentActivation } from '../ops/recurrent.js';
import { getInitializer, type Initializer, type InitializerName } from '../train/initializers.js';
import type { Constraint, Regularizer } from '../train/regularizers.js';
import { fill, formatShape, tensor, type Tensor } from '../tensor.js';
import { Layer, fmtCount, type LayerConfig, type Weight } from './layer.js';
import { Dense, checkActivation } from './core.js';
import { defaultParam } from '../ops/activation.js';

export interface RNNConfig extends LayerConfig {
  units: number;
  /** The output (simple RNN) or candidate and cell-output (LSTM, GRU) activation; default tanh. */
  activation?: RecurrentActivation;
  useBias?: boolean;
  /** Every step's output [batch, steps, units] instead of the last one's. */
  returnSequences?: boolean;
  /** applyAll() also returns the final states. */
  returnState?: boolean;
  /** Process the sequence from its last step, and return the outputs in that order (Keras's go_backwards). */
  goBackwards?: boolean;
  kernelInitializer?: Initializer | InitializerName;
  recurrentInitializer?: Initializer | InitializerName;
  biasInitializer?: Initializer | InitializerName;
  kernelRegularizer?: Regularizer;
  recurrentRegularizer?: Regularizer;
  biasRegularizer?: Regularizer;
  kernelConstraint?: Constraint;
  recurrentConstraint?: Constraint;
  /**
   * Dropout on the inputs of every step (the non-recurrent connections, as Zaremba et al. 2014 regularize
   * LSTMs); training only.
   */
  dropout?: number;
  /**
   * Dropout on the recurrent connections: h_{t-1} in the recurrent products times one mask per sequence, the
   * same at every step (Gal & Ghahramani 2016, Keras's recurrent_dropout); training and Monte-Carlo dropout.
   */
  recurrentDropout?: number;
  /**
   * Carry the final states of a batch over as the initial states of the next (truncated backpropagation
   * through time over a long series cut into consecutive windows): needs `batchSize`, and the series' windows
   * in order (fit with `shuffle: false`); `resetStates()` starts over.
   */
  stateful?: boolean;
  /** The fixed batch size of a stateful layer. */
  batchSize?: number;
  seed?: number;
}

export interface LSTMConfig extends RNNConfig {
  /** The gates' activation; default sigmoid. */
  recurrentActivation?: RecurrentActivation;
  /** Initialize the forget gate's bias to 1 (Jozefowicz et al. 2015); default true. */
  unitForgetBias?: boolean;
  /** Peephole connections from the cell to the gates (Gers & Schmidhuber 2000). */
  usePeepholes?: boolean;
}

export interface GRUConfig extends RNNConfig {
  recurrentActivation?: RecurrentActivation;
  /** Apply the reset gate after the recurrent product (Keras 2's and cuDNN's default, PyTorch's form); default true. */
  resetAfter?: boolean;
}

function checkRecurrentActivation(a: string | undefined, dflt: RecurrentActivation, where: string, what: string): RecurrentActivation {
  const v = (a ?? dflt) as RecurrentActivation;
  if (!RECURRENT_ACTIVATIONS.includes(v)) throw new Error(`edgegrad.layers.${where}: ${what} '${a}' is not one a recurrent cell runs (${RECURRENT_ACTIVATIONS.join(', ')})`);
  return v;
}

/** simpleRNN, lstm and gru: one recurrent op over the sequence. */
export class RNN extends Layer {
  readonly units: number;
  readonly activation: RecurrentActivation;
  readonly recurrentActivation: RecurrentActivation;
  /** Set by bidirectional for its backward copy: process from the end, outputs aligned with the input steps. */
  reverse = false;

  constructor(readonly cell: Cell, readonly cfg: RNNConfig & LSTMConfig & GRUConfig, prefix: string) {
    super(cfg, prefix);
    const where = prefix;
    if (!Number.isInteger(cfg.units) || cfg.units < 1) throw new Error(`edgegrad.layers.${where}: units must be a positive integer, got ${cfg.units}`);
    this.units = cfg.units;
    this.activation = checkRecurrentActivation(cfg.activation, 'tanh', where, 'activation');
    this.recurrentActivation = checkRecurrentActivation(cfg.recurrentActivation, 'sigmoid', where, 'recurrentActivation');
    if (cfg.dropout !== undefined && !(cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`edgegrad.layers.${where}: dropout must be in [0, 1), got ${cfg.dropout}`);
    if (cfg.recurrentDropout !== undefined && !(cfg.recurrentDropout >= 0 && cfg.recurrentDropout < 1)) {
      throw new Error(`edgegrad.layers.${where}: recurrentDropout must be in [0, 1), got ${cfg.recurrentDropout}`);
    }
    if (cfg.stateful && !(Number.isInteger(cfg.batchSize) && cfg.batchSize! > 0)) {
      throw new Error(`edgegrad.layers.${where}: a stateful layer needs batchSize (a positive integer: its states are one row per example of a batch), got ${cfg.batchSize}`);
    }
    if (cell !== 'lstm' && cfg.usePeepholes) throw new Error(`edgegrad.layers.${where}: usePeepholes is an LSTM option`);
  }

  get returnSequences(): boolean { return !!this.cfg.returnSequences; }
  get returnState(): boolean { return !!this.cfg.returnState; }
  // a stateful layer's output depends on the batches before: never cached as a frozen prefix
  override get stochastic(): boolean { return !!this.cfg.dropout || !!this.cfg.recurrentDropout || !!this.cfg.stateful; }

  /** A stateful layer's states (h, and c for an LSTM), [batchSize, units] each. */
  private states: Tensor[] = [];

  /** Zero a stateful layer's states (a new series begins). */
  resetStates(): void {
    for (const t of this.states) {
      t.backend.kernels.fillValue(t.size, t.ptr, 0);
      t.version++;
    }
  }

  /** Number of state tensors (h; and c for an LSTM). */
  get stateCount(): number { return this.cell === 'lstm' ? 2 : 1; }

  /** Steps of the sequence it was built for. */
  private steps = 0;

  override summaryNote(flops: number): string {
    const U = this.units;
    return `state ${this.cell === 'lstm' ? `h ${U} + c ${U}` : `h ${U}`} per sequence, ${this.steps} steps, ${fmtCount(flops / Math.max(1, this.steps))} FLOPs per step`;
  }

  protected override build([x]: Shape[]): void {
    if (x.length !== 3) throw new Error(`edgegrad.layers.${this.cell} '${this.name}': input must be [batch, steps, features], got ${formatShape(x)}`);
    this.steps = x[1];
    const c = this.cfg, U = this.units, N = GATES[this.cell] * U;
    this.addWeight('kernel', getInitializer(c.kernelInitializer, 'glorotUniform').init([x[2], N], c.seed), true, c.kernelRegularizer, c.kernelConstraint);
    this.addWeight('recurrentKernel', getInitializer(c.recurrentInitializer, 'orthogonal').init([U, N], c.seed === undefined ? undefined : c.seed + 1),
      true, c.recurrentRegularizer, c.recurrentConstraint);
    if (c.useBias !== false) {
      const resetAfter = this.cell === 'gru' && c.resetAfter !== false;
      const shape = resetAfter ? [2, N] : [N];
      const b = getInitializer(c.biasInitializer, 'zeros').init(shape);
      // the forget gate's block set to 1 in place: a kernel, so a GPU backend needs no read-back
      if (this.cell === 'lstm' && c.unitForgetBias !== false) b.backend.kernels.fillValue(U, b.ptr + U * 4, 1);
      this.addWeight('bias', b, true, c.biasRegularizer);
    }
    if (this.cell === 'lstm' && c.usePeepholes) this.addWeight('peepholes', fill([3 * U], 0));
    if (c.stateful) this.states = Array.from({ length: this.stateCount }, () => fill([c.batchSize!, U], 0));
  }

  protected call(g: Graph, [x0, ...given]: number[]): number[] {
    const c = this.cfg;
    if (c.stateful && given.length) throw new Error(`edgegrad.layers.${this.cell} '${this.name}': a stateful layer keeps its own states: do not pass initial states`);
    const states = c.stateful ? this.states.map((t, i) => g.state(`${this.name}/state_${'hc'[i]}`, t, this.name)) : given;
    if (states.length && states.length !== this.stateCount) {
      throw new Error(`edgegrad.layers.${this.cell} '${this.name}': initial states are ${this.stateCount === 2 ? 'h and c' : 'h'}, got ${states.length} tensors`);
    }
    const x = c.dropout ? g.node('dropout', [x0], { rate: c.dropout }, `${this.name}/dropout`, this.name)[0] : x0;
    const mask = g.masks.get(x0);
    const [W, R, ...rest] = this.weights.map((w) => this.weightValue(g, w));
    const b = c.useBias !== false ? rest.shift() : undefined;
    const attrs = {
      units: this.units, activation: this.activation, recurrentActivation: this.recurrentActivation,
      bias: b !== undefined, initialState: states.length > 0, peepholes: this.cell === 'lstm' && !!c.usePeepholes,
      resetAfter: this.cell === 'gru' && c.resetAfter !== false, goBackwards: !!c.goBackwards && !this.reverse, reverse: this.reverse,
      masked: mask !== undefined, stateful: !!c.stateful, recurrentDropout: !!c.recurrentDropout,
    };
    const rm = c.recurrentDropout ? g.node('recurrentDropoutMask', [x0], { units: this.units, rate: c.recurrentDropout }, `${this.name}/recurrent_dropout`, this.name) : [];
    const outs = g.node(this.cell, [x, W, R, ...(b === undefined ? [] : [b]), ...states, ...rest, ...(mask === undefined ? [] : [mask]), ...rm], attrs, this.name, this.name);
    const y = this.returnSequences ? outs[0] : outs[1];
    // the sequence keeps its mask for the next recurrent layer; as Keras and TF.js do, unchanged even after
    // goBackwards (whose sequence comes in reversed order): models trained there load and run the same here
    if (mask !== undefined && this.returnSequences) g.masks.set(y, mask);
    return this.returnState ? [y, ...outs.slice(1, 1 + this.stateCount)] : [y];
  }
}

/** eg.layers.simpleRNN: h = act(x W + h_{t-1} R + b) (Elman). */
export class SimpleRNN extends RNN {
  constructor(cfg: RNNConfig) { super('simpleRnn', cfg, 'simpleRNN'); }
}

/** eg.layers.lstm (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000). */
export class LSTM extends RNN {
  constructor(cfg: LSTMConfig) { super('lstm', cfg, 'lstm'); }
}

/** eg.layers.gru (Cho et al. 2014). */
export class GRU extends RNN {
  constructor(cfg: GRUConfig) { super('gru', cfg, 'gru'); }
}

/** A new layer of the same kind and configuration (the backward copy of a bidirectional one). */
function sameKind(l: RNN, cfg: RNNConfig & LSTMConfig & GRUConfig): RNN {
  return l.cell === 'lstm' ? new LSTM(cfg) : l.cell === 'gru' ? new GRU(cfg) : new SimpleRNN(cfg);
}

/**
 * Runs a recurrent layer over the sequence in both directions and merges the two outputs (Schuster & Paliwal
 * 1997): 'concat' (default), 'sum', 'mul' or 'ave'. The backward copy has the same configuration; its outputs
 * are aligned with the input's steps, as Keras returns them. Weights: the forward layer's, then the backward's.
 */
export class Bidirectional extends Layer {
  readonly forward: RNN;
  readonly backward: RNN;
  readonly mergeMode: 'concat' | 'sum' | 'mul' | 'ave';

  constructor(cfg: LayerConfig & { layer: RNN; mergeMode?: 'concat' | 'sum' | 'mul' | 'ave'; backwardLayer?: RNN }) {
    if (!(cfg.layer instanceof RNN)) throw new Error('edgegrad.layers.bidirectional: layer must be a simpleRNN, lstm or gru layer');
    super({ ...cfg, inputShape: cfg.inputShape ?? cfg.layer.inputShape }, 'bidirectional');
    this.mergeMode = cfg.mergeMode === undefined ? 'concat' : cfg.mergeMode;
    if (!['concat', 'sum', 'mul', 'ave'].includes(this.mergeMode)) throw new Error(`edgegrad.layers.bidirectional: mergeMode must be concat, sum, mul or ave (Keras's null, two outputs, is not offered), got ${JSON.stringify(cfg.mergeMode)}`);
    this.forward = cfg.layer;
    // Keras runs the copy with go_backwards flipped: a forward layer that goes backwards pairs with a copy that
    // goes forwards. Their sequences would then both come in reversed order, which is not offered.
    const back = !cfg.layer.cfg.goBackwards;
    if (!back && cfg.layer.returnSequences) throw new Error('edgegrad.layers.bidirectional: a goBackwards layer with returnSequences is not supported (its copy would run forwards and both sequences come reversed); drop goBackwards');
    this.backward = cfg.backwardLayer ?? sameKind(cfg.layer, { ...cfg.layer.cfg, goBackwards: false, name: `backward_${cfg.layer.name}`, inputShape: undefined });
    if (this.backward.cell !== this.forward.cell) throw new Error('edgegrad.layers.bidirectional: backwardLayer must be the same kind of layer');
    this.backward.reverse = back;
  }

  override get weights(): Weight[] { return [...this.forward.weights, ...this.backward.weights]; }
  override get sublayers(): Layer[] { return [this.forward, this.backward]; }
  override summaryNote(flops: number): string { return `two directions; ${this.forward.summaryNote(flops)}`; }
  override get trainable(): boolean { return super.trainable; }
  override set trainable(v: boolean) {
    super.trainable = v;
    if (this.forward) { this.forward.trainable = v; this.backward.trainable = v; }
  }
  override get lrScale(): number { return super.lrScale; }
  override set lrScale(v: number) {
    super.lrScale = v;
    this.forward.lrScale = v; this.backward.lrScale = v;
  }
  override get stochastic(): boolean { return this.forward.stochastic; }

  protected call(g: Graph, [x, ...states]: number[]): number[] {
    const k = this.forward.stateCount;
    if (states.length && states.length !== 2 * k) throw new Error(`edgegrad.layers.bidirectional '${this.name}': initial states are ${2 * k} tensors (forward, then backward), got ${states.length}`);
    const f = this.forward.addTo(g, [x, ...states.slice(0, k)]), b = this.backward.addTo(g, [x, ...states.slice(k)]);
    let y: number;
    const name = this.name;
    if (this.mergeMode === 'concat') y = g.node('concat', [f[0], b[0]], {}, name, name)[0];
    else if (this.mergeMode === 'sum') y = g.node('add', [f[0], b[0]], {}, name, name)[0];
    else if (this.mergeMode === 'mul') y = g.node('mul', [f[0], b[0]], {}, name, name)[0];
    else {
      const s = g.node('add', [f[0], b[0]], {}, `${name}/sum`, name)[0];
      y = g.node('mul', [s, g.node('constant', [], { value: 0.5 }, `${name}/half`, name)[0]], {}, name, name)[0];
    }
    const mask = g.masks.get(x);
    if (mask !== undefined && this.forward.returnSequences) g.masks.set(y, mask);
    return this.forward.returnState ? [y, ...f.slice(1), ...b.slice(1)] : [y];
  }
}

/**
 * Applies a layer to every step of a sequence: [batch, steps, ...] -> [batch, steps, ...]. Dense runs as one
 * matrix product over all steps; activation and dropout layers act elementwise anyway.
 */
export class TimeDistributed extends Layer {
  readonly layer: Layer;
  constructor(cfg: LayerConfig & { layer: Layer }) {
    super({ ...cfg, inputShape: cfg.inputShape ?? cfg.layer.inputShape }, 'time_distributed');
    if (!(cfg.layer instanceof Dense)) throw new Error(`edgegrad.layers.timeDistributed: only dense layers are supported (got '${cfg.layer?.name}'); activation and dropout layers apply per step without it`);
    this.layer = cfg.layer;
  }
  override get weights(): Weight[] { return this.layer.weights; }
  override get sublayers(): Layer[] { return [this.layer]; }
  protected override get propagatesMask(): boolean { return true; }
  override set trainable(v: boolean) { super.trainable = v; if (this.layer) this.layer.trainable = v; }
  override get trainable(): boolean { return super.trainable; }

  protected override build([x]: Shape[]): void {
    if (x.length !== 3) throw new Error(`edgegrad.layers.timeDistributed '${this.name}': input must be [batch, steps, features], got ${formatShape(x)}`);
    // the dense layer builds its weights for one step's features
    const d = this.layer as Dense;
    (d as unknown as { build(s: Shape[]): void }).build([[-1, x[2]]]);
    (d as unknown as { built: boolean }).built = true;
  }

  protected call(g: Graph, [x]: number[]): number[] {
    const d = this.layer as Dense, ids = d.weights.map((w) => (d as unknown as { weightValue(g: Graph, w: Weight): number }).weightValue(g, w));
    const act = d.activation, alpha = defaultParam(act, d.cfg.alpha);
    const z = g.node('matMul', [x, ...ids], {}, act === 'linear' ? this.name : `${this.name}/matmul`, this.name)[0];
    if (act === 'linear') return [z];
    return g.node('activation', [z], { activation: checkActivation(act, 'timeDistributed'), alpha }, this.name, this.name);
  }
}

/**
 * Marks padded steps: a step whose features all equal `maskValue` (default 0) is skipped by the recurrent
 * layers after it (their state carries over, as in Keras), and its values are zeroed. Dropout, activation and
 * timeDistributed layers, and recurrent layers that return sequences, pass the mask on.
 */
export class Masking extends Layer {
  readonly maskValue: number;
  constructor(cfg: LayerConfig & { maskValue?: number } = {}) {
    super(cfg, 'masking');
    this.maskValue = cfg.maskValue ?? 0;
    if (!Number.isFinite(this.maskValue)) throw new Error(`edgegrad.layers.masking: maskValue must be a finite number, got ${cfg.maskValue}`);
  }
  // its output carries a mask that a feature cache cannot carry: never cached as a frozen prefix
  override get stochastic(): boolean { return true; }
  protected call(g: Graph, [x]: number[]): number[] {
    const m = g.node('sequenceMask', [x], { maskValue: this.maskValue }, `${this.name}/mask`, this.name)[0];
    const y = g.node('mul', [x, m], {}, this.name, this.name)[0];
    g.masks.set(y, m);
    return [y];
  }
}
