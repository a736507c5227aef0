// Casts inside a float32 graph: the value rounded to what the target type can hold, stored as float32 again.
// edgegrad computes in float32, so a model's Cast to float16 or bfloat16 (or its float16 inputs and outputs)
// keeps its meaning only if the rounding happens: to the nearest half or bfloat16, ties to even, beyond the
// type's range to ±Infinity (IEEE 754, as ONNX's Cast and ONNX Runtime do); to an integer type, toward zero
// (C's and numpy's float -> int); to bool, 0 or 1. float64 needs none: it holds every float32 exactly.
import { registerOp } from '../graph/registry.js';
import { roundToBfloat16, roundToHalf } from '../io/half.js';
import { fail } from './util.js';
import type { DeviceNumeric } from '../backend/webgpu/numeric.js';

/** What a cast rounds to. */
export type CastTarget = 'float16' | 'bfloat16' | 'integer' | 'bool';

// bool: any nonzero value (NaN included, as numpy has it) is true
const ROUND: Record<CastTarget, (v: number) => number> = { float16: roundToHalf, bfloat16: roundToBfloat16, integer: Math.trunc, bool: (v) => (v !== 0 ? 1 : 0) };

/** x rounded as a cast to `to` rounds it, into y (the same length; may be x itself). */
export function castRound(x: ArrayLike<number>, y: { [i: number]: number }, to: CastTarget): void {
  const f = ROUND[to];
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
}

registerOp({
  name: 'cast',
  infer([x], a, node) {
    if (!(a.to as string in ROUND)) fail('cast', `node '${node}': to must be one of ${Object.keys(ROUND).join(', ')}, got ${String(a.to)}`);
    return [x.slice()];
  },
  run(ctx, n) {
    const size = ctx.shape(n.inputs[0]).reduce((p, d) => p * d, 1);
    // on the webgpu backend, its kernel (the same bits); elsewhere rounded on the host, over the backend's
    // memory (a few operations per value, once per cast)
    const gpu = ctx.be.syncRead ? undefined : (ctx.be as { numeric?: DeviceNumeric }).numeric;
    if (gpu) return gpu.castRound(size, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), n.attrs.to as CastTarget);
    if (!ctx.be.syncRead) fail('cast', `node '${n.name}': rounds to ${n.attrs.to as string} on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
    castRound(ctx.be.f32(ctx.ptr(n.inputs[0]), size), ctx.be.f32(ctx.ptr(n.outputs[0]), size), n.attrs.to as CastTarget);
  },
  // a cast between float types passes gradients straight through (the rounding's own derivative is 0 almost
  // everywhere, which would stop training at every float16 boundary); integers carry none
  grad(n, [dy]) {
    return [n.attrs.to === 'integer' || n.attrs.to === 'bool' ? undefined : dy];
  },
});
