// Seeded random tensors and dropout. Without a seed, draws continue the backend's stream (seeded 0x5eed at
// start; eg.setSeed to change it); with a seed, a fresh xoshiro128** state gives the same numbers in every
// runtime and build. Kernels: assembly/random.ts.
import { Bin } from '../backend/wasm/kernels.js';
import { backend, fail, finite, input, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { registerOp } from '../graph/registry.js';
import { sizeOfShape } from '../graph/ir.js';

function withRng<T>(seed: number | undefined, f: (rng: number) => T): T {
  const be = backend();
  if (seed === undefined) return f(be.rng);
  if (!Number.isInteger(seed)) fail('random', `seed must be an integer, got ${seed}`);
  const rng = be.alloc(16);
  try {
    be.kernels.rngSeed(rng, seed >>> 0);
    return f(rng);
  } finally {
    be.free(rng);
  }
}

/** Reseed the backend's default random stream. */
export function setSeed(seed: number): void {
  if (!Number.isInteger(seed)) fail('setSeed', `seed must be an integer, got ${seed}`);
  backend().seed(seed);
}

export function randomUniform(shape: readonly number[], minval = 0, maxval = 1, seed?: number): Tensor {
  finite(minval, 'randomUniform', 'minval'); finite(maxval, 'randomUniform', 'maxval');
  if (maxval < minval) fail('randomUniform', `maxval ${maxval} < minval ${minval}`);
  const t = Tensor.empty(shape);
  withRng(seed, (rng) => backend().kernels.rngUniform(rng, t.size, t.ptr, minval, maxval));
  return t;
}

export function randomNormal(shape: readonly number[], mean = 0, stdDev = 1, seed?: number): Tensor {
  finite(mean, 'randomNormal', 'mean'); finite(stdDev, 'randomNormal', 'stdDev');
  const t = Tensor.empty(shape);
  withRng(seed, (rng) => backend().kernels.rngNormal(rng, t.size, t.ptr, mean, stdDev, 0));
  return t;
}

/** Normal samples redrawn until within 2 standard deviations (Keras/TF truncated normal). */
export function truncatedNormal(shape: readonly number[], mean = 0, stdDev = 1, seed?: number): Tensor {
  finite(mean, 'truncatedNormal', 'mean'); finite(stdDev, 'truncatedNormal', 'stdDev');
  const t = Tensor.empty(shape);
  withRng(seed, (rng) => backend().kernels.rngNormal(rng, t.size, t.ptr, mean, stdDev, 1));
  return t;
}

/** Inverted-dropout mask: 0 with probability `rate`, else 1 / (1 - rate). */
export function dropoutMask(shape: readonly number[], rate: number, seed?: number): Tensor {
  finite(rate, 'dropout', 'rate');
  if (rate < 0 || rate >= 1) fail('dropout', `rate must be in [0, 1), got ${rate}`);
  const t = Tensor.empty(shape);
  withRng(seed, (rng) => backend().kernels.dropoutMask(rng, t.size, t.ptr, rate));
  return t;
}

/** TF.js tf.dropout: zero each element with probability `rate`, scale the rest by 1 / (1 - rate). */
export function dropout(x: Tensor | TensorLike, rate: number, seed?: number): Tensor {
  const t = input(x, 'dropout', 'x');
  const mask = dropoutMask(t.shape, rate, seed);
  const be = backend();
  be.kernels.binary(Bin.mul, 1, be.descriptor([t.size, 1, 1]), t.ptr, mask.ptr, mask.ptr);
  return mask;
}

// ---- graph op: dropout (training: inverted-dropout mask from the backend's stream; inference: identity) ----

registerOp({
  name: 'dropout',
  infer([x]) { return [x.slice(), x.slice()]; },
  run(ctx, n) {
    const x = n.inputs[0], [y, mask] = n.outputs;
    const size = sizeOfShape(ctx.shape(x));
    const k = ctx.be.kernels;
    const rate = n.attrs.rate as number;
    if (ctx.dropout && rate > 0) {
      k.dropoutMask(ctx.be.rng, size, ctx.ptr(mask), rate);
      k.binary(Bin.mul, 1, ctx.be.descriptor([size, 1, 1]), ctx.ptr(x), ctx.ptr(mask), ctx.ptr(y));
    } else {
      new Uint8Array(ctx.be.memory.buffer).copyWithin(ctx.ptr(y), ctx.ptr(x), ctx.ptr(x) + size * 4);
    }
  },
  grad(n, [dy], b) {
    return [b.node('mul', [dy!, n.outputs[1]], {}, `${n.name}_grad`)[0]];
  },
});
