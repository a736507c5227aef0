// Activation ranges for u8 quantization, from a sample of a tensor's values over the calibration set:
//   minmax      the whole range (no clipping; outliers stretch the step for everyone),
//   percentile  the tails of the sample cut at a percentile,
//   mse         the clip points that minimize the mean squared quantize-dequantize error of the sample: clipped
//               values cost (x - edge)^2, values inside cost the rounding error (exact on a small sample,
//               step^2 / 12 on a large one, 0 for exact zeros, which u8 represents exactly). A search over 1,024
//               clip points per side (coordinate descent: the upper clip, then the lower, twice); a one-signed
//               tensor (after ReLU) has its lower clip at 0 and searches the upper one only.
//   entropy     the clip whose quantized histogram is closest to the clipped one in KL divergence (TensorRT's
//               calibration: Migacz, "8-bit Inference with TensorRT", GTC 2017): 2,048 bins of |x|, the tail
//               folded into the last bin kept, the kept bins merged into the u8 levels and spread back over
//               their non-empty bins; 255 levels for a one-signed tensor, 127 a side (symmetric) otherwise.
// The clipped error comes from prefix sums over the sorted sample, so a candidate costs O(log n).
import { actQuantFromRange, quantizeValue, type ActQuant } from '../ops/quant.js';

/** A sorted sample of a tensor's values with its exact min / max (over all values, not only the sample). */
export interface RangeSample {
  sorted: Float64Array;
  min: number;
  max: number;
}

/** Sorts a sample (a copy), for percentileRange and mseRange. */
export function rangeSample(values: ArrayLike<number>, min?: number, max?: number): RangeSample {
  const sorted = Float64Array.from(values).sort();
  return { sorted, min: min ?? sorted[0] ?? 0, max: max ?? sorted[sorted.length - 1] ?? 0 };
}

/** The sample's values with (100 - pct)% of it below the first and as many above the second. */
export function percentileRange(s: RangeSample, pct: number): [number, number] {
  const n = s.sorted.length, tail = Math.floor(((100 - pct) / 100) * n);
  if (n === 0) return [s.min, s.max];
  return [s.sorted[tail], s.sorted[n - 1 - tail]];
}

/** Below this many values the in-range rounding error is summed exactly, value by value. */
const EXACT = 8192;

/** Mean squared quantize-dequantize error of the sample under the u8 quantization of [lo, hi]. */
export function quantMse(s: RangeSample, lo: number, hi: number, pre = prefixSums(s.sorted)): number {
  const n = s.sorted.length;
  if (n === 0) return 0;
  return mseOf(s.sorted, pre, actQuantFromRange(lo, hi)) / n;
}

interface Prefix { sum: Float64Array; sq: Float64Array; zeros: number }

function prefixSums(x: Float64Array): Prefix {
  const sum = new Float64Array(x.length + 1), sq = new Float64Array(x.length + 1);
  let zeros = 0;
  for (let i = 0; i < x.length; i++) { sum[i + 1] = sum[i] + x[i]; sq[i + 1] = sq[i] + x[i] * x[i]; if (x[i] === 0) zeros++; }
  return { sum, sq, zeros };
}

/** First index with x[i] >= v (x sorted ascending). */
function lowerBound(x: Float64Array, v: number): number {
  let a = 0, b = x.length;
  while (a < b) { const m = (a + b) >> 1; if (x[m] < v) a = m + 1; else b = m; }
  return a;
}

/** Total squared error of quantizing the sorted sample by q (u8, its representable range [-zp s, (255 - zp) s]). */
function mseOf(x: Float64Array, pre: Prefix, q: ActQuant): number {
  const s = q.scale, qlo = -q.zeroPoint * s, qhi = (255 - q.zeroPoint) * s;
  const i = lowerBound(x, qlo), j = lowerBound(x, qhi);
  // below qlo: sum (x - qlo)^2 = sq - 2 qlo sum + n qlo^2; above qhi likewise
  const below = pre.sq[i] - 2 * qlo * pre.sum[i] + i * qlo * qlo;
  const m = x.length - j;
  const above = (pre.sq[x.length] - pre.sq[j]) - 2 * qhi * (pre.sum[x.length] - pre.sum[j]) + m * qhi * qhi;
  let inside = 0;
  if (x.length <= EXACT) {
    for (let k = i; k < j; k++) {
      const d = x[k] - (quantizeValue(x[k], s, q.zeroPoint, 0, 255) - q.zeroPoint) * s;
      inside += d * d;
    }
  } else {
    // rounding error uniform over a step; exact zeros (ReLU's) are exact
    const zerosInside = qlo <= 0 && qhi >= 0 ? pre.zeros : 0;
    inside = (j - i - zerosInside) * (s * s) / 12;
  }
  return Math.max(0, below) + Math.max(0, above) + inside;
}

const CANDIDATES = 1024;

/** The [lo, hi] (clip points within [min, max]) whose u8 quantization gives the sample the least squared error. */
export function mseRange(s: RangeSample): [number, number] {
  const x = s.sorted;
  const lo0 = Math.min(s.min, 0), hi0 = Math.max(s.max, 0);
  if (x.length === 0 || hi0 === lo0) return [s.min, s.max];
  const pre = prefixSums(x);
  const err = (lo: number, hi: number) => mseOf(x, pre, actQuantFromRange(lo, hi));
  let lo = lo0, hi = hi0, best = err(lo, hi);
  // clip points at k / CANDIDATES of each side's extent (k = 1 .. CANDIDATES)
  const searchHi = () => {
    if (hi0 <= 0) return;
    for (let k = 1; k <= CANDIDATES; k++) { const h = (hi0 * k) / CANDIDATES, e = err(lo, h); if (e < best) { best = e; hi = h; } }
  };
  const searchLo = () => {
    if (lo0 >= 0) return;
    for (let k = 1; k <= CANDIDATES; k++) { const l = (lo0 * k) / CANDIDATES, e = err(l, hi); if (e < best) { best = e; lo = l; } }
  };
  for (let round = 0; round < 2; round++) { searchHi(); searchLo(); }
  return [lo, hi];
}

const BINS = 2048;

/** KL(p || q) of two histograms (each normalized here); a bin where p > 0 and q = 0 costs as if q were tiny. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) { sp += p[i]; sq += q[i]; }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const a = p[i] / sp, b = q[i] > 0 ? q[i] / sq : 1e-12;
    kl += a * Math.log(a / b);
  }
  return kl;
}

/** The [lo, hi] of the least KL divergence between the sample's clipped histogram and its u8 quantization. */
export function entropyRange(s: RangeSample): [number, number] {
  const x = s.sorted, oneSigned = s.min >= 0;
  const top = Math.max(Math.abs(s.min), Math.abs(s.max));
  if (x.length === 0 || top === 0) return [s.min, s.max];
  const levels = oneSigned ? 255 : 127, width = top / BINS, hist = new Float64Array(BINS);
  for (let i = 0; i < x.length; i++) hist[Math.min(BINS - 1, Math.floor(Math.abs(x[i]) / width))]++;
  let best = Infinity, bestI = BINS;
  const p = new Float64Array(BINS), q = new Float64Array(BINS), after = new Float64Array(BINS + 1);
  for (let k = BINS - 1; k >= 0; k--) after[k] = after[k + 1] + hist[k];
  for (let i = levels; i <= BINS; i++) {
    // p: the first i bins, the tail's count added to the last; q: those bins merged into `levels` groups,
    // each group's count spread evenly over its non-empty bins
    for (let k = 0; k < i; k++) p[k] = hist[k];
    p[i - 1] += after[i];
    for (let j = 0; j < levels; j++) {
      const a = Math.floor((j * i) / levels), b = j === levels - 1 ? i : Math.floor(((j + 1) * i) / levels);
      let sum = 0, nonEmpty = 0;
      for (let k = a; k < b; k++) { sum += hist[k]; if (hist[k] > 0) nonEmpty++; }
      for (let k = a; k < b; k++) q[k] = hist[k] > 0 ? sum / nonEmpty : 0;
    }
    const kl = klDivergence(p.subarray(0, i), q.subarray(0, i));
    if (kl < best) { best = kl; bestI = i; }
  }
  const t = (bestI + 0.5) * width;
  return oneSigned ? [0, Math.min(s.max, t)] : [Math.max(s.min, -t), Math.min(s.max, t)];
}
