// Cached features: the outputs of a model's frozen prefix (a frozen backbone, or the frozen part of an
// imported graph), computed once in inference mode and reused by fit, evaluate and predict.
import { Tensor } from '../tensor.js';
import type { Model } from '../model.js';
import { rowsOf } from '../data/rows.js';
import type { Pacer } from './pace.js';

/**
 * The outputs of a model's frozen prefix for a set of examples (model.features(x)): fit, evaluate and predict
 * take them in place of x and run only the layers after the prefix. They hold `bytes` of memory until
 * disposed (or collected).
 */
export class Features {
  constructor(
    readonly tensor: Tensor,
    /** Leading layers of the model the features stand for. */
    readonly layers: number,
    /** Where inside the next layer (an imported graph frozen in part) the prefix ends, if it does. */
    readonly inside: string | undefined,
    /** @internal which weights trained when they were computed */
    readonly signature: string,
    /** @internal */
    readonly model: Model,
    /** @internal the prefix's weight versions when they were computed */
    readonly prefixVersion = 0,
  ) {}

  get shape(): number[] {
    return this.tensor.shape.slice(1);
  }

  get count(): number {
    return this.tensor.shape[0];
  }

  get bytes(): number {
    return this.tensor.size * 4;
  }

  dispose(): void {
    this.tensor.dispose();
  }
}

/**
 * The prefix over t in batches of bs (in chunks, so the chunk's outputs are all that is held at once). With a
 * pacer, a chunk is one batch, and the pacer yields and checks its signal between them.
 */
export async function runPrefix(prefix: Model, t: Tensor, bs: number, onProgress?: (done: number, total: number) => void | Promise<void>, pacer?: Pacer): Promise<Tensor> {
  if (!t.backend.syncRead) return runPrefixOnDevice(prefix, t, bs, onProgress, pacer);
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  const chunk = pacer ? bs : Math.max(bs, 256 - (256 % bs));
  for (let s = 0; s < t.shape[0]; s += chunk) {
    const rows = rowsOf(t, s, Math.min(t.shape[0], s + chunk));
    const f = prefix.predict(rows, { batchSize: bs });
    shape = f.shape.slice(1);
    parts.push(f.dataSync() as Float32Array);
    rows.dispose(); f.dispose();
    await onProgress?.(Math.min(t.shape[0], s + chunk), t.shape[0]);
    await pacer?.step(`computing features: ${Math.min(t.shape[0], s + chunk)} of ${t.shape[0]} examples done`);
  }
  const out = Tensor.empty([t.shape[0], ...shape]);
  let off = 0;
  const v = out.view();
  for (const p of parts) { v.set(p, off); off += p.length; }
  return out;
}


/**
 * runPrefix where memory reads back only asynchronously (webgpu): each chunk's outputs are copied into the
 * features tensor on the device, so nothing crosses to the CPU.
 */
async function runPrefixOnDevice(prefix: Model, t: Tensor, bs: number, onProgress?: (done: number, total: number) => void | Promise<void>, pacer?: Pacer): Promise<Tensor> {
  const n = t.shape[0];
  let out: Tensor | undefined;
  try {
    for (let s = 0; s < n; s += bs) {
      const e = Math.min(n, s + bs);
      const rows = rowsOf(t, s, e);
      const f = prefix.predict(rows, { batchSize: bs });
      const per = f.size / (e - s);
      out ??= Tensor.empty([n, ...f.shape.slice(1)], 'float32', t.backend);
      t.backend.copy(out.ptr + s * per * 4, f.ptr, f.size * 4);
      rows.dispose(); f.dispose();
      await onProgress?.(e, n);
      await pacer?.step(`computing features: ${e} of ${n} examples done`);
    }
  } catch (err) {
    out?.dispose();
    throw err;
  }
  return out ?? Tensor.empty([0, ...prefix.outputs[0].shape.slice(1)], 'float32', t.backend);
}
