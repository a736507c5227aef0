// Every op family: eager ops (public), their gradients and references (used by autodiff and tests).
export * from './activation.js';
export * from './conv.js';
export * from './elementwise.js';
export * from './image.js';
export * from './loss.js';
export * from './matmul.js';
export * from './norm.js';
export * from './pool.js';
export * from './pool-nd.js';
export * from './pad.js';
export * from './random.js';
export * from './reduce.js';
export type { Arr } from './util.js';
export * from './shape.js';
export * from './quant.js';
export * from './recurrent.js';
export * from './augment.js';
export * from './cast.js';
