// batchNorm as BatchNormalization (scale, bias, running mean and variance as initializers).
import { attrFloat, type ExportFamily } from './context.js';

export const normFamily: ExportFamily = {
  batchNorm: (cx, n, out) => {
    const [x, gamma, beta, mean, variance] = n.inputs;
    const attrs = [attrFloat('epsilon', n.attrs.epsilon as number), attrFloat('momentum', (n.attrs.momentum as number | undefined) ?? 0.99)];
    cx.setOut(n, cx.emit('BatchNormalization', [cx.valueName(x), cx.param(gamma), cx.param(beta), cx.param(mean), cx.param(variance)], attrs, n.name, out), cx.isMap.has(x));
  },
};
