// Seeded random numbers for initializers and dropout masks: xoshiro128** (Blackman & Vigna 2018) seeded
// through splitmix32. Integer arithmetic and AssemblyScript's own Mathf, so the same seed gives the same
// bits in every runtime. State: four u32 words at `rng` (16 bytes, owned by the caller).

// @ts-ignore: decorator
@inline function rotl(x: u32, k: u32): u32 { return (x << k) | (x >>> (32 - k)); }

export function rngSeed(rng: usize, seed: u32): void {
  let z = seed;
  for (let i = 0; i < 4; i++) {
    z += 0x9e3779b9;
    let t = z;
    t = (t ^ (t >>> 16)) * 0x85ebca6b;
    t = (t ^ (t >>> 13)) * 0xc2b2ae35;
    t = t ^ (t >>> 16);
    store<u32>(rng + (<usize>i << 2), t == 0 && i == 0 ? 1 : t);
  }
}

export function nextU32(rng: usize): u32 {
  const s0 = load<u32>(rng), s1 = load<u32>(rng, 4), s2 = load<u32>(rng, 8), s3 = load<u32>(rng, 12);
  const result = rotl(s1 * 5, 7) * 9;
  const t = s1 << 9;
  let n2 = s2 ^ s0, n3 = s3 ^ s1;
  const n1 = s1 ^ n2, n0 = s0 ^ n3;
  n2 ^= t;
  n3 = rotl(n3, 11);
  store<u32>(rng, n0); store<u32>(rng, n1, 4); store<u32>(rng, n2, 8); store<u32>(rng, n3, 12);
  return result;
}

/** Uniform in [0, 1) with 24 random bits (every value exactly representable in f32). */
export function nextUniform(rng: usize): f32 {
  return <f32>(nextU32(rng) >>> 8) * (1.0 / 16777216.0);
}

/** Standard normal by Box-Muller (one of the pair; simple and bit-reproducible). */
function nextNormal(rng: usize): f32 {
  let u1 = nextUniform(rng);
  while (u1 <= 0) u1 = nextUniform(rng);
  const u2 = nextUniform(rng);
  return Mathf.sqrt(-2 * Mathf.log(u1)) * Mathf.cos(<f32>(2 * Math.PI) * u2);
}

export function rngUniform(rng: usize, n: i32, out: usize, lo: f32, hi: f32): void {
  const w = hi - lo;
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), lo + w * nextUniform(rng));
}

/** Normal(mean, std); truncated != 0 redraws samples beyond 2 std (Keras' truncated normal). */
export function rngNormal(rng: usize, n: i32, out: usize, mean: f32, std: f32, truncated: i32): void {
  for (let i = 0; i < n; i++) {
    let z = nextNormal(rng);
    if (truncated) while (Mathf.abs(z) > 2) z = nextNormal(rng);
    store<f32>(out + (<usize>i << 2), mean + std * z);
  }
}

/** Inverted-dropout mask: 0 with probability rate, else 1 / (1 - rate), so E[mask] = 1. */
export function dropoutMask(rng: usize, n: i32, mask: usize, rate: f32): void {
  const keep: f32 = 1 / (1 - rate);
  for (let i = 0; i < n; i++) store<f32>(mask + (<usize>i << 2), nextUniform(rng) < rate ? 0 : keep);
}
