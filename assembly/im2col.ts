// The patch matrix of an NHWC convolution, walked in one place for every kind of im2col: the f32 one
// conv.ts materializes for the backward filter pass, its adjoint (col2im, backward input), the implicit one
// the f32 GEMM packs straight into its A panels (gemm_f32.ts), and the u8 one of the int8 conv (gemm_i8.ts).
//
// Row m is output pixel (n, oy, ox), m = (n * OH + oy) * OW + ox. Column k = (ky * KW + kx) * Cg + ci reads
//   x[n, oy * SH - PT + ky * DH, ox * SW - PL + kx * DW, c0 + ci]
// when that lies inside the image, padding otherwise. The walk cuts a range of a row's columns into spans
// and hands each to a visitor: op.copy(x, row, k, s, len) for len columns that read the len consecutive x
// elements s, s+1, ... (element index; a whole filter row's taps at once when they are contiguous in x), and
// op.pad(x, row, k, len) for len columns of padding; k counts from the start of the range. Each visitor is
// a class of @inline methods that decides what an element is (f32 or u8) and where it goes; the walk is
// generic over it, so every use compiles to its own loop with the copy inlined. Both return an i32 that the
// walk sums (the u8 patch rows' sums; the f32 visitors return 0, and the sum compiles away).

// Geometry of the current patch matrix (setIm2col). Strides and dilations are >= 1 (the TS layer checks).
let gH: i32 = 0, gW: i32 = 0, gC: i32 = 0, gCg: i32 = 0, gC0: i32 = 0, gKW: i32 = 0;
let gSH: i32 = 1, gSW: i32 = 1, gPT: i32 = 0, gPL: i32 = 0, gDH: i32 = 1, gDW: i32 = 1, gOH: i32 = 0, gOW: i32 = 0;

/**
 * Geometry of the patch matrix the walks below read: input H x W x C, channels [c0, c0 + Cg) (a group),
 * filter width KW (the height needs no bound: a walk stays inside the columns it is given), strides,
 * top/left padding, dilations and the output size.
 */
export function setIm2col(H: i32, W: i32, C: i32, Cg: i32, c0: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, DH: i32, DW: i32, OH: i32, OW: i32): void {
  gH = H; gW = W; gC = C; gCg = Cg; gC0 = c0; gKW = KW; gSH = SH; gSW = SW;
  gPT = PT; gPL = PL; gDH = DH; gDW = DW; gOH = OH; gOW = OW;
}

/** i32 words of the geometry saveIm2col writes (a threaded job carries it to workers' instances). */
export const IM2COL_INTS: i32 = 14;

export function saveIm2col(dst: usize): void {
  store<i32>(dst, gH); store<i32>(dst, gW, 4); store<i32>(dst, gC, 8); store<i32>(dst, gCg, 12);
  store<i32>(dst, gC0, 16); store<i32>(dst, gKW, 20); store<i32>(dst, gSH, 24); store<i32>(dst, gSW, 28);
  store<i32>(dst, gPT, 32); store<i32>(dst, gPL, 36); store<i32>(dst, gDH, 40); store<i32>(dst, gDW, 44);
  store<i32>(dst, gOH, 48); store<i32>(dst, gOW, 52);
}

export function loadIm2col(src: usize): void {
  gH = load<i32>(src); gW = load<i32>(src, 4); gC = load<i32>(src, 8); gCg = load<i32>(src, 12);
  gC0 = load<i32>(src, 16); gKW = load<i32>(src, 20); gSH = load<i32>(src, 24); gSW = load<i32>(src, 28);
  gPT = load<i32>(src, 32); gPL = load<i32>(src, 36); gDH = load<i32>(src, 40); gDW = load<i32>(src, 44);
  gOH = load<i32>(src, 48); gOW = load<i32>(src, 52);
}

/** Columns [p0, p0 + kc) of patch row m (output pixel m in NHWC order): see the top of the file. */
// @ts-ignore: decorator
@inline export function walkPatchRow<T>(op: T, m: i32, p0: i32, kc: i32, x: usize, row: usize): i32 {
  const per = gOH * gOW;
  const n = m / per, rem = m - n * per;
  const oy = rem / gOW;
  return walkPatchPixel<T>(op, n, oy, rem - oy * gOW, p0, kc, x, row);
}

/** As walkPatchRow, for the output pixel (n, oy, ox). */
// @ts-ignore: decorator
@inline export function walkPatchPixel<T>(op: T, n: i32, oy: i32, ox: i32, p0: i32, kc: i32, x: usize, row: usize): i32 {
  let sum = 0;
  if (kc <= 0) return sum;
  const Cg = gCg, KW = gKW, DW = gDW, W = gW;
  const rowLen = KW * Cg; // columns per filter row
  const iy0 = oy * gSH - gPT, ix0 = ox * gSW - gPL;
  // the filter columns inside the image: kx in [kx0, kx1), those with 0 <= ix0 + kx * DW < W (divisions only
  // at the borders)
  const kx0 = ix0 >= 0 ? 0 : min(KW, (DW - 1 - ix0) / DW);
  const kx1 = ix0 + (KW - 1) * DW < W ? KW : ix0 >= W ? 0 : (W - 1 - ix0) / DW + 1;
  const v0 = kx0 * Cg, v1 = max(kx1, kx0) * Cg; // their columns within a filter row
  const tap = DW * gC; // x elements from one filter column to the next
  const joined = tap == Cg; // consecutive filter columns read consecutive x elements: one span per filter row
  let k = p0;
  const end = p0 + kc;
  let ky = k / rowLen;
  let r0 = ky * rowLen; // column (ky, 0, 0)
  while (k < end) {
    const r1 = min(r0 + rowLen, end);
    const iy = iy0 + ky * gDH;
    if (iy < 0 || iy >= gH) {
      sum += op.pad(x, row, k - p0, r1 - k);
    } else {
      const a = r0 + v0, b = min(r0 + v1, r1);
      if (k < a) {
        const e = min(a, r1);
        sum += op.pad(x, row, k - p0, e - k);
        k = e;
      }
      // x element of column (ky, 0, 0); those of the columns left of kx0 are never read
      const base = ((n * gH + iy) * W + ix0) * gC + gC0;
      if (joined) {
        if (k < b) {
          sum += op.copy(x, row, k - p0, base + (k - r0), b - k);
          k = b;
        }
      } else {
        while (k < b) {
          const c = k - r0, kx = c / Cg;
          const e = min(r0 + (kx + 1) * Cg, b);
          sum += op.copy(x, row, k - p0, base + kx * tap + (c - kx * Cg), e - k);
          k = e;
        }
      }
      if (k < r1) sum += op.pad(x, row, k - p0, r1 - k);
    }
    k = r1;
    r0 += rowLen;
    ky++;
  }
  return sum;
}
