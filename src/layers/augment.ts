// Augmentation and noise layers with Keras's names and factor conventions: they act only in training
// (identity at inference; randomCrop crops the centre), per example, from a seeded stream of their own (or
// the backend's, eg.setSeed, without a seed), and let gradients through. A model's layers after one are never
// feature-cached (each epoch sees new inputs); summary() says so.
import type { Graph, Shape } from '../graph/ir.js';
import { FILL_MODES, type AffineAttrs, type FillMode, type Interpolation, type Range } from '../ops/augment.js';
import '../ops/augment.js';
import { formatShape } from '../tensor.js';
import { Layer, type LayerConfig } from './layer.js';

export interface AugmentConfig extends LayerConfig {
  /** Seed of the layer's own random stream (default: the backend's stream, eg.setSeed). */
  seed?: number;
}

export interface GeometricConfig extends AugmentConfig {
  /** How points outside the image are filled: 'reflect' (default, as Keras), 'wrap', 'constant', 'nearest'. */
  fillMode?: FillMode;
  fillValue?: number;
  interpolation?: Interpolation;
}

/** Keras's factor: f -> [-f, f], or [lo, hi] as given. */
function range(f: number | Range | undefined, what: string, where: string): Range {
  const r: Range = typeof f === 'number' ? [-Math.abs(f), Math.abs(f)] : Array.isArray(f) && f.length === 2 ? [f[0], f[1]] : [NaN, NaN];
  if (!r.every(Number.isFinite) || r[0] > r[1]) throw new Error(`edgegrad.layers.${where}: ${what} must be a number or a [lower, upper] pair, got ${f === undefined ? 'nothing' : JSON.stringify(f)}`);
  return r;
}

/** The eg.layers factory of a layer name prefix: random_flip -> randomFlip (what errors name). */
const factory = (prefix: string): string => prefix.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

abstract class Augmentation extends Layer {
  /** The eg.layers factory's name, for errors. */
  protected readonly fn: string;
  constructor(readonly cfgBase: AugmentConfig, prefix: string) {
    super(cfgBase, prefix);
    this.fn = factory(prefix);
    if (cfgBase.seed !== undefined && !Number.isInteger(cfgBase.seed)) throw new Error(`edgegrad.layers.${this.fn}: seed must be an integer, got ${cfgBase.seed}`);
  }
  // random in training: never a cached prefix, and nothing after it is
  override get stochastic(): boolean { return true; }
  override summaryNote(): string { return 'random in training, identity at inference: not feature-cached, nor any layer after it'; }

  protected checkImages(x: Shape, where: string): void {
    if (x.length !== 4) throw new Error(`edgegrad.layers.${where} '${this.name}': input must be images [batch, height, width, channels], got ${formatShape(x)}`);
  }

  /** The node's inputs: x, and the layer's random stream where it has a seed. */
  protected operands(g: Graph, x: number): number[] {
    return this.cfgBase.seed === undefined ? [x] : [x, this.ownStream(g, this.cfgBase.seed)];
  }
}

/** One randomAffine node with these attributes. */
abstract class Geometric extends Augmentation {
  constructor(readonly cfg: GeometricConfig, prefix: string) {
    super(cfg, prefix);
    if (cfg.fillMode !== undefined && !(cfg.fillMode in FILL_MODES)) throw new Error(`edgegrad.layers.${this.fn}: fillMode must be reflect, wrap, constant or nearest, got ${JSON.stringify(cfg.fillMode)}`);
    if (cfg.interpolation !== undefined && cfg.interpolation !== 'bilinear' && cfg.interpolation !== 'nearest') {
      throw new Error(`edgegrad.layers.${this.fn}: interpolation must be bilinear or nearest, got ${JSON.stringify(cfg.interpolation)}`);
    }
  }
  protected abstract attrs(x: Shape): AffineAttrs;
  protected override build([x]: Shape[]): void { this.checkImages(x, this.fn); }
  protected call(g: Graph, [x]: number[]): number[] {
    const attrs: AffineAttrs = { fillMode: this.cfg.fillMode ?? 'reflect', fillValue: this.cfg.fillValue ?? 0, interpolation: this.cfg.interpolation ?? 'bilinear', ...this.attrs(g.values[x].shape) };
    return [g.node('randomAffine', this.operands(g, x), attrs as Record<string, unknown>, this.name, this.name)[0]];
  }
}

export class RandomFlip extends Geometric {
  readonly mode: 'horizontal' | 'vertical' | 'horizontal_and_vertical';
  constructor(cfg: GeometricConfig & { mode?: 'horizontal' | 'vertical' | 'horizontal_and_vertical' } = {}) {
    super(cfg, 'random_flip');
    this.mode = cfg.mode ?? 'horizontal_and_vertical';
    if (!['horizontal', 'vertical', 'horizontal_and_vertical'].includes(this.mode)) throw new Error(`edgegrad.layers.randomFlip: mode must be horizontal, vertical or horizontal_and_vertical, got ${JSON.stringify(cfg.mode)}`);
  }
  protected attrs(): AffineAttrs { return { flip: this.mode, interpolation: 'nearest' }; }
}

export class RandomRotation extends Geometric {
  readonly factor: Range;
  /** factor: the angle in fractions of a full turn, f -> [-f, f] (0.1: up to 36 degrees either way). */
  constructor(readonly rcfg: GeometricConfig & { factor: number | Range }) {
    super(rcfg, 'random_rotation');
    this.factor = range(rcfg.factor, 'factor', 'randomRotation');
  }
  protected attrs(): AffineAttrs { return { rotation: this.factor }; }
}

export class RandomTranslation extends Geometric {
  readonly h: Range;
  readonly w: Range;
  /** heightFactor, widthFactor: the shift in fractions of the height and width, f -> [-f, f]. */
  constructor(readonly tcfg: GeometricConfig & { heightFactor: number | Range; widthFactor: number | Range }) {
    super(tcfg, 'random_translation');
    this.h = range(tcfg.heightFactor, 'heightFactor', 'randomTranslation');
    this.w = range(tcfg.widthFactor, 'widthFactor', 'randomTranslation');
  }
  protected attrs(): AffineAttrs { return { translate: { h: this.h, w: this.w } }; }
}

export class RandomZoom extends Geometric {
  readonly h: Range;
  readonly w?: Range;
  /** heightFactor (and widthFactor, default: the same zoom): positive zooms out, f -> [-f, f]. */
  constructor(readonly zcfg: GeometricConfig & { heightFactor: number | Range; widthFactor?: number | Range }) {
    super(zcfg, 'random_zoom');
    this.h = range(zcfg.heightFactor, 'heightFactor', 'randomZoom');
    this.w = zcfg.widthFactor === undefined ? undefined : range(zcfg.widthFactor, 'widthFactor', 'randomZoom');
    if (this.h[0] <= -1 || (this.w && this.w[0] <= -1)) throw new Error('edgegrad.layers.randomZoom: a factor of -1 or less would zoom in infinitely');
  }
  protected attrs(): AffineAttrs { return { zoom: { h: this.h, w: this.w } }; }
}

export class RandomCrop extends Geometric {
  /** A random height x width window in training, the centered one at inference. */
  constructor(readonly ccfg: AugmentConfig & { height: number; width: number }) {
    super(ccfg, 'random_crop');
    for (const k of ['height', 'width'] as const) {
      if (!(Number.isInteger(ccfg[k]) && ccfg[k] > 0)) throw new Error(`edgegrad.layers.randomCrop: ${k} must be a positive integer, got ${ccfg[k]}`);
    }
  }
  protected attrs(): AffineAttrs { return { crop: [this.ccfg.height, this.ccfg.width], interpolation: 'nearest' }; }
}

/** Contrast and brightness: one imageAdjust node. */
abstract class ValueAdjust extends Augmentation {
  protected abstract readonly kind: 'contrast' | 'brightness';
  protected abstract readonly range: Range;
  readonly valueRange: Range;
  constructor(cfg: AugmentConfig & { valueRange?: Range }, prefix: string) {
    super(cfg, prefix);
    this.valueRange = cfg.valueRange ?? [0, 255];
    if (!(Array.isArray(this.valueRange) && this.valueRange.length === 2 && this.valueRange[0] < this.valueRange[1])) {
      throw new Error(`edgegrad.layers.${this.fn}: valueRange must be [min, max] with min < max, got ${JSON.stringify(cfg.valueRange)}`);
    }
  }
  protected override build([x]: Shape[]): void { this.checkImages(x, this.fn); }
  protected call(g: Graph, [x]: number[]): number[] {
    return [g.node('imageAdjust', this.operands(g, x), { kind: this.kind, range: this.range, valueRange: this.valueRange }, this.name, this.name)[0]];
  }
}

export class RandomContrast extends ValueAdjust {
  protected readonly kind = 'contrast';
  protected readonly range: Range;
  /** factor: the contrast factor is drawn from [1 - lower, 1 + upper] (f -> [1 - f, 1 + f]) per image; outputs clipped to valueRange. */
  constructor(cfg: AugmentConfig & { factor: number | Range; valueRange?: Range }) {
    super(cfg, 'random_contrast');
    // Keras: f -> [1 - f, 1 + f]; [lower, upper] -> [1 - lower, 1 + upper]
    if (typeof cfg.factor !== 'number' && !Array.isArray(cfg.factor)) range(cfg.factor, 'factor', 'randomContrast');
    const f = typeof cfg.factor === 'number' ? [cfg.factor, cfg.factor] : cfg.factor;
    const r = range([-f[0], f[1]], 'factor', 'randomContrast');
    if (r[0] < -1) throw new Error(`edgegrad.layers.randomContrast: the lower factor must be at most 1 (contrast factors are >= 0), got ${-r[0]}`);
    this.range = [1 + r[0], 1 + r[1]];
  }
}

export class RandomBrightness extends ValueAdjust {
  protected readonly kind = 'brightness';
  protected readonly range: Range;
  /** factor: a shift of the values by a fraction of valueRange's span, f -> [-f, f], per image; outputs clipped to valueRange. */
  constructor(cfg: AugmentConfig & { factor: number | Range; valueRange?: Range }) {
    super(cfg, 'random_brightness');
    this.range = range(cfg.factor, 'factor', 'randomBrightness');
    if (this.range[0] < -1 || this.range[1] > 1) throw new Error(`edgegrad.layers.randomBrightness: factor must be within [-1, 1], got ${JSON.stringify(cfg.factor)}`);
  }
}

export class GaussianNoise extends Augmentation {
  /** Adds N(0, stddev²) noise to every value in training (Keras GaussianNoise; training with noise). */
  constructor(readonly ncfg: AugmentConfig & { stddev: number }) {
    super(ncfg, 'gaussian_noise');
    if (!(Number.isFinite(ncfg.stddev) && ncfg.stddev >= 0)) throw new Error(`edgegrad.layers.gaussianNoise: stddev must be a finite number >= 0, got ${ncfg.stddev}`);
  }
  protected call(g: Graph, [x]: number[]): number[] {
    return [g.node('gaussianNoise', this.operands(g, x), { stddev: this.ncfg.stddev }, this.name, this.name)[0]];
  }
  protected override get propagatesMask(): boolean { return true; }
}

export class GaussianDropout extends Augmentation {
  /** Multiplies every value by N(1, rate / (1 - rate)) noise in training (Srivastava et al. 2014). */
  constructor(readonly dcfg: AugmentConfig & { rate: number }) {
    super(dcfg, 'gaussian_dropout');
    if (!(dcfg.rate >= 0 && dcfg.rate < 1)) throw new Error(`edgegrad.layers.gaussianDropout: rate must be in [0, 1), got ${dcfg.rate}`);
  }
  protected call(g: Graph, [x]: number[]): number[] {
    return [g.node('gaussianDropout', this.operands(g, x), { rate: this.dcfg.rate }, this.name, this.name)[0]];
  }
  protected override get propagatesMask(): boolean { return true; }
}
