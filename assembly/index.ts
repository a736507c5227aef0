// The exports the TypeScript wasm backend binds to (src/backend/wasm/). One family per file.
export * from './gemm_f32';
export * from './gemm_i8';
export * from './quant';
export * from './dwconv_i8';
export * from './conv';
export * from './pool';
export * from './act';
export * from './norm';
export * from './reduce';
export * from './elementwise';
export * from './loss';
export * from './random';
export * from './optim';
export * from './copy';
export * from './recurrent';
export * from './augment';

/** First free byte after the module's static data: the TS arena starts here. */
export function heapBase(): usize {
  return __heap_base;
}

// threaded builds: the pool's control (src/backend/wasm/pool.ts)
export { threadsSetup, threadInit, threadsStop, threadScratchSize } from './threads';
export { threadWorkerLoop } from './threads_worker';
