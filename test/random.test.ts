// The seeded generator: reproducible across builds, right moments, truncation, dropout semantics.
import { describe, expect, it } from 'vitest';
import { BACKENDS, expectClose, useBuild } from './helpers.js';
import { randomUniform, randomNormal, truncatedNormal, dropout, dropoutMask, setSeed } from '../src/ops/random.js';
import { tensor } from '../src/tensor.js';

function moments(v: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i] / v.length;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2 / v.length;
  return { mean: m, std: Math.sqrt(s) };
}

describe('random', () => {
  it('the same seed gives the same bits in every build (and every backend)', () => {
    const runs = BACKENDS.map((b) => {
      useBuild(b);
      return [randomUniform([1000], -1, 1, 42).dataSync(), randomNormal([1000], 0, 1, 42).dataSync(), dropoutMask([1000], 0.3, 42).dataSync()];
    });
    BACKENDS.forEach((b, i) => {
      for (let k = 0; k < 3; k++) {
        // the reference backend takes Math.log / Math.cos for the normal draws: within an ulp or two, not the bits
        if (b === 'ref' && k === 1) expectClose(runs[i][k], runs[0][k], 1e-6, `${b} normal`);
        else expect(Array.from(runs[i][k]), `${b} draw ${k}`).toEqual(Array.from(runs[0][k]));
      }
    });
  });

  it('seeded calls repeat, unseeded calls continue the stream, setSeed restarts it', () => {
    useBuild('simd');
    expect(Array.from(randomUniform([8], 0, 1, 7).dataSync())).toEqual(Array.from(randomUniform([8], 0, 1, 7).dataSync()));
    setSeed(3);
    const a = randomUniform([8]).dataSync(), b = randomUniform([8]).dataSync();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    setSeed(3);
    expect(Array.from(randomUniform([8]).dataSync())).toEqual(Array.from(a));
  });

  it('has the right moments and ranges', () => {
    useBuild('simd');
    const u = randomUniform([100_000], 2, 5, 1).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2); expect(Math.max(...u)).toBeLessThan(5);
    expect(moments(u).mean).toBeCloseTo(3.5, 1);
    const n = moments(randomNormal([100_000], 1, 2, 2).dataSync());
    expect(n.mean).toBeCloseTo(1, 1); expect(n.std).toBeCloseTo(2, 1);
    const tn = truncatedNormal([100_000], 0, 1, 3).dataSync();
    expect(Math.max(...tn.map(Math.abs))).toBeLessThanOrEqual(2);
    expect(moments(tn).std).toBeCloseTo(0.88, 1); // std of N(0,1) truncated at +-2
  });

  it('dropout zeroes about rate of the inputs and scales the rest by 1 / (1 - rate)', () => {
    useBuild('simd');
    const x = tensor(new Float32Array(50_000).fill(2));
    const y = dropout(x, 0.25, 9).dataSync();
    const zeros = y.filter((v) => v === 0).length;
    expect(zeros / y.length).toBeCloseTo(0.25, 1);
    expect(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-6)).toBe(true);
    expect(() => dropout(x, 1)).toThrow(/rate must be in \[0, 1\)/);
  });
});
