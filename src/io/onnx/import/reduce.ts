// ReduceMean / ReduceSum / ReduceMax / ReduceMin over computed values (on constants they fold at import);
// ArgMax / ArgMin, int32 indices.
// The mean over a map's H and W (a global average pool written as a reduction, as PyTorch exports
// x.mean([2, 3])) is the global pooling kernel; any other axes reduce one at a time in the value's layout.
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';

const OPS: Record<string, 'mean' | 'sum' | 'max' | 'min'> = { ReduceMean: 'mean', ReduceSum: 'sum', ReduceMax: 'max', ReduceMin: 'min' };

function reduce(cx: ImportContext, n: OnnxNode): void {
  const op = OPS[n.opType];
  const x0 = cx.graphVal(n, 0), rank = x0.shape.length;
  // axes: an input from opset 13 (ReduceSum) / 18 (the others), an attribute before
  const fromInput = n.input[1] ? Array.from(cx.konst(n, 1)) : undefined;
  let axes = (fromInput ?? cx.ints(n, 'axes', [])).map((a) => {
    const ax = a < 0 ? a + rank : a;
    if (!(Number.isInteger(ax) && ax >= 0 && ax < rank)) cx.unsupported(n, `axis ${a} is outside a rank-${rank} value`);
    return ax;
  });
  if (axes.length === 0) {
    if (cx.int(n, 'noop_with_empty_axes', 0)) return cx.set(n, x0);
    axes = x0.shape.map((_, i) => i);
  }
  axes = [...new Set(axes)].sort((a, b) => a - b);
  if (axes.includes(0) && x0.shape[0] === -1) cx.unsupported(n, 'reducing the batch dimension');
  const keep = cx.int(n, 'keepdims', 1) === 1;
  const kept = x0.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const dropped = x0.shape.filter((_, i) => !axes.includes(i));
  if (x0.nhwc && op === 'mean' && axes.join() === '2,3') {
    const [gid] = cx.g.node('globalAvgPool', [x0.id!], {}, keep ? `${n.name}/gap` : n.name);
    if (!keep) return cx.set(n, { id: gid, shape: dropped });
    // [N, C] as ONNX's [N, C, 1, 1] (plain; the same bytes as an NHWC [N, 1, 1, C] map)
    const [id] = cx.g.node('reshape', [gid], { shape: kept }, n.name);
    return cx.set(n, { id, shape: kept });
  }
  // reduce in the storage layout, last axis first (each node removes one), then give the result its shape
  const x: Val = x0;
  const storage = axes.map((a) => cx.storageAxis(x, a)).sort((a, b) => b - a);
  let id = x.id!;
  storage.forEach((a, k) => { [id] = cx.g.node('reduce', [id], { op, axis: a }, `${n.name}/${k}`); });
  if (x.nhwc) {
    // a map keeps its layout with the reduced axes as 1s; without keepdims it goes to ONNX order first
    const nhwcKept = [kept[0], kept[2], kept[3], kept[1]];
    const [m] = cx.g.node('reshape', [id], { shape: nhwcKept, layout: 'map' }, keep ? n.name : `${n.name}/map`);
    if (keep) return cx.set(n, { id: m, nhwc: true, shape: kept });
    const plain = cx.asPlain({ id: m, nhwc: true, shape: kept }, n.name!);
    const [out] = cx.g.node('reshape', [plain.id!], { shape: dropped }, `${n.name}/drop`);
    return cx.set(n, { id: out, shape: dropped });
  }
  const [out] = cx.g.node('reshape', [id], { shape: keep ? kept : dropped }, n.name);
  cx.set(n, { id: out, shape: keep ? kept : dropped });
}

/**
 * ArgMax / ArgMin: the index of the first extreme along one axis (or the last: select_last_index), an int32
 * value (ONNX's int64 at the boundary); the first minimum of x is the first maximum of -x. A model output, or what an integer reader takes.
 */
function argExtreme(cx: ImportContext, n: OnnxNode): void {
  const x = cx.asPlain(cx.graphVal(n, 0), n.name!), rank = x.shape.length;
  let axis = cx.int(n, 'axis', 0);
  if (axis < 0) axis += rank;
  if (!(axis >= 0 && axis < rank)) cx.unsupported(n, `axis ${cx.int(n, 'axis', 0)} of a rank-${rank} value`);
  if (x.shape[axis] === -1) cx.unsupported(n, 'the index along the batch dimension');
  const keep = cx.int(n, 'keepdims', 1) === 1, last = cx.int(n, 'select_last_index', 0) === 1;
  let src = n.opType === 'ArgMin' ? cx.g.node('unary', [x.id!], { op: 'neg' }, `${n.name}/neg`)[0] : x.id!;
  // the last of equal extremes: the first of the axis reversed, counted from the end
  const len = x.shape[axis];
  if (last) src = cx.g.node('slice', [src], { axis, start: len - 1, end: -1, step: -1 }, `${n.name}/reversed`)[0];
  const [idx] = cx.g.node('argMax', [src], last ? { axis, reversed: true } : { axis }, keep ? `${n.name}/index` : n.name);
  const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
  if (!keep) return cx.set(n, { id: idx, shape: x.shape.filter((_, i) => i !== axis), dtype: 'int32' });
  cx.set(n, { id: cx.g.node('reshape', [idx], { shape }, n.name)[0], shape, dtype: 'int32' });
}

export const reduceFamily: Family = {
  ArgMax: { convert: argExtreme },
  ArgMin: { convert: argExtreme },
  ReduceMean: { convert: reduce },
  ReduceSum: { convert: reduce },
  ReduceMax: { convert: reduce },
  ReduceMin: { convert: reduce },
};
