// Batch normalization over the last (channel) axis: inference with running statistics (TF.js
// tf.batchNorm), training with batch statistics and running-average updates, and the backward pass.
// Kernels: assembly/norm.ts.
import { arr, fail, finite, formatShape, input, type Arr, Tensor } from './util.js';
import { fill, type TensorLike } from '../tensor.js';
import { registerOp } from '../graph/registry.js';
import type { DeviceNumeric } from '../backend/webgpu/numeric.js';
import { runEager } from '../graph/eager.js';
import { sizeOfShape } from '../graph/ir.js';
import { Act } from '../backend/kernels.js';
import { convGeometry, geometryBlock, type Padding } from './conv.js';

function channelParam(t: Tensor | TensorLike | undefined, C: number, fillValue: number, op: string, name: string): Tensor {
  if (t === undefined) {
    return fill([C], fillValue);
  }
  const p = input(t, op, name);
  if (p.size !== C) fail(op, `'${name}' must have ${C} elements (one per channel), got ${formatShape(p.shape)}`);
  return p;
}

/** y = scale (x - mean) / sqrt(variance + eps) + offset, per channel (last axis). */
export function batchNorm(x: Tensor | TensorLike, mean: Tensor | TensorLike, variance: Tensor | TensorLike,
  offset?: Tensor | TensorLike, scale?: Tensor | TensorLike, varianceEpsilon = 1e-3): Tensor {
  const op = 'batchNorm';
  const t = input(x, op, 'x');
  if (t.rank < 1) fail(op, 'x must have a channel axis');
  finite(varianceEpsilon, op, 'varianceEpsilon');
  const C = t.shape[t.rank - 1];
  const m = channelParam(mean, C, 0, op, 'mean'), v = channelParam(variance, C, 1, op, 'variance');
  const b = channelParam(offset, C, 0, op, 'offset'), g = channelParam(scale, C, 1, op, 'scale');
  const [y, bm, bs] = runEager('batchNorm', [t, g, b, m, v], { epsilon: varianceEpsilon });
  bm.dispose(); bs.dispose();
  if (offset === undefined) b.dispose();
  if (scale === undefined) g.dispose();
  return y;
}

export interface BatchNormTrainResult { y: Tensor; mean: Tensor; invStd: Tensor }

/**
 * Training-mode batch norm: normalize with the batch's mean and biased variance, and update movingMean /
 * movingVariance in place as Keras does: moving = momentum * moving + (1 - momentum) * batch.
 */
export function batchNormTrain(x: Tensor, gamma: Tensor, beta: Tensor, opts: { epsilon?: number; momentum?: number; movingMean?: Tensor; movingVariance?: Tensor } = {}): BatchNormTrainResult {
  const op = 'batchNormTrain';
  const { epsilon = 1e-3, momentum = 0.99 } = opts;
  finite(epsilon, op, 'epsilon'); finite(momentum, op, 'momentum');
  const C = x.shape[x.rank - 1];
  for (const [n, p] of [['gamma', gamma], ['beta', beta], ['movingMean', opts.movingMean], ['movingVariance', opts.movingVariance]] as const) {
    if (p && p.size !== C) fail(op, `'${n}' must have ${C} elements, got ${formatShape(p.shape)}`);
  }
  const M = x.size / C;
  if (M < 1) fail(op, `x ${formatShape(x.shape)} has no rows to take statistics over`);
  const moving = opts.movingMean && opts.movingVariance ? [opts.movingMean, opts.movingVariance] : [];
  if (opts.movingMean && !opts.movingVariance) fail(op, "'movingMean' needs 'movingVariance' too");
  const [y, mean, invStd] = runEager('batchNorm', [x, gamma, beta, ...moving], { epsilon, momentum }, { training: true });
  for (const t of moving) t.version++;
  return { y, mean, invStd };
}

export function batchNormGrad(x: Tensor, dy: Tensor, gamma: Tensor, mean: Tensor, invStd: Tensor): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  const C = x.shape[x.rank - 1];
  if (dy.size !== x.size) fail('batchNormGrad', `dy ${formatShape(dy.shape)} does not match x ${formatShape(x.shape)}`);
  if (gamma.size !== C) fail('batchNormGrad', `gamma ${formatShape(gamma.shape)} does not have ${C} channels`);
  const [dx, dgamma, dbeta] = runEager('batchNormGrad', [x, dy, gamma, mean, invStd]);
  return { dx, dgamma, dbeta };
}

/** Reference training-mode batch norm (float64): batch mean and biased variance per channel. */
export function refBatchNormTrain(x: Arr, gamma: Arr, beta: Arr, eps: number): Arr {
  const C = x.shape[x.shape.length - 1], M = x.data.length / C;
  const out = arr(x.shape);
  for (let c = 0; c < C; c++) {
    let m = 0;
    for (let r = 0; r < M; r++) m += x.data[r * C + c];
    m /= M;
    let v = 0;
    for (let r = 0; r < M; r++) v += (x.data[r * C + c] - m) ** 2;
    v /= M;
    for (let r = 0; r < M; r++) out.data[r * C + c] = gamma.data[c] * (x.data[r * C + c] - m) / Math.sqrt(v + eps) + beta.data[c];
  }
  return out;
}

export function refBatchNorm(x: Arr, mean: Arr, variance: Arr, offset: Arr, scale: Arr, eps: number): Arr {
  const C = x.shape[x.shape.length - 1];
  const out = arr(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const c = i % C;
    out.data[i] = scale.data[c] * (x.data[i] - mean.data[c]) / Math.sqrt(variance.data[c] + eps) + offset.data[c];
  }
  return out;
}

// ---- graph ops ----

registerOp({
  name: 'batchNorm',
  // inputs: x, gamma, beta, moving mean, moving variance (optional in training: eager batchNormTrain);
  // outputs: y, batch mean, 1/sqrt(batch var + eps)
  infer([x, ...params], a, node) {
    const C = x[x.length - 1];
    // gamma, beta, moving mean, moving variance: one value per channel each, or the kernel reads past them
    ['gamma', 'beta', 'moving mean', 'moving variance'].forEach((what, k) => {
      if (k >= 2 && params.length === 2 && a.momentum !== undefined && !a.frozen) return;
      const s = params[k];
      if (!s || sizeOfShape(s) !== C) fail('batchNorm', `node '${node}': ${what} is ${s ? formatShape(s) : 'missing'}, but ${formatShape(x)} has ${C} channels`);
    });
    return [x.slice(), [C], [C]];
  },
  run(ctx, n) {
    const [x, g, b, mm, mv] = n.inputs, [y, mean, invStd] = n.outputs;
    const shape = ctx.shape(x), C = shape[shape.length - 1], M = sizeOfShape(shape) / C;
    const eps = n.attrs.epsilon as number;
    const k = ctx.be.kernels;
    // a frozen batch norm (Keras: trainable = false) normalizes with its moving statistics even in training;
    // one with batchStats (ONNX's training_mode 1) with the batch's at inference too, updating nothing then
    if ((ctx.training || n.attrs.batchStats) && !n.attrs.frozen) {
      const update = ctx.training && mm !== undefined;
      k.batchNormTrain(M, C, ctx.ptr(x), ctx.ptr(g), ctx.ptr(b), eps, n.attrs.momentum as number, ctx.ptr(y), ctx.ptr(mean), ctx.ptr(invStd),
        update ? ctx.ptr(mm) : 0, update ? ctx.ptr(mv) : 0, ctx.be.workspace(C * 16));
    } else {
      k.batchNormInfer(M, C, ctx.ptr(x), ctx.ptr(g), ctx.ptr(b), ctx.ptr(mm), ctx.ptr(mv), eps, ctx.ptr(y), ctx.be.workspace(C * 4));
    }
  },
  // y may be written over x (the statistics are read or computed first; each element reads its own x)
  inPlace: () => [[0, 0]],
  // (a copy without the moving statistics, as gradient checkpointing recomputes it, writes nothing)
  mutates: (n, training) => (training && !n.attrs.frozen && n.inputs.length > 3 ? [3, 4] : []),
  grad(n, [dy], b) {
    const [x, g, beta, mm, mv] = n.inputs, [, mean, invStd] = n.outputs;
    if (n.attrs.frozen) {
      // inference mode: y = gamma (x - mean) / sqrt(var + eps) + beta with the moving statistics constant, so
      // dx = dy gamma / sqrt(var + eps); gamma and beta still train where they are trainable (a block
      // fine-tuned with its batch norms in inference mode): dgamma = sum dy xhat, dbeta = sum dy
      // dgamma reads x; dbeta (TinyTL's shifts) does not: x is an input, kept from the forward pass, only for gamma
      const needX = b.needs(x), needGamma = b.needs(g), needG = needGamma || b.needs(beta);
      const outs = b.node('batchNormFrozenGrad', needGamma ? [dy!, g, mv, x, mm] : [dy!, g, mv], { ...n.attrs, needX, needG, needGamma }, `${n.name}_grad`);
      return [needX ? outs[0] : undefined, needG ? outs[needX ? 1 : 0] : undefined, needG ? outs[needX ? 2 : 1] : undefined, undefined, undefined];
    }
    const [dx, dg, db] = b.node('batchNormGrad', [x, dy!, g, mean, invStd], {}, `${n.name}_grad`);
    return [dx, dg, db, undefined, undefined];
  },
  flops: ([x]) => 4 * sizeOfShape(x),
});

registerOp({
  name: 'batchNormGrad',
  infer([x]) { const C = x[x.length - 1]; return [x.slice(), [C], [C]]; },
  // dx may be written over dy (the kernels read dy's sums first, then each dx from its own dy)
  inPlace: () => [[0, 1]],
  run(ctx, n) {
    const [x, dy, g, mean, invStd] = n.inputs, [dx, dg, db] = n.outputs;
    const shape = ctx.shape(x), C = shape[shape.length - 1];
    ctx.be.kernels.batchNormBackward(sizeOfShape(shape) / C, C, ctx.ptr(x), ctx.ptr(dy), ctx.ptr(g), ctx.ptr(mean), ctx.ptr(invStd),
      ctx.ptr(dx), ctx.ptr(dg), ctx.ptr(db), ctx.be.workspace(C * 16));
  },
});

/**
 * batchNormGrad of a batch norm whose input x is a 1x1 convolution (stride 1, no padding, no activation) of
 * `a`, without x: gradient checkpointing's form of it where x would be recomputed whole (graph/recompute.ts).
 * x comes back a block of rows at a time into scratch, twice (once for the sums, once for dx), so a step
 * never holds x beside dy: at MobileNetV2's widest expansion that is a third of a training step's peak. The
 * blocks are whole GEMM row blocks, and the sums carry over between blocks in the same order, so the
 * numbers are batchNormGrad's on a recomputed x, bit for bit.
 */
export const CONV1X1_BN_GRAD = 'conv1x1BatchNormGrad';

/** Bytes of x a block of rows may take in scratch (the first block at least 128 rows: GEMM's row block). */
const BLOCK_BYTES = 1 << 18;
const GEMM_ROWS = 128;

/** Whether conv node attributes and shapes make a pointwise convolution that conv1x1BatchNormGrad can recompute. */
export function isPointwiseConv(xShape: readonly number[], wShape: readonly number[], attrs: Record<string, unknown>): boolean {
  if (xShape.length !== 4 || wShape.length !== 4 || ((attrs.activation as string | undefined) ?? 'linear') !== 'linear') return false;
  try {
    const g = convGeometry(xShape.map((d) => Math.abs(d)), wShape, attrs.strides as [number, number], attrs.pad as Padding, attrs.dilations as [number, number], 'conv2d');
    return g.KH === 1 && g.KW === 1 && g.SH === 1 && g.SW === 1 && g.PT + g.PB + g.PL + g.PR === 0 && g.G === 1;
  } catch {
    return false;
  }
}

registerOp({
  name: CONV1X1_BN_GRAD,
  // inputs: a, w (the convolution's), dy, gamma, mean, invStd (batchNormGrad's without x), and the conv's bias if it has one
  infer([, , dy]) { const C = dy[dy.length - 1]; return [dy.slice(), [C], [C]]; },
  // dx may be written over dy (each block's dy is summed before any dx is written, and each dx reads its own dy)
  inPlace: () => [[0, 2]],
  run(ctx, n) {
    const [a, w, dy, g, mean, invStd, bias] = n.inputs, [dx, dg, db] = n.outputs;
    const shape = ctx.shape(dy), C = shape[shape.length - 1], M = sizeOfShape(shape) / C, K = ctx.shape(a)[ctx.shape(a).length - 1];
    const be = ctx.be, k = be.kernels;
    const rows = Math.max(GEMM_ROWS, Math.floor(BLOCK_BYTES / (C * 4 * GEMM_ROWS)) * GEMM_ROWS);
    const geom = (r: number) => geometryBlock(be, convGeometry([1, 1, r, K], ctx.shape(w), 1, 'valid', 1, CONV1X1_BN_GRAD));
    const up = (b: number) => Math.ceil(b / 64) * 64;
    const sumsBytes = up(C * 16), xBytes = up(Math.min(rows, M) * C * 4);
    const convBytes = Math.max(k.convWorkspaceSize(geom(Math.min(rows, M))), M % rows ? k.convWorkspaceSize(geom(M % rows)) : 0);
    const ws = be.workspace(sumsBytes + xBytes + convBytes), xb = ws + sumsBytes, cws = xb + xBytes;
    const ap = ctx.ptr(a), wp = ctx.ptr(w), bp = bias !== undefined ? ctx.ptr(bias) : 0, dyp = ctx.ptr(dy), dxp = ctx.ptr(dx);
    const conv = (r0: number, r: number) => k.conv2dForward(geom(r), ap + r0 * K * 4, wp, bp, xb, Act.linear, 0, cws);
    k.fillValue(4 * C, ws, 0);
    for (let r0 = 0; r0 < M; r0 += rows) {
      const r = Math.min(rows, M - r0);
      conv(r0, r);
      k.batchNormBackwardSums(r, C, xb, dyp + r0 * C * 4, ctx.ptr(mean), ctx.ptr(invStd), ctx.ptr(dg), ctx.ptr(db), ws);
    }
    for (let r0 = 0; r0 < M; r0 += rows) {
      const r = Math.min(rows, M - r0);
      conv(r0, r);
      k.batchNormBackwardApply(r, M, C, xb, dyp + r0 * C * 4, ctx.ptr(g), ctx.ptr(mean), ctx.ptr(invStd), ctx.ptr(dg), ctx.ptr(db), dxp + r0 * C * 4);
    }
  },
  // two passes of the convolution (2 K flops per output each) and batchNormGrad's
  flops: ([a, , dy]) => 4 * sizeOfShape(dy) * a[a.length - 1] + 6 * sizeOfShape(dy),
});

registerOp({
  name: 'batchNormFrozenGrad',
  // inputs: dy, gamma, moving variance (and x, moving mean when needGamma); outputs: dx if needX, dgamma and
  // dbeta if needG (dgamma zeros when gamma does not train)
  // dx may be written over dy (the sums are read first)
  inPlace: (n) => (n.attrs.needX !== false ? [[0, 0]] : []),
  infer([dy, g], a) {
    const out: number[][] = [];
    if (a.needX !== false) out.push(dy.slice());
    if (a.needG) out.push(g.slice(), g.slice());
    return out;
  },
  run(ctx, n) {
    const [dy, g, mv, x, mm] = n.inputs;
    const shape = ctx.shape(dy), C = shape[shape.length - 1], size = sizeOfShape(shape);
    const eps = n.attrs.epsilon as number;
    const gpu = ctx.be.syncRead ? undefined : (ctx.be as { numeric?: DeviceNumeric }).numeric;
    if (gpu) {
      // the webgpu backend's kernels: float32 sums, compensated (src/backend/webgpu/numeric.ts)
      const o = n.attrs.needX !== false ? 1 : 0, gamma = n.attrs.needG && n.attrs.needGamma !== false;
      gpu.batchNormFrozenGrad(size / C, C, ctx.ptr(dy), ctx.ptr(g), ctx.ptr(mv), eps, gamma ? ctx.ptr(x) : 0, gamma ? ctx.ptr(mm) : 0,
        o ? ctx.ptr(n.outputs[0]) : 0, n.attrs.needG ? ctx.ptr(n.outputs[o]) : 0, n.attrs.needG ? ctx.ptr(n.outputs[o + 1]) : 0);
      return;
    }
    const gv = ctx.be.f32(ctx.ptr(g), C), vv = ctx.be.f32(ctx.ptr(mv), C);
    const inv = Float64Array.from(vv, (v) => 1 / Math.sqrt(v + eps));
    const d = ctx.be.f32(ctx.ptr(dy), size);
    // the sums first: dx may be written over dy (inPlace)
    const o = n.attrs.needX !== false ? 1 : 0;
    if (n.attrs.needG) {
      // needGamma absent: a graph made before it was an attribute, when x was always an input
      const gamma = n.attrs.needGamma !== false;
      const xv = gamma ? ctx.be.f32(ctx.ptr(x), size) : undefined, mean = gamma ? ctx.be.f32(ctx.ptr(mm), C) : undefined;
      const dg = new Float64Array(C), db = new Float64Array(C);
      for (let i = 0; i < size; i++) {
        const c = i % C;
        if (xv) dg[c] += d[i] * (xv[i] - mean![c]) * inv[c];
        db[c] += d[i];
      }
      ctx.be.f32(ctx.ptr(n.outputs[o]), C).set(dg);
      ctx.be.f32(ctx.ptr(n.outputs[o + 1]), C).set(db);
    }
    if (n.attrs.needX !== false) {
      const dx = ctx.be.f32(ctx.ptr(n.outputs[0]), size);
      for (let i = 0; i < size; i++) dx[i] = d[i] * gv[i % C] * inv[i % C];
    }
  },
});
