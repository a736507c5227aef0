// The webgpu backend's part of src/backend/device-ops.ts: predict's Monte-Carlo moments and oneHot, kept on
// the device. Imported by ./backend.ts, which registers nothing else here.
import { Tensor, fill } from '../../tensor.js';
import { add, div, maximum, mul, sub } from '../../ops/elementwise.js';
import { deviceOps } from '../device-ops.js';
import type { DeviceIndexing } from './indexing.js';

/**
 * Welford's running mean and sum of squared deviations by eager ops on the draws' backend, in float32 (wasm
 * sums in float64 on the host); nothing is read back.
 */
deviceOps.mcMoments = (samples, draw, next) => {
  let mean = fill(draw.shape, 0), m2 = fill(draw.shape, 0);
  for (let k = 1; k <= samples; k++) {
    next();
    const d = sub(draw, mean), step = div(d, k), mean1 = add(mean, step);
    const after = sub(draw, mean1), term = mul(d, after), m21 = add(m2, term);
    [d, step, after, term, mean, m2].forEach((t) => t.dispose());
    mean = mean1;
    m2 = m21;
  }
  draw.dispose();
  const q = div(m2, samples), variance = maximum(q, 0);
  [m2, q].forEach((t) => t.dispose());
  return { mean, variance };
};

/**
 * int32 labels: each checked on the device (the next read names the first outside [0, numClasses)), and the
 * rows of an identity gathered by them.
 */
deviceOps.oneHot = (labels, k) => {
  const be = labels.backend, dev = (be as { indexing?: DeviceIndexing }).indexing;
  if (labels.dtype !== 'int32' || !dev) throw new Error(`edgegrad.data.oneHot: the labels live on the '${labels.location}' backend as ${labels.dtype}: make them int32 class indices there, or pass them as an array (await labels.data())`);
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`edgegrad.data.oneHot: numClasses must be a positive integer, got ${k}`);
  const n = labels.size, eye = Tensor.empty([k, k], 'float32', be), out = Tensor.empty([n, k], 'float32', be);
  const v = new Float32Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  eye.write(v);
  dev.checkIndices(n, labels.ptr, 0, k, { op: 'data.oneHot', node: 'labels', what: 'label', place: 'at', range: `[0, ${k})` });
  dev.gatherRows(1, k, k, n, eye.ptr, labels.ptr, out.ptr);
  eye.dispose(); // (a later write flushes the gather first)
  return out;
};
