// Statistics of a buffer that the training code reads (how many values are not finite, the sum of
// squares), each the one call site of its kernel; and the input guard shared by models: NaN or infinite
// inputs give silent NaN outputs, so they are refused before anything runs, saying how many there are and
// where the first one is.
import { getBackend, type Backend } from '../backend/index.js';
import type { Tensor } from '../tensor.js';

/** How many of the n floats at `handle` (on the active backend) are NaN or infinite. */
export function countNonFinite(n: number, handle: number): number {
  return getBackend().kernels.countNonFinite(n, handle);
}

/** The sum of squares of the n floats at `handle`, in float64. */
export function sumSquares(n: number, handle: number): number {
  return getBackend().kernels.sumSquares(n, handle);
}

/** The name of a backend as a user tells them apart ('wasm (scalar build)'). */
/** The ready() call that makes `be`'s kind of backend active (a wasm backend's build and threads included). */
export function readyCall(be: Backend): string {
  const t = (be as Backend & { threads?: { threads: number } }).threads?.threads;
  return `await eg.ready({ backend: '${be.name}'${be.build !== be.name ? `, wasmBuild: '${be.build}'` : ''}${t ? `, threads: ${t}` : ''} })`;
}

export function backendLabel(be: Backend): string {
  const t = (be as Backend & { threads?: { threads: number } }).threads?.threads;
  const threads = t && t > 1 ? `, ${t} threads` : '';
  return be.build !== be.name ? `${be.name}' (${be.build} build${threads})` : `${be.name}'${threads ? ` (${threads.slice(2)})` : ''}`;
}

/** x must live on the active backend (an instance: two wasm builds are two backends). */
export function checkBackend(x: Tensor, op: string, name = 'x'): void {
  const active = getBackend();
  if (x.backend === active) return;
  throw new Error(`edgegrad.${op}: ${name} lives on backend '${backendLabel(x.backend)} but the active one is '${backendLabel(active)}: move it with ${x.backend.syncRead ? `${name}.to('${active.name}')` : `await ${name}.copyTo('${active.name}')`}, or run where it lives after ${readyCall(x.backend)}`);
}

/**
 * refuseNonFinite on any backend: on one that reads back only asynchronously (webgpu) the values are counted on
 * the device, and read back only to name the first bad one.
 */
export async function refuseNonFiniteAsync(t: Tensor, op: string, what: string): Promise<void> {
  if (t.backend.syncRead) return refuseNonFinite(t, op, what);
  const stats = t.backend as Backend & { countNonFiniteAsync?(n: number, x: number): Promise<number> };
  if (t.dtype !== 'float32' || t.size === 0 || !stats.countNonFiniteAsync) return;
  const bad = await stats.countNonFiniteAsync(t.size, t.ptr);
  if (bad) nameFirst(await t.data(), bad, t, op, what);
}

/** A backend that checks predict's inputs on the device, refusing when an output is read (webgpu: its read-guard.ts). */
export interface ReadGuard { refuseNonFiniteOnRead?(xs: Tensor[], whats: string[], ys: Tensor[], op: string): void }

export function nameFirst(v: ArrayLike<number>, bad: number, t: Tensor, op: string, what: string): never {
  let i = 0;
  while (i < v.length && Number.isFinite(v[i])) i++;
  const per = t.size / Math.max(t.shape[0], 1);
  throw new Error(`edgegrad.${op}: ${what} contains ${bad} NaN or infinite values (the first, ${v[i]}, in example ${Math.floor(i / per)})`);
}

export function refuseNonFinite(t: Tensor, op: string, what: string): void {
  // a backend that reads back only asynchronously (webgpu) cannot count here: its inputs are not checked
  if (t.dtype !== 'float32' || t.size === 0 || !t.backend.syncRead) return;
  const bad = t.backend.kernels.countNonFinite(t.size, t.ptr);
  if (bad) nameFirst(t.view(), bad, t, op, what);
}
