// Core layers: dense, activation (every activation by name, PReLU, randomized ReLU, maxout), dropout,
// flatten, reshape, batch normalization.
import type { Graph, Shape } from '../graph/ir.js';
import { ACTIVATIONS, type ActivationName } from '../ops/activation.js';
import { defaultParam, fusesFromOutput } from '../ops/activation.js';
import { getInitializer, type Initializer, type InitializerName } from '../train/initializers.js';
import type { Constraint, Regularizer } from '../train/regularizers.js';
import { fill, formatShape } from '../tensor.js';
import { Layer, checkBatchNormMode, type BatchNormMode, type LayerConfig } from './layer.js';

export type ActivationSpec = ActivationName | 'prelu' | 'rrelu';

export function checkActivation(a: string | undefined, where: string): ActivationName {
  const name = (a ?? 'linear') as ActivationName;
  if (!ACTIVATIONS.includes(name)) throw new Error(`edgegrad.layers.${where}: unknown activation '${a}' (expected one of ${ACTIVATIONS.join(', ')})`);
  return name;
}

/**
 * Add `act` after the value `z`: fused into the producing node when its derivative can be read from the
 * output (linear, ReLU, ReLU6, leaky ReLU), a separate activation node otherwise.
 */
export function addActivation(g: Graph, z: number, act: ActivationName, alpha: number | undefined, name: string, fuse: (attrs: { activation: string; alpha: number }) => number): number {
  const a = defaultParam(act, alpha);
  if (fusesFromOutput(act, a)) return fuse({ activation: act, alpha: a });
  const pre = fuse({ activation: 'linear', alpha: 0 });
  return g.node('activation', [pre], { activation: act, alpha: a }, `${name}/${act}`, name)[0];
}

export interface DenseConfig extends LayerConfig {
  units: number;
  activation?: ActivationName;
  /** slope of leakyRelu, alpha of elu */
  alpha?: number;
  useBias?: boolean;
  kernelInitializer?: Initializer | InitializerName;
  biasInitializer?: Initializer | InitializerName;
  kernelRegularizer?: Regularizer;
  biasRegularizer?: Regularizer;
  kernelConstraint?: Constraint;
  seed?: number;
}

export class Dense extends Layer {
  readonly units: number;
  readonly activation: ActivationName;
  constructor(readonly cfg: DenseConfig) {
    super(cfg, 'dense');
    if (!Number.isInteger(cfg.units) || cfg.units < 1) throw new Error(`edgegrad.layers.dense: units must be a positive integer, got ${cfg.units}`);
    this.units = cfg.units;
    this.activation = checkActivation(cfg.activation, 'dense');
  }
  protected override build([x]: Shape[]): void {
    if (x.length !== 2) throw new Error(`edgegrad.layers.dense '${this.name}': input must be [batch, features], got ${formatShape(x)} (add a flatten layer${x.length === 3 ? ', or wrap it in timeDistributed for one output per step' : ''})`);
    const c = this.cfg;
    this.addWeight('kernel', getInitializer(c.kernelInitializer, 'glorotUniform').init([x[1], this.units], c.seed), true, c.kernelRegularizer, c.kernelConstraint);
    if (c.useBias !== false) this.addWeight('bias', getInitializer(c.biasInitializer, 'zeros').init([this.units]), true, c.biasRegularizer);
  }
  protected call(g: Graph, [x]: number[]): number[] {
    const ids = this.weights.map((w) => this.weightValue(g, w));
    return [addActivation(g, x, this.activation, this.cfg.alpha, this.name, (attrs) => g.node('dense', [x, ...ids], attrs, this.name, this.name)[0])];
  }
}

export class Activation extends Layer {
  readonly activation: ActivationName;
  constructor(readonly cfg: LayerConfig & { activation: ActivationName; alpha?: number }) {
    super(cfg, cfg.activation ?? 'activation');
    this.activation = checkActivation(cfg.activation, 'activation');
  }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('activation', [x], { activation: this.activation, alpha: this.cfg.alpha ?? (this.activation === 'leakyRelu' ? 0.3 : 1) }, this.name, this.name);
  }
  protected override get propagatesMask(): boolean { return true; }
}

/** PReLU (He et al. 2015): one learnable slope per channel (last axis), initialized to `alphaInitializer` (0.25). */
export class PReLU extends Layer {
  constructor(readonly cfg: LayerConfig & { alphaInitializer?: number } = {}) { super(cfg, 'prelu'); }
  protected override build([x]: Shape[]): void {
    this.addWeight('alpha', fill([x[x.length - 1]], this.cfg.alphaInitializer ?? 0.25));
  }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('prelu', [x, this.weightValue(g, this.weights[0])], {}, this.name, this.name);
  }
}

/** Randomized leaky ReLU (Xu et al. 2015): slopes ~ U[lower, upper) in training, their mean at inference. */
export class RReLU extends Layer {
  constructor(readonly cfg: LayerConfig & { lower?: number; upper?: number } = {}) { super(cfg, 'rrelu'); }
  protected call(g: Graph, [x]: number[]): number[] {
    const lower = this.cfg.lower ?? 1 / 8, upper = this.cfg.upper ?? 1 / 3;
    if (!(lower >= 0 && lower <= upper)) throw new Error(`edgegrad.layers.rrelu: need 0 <= lower <= upper, got ${lower}, ${upper}`);
    return [g.node('rrelu', [x], { lower, upper }, this.name, this.name)[0]];
  }
  override get stochastic(): boolean { return true; }
}

/** Maxout (Goodfellow et al. 2013): the last axis in `units` groups, the max of each. */
export class Maxout extends Layer {
  constructor(readonly cfg: LayerConfig & { units: number }) { super(cfg, 'maxout'); }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('maxout', [x], { units: this.cfg.units }, this.name, this.name);
  }
}

/**
 * Dropout (Srivastava et al. 2014), inverted: active in training, identity at inference, and active at
 * inference too for Monte-Carlo dropout (predict with mcSamples).
 */
export class Dropout extends Layer {
  readonly rate: number;
  /** seed: the layer's own random stream (Keras's seed); without one, the backend's (eg.setSeed, fit's seed). */
  constructor(readonly cfg: LayerConfig & { rate: number; seed?: number }) {
    super(cfg, 'dropout');
    if (!(cfg.rate >= 0 && cfg.rate < 1)) throw new Error(`edgegrad.layers.dropout: rate must be in [0, 1), got ${cfg.rate}`);
    if (cfg.seed !== undefined && !Number.isInteger(cfg.seed)) throw new Error(`edgegrad.layers.dropout: seed must be an integer, got ${cfg.seed}`);
    this.rate = cfg.rate;
  }
  protected call(g: Graph, [x]: number[]): number[] {
    const ins = this.cfg.seed === undefined ? [x] : [x, this.ownStream(g, this.cfg.seed)];
    return [g.node('dropout', ins, { rate: this.rate }, this.name, this.name)[0]];
  }
  override get stochastic(): boolean { return true; }
  protected override get propagatesMask(): boolean { return true; }
}

export class Flatten extends Layer {
  constructor(cfg: LayerConfig = {}) { super(cfg, 'flatten'); }
  protected call(g: Graph, [x]: number[]): number[] {
    const s = g.values[x].shape;
    return g.node('reshape', [x], { shape: [s[0], s.slice(1).reduce((a, b) => a * b, 1)] }, this.name, this.name);
  }
}

export class Reshape extends Layer {
  constructor(readonly cfg: LayerConfig & { targetShape: number[] }) { super(cfg, 'reshape'); }
  protected call(g: Graph, [x]: number[]): number[] {
    const s = g.values[x].shape;
    const target = this.cfg.targetShape.slice();
    const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const per = s.slice(1).reduce((a, b) => a * b, 1);
    const neg = target.indexOf(-1);
    if (neg >= 0) target[neg] = per / known;
    // a rank-3 target is a feature map [h, w, c] (Keras, NHWC); exporters need to know
    return g.node('reshape', [x], { shape: [s[0], ...target], ...(target.length === 3 ? { layout: 'map' } : {}) }, this.name, this.name);
  }
}

export class BatchNormalization extends Layer {
  /** While trainable: normalize over the batch ('train', the default) or with the moving statistics ('inference'). */
  mode: BatchNormMode;
  constructor(readonly cfg: LayerConfig & { momentum?: number; epsilon?: number; mode?: BatchNormMode } = {}) {
    super(cfg, 'batch_normalization');
    this.mode = cfg.mode === undefined ? 'train' : checkBatchNormMode(cfg.mode, 'layers.batchNormalization');
  }
  override get batchNormMode(): BatchNormMode { return this.mode; }
  protected override build([x]: Shape[]): void {
    const C = x[x.length - 1];
    this.addWeight('gamma', fill([C], 1));
    this.addWeight('beta', fill([C], 0));
    this.addWeight('moving_mean', fill([C], 0), false);
    this.addWeight('moving_variance', fill([C], 1), false);
  }
  protected call(g: Graph, [x]: number[]): number[] {
    const ids = this.weights.map((w) => this.weightValue(g, w));
    // not trainable (Keras since TF 2) or in inference mode: normalize with the moving statistics in training too
    const frozen = !this.trainable || this.mode === 'inference';
    return [g.node('batchNorm', [x, ...ids], { epsilon: this.cfg.epsilon ?? 1e-3, momentum: this.cfg.momentum ?? 0.99, frozen }, this.name, this.name)[0]];
  }
}
