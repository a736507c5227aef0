// Reductions: sum, mean, max, min over axes, argMax; gradients. Kernels: assembly/reduce.ts.
import { Red } from '../backend/kernels.js';
import { arr, fail, formatShape, input, sizeOf, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type RunContext } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import type { DeviceIndexing } from '../backend/webgpu/indexing.js';

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
  if (t.shape[axis] === 0 && (op === 'max' || op === 'min')) fail(op, `cannot take the ${op} of an empty axis ${axis} of ${formatShape(t.shape)}`);
  return runEager('reduce', [t], { op, axis })[0];
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
  if (t.shape[a] === 0) fail('argMax', `axis ${a} of ${formatShape(t.shape)} is empty`);
  return runEager('argMax', [t], { axis: a })[0];
}

/** Gradient of a single-axis reduction: dy has the reduced shape (without keepDims). */
export function reduceGrad(op: ReduceOp, x: Tensor, axis: number, dy: Tensor): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (dy.size !== sizeOf(x.shape.slice(0, a)) * sizeOf(x.shape.slice(a + 1))) fail(`${op}Grad`, `dy ${formatShape(dy.shape)} does not match the reduction of ${formatShape(x.shape)} over axis ${a}`);
  return runEager('reduceGrad', [x, dy], { op, axis: a })[0];
}

// ---- graph ops: one axis as an [outer, n, inner] view ----

/** [outer, n, inner] of `shape` around `axis`. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** The reduction kernel call (reduce ops, global average pooling). */
export function runReduce(ctx: RunContext, op: ReduceOp, [outer, n, inner]: readonly number[], x: number, y: number): void {
  ctx.be.kernels.reduce(Red[op], outer, n, inner, ctx.ptr(x), ctx.ptr(y));
}

/** Its gradient's kernel call. */
export function runReduceGrad(ctx: RunContext, op: ReduceOp, [outer, n, inner]: readonly number[], x: number, dy: number, dx: number): void {
  ctx.be.kernels.reduceBackward(Red[op], outer, n, inner, ctx.ptr(x), ctx.ptr(dy), ctx.ptr(dx));
}

registerOp({
  name: 'reduce',
  infer([x], a) { const k = a.axis as number; return [[...x.slice(0, k), ...x.slice(k + 1)]]; },
  // sum / mean spread dy back over the axis; max / min route it to the first extreme (reduceBackward)
  grad(n, [dy], b) { return [b.node('reduceGrad', [n.inputs[0], dy!], { op: n.attrs.op, axis: n.attrs.axis }, `${n.name}/grad`)[0]]; },
  run(ctx, n) {
    const x = n.inputs[0];
    runReduce(ctx, n.attrs.op as ReduceOp, around(ctx.shape(x), n.attrs.axis as number), x, n.outputs[0]);
  },
});

registerOp({
  name: 'argMax',
  // attrs: axis, and reversed (the input is the value reversed along the axis: the index of its first
  // extreme counted from the end is the original's last extreme, ONNX's select_last_index)
  infer([x], a) { const k = a.axis as number; return [[...x.slice(0, k), ...x.slice(k + 1)]]; },
  outputDtype: () => 'int32',
  run(ctx, n) {
    const [outer, len, inner] = around(ctx.shape(n.inputs[0]), n.attrs.axis as number);
    const y = ctx.ptr(n.outputs[0]);
    ctx.be.kernels.argmax(outer, len, inner, ctx.ptr(n.inputs[0]), y);
    if (!n.attrs.reversed) return;
    const dev = ctx.be.syncRead ? undefined : (ctx.be as { indexing?: DeviceIndexing }).indexing;
    if (dev) return dev.argReverse(outer * inner, len, y);
    if (!ctx.be.syncRead) fail('argMax', `node '${n.name}': the last of equal extremes is counted on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
    const idx = ctx.be.i32(y, outer * inner);
    for (let i = 0; i < idx.length; i++) idx[i] = len - 1 - idx[i];
  },
});

registerOp({
  name: 'reduceGrad',
  // inputs: x and dy (the reduced shape); output dx
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const [x, dy] = n.inputs;
    runReduceGrad(ctx, n.attrs.op as ReduceOp, around(ctx.shape(x), n.attrs.axis as number), x, dy, n.outputs[0]);
  },
});

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
