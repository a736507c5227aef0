// pool as MaxPool / AveragePool (bottom / right pads from the output size), poolNd as itself, globalAvgPool as
// GlobalAveragePool + Flatten (edgegrad's is [N, C], ONNX's [N, C, 1, 1]), reduce as ReduceMean / Sum / Max /
// Min over its one axis and argMax as ArgMax (of a map: over the NHWC bytes it reduces, after a Transpose to them).
import { poolGeometry } from '../../../ops/pool.js';
import type { PoolNdAttrs } from '../../../ops/pool-nd.js';
import type { Padding } from '../../../ops/conv.js';
import { attrInt, attrInts, type ExportFamily } from './context.js';

export const poolFamily: ExportFamily = {
  pool: (cx, n) => {
    const a = n.attrs, x = n.inputs[0];
    const geo = poolGeometry(cx.shapeOf(x), a.filterSize as [number, number], a.strides as [number, number], a.pad as Padding, 'toOnnx');
    const pb = (geo.OH - 1) * geo.SH + geo.KH - geo.H - geo.PT, pr = (geo.OW - 1) * geo.SW + geo.KW - geo.W - geo.PL;
    cx.setOut(n, cx.emit(a.kind === 'max' ? 'MaxPool' : 'AveragePool', [cx.valueName(x)], [
      attrInts('kernel_shape', [geo.KH, geo.KW]), attrInts('strides', [geo.SH, geo.SW]), attrInts('pads', [geo.PT, geo.PL, Math.max(0, pb), Math.max(0, pr)]),
    ], n.name), true);
  },
  // the general pool (ONNX's layout already) as itself: dilations, ceil mode, the padding counted or not,
  // and MaxPool's Indices as its second output (int64 in the file, as edgegrad's int32 outputs are written)
  poolNd: (cx, n, out) => {
    const a = n.attrs as unknown as PoolNdAttrs, max = a.kind === 'max';
    const attrs = [attrInts('kernel_shape', a.kernel), attrInts('strides', a.strides), attrInts('pads', a.pads), attrInt('ceil_mode', a.ceil ? 1 : 0)];
    if (max || a.dilations.some((d) => d !== 1)) attrs.push(attrInts('dilations', a.dilations));
    if (!max) attrs.push(attrInt('count_include_pad', a.countIncludePad ? 1 : 0));
    if (a.storageOrder !== undefined) attrs.push(attrInt('storage_order', a.storageOrder));
    const y = out ?? cx.unique(`${n.name}_out`), outputs = [y];
    if (a.storageOrder !== undefined) outputs.push(cx.unique(`${n.name}_indices`));
    cx.nodes.push({ opType: max ? 'MaxPool' : 'AveragePool', name: cx.unique(n.name), input: [cx.valueName(n.inputs[0])], output: outputs, attribute: attrs });
    cx.setOut(n, y);
    if (outputs[1]) cx.onnxName.set(n.outputs[1], outputs[1]);
  },
  reduce: (cx, n, out) => {
    const x = n.inputs[0], axis = n.attrs.axis as number;
    let src = cx.valueName(x);
    if (cx.isMap.has(x)) src = cx.emit('Transpose', [src], [attrInts('perm', [0, 2, 3, 1])], `${n.name}/to_nhwc`);
    const op = { mean: 'ReduceMean', sum: 'ReduceSum', max: 'ReduceMax', min: 'ReduceMin' }[n.attrs.op as string]!;
    // opset 17: ReduceSum reads its axes from an input, the others from an attribute
    const node = op === 'ReduceSum'
      ? cx.emit(op, [src, cx.intInit(`${n.name}/axes`, [axis])], [attrInt('keepdims', 0)], n.name, out)
      : cx.emit(op, [src], [attrInts('axes', [axis]), attrInt('keepdims', 0)], n.name, out);
    cx.setOut(n, node);
  },
  // the index of the first maximum (ONNX's int64; edgegrad's int32 inside), over the bytes it ran on
  argMax: (cx, n, out) => {
    const x = n.inputs[0];
    let src = cx.valueName(x);
    if (cx.isMap.has(x)) src = cx.emit('Transpose', [src], [attrInts('perm', [0, 2, 3, 1])], `${n.name}/to_nhwc`);
    const axis = n.attrs.axis as number;
    if (!n.attrs.reversed) return cx.setOut(n, cx.emit('ArgMax', [src], [attrInt('axis', axis), attrInt('keepdims', 0)], n.name, out));
    // the first extreme of the reversed axis, counted from the end (select_last_index of the unreversed value)
    const j = cx.emit('ArgMax', [src], [attrInt('axis', axis), attrInt('keepdims', 0)], `${n.name}/reversed`);
    cx.setOut(n, cx.emit('Sub', [cx.intInit(`${n.name}/last`, [cx.shapeOf(x)[axis] - 1]), j], [], n.name, out));
  },
  globalAvgPool: (cx, n, out) => {
    const gap = cx.emit('GlobalAveragePool', [cx.valueName(n.inputs[0])], [], n.name);
    cx.setOut(n, cx.emit('Flatten', [gap], [attrInt('axis', 1)], `${n.name}/flatten`, out));
  },
};
