// predict's refusal of NaN and infinite inputs on a backend that reads back only asynchronously, without a read-back
// at predict: each input's non-finite values are counted on the device as the model runs, and reading an output
// (`await y.data()`, copyTo) rejects with the message wasm's predict throws (src/graph/finite.ts). An output that
// stays on the device (fed to another model) is checked where it is read, or by that model's predict.
import { Tensor, formatShape, readChecks } from '../../tensor.js';
import { nameFirst } from '../../graph/finite.js';
import type { WebGpuBackend } from './backend.js';

export function refuseNonFiniteOnRead(be: WebGpuBackend, xs: Tensor[], whats: string[], ys: Tensor[], op: string): void {
  const checks = xs.filter((x) => x.dtype === 'float32' && x.size > 0).map((x) => {
    const count = Tensor.empty([1], 'float32', be), k = xs.indexOf(x);
    be.kernels.fillValue(1, count.ptr, 0);
    be.countNonFiniteTo(x.size, x.ptr, count.ptr);
    // the input only to name its first bad value: the outputs do not keep it alive
    const input = new WeakRef(x), shape = x.shape;
    return async () => {
      const bad = (await count.data())[0], t = input.deref();
      if (!bad) return;
      if (t && !t.isDisposed) nameFirst(await t.data(), bad, t, op, whats[k]);
      throw new Error(`edgegrad.${op}: ${whats[k]} ${formatShape(shape)} contained ${bad} NaN or infinite values`);
    };
  });
  if (!checks.length) return;
  const check = async () => { for (const c of checks) await c(); };
  // (an output has no check yet: predict made it)
  for (const y of ys) readChecks.set(y, check);
}
