// Reductions: sum, mean, max, min over axes, argMax; gradients. Kernels: assembly/reduce.ts.
import { Red } from '../backend/wasm/kernels.js';
import { arr, backend, fail, formatShape, input, sizeOf, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';

export type ReduceOp = keyof typeof Red;

function normAxes(axis: number | number[] | undefined, rank: number, op: string): number[] {
  const list = axis === undefined ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) fail(op, `axis ${a} is out of range for rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  return [...new Set(out)].sort((p, q) => q - p);
}

/** Reduce one axis: [outer, n, inner] view. */
function reduceAxis(op: ReduceOp, t: Tensor, axis: number): Tensor {
  const outer = sizeOf(t.shape.slice(0, axis)), n = t.shape[axis], inner = sizeOf(t.shape.slice(axis + 1));
  if (n === 0 && (op === 'max' || op === 'min')) fail(op, `cannot take the ${op} of an empty axis ${axis} of ${formatShape(t.shape)}`);
  const y = Tensor.empty([...t.shape.slice(0, axis), ...t.shape.slice(axis + 1)]);
  backend().kernels.reduce(Red[op], outer, n, inner, t.ptr, y.ptr);
  return y;
}

export function reduce(op: ReduceOp, x: Tensor | TensorLike, axis?: number | number[], keepDims = false): Tensor {
  const t = input(x, op, 'x');
  const axes = normAxes(axis, t.rank, op);
  let cur = t;
  for (const a of axes) {
    const next = reduceAxis(op, cur, a);
    if (cur !== t) cur.dispose();
    cur = next;
  }
  if (cur === t) cur = t.clone();
  if (keepDims) {
    const shape = t.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const k = cur.reshape(shape);
    cur.dispose();
    return k;
  }
  return cur;
}

export const sum = (x: Tensor | TensorLike, axis?: number | number[], keepDims = false) => reduce('sum', x, axis, keepDims);
export const mean = (x: Tensor | TensorLike, axis?: number | number[], keepDims = false) => reduce('mean', x, axis, keepDims);
export const max = (x: Tensor | TensorLike, axis?: number | number[], keepDims = false) => reduce('max', x, axis, keepDims);
export const min = (x: Tensor | TensorLike, axis?: number | number[], keepDims = false) => reduce('min', x, axis, keepDims);

/** Index of the first maximum along `axis` (default: the last), int32. */
export function argMax(x: Tensor | TensorLike, axis = -1): Tensor {
  const t = input(x, 'argMax', 'x');
  const [a] = normAxes(axis, t.rank, 'argMax');
  const outer = sizeOf(t.shape.slice(0, a)), n = t.shape[a], inner = sizeOf(t.shape.slice(a + 1));
  if (n === 0) fail('argMax', `axis ${a} of ${formatShape(t.shape)} is empty`);
  const y = Tensor.empty([...t.shape.slice(0, a), ...t.shape.slice(a + 1)], 'int32');
  backend().kernels.argmax(outer, n, inner, t.ptr, y.ptr);
  return y;
}

/** Gradient of a single-axis reduction: dy has the reduced shape (without keepDims). */
export function reduceGrad(op: ReduceOp, x: Tensor, axis: number, dy: Tensor): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  const outer = sizeOf(x.shape.slice(0, a)), n = x.shape[a], inner = sizeOf(x.shape.slice(a + 1));
  if (dy.size !== outer * inner) fail(`${op}Grad`, `dy ${formatShape(dy.shape)} does not match the reduction of ${formatShape(x.shape)} over axis ${a}`);
  const dx = Tensor.empty(x.shape);
  backend().kernels.reduceBackward(Red[op], outer, n, inner, x.ptr, dy.ptr, dx.ptr);
  return dx;
}

export function refReduce(op: ReduceOp, x: Arr, axis: number): Arr {
  const outer = sizeOf(x.shape.slice(0, axis)), n = x.shape[axis], inner = sizeOf(x.shape.slice(axis + 1));
  const out = arr([...x.shape.slice(0, axis), ...x.shape.slice(axis + 1)]);
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) {
    let acc = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
    for (let i = 0; i < n; i++) {
      const v = x.data[(o * n + i) * inner + j];
      acc = op === 'max' ? Math.max(acc, v) : op === 'min' ? Math.min(acc, v) : acc + v;
    }
    out.data[o * inner + j] = op === 'mean' ? acc / n : acc;
  }
  return out;
}
