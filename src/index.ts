// edgegrad's public API: this file and nothing else is the contract (see DESIGN.md).
export { ready, getBackend } from './backend/index.js';
export type { ReadyOptions, BackendName, WasmBuild } from './backend/index.js';
export { supportedBuilds } from './backend/wasm/loader.js';
export { Tensor, tensor, scalar, zeros, ones, fill } from './tensor.js';
export type { DType, TensorLike, TypedArray, NestedArray } from './tensor.js';

export { matMul } from './ops/matmul.js';
export { conv2d, depthwiseConv2d } from './ops/conv.js';
export type { Padding } from './ops/conv.js';
export { maxPool, avgPool, globalAvgPool } from './ops/pool.js';
export {
  activation, linear, relu, relu6, leakyRelu, prelu, rrelu, elu, selu, sigmoid, tanh, softplus, gelu, step, sign,
  softmax, logSoftmax, maxout, ACTIVATIONS,
} from './ops/activation.js';
export type { ActivationName, RReluOptions } from './ops/activation.js';
export { batchNorm } from './ops/norm.js';
export { add, sub, mul, div, maximum, minimum, neg, abs, exp, log, sqrt, square, reciprocal } from './ops/elementwise.js';
export { sum, mean, max, min, argMax } from './ops/reduce.js';
export { losses, LOSSES } from './ops/loss.js';
export type { LossName, LossOptions } from './ops/loss.js';
export { randomUniform, randomNormal, truncatedNormal, dropout, setSeed } from './ops/random.js';

import { fusedMatMul } from './ops/matmul.js';
import { fusedConv2d } from './ops/conv.js';
export type { FusedMatMulArgs } from './ops/matmul.js';
export type { FusedConv2DArgs } from './ops/conv.js';
/** Ops with a fused bias + activation epilogue (TF.js tf.fused). */
export const fused = { matMul: fusedMatMul, conv2d: fusedConv2d };
