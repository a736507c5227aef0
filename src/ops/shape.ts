// Shape ops of the graph: reshape (flatten), concatenate along the last axis, zero padding of NHWC maps.
// They move bytes only, so they run as typed-array copies over the backend's heap (a backend without a
// host-visible heap needs copy kernels for them).
import { registerOp, type RunContext } from '../graph/registry.js';
import type { Node } from '../graph/ir.js';
import { sizeOfShape } from '../graph/ir.js';
import { fail, formatShape } from './util.js';

registerOp({
  name: 'reshape',
  // attrs.shape may hold -1 for the batch dimension; the element count per example must match
  infer([x], a, node) {
    const target = (a.shape as number[]).slice();
    const per = (s: number[]) => sizeOfShape(s.filter((d) => d !== -1));
    if (per(target) !== per(x)) fail('reshape', `node '${node}': cannot reshape ${formatShape(x)} to ${formatShape(target)}`);
    return [target];
  },
  run(ctx, n) {
    const x = n.inputs[0], y = n.outputs[0];
    ctx.be.copy(ctx.ptr(y), ctx.ptr(x), sizeOfShape(ctx.shape(x)) * 4);
  },
  grad(n, [dy], b) {
    return [b.node('reshape', [dy!], { shape: b.shape(n.inputs[0]).slice() }, `${n.name}_grad`)[0]];
  },
});

/** Copy [rows, widths[k]] blocks between a concatenated [rows, sum(widths)] buffer and its parts. */
function concatCopy(mem: ArrayBufferLike, rows: number, parts: Array<{ ptr: number; width: number }>, whole: number, gather: boolean): void {
  const f = new Float32Array(mem);
  const total = parts.reduce((s, p) => s + p.width, 0);
  for (let r = 0; r < rows; r++) {
    let off = 0;
    for (const p of parts) {
      const a = whole / 4 + r * total + off, b = p.ptr / 4 + r * p.width;
      if (gather) f.copyWithin(a, b, b + p.width); else f.copyWithin(b, a, a + p.width);
      off += p.width;
    }
  }
}

registerOp({
  name: 'concat',
  infer(xs, _a, node) {
    const head = xs[0].slice(0, -1);
    for (const s of xs) {
      if (s.length !== xs[0].length || s.slice(0, -1).some((d, i) => d !== head[i])) {
        fail('concatenate', `node '${node}': inputs ${xs.map(formatShape).join(', ')} differ outside the last axis`);
      }
    }
    return [[...head, xs.reduce((s, x) => s + x[x.length - 1], 0)]];
  },
  run(ctx, n) {
    const shape = ctx.shape(n.outputs[0]), rows = sizeOfShape(shape.slice(0, -1));
    concatCopy(ctx.be.heapU8().buffer, rows, n.inputs.map((i) => ({ ptr: ctx.ptr(i), width: ctx.shape(i).at(-1)! })), ctx.ptr(n.outputs[0]), true);
  },
  grad(n, [dy], b) {
    const outs = b.node('concatGrad', [dy!, ...n.inputs], {}, `${n.name}_grad`);
    return n.inputs.map((_, k) => outs[k]);
  },
});

registerOp({
  name: 'concatGrad',
  infer([, ...parts]) { return parts.map((p) => p.slice()); },
  run(ctx, n) {
    const [dy] = n.inputs;
    const shape = ctx.shape(dy), rows = sizeOfShape(shape.slice(0, -1));
    concatCopy(ctx.be.heapU8().buffer, rows, n.outputs.map((o) => ({ ptr: ctx.ptr(o), width: ctx.shape(o).at(-1)! })), ctx.ptr(dy), false);
  },
});

/** Copy between an [N, H, W, C] map and the [N, H+t+b, W+l+r, C] map it sits in (zeros around). */
function padCopy(mem: ArrayBufferLike, inner: number[], pad: [[number, number], [number, number]], small: number, big: number, toBig: boolean): void {
  const [N, H, W, C] = inner;
  const [[t, b], [l, r]] = pad;
  const BW = W + l + r, BH = H + t + b;
  const f = new Float32Array(mem);
  if (toBig) f.fill(0, big / 4, big / 4 + N * BH * BW * C);
  for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) {
    const s = small / 4 + ((n * H + y) * W) * C, d = big / 4 + ((n * BH + y + t) * BW + l) * C;
    if (toBig) f.copyWithin(d, s, s + W * C); else f.copyWithin(s, d, d + W * C);
  }
}

registerOp({
  name: 'zeroPad2d',
  infer([x], a, node) {
    if (x.length !== 4) fail('zeroPadding2d', `node '${node}': input must be rank 4 [batch, height, width, channels], got ${formatShape(x)}`);
    const [[t, b], [l, r]] = a.padding as [[number, number], [number, number]];
    return [[x[0], x[1] + t + b, x[2] + l + r, x[3]]];
  },
  run(ctx, n) {
    padCopy(ctx.be.heapU8().buffer, ctx.shape(n.inputs[0]), n.attrs.padding as [[number, number], [number, number]], ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), true);
  },
  grad(n, [dy], b) {
    return [b.node('crop2d', [dy!, n.inputs[0]], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'crop2d',
  // inputs: the padded gradient and a value of the unpadded shape
  infer([, like]) { return [like.slice()]; },
  run(ctx, n) {
    padCopy(ctx.be.heapU8().buffer, ctx.shape(n.inputs[1]), n.attrs.padding as [[number, number], [number, number]], ctx.ptr(n.outputs[0]), ctx.ptr(n.inputs[0]), false);
  },
});

/** [N, H, W, C] -> [N, C, H, W] (ONNX flattens feature maps in NCHW order); src and dst must not overlap. */
export function nhwcToNchwCopy(src: Float32Array, dst: Float32Array, [N, H, W, C]: readonly number[]): void {
  for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
    dst[((n * C + c) * H + y) * W + x] = src[((n * H + y) * W + x) * C + c];
  }
}

/** [N, C, H, W] -> [N, H, W, C]; src and dst must not overlap. */
export function nchwToNhwcCopy(src: Float32Array, dst: Float32Array, [N, C, H, W]: readonly number[]): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    dst[((n * H + y) * W + x) * C + c] = src[((n * C + c) * H + y) * W + x];
  }
}

/** Views of a node's input and output over the wasm memory. */
function ioViews(ctx: RunContext, n: Node): [Float32Array, Float32Array] {
  const size = sizeOfShape(ctx.shape(n.inputs[0]));
  return [ctx.be.f32(ctx.ptr(n.inputs[0]), size), ctx.be.f32(ctx.ptr(n.outputs[0]), size)];
}

registerOp({
  name: 'nhwcToNchw',
  infer([x], _a, node) {
    if (x.length !== 4) fail('nhwcToNchw', `node '${node}': needs a rank-4 map, got ${formatShape(x)}`);
    return [[x[0], x[3], x[1], x[2]]];
  },
  run(ctx, n) { const [src, dst] = ioViews(ctx, n); nhwcToNchwCopy(src, dst, ctx.shape(n.inputs[0])); },
  grad(n, [dy], b) { return [b.node('nchwToNhwc', [dy!], {}, `${n.name}_grad`)[0]]; },
});

registerOp({
  name: 'nchwToNhwc',
  infer([x]) { return [[x[0], x[2], x[3], x[1]]]; },
  run(ctx, n) { const [src, dst] = ioViews(ctx, n); nchwToNhwcCopy(src, dst, ctx.shape(n.inputs[0])); },
  grad(n, [dy], b) { return [b.node('nhwcToNchw', [dy!], {}, `${n.name}_grad`)[0]]; },
});

/** Row-major strides of a shape. */
function stridesOf(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) { st[i] = k; k *= shape[i]; }
  return st;
}

/** out[i] = in[perm applied to i]: out shape[d] = in shape[perm[d]] (ONNX / NumPy semantics). */
function permute(f: Float32Array, src: number, dst: number, shape: number[], perm: number[]): void {
  const out = perm.map((p) => shape[p]);
  const ist = stridesOf(shape), ost = perm.map((p) => ist[p]);
  const n = out.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(out.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    f[dst + i] = f[src + off];
    for (let d = out.length - 1; d >= 0; d--) {
      if (++idx[d] < out[d]) { off += ost[d]; break; }
      off -= ost[d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

registerOp({
  name: 'transpose',
  infer([x], a, node) {
    const perm = a.perm as number[];
    if (perm.length !== x.length || [...perm].sort().some((p, i) => p !== i)) fail('transpose', `node '${node}': perm ${JSON.stringify(perm)} does not permute ${formatShape(x)}`);
    if (perm[0] !== 0 && x[0] === -1) fail('transpose', `node '${node}': the batch dimension must stay first`);
    return [perm.map((p) => x[p])];
  },
  run(ctx, n) {
    permute(ctx.be.heapF32(), ctx.ptr(n.inputs[0]) / 4, ctx.ptr(n.outputs[0]) / 4, ctx.shape(n.inputs[0]), n.attrs.perm as number[]);
  },
  grad(n, [dy], b) {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [b.node('transpose', [dy!], { perm: inv }, `${n.name}_grad`)[0]];
  },
});

/** Copy rows [start, end) of `axis` between a tensor and its slice; toSlice false scatters back (zeros elsewhere). */
function sliceCopy(f: Float32Array, big: number, small: number, shape: number[], axis: number, start: number, end: number, toSlice: boolean): void {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1), inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = shape[axis], m = end - start;
  if (!toSlice) f.fill(0, big, big + outer * n * inner);
  for (let o = 0; o < outer; o++) {
    const b0 = big + (o * n + start) * inner, s0 = small + o * m * inner;
    if (toSlice) f.copyWithin(s0, b0, b0 + m * inner); else f.copyWithin(b0, s0, s0 + m * inner);
  }
}

registerOp({
  name: 'slice',
  // one axis, unit step: attrs { axis, start, end } (resolved to 0 <= start <= end <= size)
  infer([x], a, node) {
    const axis = a.axis as number, start = a.start as number, end = a.end as number;
    if (!(axis > 0 && axis < x.length && start >= 0 && end <= x[axis] && start <= end)) fail('slice', `node '${node}': [${start}, ${end}) of axis ${axis} of ${formatShape(x)}`);
    const out = x.slice();
    out[axis] = end - start;
    return [out];
  },
  run(ctx, n) {
    const a = n.attrs;
    sliceCopy(ctx.be.heapF32(), ctx.ptr(n.inputs[0]) / 4, ctx.ptr(n.outputs[0]) / 4, ctx.shape(n.inputs[0]), a.axis as number, a.start as number, a.end as number, true);
  },
  grad(n, [dy], b) {
    return [b.node('sliceGrad', [dy!, n.inputs[0]], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'sliceGrad',
  infer([, like]) { return [like.slice()]; },
  run(ctx, n) {
    const a = n.attrs;
    sliceCopy(ctx.be.heapF32(), ctx.ptr(n.outputs[0]) / 4, ctx.ptr(n.inputs[0]) / 4, ctx.shape(n.inputs[1]), a.axis as number, a.start as number, a.end as number, false);
  },
});
