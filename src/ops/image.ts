// Image resizing (bilinear, nearest neighbour) and grayscale -> RGB over NHWC, with gradients: the
// preprocessing that puts small images into a pretrained backbone's input inside the model, so a frozen
// prefix (resize + backbone) runs once per example under feature caching. TF.js names and coordinate rules
// (alignCorners, halfPixelCenters); the Keras Resizing layer uses half-pixel centres. On webgpu the taps and
// weights are computed here (shapes and attributes only) and the GPU resamples by them (src/backend/webgpu/indexing.ts).
import { fail, formatShape, input, rankIs, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp, type RunContext } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import type { DeviceIndexing } from '../backend/webgpu/indexing.js';

export type ResizeMethod = 'bilinear' | 'nearest' | 'bicubic';
export interface ResizeOptions {
  alignCorners?: boolean;
  halfPixelCenters?: boolean;
  /**
   * The factors (output / input, height and width) the coordinates are mapped with, where a file gives
   * them (ONNX Resize's scales): 1.5 on 9 rows makes 13, mapped by 1 / 1.5, not 9 / 13. Default: the sizes'.
   */
  scales?: [number, number];
  /**
   * ONNX Resize's coordinate rule, where a file gives it (it then wins over alignCorners / halfPixelCenters):
   * how an output index maps to a source coordinate, and (nearest) how that coordinate rounds.
   */
  coordinate?: 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn' | 'tf_crop_and_resize';
  /**
   * tf_crop_and_resize: the crop box [top, left, bottom, right], fractions of (height - 1) and (width - 1);
   * outputs whose source falls outside the image take `extrapolation` (and pass no gradient).
   */
  roi?: [number, number, number, number];
  extrapolation?: number;
  nearestMode?: 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';
  /** Bicubic: the kernel's a (ONNX's cubic_coeff_a, default -0.75; Keys's -0.5 is TF's). */
  cubicCoeffA?: number;
  /** Bicubic: taps outside the image get weight 0 and the others are renormalized (else they repeat the edge). */
  excludeOutside?: boolean;
}

/** One axis's options: tf_crop_and_resize's crop [start, end] of that axis (0: height, 1: width). */
type AxisOptions = ResizeOptions & { crop?: [number, number] };
function onAxis(o: ResizeOptions, axis: 0 | 1): AxisOptions {
  return o.roi ? { ...o, crop: [o.roi[axis], o.roi[axis + 2]] } : o;
}

/** Whether a source coordinate lies outside the image (tf_crop_and_resize extrapolates there). */
function outside(x: number, inSize: number, o: ResizeOptions): boolean {
  return o.coordinate === 'tf_crop_and_resize' && (x < 0 || x > inSize - 1);
}

/** The source coordinate of output index d under ONNX's rule (o.coordinate), at scale s (output / input). */
function sourceCoordinate(d: number, inSize: number, outSize: number, s: number, o: AxisOptions): number {
  switch (o.coordinate) {
    case 'half_pixel': return (d + 0.5) / s - 0.5;
    case 'pytorch_half_pixel': return outSize > 1 ? (d + 0.5) / s - 0.5 : 0;
    // the ends onto the ends, over the output's length (the operator's text and ONNX Runtime; ONNX 1.12's
    // reference implementation takes a fractional in * scale there, and its test data follows it)
    case 'align_corners': return outSize > 1 ? (d * (inSize - 1)) / (outSize - 1) : 0;
    case 'tf_half_pixel_for_nn': return (d + 0.5) / s;
    case 'tf_crop_and_resize': {
      const [a, b] = o.crop!;
      return outSize > 1 ? a * (inSize - 1) + (d * (b - a) * (inSize - 1)) / (outSize - 1) : 0.5 * (a + b) * (inSize - 1);
    }
    default: return d / s;
  }
}

/**
 * Bicubic taps per output index: 4 source indices (clamped to the image: edge repeat) and their weights,
 * Keys's cubic convolution kernel with parameter a (ONNX Resize's mode 'cubic').
 */
function cubicTable(inSize: number, outSize: number, o: AxisOptions, factor?: number): { idx: Int32Array; w: Float64Array; ext: Uint8Array } {
  const s = factor ?? outSize / inSize, a = o.cubicCoeffA ?? -0.75;
  const kernel = (t: number): number => {
    const u = Math.abs(t);
    return u <= 1 ? ((a + 2) * u - (a + 3)) * u * u + 1 : u < 2 ? ((a * u - 5 * a) * u + 8 * a) * u - 4 * a : 0;
  };
  const idx = new Int32Array(outSize * 4), w = new Float64Array(outSize * 4), ext = new Uint8Array(outSize);
  for (let d = 0; d < outSize; d++) {
    const x = sourceCoordinate(d, inSize, outSize, s, o), x0 = Math.floor(x), r = x - x0;
    ext[d] = outside(x, inSize, o) ? 1 : 0;
    let sum = 0;
    for (let k = 0; k < 4; k++) {
      const i = x0 - 1 + k, outside = i < 0 || i >= inSize;
      const wk = outside && o.excludeOutside ? 0 : kernel(r - (k - 1));
      idx[d * 4 + k] = Math.min(inSize - 1, Math.max(0, i));
      w[d * 4 + k] = wk;
      sum += wk;
    }
    if (o.excludeOutside && sum !== 0) for (let k = 0; k < 4; k++) w[d * 4 + k] /= sum;
  }
  return { idx, w, ext };
}

/** Bicubic resize over NHWC (forward), or its adjoint (backward: dsrc from ddst, same taps and weights). */
function cubicCore(x: Float32Array, y: Float32Array, [N, H, W, C]: readonly number[], OH: number, OW: number, o: ResizeOptions, backward: boolean): void {
  const ty = cubicTable(H, OH, onAxis(o, 0), o.scales?.[0]), tx = cubicTable(W, OW, onAxis(o, 1), o.scales?.[1]);
  if (backward) x.fill(0);
  const acc = new Float64Array(C), fillY = o.extrapolation ?? 0;
  for (let n = 0; n < N; n++) {
    const xb = n * H * W * C, yb = n * OH * OW * C;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const yo = yb + (oy * OW + ox) * C;
        if (ty.ext[oy] || tx.ext[ox]) {
          if (!backward) y.fill(fillY, yo, yo + C);
          continue;
        }
        if (!backward) acc.fill(0);
        for (let p = 0; p < 4; p++) {
          const row = xb + ty.idx[oy * 4 + p] * W * C, wy = ty.w[oy * 4 + p];
          for (let q = 0; q < 4; q++) {
            const at = row + tx.idx[ox * 4 + q] * C, wq = wy * tx.w[ox * 4 + q];
            if (wq === 0) continue;
            if (backward) for (let c = 0; c < C; c++) x[at + c] += wq * y[yo + c];
            else for (let c = 0; c < C; c++) acc[c] += wq * x[at + c];
          }
        }
        if (!backward) for (let c = 0; c < C; c++) y[yo + c] = acc[c];
      }
    }
  }
}


/** ONNX's rules (the Resize operator's coordinate_transformation_mode and nearest_mode). */
function onnxTable(inSize: number, outSize: number, method: ResizeMethod, o: AxisOptions, factor?: number): AxisTable {
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), f = new Float32Array(outSize), ext = new Uint8Array(outSize);
  // the scale as given, else the sizes' ratio
  const s = factor ?? outSize / inSize;
  const source = (d: number): number => sourceCoordinate(d, inSize, outSize, s, o);
  const clamp = (v: number) => Math.min(inSize - 1, Math.max(0, v));
  for (let d = 0; d < outSize; d++) {
    const x = source(d);
    ext[d] = outside(x, inSize, o) ? 1 : 0;
    if (method === 'nearest') {
      const fl = Math.floor(x);
      const r = o.nearestMode === 'floor' ? fl : o.nearestMode === 'ceil' ? Math.ceil(x)
        : x - fl === 0.5 ? (o.nearestMode === 'round_prefer_ceil' ? fl + 1 : fl) : Math.round(x);
      i0[d] = i1[d] = clamp(r);
      continue;
    }
    const c = clamp(x), lo = Math.floor(c);
    i0[d] = lo; i1[d] = Math.min(lo + 1, inSize - 1); f[d] = c - lo;
  }
  return { i0, i1, f, ext };
}

/** Per output coordinate: the two source indices and the weight of the second (ext: extrapolated, ONNX's rules only). */
interface AxisTable { i0: Int32Array; i1: Int32Array; f: Float32Array; ext?: Uint8Array }
function axisTable(inSize: number, outSize: number, method: ResizeMethod, o: AxisOptions, factor?: number): AxisTable {
  if (o.coordinate) return onnxTable(inSize, outSize, method, o, factor);
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), f = new Float32Array(outSize);
  const scale = o.alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : factor ? 1 / factor : inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    if (method === 'nearest') {
      const s = o.halfPixelCenters ? (d + 0.5) * scale : d * scale;
      i0[d] = i1[d] = Math.min(inSize - 1, o.alignCorners ? Math.round(s) : Math.floor(s));
      continue;
    }
    const s = Math.min(inSize - 1, Math.max(0, o.halfPixelCenters ? (d + 0.5) * scale - 0.5 : d * scale));
    const lo = Math.floor(s);
    i0[d] = lo; i1[d] = Math.min(lo + 1, inSize - 1); f[d] = s - lo;
  }
  return { i0, i1, f };
}

/** dst[N, OH, OW, C] = resize(src[N, H, W, C]), or (backward) dsrc += scatter(ddst) with the same weights. */
function resizeCore(x: Float32Array, y: Float32Array, [N, H, W, C]: readonly number[], OH: number, OW: number, method: ResizeMethod, o: ResizeOptions, backward: boolean): void {
  if (method === 'bicubic') return cubicCore(x, y, [N, H, W, C], OH, OW, { coordinate: 'half_pixel', ...o }, backward);
  const ty = axisTable(H, OH, method, onAxis(o, 0), o.scales?.[0]), tx = axisTable(W, OW, method, onAxis(o, 1), o.scales?.[1]);
  if (backward) x.fill(0);
  const fillY = o.extrapolation ?? 0;
  for (let n = 0; n < N; n++) {
    const xb = n * H * W * C, yb = n * OH * OW * C;
    for (let oy = 0; oy < OH; oy++) {
      const r0 = xb + ty.i0[oy] * W * C, r1 = xb + ty.i1[oy] * W * C, fy = ty.f[oy];
      for (let ox = 0; ox < OW; ox++) {
        const c0 = tx.i0[ox] * C, c1 = tx.i1[ox] * C, fx = tx.f[ox];
        const w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx), w11 = fy * fx;
        const yo = yb + (oy * OW + ox) * C;
        if (ty.ext?.[oy] || tx.ext?.[ox]) {
          if (!backward) y.fill(fillY, yo, yo + C);
          continue;
        }
        if (backward) {
          for (let c = 0; c < C; c++) {
            const g = y[yo + c];
            x[r0 + c0 + c] += w00 * g; x[r0 + c1 + c] += w01 * g; x[r1 + c0 + c] += w10 * g; x[r1 + c1 + c] += w11 * g;
          }
        } else {
          for (let c = 0; c < C; c++) y[yo + c] = w00 * x[r0 + c0 + c] + w01 * x[r0 + c1 + c] + w10 * x[r1 + c0 + c] + w11 * x[r1 + c1 + c];
        }
      }
    }
  }
}

/**
 * The taps of resizeCore as one table for a GPU kernel (src/backend/webgpu/indexing.ts): per axis (height,
 * then width) and output index, 4 source indices, 4 weights and the extrapolation flag. Bilinear and nearest
 * take K = 2 taps per axis (nearest: the same index twice, weights 1 and 0, as resizeCore's products);
 * bicubic K = 4, where a zero weight reads nothing.
 */
function resizeTable([, H, W]: readonly number[], OH: number, OW: number, method: ResizeMethod, o: ResizeOptions): { tab: Float32Array; K: number; skipZero: boolean } {
  const tab = new Float32Array((OH + OW) * 9);
  const put = (at: number, idx: ArrayLike<number>, w: ArrayLike<number>, ext: ArrayLike<number> | undefined, size: number, K: number): void => {
    for (let d = 0; d < size; d++) {
      const r = (at + d) * 9;
      for (let k = 0; k < K; k++) { tab[r + k] = idx[d * K + k]; tab[r + 4 + k] = w[d * K + k]; }
      tab[r + 8] = ext?.[d] ?? 0;
    }
  };
  if (method === 'bicubic') {
    const c = { coordinate: 'half_pixel' as const, ...o };
    const ty = cubicTable(H, OH, onAxis(c, 0), c.scales?.[0]), tx = cubicTable(W, OW, onAxis(c, 1), c.scales?.[1]);
    put(0, ty.idx, ty.w, ty.ext, OH, 4);
    put(OH, tx.idx, tx.w, tx.ext, OW, 4);
    return { tab, K: 4, skipZero: true };
  }
  const pairs = (t: AxisTable, size: number) => {
    const idx = new Float64Array(size * 2), w = new Float64Array(size * 2);
    for (let d = 0; d < size; d++) { idx[2 * d] = t.i0[d]; idx[2 * d + 1] = t.i1[d]; w[2 * d] = 1 - t.f[d]; w[2 * d + 1] = t.f[d]; }
    return [idx, w] as const;
  };
  const ty = axisTable(H, OH, method, onAxis(o, 0), o.scales?.[0]), tx = axisTable(W, OW, method, onAxis(o, 1), o.scales?.[1]);
  put(0, ...pairs(ty, OH), ty.ext, OH, 2);
  put(OH, ...pairs(tx, OW), tx.ext, OW, 2);
  return { tab, K: 2, skipZero: false };
}

/**
 * For the gradient, the table followed by each axis's inverse (a thread per dx element gathers what the
 * forward pass scattered): per source index, start[size + 1] into (output index, tap) pairs, in output then
 * tap order. Returns the table and where the two inverses start (floats from its start).
 */
function resizeGradTable(s: readonly number[], OH: number, OW: number, method: ResizeMethod, o: ResizeOptions): { tab: Float32Array; K: number; skipZero: boolean; inv: [number, number] } {
  const { tab: fwd, K, skipZero } = resizeTable(s, OH, OW, method, o);
  const inverse = (at: number, outSize: number, inSize: number): number[] => {
    const lists = Array.from({ length: inSize }, () => [] as number[]);
    for (let d = 0; d < outSize; d++) for (let k = 0; k < K; k++) lists[fwd[(at + d) * 9 + k]].push(d, k);
    const start = [0], pairs: number[] = [];
    for (const l of lists) { pairs.push(...l); start.push(pairs.length / 2); }
    return [...start, ...pairs];
  };
  const iy = inverse(0, OH, s[1]), ix = inverse(OH, OW, s[2]);
  const tab = new Float32Array(fwd.length + iy.length + ix.length);
  tab.set(fwd);
  tab.set(iy, fwd.length);
  tab.set(ix, fwd.length + iy.length);
  return { tab, K, skipZero, inv: [fwd.length, fwd.length + iy.length] };
}

/** A backend that cannot read its memory on the CPU: its kernels (src/backend/webgpu/indexing.ts). */
const onDevice = (ctx: RunContext): DeviceIndexing | undefined => (ctx.be.syncRead ? undefined : (ctx.be as { indexing?: DeviceIndexing }).indexing);

/** resize2d / resize2dGrad on the device: the table (shapes and attributes only) written to the workspace. */
function resizeOnDevice(dev: DeviceIndexing, ctx: RunContext, s: readonly number[], OH: number, OW: number, a: ResizeOptions & { method?: unknown }, from: number, to: number, backward: boolean): void {
  const { tab, K, skipZero, inv } = backward ? resizeGradTable(s, OH, OW, a.method as ResizeMethod, a) : { ...resizeTable(s, OH, OW, a.method as ResizeMethod, a), inv: [0, 0] as [number, number] };
  const ws = ctx.be.workspace(tab.byteLength);
  ctx.be.write(ws, tab);
  const dims = [s[0], s[1], s[2], s[3], OH, OW];
  if (backward) dev.resizeBackward(dims, from, to, ws, K, skipZero, inv);
  else dev.resize(dims, from, to, ws, K, skipZero, a.extrapolation ?? 0);
}

function outSize(size: readonly number[], op: string): [number, number] {
  if (size?.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) fail(op, `size must be [height, width] of positive integers, got ${JSON.stringify(size)}`);
  return [size[0], size[1]];
}

function resize(op: string, method: ResizeMethod, images: Tensor | TensorLike, size: [number, number], o: ResizeOptions): Tensor {
  const t = input(images, op, 'images');
  rankIs(t, 4, op, 'images', '[batch, height, width, channels]');
  const [OH, OW] = outSize(size, op);
  if (o.alignCorners && o.halfPixelCenters) fail(op, 'alignCorners and halfPixelCenters cannot both be true');
  // the graph op's kernel, eagerly: on every backend (the webgpu one included)
  return runEager('resize2d', [t], { method, size: [OH, OW], ...o })[0];
}

/** TF.js tf.image.resizeBilinear (NHWC). */
export function resizeBilinear(images: Tensor | TensorLike, size: [number, number], alignCorners = false, halfPixelCenters = false): Tensor {
  return resize('resizeBilinear', 'bilinear', images, size, { alignCorners, halfPixelCenters });
}

/** TF.js tf.image.resizeNearestNeighbor (NHWC). */
export function resizeNearestNeighbor(images: Tensor | TensorLike, size: [number, number], alignCorners = false, halfPixelCenters = false): Tensor {
  return resize('resizeNearestNeighbor', 'nearest', images, size, { alignCorners, halfPixelCenters });
}

/** The gradient of a resize with respect to its input images. */
export function resizeGrad(images: Tensor, dy: Tensor, method: ResizeMethod = 'bilinear', alignCorners = false, halfPixelCenters = false): Tensor {
  const t = input(images, 'resizeGrad', 'images');
  rankIs(t, 4, 'resizeGrad', 'images', '[batch, height, width, channels]');
  if (dy.rank !== 4 || dy.shape[0] !== t.shape[0] || dy.shape[3] !== t.shape[3]) fail('resizeGrad', `dy ${formatShape(dy.shape)} does not match images ${formatShape(t.shape)}`);
  return runEager('resize2dGrad', [t, input(dy, 'resizeGrad', 'dy')], { method, size: [dy.shape[1], dy.shape[2]], alignCorners, halfPixelCenters })[0];
}

/** TF.js tf.image.grayscaleToRGB: [..., 1] -> [..., 3]. */
export function grayscaleToRGB(images: Tensor | TensorLike): Tensor {
  const t = input(images, 'grayscaleToRGB', 'images');
  if (t.rank < 1 || t.shape[t.rank - 1] !== 1) fail('grayscaleToRGB', `the last dimension must be 1 (one channel), got ${formatShape(t.shape)}`);
  return runEager('grayscaleToRgb', [t])[0];
}

function repeatLast(x: Float32Array, y: Float32Array, n: number, times: number): void {
  for (let i = 0; i < n; i++) { const v = x[i]; for (let k = 0; k < times; k++) y[i * times + k] = v; }
}

registerOp({
  name: 'resize2d',
  infer([x], a, node) {
    if (x.length !== 4) fail('resizing', `node '${node}': input must be rank 4 [batch, height, width, channels], got ${formatShape(x)}`);
    const [OH, OW] = a.size as [number, number];
    return [[x[0], OH, OW, x[3]]];
  },
  run(ctx, n) {
    const s = ctx.shape(n.inputs[0]), [OH, OW] = n.attrs.size as [number, number];
    const be = ctx.be, dev = onDevice(ctx);
    if (dev) return resizeOnDevice(dev, ctx, s, OH, OW, n.attrs as ResizeOptions, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), false);
    resizeCore(be.f32(ctx.ptr(n.inputs[0]), s[0] * s[1] * s[2] * s[3]), be.f32(ctx.ptr(n.outputs[0]), s[0] * OH * OW * s[3]), s, OH, OW, n.attrs.method as ResizeMethod, n.attrs as ResizeOptions, false);
  },
  grad(n, [dy], b) {
    return [b.node('resize2dGrad', [n.inputs[0], dy!], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'resize2dGrad',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const s = ctx.shape(n.inputs[0]), [OH, OW] = n.attrs.size as [number, number];
    const be = ctx.be, dev = onDevice(ctx);
    if (dev) return resizeOnDevice(dev, ctx, s, OH, OW, n.attrs as ResizeOptions, ctx.ptr(n.inputs[1]), ctx.ptr(n.outputs[0]), true);
    resizeCore(be.f32(ctx.ptr(n.outputs[0]), s[0] * s[1] * s[2] * s[3]), be.f32(ctx.ptr(n.inputs[1]), s[0] * OH * OW * s[3]), s, OH, OW, n.attrs.method as ResizeMethod, n.attrs as ResizeOptions, true);
  },
});

registerOp({
  name: 'grayscaleToRgb',
  infer([x], _a, node) {
    if (x[x.length - 1] !== 1) fail('grayscaleToRgb', `node '${node}': the last dimension must be 1 (one channel), got ${formatShape(x)}`);
    return [[...x.slice(0, -1), 3]];
  },
  run(ctx, n) {
    const n1 = ctx.shape(n.inputs[0]).reduce((a, b) => a * b, 1), be = ctx.be;
    const dev = onDevice(ctx);
    if (dev) return dev.repeatLast(n1, 3, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
    repeatLast(be.f32(ctx.ptr(n.inputs[0]), n1), be.f32(ctx.ptr(n.outputs[0]), 3 * n1), n1, 3);
  },
  grad(n, [dy], b) {
    return [b.node('sumLastGroups', [dy!], { groups: 3 }, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'sumLastGroups',
  infer([x], a) { return [[...x.slice(0, -1), x[x.length - 1] / (a.groups as number)]]; },
  run(ctx, n) {
    const s = ctx.shape(n.inputs[0]), k = n.attrs.groups as number, total = s.reduce((a, b) => a * b, 1), be = ctx.be;
    const dev = onDevice(ctx);
    if (dev) return dev.sumGroups(total / k, k, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
    const x = be.f32(ctx.ptr(n.inputs[0]), total), y = be.f32(ctx.ptr(n.outputs[0]), total / k);
    for (let i = 0; i < y.length; i++) { let acc = 0; for (let j = 0; j < k; j++) acc += x[i * k + j]; y[i] = acc; }
  },
});
