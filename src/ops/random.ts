// Seeded random tensors and dropout. Without a seed, draws continue the backend's stream (seeded 0x5eed at
// start; eg.setSeed to change it); with a seed, a fresh xoshiro128** state gives the same numbers in every
// runtime and build. Kernels: assembly/random.ts.
import { backend, fail, finite, input, Tensor } from './util.js';
import type { TensorLike } from '../tensor.js';
import { getOp, registerOp, type RunContext } from '../graph/registry.js';
import { sizeOfShape } from '../graph/ir.js';
import { runEager } from '../graph/eager.js';
import './elementwise.js'; // the 'mul' op that dropout applies its mask with
import { fillValue } from './shape.js';
import type { HostDraws } from '../backend/webgpu/random.js';

type Distribution = 'uniform' | 'normal' | 'truncatedNormal' | 'dropoutMask';

/** The random kernels' one call site: fill value `out` from the stream at `rng` (a 16-byte state). */
function draw(ctx: RunContext, rng: number, dist: Distribution, out: number, a: number, b: number): void {
  const k = ctx.be.kernels, n = sizeOfShape(ctx.shape(out)), p = ctx.ptr(out);
  if (dist === 'uniform') k.rngUniform(rng, n, p, a, b);
  else if (dist === 'dropoutMask') k.dropoutMask(rng, n, p, a);
  else k.rngNormal(rng, n, p, a, b, +(dist === 'truncatedNormal'));
}

function sample(shape: readonly number[], dist: Distribution, a: number, b: number, seed: number | undefined): Tensor {
  const t = Tensor.empty(shape);
  withRng(seed, (rng) => runEager('random', [], { dist, a, b, rng }, { outputs: [t] }));
  return t;
}

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

/**
 * n standard normal draws on the host, for code that computes with them on the CPU (the orthogonal
 * initializer): the values and the stream's advance of randomNormal, also on a backend that reads back only
 * asynchronously (it draws on the host: src/backend/webgpu/random.ts).
 */
export function hostRandomNormal(n: number, seed?: number): Float32Array {
  const be = backend();
  if (be.syncRead) {
    const t = sample([n], 'normal', 0, 1, seed), v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  }
  const host = (be as Partial<HostDraws>).hostNormal;
  if (!host) fail('random', `the '${be.name}' backend can neither read random numbers back synchronously nor draw them on the host`);
  return withRng(seed, (rng) => host.call(be, rng, n));
}

/** Reseed the backend's default random stream. */
export function setSeed(seed: number): void {
  if (!Number.isInteger(seed)) fail('setSeed', `seed must be an integer, got ${seed}`);
  backend().seed(seed);
}

export function randomUniform(shape: readonly number[], minval = 0, maxval = 1, seed?: number): Tensor {
  finite(minval, 'randomUniform', 'minval'); finite(maxval, 'randomUniform', 'maxval');
  if (maxval < minval) fail('randomUniform', `maxval ${maxval} < minval ${minval}`);
  return sample(shape, 'uniform', minval, maxval, seed);
}

export function randomNormal(shape: readonly number[], mean = 0, stdDev = 1, seed?: number): Tensor {
  finite(mean, 'randomNormal', 'mean'); finite(stdDev, 'randomNormal', 'stdDev');
  return sample(shape, 'normal', mean, stdDev, seed);
}

/** Normal samples redrawn until within 2 standard deviations (Keras/TF truncated normal). */
export function truncatedNormal(shape: readonly number[], mean = 0, stdDev = 1, seed?: number): Tensor {
  finite(mean, 'truncatedNormal', 'mean'); finite(stdDev, 'truncatedNormal', 'stdDev');
  return sample(shape, 'truncatedNormal', mean, stdDev, seed);
}

/** Inverted-dropout mask: 0 with probability `rate`, else 1 / (1 - rate). */
export function dropoutMask(shape: readonly number[], rate: number, seed?: number): Tensor {
  finite(rate, 'dropout', 'rate');
  if (rate < 0 || rate >= 1) fail('dropout', `rate must be in [0, 1), got ${rate}`);
  return sample(shape, 'dropoutMask', rate, 0, seed);
}

/** TF.js tf.dropout: zero each element with probability `rate`, scale the rest by 1 / (1 - rate). */
export function dropout(x: Tensor | TensorLike, rate: number, seed?: number): Tensor {
  const t = input(x, 'dropout', 'x');
  const mask = dropoutMask(t.shape, rate, seed);
  return runEager('mul', [t, mask], {}, { outputs: [mask] })[0];
}

registerOp({
  name: 'random',
  // no inputs; attrs: dist, its parameters a and b, the shape, and the stream (default: the backend's)
  infer(_inputs, attrs) { return [(attrs.shape as number[]).slice()]; },
  run(ctx, n) {
    const a = n.attrs;
    draw(ctx, (a.rng as number | undefined) ?? ctx.be.rng, a.dist as Distribution, n.outputs[0], a.a as number, a.b as number);
  },
});

// ---- graph op: dropout (training: inverted-dropout mask from the layer's stream or the backend's; inference: identity) ----

registerOp({
  name: 'dropout',
  infer([x]) { return [x.slice(), x.slice()]; },
  run(ctx, n) {
    const x = n.inputs[0], [y, mask] = n.outputs;
    const size = sizeOfShape(ctx.shape(x));
    const rate = n.attrs.rate as number;
    if (ctx.dropout && rate > 0) {
      // the layer's own stream (its seed: an rng state input) or the backend's
      draw(ctx, n.inputs.length > 1 ? ctx.ptr(n.inputs[1]) : ctx.be.rng, 'dropoutMask', mask, rate, 0);
      getOp('mul').run(ctx, { ...n, op: 'mul', inputs: [x, mask], outputs: [y] });
    } else {
      ctx.be.copy(ctx.ptr(y), ctx.ptr(x), size * 4);
      // the backward pass multiplies by the mask: with nothing dropped (rate 0) it must pass the gradient
      if (ctx.training) fillValue(ctx, size, ctx.ptr(mask), 1);
    }
  },
  grad(n, [dy], b) {
    return [b.node('mul', [dy!, n.outputs[1]], {}, `${n.name}_grad`)[0], undefined];
  },
});
