// Activations: the ones edgegrad's activation node runs (Clip to [0, 6] / [0, inf) included), PRelu, and
// HardSigmoid / HardSwish written as a relu6 between a scale and a shift.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';
import { tensorFrom } from './tensor.js';

/** ONNX op -> edgegrad's activation name (Clip's depends on its bounds) */
const ACTIVATIONS: Record<string, string> = {
  Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', LeakyRelu: 'leakyRelu', Elu: 'elu', Selu: 'selu', Softplus: 'softplus', Softmax: 'softmax', LogSoftmax: 'logSoftmax', Sign: 'sign', Clip: '',
};

function activation(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  const x = cx.graphVal(n, 0);
  let act = ACTIVATIONS[op];
  let alpha = op === 'LeakyRelu' ? cx.float(n, 'alpha', 0.01) : op === 'Elu' ? cx.float(n, 'alpha', 1) : 1;
  if (op === 'Selu' && (Math.abs(cx.float(n, 'alpha', 1.67326) - 1.6732632) > 1e-4 || Math.abs(cx.float(n, 'gamma', 1.0507) - 1.0507010) > 1e-4)) cx.unsupported(n, 'only the standard SELU constants are supported');
  if (op === 'Softmax' || op === 'LogSoftmax') {
    const rank = x.shape.length;
    let axis = cx.int(n, 'axis', cx.opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    const last = x.nhwc ? axis === 1 : axis === rank - 1;
    if (!last && !(cx.opset < 13 && rank === 2 && axis === 1)) cx.unsupported(n, `softmax over axis ${axis} of ${formatShape(x.shape)}: edgegrad takes it over the channels of an NCHW feature map (axis 1), or the last axis of other values`);
  }
  if (op === 'Clip') {
    const lo = n.input[1] ? cx.konst(n, 1)[0] : -Infinity, hi = n.input[2] ? cx.konst(n, 2)[0] : Infinity;
    if (lo === 0 && hi === 6) act = 'relu6';
    else if (lo === 0 && hi === Infinity) act = 'relu';
    else cx.unsupported(n, `Clip to [${lo}, ${hi}] (edgegrad maps [0, 6] and [0, inf))`);
    alpha = 1;
  }
  const [id] = cx.g.node('activation', [x.id!], { activation: act, alpha }, n.name);
  cx.set(n, { ...x, id });
}

function prelu(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  const slope = cx.konst(n, 1);
  const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
  if (slope.length !== C && slope.length !== 1) cx.unsupported(n, `slope of ${slope.length} values for ${C} channels`);
  const alpha = slope.length === C ? slope : new Float32Array(C).fill(slope[0]);
  const [id] = cx.g.node('prelu', [x.id!, cx.param(`${n.name}/slope`, tensorFrom(alpha, [C]))], {}, n.name);
  cx.set(n, { ...x, id });
}

/** clamp(alpha x + beta, 0, 1) = relu6(6 alpha x + 6 beta) / 6; HardSwish = x * HardSigmoid(x) (1/6, 1/2) */
function hard(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType, nodeName = n.name;
  const x = cx.graphVal(n, 0);
  const alpha = op === 'HardSigmoid' ? cx.float(n, 'alpha', 0.2) : 1 / 6, beta = op === 'HardSigmoid' ? cx.float(n, 'beta', 0.5) : 0.5;
  const z = cx.g.node('mul', [x.id!, cx.scalarParam(`${nodeName}/scale`, 6 * alpha)], {}, `${nodeName}/scale`)[0];
  const zb = cx.g.node('add', [z, cx.scalarParam(`${nodeName}/shift`, 6 * beta)], {}, `${nodeName}/shift`)[0];
  const r = cx.g.node('activation', [zb], { activation: 'relu6', alpha: 1 }, `${nodeName}/clamp`)[0];
  let id = cx.g.node('mul', [r, cx.scalarParam(`${nodeName}/sixth`, 1 / 6)], {}, op === 'HardSigmoid' ? nodeName : `${nodeName}/hsig`)[0];
  if (op === 'HardSwish') id = cx.g.node('mul', [x.id!, id], {}, nodeName)[0];
  cx.set(n, { ...x, id });
}

export const activationFamily: Family = {
  ...Object.fromEntries(Object.keys(ACTIVATIONS).map((op) => [op, { convert: activation }])),
  PRelu: { convert: prelu },
  HardSigmoid: { convert: hard },
  HardSwish: { convert: hard },
};
