// batchNorm as BatchNormalization (scale, bias, running mean and variance as initializers).
import { attrFloat, fail, type ExportFamily } from './context.js';

export const normFamily: ExportFamily = {
  batchNorm: (cx, n, out) => {
    const [x, gamma, beta, mean, variance] = n.inputs;
    // (ONNX's training_mode would make ONNX Runtime return the running statistics too: not written here)
    if (n.attrs.batchStats) fail(`node '${n.name}' (batchNorm) normalizes with the batch's statistics at inference (an imported training_mode 1): not exported`);
    const attrs = [attrFloat('epsilon', n.attrs.epsilon as number), attrFloat('momentum', (n.attrs.momentum as number | undefined) ?? 0.99)];
    cx.setOut(n, cx.emit('BatchNormalization', [cx.valueName(x), cx.param(gamma), cx.param(beta), cx.param(mean), cx.param(variance)], attrs, n.name, out), cx.isMap.has(x));
  },
};
