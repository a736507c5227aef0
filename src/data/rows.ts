// Row helpers shared by models and datasets: copying rows out of a tensor, a seedable generator and a
// shuffle (the same sequence in every runtime).
import { sizeOfShape } from '../graph/ir.js';
import { Tensor } from '../tensor.js';

/** Rows [a, b) of a tensor, as a new tensor. */
export function rowsOf(t: Tensor, a: number, b: number): Tensor {
  const per = sizeOfShape(t.shape.slice(1));
  const r = Tensor.empty([b - a, ...t.shape.slice(1)], t.dtype, t.backend);
  // a copy on the tensor's backend (a GPU's too); an evicted source is paged in by ptr
  const dst = r.ptr;
  t.backend.copy(dst, t.ptr + a * per * 4, (b - a) * per * 4);
  return r;
}

/** mulberry32: small, seedable, good enough for shuffling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates. */
export function shuffleInPlace(a: Int32Array, rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
}
