// Reference data movement (assembly/copy.ts): the strided copy of the shape ops and a fill.
import type { Kernels } from '../kernels.js';
import { type HeapMemory, f32, i32 } from './memory.js';

export function copyKernels(mem: HeapMemory): Pick<Kernels, 'stridedCopy' | 'fillValue'> {
  return {
    stridedCopy(rank, desc, src, dst) {
      if (rank <= 0) return;
      const d = i32(mem, desc, 3 * rank), shape = Array.from(d.subarray(0, rank));
      const n = shape.reduce((a, b) => a * b, 1);
      const idx = new Array<number>(rank).fill(0);
      for (let i = 0; i < n; i++) {
        let s = 0, t = 0;
        for (let k = 0; k < rank; k++) { s += idx[k] * d[rank + k]; t += idx[k] * d[2 * rank + k]; }
        f32(mem, dst + t * 4, 1)[0] = f32(mem, src + s * 4, 1)[0];
        for (let k = rank - 1; k >= 0 && ++idx[k] === shape[k]; k--) idx[k] = 0;
      }
    },
    fillValue(n, out, value) {
      f32(mem, out, n).fill(Math.fround(value));
    },
  };
}
