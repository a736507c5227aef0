// The kernel ABI every backend implements (the kernel table: one of these per backend). Its names, codes and
// signatures are those of the AssemblyScript exports (assembly/index.ts), checked by test/abi.test.ts. A
// `Ptr` is a buffer handle: a byte offset into the backend's heap (the wasm memory, the reference backend's
// ArrayBuffer), valid for offset arithmetic within one allocation. Every kernel writes only through the
// handles it is given. A packed layout (GEMM panels) is private to the backend that packed it.
export type Ptr = number;

export interface Kernels extends OptimKernels {
  // gemm_f32.ts
  gemm(transA: number, transB: number, M: number, N: number, K: number, alpha: number, A: Ptr, lda: number, B: Ptr, ldb: number,
    beta: number, C: Ptr, ldc: number, bias: Ptr, act: number, actParam: number, ws: Ptr): void;
  gemmWorkspaceSize(M: number, N: number, K: number): number;
  gemmPackB(transB: number, K: number, N: number, B: Ptr, ldb: number, dst: Ptr): void;
  gemmPackedBSize(K: number, N: number): number;
  gemmPackedASize(): number;
  gemmPrepacked(mode: number, transA: number, M: number, N: number, K: number, alpha: number, A: Ptr, lda: number, packedB: Ptr,
    beta: number, C: Ptr, ldc: number, bias: Ptr, act: number, actParam: number, ws: Ptr): void;
  // gemm_i8.ts
  qgemmPackedBSize(K: number, N: number): number;
  qgemmPackedASize(M: number, K: number): number;
  qgemmWorkSize(N: number, K: number): number;
  qWeightsAre7Bit(K: number, N: number, W: Ptr, ldw: number): number;
  qgemmPackB(K: number, N: number, W: Ptr, ldw: number, dst: Ptr, colSums: Ptr, relaxed7: number): void;
  qgemmPackA(M: number, K: number, A: Ptr, lda: number, dst: Ptr): void;
  qgemm(M: number, N: number, K: number, pa: Ptr, za: number, pb: Ptr, colSums: Ptr, bias: Ptr, relaxed7: number,
    mode: number, C: Ptr, ldc: number, mult: Ptr, zy: number, qmin: number, qmax: number, act: number, work: Ptr): void;
  qim2col(N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number, PT: number, PL: number,
    DH: number, DW: number, OH: number, OW: number, x: Ptr, za: number, dst: Ptr): void;
  qQuantizePackA(M: number, K: number, x: Ptr, ldx: number, scale: number, zp: number, dst: Ptr): void;
  quantizeU8(n: number, x: Ptr, scale: number, zp: number, y: Ptr): void;
  dequantizeU8(n: number, q: Ptr, scale: number, zp: number, y: Ptr): void;
  // dwconv_i8.ts
  qdepthwiseWorkSize(N: number, H: number, W: number, C: number, CO: number): number;
  qdepthwise(N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number, PT: number, PL: number,
    DH: number, DW: number, OH: number, OW: number, CO: number, x: Ptr, za: number, w: Ptr, bias: Ptr, mode: number, y: Ptr, mult: Ptr,
    zy: number, qmin: number, qmax: number, act: number, work: Ptr): void;
  // conv.ts
  /** geom: the 16-i32 geometry block (N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, groups, Cout). */
  convWorkspaceSize(geom: Ptr): number;
  conv2dForward(geom: Ptr, x: Ptr, w: Ptr, bias: Ptr, y: Ptr, act: number, actParam: number, ws: Ptr): void;
  conv2dBackwardInput(geom: Ptr, dy: Ptr, w: Ptr, dx: Ptr, ws: Ptr): void;
  conv2dBackwardFilter(geom: Ptr, x: Ptr, dy: Ptr, dw: Ptr, dbias: Ptr, ws: Ptr): void;
  columnSums(rows: number, cols: number, a: Ptr, out: Ptr): void;
  // pool.ts
  pool2dForward(kind: number, N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number,
    PT: number, PL: number, OH: number, OW: number, x: Ptr, y: Ptr): void;
  pool2dBackward(kind: number, N: number, H: number, W: number, C: number, KH: number, KW: number, SH: number, SW: number,
    PT: number, PL: number, OH: number, OW: number, x: Ptr, dy: Ptr, dx: Ptr): void;
  // act.ts
  actForward(kind: number, n: number, x: Ptr, y: Ptr, p: number): void;
  actBackward(kind: number, n: number, x: Ptr, y: Ptr, dy: Ptr, dx: Ptr, p: number): void;
  /** 1-bit masks of ReLU / ReLU6 / leaky ReLU's derivative from y [rows, per]: ceil(per / 32) u32 words per row. */
  actMask(kind: number, rows: number, per: number, y: Ptr, mask: Ptr): void;
  /** dx = bit ? dy : p * dy over [rows, per] by actMask's masks; dx may alias dy. */
  actMaskedBackward(rows: number, per: number, mask: Ptr, dy: Ptr, dx: Ptr, p: number): void;
  softmaxForward(rows: number, cols: number, x: Ptr, y: Ptr, log: number): void;
  softmaxBackward(rows: number, cols: number, y: Ptr, dy: Ptr, dx: Ptr, log: number): void;
  maxoutForward(rows: number, units: number, k: number, x: Ptr, y: Ptr): void;
  maxoutBackward(rows: number, units: number, k: number, x: Ptr, dy: Ptr, dx: Ptr): void;
  preluForward(n: number, C: number, x: Ptr, alpha: Ptr, y: Ptr): void;
  preluBackward(n: number, C: number, x: Ptr, alpha: Ptr, dy: Ptr, dx: Ptr, dalpha: Ptr): void;
  rreluTrain(n: number, x: Ptr, y: Ptr, slopes: Ptr, lower: number, upper: number, rng: Ptr): void;
  // norm.ts
  batchNormTrain(M: number, C: number, x: Ptr, gamma: Ptr, beta: Ptr, eps: number, momentum: number, y: Ptr,
    saveMean: Ptr, saveInvStd: Ptr, runMean: Ptr, runVar: Ptr, ws: Ptr): void;
  batchNormInfer(M: number, C: number, x: Ptr, gamma: Ptr, beta: Ptr, mean: Ptr, variance: Ptr, eps: number, y: Ptr, ws: Ptr): void;
  batchNormBackward(M: number, C: number, x: Ptr, dy: Ptr, gamma: Ptr, mean: Ptr, invStd: Ptr,
    dx: Ptr, dgamma: Ptr, dbeta: Ptr, ws: Ptr): void;
  /** batchNormBackward's sums over more rows, added to ws (4*C floats, zeroed first); the totals so far to dgamma, dbeta. */
  batchNormBackwardSums(M: number, C: number, x: Ptr, dy: Ptr, mean: Ptr, invStd: Ptr, dgamma: Ptr, dbeta: Ptr, ws: Ptr): void;
  /** batchNormBackward's dx over M rows of a batch of `total`, from the finished dgamma and dbeta. */
  batchNormBackwardApply(M: number, total: number, C: number, x: Ptr, dy: Ptr, gamma: Ptr, mean: Ptr, invStd: Ptr,
    dgamma: Ptr, dbeta: Ptr, dx: Ptr): void;
  // reduce.ts
  reduce(op: number, outer: number, n: number, inner: number, x: Ptr, out: Ptr): void;
  argmax(outer: number, n: number, inner: number, x: Ptr, out: Ptr): void;
  reduceBackward(op: number, outer: number, n: number, inner: number, x: Ptr, dy: Ptr, dx: Ptr): void;
  // elementwise.ts
  binary(op: number, rank: number, desc: Ptr, a: Ptr, b: Ptr, out: Ptr): void;
  sumToShape(rank: number, desc: Ptr, big: Ptr, small: Ptr, smallSize: number): void;
  axpy(n: number, alpha: number, x: Ptr, y: Ptr): void;
  affine(n: number, x: Ptr, scale: number, shift: number, out: Ptr): void;
  unary(kind: number, n: number, x: Ptr, y: Ptr): void;
  countNonFinite(n: number, x: Ptr): number;
  // copy.ts
  /** desc = [shape[rank], srcStrides[rank], dstStrides[rank]] (elements); src and dst must not overlap. */
  stridedCopy(rank: number, desc: Ptr, src: Ptr, dst: Ptr): void;
  fillValue(n: number, out: Ptr, value: number): void;
  // loss.ts
  lossElementwise(kind: number, n: number, pred: Ptr, target: Ptr, grad: Ptr, param: number, out: Ptr): number;
  softmaxCrossEntropy(rows: number, cols: number, logits: Ptr, target: Ptr, sparse: number, grad: Ptr, out: Ptr): number;
  categoricalHinge(rows: number, cols: number, pred: Ptr, target: Ptr, grad: Ptr, out: Ptr): number;
  // recurrent.ts (m: the step's column of a [B, T] mask, 0 = padding; 0 for no mask)
  rnnMaskRows(B: number, U: number, a: Ptr, lda: number, m: Ptr, out: Ptr, ldo: number, accumulate: number): void;
  rnnCell(B: number, U: number, z: Ptr, ldz: number, hp: Ptr, ldhp: number, m: Ptr, ldm: number, h: Ptr, ldh: number, act: number): void;
  rnnCellBackward(B: number, U: number, h: Ptr, ldh: number, dy: Ptr, lddy: number, m: Ptr, ldm: number, dh: Ptr, dz: Ptr, lddz: number, act: number): void;
  lstmCell(B: number, U: number, z: Ptr, ldz: number, hp: Ptr, ldhp: number, cp: Ptr, ldcp: number, m: Ptr, ldm: number,
    c: Ptr, ldc: number, h: Ptr, ldh: number, peep: Ptr, act: number, ract: number): void;
  lstmCellBackward(B: number, U: number, z: Ptr, ldz: number, cp: Ptr, ldcp: number, c: Ptr, ldc: number, dy: Ptr, lddy: number,
    m: Ptr, ldm: number, dh: Ptr, dc: Ptr, peep: Ptr, dpeep: Ptr, dz: Ptr, lddz: number, act: number, ract: number): void;
  gruGates(B: number, U: number, g: Ptr, ldg: number, hr: Ptr, rb: Ptr, hp: Ptr, ldhp: number, rh: Ptr, ldrh: number, ract: number): void;
  gruOutput(B: number, U: number, g: Ptr, ldg: number, hr: Ptr, rb: Ptr, hp: Ptr, ldhp: number, m: Ptr, ldm: number, n: Ptr, ldn: number,
    h: Ptr, ldh: number, act: number, resetAfter: number): void;
  gruBackward(B: number, U: number, g: Ptr, ldg: number, hp: Ptr, ldhp: number, n: Ptr, ldn: number, dy: Ptr, lddy: number,
    m: Ptr, ldm: number, dh: Ptr, dx: Ptr, lddx: number, dhr: Ptr, lddhr: number, act: number, ract: number, resetAfter: number): void;
  gruBackwardReset(B: number, U: number, g: Ptr, ldg: number, hp: Ptr, ldhp: number, drh: Ptr, dx: Ptr, lddx: number, dh: Ptr, ract: number): void;
  // augment.ts (mats: a 2x3 matrix per image, output to input pixel coordinates; params: 4 floats per image and channel)
  imageAffine(N: number, H: number, W: number, C: number, OH: number, OW: number, x: Ptr, mats: Ptr, y: Ptr, interp: number, fill: number, fillValue: number): void;
  imageAffineBackward(N: number, H: number, W: number, C: number, OH: number, OW: number, dy: Ptr, mats: Ptr, dx: Ptr, interp: number, fill: number): void;
  imageAdjust(N: number, HW: number, C: number, x: Ptr, params: Ptr, lo: number, hi: number, y: Ptr): void;
  imageAdjustBackward(N: number, HW: number, C: number, x: Ptr, dy: Ptr, params: Ptr, lo: number, hi: number, dx: Ptr, ws: Ptr): void;
  // random.ts
  rngSeed(rng: Ptr, seed: number): void;
  rngUniform(rng: Ptr, n: number, out: Ptr, lo: number, hi: number): void;
  rngNormal(rng: Ptr, n: number, out: Ptr, mean: number, std: number, truncated: number): void;
  dropoutMask(rng: Ptr, n: number, mask: Ptr, rate: number): void;
}

// Codes shared with assembly/common.ts and the family files. Keep in sync.
export const Act = {
  linear: 0, relu: 1, relu6: 2, leakyRelu: 3, elu: 4, selu: 5, sigmoid: 6, tanh: 7, softplus: 8, gelu: 9, step: 10, sign: 11, hardSigmoid: 12,
} as const;
export const Bin = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6 } as const;
export const Un = { neg: 0, abs: 1, exp: 2, log: 3, sqrt: 4, square: 5, reciprocal: 6 } as const;
export const Red = { sum: 0, mean: 1, max: 2, min: 3 } as const;
export const Pool = { max: 0, avg: 1 } as const;
export const Loss = { mse: 0, mae: 1, huber: 2, bce: 3, bceLogits: 4, hinge: 5 } as const;
export const AMode = { matrix: 0, im2col: 1 } as const;

/** assembly/optim.ts: fused optimizer updates and gradient preprocessing. */
export interface OptimKernels {
  sgdUpdate(n: number, w: Ptr, g: Ptr, v: Ptr, lr: number, momentum: number, nesterov: number): void;
  adagradUpdate(n: number, w: Ptr, g: Ptr, a: Ptr, lr: number, eps: number): void;
  adadeltaUpdate(n: number, w: Ptr, g: Ptr, eg: Ptr, ed: Ptr, lr: number, rho: number, eps: number): void;
  rmspropUpdate(n: number, w: Ptr, g: Ptr, s: Ptr, v: Ptr, lr: number, rho: number, momentum: number, eps: number): void;
  adamUpdate(n: number, w: Ptr, g: Ptr, m: Ptr, v: Ptr, lr: number, b1: number, b2: number, eps: number, t: number): void;
  nadamUpdate(n: number, w: Ptr, g: Ptr, m: Ptr, v: Ptr, lr: number, b1: number, b2: number, eps: number, t: number): void;
  rpropUpdate(n: number, w: Ptr, g: Ptr, prev: Ptr, step: Ptr, etaMinus: number, etaPlus: number, stepMin: number, stepMax: number): void;
  regularizeGrad(n: number, w: Ptr, g: Ptr, l1: number, l2: number): void;
  penalty(n: number, w: Ptr, l1: number, l2: number): number;
  sumSquares(n: number, x: Ptr): number;
  /** acc (one f32) += sum x^2: the global norm for clipping, kept in memory (a GPU cannot return it). */
  sumSquaresTo(n: number, x: Ptr, acc: Ptr): void;
  /** x *= clip / sqrt(acc) where sqrt(acc) > clip. */
  scaleByNorm(n: number, x: Ptr, acc: Ptr, clip: number): void;
  clampValues(n: number, x: Ptr, lo: number, hi: number): void;
  maxNormColumns(rows: number, cols: number, w: Ptr, c: number): void;
}

/** Every kernel of the ABI by name (test/abi.test.ts checks this list against the interfaces above). */
export const KERNEL_NAMES: readonly (keyof Kernels)[] = [
  'gemm', 'gemmWorkspaceSize', 'gemmPackB', 'gemmPackedBSize', 'gemmPackedASize', 'gemmPrepacked',
  'qgemmPackedBSize', 'qgemmPackedASize', 'qgemmWorkSize', 'qWeightsAre7Bit', 'qgemmPackB', 'qgemmPackA', 'qgemm',
  'qim2col', 'qQuantizePackA', 'quantizeU8', 'dequantizeU8', 'qdepthwiseWorkSize', 'qdepthwise', 'convWorkspaceSize', 'conv2dForward',
  'conv2dBackwardInput', 'conv2dBackwardFilter', 'columnSums', 'pool2dForward', 'pool2dBackward', 'actForward',
  'actBackward', 'actMask', 'actMaskedBackward', 'softmaxForward', 'softmaxBackward', 'maxoutForward', 'maxoutBackward', 'preluForward',
  'preluBackward', 'rreluTrain', 'batchNormTrain', 'batchNormInfer', 'batchNormBackward', 'batchNormBackwardSums', 'batchNormBackwardApply', 'reduce', 'argmax',
  'reduceBackward', 'binary', 'sumToShape', 'axpy', 'affine', 'unary', 'countNonFinite', 'lossElementwise',
  'softmaxCrossEntropy', 'categoricalHinge', 'rngSeed', 'rngUniform', 'rngNormal', 'dropoutMask', 'sgdUpdate',
  'adagradUpdate', 'adadeltaUpdate', 'rmspropUpdate', 'adamUpdate', 'nadamUpdate', 'rpropUpdate', 'regularizeGrad',
  'penalty', 'sumSquares', 'sumSquaresTo', 'scaleByNorm', 'clampValues', 'maxNormColumns', 'stridedCopy', 'fillValue',
  'rnnMaskRows', 'rnnCell', 'rnnCellBackward', 'lstmCell', 'lstmCellBackward', 'gruGates', 'gruOutput', 'gruBackward', 'gruBackwardReset',
  'imageAffine', 'imageAffineBackward', 'imageAdjust', 'imageAdjustBackward',
];
