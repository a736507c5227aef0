// Optimizers over parameters in wasm memory: each step is one fused kernel per parameter
// (assembly/optim.ts) after optional gradient clipping by value or by global norm.
import { getBackend } from '../backend/index.js';
import { sumSquares } from '../graph/finite.js';
import { Tensor, fill as filled } from '../tensor.js';
import type { Schedule } from './schedules.js';

export interface OptimizerConfig {
  /** A number or a schedule of the step count. */
  learningRate?: number | Schedule;
  /** Clip every gradient element to [-clipValue, clipValue]. */
  clipValue?: number;
  /** Scale all gradients together so their global L2 norm is at most clipNorm. */
  clipNorm?: number;
}

/** One parameter's step: its tensor, its gradient (a pointer into wasm memory) and a learning-rate factor. */
export interface ParamGrad { param: Tensor; grad: number; lrScale?: number }

export abstract class Optimizer {
  abstract readonly name: string;
  learningRate: number | Schedule;
  readonly clipValue?: number;
  readonly clipNorm?: number;
  /** Steps taken (Adam's t is iterations + 1 during a step). */
  iterations = 0;
  private readonly slots = new Map<Tensor, Tensor[]>();

  /** own: the config keys of the optimizer beyond learningRate and the clipping ones (a misspelled key is an error) */
  constructor(cfg: OptimizerConfig, defaultLr: number, own: readonly string[] = []) {
    const known = ['learningRate', 'clipValue', 'clipNorm', ...own];
    const unknown = Object.keys(cfg ?? {}).filter((k) => !known.includes(k));
    if (unknown.length) throw new Error(`edgegrad.optimizers: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (this optimizer takes ${known.join(', ')})`);
    this.learningRate = cfg.learningRate ?? defaultLr;
    if (typeof this.learningRate === 'number') positive(this.learningRate, 'learningRate');
    else if (typeof this.learningRate !== 'object' || this.learningRate === null || typeof (this.learningRate as { at?: unknown }).at !== 'function') {
      throw new Error(`edgegrad.optimizers: 'learningRate' must be a positive number or a schedule (eg.schedules.*), got ${JSON.stringify(this.learningRate)}`);
    }
    if (cfg.clipValue !== undefined) this.clipValue = positive(cfg.clipValue, 'clipValue');
    if (cfg.clipNorm !== undefined) this.clipNorm = positive(cfg.clipNorm, 'clipNorm');
  }

  /** The learning rate of the current step. */
  currentLearningRate(): number {
    return typeof this.learningRate === 'number' ? this.learningRate : this.learningRate.at(this.iterations);
  }

  /** State tensors for a parameter, created zeroed (or filled) on first use. */
  protected state(p: Tensor, count: number, fill = 0): number[] {
    let s = this.slots.get(p);
    if (!s) {
      s = Array.from({ length: count }, () => filled(p.shape, fill));
      this.slots.set(p, s);
    }
    return s.map((t) => t.ptr);
  }

  /** Clip, then update every parameter in place. */
  applyGradients(items: ParamGrad[]): void {
    const k = getBackend().kernels;
    if (this.clipValue !== undefined) for (const it of items) k.clampValues(it.param.size, it.grad, -this.clipValue, this.clipValue);
    if (this.clipNorm !== undefined && !getBackend().syncRead) {
      // the global norm stays on the device (a GPU cannot hand it back in time)
      const acc = filled([1], 0);
      for (const it of items) k.sumSquaresTo(it.param.size, it.grad, acc.ptr);
      for (const it of items) k.scaleByNorm(it.param.size, it.grad, acc.ptr, this.clipNorm);
      acc.dispose();
    } else if (this.clipNorm !== undefined) {
      let ss = 0;
      for (const it of items) ss += sumSquares(it.param.size, it.grad);
      const norm = Math.sqrt(ss);
      if (norm > this.clipNorm) for (const it of items) k.affine(it.param.size, it.grad, this.clipNorm / norm, 0, it.grad);
    }
    const lr = this.currentLearningRate();
    for (const it of items) { this.update(it.param, it.grad, lr * (it.lrScale ?? 1)); it.param.version++; }
    this.iterations++;
  }

  protected abstract update(p: Tensor, g: number, lr: number): void;

  dispose(): void {
    for (const s of this.slots.values()) s.forEach((t) => t.dispose());
    this.slots.clear();
  }
}

function positive(v: number, what: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`edgegrad.optimizers: '${what}' must be a positive number, got ${String(v)}`);
  return v;
}

function inRange(v: number, what: string): number {
  if (!(typeof v === 'number' && v >= 0 && v < 1)) throw new Error(`edgegrad.optimizers: '${what}' must be in [0, 1), got ${String(v)}`);
  return v;
}

const k = () => getBackend().kernels;

/** SGD (Keras defaults: learning rate 0.01), with momentum and Nesterov momentum. */
export class SGD extends Optimizer {
  readonly name: string;
  readonly momentum: number;
  readonly nesterov: boolean;
  constructor(cfg: OptimizerConfig & { momentum?: number; nesterov?: boolean } = {}) {
    super(cfg, 0.01, ['momentum', 'nesterov']);
    this.momentum = inRange(cfg.momentum ?? 0, 'momentum');
    this.nesterov = !!cfg.nesterov;
    this.name = this.nesterov ? 'nesterov' : this.momentum ? 'momentum' : 'sgd';
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [v] = this.momentum ? this.state(p, 1) : [0];
    k().sgdUpdate(p.size, p.ptr, g, v, lr, this.momentum, +this.nesterov);
  }
}

export class AdaGrad extends Optimizer {
  readonly name = 'adagrad';
  readonly epsilon: number;
  readonly initialAccumulatorValue: number;
  constructor(cfg: OptimizerConfig & { epsilon?: number; initialAccumulatorValue?: number } = {}) {
    super(cfg, 0.001, ['epsilon', 'initialAccumulatorValue']);
    this.epsilon = cfg.epsilon ?? 1e-7;
    this.initialAccumulatorValue = cfg.initialAccumulatorValue ?? 0.1;
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [a] = this.state(p, 1, this.initialAccumulatorValue);
    k().adagradUpdate(p.size, p.ptr, g, a, lr, this.epsilon);
  }
}

export class AdaDelta extends Optimizer {
  readonly name = 'adadelta';
  readonly rho: number;
  readonly epsilon: number;
  constructor(cfg: OptimizerConfig & { rho?: number; epsilon?: number } = {}) {
    super(cfg, 0.001, ['rho', 'epsilon']);
    this.rho = inRange(cfg.rho ?? 0.95, 'rho');
    this.epsilon = cfg.epsilon ?? 1e-7;
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [eg, ed] = this.state(p, 2);
    k().adadeltaUpdate(p.size, p.ptr, g, eg, ed, lr, this.rho, this.epsilon);
  }
}

export class RMSProp extends Optimizer {
  readonly name = 'rmsprop';
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  constructor(cfg: OptimizerConfig & { rho?: number; momentum?: number; epsilon?: number } = {}) {
    super(cfg, 0.001, ['rho', 'momentum', 'epsilon']);
    this.rho = inRange(cfg.rho ?? 0.9, 'rho');
    this.momentum = inRange(cfg.momentum ?? 0, 'momentum');
    this.epsilon = cfg.epsilon ?? 1e-7;
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [s, v] = this.state(p, 2);
    k().rmspropUpdate(p.size, p.ptr, g, s, v, lr, this.rho, this.momentum, this.epsilon);
  }
}

export class Adam extends Optimizer {
  readonly name: string = 'adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  constructor(cfg: OptimizerConfig & { beta1?: number; beta2?: number; epsilon?: number } = {}) {
    super(cfg, 0.001, ['beta1', 'beta2', 'epsilon']);
    this.beta1 = inRange(cfg.beta1 ?? 0.9, 'beta1');
    this.beta2 = inRange(cfg.beta2 ?? 0.999, 'beta2');
    this.epsilon = cfg.epsilon ?? 1e-7;
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [m, v] = this.state(p, 2);
    k().adamUpdate(p.size, p.ptr, g, m, v, lr, this.beta1, this.beta2, this.epsilon, this.iterations + 1);
  }
}

export class Nadam extends Adam {
  override readonly name = 'nadam';
  protected override update(p: Tensor, g: number, lr: number): void {
    const [m, v] = this.state(p, 2);
    k().nadamUpdate(p.size, p.ptr, g, m, v, lr, this.beta1, this.beta2, this.epsilon, this.iterations + 1);
  }
}

/** iRprop-: `learningRate` is the initial step size (PyTorch's default 0.01). Use with full batches. */
export class Rprop extends Optimizer {
  readonly name = 'rprop';
  readonly etaMinus: number;
  readonly etaPlus: number;
  readonly stepMin: number;
  readonly stepMax: number;
  constructor(cfg: OptimizerConfig & { etaMinus?: number; etaPlus?: number; stepMin?: number; stepMax?: number } = {}) {
    super(cfg, 0.01, ['etaMinus', 'etaPlus', 'stepMin', 'stepMax']);
    this.etaMinus = cfg.etaMinus ?? 0.5;
    this.etaPlus = cfg.etaPlus ?? 1.2;
    this.stepMin = cfg.stepMin ?? 1e-6;
    this.stepMax = cfg.stepMax ?? 50;
  }
  protected update(p: Tensor, g: number, lr: number): void {
    const [prev, step] = [this.state(p, 1)[0], this.stepState(p, lr)];
    k().rpropUpdate(p.size, p.ptr, g, prev, step, this.etaMinus, this.etaPlus, this.stepMin, this.stepMax);
  }
  private steps = new Map<Tensor, Tensor>();
  private stepState(p: Tensor, lr: number): number {
    let s = this.steps.get(p);
    if (!s) { s = filled(p.shape, lr); this.steps.set(p, s); }
    return s.ptr;
  }
  override dispose(): void {
    super.dispose();
    for (const s of this.steps.values()) s.dispose();
    this.steps.clear();
  }
}

/** Factories, as eg.optimizers.adam({ learningRate: 1e-3 }) (TF.js names where it has them). */
export const optimizers = {
  sgd: (cfg?: ConstructorParameters<typeof SGD>[0]) => new SGD(cfg),
  momentum: (cfg?: ConstructorParameters<typeof SGD>[0]) => new SGD({ momentum: 0.9, ...cfg }),
  nesterov: (cfg?: ConstructorParameters<typeof SGD>[0]) => new SGD({ momentum: 0.9, ...cfg, nesterov: true }),
  adagrad: (cfg?: ConstructorParameters<typeof AdaGrad>[0]) => new AdaGrad(cfg),
  adadelta: (cfg?: ConstructorParameters<typeof AdaDelta>[0]) => new AdaDelta(cfg),
  rmsprop: (cfg?: ConstructorParameters<typeof RMSProp>[0]) => new RMSProp(cfg),
  adam: (cfg?: ConstructorParameters<typeof Adam>[0]) => new Adam(cfg),
  nadam: (cfg?: ConstructorParameters<typeof Nadam>[0]) => new Nadam(cfg),
  rprop: (cfg?: ConstructorParameters<typeof Rprop>[0]) => new Rprop(cfg),
};

export type OptimizerName = keyof typeof optimizers;

export function getOptimizer(o: Optimizer | OptimizerName | string): Optimizer {
  if (o instanceof Optimizer) return o;
  const f = (optimizers as Record<string, () => Optimizer>)[o];
  if (!f) throw new Error(`edgegrad.compile: unknown optimizer '${o}' (expected one of ${Object.keys(optimizers).join(', ')})`);
  return f();
}
