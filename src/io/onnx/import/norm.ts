// BatchNormalization -> batchNorm over the channels of a map (running mean / variance as state).
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

export const normFamily: Family = {
  BatchNormalization: { convert: batchNorm },
};
