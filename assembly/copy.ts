// Data movement for the shape ops (transpose, NCHW <-> NHWC, concatenation, zero padding, slicing): one
// strided copy over up to 8 axes, and a fill. No arithmetic, so one body serves all three builds.
import { SCRATCH } from './common';

/**
 * dst[sum i_d dstStride_d] = src[sum i_d srcStride_d] for every index i of `shape`: desc = [shape[rank],
 * srcStrides[rank], dstStrides[rank]] as i32 element counts. Source and destination must not overlap.
 */
export function stridedCopy(rank: i32, desc: usize, src: usize, dst: usize): void {
  if (rank <= 0) return;
  const shape = desc, ss = desc + (<usize>rank << 2), ds = desc + (<usize>(2 * rank) << 2);
  const last = <usize>(rank - 1) << 2;
  const L = load<i32>(shape + last), is = load<i32>(ss + last), id = load<i32>(ds + last);
  let outer = 1;
  for (let d = 0; d < rank; d++) outer *= load<i32>(shape + (<usize>d << 2));
  if (outer == 0) return;
  outer /= L;
  const idx = SCRATCH;
  memory.fill(idx, 0, 32);
  let offS = 0, offD = 0;
  for (let r = 0; r < outer; r++) {
    const s = src + (<usize>offS << 2), t = dst + (<usize>offD << 2);
    if (is == 1 && id == 1) memory.copy(t, s, <usize>L << 2);
    else for (let k = 0; k < L; k++) store<f32>(t + (<usize>(k * id) << 2), load<f32>(s + (<usize>(k * is) << 2)));
    // odometer over the outer axes
    for (let d = rank - 2; d >= 0; d--) {
      const dp = <usize>d << 2;
      const v = load<i32>(idx + dp) + 1;
      const sd = load<i32>(ss + dp), dd = load<i32>(ds + dp);
      if (v < load<i32>(shape + dp)) {
        store<i32>(idx + dp, v);
        offS += sd; offD += dd;
        break;
      }
      store<i32>(idx + dp, 0);
      offS -= sd * (v - 1); offD -= dd * (v - 1);
    }
  }
}

/** out[0, n) = value. */
export function fillValue(n: i32, out: usize, value: f32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), value);
}
