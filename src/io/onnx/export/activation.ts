// Activations: edgegrad's activation node (and the activation fused into a conv or dense) as ONNX ops,
// rrelu at inference (a leaky relu of the mean slope), and PRelu.
import { attrFloat, attrInt, fail, OPSET, type ExportContext, type ExportFamily } from './context.js';

/** the activation act after x, as ONNX nodes (mapAxis: softmax over the channels of an NCHW map); returns its output */
export function emitActivation(cx: ExportContext, x: string, act: string, alpha: number, nodeName: string, out: string | undefined, mapAxis: boolean): string {
  switch (act) {
    case 'linear': return out ? cx.emit('Identity', [x], [], `${nodeName}/identity`, out) : x;
    case 'relu': return cx.emit('Relu', [x], [], `${nodeName}/relu`, out);
    case 'relu6': return cx.emit('Clip', [x, cx.floatInit(`${nodeName}/min`, [], [0]), cx.floatInit(`${nodeName}/max`, [], [6])], [], `${nodeName}/relu6`, out);
    case 'leakyRelu': return cx.emit('LeakyRelu', [x], [attrFloat('alpha', alpha)], `${nodeName}/leaky_relu`, out);
    case 'elu': return cx.emit('Elu', [x], [attrFloat('alpha', alpha)], `${nodeName}/elu`, out);
    case 'selu': return cx.emit('Selu', [x], [], `${nodeName}/selu`, out);
    case 'sigmoid': return cx.emit('Sigmoid', [x], [], `${nodeName}/sigmoid`, out);
    case 'tanh': return cx.emit('Tanh', [x], [], `${nodeName}/tanh`, out);
    case 'softplus': return cx.emit('Softplus', [x], [], `${nodeName}/softplus`, out);
    case 'sign': return cx.emit('Sign', [x], [], `${nodeName}/sign`, out);
    case 'hardSigmoid': return cx.emit('HardSigmoid', [x], [attrFloat('alpha', 0.2), attrFloat('beta', 0.5)], `${nodeName}/hard_sigmoid`, out);
    case 'gelu': { // exact: x * 0.5 * (1 + erf(x / sqrt 2)), as PyTorch writes it (opset 17 has no Gelu)
      const e = cx.emit('Erf', [cx.emit('Div', [x, cx.floatInitRaw(`${nodeName}/sqrt2`, [], [Math.SQRT2])], [], `${nodeName}/scaled`)], [], `${nodeName}/erf`);
      const one = cx.emit('Add', [e, cx.floatInitRaw(`${nodeName}/one`, [], [1])], [], `${nodeName}/erf1`);
      const twice = cx.emit('Mul', [x, one], [], `${nodeName}/twice`);
      return cx.emit('Mul', [twice, cx.floatInitRaw(`${nodeName}/half`, [], [0.5])], [], `${nodeName}/gelu`, out);
    }
    case 'softmax': return cx.emit('Softmax', [x], [attrInt('axis', mapAxis ? 1 : -1)], `${nodeName}/softmax`, out);
    case 'logSoftmax': return cx.emit('LogSoftmax', [x], [attrInt('axis', mapAxis ? 1 : -1)], `${nodeName}/log_softmax`, out);
    default: return fail(`activation '${act}' (node '${nodeName}') has no ONNX opset ${OPSET} equivalent in this exporter`);
  }
}

export const activationFamily: ExportFamily = {
  activation: (cx, n, out) => {
    const x = n.inputs[0], map = cx.isMap.has(x);
    cx.setOut(n, emitActivation(cx, cx.valueName(x), n.attrs.activation as string, (n.attrs.alpha as number) ?? 1, n.name, out, map), map);
  },
  rrelu: (cx, n, out) => {
    const x = n.inputs[0];
    cx.setOut(n, emitActivation(cx, cx.valueName(x), 'leakyRelu', ((n.attrs.lower as number) + (n.attrs.upper as number)) / 2, n.name, out, false), cx.isMap.has(x));
  },
  prelu: (cx, n, out) => {
    const [x, alpha] = n.inputs;
    const C = cx.shapeOf(alpha)[0];
    const slope = cx.floatInit(cx.g.values[alpha].name, cx.isMap.has(x) ? [C, 1, 1] : [C], cx.data(alpha));
    cx.setOut(n, cx.emit('PRelu', [cx.valueName(x), slope], [], n.name, out), cx.isMap.has(x));
  },
};
