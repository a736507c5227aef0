// Max and average pooling over NHWC (any window, stride, padding) and global average pooling, with
// backward passes (max routes each gradient to the first arg-max only) and references.
// Kernels: assembly/pool.ts, assembly/reduce.ts.
import { Pool } from '../backend/kernels.js';
import { padAndOut, type Padding } from './conv.js';
import { arr, fail, formatShape, input, pair, rankIs, type Arr, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp } from '../graph/registry.js';
import { runEager } from '../graph/eager.js';
import { runReduce, runReduceGrad } from './reduce.js';

export interface PoolGeometry { N: number; H: number; W: number; C: number; KH: number; KW: number; SH: number; SW: number; PT: number; PL: number; OH: number; OW: number }

export function poolGeometry(x: readonly number[], filterSize: number | [number, number], strides: number | [number, number] | undefined,
  pad: Padding, op: string): PoolGeometry {
  if (x.length !== 4) fail(op, `x must be rank 4 [batch, height, width, channels], got ${formatShape(x)}`);
  const [N, H, W, C] = x;
  const [KH, KW] = pair(filterSize, 1, op, 'filterSize');
  const [SH, SW] = pair(strides ?? filterSize, 1, op, 'strides');
  const [PT, , OH] = padAndOut(H, KH, SH, 1, pad, 0, op);
  const [PL, , OW] = padAndOut(W, KW, SW, 1, pad, 1, op);
  return { N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW };
}

function pool(kind: 'max' | 'avg', op: string, x: Tensor | TensorLike, filterSize: number | [number, number], strides: number | [number, number] | undefined, pad: Padding): Tensor {
  const t = input(x, op, 'x');
  poolGeometry(t.shape, filterSize, strides, pad, op);
  return runEager('pool', [t], { kind, filterSize, strides, pad })[0];
}

/** TF.js tf.maxPool (NHWC). strides default to the window. */
export function maxPool(x: Tensor | TensorLike, filterSize: number | [number, number], strides?: number | [number, number], pad: Padding = 'valid'): Tensor {
  return pool('max', 'maxPool', x, filterSize, strides, pad);
}

/** TF.js tf.avgPool (NHWC); padded positions are not counted in the average. */
export function avgPool(x: Tensor | TensorLike, filterSize: number | [number, number], strides?: number | [number, number], pad: Padding = 'valid'): Tensor {
  return pool('avg', 'avgPool', x, filterSize, strides, pad);
}

function poolGrad(kind: 'max' | 'avg', op: string, x: Tensor, dy: Tensor, filterSize: number | [number, number], strides: number | [number, number] | undefined, pad: Padding): Tensor {
  x = input(x, op, 'x'); dy = input(dy, op, 'dy');
  const g = poolGeometry(x.shape, filterSize, strides, pad, op);
  const want = [g.N, g.OH, g.OW, g.C];
  if (dy.shape.some((d, i) => d !== want[i]) || dy.rank !== 4) fail(op, `dy must be ${formatShape(want)}, got ${formatShape(dy.shape)}`);
  return runEager('poolGrad', [x, dy], { kind, filterSize, strides, pad })[0];
}

export function maxPoolGrad(x: Tensor, dy: Tensor, filterSize: number | [number, number], strides?: number | [number, number], pad: Padding = 'valid'): Tensor {
  return poolGrad('max', 'maxPoolGrad', x, dy, filterSize, strides, pad);
}

export function avgPoolGrad(x: Tensor, dy: Tensor, filterSize: number | [number, number], strides?: number | [number, number], pad: Padding = 'valid'): Tensor {
  return poolGrad('avg', 'avgPoolGrad', x, dy, filterSize, strides, pad);
}

/** Mean over height and width: [N, H, W, C] -> [N, C]. */
export function globalAvgPool(x: Tensor | TensorLike): Tensor {
  const t = input(x, 'globalAvgPool', 'x');
  rankIs(t, 4, 'globalAvgPool', 'x', '[batch, height, width, channels]');
  return runEager('globalAvgPool', [t])[0];
}

export function globalAvgPoolGrad(x: Tensor, dy: Tensor): Tensor {
  const [N, , , C] = x.shape;
  if (dy.size !== N * C) fail('globalAvgPoolGrad', `dy must be [${N},${C}], got ${formatShape(dy.shape)}`);
  return runEager('globalAvgPoolGrad', [x, dy])[0];
}

/** Reference pooling in float64 (average over in-bounds elements). */
export function refPool(x: Arr, g: PoolGeometry, kind: 'max' | 'avg'): Arr {
  const { N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW } = g;
  const out = arr([N, OH, OW, C]);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    let m = -Infinity, s = 0, cnt = 0;
    for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const v = x.data[((n * H + iy) * W + ix) * C + c];
      m = Math.max(m, v); s += v; cnt++;
    }
    out.data[((n * OH + oy) * OW + ox) * C + c] = kind === 'max' ? m : s / cnt;
  }
  return out;
}

// ---- graph ops ----

registerOp({
  name: 'pool',
  infer([x], a, node) {
    try {
      const g = poolGeometry(x, a.filterSize as [number, number], a.strides as [number, number], a.pad as Padding, a.kind === 'max' ? 'maxPool' : 'avgPool');
      return [[x[0], g.OH, g.OW, g.C]];
    } catch (e) { throw new Error(`${(e as Error).message} (node '${node}')`); }
  },
  run(ctx, n) {
    const x = n.inputs[0], a = n.attrs;
    const g = poolGeometry(ctx.shape(x), a.filterSize as [number, number], a.strides as [number, number], a.pad as Padding, 'pool');
    ctx.be.kernels.pool2dForward(a.kind === 'max' ? Pool.max : Pool.avg, g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.OH, g.OW, ctx.ptr(x), ctx.ptr(n.outputs[0]));
  },
  grad(n, [dy], b) {
    return [b.node('poolGrad', [n.inputs[0], dy!], n.attrs, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'poolGrad',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const [x, dy] = n.inputs, a = n.attrs;
    const g = poolGeometry(ctx.shape(x), a.filterSize as [number, number], a.strides as [number, number], a.pad as Padding, 'pool');
    ctx.be.kernels.pool2dBackward(a.kind === 'max' ? Pool.max : Pool.avg, g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.OH, g.OW, ctx.ptr(x), ctx.ptr(dy), ctx.ptr(n.outputs[0]));
  },
});

registerOp({
  name: 'globalAvgPool',
  infer([x], _a, node) {
    if (x.length !== 4) fail('globalAvgPool', `node '${node}': input must be rank 4 [batch, height, width, channels], got ${formatShape(x)}`);
    return [[x[0], x[3]]];
  },
  run(ctx, n) {
    const [N, H, W, C] = ctx.shape(n.inputs[0]);
    runReduce(ctx, 'mean', [N, H * W, C], n.inputs[0], n.outputs[0]);
  },
  grad(n, [dy], b) {
    return [b.node('globalAvgPoolGrad', [n.inputs[0], dy!], {}, `${n.name}_grad`)[0]];
  },
});

registerOp({
  name: 'globalAvgPoolGrad',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const [x, dy] = n.inputs;
    const [N, H, W, C] = ctx.shape(x);
    runReduceGrad(ctx, 'mean', [N, H * W, C], x, dy, n.outputs[0]);
  },
});
