// Convolution and pooling layers (NHWC): conv2d, depthwiseConv2d, max/average pooling, global average
// pooling, zero padding.
import type { Graph, Shape } from '../graph/ir.js';
import type { ActivationName } from '../ops/activation.js';
import type { Padding } from '../ops/conv.js';
import { getInitializer, type Initializer, type InitializerName } from '../train/initializers.js';
import type { Constraint, Regularizer } from '../train/regularizers.js';
import { formatShape } from '../tensor.js';
import { Layer, type LayerConfig } from './layer.js';
import { addActivation, checkActivation } from './core.js';

type Pair = number | [number, number];
const pair = (v: Pair | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

export interface Conv2DConfig extends LayerConfig {
  filters: number;
  kernelSize: Pair;
  strides?: Pair;
  padding?: 'same' | 'valid';
  dilationRate?: Pair;
  /** Grouped convolution: input and output channels split into this many groups. */
  groups?: number;
  activation?: ActivationName;
  alpha?: number;
  useBias?: boolean;
  kernelInitializer?: Initializer | InitializerName;
  biasInitializer?: Initializer | InitializerName;
  kernelRegularizer?: Regularizer;
  kernelConstraint?: Constraint;
  seed?: number;
}

export class Conv2D extends Layer {
  readonly activation: ActivationName;
  constructor(readonly cfg: Conv2DConfig) {
    super(cfg, 'conv2d');
    if (!Number.isInteger(cfg.filters) || cfg.filters < 1) throw new Error(`edgegrad.layers.conv2d: filters must be a positive integer, got ${cfg.filters}`);
    if (cfg.kernelSize === undefined) throw new Error('edgegrad.layers.conv2d: kernelSize is required (a number or [height, width]), as in Keras');
    this.activation = checkActivation(cfg.activation, 'conv2d');
  }
  protected override build([x]: Shape[]): void {
    if (x.length !== 4) throw new Error(`edgegrad.layers.conv2d '${this.name}': input must be [batch, height, width, channels], got ${formatShape(x)}`);
    const [kh, kw] = pair(this.cfg.kernelSize, 1);
    const G = this.cfg.groups ?? 1;
    if (x[3] % G || this.cfg.filters % G) throw new Error(`edgegrad.layers.conv2d '${this.name}': ${x[3]} channels and ${this.cfg.filters} filters must both divide into ${G} groups`);
    this.addWeight('kernel', getInitializer(this.cfg.kernelInitializer, 'glorotUniform').init([kh, kw, x[3] / G, this.cfg.filters], this.cfg.seed), true, this.cfg.kernelRegularizer, this.cfg.kernelConstraint);
    if (this.cfg.useBias !== false) this.addWeight('bias', getInitializer(this.cfg.biasInitializer, 'zeros').init([this.cfg.filters]));
  }
  protected call(g: Graph, [x]: number[]): number[] {
    const ids = this.weights.map((w) => this.weightValue(g, w));
    const attrs = { strides: pair(this.cfg.strides, 1), pad: this.cfg.padding ?? 'valid', dilations: pair(this.cfg.dilationRate, 1) };
    return [addActivation(g, x, this.activation, this.cfg.alpha, this.name, (act) => g.node('conv2d', [x, ...ids], { ...attrs, ...act }, this.name, this.name)[0])];
  }
}

export interface DepthwiseConv2DConfig extends Omit<Conv2DConfig, 'filters' | 'groups'> {
  depthMultiplier?: number;
  depthwiseInitializer?: Initializer | InitializerName;
}

/** Depthwise conv: its kernel is stored as [kh, kw, 1, channels * multiplier], the same bytes as Keras' [kh, kw, channels, multiplier]. */
export class DepthwiseConv2D extends Layer {
  readonly activation: ActivationName;
  constructor(readonly cfg: DepthwiseConv2DConfig) {
    super(cfg, 'depthwise_conv2d');
    if (cfg.kernelSize === undefined) throw new Error('edgegrad.layers.depthwiseConv2d: kernelSize is required (a number or [height, width]), as in Keras');
    this.activation = checkActivation(cfg.activation, 'depthwiseConv2d');
  }
  protected override build([x]: Shape[]): void {
    if (x.length !== 4) throw new Error(`edgegrad.layers.depthwiseConv2d '${this.name}': input must be [batch, height, width, channels], got ${formatShape(x)}`);
    const [kh, kw] = pair(this.cfg.kernelSize, 1);
    const m = this.cfg.depthMultiplier ?? 1;
    // fans as Keras computes them for the [kh, kw, channels, multiplier] kernel
    const init = getInitializer(this.cfg.depthwiseInitializer ?? this.cfg.kernelInitializer, 'glorotUniform').init([kh, kw, x[3], m], this.cfg.seed);
    const k = init.reshape([kh, kw, 1, x[3] * m]);
    init.dispose();
    this.addWeight('depthwise_kernel', k, true, this.cfg.kernelRegularizer, this.cfg.kernelConstraint);
    if (this.cfg.useBias !== false) this.addWeight('bias', getInitializer(this.cfg.biasInitializer, 'zeros').init([x[3] * m]));
  }
  protected call(g: Graph, [x]: number[]): number[] {
    const ids = this.weights.map((w) => this.weightValue(g, w));
    const attrs = { strides: pair(this.cfg.strides, 1), pad: this.cfg.padding ?? 'valid', dilations: pair(this.cfg.dilationRate, 1) };
    return [addActivation(g, x, this.activation, this.cfg.alpha, this.name, (act) => g.node('conv2d', [x, ...ids], { ...attrs, ...act }, this.name, this.name)[0])];
  }
}

export interface PoolConfig extends LayerConfig { poolSize?: Pair; strides?: Pair; padding?: Padding }

export class Pooling2D extends Layer {
  constructor(readonly kind: 'max' | 'avg', readonly cfg: PoolConfig = {}) { super(cfg, kind === 'max' ? 'max_pooling2d' : 'average_pooling2d'); }
  protected call(g: Graph, [x]: number[]): number[] {
    const size = pair(this.cfg.poolSize, 2);
    return g.node('pool', [x], { kind: this.kind, filterSize: size, strides: pair(this.cfg.strides ?? size, 1), pad: this.cfg.padding ?? 'valid' }, this.name, this.name);
  }
}

export class GlobalAveragePooling2D extends Layer {
  constructor(cfg: LayerConfig = {}) { super(cfg, 'global_average_pooling2d'); }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('globalAvgPool', [x], {}, this.name, this.name);
  }
}

export class ZeroPadding2D extends Layer {
  constructor(readonly cfg: LayerConfig & { padding?: number | [number, number] | [[number, number], [number, number]] } = {}) { super(cfg, 'zero_padding2d'); }
  protected call(g: Graph, [x]: number[]): number[] {
    const p = this.cfg.padding ?? 1;
    const padding = typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : p;
    return g.node('zeroPad2d', [x], { padding }, this.name, this.name);
  }
}

/** Keras Resizing: images to [height, width] (bilinear with half-pixel centres by default, or nearest). */
export class Resizing extends Layer {
  constructor(readonly cfg: LayerConfig & { height: number; width: number; interpolation?: 'bilinear' | 'nearest' }) {
    super(cfg, 'resizing');
    for (const k of ['height', 'width'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`edgegrad.layers.resizing: ${k} must be a positive integer, got ${cfg[k]}`);
    }
    if (cfg.interpolation !== undefined && cfg.interpolation !== 'bilinear' && cfg.interpolation !== 'nearest') {
      throw new Error(`edgegrad.layers.resizing: interpolation must be 'bilinear' or 'nearest', got '${String(cfg.interpolation)}'`);
    }
  }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('resize2d', [x], { size: [this.cfg.height, this.cfg.width], method: this.cfg.interpolation ?? 'bilinear', halfPixelCenters: true, alignCorners: false }, this.name, this.name);
  }
}

/** One channel repeated into three: grayscale images into a backbone trained on RGB. */
export class GrayscaleToRGB extends Layer {
  constructor(cfg: LayerConfig = {}) { super(cfg, 'grayscale_to_rgb'); }
  protected call(g: Graph, [x]: number[]): number[] {
    return g.node('grayscaleToRgb', [x], {}, this.name, this.name);
  }
}
