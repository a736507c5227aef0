// conv2d and depthwiseConv2d over NHWC with HWIO filters, forward and backward, and references.
// Groups come from the filter: w is [KH, KW, C / G, Cout]; depthwise is G = C (filter [KH, KW, C, mult]).
// Kernels: assembly/conv.ts (implicit GEMM through assembly/gemm_f32.ts; direct depthwise).
import { Act } from '../backend/kernels.js';
import { activateInPlace, type ActivationName, defaultParam, fusableActivation } from './activation.js';
import { arr, fail, formatShape, input, pair, rankIs, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type RunContext } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import type { Attrs } from '../graph/ir.js';
import type { Backend } from '../backend/index.js';
import { activationGradFromOutput, columnSums, gradInputs, gradNeeds, gradXShape, linearAct } from './matmul.js';

/** 'same' | 'valid' | one number for all sides | [[top, bottom], [left, right]]. */
export type Padding = 'same' | 'valid' | number | [[number, number], [number, number]];

export interface ConvGeometry {
  N: number; H: number; W: number; C: number; KH: number; KW: number; SH: number; SW: number;
  PT: number; PB: number; PL: number; PR: number; DH: number; DW: number; OH: number; OW: number; G: number; CO: number;
}

/**
 * Output size and explicit padding. 'same' (TF): out = ceil(in / stride), total padding
 * max((out - 1) * stride + effective kernel - in, 0), the odd pixel at the bottom/right.
 */
export function padAndOut(inSize: number, k: number, s: number, d: number, pad: Padding, axis: 0 | 1, op: string): [number, number, number] {
  const ek = (k - 1) * d + 1;
  if (pad === 'same') {
    const out = Math.ceil(inSize / s);
    const total = Math.max((out - 1) * s + ek - inSize, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2), out];
  }
  let before = 0, after = 0;
  if (pad === 'valid') { /* none */ } else if (typeof pad === 'number') {
    before = after = pad;
  } else if (Array.isArray(pad) && pad.length === 2) {
    [before, after] = pad[axis];
  } else {
    fail(op, `pad must be 'same', 'valid', a number or [[top, bottom], [left, right]], got ${JSON.stringify(pad)}`);
  }
  if (!(Number.isInteger(before) && Number.isInteger(after) && before >= 0 && after >= 0)) {
    fail(op, `padding must be non-negative integers, got ${JSON.stringify(pad)}`);
  }
  const out = Math.floor((inSize + before + after - ek) / s) + 1;
  if (out < 1) fail(op, `kernel ${k} (dilation ${d}) does not fit input size ${inSize} with padding ${before}+${after}`);
  return [before, after, out];
}

/** Shape rule shared by forward and backward. */
export function convGeometry(x: readonly number[], w: readonly number[], strides: number | [number, number],
  pad: Padding, dilations: number | [number, number] | undefined, op: string): ConvGeometry {
  if (x.length !== 4) fail(op, `x must be rank 4 [batch, height, width, channels], got ${formatShape(x)}`);
  if (w.length !== 4) fail(op, `filter must be rank 4 [height, width, inChannels, outChannels], got ${formatShape(w)}`);
  const [N, H, W, C] = x;
  const [KH, KW, Cg, CO] = w;
  if (Cg < 1 || C % Cg !== 0) {
    fail(op, `input has ${C} channels but the filter ${formatShape(w)} expects ${Cg} per group (channels must be a multiple)`);
  }
  const G = C / Cg;
  if (CO % G !== 0) fail(op, `${CO} output channels do not split into ${G} groups (filter ${formatShape(w)}, input ${formatShape(x)})`);
  const [SH, SW] = pair(strides, 1, op, 'strides');
  const [DH, DW] = pair(dilations, 1, op, 'dilations');
  const [PT, PB, OH] = padAndOut(H, KH, SH, DH, pad, 0, op);
  const [PL, PR, OW] = padAndOut(W, KW, SW, DW, pad, 1, op);
  return { N, H, W, C, KH, KW, SH, SW, PT, PB, PL, PR, DH, DW, OH, OW, G, CO };
}

/** The geometry block every conv kernel takes (assembly/conv.ts: 16 i32), in the backend's descriptor slot. */
export function geometryBlock(be: { descriptor(v: readonly number[]): number }, g: ConvGeometry): number {
  return be.descriptor([g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, g.G, g.CO]);
}

/** The geometry block and a workspace of the size every path of this geometry needs. */
function setup(be: Backend, g: ConvGeometry): { geom: number; ws: number } {
  const geom = geometryBlock(be, g);
  return { geom, ws: be.workspace(be.kernels.convWorkspaceSize(geom)) };
}

/** conv2dBackwardInput's one call site (eager conv2dBackpropInput and the conv2dGrad node). */
function backwardInput(ctx: RunContext, g: ConvGeometry, dy: number, w: number, dx: number): void {
  const { geom, ws } = setup(ctx.be, g);
  ctx.be.kernels.conv2dBackwardInput(geom, dy, ctx.ptr(w), ctx.ptr(dx), ws);
}

/** conv2dBackwardFilter's one call site: dw, and db (column sums of dy) where db is not 0. */
function backwardFilter(ctx: RunContext, g: ConvGeometry, x: number, dy: number, dw: number, db: number): void {
  const { geom, ws } = setup(ctx.be, g);
  ctx.be.kernels.conv2dBackwardFilter(geom, ctx.ptr(x), dy, ctx.ptr(dw), db, ws);
}

export interface FusedConv2DArgs {
  x: Tensor | TensorLike;
  filter: Tensor | TensorLike;
  strides?: number | [number, number];
  pad: Padding;
  dilations?: number | [number, number];
  bias?: Tensor | TensorLike;
  activation?: ActivationName;
  alpha?: number;
}

/** act(conv2d(x, filter) + bias); ReLU, ReLU6, leaky ReLU and linear fuse into the GEMM epilogue. */
export function fusedConv2d(args: FusedConv2DArgs, op = 'fused.conv2d'): Tensor {
  const x = input(args.x, op, 'x'), w = input(args.filter, op, 'filter');
  const g = convGeometry(x.shape, w.shape, args.strides ?? 1, args.pad, args.dilations, op);
  let bias: Tensor | undefined;
  if (args.bias !== undefined) {
    bias = input(args.bias, op, 'bias');
    if (bias.size !== g.CO) fail(op, `bias must have ${g.CO} elements (output channels), got ${formatShape(bias.shape)}`);
  }
  const name = args.activation ?? 'linear';
  const fused = fusableActivation(name) !== undefined;
  const attrs = { strides: [g.SH, g.SW], pad: [[g.PT, g.PB], [g.PL, g.PR]], dilations: [g.DH, g.DW], activation: fused ? name : 'linear', alpha: defaultParam(name, args.alpha) };
  const [y] = runEager('conv2d', bias ? [x, w, bias.rank === 1 ? bias : bias.reshape([bias.size])] : [x, w], attrs);
  if (!fused) activateInPlace(y, name, args.alpha);
  return y;
}

/** TF.js tf.conv2d over NHWC; grouped when the filter's input channels divide x's. */
export function conv2d(x: Tensor | TensorLike, filter: Tensor | TensorLike, strides: number | [number, number], pad: Padding,
  dilations?: number | [number, number]): Tensor {
  return fusedConv2d({ x, filter, strides, pad, dilations }, 'conv2d');
}

/** TF.js tf.depthwiseConv2d: filter [KH, KW, C, multiplier], output channel c * multiplier + m. */
export function depthwiseConv2d(x: Tensor | TensorLike, filter: Tensor | TensorLike, strides: number | [number, number], pad: Padding,
  dilations?: number | [number, number]): Tensor {
  const w = input(filter, 'depthwiseConv2d', 'filter');
  rankIs(w, 4, 'depthwiseConv2d', 'filter', '[height, width, channels, multiplier]');
  const xt = input(x, 'depthwiseConv2d', 'x');
  rankIs(xt, 4, 'depthwiseConv2d', 'x', '[batch, height, width, channels]');
  if (w.shape[2] !== xt.shape[3]) {
    fail('depthwiseConv2d', `filter ${formatShape(w.shape)} is for ${w.shape[2]} channels, x ${formatShape(xt.shape)} has ${xt.shape[3]}`);
  }
  // [KH, KW, C, m] and the grouped layout [KH, KW, 1, C * m] are the same bytes.
  const gw = w.reshape([w.shape[0], w.shape[1], 1, w.shape[2] * w.shape[3]]);
  try {
    return fusedConv2d({ x: xt, filter: gw, strides, pad, dilations }, 'depthwiseConv2d');
  } finally {
    gw.dispose();
  }
}

/**
 * dx of conv2d given dy (TF.js Conv2DBackpropInput). Works for grouped and depthwise filters alike, a depthwise
 * one in the grouped layout [KH, KW, 1, C * multiplier] (the same bytes as [KH, KW, C, multiplier]).
 */
export function conv2dBackpropInput(xShape: readonly number[], dy: Tensor, filter: Tensor, strides: number | [number, number],
  pad: Padding, dilations?: number | [number, number]): Tensor {
  const op = 'conv2dBackpropInput';
  dy = input(dy, op, 'dy'); filter = input(filter, op, 'filter');
  const g = convGeometry(xShape, filter.shape, strides, pad, dilations, op);
  expectDy(dy, g, op, filter.shape);
  return runEager('conv2dBackpropInput', [dy, filter], { ...eagerAttrs(g), xShape: xShape.slice() })[0];
}

/** A geometry's strides, explicit padding and dilations as node attributes. */
function eagerAttrs(g: ConvGeometry): Attrs {
  return { strides: [g.SH, g.SW], pad: [[g.PT, g.PB], [g.PL, g.PR]], dilations: [g.DH, g.DW] };
}

/** dw (and db = column sums of dy) of conv2d (TF.js Conv2DBackpropFilter, which tfjs-wasm lacks). */
export function conv2dBackpropFilter(x: Tensor, dy: Tensor, filterShape: readonly number[], strides: number | [number, number],
  pad: Padding, dilations?: number | [number, number]): { dw: Tensor; db: Tensor } {
  const op = 'conv2dBackpropFilter';
  x = input(x, op, 'x'); dy = input(dy, op, 'dy');
  const g = convGeometry(x.shape, filterShape, strides, pad, dilations, op);
  expectDy(dy, g, op, filterShape);
  const [dw, db] = runEager('conv2dBackpropFilter', [x, dy], { ...eagerAttrs(g), filterShape: filterShape.slice() });
  return { dw, db };
}

function expectDy(dy: Tensor, g: ConvGeometry, op: string, filter?: readonly number[]): void {
  const want = [g.N, g.OH, g.OW, g.CO];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    // a depthwise filter in its own layout [KH, KW, C, multiplier] reads as a plain conv to `multiplier` channels
    const depthwise = filter && g.G === 1 && filter[2] === g.C && dy.rank === 4 && dy.shape[3] === filter[2] * filter[3];
    fail(op, `dy must be ${formatShape(want)}, got ${formatShape(dy.shape)}${depthwise ? `; for a depthwise filter ${formatShape(filter!)} pass it in the grouped layout [${filter![0]}, ${filter![1]}, 1, ${filter![2] * filter![3]}] (the same bytes)` : ''}`);
  }
}

/**
 * Every tap of a grouped conv2d, in the reference's 7-deep loop order: visit(xi, wi, yi) for each input
 * element xi that output element yi reads through filter element wi (padding taps skipped). The float64
 * references of the forward and both backward passes are this one walk with different sums.
 */
export function forEachTap(g: ConvGeometry, visit: (xi: number, wi: number, yi: number) => void): void {
  const { N, H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, G, CO } = g;
  const Cg = C / G, COg = CO / G;
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    for (let co = 0; co < CO; co++) {
      const c0 = Math.floor(co / COg) * Cg, yi = ((n * OH + oy) * OW + ox) * CO + co;
      for (let ky = 0; ky < KH; ky++) {
        const iy = oy * SH - PT + ky * DH;
        if (iy < 0 || iy >= H) continue;
        for (let kx = 0; kx < KW; kx++) {
          const ix = ox * SW - PL + kx * DW;
          if (ix < 0 || ix >= W) continue;
          for (let ci = 0; ci < Cg; ci++) visit(((n * H + iy) * W + ix) * C + c0 + ci, ((ky * KW + kx) * Cg + ci) * CO + co, yi);
        }
      }
    }
  }
}

/** Reference: y = conv2d(x, w) + bias in float64, grouped. */
export function refConv2d(x: Arr, w: Arr, g: ConvGeometry, bias?: Arr): Arr {
  const out = arr([g.N, g.OH, g.OW, g.CO]);
  if (bias) for (let i = 0; i < out.data.length; i++) out.data[i] = bias.data[i % g.CO];
  forEachTap(g, (xi, wi, yi) => { out.data[yi] += x.data[xi] * w.data[wi]; });
  return out;
}

/**
 * Reference gradients of conv2d in float64, given dy: dx scatters dy through each tap, dw sums x(patch) * dy
 * over pixels, db sums dy per output channel.
 */
export function refConv2dBackward(x: Arr, w: Arr, dy: Arr, g: ConvGeometry): { dx: Arr; dw: Arr; db: Arr } {
  const dx = arr(x.shape), dw = arr(w.shape), db = arr([g.CO]);
  for (let i = 0; i < dy.data.length; i++) db.data[i % g.CO] += dy.data[i];
  forEachTap(g, (xi, wi, yi) => {
    const grad = dy.data[yi];
    dx.data[xi] += grad * w.data[wi];
    dw.data[wi] += grad * x.data[xi];
  });
  return { dx, dw, db };
}

// ---- graph ops: conv2d (grouped/depthwise from the filter shape; fused bias + activation) and gradient ----

function nodeGeometry(x: readonly number[], w: readonly number[], attrs: Record<string, unknown>, node: string): ConvGeometry {
  try {
    return convGeometry(x, w, attrs.strides as [number, number], attrs.pad as Padding, attrs.dilations as [number, number], 'conv2d');
  } catch (e) {
    throw new Error(`${(e as Error).message} (node '${node}')`);
  }
}

registerOp({
  name: 'conv2d',
  infer([x, w, bias], attrs, node) {
    const g = nodeGeometry(x, w, attrs, node);
    if (bias && (bias.length !== 1 || bias[0] !== g.CO)) fail('conv2d', `node '${node}': bias ${formatShape(bias)} does not match ${g.CO} filters`);
    return [[x[0], g.OH, g.OW, g.CO]];
  },
  run(ctx, n) {
    const [x, w, b] = n.inputs;
    const g = nodeGeometry(ctx.shape(x), ctx.shape(w), n.attrs, n.name);
    const { geom, ws } = setup(ctx.be, g);
    ctx.be.kernels.conv2dForward(geom, ctx.ptr(x), ctx.ptr(w), b !== undefined ? ctx.ptr(b) : 0, ctx.ptr(n.outputs[0]),
      Act[n.attrs.activation as keyof typeof Act], (n.attrs.alpha as number) ?? 0, ws);
  },
  grad(n, [dy], b) {
    const needs = gradNeeds(n, b);
    if (needs.needX && needs.needW) {
      // the kernel's gradient first (it reads x), then the input's (it reads the filter only): x is free
      // before dX is written, so a training step never holds x, dZ and dX at once
      const outs = b.node('conv2dGrad', gradInputs(n, dy!, true), { ...n.attrs, needX: false, needW: true, needB: needs.needB }, `${n.name}_grad`);
      let k = linearAct(n.attrs) ? 0 : 1;
      const dz = k ? outs[0] : dy!, dW = outs[k++], dB = needs.needB ? outs[k++] : undefined;
      const geometry = { strides: n.attrs.strides, pad: n.attrs.pad, dilations: n.attrs.dilations, xShape: b.shape(n.inputs[0]).slice() };
      const [dX] = b.node('conv2dBackpropInput', [dz, n.inputs[1]], geometry, `${n.name}_grad_input`);
      return [dX, dW, dB];
    }
    const outs = b.node('conv2dGrad', gradInputs(n, dy!, needs.needW), { ...n.attrs, ...needs, ...(needs.needW ? {} : { xShape: b.shape(n.inputs[0]).slice() }) }, `${n.name}_grad`);
    // a linear activation's gradient is dy itself: no dZ output (gradInputs)
    let k = linearAct(n.attrs) ? 0 : 1;
    return [needs.needX ? outs[k++] : undefined, needs.needW ? outs[k++] : undefined, needs.needB ? outs[k++] : undefined];
  },
  flops: ([x, w], [y]) => 2 * y[0] * y[1] * y[2] * y[3] * w[0] * w[1] * w[2],
});

registerOp({
  name: 'conv2dGrad',
  // outputs: dZ, then dX, dW, db as needed
  infer([x, w, y, dy], attrs) {
    const out = linearAct(attrs) ? [] : [dy.slice()];
    if (attrs.needX) out.push(gradXShape(x, dy, attrs));
    if (attrs.needW) out.push(w.slice());
    if (attrs.needB) out.push([w[3]]);
    return out;
  },
  run(ctx, n) {
    const [x, w, y, dy] = n.inputs;
    const g = nodeGeometry(gradXShape(ctx.shape(x), ctx.shape(dy), n.attrs), ctx.shape(w), n.attrs, n.name);
    const linear = linearAct(n.attrs), dz = linear ? ctx.ptr(dy) : ctx.ptr(n.outputs[0]);
    if (!linear) activationGradFromOutput(ctx.be, n.attrs.activation as string, (n.attrs.alpha as number) ?? 0, g.N * g.OH * g.OW * g.CO, ctx.ptr(y), ctx.ptr(dy), dz, n.attrs.masked ? g.N : 0);
    let o = linear ? 0 : 1;
    if (n.attrs.needX) backwardInput(ctx, g, dz, w, n.outputs[o++]);
    if (n.attrs.needW) {
      const dw = n.outputs[o++];
      backwardFilter(ctx, g, x, dz, dw, n.attrs.needB ? ctx.ptr(n.outputs[o++]) : 0);
    } else if (n.attrs.needB) {
      columnSums(ctx, g.N * g.OH * g.OW, g.CO, dz, ctx.ptr(n.outputs[o++]));
    }
  },
});

registerOp({
  name: 'conv2dBackpropInput',
  // inputs: dy, filter; attrs: the geometry's and xShape
  infer(_s, attrs) { return [(attrs.xShape as number[]).slice()]; },
  run(ctx, n) {
    const [dy, w] = n.inputs;
    // in a graph xShape's batch is -1: dy's
    backwardInput(ctx, nodeGeometry(gradXShape([], ctx.shape(dy), n.attrs), ctx.shape(w), n.attrs, n.name), ctx.ptr(dy), w, n.outputs[0]);
  },
});

registerOp({
  name: 'conv2dBackpropFilter',
  // inputs: x, dy; attrs: the geometry's and filterShape; outputs: dw, db
  infer(_s, attrs) { const f = attrs.filterShape as number[]; return [f.slice(), [f[3]]]; },
  run(ctx, n) {
    const [x, dy] = n.inputs;
    const g = nodeGeometry(ctx.shape(x), n.attrs.filterShape as number[], n.attrs, n.name);
    backwardFilter(ctx, g, x, ctx.ptr(dy), n.outputs[0], ctx.ptr(n.outputs[1]));
  },
});
