// BatchNormalization -> batchNorm over the channels of a map (running mean / variance as state; with
// training_mode 1 the batch's statistics, and the running ones as outputs);
// LayerNormalization over the last axis of a plain value, composed of reductions and broadcasting ops (each
// with its gradient).
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';
import { oneD } from './oned.js';

function batchNorm(cx: ImportContext, n: OnnxNode): void {
  const x = cx.asMap(cx.graphVal(n, 0), n.name!);
  const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
  const t = (k: number) => tensorFrom(cx.konst(n, k), [C]);
  const ins = [x.id!, cx.param(`${n.name}/scale`, t(1)), cx.param(`${n.name}/B`, t(2)), cx.g.state(`${n.name}/mean`, t(3)), cx.g.state(`${n.name}/var`, t(4))];
  // ONNX's momentum is Keras's: running = running * momentum + batch * (1 - momentum)
  const eps = cx.float(n, 'epsilon', 1e-5), momentum = cx.float(n, 'momentum', 0.9);
  const training = cx.opset >= 14 && cx.int(n, 'training_mode', 0) === 1;
  const [id, mean, invStd] = cx.g.node('batchNorm', ins, { epsilon: eps, momentum, ...(training ? { batchStats: true } : {}) }, n.name);
  cx.set(n, { ...x, id });
  if (training) runningStats(cx, n, C, mean, invStd, eps, momentum);
}

/**
 * training_mode 1's outputs 1 and 2, the running statistics: running = input * momentum + batch * (1 -
 * momentum), with the batch's biased variance (the batch norm's 1 / sqrt(var + eps), inverted back).
 */
function runningStats(cx: ImportContext, n: OnnxNode, C: number, mean: number, invStd: number, eps: number, momentum: number): void {
  const nm = n.name!, node = (op: string, ins: number[], attrs: Record<string, unknown>, k: string) => cx.g.node(op, ins, attrs, `${nm}/${k}`)[0];
  const blend = (batch: number, k: number, what: string) => {
    const kept = cx.g.param(`${nm}/${what}_kept`, tensorFrom(cx.konst(n, k).map((v) => v * momentum), [C]), false);
    return node('add', [node('mul', [batch, cx.scalarParam(`${nm}/${what}_rate`, 1 - momentum)], {}, `${what}_new`), kept], {}, `running_${what}`);
  };
  if (n.output[1]) cx.set(n, { id: blend(mean, 3, 'mean'), shape: [C] }, 1);
  if (n.output[2]) {
    const sd = node('unary', [invStd], { op: 'reciprocal' }, 'sd');
    const v = node('sub', [node('unary', [sd], { op: 'square' }, 'var_eps'), cx.scalarParam(`${nm}/epsilon`, eps)], {}, 'var');
    cx.set(n, { id: blend(v, 4, 'var'), shape: [C] }, 2);
  }
}

function layerNorm(cx: ImportContext, n: OnnxNode): void {
  const x0 = cx.asPlain(cx.graphVal(n, 0), n.name!);
  const shape = x0.shape;
  let axis = cx.int(n, 'axis', -1);
  if (axis < 0) axis += shape.length;
  if (!(axis >= 0 && axis < shape.length)) cx.unsupported(n, `axis ${cx.int(n, 'axis', -1)} of a rank-${shape.length} value`);
  if (shape.slice(axis).includes(-1)) cx.unsupported(n, `normalization over axis ${axis} of ${formatShape(shape)} takes in the batch dimension`);
  if (cx.int(n, 'stash_type', 1) !== 1) cx.unsupported(n, 'a stash_type other than float');
  const nm = n.name!;
  const node = (op: string, ins: number[], attrs: Record<string, unknown>, k: string) => cx.g.node(op, ins, attrs, `${nm}/${k}`)[0];
  // the axes from `axis` on are one: [..., D] (a reshape there and back when they are several)
  const D = shape.slice(axis).reduce((a, b) => a * b, 1), lead = shape.slice(0, axis);
  const x: Val = axis === shape.length - 1 ? x0 : { id: node('reshape', [x0.id!], { shape: [...lead, D] }, 'flat'), shape: [...lead, D] };
  const rank = x.shape.length;
  const keep = [...x.shape.slice(0, -1), 1];
  const mean = node('reshape', [node('reduce', [x.id!], { op: 'mean', axis: rank - 1 }, 'mean')], { shape: keep }, 'mean1');
  const xc = node('sub', [x.id!, mean], {}, 'centered');
  const v = node('reshape', [node('reduce', [node('unary', [xc], { op: 'square' }, 'sq')], { op: 'mean', axis: rank - 1 }, 'var')], { shape: keep }, 'var1');
  const sd = node('unary', [node('add', [v, cx.scalarParam(`${nm}/epsilon`, cx.float(n, 'epsilon', 1e-5))], {}, 'var_eps')], { op: 'sqrt' }, 'sd');
  let y = node('div', [xc, sd], {}, 'normalized');
  const scale = cx.get(n, 1);
  if (!scale.konst || scale.konst.data.length !== D) cx.unsupported(n, `scale ${formatShape(scale.shape)} (input 1 ('${n.input[1]}')) must be a constant of ${D} values`);
  const flat = x !== x0;
  y = cx.g.node('mul', [y, cx.param(`${nm}/scale`, tensorFrom(scale.konst!.data, [D]))], {}, n.input[2] || flat ? `${nm}/scaled` : nm)[0];
  if (n.input[2]) {
    const b = cx.get(n, 2);
    if (!b.konst || b.konst.data.length !== D) cx.unsupported(n, `bias ${formatShape(b.shape)} (input 2 ('${n.input[2]}')) must be a constant of ${D} values`);
    y = cx.g.node('add', [y, cx.param(`${nm}/B`, tensorFrom(b.konst!.data, [D]))], {}, flat ? `${nm}/biased` : nm)[0];
  }
  if (flat) y = cx.g.node('reshape', [y], { shape: shape.slice() }, nm)[0];
  cx.set(n, { id: y, shape: shape.slice() });
  // the statistics (training outputs): the mean and 1 / sd, each of shape [..., 1, 1] (ones from axis on)
  const stat = [...lead, ...shape.slice(axis).map(() => 1)];
  if (n.output[1]) cx.set(n, { id: node('reshape', [mean], { shape: stat }, 'Mean'), shape: stat }, 1);
  if (n.output[2]) cx.set(n, { id: node('reshape', [node('unary', [sd], { op: 'reciprocal' }, 'inv_sd')], { shape: stat }, 'InvStdDev'), shape: stat }, 2);
}

export const normFamily: Family = {
  // over [N, C, L] (BatchNorm1d on a sequence of features) as over an [N, C, 1, L] map
  BatchNormalization: oneD({ convert: batchNorm }),
  LayerNormalization: { convert: layerNorm },
};
