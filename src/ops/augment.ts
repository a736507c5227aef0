// Data augmentation and training noise as graph ops that act only in training (identity at inference, or a
// center crop): random affine resampling of NHWC images (flips, rotations, translations, zooms, crops), random
// contrast and brightness per image, Gaussian noise and Gaussian dropout. The random parameters come from a
// seeded stream (the layer's own, or the backend's), drawn by the random kernels; the resampling and value
// kernels are in assembly/augment.ts. Gradients pass through to the input (the transposed resampling).
import { fail, formatShape } from './util.js';
import { getOp, registerOp, type RunContext } from '../graph/registry.js';
import { sizeOfShape, type Node } from '../graph/ir.js';
import './elementwise.js'; // 'mul', which Gaussian dropout applies its multipliers with
import type { HostDraws } from '../backend/webgpu/random.js';

export type FillMode = 'reflect' | 'wrap' | 'constant' | 'nearest';
export const FILL_MODES: Record<FillMode, number> = { constant: 0, reflect: 1, wrap: 2, nearest: 3 };
export type Interpolation = 'bilinear' | 'nearest';

/** A [lo, hi] range. */
export type Range = [number, number];

/** Attributes of a randomAffine node: each transform is present or not; all ranges are of uniform draws. */
export interface AffineAttrs {
  /** Flip each image with probability 1/2 along these axes. */
  flip?: 'horizontal' | 'vertical' | 'horizontal_and_vertical';
  /** Angle, in fractions of a full turn (counter-clockwise positive). */
  rotation?: Range;
  /** Shift, in fractions of the height and width. */
  translate?: { h: Range; w: Range };
  /** Zoom factor minus 1 (positive zooms out); w undefined keeps the aspect ratio. */
  zoom?: { h: Range; w?: Range };
  /** Output height and width: a random window in training, the centered one at inference. */
  crop?: [number, number];
  fillMode?: FillMode;
  fillValue?: number;
  interpolation?: Interpolation;
}

const F32 = 4;

/** The node's random stream: its rng input (a layer's own seeded state) or the backend's. */
function stream(ctx: RunContext, n: Node): number {
  return n.inputs.length > 1 ? ctx.ptr(n.inputs[1]) : ctx.be.rng;
}

/** `count` uniform draws in [0, 1) per image, on the host (small: a few per image). */
function draws(ctx: RunContext, n: Node, N: number, count: number): Float32Array {
  if (!ctx.be.syncRead) {
    // a GPU backend draws its streams on the host (src/backend/webgpu/random.ts): the same values, no read-back
    const host = (ctx.be as Partial<HostDraws>).hostUniform;
    if (!host) fail(n.op, `node '${n.name}': random augmentation needs a backend that reads back synchronously or draws on the host, not '${ctx.be.name}'`);
    return host.call(ctx.be, stream(ctx, n), N * count);
  }
  const ws = ctx.be.workspace(N * count * F32);
  ctx.be.kernels.rngUniform(stream(ctx, n), N * count, ws, 0, 1);
  return ctx.be.f32(ws, N * count).slice();
}

const at = (r: Range, u: number): number => r[0] + (r[1] - r[0]) * u;

/**
 * The 2x3 matrix (output pixel -> input pixel, x then y rows) of each image: about the image centre, zoom then
 * rotate then flip, then shift; or the crop window's offset.
 */
function affineMatrices(a: AffineAttrs, N: number, H: number, W: number, training: boolean, u: Float32Array): Float64Array {
  const m = new Float64Array(N * 6);
  const cx = (W - 1) / 2, cy = (H - 1) / 2;
  for (let n = 0; n < N; n++) {
    const r = u.subarray(n * 8, n * 8 + 8), o = n * 6;
    if (a.crop) {
      const [oh, ow] = a.crop;
      const dy = training ? Math.floor(r[0] * (H - oh + 1)) : Math.floor((H - oh) / 2), dx = training ? Math.floor(r[1] * (W - ow + 1)) : Math.floor((W - ow) / 2);
      m.set([1, 0, Math.min(dx, W - ow), 0, 1, Math.min(dy, H - oh)], o);
      continue;
    }
    if (!training) { m.set([1, 0, 0, 0, 1, 0], o); continue; }
    const sx = (a.flip === 'horizontal' || a.flip === 'horizontal_and_vertical') && r[0] < 0.5 ? -1 : 1;
    const sy = (a.flip === 'vertical' || a.flip === 'horizontal_and_vertical') && r[1] < 0.5 ? -1 : 1;
    const th = a.rotation ? 2 * Math.PI * at(a.rotation, r[2]) : 0, cos = Math.cos(th), sin = Math.sin(th);
    const zh = a.zoom ? 1 + at(a.zoom.h, r[3]) : 1, zw = a.zoom ? (a.zoom.w ? 1 + at(a.zoom.w, r[4]) : zh) : 1;
    const tx = a.translate ? at(a.translate.w, r[5]) * W : 0, ty = a.translate ? at(a.translate.h, r[6]) * H : 0;
    // input = c + flip(rotate(zoom(out - c))) - shift: the content moves by +shift and turns by +angle,
    // counter-clockwise as seen with rows downwards (Keras's sense)
    const a0 = sx * zw * cos, a1 = -sx * zh * sin, b0 = sy * zw * sin, b1 = sy * zh * cos;
    m.set([a0, a1, cx - a0 * cx - a1 * cy - tx, b0, b1, cy - b0 * cx - b1 * cy - ty], o);
  }
  return m;
}

registerOp({
  name: 'randomAffine',
  // inputs: x [N, H, W, C], optionally its rng state; outputs: y, the matrices [N, 6] (for the backward pass)
  infer([x], a, node) {
    if (x.length !== 4) fail('randomAffine', `node '${node}': input must be images [batch, height, width, channels], got ${formatShape(x)}`);
    const crop = (a as AffineAttrs).crop;
    if (crop && (crop[0] > x[1] || crop[1] > x[2])) fail('randomCrop', `node '${node}': a ${crop[0]}x${crop[1]} crop does not fit ${x[1]}x${x[2]} images`);
    return [[x[0], crop ? crop[0] : x[1], crop ? crop[1] : x[2], x[3]], [x[0], 6]];
  },
  run(ctx, n) {
    const a = n.attrs as AffineAttrs, [N, H, W, C] = ctx.shape(n.inputs[0]), [, OH, OW] = ctx.shape(n.outputs[0]);
    const x = ctx.ptr(n.inputs[0]), y = ctx.ptr(n.outputs[0]), mats = ctx.ptr(n.outputs[1]);
    if (!ctx.training && !a.crop) {
      ctx.be.copy(y, x, N * H * W * C * F32);
      return;
    }
    const u = ctx.training ? draws(ctx, n, N, 8) : new Float32Array(N * 8);
    ctx.be.write(mats, Float32Array.from(affineMatrices(a, N, H, W, ctx.training, u)));
    ctx.be.kernels.imageAffine(N, H, W, C, OH, OW, x, mats, y, a.interpolation === 'nearest' ? 0 : 1, FILL_MODES[a.fillMode ?? 'reflect'], a.fillValue ?? 0);
  },
  grad(n, [dy], b) {
    return [b.node('randomAffineGrad', [dy!, n.outputs[1], n.inputs[0]], n.attrs, `${n.name}_grad`)[0], undefined];
  },
  flops: ([x], [y]) => 8 * sizeOfShape(y),
});

registerOp({
  name: 'randomAffineGrad',
  // inputs: dy, the forward's matrices, x (for its shape); output: dx
  infer([, , x]) { return [x.slice()]; },
  run(ctx, n) {
    const a = n.attrs as AffineAttrs, [N, H, W, C] = ctx.shape(n.inputs[2]), [, OH, OW] = ctx.shape(n.inputs[0]);
    ctx.be.kernels.imageAffineBackward(N, H, W, C, OH, OW, ctx.ptr(n.inputs[0]), ctx.ptr(n.inputs[1]), ctx.ptr(n.outputs[0]),
      a.interpolation === 'nearest' ? 0 : 1, FILL_MODES[a.fillMode ?? 'reflect']);
  },
});

/** Attributes of an imageAdjust node. */
export interface AdjustAttrs {
  kind: 'contrast' | 'brightness';
  /** Contrast: the factor's range; brightness: the shift's, in fractions of the value range. */
  range: Range;
  /** Outputs are clipped to it (Keras's value_range). */
  valueRange: Range;
}

registerOp({
  name: 'imageAdjust',
  // inputs: x [N, H, W, C], optionally its rng state; outputs: y, the parameters [N, C, 4] (a, beta, delta, mean)
  infer([x], _a, node) {
    if (x.length !== 4) fail('imageAdjust', `node '${node}': input must be images [batch, height, width, channels], got ${formatShape(x)}`);
    return [x.slice(), [x[0], x[3], 4]];
  },
  run(ctx, n) {
    const a = n.attrs as unknown as AdjustAttrs, [N, H, W, C] = ctx.shape(n.inputs[0]);
    const x = ctx.ptr(n.inputs[0]), y = ctx.ptr(n.outputs[0]), params = ctx.ptr(n.outputs[1]);
    if (!ctx.training) {
      ctx.be.copy(y, x, N * H * W * C * F32);
      return;
    }
    const u = draws(ctx, n, N, 1), p = new Float32Array(N * C * 4), [lo, hi] = a.valueRange;
    for (let i = 0; i < N; i++) {
      const v = at(a.range, u[i]);
      for (let c = 0; c < C; c++) p.set(a.kind === 'contrast' ? [v, 1 - v, 0, 0] : [1, 0, v * (hi - lo), 0], (i * C + c) * 4);
    }
    ctx.be.write(params, p);
    ctx.be.kernels.imageAdjust(N, H * W, C, x, params, lo, hi, y);
  },
  grad(n, [dy], b) {
    return [b.node('imageAdjustGrad', [dy!, n.outputs[1], n.inputs[0]], n.attrs, `${n.name}_grad`)[0], undefined];
  },
  flops: ([x]) => 3 * sizeOfShape(x),
});

registerOp({
  name: 'imageAdjustGrad',
  infer([, , x]) { return [x.slice()]; },
  run(ctx, n) {
    const a = n.attrs as unknown as AdjustAttrs, [N, H, W, C] = ctx.shape(n.inputs[2]);
    ctx.be.kernels.imageAdjustBackward(N, H * W, C, ctx.ptr(n.inputs[2]), ctx.ptr(n.inputs[0]), ctx.ptr(n.inputs[1]), a.valueRange[0], a.valueRange[1],
      ctx.ptr(n.outputs[0]), ctx.be.workspace(C * F32));
  },
});

registerOp({
  name: 'gaussianNoise',
  // y = x + N(0, stddev²) in training (Keras GaussianNoise); inputs: x, optionally its rng state
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const x = ctx.ptr(n.inputs[0]), y = ctx.ptr(n.outputs[0]), size = sizeOfShape(ctx.shape(n.inputs[0]));
    if (ctx.training) {
      ctx.be.kernels.rngNormal(stream(ctx, n), size, y, 0, n.attrs.stddev as number, 0);
      ctx.be.kernels.axpy(size, 1, x, y);
    } else {
      ctx.be.copy(y, x, size * F32);
    }
  },
  grad: (_n, [dy]) => [dy, undefined],
  flops: ([x]) => sizeOfShape(x),
});

registerOp({
  name: 'gaussianDropout',
  // y = x m, m ~ N(1, rate / (1 - rate)) per element in training (Srivastava et al. 2014); outputs y, m
  infer([x]) { return [x.slice(), x.slice()]; },
  run(ctx, n) {
    const x = ctx.ptr(n.inputs[0]), [y, m] = n.outputs, size = sizeOfShape(ctx.shape(n.inputs[0])), rate = n.attrs.rate as number;
    if (ctx.training && rate > 0) {
      ctx.be.kernels.rngNormal(stream(ctx, n), size, ctx.ptr(m), 1, Math.sqrt(rate / (1 - rate)), 0);
      getOp('mul').run(ctx, { ...n, op: 'mul', inputs: [n.inputs[0], m], outputs: [y] });
    } else {
      ctx.be.copy(ctx.ptr(y), x, size * F32);
      if (ctx.training) ctx.be.kernels.fillValue(size, ctx.ptr(m), 1);
    }
  },
  grad(n, [dy], b) {
    return [b.node('mul', [dy!, n.outputs[1]], {}, `${n.name}_grad`)[0], undefined];
  },
  flops: ([x]) => sizeOfShape(x),
});
