// Constants and shape arithmetic: Constant, and Shape / Gather / Cast on static shapes fold to constants
// (Cast also reads float16-stored weights, and MatMulInteger / ConvInteger results as float).
import { FLOAT, type OnnxNode } from '../proto.js';
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
    // rows of a constant table by computed indices: an embedding
    const table = cx.get(n, 0);
    if (ids.dtype !== 'int32') cx.unsupported(n, 'indices computed by the graph must be an integer input');
    if (!table.konst || table.shape.length < 2) cx.unsupported(n, `gathering by computed indices from ${table.konst ? formatShape(table.shape) : `a computed value (input 0 ('${n.input[0]}'))`}: edgegrad gathers rows of a constant table (embeddings)`);
    if (cx.int(n, 'axis', 0) !== 0) cx.unsupported(n, 'gathering by computed indices along an axis other than 0');
    const [id] = cx.g.node('embedding', [cx.param(`${n.name}/table`, tensorFrom(table.konst!.data, table.shape)), ids.id], {}, n.name);
    return cx.set(n, { id, shape: [...ids.shape, ...table.shape.slice(1)] });
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

function cast(cx: ImportContext, n: OnnxNode): void {
  const v = cx.get(n, 0);
  const to = cx.int(n, 'to', FLOAT);
  if (v.id !== undefined && v.integer && to === FLOAT) return cx.set(n, { id: v.id, nhwc: v.nhwc, shape: v.shape });
  // a float value (an integer input converted at the boundary included) cast to float: itself
  if (v.id !== undefined && !v.dtype && !v.quant && to === FLOAT) return cx.set(n, v);
  // a mask (0s and 1s) cast to bool or an integer type: the same 0s and 1s
  if (v.id !== undefined && v.mask && (to === 9 || (to >= 2 && to <= 7) || to === 12 || to === 13)) return cx.set(n, v);
  if (!v.konst) cx.unsupported(n, 'only on constants (shape arithmetic, float16-stored weights) and on MatMulInteger / ConvInteger results to float');
  // integer types: UINT8..INT64 (2-7), BOOL (9), UINT32/UINT64 (12, 13)
  const toInt = (to >= 2 && to <= 7) || to === 9 || to === 12 || to === 13;
  const data = toInt ? Float32Array.from(v.konst!.data, Math.trunc) : v.konst!.data;
  cx.set(n, { shape: v.shape, konst: { data, int: toInt } });
}

export const constantFamily: Family = {
  Constant: { convert: constant },
  Shape: { convert: shape },
  Gather: { convert: gather },
  Cast: { convert: cast },
};
