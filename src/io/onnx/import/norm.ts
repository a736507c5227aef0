// BatchNormalization -> batchNorm over the channels of a map (running mean / variance as state);
// LayerNormalization over the last axis of a plain value, composed of reductions and broadcasting ops (each
// with its gradient).
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';
import { tensorFrom } from './tensor.js';

function batchNorm(cx: ImportContext, n: OnnxNode): void {
  const x = cx.asMap(cx.graphVal(n, 0), n.name!);
  const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
  const t = (k: number) => tensorFrom(cx.konst(n, k), [C]);
  const ins = [x.id!, cx.param(`${n.name}/scale`, t(1)), cx.param(`${n.name}/B`, t(2)), cx.g.state(`${n.name}/mean`, t(3)), cx.g.state(`${n.name}/var`, t(4))];
  // ONNX's momentum is Keras's: running = running * momentum + batch * (1 - momentum)
  const [id] = cx.g.node('batchNorm', ins, { epsilon: cx.float(n, 'epsilon', 1e-5), momentum: cx.float(n, 'momentum', 0.9) }, n.name);
  cx.set(n, { ...x, id });
}

function layerNorm(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  const rank = x.shape.length;
  let axis = cx.int(n, 'axis', -1);
  if (axis < 0) axis += rank;
  if (x.nhwc || axis !== rank - 1) cx.unsupported(n, `normalization over axis ${axis} of ${formatShape(x.shape)}: edgegrad normalizes the last axis of a plain value`);
  if (cx.int(n, 'stash_type', 1) !== 1) cx.unsupported(n, 'a stash_type other than float');
  const D = x.shape[rank - 1], nm = n.name!;
  const keep = [...x.shape.slice(0, -1), 1];
  const node = (op: string, ins: number[], attrs: Record<string, unknown>, k: string) => cx.g.node(op, ins, attrs, `${nm}/${k}`)[0];
  const mean = node('reshape', [node('reduce', [x.id!], { op: 'mean', axis: rank - 1 }, 'mean')], { shape: keep }, 'mean1');
  const xc = node('sub', [x.id!, mean], {}, 'centered');
  const v = node('reshape', [node('reduce', [node('unary', [xc], { op: 'square' }, 'sq')], { op: 'mean', axis: rank - 1 }, 'var')], { shape: keep }, 'var1');
  const sd = node('unary', [node('add', [v, cx.scalarParam(`${nm}/epsilon`, cx.float(n, 'epsilon', 1e-5))], {}, 'var_eps')], { op: 'sqrt' }, 'sd');
  let y = node('div', [xc, sd], {}, 'normalized');
  const scale = cx.get(n, 1);
  if (!scale.konst || scale.konst.data.length !== D) cx.unsupported(n, `scale ${formatShape(scale.shape)} must be a constant of ${D} values`);
  y = cx.g.node('mul', [y, cx.param(`${nm}/scale`, tensorFrom(scale.konst!.data, [D]))], {}, n.input[2] ? `${nm}/scaled` : nm)[0];
  if (n.input[2]) {
    const b = cx.get(n, 2);
    if (!b.konst || b.konst.data.length !== D) cx.unsupported(n, `bias ${formatShape(b.shape)} must be a constant of ${D} values`);
    y = cx.g.node('add', [y, cx.param(`${nm}/B`, tensorFrom(b.konst!.data, [D]))], {}, nm)[0];
  }
  if (n.output.length > 1 && n.output.slice(1).some(Boolean)) cx.unsupported(n, 'the Mean / InvStdDev outputs (training outputs)');
  cx.set(n, { id: y, shape: x.shape });
}

export const normFamily: Family = {
  BatchNormalization: { convert: batchNorm },
  LayerNormalization: { convert: layerNorm },
};
