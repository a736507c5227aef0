// Shape ops of the graph: reshape (flatten), concatenate along the last axis, zero padding and cropping of
// NHWC maps, transposes (NCHW <-> NHWC among them), slices. They move data only: each is one or a few
// strided copies (the stridedCopy kernel: a shape and the strides of source and destination) and fills.
import { registerOp, type RunContext } from '../graph/registry.js';
import { sizeOfShape } from '../graph/ir.js';
import { fail, formatShape } from './util.js';
import type { DeviceIndexing } from '../backend/webgpu/indexing.js';

/** A backend that cannot read its memory on the CPU: its gather kernels (src/backend/webgpu/indexing.ts). */
const onDevice = (ctx: RunContext): DeviceIndexing | undefined => (ctx.be.syncRead ? undefined : (ctx.be as { indexing?: DeviceIndexing }).indexing);

/** On the device: the indices checked there (an index out of range is clamped, and the next read throws). */
function gatherOnDevice(dev: DeviceIndexing, ctx: RunContext, op: string, node: string, ids: number, len: number): number {
  const count = sizeOfShape(ctx.shape(ids)), p = ctx.ptr(ids);
  dev.checkIndices(count, p, -len, len, { op, node, what: 'index', place: 'position', range: `[${-len}, ${len})` });
  return p;
}

/**
 * The strided copy's one call site: for every index i of `shape`, dst[i . dstStrides] = src[i . srcStrides]
 * (strides in elements; src and dst are handles, offsets allowed).
 */
function stridedCopy(ctx: RunContext, shape: readonly number[], src: number, srcStrides: readonly number[], dst: number, dstStrides: readonly number[]): void {
  if (sizeOfShape(shape) === 0) return;
  const [sh, ss, ds] = simplify(shape, srcStrides, dstStrides);
  if (sh.length > 8) fail('copy', `${formatShape(shape)} has more than 8 axes`);
  ctx.be.kernels.stridedCopy(sh.length, ctx.be.descriptor([...sh, ...ss, ...ds]), src, dst);
}

/**
 * The same copy over fewer, longer axes: axes of extent 1 dropped, neighbours that are one run in both
 * source and destination merged, and the axis that is contiguous in the source (or else the destination)
 * and longest moved innermost. The kernel's inner loop runs over the last axis (a memory copy when both
 * strides are 1), so a slice of channels or a shuffle is a few long runs, not one call per element.
 */
function simplify(shape: readonly number[], src: readonly number[], dst: readonly number[]): [number[], number[], number[]] {
  let axes = shape.map((n, i) => ({ n, s: src[i], d: dst[i] })).filter((a) => a.n !== 1);
  if (axes.length === 0) return [[1], [1], [1]];
  const merged = [axes[0]];
  for (const a of axes.slice(1)) {
    const p = merged[merged.length - 1];
    if (p.s === a.s * a.n && p.d === a.d * a.n) merged[merged.length - 1] = { n: p.n * a.n, s: a.s, d: a.d };
    else merged.push(a);
  }
  axes = merged;
  const last = axes[axes.length - 1];
  if (!(last.s === 1 && last.d === 1)) {
    // innermost: a contiguous run in the source, else in the destination, the longest such
    const pick = (k: 's' | 'd') => axes.filter((a) => a[k] === 1).sort((a, b) => b.n - a.n)[0];
    const inner = pick('s') ?? pick('d');
    if (inner && inner !== last && inner.n > last.n) axes = [...axes.filter((a) => a !== inner), inner];
  }
  return [axes.map((a) => a.n), axes.map((a) => a.s), axes.map((a) => a.d)];
}

/** The fill kernel's one call site: n floats at handle `out` set to `value`. */
export function fillValue(ctx: RunContext, n: number, out: number, value: number): void {
  ctx.be.kernels.fillValue(n, out, value);
}

registerOp({
  name: 'reshape',
  // attrs.shape may hold -1 for the batch dimension; the element count per example must match
  infer([x], a, node) {
    const target = (a.shape as number[]).slice();
    const per = (s: number[]) => sizeOfShape(s.filter((d) => d !== -1));
    if (per(target) !== per(x)) fail('reshape', `node '${node}': cannot reshape ${formatShape(x)} to ${formatShape(target)}`);
    return [target];
  },
  // the same bytes under a new shape: integers stay integers
  outputDtype: (_k, [x]) => x ?? 'float32',
  run(ctx, n) {
    const x = n.inputs[0], y = n.outputs[0];
    ctx.be.copy(ctx.ptr(y), ctx.ptr(x), sizeOfShape(ctx.shape(x)) * 4);
  },
  grad(n, [dy], b) {
    return [b.node('reshape', [dy!], { shape: b.shape(n.inputs[0]).slice() }, `${n.name}_grad`)[0]];
  },
});

/** Copy [rows, widths[k]] blocks between a concatenated [rows, sum(widths)] buffer and its parts. */
function concatCopy(ctx: RunContext, rows: number, parts: Array<{ ptr: number; width: number }>, whole: number, gather: boolean): void {
  const total = parts.reduce((t, p) => t + p.width, 0);
  let off = 0;
  for (const p of parts) {
    const w = whole + off * 4;
    if (gather) stridedCopy(ctx, [rows, p.width], p.ptr, [p.width, 1], w, [total, 1]);
    else stridedCopy(ctx, [rows, p.width], w, [total, 1], p.ptr, [p.width, 1]);
    off += p.width;
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
    concatCopy(ctx, rows, n.inputs.map((i) => ({ ptr: ctx.ptr(i), width: ctx.shape(i).at(-1)! })), ctx.ptr(n.outputs[0]), true);
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
    concatCopy(ctx, rows, n.outputs.map((o) => ({ ptr: ctx.ptr(o), width: ctx.shape(o).at(-1)! })), ctx.ptr(dy), false);
  },
});

/** Copy between an [N, H, W, C] map and the [N, H+t+b, W+l+r, C] map it sits in (zeros around). */
function padCopy(ctx: RunContext, inner: number[], pad: [[number, number], [number, number]], small: number, big: number, toBig: boolean): void {
  const [N, H, W, C] = inner;
  const [[t, b], [l, r]] = pad;
  const BW = W + l + r, BH = H + t + b;
  const at = big + ((t * BW + l) * C) * 4, smallStrides = [H * W * C, W * C, 1], bigStrides = [BH * BW * C, BW * C, 1];
  if (toBig) {
    fillValue(ctx, N * BH * BW * C, big, 0);
    stridedCopy(ctx, [N, H, W * C], small, smallStrides, at, bigStrides);
  } else {
    stridedCopy(ctx, [N, H, W * C], at, bigStrides, small, smallStrides);
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
    padCopy(ctx, ctx.shape(n.inputs[0]), n.attrs.padding as [[number, number], [number, number]], ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), true);
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
    padCopy(ctx, ctx.shape(n.inputs[1]), n.attrs.padding as [[number, number], [number, number]], ctx.ptr(n.outputs[0]), ctx.ptr(n.inputs[0]), false);
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

/** Row-major strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) { st[i] = k; k *= shape[i]; }
  return st;
}

/** y = x with its axes permuted: y shape[d] = x shape[perm[d]] (ONNX / NumPy semantics). */
function permute(ctx: RunContext, x: number, y: number, shape: readonly number[], perm: readonly number[]): void {
  const out = perm.map((p) => shape[p]), ist = stridesOf(shape);
  stridedCopy(ctx, out, x, perm.map((p) => ist[p]), y, stridesOf(out));
}

/**
 * ShuffleNet's channel shuffle on an NHWC map, in one pass: the C = groups * k channels, read as
 * [groups, k], are written as [k, groups] (out channel j * groups + g is in channel g * k + j).
 */
registerOp({
  name: 'channelShuffle',
  infer([x], a, node) {
    const g = a.groups as number, C = x[x.length - 1];
    if (!(Number.isInteger(g) && g >= 1 && C % g === 0)) fail('channelShuffle', `node '${node}': ${C} channels do not split into ${g} groups`);
    return [x.slice()];
  },
  run(ctx, n) {
    const shape = ctx.shape(n.inputs[0]), C = shape[shape.length - 1], g = n.attrs.groups as number, k = C / g;
    const rows = sizeOfShape(shape) / C;
    // out [rows, k, g] <- in [rows, g, k]
    stridedCopy(ctx, [rows, k, g], ctx.ptr(n.inputs[0]), [C, 1, k], ctx.ptr(n.outputs[0]), [C, g, 1]);
  },
  grad(n, [dy], b) {
    const C = b.shape(n.inputs[0]).at(-1)!, g = n.attrs.groups as number;
    return [b.node('channelShuffle', [dy!], { groups: C / g }, `${n.name}_grad`)[0]];
  },
  flops: ([x]) => sizeOfShape(x),
});

registerOp({
  name: 'nhwcToNchw',
  infer([x], _a, node) {
    if (x.length !== 4) fail('nhwcToNchw', `node '${node}': needs a rank-4 map, got ${formatShape(x)}`);
    return [[x[0], x[3], x[1], x[2]]];
  },
  run(ctx, n) { permute(ctx, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), ctx.shape(n.inputs[0]), [0, 3, 1, 2]); },
  grad(n, [dy], b) { return [b.node('nchwToNhwc', [dy!], {}, `${n.name}_grad`)[0]]; },
});

registerOp({
  name: 'nchwToNhwc',
  infer([x]) { return [[x[0], x[2], x[3], x[1]]]; },
  run(ctx, n) { permute(ctx, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), ctx.shape(n.inputs[0]), [0, 2, 3, 1]); },
  grad(n, [dy], b) { return [b.node('nhwcToNchw', [dy!], {}, `${n.name}_grad`)[0]]; },
});

registerOp({
  name: 'transpose',
  // any perm: the batch may move (an imported ONNX RNN's time-major values hold it on axis 1)
  infer([x], a, node) {
    const perm = a.perm as number[];
    if (perm.length !== x.length || [...perm].sort().some((p, i) => p !== i)) fail('transpose', `node '${node}': perm ${JSON.stringify(perm)} does not permute ${formatShape(x)}`);
    return [perm.map((p) => x[p])];
  },
  run(ctx, n) {
    permute(ctx, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), ctx.shape(n.inputs[0]), n.attrs.perm as number[]);
  },
  grad(n, [dy], b) {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [b.node('transpose', [dy!], { perm: inv }, `${n.name}_grad`)[0]];
  },
});

/** The length of a slice: start, start + step, ... before end (ONNX / NumPy; step may be negative). */
export function sliceLength(start: number, end: number, step: number): number {
  return Math.max(0, Math.ceil((end - start) / step));
}

/**
 * Copy rows start, start + step, ... (before end) of `axis` between a tensor and its slice; toSlice false
 * scatters back (zeros elsewhere). A negative step walks the axis backwards (a negative source stride).
 */
function sliceCopy(ctx: RunContext, big: number, small: number, shape: number[], axis: number, start: number, end: number, step: number, toSlice: boolean): void {
  const outer = sizeOfShape(shape.slice(0, axis)), inner = sizeOfShape(shape.slice(axis + 1));
  const n = shape[axis], m = sliceLength(start, end, step);
  const at = big + start * inner * 4, bigStrides = [n * inner, step * inner, 1], smallStrides = [m * inner, inner, 1];
  if (toSlice) {
    stridedCopy(ctx, [outer, m, inner], at, bigStrides, small, smallStrides);
  } else {
    fillValue(ctx, outer * n * inner, big, 0);
    stridedCopy(ctx, [outer, m, inner], small, smallStrides, at, bigStrides);
  }
}

/** A slice node's attributes: { axis, start, end, step? } (step 1 when absent). */
function sliceAttrs(a: Record<string, unknown>): [number, number, number, number] {
  return [a.axis as number, a.start as number, a.end as number, (a.step as number | undefined) ?? 1];
}

registerOp({
  name: 'slice',
  // one axis: attrs { axis, start, end, step? } resolved as ONNX resolves them (unit steps: 0 <= start <= end
  // <= size; other steps: every index taken inside the axis, end -1 past the first for a negative step); any
  // axis but the batch's
  infer([x], a, node) {
    const [axis, start, end, step] = sliceAttrs(a);
    const ok = axis >= 0 && axis < x.length && x[axis] !== -1 && Number.isInteger(step) && step !== 0;
    const m = ok ? sliceLength(start, end, step) : 0, last = start + (m - 1) * step;
    const inside = step === 1 ? start >= 0 && end <= x[axis] && start <= end : m === 0 || (start >= 0 && start < x[axis] && last >= 0 && last < x[axis]);
    if (!(ok && inside)) fail('slice', `node '${node}': [${start}, ${end})${step === 1 ? '' : ` step ${step}`} of axis ${axis} of ${formatShape(x)}`);
    const out = x.slice();
    out[axis] = m;
    return [out];
  },
  run(ctx, n) {
    const [axis, start, end, step] = sliceAttrs(n.attrs);
    sliceCopy(ctx, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), ctx.shape(n.inputs[0]), axis, start, end, step, true);
  },
  grad(n, [dy], b) {
    return [b.node('sliceGrad', [dy!, n.inputs[0]], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'sliceGrad',
  infer([, like]) { return [like.slice()]; },
  run(ctx, n) {
    const [axis, start, end, step] = sliceAttrs(n.attrs);
    sliceCopy(ctx, ctx.ptr(n.outputs[0]), ctx.ptr(n.inputs[0]), ctx.shape(n.inputs[1]), axis, start, end, step, false);
  },
});

/**
 * Rows of a table by int32 indices (an embedding; ONNX Gather on axis 0 of a constant): table [V, ...row],
 * ids [...] -> [...ids, ...row]. Each row is one copy; an index outside [-V, V) is an error naming it (on a
 * GPU, found there: the row is clamped into range and the next read throws it).
 * (No gradient yet: models with integer inputs are inference-only for now.)
 */
registerOp({
  name: 'embedding',
  infer([table, ids]) { return [[...ids, ...table.slice(1)]]; },
  run(ctx, n) {
    const [table, ids] = n.inputs;
    const ts = ctx.shape(table), V = ts[0], row = sizeOfShape(ts.slice(1));
    const count = sizeOfShape(ctx.shape(ids)), dev = onDevice(ctx);
    if (dev) return dev.gatherRows(1, V, row, count, ctx.ptr(table), gatherOnDevice(dev, ctx, 'embedding', n.name, ids, V), ctx.ptr(n.outputs[0]));
    if (!ctx.be.syncRead) fail('embedding', `node '${n.name}': reads its indices on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
    const idx = ctx.be.i32(ctx.ptr(ids), count).slice();
    const t = ctx.ptr(table), y = ctx.ptr(n.outputs[0]);
    for (let i = 0; i < count; i++) {
      const r = idx[i] < 0 ? idx[i] + V : idx[i];
      if (!(r >= 0 && r < V)) fail('embedding', `node '${n.name}': index ${idx[i]} (position ${i}) is outside [${-V}, ${V})`);
      ctx.be.copy(y + i * row * 4, t + r * row * 4, row * 4);
    }
  },
});

/** The int32 indices of a gather, read on the CPU, each in [0, len) (a negative one counts from the end). */
function gatherIndices(ctx: RunContext, op: string, node: string, ids: number, len: number): Int32Array {
  if (!ctx.be.syncRead) fail(op, `node '${node}': reads its indices on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
  const idx = ctx.be.i32(ctx.ptr(ids), sizeOfShape(ctx.shape(ids))).slice();
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i] < 0 ? idx[i] + len : idx[i];
    if (!(r >= 0 && r < len)) fail(op, `node '${node}': index ${idx[i]} (position ${i}) is outside [${-len}, ${len})`);
    idx[i] = r;
  }
  return idx;
}

/**
 * ONNX / NumPy take along an axis by int32 indices: data [...pre, n, ...post], ids [...] ->
 * [...pre, ...ids, ...post] (attrs { axis }). Each index is one strided copy of its [pre, post] block; the
 * gradient adds each block back to its row (an index taken twice gets both).
 */
registerOp({
  name: 'gather',
  infer([x, ids], a, node) {
    const axis = a.axis as number;
    if (!(axis >= 0 && axis < x.length && x[axis] !== -1)) fail('gather', `node '${node}': axis ${axis} of ${formatShape(x)}`);
    return [[...x.slice(0, axis), ...ids, ...x.slice(axis + 1)]];
  },
  run(ctx, n) {
    const [x, ids] = n.inputs, axis = n.attrs.axis as number, shape = ctx.shape(x);
    const outer = sizeOfShape(shape.slice(0, axis)), len = shape[axis], inner = sizeOfShape(shape.slice(axis + 1)), dev = onDevice(ctx);
    if (dev) return dev.gatherRows(outer, len, inner, sizeOfShape(ctx.shape(ids)), ctx.ptr(x), gatherOnDevice(dev, ctx, 'gather', n.name, ids, len), ctx.ptr(n.outputs[0]));
    const idx = gatherIndices(ctx, 'gather', n.name, ids, len), xp = ctx.ptr(x), yp = ctx.ptr(n.outputs[0]);
    for (let k = 0; k < idx.length; k++) stridedCopy(ctx, [outer, inner], xp + idx[k] * inner * 4, [len * inner, 1], yp + k * inner * 4, [idx.length * inner, 1]);
  },
  grad(n, [dy], b) {
    return [b.node('gatherGrad', [dy!, n.inputs[1], n.inputs[0]], n.attrs, `${n.name}_grad`)[0], undefined];
  },
});

registerOp({
  name: 'gatherGrad',
  // inputs: dy, the indices, a value of the data's shape
  infer([, , like]) { return [like.slice()]; },
  run(ctx, n) {
    const [dy, ids, like] = n.inputs, axis = n.attrs.axis as number, shape = ctx.shape(like);
    const outer = sizeOfShape(shape.slice(0, axis)), len = shape[axis], inner = sizeOfShape(shape.slice(axis + 1)), dev = onDevice(ctx);
    if (dev) return dev.gatherRowsBackward(outer, len, inner, sizeOfShape(ctx.shape(ids)), ctx.ptr(dy), gatherOnDevice(dev, ctx, 'gatherGrad', n.name, ids, len), ctx.ptr(n.outputs[0]));
    const idx = gatherIndices(ctx, 'gatherGrad', n.name, ids, len), dx = ctx.ptr(n.outputs[0]), g = ctx.ptr(dy);
    fillValue(ctx, outer * len * inner, dx, 0);
    for (let o = 0; o < outer; o++) for (let k = 0; k < idx.length; k++) {
      ctx.be.kernels.axpy(inner, 1, g + (o * idx.length + k) * inner * 4, dx + (o * len + idx[k]) * inner * 4);
    }
  },
});
