// Conv: an OIHW filter initializer -> conv2d with an HWIO filter (int8 weights from a DequantizeLinear kept).
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';
import { oneD } from './oned.js';
import { oihwToHwio, oihwToHwioData, tensorFrom } from './tensor.js';

function conv(cx: ImportContext, n: OnnxNode): void {
  const x = cx.mapIn(n);
  const wv = cx.get(n, 1);
  if (!wv.konst || wv.shape.length !== 4) cx.unsupported(n, `the filter (input 1 ('${n.input[1]}')) must be a rank-4 initializer`);
  const [O, Ig, kh, kw] = wv.shape;
  const C = x.shape[1];
  const group = cx.int(n, 'group', 1);
  if (Ig * group !== C) cx.unsupported(n, `filter ${formatShape(wv.shape)} with group ${group} does not fit ${C} input channels`);
  const strides = cx.ints(n, 'strides', [1, 1]), dil = cx.ints(n, 'dilations', [1, 1]);
  const pad = cx.padsOf(n, x.shape[2], x.shape[3], [kh, kw], strides, dil);
  const ins = [x.id!, cx.param(`${n.name}/W`, oihwToHwio(wv.konst!.data, wv.shape))];
  const i8 = wv.konst!.int8;
  if (i8 && i8.axis === 0 && i8.scale.length === O) {
    cx.g.values[ins[1]].int8 = { w: Int8Array.from(oihwToHwioData(i8.q, wv.shape)), scale: i8.scale };
  }
  if (n.input[2]) ins.push(cx.param(`${n.name}/B`, tensorFrom(cx.konst(n, 2), [O])));
  const [id] = cx.g.node('conv2d', ins, { strides, pad, dilations: dil, activation: 'linear', alpha: 0 }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
}

export const convFamily: Family = {
  Conv: oneD({ convert: conv }),
};
