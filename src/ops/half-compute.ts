// Float16 compute (loadModel's compute: 'float16', inference on a WebGPU device with shader-f16): dense,
// conv2d and matMul nodes whose weight is stored as float16 (./half.ts) read the packed halves directly, with
// no widened float32 copy: A is converted to f16 as the tiled kernel stages it, each product is an f16
// multiply, and the sums stay float32 (src/backend/webgpu/tiled.ts tiledCodeF16); bias and activation are
// applied in float32. The inference pass that makes these nodes is computeHalf (src/graph/half.ts); the
// weight input is the packed tensor seen with the weight's own shape, so shape rules and FLOPs are the float ops'.
import { getOp, registerOp, type OpSpec, type RunContext } from '../graph/registry.js';
import { sizeOfShape, type Node } from '../graph/ir.js';
import { Act } from '../backend/kernels.js';
import type { DeviceHalf } from '../backend/webgpu/half.js';
import { convGeometry, type Padding } from './conv.js';
import { fail } from './util.js';
import './matmul.js';

/** The float op each float16 op computes, by name. */
export const F16_OPS: Readonly<Record<string, string>> = { dense: 'denseF16', conv2d: 'conv2dF16', matMul: 'matMulF16' };

function device(ctx: RunContext, n: Node): DeviceHalf {
  const half = (ctx.be as { half?: DeviceHalf }).half;
  if (!half?.f16) fail(n.op, `node '${n.name}': computes in float16, which needs the webgpu backend on a device with 'shader-f16' (the active backend is '${ctx.be.name}')`);
  return half;
}

const act = (n: Node): number => Act[((n.attrs.activation as string | undefined) ?? 'linear') as keyof typeof Act];

function register(base: string, run: OpSpec['run']): void {
  const spec = getOp(base);
  registerOp({ name: F16_OPS[base], infer: spec.infer, flops: spec.flops, outputDtype: spec.outputDtype, run });
}

register('dense', (ctx, n) => {
  const [x, w, b] = n.inputs;
  const [M, K] = ctx.shape(x), N = ctx.shape(w)[1];
  device(ctx, n).gemm(M, N, K, ctx.ptr(x), K, ctx.ptr(w), ctx.ptr(n.outputs[0]), N, b !== undefined ? ctx.ptr(b) : 0, act(n), (n.attrs.alpha as number) ?? 0);
});

// untransposed, B of rank 2 (computeHalf's rule): A's batch axes are more rows of one GEMM
register('matMul', (ctx, n) => {
  const [a, b, bias] = n.inputs, y = n.outputs[0];
  const shape = ctx.shape(y), K = ctx.shape(b)[0], N = shape[shape.length - 1], M = sizeOfShape(shape) / N;
  if (n.attrs.transposeA || n.attrs.transposeB || ctx.shape(b).length !== 2) fail('matMulF16', `node '${n.name}': a float16 product takes an untransposed B of rank 2`);
  device(ctx, n).gemm(M, N, K, ctx.ptr(a), K, ctx.ptr(b), ctx.ptr(y), N, bias !== undefined ? ctx.ptr(bias) : 0, act(n), (n.attrs.alpha as number) ?? 0);
});

register('conv2d', (ctx, n) => {
  const [x, w, b] = n.inputs;
  const g = convGeometry(ctx.shape(x), ctx.shape(w), n.attrs.strides as [number, number], n.attrs.pad as Padding, n.attrs.dilations as [number, number], n.name);
  device(ctx, n).conv2dForward([g.N, g.H, g.W, g.C, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL, g.DH, g.DW, g.OH, g.OW, g.G, g.CO],
    ctx.ptr(x), ctx.ptr(w), b !== undefined ? ctx.ptr(b) : 0, ctx.ptr(n.outputs[0]), act(n), (n.attrs.alpha as number) ?? 0);
});
