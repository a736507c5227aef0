// Max and average pooling of any spatial rank over ONNX's own layout [N, C, ...spatial], with what the NHWC
// pool kernel has not: dilations, and max pooling's second output, the flat index of each maximum (ONNX
// MaxPool's Indices: over the whole NCHW tensor, the spatial axes row-major, or column-major with
// storage_order 1). It runs on the CPU over the backend's memory (wasm and the reference backend; on webgpu
// the windows are computed here and the GPU pools over them: src/backend/webgpu/indexing.ts), with its
// gradient (max: to the first maximum; average: evenly over the window's counted taps). Used by the ONNX
// import where the NHWC kernel cannot serve.
import { registerOp } from '../graph/registry.js';
import { sizeOfShape, type Attrs, type Shape } from '../graph/ir.js';
import { fail, formatShape } from './util.js';
import type { DeviceIndexing } from '../backend/webgpu/indexing.js';
import type { RunContext } from '../graph/registry.js';

export interface PoolNdAttrs {
  kind: 'max' | 'avg';
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin per spatial axis..., end per spatial axis...] (ONNX's pads) */
  pads: number[];
  /** ceil_mode: the output length rounds up (a last window that starts in the input or the begin padding) */
  ceil: boolean;
  /** average pooling: the padding counts in each window's divisor (the ceil mode's overhang never does) */
  countIncludePad: boolean;
  /** the Indices output: 0 row-major, 1 column-major spatial axes; absent: no second output */
  storageOrder?: number;
}

/** Output length of one spatial axis (ONNX's rule; ceil mode's last window must start inside). */
export function poolNdLength(size: number, k: number, s: number, d: number, b: number, e: number, ceil: boolean): number {
  const span = (k - 1) * d + 1, q = (size + b + e - span) / s;
  let out = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  if (ceil && (out - 1) * s >= size + b) out--;
  return out;
}

function outShape(x: Shape, a: PoolNdAttrs, node: string): number[] {
  const r = x.length - 2;
  const ok = r >= 1 && [a.kernel, a.strides, a.dilations].every((v) => v.length === r && v.every((t) => Number.isInteger(t) && t >= 1)) && a.pads.length === 2 * r && a.pads.every((p) => Number.isInteger(p) && p >= 0);
  if (!ok) fail('poolNd', `node '${node}': kernel ${JSON.stringify(a.kernel)}, strides ${JSON.stringify(a.strides)}, dilations ${JSON.stringify(a.dilations)}, pads ${JSON.stringify(a.pads)} for ${formatShape(x)}`);
  const sp = x.slice(2).map((S, i) => poolNdLength(S, a.kernel[i], a.strides[i], a.dilations[i], a.pads[i], a.pads[i + r], a.ceil));
  if (sp.some((o) => o < 1)) fail('poolNd', `node '${node}': the windows ${JSON.stringify(a.kernel)} do not fit ${formatShape(x)} (output ${JSON.stringify(sp)})`);
  return [x[0], x[1], ...sp];
}

/**
 * Per output position (row-major over the spatial axes): the in-bounds taps' offsets into one [spatial]
 * plane (row-major), and the divisor of an average. `start[p]..start[p + 1]` index `taps`.
 */
function windows(size: number[], out: number[], a: PoolNdAttrs): { start: Int32Array; taps: Int32Array; count: Float64Array } {
  const r = size.length;
  // per axis and output coordinate: the in-bounds input coordinates, and how many taps count
  const axis = size.map((S, i) => Array.from({ length: out[i] }, (_, o) => {
    const at: number[] = [];
    let counted = 0;
    for (let k = 0; k < a.kernel[i]; k++) {
      const p = o * a.strides[i] - a.pads[i] + k * a.dilations[i];
      if (p >= 0 && p < S) at.push(p);
      if (a.countIncludePad ? p < S + a.pads[i + r] : p >= 0 && p < S) counted++;
    }
    return { at, counted };
  }));
  const P = sizeOfShape(out), start = new Int32Array(P + 1), count = new Float64Array(P);
  const taps: number[] = [], idx = new Array<number>(r).fill(0);
  for (let p = 0; p < P; p++) {
    const lists = idx.map((o, i) => axis[i][o]);
    count[p] = lists.reduce((c, l) => c * l.counted, 1);
    // every combination of the axes' coordinates, row-major
    let offs = [0];
    lists.forEach((l, i) => { offs = offs.flatMap((b) => l.at.map((c) => b * size[i] + c)); });
    // (an axis with no coordinate in bounds leaves the window empty)
    if (lists.every((l) => l.at.length)) taps.push(...offs);
    start[p + 1] = taps.length;
    for (let i = r - 1; i >= 0; i--) { if (++idx[i] < out[i]) break; idx[i] = 0; }
  }
  return { start, taps: Int32Array.from(taps), count };
}

/** A row-major spatial offset as ONNX's column-major one (storage_order 1): the first axis fastest. */
function columnMajor(off: number, size: number[]): number {
  let col = 0;
  for (let i = size.length - 1, rest = off; i >= 0; i--) {
    const c = rest % size[i];
    rest = (rest - c) / size[i];
    col += c * size.slice(0, i).reduce((m, s) => m * s, 1);
  }
  return col;
}

/**
 * The plane offset of a window's first maximum (taps[from .. to) of the plane at xo; the first tap where
 * all are NaN), or -1 for an empty window: the forward pass's index and the backward pass's target alike.
 */
function windowMax(x: Float32Array, xo: number, taps: ArrayLike<number>, from: number, to: number): number {
  let m = -Infinity, at = -1;
  for (let t = from; t < to; t++) { const v = x[xo + taps[t]]; if (v > m || at < 0) { m = v; at = taps[t]; } }
  return at;
}

/** The pooling itself, over planes of [N*C, spatial]: y, and the arg-max indices (row-major plane offsets). */
export function poolNdForward(x: Float32Array, y: Float32Array, argmax: Int32Array | undefined, xs: number[], a: PoolNdAttrs): void {
  const size = xs.slice(2), out = outShape(xs, a, 'poolNd').slice(2);
  const { start, taps, count } = windows(size, out, a);
  const planes = xs[0] * xs[1], X = sizeOfShape(size), P = sizeOfShape(out);
  for (let q = 0; q < planes; q++) {
    const xo = q * X, yo = q * P;
    for (let p = 0; p < P; p++) {
      if (a.kind === 'max') {
        const at = windowMax(x, xo, taps, start[p], start[p + 1]);
        y[yo + p] = at < 0 ? -Infinity : x[xo + at];
        if (argmax) argmax[yo + p] = at;
      } else {
        let s = 0;
        for (let t = start[p]; t < start[p + 1]; t++) s += x[xo + taps[t]];
        y[yo + p] = count[p] ? s / count[p] : NaN;
      }
    }
  }
}

/** dx from dy: max to the first maximum of each window, average evenly over its counted taps. */
export function poolNdBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, xs: number[], a: PoolNdAttrs): void {
  const size = xs.slice(2), out = outShape(xs, a, 'poolNd').slice(2);
  const { start, taps, count } = windows(size, out, a);
  const planes = xs[0] * xs[1], X = sizeOfShape(size), P = sizeOfShape(out);
  dx.fill(0);
  for (let q = 0; q < planes; q++) {
    const xo = q * X, yo = q * P;
    for (let p = 0; p < P; p++) {
      if (a.kind === 'max') {
        const at = windowMax(x, xo, taps, start[p], start[p + 1]);
        if (at >= 0) dx[xo + at] += dy[yo + p];
      } else if (count[p]) {
        const g = dy[yo + p] / count[p];
        for (let t = start[p]; t < start[p + 1]; t++) dx[xo + taps[t]] += g;
      }
    }
  }
}

const attrsOf = (a: Attrs) => a as unknown as PoolNdAttrs;

/**
 * On a backend that cannot read its memory on the CPU (webgpu): the windows (shapes and attributes only) as
 * one table in the workspace, [start (P + 1), taps (T), column-major taps (T), count (P)], for the gradient
 * followed by their inverse (per plane offset, start (X + 1) into (output, tap) pairs, in output order: a
 * thread per dx element gathers what wasm scatters), and the kernels of src/backend/webgpu/indexing.ts.
 * Returns false where there are none.
 */
function poolOnDevice(ctx: RunContext, a: PoolNdAttrs, xs: number[], ys: number[], grad: boolean, run: (dev: DeviceIndexing, tab: number, sizes: [number, number, number, number]) => void): boolean {
  const dev = ctx.be.syncRead ? undefined : (ctx.be as { indexing?: DeviceIndexing }).indexing;
  if (!dev) return false;
  const size = xs.slice(2), { start, taps, count } = windows(size, ys.slice(2), a), P = count.length, T = taps.length, X = sizeOfShape(size);
  const tab = new Float32Array(P + 1 + 2 * T + P + (grad ? X + 1 + 2 * T : 0));
  tab.set(start);
  tab.set(taps, P + 1);
  tab.set(Array.from(taps, (t) => columnMajor(t, size)), P + 1 + T);
  tab.set(count, P + 1 + 2 * T);
  if (grad) {
    const at = P + 1 + 2 * T + P, by = new Int32Array(X + 1);
    for (const t of taps) by[t + 1]++;
    for (let i = 0; i < X; i++) by[i + 1] += by[i];
    tab.set(by, at);
    const fill = by.slice(0, X);
    for (let p = 0; p < P; p++) for (let t = start[p]; t < start[p + 1]; t++) { const k = fill[taps[t]]++; tab[at + X + 1 + 2 * k] = p; tab[at + X + 2 + 2 * k] = t; }
  }
  const ws = ctx.be.workspace(tab.byteLength);
  ctx.be.write(ws, tab);
  run(dev, ws, [xs[0] * xs[1], sizeOfShape(size), P, T]);
  return true;
}

registerOp({
  name: 'poolNd',
  // outputs: y, and with attrs.storageOrder the int32 indices (ONNX's int64) of the maxima
  infer([x], a, node) {
    const y = outShape(x, attrsOf(a), node);
    return a.storageOrder === undefined ? [y] : [y, y.slice()];
  },
  outputDtype: (k) => (k === 1 ? 'int32' : 'float32'),
  run(ctx, n) {
    const a = attrsOf(n.attrs), xs = ctx.shape(n.inputs[0]), ys = outShape(xs, a, n.name);
    const be = ctx.be, indices = a.storageOrder !== undefined;
    if (poolOnDevice(ctx, a, xs, ys, false, (dev, tab, [planes, X, P, T]) =>
      dev.poolNd(planes, X, P, T, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), a.kind === 'max', indices ? ctx.ptr(n.outputs[1]) : 0, a.storageOrder === 1, tab))) return;
    const argmax = indices ? new Int32Array(sizeOfShape(ys)) : undefined;
    poolNdForward(be.f32(ctx.ptr(n.inputs[0]), sizeOfShape(xs)), be.f32(ctx.ptr(n.outputs[0]), sizeOfShape(ys)), argmax, xs, a);
    if (!argmax) return;
    // a plane offset as the flat index over the whole tensor
    const size = xs.slice(2), X = sizeOfShape(size), P = sizeOfShape(ys.slice(2));
    const out = be.i32(ctx.ptr(n.outputs[1]), argmax.length);
    for (let i = 0; i < argmax.length; i++) {
      const plane = Math.floor(i / P), off = argmax[i];
      out[i] = plane * X + (a.storageOrder === 1 ? columnMajor(off, size) : off);
    }
  },
  grad(n, [dy], b) {
    if (dy === undefined) return [undefined];
    return [b.node('poolNdGrad', [n.inputs[0], dy], n.attrs, `${n.name}_grad`)[0]];
  },
  flops: (_i, [y], a) => sizeOfShape(y) * attrsOf(a).kernel.reduce((p, k) => p * k, 1),
});

registerOp({
  name: 'poolNdGrad',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const a = attrsOf(n.attrs), xs = ctx.shape(n.inputs[0]), ys = outShape(xs, a, n.name), be = ctx.be;
    if (poolOnDevice(ctx, a, xs, ys, true, (dev, tab, [planes, X, P, T]) =>
      dev.poolNdBackward(planes, X, P, T, ctx.ptr(n.inputs[0]), ctx.ptr(n.inputs[1]), ctx.ptr(n.outputs[0]), a.kind === 'max', tab))) return;
    poolNdBackward(be.f32(ctx.ptr(n.inputs[0]), sizeOfShape(xs)), be.f32(ctx.ptr(n.inputs[1]), sizeOfShape(ys)), be.f32(ctx.ptr(n.outputs[0]), sizeOfShape(xs)), xs, a);
  },
});
