// 2-D pooling over NHWC: max and average with any window, stride and padding, and their backward passes.
// Average pooling divides by the number of in-bounds elements (TF.js/Keras 'same' semantics: padding is
// not counted). SIMD runs across channels, which are contiguous in NHWC.
export const POOL_MAX: i32 = 0;
export const POOL_AVG: i32 = 1;

export function pool2dForward(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, y: usize): void {
  const isMax = kind == POOL_MAX;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = max(0, oy * SH - PT), y1 = min(H, oy * SH - PT + KH);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = max(0, ox * SW - PL), x1 = min(W, ox * SW - PL + KW);
        const cnt = (y1 - y0) * (x1 - x0);
        const inv: f32 = cnt > 0 ? 1 / <f32>cnt : 0;
        const out = y + (<usize>(((n * OH + oy) * OW + ox) * C) << 2);
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          for (; c + 15 < C; c += 16) {
            const init = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0);
            let a0 = init, a1 = init, a2 = init, a3 = init;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const p = x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2);
                if (isMax) {
                  a0 = f32x4.max(a0, v128.load(p)); a1 = f32x4.max(a1, v128.load(p, 16));
                  a2 = f32x4.max(a2, v128.load(p, 32)); a3 = f32x4.max(a3, v128.load(p, 48));
                } else {
                  a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
                  a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
                }
              }
            }
            if (!isMax) {
              const vi = f32x4.splat(inv);
              a0 = f32x4.mul(a0, vi); a1 = f32x4.mul(a1, vi); a2 = f32x4.mul(a2, vi); a3 = f32x4.mul(a3, vi);
            }
            const q = out + (<usize>c << 2);
            v128.store(q, a0); v128.store(q, a1, 16); v128.store(q, a2, 32); v128.store(q, a3, 48);
          }
          for (; c + 3 < C; c += 4) {
            let a = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0);
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const v = v128.load(x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2));
                a = isMax ? f32x4.max(a, v) : f32x4.add(a, v);
              }
            }
            if (!isMax) a = f32x4.mul(a, f32x4.splat(inv));
            v128.store(out + (<usize>c << 2), a);
          }
        }
        for (; c < C; c++) {
          let a: f32 = isMax ? -Infinity : 0;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const v = load<f32>(x + (<usize>(((n * H + iy) * W + ix) * C + c) << 2));
              a = isMax ? max(a, v) : a + v;
            }
          }
          store<f32>(out + (<usize>c << 2), isMax ? a : a * inv);
        }
      }
    }
  }
}

/** dx (overwritten) from dy. Max routes each dy to the first arg-max of its window; avg spreads dy / count. */
export function pool2dBackward(kind: i32, N: i32, H: i32, W: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  PT: i32, PL: i32, OH: i32, OW: i32, x: usize, dy: usize, dx: usize): void {
  memory.fill(dx, 0, <usize>(N * H * W * C) << 2);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = max(0, oy * SH - PT), y1 = min(H, oy * SH - PT + KH);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = max(0, ox * SW - PL), x1 = min(W, ox * SW - PL + KW);
        const g = dy + (<usize>(((n * OH + oy) * OW + ox) * C) << 2);
        if (kind == POOL_MAX) {
          for (let c = 0; c < C; c++) {
            let m: f32 = -Infinity;
            let arg: i32 = -1;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const off = ((n * H + iy) * W + ix) * C + c;
                const v = load<f32>(x + (<usize>off << 2));
                if (v > m || arg < 0) { m = v; arg = off; }
              }
            }
            if (arg >= 0) {
              const p = dx + (<usize>arg << 2);
              store<f32>(p, load<f32>(p) + load<f32>(g + (<usize>c << 2)));
            }
          }
        } else {
          const cnt = (y1 - y0) * (x1 - x0);
          if (cnt == 0) continue;
          const inv: f32 = 1 / <f32>cnt;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const p = dx + (<usize>(((n * H + iy) * W + ix) * C) << 2);
              let c = 0;
              if (ASC_FEATURE_SIMD) {
                const vi = f32x4.splat(inv);
                for (; c + 3 < C; c += 4) {
                  const q = <usize>c << 2;
                  v128.store(p + q, f32x4.add(v128.load(p + q), f32x4.mul(v128.load(g + q), vi)));
                }
              }
              for (; c < C; c++) {
                const q = <usize>c << 2;
                store<f32>(p + q, load<f32>(p + q) + load<f32>(g + q) * inv);
              }
            }
          }
        }
      }
    }
  }
}
