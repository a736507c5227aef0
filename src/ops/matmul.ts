// Matrix multiplication: C = op(A) op(B), op = identity or transpose, with an optional fused bias and
// activation (eg.fused.matMul). Kernel: assembly/gemm_f32.ts.
import { Act } from '../backend/wasm/kernels.js';
import { activateInPlace, type ActivationName, fusableActivation } from './activation.js';
import { arr, backend, fail, formatShape, input, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';

/** Shape rule: [M, K] x [K, N] -> [M, N] with transposes; rank-3 operands batch (batch 1 broadcasts). */
export function matMulShape(a: readonly number[], b: readonly number[], tA: boolean, tB: boolean, op = 'matMul'): number[] {
  if (a.length < 2 || a.length > 3 || b.length < 2 || b.length > 3) {
    fail(op, `operands must be rank 2 or 3, got ${formatShape(a)} and ${formatShape(b)}`);
  }
  const [M, Ka] = tA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [Kb, N] = tB ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (Ka !== Kb) {
    fail(op, `inner dimensions differ: ${formatShape(a)}${tA ? 'ᵀ' : ''} x ${formatShape(b)}${tB ? 'ᵀ' : ''} (${Ka} vs ${Kb})`);
  }
  if (a.length === 2 && b.length === 2) return [M, N];
  const ba = a.length === 3 ? a[0] : 1, bb = b.length === 3 ? b[0] : 1;
  if (ba !== bb && ba !== 1 && bb !== 1) fail(op, `batch dimensions differ: ${formatShape(a)} x ${formatShape(b)}`);
  return [Math.max(ba, bb), M, N];
}

export interface FusedMatMulArgs {
  a: Tensor | TensorLike;
  b: Tensor | TensorLike;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: Tensor | TensorLike;
  activation?: ActivationName;
  /** slope of leakyRelu / alpha of elu */
  alpha?: number;
}

/** act(op(A) op(B) + bias); ReLU, ReLU6, leaky ReLU and linear run inside the GEMM epilogue. */
export function fusedMatMul(args: FusedMatMulArgs, op = 'fused.matMul'): Tensor {
  const a = input(args.a, op, 'a'), b = input(args.b, op, 'b');
  const tA = !!args.transposeA, tB = !!args.transposeB;
  const shape = matMulShape(a.shape, b.shape, tA, tB, op);
  const N = shape[shape.length - 1], M = shape[shape.length - 2];
  const K = tA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  let bias: Tensor | undefined;
  if (args.bias !== undefined) {
    bias = input(args.bias, op, 'bias');
    if (bias.size !== N) fail(op, `bias must have ${N} elements (one per output column), got ${formatShape(bias.shape)}`);
  }
  const actName = args.activation ?? 'linear';
  const fused = fusableActivation(actName);
  const p = args.alpha ?? (actName === 'leakyRelu' ? 0.2 : 1);
  const out = Tensor.empty(shape);
  const be = backend();
  const batch = shape.length === 3 ? shape[0] : 1;
  const ws = be.workspace(be.kernels.gemmWorkspaceSize(M, N, K));
  const lda = tA ? M : K, ldb = tB ? K : N;
  const aStep = a.rank === 3 && a.shape[0] > 1 ? M * K * 4 : 0, bStep = b.rank === 3 && b.shape[0] > 1 ? K * N * 4 : 0;
  for (let i = 0; i < batch; i++) {
    be.kernels.gemm(+tA, +tB, M, N, K, 1, a.ptr + i * aStep, lda, b.ptr + i * bStep, ldb, 0, out.ptr + i * M * N * 4, N,
      bias ? bias.ptr : 0, fused ?? Act.linear, p, ws);
  }
  if (fused === undefined) activateInPlace(out, actName, p);
  return out;
}

/** C = op(A) op(B) (TF.js tf.matMul). */
export function matMul(a: Tensor | TensorLike, b: Tensor | TensorLike, transposeA = false, transposeB = false): Tensor {
  return fusedMatMul({ a, b, transposeA, transposeB }, 'matMul');
}

/** Gradients of C = op(A) op(B) for rank-2 operands: dA and dB in the layouts of A and B. */
export function matMulGrad(a: Tensor, b: Tensor, dy: Tensor, transposeA = false, transposeB = false): { da: Tensor; db: Tensor } {
  const want = matMulShape(a.shape, b.shape, transposeA, transposeB, 'matMulGrad');
  if (dy.rank !== want.length || dy.shape.some((d, i) => d !== want[i])) fail('matMulGrad', `dy must be ${formatShape(want)}, got ${formatShape(dy.shape)}`);
  // d op(A) = dY op(B)^T and d op(B) = op(A)^T dY; a transposed operand takes the transpose of that.
  const da = transposeA
    ? matMul(b, dy, transposeB, true)
    : matMul(dy, b, false, !transposeB);
  const db = transposeB
    ? matMul(dy, a, true, transposeA)
    : matMul(a, dy, !transposeA, false);
  return { da, db };
}

/** Reference: triple loop in float64. */
export function refMatMul(a: Arr, b: Arr, tA = false, tB = false): Arr {
  const [M, K] = tA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const N = tB ? b.shape[0] : b.shape[1];
  const out = arr([M, N]);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = tA ? a.data[k * M + i] : a.data[i * K + k];
        const bv = tB ? b.data[j * K + k] : b.data[k * N + j];
        s += av * bv;
      }
      out.data[i * N + j] = s;
    }
  }
  return out;
}
