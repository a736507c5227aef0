// Activations: the ones edgegrad's activation node runs (Clip to [0, 6] / [0, inf) included), PRelu, and
// HardSigmoid / HardSwish written as a relu6 between a scale and a shift.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
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
  if (op === 'Selu') {
    // SELU with other constants: gamma * elu(x, alpha)
    const a = cx.float(n, 'alpha', 1.67326319217681884765625), gm = cx.float(n, 'gamma', 1.05070102214813232421875);
    if (Math.abs(a - 1.6732632) > 1e-6 || Math.abs(gm - 1.0507010) > 1e-6) {
      const [e] = cx.g.node('activation', [x.id!], { activation: 'elu', alpha: a }, `${n.name}/elu`);
      const [id] = cx.g.node('mul', [e, cx.scalarParam(`${n.name}/gamma`, gm)], {}, n.name);
      return cx.set(n, { ...x, id });
    }
  }
  if (op === 'Softmax' || op === 'LogSoftmax') {
    const rank = x.shape.length;
    let axis = cx.int(n, 'axis', cx.opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    const last = x.nhwc ? axis === 1 : axis === rank - 1;
    if (!last && !(cx.opset < 13 && rank === 2 && axis === 1)) return softmaxAround(cx, n, x, axis, ACTIVATIONS[op]);
  }
  if (op === 'Clip') {
    // a bound computed by the graph (a scalar input): max / min with it
    const computed = [1, 2].filter((k) => n.input[k] && cx.get(n, k).id !== undefined);
    if (computed.length) return clipComputed(cx, n, x);
    const lo = n.input[1] ? cx.konst(n, 1)[0] : cx.opset < 11 ? cx.float(n, 'min', -3.4028234663852886e38) : -Infinity;
    const hi = n.input[2] ? cx.konst(n, 2)[0] : cx.opset < 11 ? cx.float(n, 'max', 3.4028234663852886e38) : Infinity;
    if (lo === 0 && hi === 6) act = 'relu6';
    else if (lo === 0 && hi >= 3.4028234663852886e38) act = 'relu';
    else {
      // any other bounds: max(x, lo) then min(., hi), each an elementwise op with its gradient
      let id = x.id!;
      if (lo > -Infinity && lo > -3.4028234663852886e38) id = cx.g.node('max', [id, cx.scalarParam(`${n.name}/min`, lo)], {}, hi < Infinity ? `${n.name}/lo` : n.name)[0];
      if (hi < Infinity && hi < 3.4028234663852886e38) id = cx.g.node('min', [id, cx.scalarParam(`${n.name}/max`, hi)], {}, n.name)[0];
      if (id === x.id) id = cx.g.node('reshape', [id], { shape: cx.g.values[id].shape.slice() }, n.name)[0];
      return cx.set(n, { ...x, id });
    }
    alpha = 1;
  }
  const [id] = cx.g.node('activation', [x.id!], { activation: act, alpha }, n.name);
  cx.set(n, { ...x, id });
}

/** Clip with a bound computed by the graph (opset 11's min / max inputs, scalars): max(x, min), then min(., max). */
function clipComputed(cx: ImportContext, n: OnnxNode, x: Val): void {
  const bound = (k: number): number | undefined => {
    if (!n.input[k]) return undefined;
    const v = cx.get(n, k);
    if (v.id === undefined) return cx.scalarParam(`${n.name}/${k === 1 ? 'min' : 'max'}`, v.konst!.data[0]);
    if (v.shape.some((d) => d !== 1)) cx.unsupported(n, `its ${k === 1 ? 'min' : 'max'} (input ${k} ('${n.input[k]}')) is ${formatShape(v.shape)}: a bound is a scalar`);
    return cx.asPlain(v, `${n.name}/${k}`).id!;
  };
  const lo = bound(1), hi = bound(2);
  let id = x.id!;
  if (lo !== undefined) id = cx.g.node('max', [id, lo], {}, hi !== undefined ? `${n.name}/lo` : n.name)[0];
  if (hi !== undefined) id = cx.g.node('min', [id, hi], {}, n.name)[0];
  cx.set(n, { ...x, id });
}

/**
 * Softmax over an axis that is not the last: opset 13's single axis moves to the end and back (two
 * transposes); before 13 the axes from `axis` on are one (a reshape to [..., rest] and back).
 */
function softmaxAround(cx: ImportContext, n: OnnxNode, x0: Val, axis: number, act: string): void {
  const x = cx.asPlain(x0, n.name!), shape = x.shape;
  const node = (op: string, ins: number[], attrs: Record<string, unknown>, k?: string) => cx.g.node(op, ins, attrs, k ? `${n.name}/${k}` : n.name)[0];
  if (shape[axis] === -1 || (cx.opset < 13 && axis === 0 && shape[0] === -1)) cx.unsupported(n, `softmax over axis ${axis} of ${formatShape(shape)}, the batch dimension`);
  let id: number;
  if (cx.opset < 13) {
    const rest = shape.slice(axis).reduce((a, b) => a * b, 1), lead = shape.slice(0, axis);
    const flat = lead.includes(-1) ? [-1, lead.filter((d) => d !== -1).reduce((a, b) => a * b, 1), rest] : [lead.reduce((a, b) => a * b, 1), rest];
    id = node('reshape', [node('activation', [node('reshape', [x.id!], { shape: flat }, 'flat')], { activation: act, alpha: 1 }, 'softmax')], { shape: shape.slice() });
  } else {
    const perm = [...shape.keys()].filter((a) => a !== axis).concat(axis);
    const inv = perm.map((_, i) => perm.indexOf(i));
    id = node('transpose', [node('activation', [node('transpose', [x.id!], { perm }, 'last')], { activation: act, alpha: 1 }, 'softmax')], { perm: inv });
  }
  cx.set(n, { id, shape: shape.slice() });
}

/**
 * PRelu: a slope per channel (or one for all) is the prelu op; any other slope that broadcasts to the input
 * (ONNX's unidirectional rule: shapes aligned on the right) is max(x, 0) + slope * min(x, 0) over the
 * input in ONNX's layout, the slope a trainable weight of its own shape.
 */
function prelu(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  const slope = cx.konst(n, 1), sShape = cx.get(n, 1).shape;
  const C = x.nhwc ? x.shape[1] : x.shape[x.shape.length - 1];
  // the slope's shape without its leading ones: [C, 1, 1] for a map's channels, [C] for a plain value's last axis
  const core = sShape.slice(sShape.findIndex((d) => d !== 1) < 0 ? sShape.length : sShape.findIndex((d) => d !== 1));
  const perChannel = slope.length === 1 || (x.nhwc ? core.length === 3 && core[0] === C && core[1] === 1 && core[2] === 1 : core.length === 1 && core[0] === C);
  if (perChannel && sShape.length <= x.shape.length) {
    const alpha = slope.length === C ? slope : new Float32Array(C).fill(slope[0]);
    const [id] = cx.g.node('prelu', [x.id!, cx.param(`${n.name}/slope`, tensorFrom(alpha, [C]))], {}, n.name);
    return cx.set(n, { ...x, id });
  }
  const p = cx.asPlain(x, n.name!), rank = p.shape.length;
  const ok = sShape.length <= rank && sShape.every((d, i) => d === 1 || d === p.shape[rank - sShape.length + i]);
  if (!ok) {
    const batch = sShape.length === rank && p.shape[0] === -1 && sShape[0] !== 1;
    cx.unsupported(n, `slope ${formatShape(sShape)} does not broadcast to the input ${formatShape(p.shape)}${batch ? ' (it varies along the batch dimension)' : ''}`);
  }
  const nm = n.name!, zero = cx.scalarParam(`${nm}/zero`, 0);
  const pos = cx.g.node('max', [p.id!, zero], {}, `${nm}/pos`)[0], neg = cx.g.node('min', [p.id!, zero], {}, `${nm}/neg`)[0];
  const scaled = cx.g.node('mul', [neg, cx.param(`${nm}/slope`, tensorFrom(slope, sShape.slice()))], {}, `${nm}/scaled`)[0];
  const [id] = cx.g.node('add', [pos, scaled], {}, nm);
  cx.set(n, { id, shape: p.shape.slice() });
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
