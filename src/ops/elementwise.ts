// Elementwise binary ops with broadcasting (add, sub, mul, div, maximum, minimum), their gradients
// (which sum over broadcast axes), and unary math. Kernels: assembly/elementwise.ts.
import { Bin, Un } from '../backend/kernels.js';
import { arr, fail, formatShape, input, sizeOf, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type RunContext } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import { activation, actBackward } from './activation.js';
import { fillValue } from './shape.js';
import { sizeOfShape } from '../graph/ir.js';

export type BinaryOp = keyof typeof Bin;

/** NumPy broadcasting: align shapes on the right; each pair of dims is equal or one of them is 1. */
export function broadcastShape(a: readonly number[], b: readonly number[], op: string): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) fail(op, `shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (axis ${i}: ${da} vs ${db})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Element strides of `shape` seen through the broadcast to `out` (0 on broadcast axes). */
function stridesIn(shape: readonly number[], out: readonly number[]): number[] {
  const r = out.length;
  const st = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    const d = shape[shape.length - r + i] ?? 1;
    st[i] = d === 1 && out[i] !== 1 ? 0 : s;
    s *= d;
  }
  return st;
}

/** Merge neighbouring axes that every operand walks the same way; keeps descriptors small and loops long. */
function collapse(shape: number[], strides: number[][]): [number[], number[][]] {
  const sh = [shape[0]];
  const st = strides.map((s) => [s[0]]);
  for (let i = 1; i < shape.length; i++) {
    const last = sh.length - 1;
    const mergeable = strides.every((s, k) => st[k][last] === s[i] * shape[i]);
    if (mergeable) {
      sh[last] *= shape[i];
      strides.forEach((s, k) => { st[k][last] = s[i]; });
    } else {
      sh.push(shape[i]);
      strides.forEach((s, k) => st[k].push(s[i]));
    }
  }
  return [sh, st];
}

export function binary(op: BinaryOp, a: Tensor | TensorLike, b: Tensor | TensorLike): Tensor {
  const ta = input(a, op, 'a'), tb = input(b, op, 'b');
  return runEager(op, [ta, tb])[0];
}

export const add = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('add', a, b);
export const sub = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('sub', a, b);
export const mul = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('mul', a, b);
export const div = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('div', a, b);
export const maximum = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('max', a, b);
export const minimum = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('min', a, b);
/** a ** b elementwise, broadcasting (C's pow: a negative base takes integer exponents only, else NaN). */
export const pow = (a: Tensor | TensorLike, b: Tensor | TensorLike) => binary('pow', a, b);

/** Sum `big` down to `shape` (the adjoint of broadcasting `shape` up to big's shape). */
export function sumToShape(big: Tensor, shape: readonly number[]): Tensor {
  if (sizeOf(shape) === big.size) return big.reshape(shape);
  broadcastShape(shape, big.shape, 'sumToShape');
  return runEager('sumToShape', [big], { shape: shape.slice() })[0];
}

/** Gradients of a op b for upstream dy, each summed to its operand's shape. */
export function binaryGrad(op: BinaryOp, a: Tensor, b: Tensor, dy: Tensor): { da: Tensor; db: Tensor } {
  const take = (t: Tensor, shape: readonly number[]) => { const r = sumToShape(t, shape); if (r !== t) t.dispose(); return r; };
  switch (op) {
    case 'add': return { da: sumToShape(dy, a.shape), db: sumToShape(dy, b.shape) };
    case 'sub': return { da: sumToShape(dy, a.shape), db: take(binary('mul', dy, -1), b.shape) };
    case 'mul': return { da: take(binary('mul', dy, b), a.shape), db: take(binary('mul', dy, a), b.shape) };
    case 'div': {
      // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
      const da = take(binary('div', dy, b), a.shape);
      const q = binary('div', a, b);
      const t = binary('mul', dy, q);
      q.dispose();
      const t2 = binary('div', t, b);
      t.dispose();
      const neg = unary('neg', t2);
      t2.dispose();
      return { da, db: take(neg, b.shape) };
    }
    case 'pow': {
      // d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
      const bm1 = binary('sub', b, 1), p = binary('pow', a, bm1), g = binary('mul', dy, b), ga = binary('mul', g, p);
      const y = binary('pow', a, b), la = unary('log', a), gy = binary('mul', dy, y), gb = binary('mul', gy, la);
      [bm1, p, g, y, la, gy].forEach((t) => t.dispose());
      return { da: take(ga, a.shape), db: take(gb, b.shape) };
    }
    default: {
      // max/min: the gradient goes to the operand that was selected (a on ties)
      const sel = binary(op, a, b);
      const ea = equalMask(a, sel), eb = binary('sub', 1, ea);
      const da = take(binary('mul', dy, ea), a.shape), db = take(binary('mul', dy, eb), b.shape);
      [sel, ea, eb].forEach((t) => t.dispose());
      return { da, db };
    }
  }
}

function equalMask(a: Tensor, sel: Tensor): Tensor {
  // 1 where a (broadcast) equals the selected value: 1 - sign(|sel - a|), in ops (on every backend)
  const diff = binary('sub', sel, a), d = unary('abs', diff), s = activation(d, 'sign');
  const mask = binary('sub', 1, s);
  [diff, d, s].forEach((t) => t.dispose());
  return mask;
}

export type UnaryOp = keyof typeof Un;

export function unary(op: UnaryOp, x: Tensor | TensorLike): Tensor {
  const t = input(x, op, 'x');
  if (Un[op] === undefined) fail('unary', `unknown op '${String(op)}' (expected one of ${Object.keys(Un).join(', ')})`);
  return runEager('unary', [t], { op })[0];
}

export const neg = (x: Tensor | TensorLike) => unary('neg', x);
export const abs = (x: Tensor | TensorLike) => unary('abs', x);
export const exp = (x: Tensor | TensorLike) => unary('exp', x);
export const log = (x: Tensor | TensorLike) => unary('log', x);
export const sqrt = (x: Tensor | TensorLike) => unary('sqrt', x);
export const square = (x: Tensor | TensorLike) => unary('square', x);
export const reciprocal = (x: Tensor | TensorLike) => unary('reciprocal', x);

/** erf(x), the error function, elementwise (ONNX Erf). */
export function erf(x: Tensor | TensorLike): Tensor {
  return runEager('erf', [input(x, 'erf', 'x')])[0];
}

/** Reference broadcasting binary op in float64. */
export function refBinary(op: BinaryOp, a: Arr, b: Arr): Arr {
  const shape = broadcastShape(a.shape, b.shape, 'ref');
  const out = arr(shape);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  const at = (t: Arr) => {
    let off = 0, s = 1;
    for (let i = r - 1; i >= 0; i--) {
      const d = t.shape[t.shape.length - r + i] ?? 1;
      off += (d === 1 ? 0 : idx[i]) * s;
      s *= d;
    }
    return t.data[off];
  };
  for (let k = 0; k < out.data.length; k++) {
    let rem = k;
    for (let i = r - 1; i >= 0; i--) { idx[i] = rem % shape[i]; rem = Math.floor(rem / shape[i]); }
    const x = at(a), y = at(b);
    out.data[k] = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : op === 'div' ? x / y : op === 'max' ? Math.max(x, y) : op === 'pow' ? Math.pow(x, y) : Math.min(x, y);
  }
  return out;
}

// ---- graph ops: broadcasting add / mul, and the sum back to an operand's shape ----

function runBinary(ctx: RunContext, op: BinaryOp, a: number, b: number, out: number): void {
  const shape = ctx.shape(out);
  if (sizeOfShape(shape) === 0) return;
  const full = shape.length ? shape : [1];
  const [sh, [sa, sb]] = collapse(full, [stridesIn(ctx.shape(a), full), stridesIn(ctx.shape(b), full)]);
  if (sh.length > 8) fail(op, `broadcast of ${formatShape(ctx.shape(a))} and ${formatShape(ctx.shape(b))} needs more than 8 axes`);
  ctx.be.kernels.binary(Bin[op], sh.length, ctx.be.descriptor([...sh, ...sa, ...sb]), ctx.ptr(a), ctx.ptr(b), ctx.ptr(out));
}

for (const op of ['add', 'sub', 'mul', 'div'] as const) {
  registerOp({
    name: op,
    infer([a, b], _attrs, node) {
      // the batch dimension (-1) broadcasts like any other equal dimension
      try { return [broadcastShape(a, b, op)]; } catch (e) { throw new Error(`${(e as Error).message} (node '${node}')`); }
    },
    run(ctx, n) { runBinary(ctx, op, n.inputs[0], n.inputs[1], n.outputs[0]); },
    grad(n, [dy], b) {
      const [x, y] = n.inputs;
      const toShape = (g: number, like: number) => {
        const s = b.shape(like), gs = b.shape(g);
        return s.length === gs.length && s.every((d, i) => d === gs[i]) ? g : b.node('sumToShape', [g, like], {}, `${n.name}_sum`)[0];
      };
      if (op === 'add') return [b.needs(x) ? toShape(dy!, x) : undefined, b.needs(y) ? toShape(dy!, y) : undefined];
      if (op === 'sub') {
        return [b.needs(x) ? toShape(dy!, x) : undefined, b.needs(y) ? toShape(b.node('mul', [dy!, b.node('constant', [], { value: -1 })[0]], {}, `${n.name}_neg`)[0], y) : undefined];
      }
      if (op === 'div') {
        // d(x/y)/dx = 1/y, d(x/y)/dy = -(x/y)/y
        const q = n.outputs[0];
        return [
          b.needs(x) ? toShape(b.node('div', [dy!, y], {}, `${n.name}_dx`)[0], x) : undefined,
          b.needs(y) ? toShape(b.node('mul', [b.node('div', [b.node('mul', [dy!, q], {}, `${n.name}_dq`)[0], y], {}, `${n.name}_dqy`)[0], b.node('constant', [], { value: -1 })[0]], {}, `${n.name}_dy`)[0], y) : undefined,
        ];
      }
      return [
        b.needs(x) ? toShape(b.node('mul', [dy!, y], {}, `${n.name}_da`)[0], x) : undefined,
        b.needs(y) ? toShape(b.node('mul', [dy!, x], {}, `${n.name}_db`)[0], y) : undefined,
      ];
    },
    flops: (_i, [o]) => sizeOfShape(o),
  });
}

// maximum / minimum: the gradient goes to the operand that won (to a on a tie, as binaryGrad), through a
// 0/1 mask; pow: b a^(b-1) to a, a^b ln a to b
for (const op of ['max', 'min', 'pow'] as const) {
  registerOp({
    name: op,
    infer([a, b], _attrs, node) {
      try { return [broadcastShape(a, b, op)]; } catch (e) { throw new Error(`${(e as Error).message} (node '${node}')`); }
    },
    run(ctx, n) { runBinary(ctx, op, n.inputs[0], n.inputs[1], n.outputs[0]); },
    grad(n, [dy], b) {
      const [x, y] = n.inputs, nm = n.name;
      const toShape = (g: number, like: number) => {
        const s = b.shape(like), gs = b.shape(g);
        return s.length === gs.length && s.every((d, i) => d === gs[i]) ? g : b.node('sumToShape', [g, like], {}, `${nm}_sum`)[0];
      };
      if (op === 'pow') {
        const one = b.node('constant', [], { value: 1 })[0];
        const dx = () => b.node('mul', [b.node('mul', [dy!, y], {}, `${nm}_dyb`)[0], b.node('pow', [x, b.node('sub', [y, one], {}, `${nm}_bm1`)[0]], {}, `${nm}_pbm1`)[0]], {}, `${nm}_dx`)[0];
        const dyb = () => b.node('mul', [b.node('mul', [dy!, n.outputs[0]], {}, `${nm}_dyy`)[0], b.node('unary', [x], { op: 'log' }, `${nm}_loga`)[0]], {}, `${nm}_dy`)[0];
        return [b.needs(x) ? toShape(dx(), x) : undefined, b.needs(y) ? toShape(dyb(), y) : undefined];
      }
      // step(y - x) is 1 where y > x: y won a max (step(x - y), a min); x keeps the rest, ties included
      const ywins = b.node('activation', [b.node('sub', op === 'max' ? [y, x] : [x, y], {}, `${nm}_diff`)[0]], { activation: 'step' }, `${nm}_ywins`)[0];
      const dyy = b.node('mul', [dy!, ywins], {}, `${nm}_dy`)[0];
      return [b.needs(x) ? toShape(b.node('sub', [dy!, dyy], {}, `${nm}_dx`)[0], x) : undefined, b.needs(y) ? toShape(dyy, y) : undefined];
    },
    flops: (_i, [o]) => sizeOfShape(o),
  });
}

registerOp({
  name: 'unary',
  infer([x]) { return [x.slice()]; },
  grad(n, [dy], b) {
    const [x] = n.inputs, y = n.outputs[0], nm = n.name;
    const mul = (p: number, q: number, k: string) => b.node('mul', [p, q], {}, `${nm}_${k}`)[0];
    const minus = (p: number) => b.node('unary', [p], { op: 'neg' }, `${nm}_neg`)[0];
    switch (n.attrs.op as UnaryOp) {
      case 'neg': return [minus(dy!)];
      case 'abs': return [mul(dy!, b.node('activation', [x], { activation: 'sign' }, `${nm}_sign`)[0], 'dx')];
      case 'exp': return [mul(dy!, y, 'dx')];
      case 'log': return [b.node('div', [dy!, x], {}, `${nm}_dx`)[0]];
      case 'sqrt': return [b.node('div', [dy!, b.node('add', [y, y], {}, `${nm}_2y`)[0]], {}, `${nm}_dx`)[0]];
      case 'square': return [mul(dy!, b.node('add', [x, x], {}, `${nm}_2x`)[0], 'dx')];
      case 'reciprocal': return [minus(mul(dy!, mul(y, y, 'y2'), 'dy2'))];
    }
  },
  run(ctx, n) {
    ctx.be.kernels.unary(Un[n.attrs.op as UnaryOp], sizeOfShape(ctx.shape(n.inputs[0])), ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
  },
  flops: ([x]) => sizeOfShape(x),
});

/** The same-shape product's kernel call: out = a * b over n elements (any of them may alias). */
function mulSame(ctx: RunContext, n: number, a: number, b: number, out: number): void {
  ctx.be.kernels.binary(Bin.mul, 1, ctx.be.descriptor([n, 1, 1]), a, b, out);
}

/**
 * erf from the kernels every backend has (no erf kernel of its own until the next wasm build): GELU's
 * derivative is gelu'(t) = Phi(t) + t phi(t), evaluated in float64 by the wasm kernel, so with t = sqrt2 x,
 * erf(x) = 2 Phi(t) - 1 = 2 gelu'(t) - (2 / sqrt pi) x exp(-x^2) - 1: no cancellation beyond a few float32
 * roundings (|error| < 5e-7). x is clamped to [-6, 6] first (erf there is +-1 in float32), so infinities
 * give +-1 and not inf * 0. Gradient: (2 / sqrt pi) exp(-x^2) (erfGrad).
 */
registerOp({
  name: 'erf',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const k = ctx.be.kernels, len = sizeOfShape(ctx.shape(n.inputs[0])), x = ctx.ptr(n.inputs[0]), y = ctx.ptr(n.outputs[0]);
    if (len === 0) return;
    const t = ctx.be.workspace(8 * len), g = t + 4 * len;
    k.affine(len, x, 1, 0, y);
    k.clampValues(len, y, -6, 6);
    k.affine(len, y, Math.SQRT2, 0, t);
    fillValue(ctx, len, g, 1);
    actBackward(ctx.be, 'gelu', len, t, 0, g, g);
    // t = x exp(-x^2)
    k.unary(Un.square, len, y, t);
    k.affine(len, t, -1, 0, t);
    k.unary(Un.exp, len, t, t);
    mulSame(ctx, len, t, y, t);
    k.affine(len, g, 2, -1, y);
    k.axpy(len, -2 / Math.sqrt(Math.PI), t, y);
  },
  grad(n, [dy], b) {
    return [b.node('erfGrad', [n.inputs[0], dy!], {}, `${n.name}_grad`)[0]];
  },
  flops: ([x]) => 12 * sizeOfShape(x),
});

registerOp({
  name: 'erfGrad',
  // dx = dy (2 / sqrt pi) exp(-x^2)
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const k = ctx.be.kernels, len = sizeOfShape(ctx.shape(n.inputs[0])), dx = ctx.ptr(n.outputs[0]);
    if (len === 0) return;
    k.unary(Un.square, len, ctx.ptr(n.inputs[0]), dx);
    k.affine(len, dx, -1, 0, dx);
    k.unary(Un.exp, len, dx, dx);
    mulSame(ctx, len, dx, ctx.ptr(n.inputs[1]), dx);
    k.affine(len, dx, 2 / Math.sqrt(Math.PI), 0, dx);
  },
});

registerOp({
  name: 'sumToShape',
  // inputs: the big gradient and a value of the target shape (or attrs.shape, eager)
  infer([, like], attrs) { return [(attrs.shape as number[] | undefined)?.slice() ?? like.slice()]; },
  run(ctx, n) {
    const big = n.inputs[0];
    const bigShape = ctx.shape(big), shape = ctx.shape(n.outputs[0]);
    const full = bigShape.length ? bigShape : [1];
    const [sh, [ss]] = collapse(full, [stridesIn(shape, full)]);
    ctx.be.kernels.sumToShape(sh.length, ctx.be.descriptor([...sh, ...ss]), ctx.ptr(big), ctx.ptr(n.outputs[0]), sizeOfShape(shape));
  },
});

registerOp({
  name: 'constant',
  // a scalar fill (gradient rules use it for signs)
  infer() { return [[1]]; },
  run(ctx, n) { fillValue(ctx, 1, ctx.ptr(n.outputs[0]), n.attrs.value as number); },
});
