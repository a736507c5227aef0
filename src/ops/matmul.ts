// Matrix multiplication: C = op(A) op(B), op = identity or transpose, with an optional fused bias and
// activation (eg.fused.matMul). Kernel: assembly/gemm_f32.ts.
import { Act, AMode } from '../backend/kernels.js';
import { actBackward, activateInPlace, type ActivationName, defaultParam, fusableActivation, maskSlope } from './activation.js';
import { arr, fail, formatShape, input, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type GradBuilder, type RunContext } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import { sizeOfShape, type Node } from '../graph/ir.js';
import type { Backend } from '../backend/index.js';

/**
 * Shape rule: [M, K] x [K, N] -> [M, N] with transposes; the axes before the last two are batch axes,
 * broadcast as NumPy does (aligned on the right, a 1 broadcasts; the graph's batch, -1, meets -1 or 1).
 */
export function matMulShape(a: readonly number[], b: readonly number[], tA: boolean, tB: boolean, op = 'matMul'): number[] {
  if (a.length < 2 || b.length < 2) fail(op, `operands must be rank 2 or more, got ${formatShape(a)} and ${formatShape(b)}`);
  const [M, Ka] = tA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [Kb, N] = tB ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (Ka !== Kb) {
    fail(op, `inner dimensions differ: ${formatShape(a)}${tA ? 'ᵀ' : ''} x ${formatShape(b)}${tB ? 'ᵀ' : ''} (${Ka} vs ${Kb})`);
  }
  const ba = a.slice(0, -2), bb = b.slice(0, -2), r = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = ba[ba.length - r + i] ?? 1, db = bb[bb.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) fail(op, `batch dimensions differ: ${formatShape(a)} x ${formatShape(b)}`);
    // 1 broadcasts; the batch of a graph (-1) is not smaller than 1
    batch.push(da === 1 ? db : da);
  }
  return [...batch, M, N];
}

/** The offset (in matrices) of each of the `batch` products in an operand whose batch axes are `own` (1s broadcast). */
function batchOffsets(batch: readonly number[], own: readonly number[]): number[] {
  const r = batch.length, full = [...new Array(r - own.length).fill(1), ...own];
  const strides = new Array<number>(r).fill(0);
  for (let i = r - 1, s = 1; i >= 0; i--) { strides[i] = full[i] === 1 ? 0 : s; s *= full[i]; }
  const count = sizeOfShape(batch), out = new Array<number>(count);
  for (let k = 0; k < count; k++) {
    let rem = k, off = 0;
    for (let i = r - 1; i >= 0; i--) { off += (rem % batch[i]) * strides[i]; rem = Math.floor(rem / batch[i]); }
    out[k] = off;
  }
  return out;
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
  const N = shape[shape.length - 1];
  let bias: Tensor | undefined;
  if (args.bias !== undefined) {
    bias = input(args.bias, op, 'bias');
    if (bias.size !== N) fail(op, `bias must have ${N} elements (one per output column), got ${formatShape(bias.shape)}`);
  }
  const actName = args.activation ?? 'linear';
  const fused = fusableActivation(actName) !== undefined;
  const p = defaultParam(actName, args.alpha);
  const [out] = runEager('matMul', bias ? [a, b, bias] : [a, b], { transposeA: tA, transposeB: tB, activation: fused ? actName : 'linear', alpha: p });
  if (!fused) activateInPlace(out, actName, p);
  return out;
}

/**
 * The f32 GEMM's one call site: C = alpha op(A) op(B) + beta C (+ bias, epilogue activation), handles
 * resolved by the caller (offsets into a buffer are allowed).
 */
export function gemm(ctx: RunContext, tA: boolean, tB: boolean, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number,
  C: number, ldc: number, bias = 0, act: number = Act.linear, alpha = 0): void {
  const k = ctx.be.kernels;
  k.gemm(+tA, +tB, M, N, K, 1, A, lda, B, ldb, 0, C, ldc, bias, act, alpha, ctx.be.workspace(k.gemmWorkspaceSize(M, N, K)));
}

/** Column sums of a rows x cols matrix (bias gradients): the kernel's one call site. */
export function columnSums(ctx: RunContext, rows: number, cols: number, a: number, out: number): void {
  ctx.be.kernels.columnSums(rows, cols, a, out);
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

// ---- graph ops: dense (x W + b, fused activation) and its gradient ----


/** Which of dX, dW, db a backward node must produce (frozen weights, inputs that need no gradient). */
/**
 * The inputs of a dense or conv2d node's gradient node: [x, w, y, dy], where x is read only for the
 * kernel's gradient (else the kernel stands in for it and attrs.xShape gives its shape) and y only for the
 * activation's derivative (a linear one reads dy in its place): a value no gradient reads is not kept
 * alive from the forward pass to the backward one (TinyTL's frozen kernels keep no inputs at all).
 */
export function gradInputs(n: Node, dy: number, needW: boolean): number[] {
  const linear = ((n.attrs.activation as string | undefined) ?? 'linear') === 'linear';
  return [needW ? n.inputs[0] : n.inputs[1], n.inputs[1], linear ? dy : n.outputs[0], dy];
}

/** Whether a dense or conv2d node's attrs have no activation: its gradient node then has no dZ output (dZ = dy). */
export function linearAct(attrs: Record<string, unknown>): boolean {
  return ((attrs.activation as string | undefined) ?? 'linear') === 'linear';
}

/** The forward input's shape in a gradient node made by gradInputs: attrs.xShape (batch from y's) when x is not an input. */
export function gradXShape(x: readonly number[], y: readonly number[], attrs: Record<string, unknown>): number[] {
  const s = attrs.xShape as number[] | undefined;
  return s ? [y[0], ...s.slice(1)] : x.slice();
}

export function gradNeeds(node: Node, b: GradBuilder): { needX: boolean; needW: boolean; needB: boolean } {
  return {
    needX: b.needs(node.inputs[0]),
    needW: b.needs(node.inputs[1]),
    needB: node.inputs.length > 2 && b.needs(node.inputs[2]),
  };
}

registerOp({
  name: 'dense',
  infer([x, w, bias], attrs, node) {
    if (x.length !== 2) fail('dense', `node '${node}': input must be rank 2 [batch, features], got ${formatShape(x)} (add a flatten layer)`);
    if (w.length !== 2 || w[0] !== x[1]) fail('dense', `node '${node}': input ${formatShape(x)} does not match kernel ${formatShape(w)}`);
    if (bias && (bias.length !== 1 || bias[0] !== w[1])) fail('dense', `node '${node}': bias ${formatShape(bias)} does not match ${w[1]} units`);
    return [[x[0], w[1]]];
  },
  run(ctx, n) {
    const [x, w, b] = n.inputs, y = n.outputs[0];
    const [M, K] = ctx.shape(x), N = ctx.shape(w)[1];
    const k = ctx.be.kernels;
    const act = Act[n.attrs.activation as keyof typeof Act], alpha = (n.attrs.alpha as number) ?? 0, bias = b !== undefined ? ctx.ptr(b) : 0;
    const packed = ctx.prepared(n.id);
    if (packed) {
      k.gemmPrepacked(AMode.matrix, 0, M, N, K, 1, ctx.ptr(x), K, packed, 0, ctx.ptr(y), N, bias, act, alpha, ctx.be.workspace(k.gemmPackedASize()));
    } else {
      gemm(ctx, false, false, M, N, K, ctx.ptr(x), K, ctx.ptr(w), N, ctx.ptr(y), N, bias, act, alpha);
    }
  },
  // inference plans pack the kernel into GEMM panels once per weight version, where the batch is big enough
  // for the packed path
  prepare: {
    inputs: [1],
    bytes: (be, shape, n) => (shape(n.inputs[0])[0] < 4 ? 0 : be.kernels.gemmPackedBSize(shape(n.inputs[1])[0], shape(n.inputs[1])[1])),
    run(ctx, n, dst) {
      const [K, N] = ctx.shape(n.inputs[1]);
      ctx.be.kernels.gemmPackB(0, K, N, ctx.ptr(n.inputs[1]), N, dst);
    },
  },
  grad(n, [dy], b) {
    const needs = gradNeeds(n, b);
    const outs = b.node('denseGrad', gradInputs(n, dy!, needs.needW), { ...n.attrs, ...needs, ...(needs.needW ? {} : { xShape: b.shape(n.inputs[0]).slice() }) }, `${n.name}_grad`);
    // a linear activation's gradient is dy itself: no dZ output (gradInputs)
    let k = linearAct(n.attrs) ? 0 : 1;
    return [needs.needX ? outs[k++] : undefined, needs.needW ? outs[k++] : undefined, needs.needB ? outs[k++] : undefined];
  },
  flops: ([x, w]) => 2 * x[0] * x[1] * w[1],
});

registerOp({
  name: 'denseGrad',
  // outputs: dZ (gradient before the activation), then dX, dW, db as needed
  infer([x, w, y, dy], attrs) {
    const out = linearAct(attrs) ? [] : [dy.slice()];
    if (attrs.needX) out.push(gradXShape(x, dy, attrs));
    if (attrs.needW) out.push(w.slice());
    if (attrs.needB) out.push([w[1]]);
    return out;
  },
  run(ctx, n) {
    const [x, w, y, dy] = n.inputs;
    const [M, K] = gradXShape(ctx.shape(x), ctx.shape(dy), n.attrs), N = ctx.shape(w)[1];
    const linear = linearAct(n.attrs), dz = linear ? ctx.ptr(dy) : ctx.ptr(n.outputs[0]);
    if (!linear) activationGradFromOutput(ctx.be, n.attrs.activation as string, (n.attrs.alpha as number) ?? 0, M * N, ctx.ptr(y), ctx.ptr(dy), dz, n.attrs.masked ? M : 0);
    let o = linear ? 0 : 1;
    if (n.attrs.needX) gemm(ctx, false, true, M, K, N, dz, N, ctx.ptr(w), N, ctx.ptr(n.outputs[o++]), K);
    if (n.attrs.needW) gemm(ctx, true, false, K, N, M, ctx.ptr(x), K, dz, N, ctx.ptr(n.outputs[o++]), N);
    if (n.attrs.needB) columnSums(ctx, M, N, dz, ctx.ptr(n.outputs[o++]));
  },
});

registerOp({
  name: 'matMul',
  // inputs: a, b (rank 2 or more; batch axes broadcast, see matMulShape), optional bias [N]; attrs: transposeA, transposeB,
  // activation (one the epilogue applies), alpha
  infer([a, b, bias], attrs) {
    const shape = matMulShape(a, b, !!attrs.transposeA, !!attrs.transposeB);
    if (bias && (bias.length !== 1 || bias[0] !== shape[shape.length - 1])) fail('matMul', `bias ${formatShape(bias)} does not match ${shape[shape.length - 1]} columns`);
    return [shape];
  },
  run(ctx, n) {
    const [a, b, bias] = n.inputs, y = n.outputs[0];
    const tA = !!n.attrs.transposeA, tB = !!n.attrs.transposeB;
    const as = ctx.shape(a), bs = ctx.shape(b), shape = ctx.shape(y);
    const N = shape[shape.length - 1], M = shape[shape.length - 2];
    const K = tA ? as[as.length - 2] : as[as.length - 1];
    const batch = shape.slice(0, -2), offA = batchOffsets(batch, as.slice(0, -2)), offB = batchOffsets(batch, bs.slice(0, -2));
    const act = Act[(n.attrs.activation as keyof typeof Act | undefined) ?? 'linear'], alpha = (n.attrs.alpha as number) ?? 0;
    for (let i = 0; i < offA.length; i++) {
      gemm(ctx, tA, tB, M, N, K, ctx.ptr(a) + offA[i] * M * K * 4, tA ? M : K, ctx.ptr(b) + offB[i] * K * N * 4, tB ? K : N, ctx.ptr(y) + i * M * N * 4, N,
        bias !== undefined ? ctx.ptr(bias) : 0, act, alpha);
    }
  },
  flops: ([a], [y], attrs) => 2 * sizeOfShape(y) * (attrs.transposeA ? a[a.length - 2] : a[a.length - 1]),
  // y = op(A) op(B) (+ bias): dA and dB by two more products, summed over the batch where an operand of
  // rank 2 met one of rank 3; the bias's gradient sums dy to its shape
  grad(n, [dy], b) {
    const [a, w, bias] = n.inputs;
    const tA = !!n.attrs.transposeA, tB = !!n.attrs.transposeB;
    if (((n.attrs.activation as string | undefined) ?? 'linear') !== 'linear') fail('matMul', `node '${n.name}': no gradient through a fused activation`);
    const mm = (x: number, y: number, ta: boolean, tb: boolean, k: string) => b.node('matMul', [x, y], { transposeA: ta, transposeB: tb }, `${n.name}_${k}`)[0];
    // a product over a batch that the operand did not have: summed over it
    const fit = (g: number, like: number, k: string) => {
      const gs = b.shape(g), ls = b.shape(like);
      if (gs.length === 3 && ls.length === 2) return b.node('reduce', [g], { op: 'sum', axis: 0 }, `${n.name}_${k}_sum`)[0];
      if (gs.length === 3 && ls[0] === 1 && gs[0] !== 1) {
        const sum = b.node('reduce', [g], { op: 'sum', axis: 0 }, `${n.name}_${k}_sum`)[0];
        return b.node('reshape', [sum], { shape: ls.slice() }, `${n.name}_${k}_1`)[0];
      }
      // batch axes of 1 broadcast (rank 4 and more): summed over
      if (gs.join() !== ls.join()) return b.node('sumToShape', [g, like], {}, `${n.name}_${k}_sum`)[0];
      return g;
    };
    const dA = b.needs(a) ? fit(tA ? mm(w, dy!, tB, true, 'da') : mm(dy!, w, false, !tB, 'da'), a, 'da') : undefined;
    const dW = b.needs(w) ? fit(tB ? mm(dy!, a, true, tA, 'db') : mm(a, dy!, !tA, false, 'db'), w, 'db') : undefined;
    const dBias = bias !== undefined && b.needs(bias) ? b.node('sumToShape', [dy!, bias], {}, `${n.name}_dbias`)[0] : undefined;
    return [dA, dW, dBias];
  },
});

/**
 * dz = dy * act'(from y) for the output-fusable activations (linear copies). maskRows > 0: y is
 * activationMask's bits of y over that many rows (graph/passes.ts maskActivations).
 */
export function activationGradFromOutput(be: Backend, activation: string, alpha: number, n: number, y: number, dy: number, dz: number, maskRows = 0): void {
  if (activation === 'linear') {
    be.copy(dz, dy, n * 4);
    return;
  }
  if (maskRows) {
    be.kernels.actMaskedBackward(maskRows, n / maskRows, y, dy, dz, maskSlope(activation, alpha));
    return;
  }
  // relu: y > 0 iff x > 0; relu6: 0 < y < 6 iff 0 < x < 6; leaky (alpha > 0): y >= 0 iff x >= 0
  actBackward(be, activation, n, y, 0, dy, dz, alpha);
}
