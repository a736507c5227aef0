// The random kernels on the GPU backend. xoshiro128** (assembly/random.ts) is a sequential stream, and a
// seeded run must draw the same weights, dropout masks and RReLU slopes on every backend. Each stream (the
// 16-byte state at its handle) is in one of two places:
// - on the host (from rngSeed on): the reference kernels draw on the CPU from a shadow of the state and
//   upload the values. Initializers, dropout and augmentation parameters need only the stream.
// - on the device: randomized leaky ReLU draws a slope only for each negative input (Xu et al. 2015, as
//   wasm), so how far it advances the stream depends on data the CPU cannot read synchronously. It runs as
//   one GPU thread walking the elements in order, with the state in GPU memory at the handle; from then on
//   that stream's draws run the same way on the GPU (one thread, bit-exact for uniform draws and dropout
//   masks; normal draws use the GPU's log and cos, within float rounding of wasm's) until it is seeded again.
import type { Kernels } from '../kernels.js';
import { RefMemory } from '../ref/memory.js';
import { elementwiseRandomOptimKernels } from '../ref/elementwise-random-optim.js';
import type { GpuHeap } from './gpu.js';
import { MAIN, e } from './kernels.js';

/** What a backend that reads back only asynchronously offers an op that needs random numbers on the host. */
export interface HostDraws {
  /** n uniform draws in [0, 1) from the stream at `rng`, on the host (the same values wasm's rngUniform gives). */
  hostUniform(rng: number, n: number): Float32Array;
  /** n normal draws (mean 0, std 1) from the stream at `rng`, on the host (wasm's rngNormal's values). */
  hostNormal(rng: number, n: number): Float32Array;
}

/** xoshiro128** with its state in GPU memory at the element offset `at` (a thread walks it in order). */
const XOSHIRO = /* wgsl */ `
var<private> s: vec4u;
fn rotl(x: u32, k: u32) -> u32 { return (x << k) | (x >> (32u - k)); }
fn loadState(at: u32) { s = vec4u(bitcast<u32>(mem[at]), bitcast<u32>(mem[at + 1u]), bitcast<u32>(mem[at + 2u]), bitcast<u32>(mem[at + 3u])); }
fn storeState(at: u32) { mem[at] = bitcast<f32>(s.x); mem[at + 1u] = bitcast<f32>(s.y); mem[at + 2u] = bitcast<f32>(s.z); mem[at + 3u] = bitcast<f32>(s.w); }
fn nextU32() -> u32 {
  let result = rotl(s.y * 5u, 7u) * 9u;
  let t = s.y << 9u;
  var n2 = s.z ^ s.x; var n3 = s.w ^ s.y;
  let n1 = s.y ^ n2; let n0 = s.x ^ n3;
  n2 ^= t;
  n3 = rotl(n3, 11u);
  s = vec4u(n0, n1, n2, n3);
  return result;
}
// 24 random bits, every value exact in f32
fn nextUniform() -> f32 { return f32(nextU32() >> 8u) * (1.0 / 16777216.0); }
fn nextNormal() -> f32 {
  var u1 = nextUniform();
  loop { if (u1 > 0.0) { break; } u1 = nextUniform(); }
  let u2 = nextUniform();
  return sqrt(-2.0 * log(u1)) * cos(6.2831854820251465 * u2);
}`;

// rreluTrain: u: n x y slopes rng; f: lower upper
const RRELU = XOSHIRO + /* wgsl */ `
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  loadState(ai(4u));
  let lower = af(5u); let w = af(6u) - af(5u);
  for (var i = 0u; i < ai(0u); i++) {
    let v = mem[ai(1u) + i];
    var sl: f32 = 1.0;
    if (v < 0.0) { sl = lower + w * nextUniform(); }
    mem[ai(3u) + i] = sl;
    mem[ai(2u) + i] = v * sl;
  }
  storeState(ai(4u));
}`;

// a device stream's draws. u: kind n out rng truncated; f: a b (uniform: lo, hi - lo; normal: mean, std; dropout: rate, keep)
const DRAW = XOSHIRO + /* wgsl */ `
${MAIN} {
  if (flat(g, nw) != 0u) { return; }
  loadState(ai(3u));
  let kind = ai(0u); let a = af(5u); let b = af(6u);
  for (var i = 0u; i < ai(1u); i++) {
    var v: f32;
    if (kind == 0u) { v = a + b * nextUniform(); }
    else if (kind == 2u) { v = select(b, 0.0, nextUniform() < a); }
    else {
      var z = nextNormal();
      if (ai(4u) != 0u) { loop { if (abs(z) <= 2.0) { break; } z = nextNormal(); } }
      v = a + b * z;
    }
    mem[ai(2u) + i] = v;
  }
  storeState(ai(3u));
}`;

type RandomKernels = Pick<Kernels, 'rngSeed' | 'rngUniform' | 'rngNormal' | 'dropoutMask' | 'rreluTrain'>;

export function randomKernels(heap: GpuHeap): RandomKernels & HostDraws {
  /** Host streams' states by handle; a handle not here but in `device` has its state in GPU memory. */
  const states = new Map<number, Uint8Array>();
  const device = new Set<number>();
  /** Run a reference draw of n floats from the host state at `rng`; the values. */
  const hostDraw = (rng: number, n: number, f: (k: ReturnType<typeof elementwiseRandomOptimKernels>, outAt: number) => void): Float32Array => {
    const state = states.get(rng);
    if (!state) throw new Error('edgegrad: internal: a webgpu random stream was used before it was seeded');
    const mem = new RefMemory(Math.max(1, Math.ceil((n * 4 + 64) / 65536)));
    new Uint8Array(mem.buffer, 0, 16).set(state);
    f(elementwiseRandomOptimKernels(mem), 64);
    state.set(new Uint8Array(mem.buffer, 0, 16));
    return new Float32Array(mem.buffer, 64, n);
  };
  /** The stream's state moves to GPU memory (once; it stays there until seeded again). */
  const toDevice = (rng: number): void => {
    if (device.has(rng)) return;
    const state = states.get(rng);
    if (!state) throw new Error('edgegrad: internal: a webgpu random stream was used before it was seeded');
    heap.write(rng, state);
    states.delete(rng);
    device.add(rng);
  };
  const onHost = (rng: number): void => {
    if (!device.has(rng)) return;
    throw new Error('edgegrad: this random stream has drawn randomized-ReLU slopes on the GPU, so its state is there and the host cannot draw from it synchronously: seed it again (eg.setSeed), or give the layer that draws on the host (augmentation, an orthogonal initializer) its own seed');
  };
  const drawOnDevice = (kind: number, rng: number, n: number, out: number, a: number, b: number, truncated = 0): void => {
    // one thread: run it even for n = 0? nothing to draw, the stream does not move
    if (n > 0) heap.run(DRAW, 1, { u: [kind, n, e(out), e(rng), truncated], f: [a, b] });
  };
  return {
    rngSeed(rng, seed) {
      const mem = new RefMemory(1);
      elementwiseRandomOptimKernels(mem).rngSeed(0, seed);
      states.set(rng, new Uint8Array(mem.buffer, 0, 16).slice());
      device.delete(rng);
    },
    rngUniform(rng, n, out, lo, hi) {
      if (device.has(rng)) return drawOnDevice(0, rng, n, out, lo, Math.fround(Math.fround(hi) - Math.fround(lo)));
      heap.write(out, hostDraw(rng, n, (k, at) => k.rngUniform(0, n, at, lo, hi)));
    },
    rngNormal(rng, n, out, mean, std, truncated) {
      if (device.has(rng)) return drawOnDevice(1, rng, n, out, mean, std, truncated);
      heap.write(out, hostDraw(rng, n, (k, at) => k.rngNormal(0, n, at, mean, std, truncated)));
    },
    dropoutMask(rng, n, out, rate) {
      if (device.has(rng)) return drawOnDevice(2, rng, n, out, rate, Math.fround(1 / Math.fround(1 - Math.fround(rate))));
      heap.write(out, hostDraw(rng, n, (k, at) => k.dropoutMask(0, n, at, rate)));
    },
    rreluTrain(n, x, y, slopes, lower, upper, rng) {
      toDevice(rng);
      if (n > 0) heap.run(RRELU, 1, { u: [n, e(x), e(y), e(slopes), e(rng)], f: [lower, upper] });
    },
    hostUniform(rng, n) {
      onHost(rng);
      return hostDraw(rng, n, (k, at) => k.rngUniform(0, n, at, 0, 1)).slice();
    },
    hostNormal(rng, n) {
      onHost(rng);
      return hostDraw(rng, n, (k, at) => k.rngNormal(0, n, at, 0, 1, 0)).slice();
    },
  };
}
