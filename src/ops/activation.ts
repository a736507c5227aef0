// Activations: step, sign, linear, sigmoid, tanh, ReLU, ReLU6, leaky ReLU, PReLU, randomized leaky ReLU,
// ELU, SELU, softplus, GELU, softmax, log-softmax, maxout; forward, gradient and float64 references.
// Kernels: assembly/act.ts.
import { Act } from '../backend/kernels.js';
import { arr, fail, finite, formatShape, input, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type RunContext } from '../graph/registry.js';
import type { Backend } from '../backend/index.js';
import { runEager } from '../graph/eager.js';
import { sizeOfShape } from '../graph/ir.js';

export type ActivationName =
  | 'linear' | 'relu' | 'relu6' | 'leakyRelu' | 'elu' | 'selu' | 'sigmoid' | 'tanh' | 'softplus' | 'gelu'
  | 'step' | 'sign' | 'hardSigmoid' | 'softmax' | 'logSoftmax';

export const ACTIVATIONS: readonly ActivationName[] = [
  'linear', 'relu', 'relu6', 'leakyRelu', 'elu', 'selu', 'sigmoid', 'tanh', 'softplus', 'gelu', 'step', 'sign', 'hardSigmoid', 'softmax', 'logSoftmax',
];

/** The kernel code of an elementwise activation, or undefined for the row-wise ones. */
function code(name: ActivationName, op: string): number | undefined {
  if (name === 'softmax' || name === 'logSoftmax') return undefined;
  const c = (Act as Record<string, number>)[name];
  if (c === undefined) fail(op, `unknown activation '${String(name)}' (expected one of ${ACTIVATIONS.join(', ')})`);
  return c;
}

/**
 * The activations the GEMM / conv epilogue applies itself (assembly/gemm_f32.ts `epi`, assembly/conv.ts):
 * the one list every fusion decision reads.
 */
const EPILOGUE: readonly string[] = ['linear', 'relu', 'relu6', 'leakyRelu'];

/** The code if the GEMM/conv epilogue can apply this activation itself. */
export function fusableActivation(name: ActivationName): number | undefined {
  code(name, 'activation');
  return EPILOGUE.includes(name) ? Act[name as 'linear' | 'relu' | 'relu6' | 'leakyRelu'] : undefined;
}

/**
 * Whether an activation fuses into a trained node's epilogue: the epilogue applies it and its derivative
 * can be read from the output y (a leaky ReLU with slope <= 0 cannot: the sign of y no longer tells).
 */
export function fusesFromOutput(activation: string, alpha: number): boolean {
  return EPILOGUE.includes(activation) && (activation !== 'leakyRelu' || alpha > 0);
}

/** Default parameter: leaky ReLU slope 0.2 (TF.js), ELU alpha 1 (and 1 where none is used). */
export function defaultParam(name: string, p?: number): number {
  return p ?? (name === 'leakyRelu' ? 0.2 : 1);
}

const param = (name: ActivationName, p?: number): number => defaultParam(name, p);

/** Overwrite t with act(t); softmax/log-softmax over the last axis. */
export function activateInPlace(t: Tensor, name: ActivationName, p?: number): void {
  if (code(name, 'activation') === Act.linear) return;
  runEager('activation', [t], { activation: name, alpha: p }, { outputs: [t] });
}

/** y = act(x) by name. */
export function activation(x: Tensor | TensorLike, name: ActivationName, p?: number): Tensor {
  const t = input(x, name, 'x');
  if (p !== undefined) finite(p, name, 'alpha');
  if ((name === 'softmax' || name === 'logSoftmax') && t.rank === 0) fail(name, 'needs rank >= 1');
  return runEager('activation', [t], { activation: name, alpha: p })[0];
}

/**
 * dx = dy * act'(x), from x and y = act(x) (pass both; each rule reads what it needs).
 * Softmax/log-softmax use the row-wise Jacobian-vector product over the last axis.
 */
export function activationGrad(name: ActivationName, x: Tensor, y: Tensor, dy: Tensor, p?: number): Tensor {
  const op = `${name}Grad`;
  x = input(x, op, 'x'); y = input(y, op, 'y'); dy = input(dy, op, 'dy');
  if (y.size !== x.size) fail(op, `y ${formatShape(y.shape)} does not match x ${formatShape(x.shape)}`);
  if (dy.size !== x.size) fail(`${name}Grad`, `dy ${formatShape(dy.shape)} does not match x ${formatShape(x.shape)}`);
  code(name, op);
  return runEager('activationGrad', [x, y, dy], { activation: name, alpha: p })[0];
}

export const linear = (x: Tensor | TensorLike) => activation(x, 'linear');
export const relu = (x: Tensor | TensorLike) => activation(x, 'relu');
export const relu6 = (x: Tensor | TensorLike) => activation(x, 'relu6');
export const leakyRelu = (x: Tensor | TensorLike, alpha = 0.2) => activation(x, 'leakyRelu', alpha);
export const elu = (x: Tensor | TensorLike, alpha = 1) => activation(x, 'elu', alpha);
export const selu = (x: Tensor | TensorLike) => activation(x, 'selu');
export const sigmoid = (x: Tensor | TensorLike) => activation(x, 'sigmoid');
export const tanh = (x: Tensor | TensorLike) => activation(x, 'tanh');
export const softplus = (x: Tensor | TensorLike) => activation(x, 'softplus');
export const gelu = (x: Tensor | TensorLike) => activation(x, 'gelu');
/** Heaviside step: 1 for x > 0, else 0. */
export const step = (x: Tensor | TensorLike) => activation(x, 'step');
export const sign = (x: Tensor | TensorLike) => activation(x, 'sign');
/** Keras's hard sigmoid: clip(0.2 x + 0.5, 0, 1). */
export const hardSigmoid = (x: Tensor | TensorLike) => activation(x, 'hardSigmoid');
export const softmax = (x: Tensor | TensorLike) => activation(x, 'softmax');
export const logSoftmax = (x: Tensor | TensorLike) => activation(x, 'logSoftmax');

/** PReLU: y = x for x >= 0, alpha[c] x otherwise; alpha has one slope per channel (last axis). */
export function prelu(x: Tensor | TensorLike, alpha: Tensor | TensorLike): Tensor {
  const t = input(x, 'prelu', 'x'), a = input(alpha, 'prelu', 'alpha');
  const C = t.shape[t.rank - 1];
  if (a.size !== C && a.size !== 1) fail('prelu', `alpha must have 1 or ${C} (channels) elements, got ${formatShape(a.shape)}`);
  return runEager('prelu', [t, a.rank === 1 ? a : a.reshape([a.size])])[0];
}

export function preluGrad(x: Tensor, alpha: Tensor, dy: Tensor): { dx: Tensor; dalpha: Tensor } {
  const [dx, dalpha] = runEager('preluGrad', [x, alpha.rank === 1 ? alpha : alpha.reshape([alpha.size]), dy]);
  return { dx, dalpha: dalpha.reshape(alpha.shape) };
}

export interface RReluOptions { lower?: number; upper?: number; training?: boolean }

/**
 * Randomized leaky ReLU (Xu et al. 2015). Training: a slope per negative element drawn from U[lower, upper),
 * returned in `slopes` for the backward pass (dx = dy * slopes). Inference: the fixed slope (lower+upper)/2.
 * Defaults 1/8 and 1/3 as in the paper.
 */
export function rrelu(x: Tensor | TensorLike, opts: RReluOptions = {}): { y: Tensor; slopes?: Tensor } {
  const { lower = 1 / 8, upper = 1 / 3, training = false } = opts;
  finite(lower, 'rrelu', 'lower'); finite(upper, 'rrelu', 'upper');
  if (!(lower >= 0 && lower <= upper)) fail('rrelu', `need 0 <= lower <= upper, got ${lower}, ${upper}`);
  const t = input(x, 'rrelu', 'x');
  if (!training) return { y: activation(t, 'leakyRelu', (lower + upper) / 2) };
  const [y, slopes] = runEager('rrelu', [t], { lower, upper }, { training: true });
  return { y, slopes };
}

/** Maxout (Goodfellow et al. 2013): the last axis (units * k) is split into `units` groups of k; max of each. */
export function maxout(x: Tensor | TensorLike, units: number): Tensor {
  const t = input(x, 'maxout', 'x');
  const last = t.shape[t.rank - 1];
  if (!Number.isInteger(units) || units < 1 || last % units !== 0) {
    fail('maxout', `last axis ${last} of ${formatShape(t.shape)} is not divisible into ${units} units`);
  }
  return runEager('maxout', [t], { units })[0];
}

export function maxoutGrad(x: Tensor, units: number, dy: Tensor): Tensor {
  return runEager('maxoutGrad', [x, dy], { units })[0];
}

// ---- references (float64) ----

const SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;

/** erf by its Maclaurin series (|x| < 3) and continued fraction beyond: an independent check of the kernel's. */
export function refErf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let f = ax;
    for (let n = 60; n >= 1; n--) f = ax + (n / 2) / f;
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

export function refActivation1(name: ActivationName, x: number, p?: number): number {
  const a = param(name, p);
  switch (name) {
    case 'linear': return x;
    case 'relu': return Math.max(x, 0);
    case 'relu6': return Math.min(Math.max(x, 0), 6);
    case 'leakyRelu': return x >= 0 ? x : a * x;
    case 'elu': return x >= 0 ? x : a * (Math.exp(x) - 1);
    case 'selu': return SELU_SCALE * (x >= 0 ? x : SELU_ALPHA * (Math.exp(x) - 1));
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'tanh': return Math.tanh(x);
    case 'softplus': return Math.log(1 + Math.exp(x));
    case 'gelu': return 0.5 * x * (1 + refErf(x / Math.SQRT2));
    case 'step': return x > 0 ? 1 : 0;
    case 'sign': return Math.sign(x);
    case 'hardSigmoid': return Math.min(Math.max(0.2 * x + 0.5, 0), 1);
    default: throw new Error(`refActivation1: ${name} is not elementwise`);
  }
}

export function refActivation(x: Arr, name: ActivationName, p?: number): Arr {
  const out = arr(x.shape);
  if (name === 'softmax' || name === 'logSoftmax') {
    const cols = x.shape[x.shape.length - 1];
    for (let r = 0; r < x.data.length / cols; r++) {
      let m = -Infinity;
      for (let c = 0; c < cols; c++) m = Math.max(m, x.data[r * cols + c]);
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(x.data[r * cols + c] - m);
      for (let c = 0; c < cols; c++) {
        const v = x.data[r * cols + c] - m;
        out.data[r * cols + c] = name === 'softmax' ? Math.exp(v) / s : v - Math.log(s);
      }
    }
    return out;
  }
  for (let i = 0; i < x.data.length; i++) out.data[i] = refActivation1(name, x.data[i], p);
  return out;
}

export function refPrelu(x: Arr, alpha: Arr): Arr {
  const out = arr(x.shape);
  const C = alpha.data.length;
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] >= 0 ? x.data[i] : alpha.data[i % C] * x.data[i];
  return out;
}

export function refMaxout(x: Arr, units: number): Arr {
  const last = x.shape[x.shape.length - 1], k = last / units, rows = x.data.length / last;
  const out = arr([...x.shape.slice(0, -1), units]);
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < units; u++) {
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, x.data[r * last + u * k + j]);
      out.data[r * units + u] = m;
    }
  }
  return out;
}

// ---- graph ops ----

/** The forward kernels' one call site: y = act(x) (softmax and log-softmax over the last axis). */
function runActivation(ctx: RunContext, name: ActivationName, alpha: number | undefined, x: number, y: number): void {
  const shape = ctx.shape(x), size = sizeOfShape(shape);
  const c = code(name, 'activation');
  if (c === undefined) {
    const cols = Math.max(shape[shape.length - 1] ?? 1, 1);
    ctx.be.kernels.softmaxForward(size / cols, cols, ctx.ptr(x), ctx.ptr(y), +(name === 'logSoftmax'));
  } else {
    ctx.be.kernels.actForward(c, size, ctx.ptr(x), ctx.ptr(y), param(name, alpha));
  }
}

/**
 * The elementwise backward kernel's one call site: dx = dy * act'(x), from x or y = act(x) as the rule
 * needs (handles, so a caller may pass 0 for x where the rule reads y: the output-fused epilogues).
 */
export function actBackward(be: Backend, name: string, n: number, x: number, y: number, dy: number, dx: number, alpha?: number): void {
  be.kernels.actBackward(code(name as ActivationName, 'activation')!, n, x, y, dy, dx, param(name as ActivationName, alpha));
}

registerOp({
  name: 'activation',
  infer([x], a, node) {
    code(a.activation as ActivationName, `activation (node '${node}')`);
    return [x.slice()];
  },
  run(ctx, n) {
    runActivation(ctx, n.attrs.activation as ActivationName, n.attrs.alpha as number | undefined, n.inputs[0], n.outputs[0]);
  },
  // y may alias x (actForward, softmaxForward)
  inPlace: () => [[0, 0]],
  grad(n, [dy], b) {
    // where the derivative is a function of the output, the output stands in for x too: x (often a batch
    // norm's or a conv's output, as big) is not kept alive from the forward pass for the backward one
    const x = fromOutput(n.attrs.activation as ActivationName, n.attrs.alpha as number | undefined) ? n.outputs[0] : n.inputs[0];
    return [b.node('activationGrad', [x, n.outputs[0], dy!], n.attrs, `${n.name}_grad`)[0]];
  },
});

/**
 * The 1-bit masks of a piecewise-linear activation's derivative (ReLU, ReLU6, leaky ReLU with a positive
 * slope) from its output y [batch, ...]: per example ceil(size / 32) words (int32 values holding u32 bits).
 * A training step keeps these in place of y for the activation's gradient (see maskActivations in
 * graph/passes.ts): 1/32 of the memory (TinyTL, Cai et al. 2020).
 */
registerOp({
  name: 'activationMask',
  infer([y]) { return [[y[0], Math.ceil(sizeOfShape(y.slice(1)) / 32)]]; },
  outputDtype: () => 'int32',
  run(ctx, n) {
    const s = ctx.shape(n.inputs[0]);
    ctx.be.kernels.actMask(code(n.attrs.activation as ActivationName, 'activationMask')!, s[0], sizeOfShape(s) / s[0], ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
  },
});

/** Whether an activation's derivative is a 1-bit mask of its output (0 or 1; leaky ReLU: its slope or 1). */
export function maskable(name: string, alpha: number | undefined): boolean {
  return name === 'relu' || name === 'relu6' || (name === 'leakyRelu' && param(name, alpha) > 0);
}

/** The derivative where the mask's bit is clear: leaky ReLU's slope, else 0. */
export function maskSlope(name: string, alpha: number | undefined): number {
  return name === 'leakyRelu' ? param(name, alpha) : 0;
}

/**
 * Activations whose derivative the backward kernel computes as well from y = f(x) passed for x: relu
 * (y > 0 iff x > 0), relu6 (0 < y < 6 iff 0 < x < 6), leaky relu and elu with a positive slope / alpha and
 * selu (y >= 0 iff x >= 0; elu's and selu's negative branch reads y), sigmoid and tanh (y only), softmax
 * and log-softmax (y only).
 */
function fromOutput(name: ActivationName, alpha: number | undefined): boolean {
  switch (name) {
    case 'relu': case 'relu6': case 'selu': case 'sigmoid': case 'tanh': case 'softmax': case 'logSoftmax': return true;
    case 'leakyRelu': case 'elu': return param(name, alpha) > 0;
    default: return false;
  }
}

registerOp({
  name: 'activationGrad',
  // inputs: x, y, dy (x may be y: see fromOutput); attrs.masked: x and y are activationMask's bits of y
  infer([, , dy]) { return [dy.slice()]; },
  // dx may alias dy (actBackward, actMaskedBackward, softmaxBackward)
  inPlace: () => [[0, 2]],
  run(ctx, n) {
    const [x, y, dy] = n.inputs;
    const name = n.attrs.activation as ActivationName;
    if (n.attrs.masked) {
      const s = ctx.shape(dy);
      ctx.be.kernels.actMaskedBackward(s[0], sizeOfShape(s) / s[0], ctx.ptr(x), ctx.ptr(dy), ctx.ptr(n.outputs[0]), maskSlope(name, n.attrs.alpha as number | undefined));
      return;
    }
    const shape = ctx.shape(x);
    const size = sizeOfShape(shape);
    if (code(name, 'activation') === undefined) {
      const cols = shape[shape.length - 1];
      ctx.be.kernels.softmaxBackward(size / cols, cols, ctx.ptr(y), ctx.ptr(dy), ctx.ptr(n.outputs[0]), +(name === 'logSoftmax'));
    } else {
      actBackward(ctx.be, name, size, ctx.ptr(x), ctx.ptr(y), ctx.ptr(dy), ctx.ptr(n.outputs[0]), n.attrs.alpha as number | undefined);
    }
  },
});

registerOp({
  name: 'prelu',
  infer([x, alpha], _a, node) {
    if (alpha.length !== 1 || (alpha[0] !== x[x.length - 1] && alpha[0] !== 1)) fail('prelu', `node '${node}': alpha ${formatShape(alpha)} must have one slope per channel of ${formatShape(x)} (or one for all)`);
    return [x.slice()];
  },
  run(ctx, n) {
    const [x, a] = n.inputs;
    ctx.be.kernels.preluForward(sizeOfShape(ctx.shape(x)), ctx.shape(a)[0], ctx.ptr(x), ctx.ptr(a), ctx.ptr(n.outputs[0]));
  },
  grad(n, [dy], b) {
    const [dx, da] = b.node('preluGrad', [n.inputs[0], n.inputs[1], dy!], {}, `${n.name}_grad`);
    return [dx, da];
  },
});

registerOp({
  name: 'preluGrad',
  infer([x, a]) { return [x.slice(), a.slice()]; },
  run(ctx, n) {
    const [x, a, dy] = n.inputs;
    ctx.be.kernels.preluBackward(sizeOfShape(ctx.shape(x)), ctx.shape(a)[0], ctx.ptr(x), ctx.ptr(a), ctx.ptr(dy), ctx.ptr(n.outputs[0]), ctx.ptr(n.outputs[1]));
  },
});

registerOp({
  name: 'maxout',
  infer([x], a, node) {
    const units = a.units as number, last = x[x.length - 1];
    if (last % units !== 0) fail('maxout', `node '${node}': last axis ${last} of ${formatShape(x)} is not divisible into ${units} units`);
    return [[...x.slice(0, -1), units]];
  },
  run(ctx, n) {
    const shape = ctx.shape(n.inputs[0]), last = shape[shape.length - 1], units = n.attrs.units as number;
    ctx.be.kernels.maxoutForward(sizeOfShape(shape) / last, units, last / units, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
  },
  grad(n, [dy], b) {
    return [b.node('maxoutGrad', [n.inputs[0], dy!], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'maxoutGrad',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const shape = ctx.shape(n.inputs[0]), last = shape[shape.length - 1], units = n.attrs.units as number;
    ctx.be.kernels.maxoutBackward(sizeOfShape(shape) / last, units, last / units, ctx.ptr(n.inputs[0]), ctx.ptr(n.inputs[1]), ctx.ptr(n.outputs[0]));
  },
});

registerOp({
  name: 'rrelu',
  // outputs: y and the per-element slopes drawn in training (the backward pass multiplies by them)
  infer([x]) { return [x.slice(), x.slice()]; },
  run(ctx, n) {
    const x = n.inputs[0], [y, s] = n.outputs;
    const lower = n.attrs.lower as number, upper = n.attrs.upper as number;
    const size = sizeOfShape(ctx.shape(x));
    if (ctx.training) ctx.be.kernels.rreluTrain(size, ctx.ptr(x), ctx.ptr(y), ctx.ptr(s), lower, upper, ctx.be.rng);
    else runActivation(ctx, 'leakyRelu', (lower + upper) / 2, x, y);
  },
  grad(n, [dy], b) {
    return [b.node('mul', [dy!, n.outputs[1]], {}, `${n.name}_grad`)[0]];
  },
});
