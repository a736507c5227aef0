// The input guard shared by models: NaN or infinite inputs give silent NaN outputs, so they are refused
// before anything runs, saying how many there are and where the first one is.
import { getBackend } from '../backend/index.js';
import type { Tensor } from '../tensor.js';

export function refuseNonFinite(t: Tensor, op: string, what: string): void {
  if (t.dtype !== 'float32' || t.size === 0) return;
  const bad = getBackend().kernels.countNonFinite(t.size, t.ptr);
  if (!bad) return;
  const v = t.view();
  let i = 0;
  while (i < v.length && Number.isFinite(v[i])) i++;
  const per = t.size / Math.max(t.shape[0], 1);
  throw new Error(`edgegrad.${op}: ${what} contains ${bad} NaN or infinite values (the first, ${v[i]}, in example ${Math.floor(i / per)})`);
}
