// conv2d as Conv (filter written OIHW, explicit pads), and qconv2d as Conv on QDQ input, weights and bias;
// a fused activation follows as its own node.
import type { Node } from '../../../graph/ir.js';
import { convGeometry, type Padding } from '../../../ops/conv.js';
import type { QWeights } from '../../../ops/quant.js';
import { emitActivation } from './activation.js';
import { attrInt, attrInts, fail, type ExportContext, type ExportFamily } from './context.js';
import { int32Bias, qdqInput } from './quant.js';

/** the attributes of Conv for node n over input x with filter shape wShape (group: its own, or 1) */
function convAttrs(cx: ExportContext, n: Node, x: number, wShape: number[], group1: boolean): unknown[] {
  const a = n.attrs;
  const geo = convGeometry(cx.shapeOf(x), wShape, a.strides as [number, number], a.pad as Padding, a.dilations as [number, number], 'toOnnx');
  return [
    attrInts('kernel_shape', [geo.KH, geo.KW]), attrInts('strides', [geo.SH, geo.SW]), attrInts('dilations', [geo.DH, geo.DW]),
    attrInts('pads', [geo.PT, geo.PL, geo.PB, geo.PR]), attrInt('group', group1 ? 1 : geo.G),
  ];
}

export const convFamily: ExportFamily = {
  conv2d: (cx, n) => {
    const [x, w, b] = n.inputs;
    const attrs = convAttrs(cx, n, x, cx.shapeOf(w), false);
    const ins = [cx.valueName(x), cx.param(w, 'oihw')];
    if (b !== undefined) ins.push(cx.param(b));
    const y = cx.emit('Conv', ins, attrs, n.name);
    cx.setOut(n, emitActivation(cx, y, n.attrs.activation as string, n.attrs.alpha as number, n.name, undefined, true), true);
  },
  qconv2d: (cx, n) => {
    const q = n.attrs.q as QWeights;
    if (q.raw) fail(`node '${n.name}': integer results (imported ConvInteger) do not export yet`);
    const x = n.inputs[0];
    // group from the shapes: 1, or the input channels for an int8 depthwise filter [KH, KW, 1, C * multiplier]
    const attrs = convAttrs(cx, n, x, q.filterShape!, false);
    const ins = [qdqInput(cx, cx.valueName(x), q.input.scale, q.input.zeroPoint, n.name), cx.int8Weights(`${n.name}/kernel`, q.w, q.filterShape!, q.scale)];
    if (q.bias) ins.push(int32Bias(cx, `${n.name}/bias`, q));
    const y = cx.emit('Conv', ins, attrs, n.name);
    cx.setOut(n, emitActivation(cx, y, n.attrs.activation as string, 0, n.name, undefined, true), true);
  },
};
