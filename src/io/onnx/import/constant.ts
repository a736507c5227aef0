// Constants and shape arithmetic: Constant, and Shape / Gather / Cast on static shapes fold to constants.
// Cast / CastLike also read float16-stored weights and MatMulInteger / ConvInteger results as float, and round
// computed values to float16, bfloat16 or integers (ops/cast.ts).
import { BFLOAT16, DOUBLE, FLOAT, FLOAT16, type OnnxNode } from '../proto.js';
import { castRound, type CastTarget } from '../../../ops/cast.js';
import { integerResult } from './integer.js';
import type { Family, ImportContext, Val } from './context.js';
import { fail } from './errors.js';
import { tensorData, tensorFrom } from './tensor.js';
import { formatShape } from '../../../tensor.js';

function constant(cx: ImportContext, n: OnnxNode): void {
  const t = cx.attr(n, 'value')?.t;
  if (!t) cx.unsupported(n, 'only tensor constants (the value attribute)');
  const d = tensorData(t!, `constant '${n.name}'`);
  cx.set(n, { shape: d.dims, konst: { data: d.data, int: d.int } });
  cx.constantType(n.output[0], t!.dataType);
}

/** Shape of a computed value: its static shape (the batch as -1), from start to end (opset 15) */
function shape(cx: ImportContext, n: OnnxNode): void {
  const v = cx.get(n, 0), r = v.shape.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(cx.int(n, 'start', 0)), end = clampAxis(cx.int(n, 'end', r));
  const d = v.shape.slice(start, Math.max(start, end));
  cx.set(n, { shape: [d.length], konst: { data: Float32Array.from(d), int: true } });
}

function gather(cx: ImportContext, n: OnnxNode): void {
  const ids = cx.get(n, 1);
  if (ids.id !== undefined) {
    if (ids.dtype !== 'int32') cx.unsupported(n, 'indices computed by the graph must be an integer input');
    const table = cx.get(n, 0);
    // rows of a constant table by computed indices: an embedding
    if (table.konst && table.shape.length >= 2 && cx.int(n, 'axis', 0) === 0) {
      const [id] = cx.g.node('embedding', [cx.param(`${n.name}/table`, tensorFrom(table.konst.data, table.shape)), ids.id], {}, n.name);
      return cx.set(n, { id, shape: [...ids.shape, ...table.shape.slice(1)] });
    }
    return gatherComputed(cx, n, table, ids);
  }
  const data = cx.get(n, 0), idx = cx.konst(n, 1);
  if (data.id !== undefined && !data.nhwc && idx.length === 1) return gatherStep(cx, n, data, idx[0]);
  if (!data.konst || data.shape.length !== 1) cx.unsupported(n, 'only gathering from a constant vector (shape arithmetic)');
  const len = data.shape[0];
  const bad = Array.from(idx).find((i) => !(Number.isInteger(i) && i >= -len && i < len));
  if (bad !== undefined) fail(`node '${n.name}' (Gather): index ${bad} is outside [${-len}, ${len})`);
  const out = Array.from(idx, (i) => data.konst!.data[i < 0 ? i + len : i]);
  cx.set(n, { shape: cx.get(n, 1).shape, konst: { data: Float32Array.from(out), int: data.konst!.int } });
}

/**
 * Computed indices along any axis of a value (a constant one is a trainable weight): the gather op, the
 * indices' shape in place of the axis. The axis may not be the batch, and indices with a batch of their own
 * may not meet a value that has one (the result would have two).
 */
function gatherComputed(cx: ImportContext, n: OnnxNode, data: Val, ids: Val): void {
  const x = data.konst ? { id: cx.param(`${n.name}/data`, tensorFrom(data.konst.data, data.shape.length ? data.shape : [1])), shape: data.shape } : cx.asPlain(data, n.name!);
  const rank = x.shape.length;
  let axis = cx.int(n, 'axis', 0);
  if (axis < 0) axis += rank;
  if (!(axis >= 0 && axis < rank)) cx.unsupported(n, `axis ${cx.int(n, 'axis', 0)} of a rank-${rank} value`);
  if (x.shape[axis] === -1) cx.unsupported(n, 'gathering along the batch dimension');
  if (x.shape.includes(-1) && ids.shape.includes(-1)) cx.unsupported(n, `indices ${formatShape(ids.shape)} with a batch of their own, from ${formatShape(x.shape)} which has one`);
  const [id] = cx.g.node('gather', [x.id!, ids.id!], { axis }, n.name);
  cx.set(n, { id, shape: [...x.shape.slice(0, axis), ...ids.shape, ...x.shape.slice(axis + 1)] });
}

/**
 * One constant index of a computed value along an axis that is not the batch (PyTorch's y[:, -1, :], the last
 * step of a sequence): a slice, and a scalar index drops the axis.
 */
function gatherStep(cx: ImportContext, n: OnnxNode, x: Val, i0: number): void {
  let axis = cx.int(n, 'axis', 0);
  if (axis < 0) axis += x.shape.length;
  const len = x.shape[axis];
  if (len === -1) cx.unsupported(n, 'gathering along the batch dimension');
  if (!(Number.isInteger(i0) && i0 >= -len && i0 < len)) fail(`node '${n.name}' (Gather): index ${i0} is outside [${-len}, ${len})`);
  const i = i0 < 0 ? i0 + len : i0;
  const [id] = cx.g.node('slice', [x.id!], { axis, start: i, end: i + 1 }, `${n.name}/slice`);
  const shape = x.shape.slice();
  if (cx.get(n, 1).shape.length === 0) shape.splice(axis, 1); else shape[axis] = 1;
  cx.set(n, { id: cx.g.node('reshape', [id], { shape }, n.name)[0], shape });
}

// ONNX's element types a Cast reaches: the float types (float32 inside; float16 and bfloat16 rounded to
// theirs, see ops/cast.ts), the integer types (UINT8..INT64, UINT32, UINT64: integers held exactly in
// float), BOOL (0 or 1). STRING and the 8-bit float types are not numbers edgegrad holds.
const FLOAT_TYPES = new Set([FLOAT, FLOAT16, DOUBLE, BFLOAT16]);
const BOOL = 9, STRING = 8;
const isInteger = (to: number) => (to >= 2 && to <= 7) || to === 12 || to === 13;

/** How a cast to ONNX type `to` rounds a float32 value (undefined: float32 and double hold it as it is). */
function castTarget(to: number): CastTarget | undefined {
  return to === FLOAT16 ? 'float16' : to === BFLOAT16 ? 'bfloat16' : to === BOOL ? 'bool' : isInteger(to) ? 'integer' : undefined;
}

/** Constant values cast to ONNX type `to` (Cast / CastLike on constants, and constant folding). */
export function castValues<T extends Float32Array | Float64Array>(data: T, to: number): { data: T; int: boolean } {
  const target = castTarget(to), out = data.slice() as T;
  if (target) castRound(out, out, target);
  return { data: out, int: to === BOOL || isInteger(to) };
}

function cast(cx: ImportContext, n: OnnxNode): void {
  castTo(cx, n, cx.int(n, 'to', FLOAT));
}

/** CastLike (opset 15): a Cast to the element type of input 1, known where the file declares it. */
function castLike(cx: ImportContext, n: OnnxNode): void {
  const to = cx.elemType(n.input[1]);
  if (to === undefined) cx.unsupported(n, `the type of input 1 ('${n.input[1]}') is not known at load (edgegrad knows those of graph inputs, initializers, Constants and Casts)`);
  castTo(cx, n, to!);
}

function castTo(cx: ImportContext, n: OnnxNode, to: number): void {
  if (to === STRING) cx.unsupported(n, 'casting to strings: edgegrad computes numbers, and string tensors are out of its scope');
  if (!FLOAT_TYPES.has(to) && to !== BOOL && !isInteger(to)) cx.unsupported(n, `casting to ONNX type ${to}: edgegrad casts to float, float16, bfloat16, double, bool and the integer types`);
  cx.constantType(n.output[0], to);
  const v = cx.get(n, 0);
  const target = castTarget(to);
  if (v.konst) return cx.set(n, { shape: v.shape, konst: castValues(v.konst.data, to) });
  if (v.id === undefined || v.dtype || v.quant) return cx.unsupported(n, 'only on float values, constants and MatMulInteger / ConvInteger results');
  // a mask (0s and 1s) cast to bool or an integer type: the same 0s and 1s
  if (v.mask && (target === 'bool' || target === 'integer')) return cx.set(n, v);
  const plain: Val = { id: v.id, nhwc: v.nhwc, shape: v.shape, ...(v.mask ? { mask: true } : {}) };
  // float32 / double hold a float value (integers and an integer input converted at the boundary included)
  // as it is: the value itself
  if (!target) return cx.set(n, plain);
  // to an integer type: integers held in float, of that type (Val.itype), truncated toward zero and wrapped to
  // 8 or 16 bits as every integer result is (integer.ts)
  if (target === 'integer') return cx.set(n, { id: integerResult(cx, n, v.id, to, 'trunc'), nhwc: v.nhwc, shape: v.shape, itype: to });
  // to float16 / bfloat16, the value rounded to that type; to bool, 0s and 1s (a mask, read by the logic ops)
  const [id] = cx.g.node('cast', [v.id], { to: target }, n.name);
  cx.set(n, { id, nhwc: v.nhwc, shape: v.shape, ...(target === 'bool' ? { mask: true } : {}) });
}

export const constantFamily: Family = {
  Constant: { convert: constant },
  Shape: { convert: shape },
  Gather: { convert: gather },
  Cast: { convert: cast },
  CastLike: { convert: castLike },
};
