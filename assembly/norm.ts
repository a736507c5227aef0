// Batch normalization (Ioffe & Szegedy 2015) over the last axis of [M, C] (NHWC flattened: M = N*H*W).
// Statistics accumulate in f64 (workspace of 2*C doubles) so large M does not lose precision.
// Running statistics follow Keras: run = momentum * run + (1 - momentum) * batch, with the biased batch
// variance, momentum 0.99 by default on the TS side.

/** Training: normalize with batch statistics; save mean and 1/sqrt(var + eps) for backward; update running. */
export function batchNormTrain(M: i32, C: i32, x: usize, gamma: usize, beta: usize, eps: f32, momentum: f32, y: usize,
  saveMean: usize, saveInvStd: usize, runMean: usize, runVar: usize, ws: usize): void {
  const s1 = ws, s2 = ws + (<usize>C << 3);
  memory.fill(ws, 0, <usize>C << 4);
  for (let r = 0; r < M; r++) {
    const row = x + (<usize>(r * C) << 2);
    for (let c = 0; c < C; c++) {
      const p = s1 + (<usize>c << 3);
      store<f64>(p, load<f64>(p) + <f64>load<f32>(row + (<usize>c << 2)));
    }
  }
  for (let c = 0; c < C; c++) store<f64>(s1 + (<usize>c << 3), load<f64>(s1 + (<usize>c << 3)) / <f64>M);
  // second pass for the variance: sum (x - mean)^2, stable where E[x^2] - E[x]^2 is not
  for (let r = 0; r < M; r++) {
    const row = x + (<usize>(r * C) << 2);
    for (let c = 0; c < C; c++) {
      const d = <f64>load<f32>(row + (<usize>c << 2)) - load<f64>(s1 + (<usize>c << 3));
      const p = s2 + (<usize>c << 3);
      store<f64>(p, load<f64>(p) + d * d);
    }
  }
  for (let c = 0; c < C; c++) {
    const mean = load<f64>(s1 + (<usize>c << 3));
    const v = load<f64>(s2 + (<usize>c << 3)) / <f64>M;
    const q = <usize>c << 2;
    store<f32>(saveMean + q, <f32>mean);
    store<f32>(saveInvStd + q, <f32>(1.0 / Math.sqrt(v + <f64>eps)));
    if (runMean) store<f32>(runMean + q, momentum * load<f32>(runMean + q) + (1 - momentum) * <f32>mean);
    if (runVar) store<f32>(runVar + q, momentum * load<f32>(runVar + q) + (1 - momentum) * <f32>v);
  }
  applyNorm(M, C, x, gamma, beta, saveMean, saveInvStd, y);
}

/** y = gamma * (x - mean) * invStd + beta, per channel; SIMD across channels. */
function applyNorm(M: i32, C: i32, x: usize, gamma: usize, beta: usize, mean: usize, invStd: usize, y: usize): void {
  for (let r = 0; r < M; r++) {
    const o = <usize>(r * C) << 2;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 3 < C; c += 4) {
        const q = <usize>c << 2;
        const v = f32x4.mul(f32x4.sub(v128.load(x + o + q), v128.load(mean + q)), v128.load(invStd + q));
        v128.store(y + o + q, f32x4.add(f32x4.mul(v, v128.load(gamma + q)), v128.load(beta + q)));
      }
    }
    for (; c < C; c++) {
      const q = <usize>c << 2;
      store<f32>(y + o + q, (load<f32>(x + o + q) - load<f32>(mean + q)) * load<f32>(invStd + q) * load<f32>(gamma + q) + load<f32>(beta + q));
    }
  }
}

/** Inference with running statistics. `ws` holds C floats for 1/sqrt(var + eps). */
export function batchNormInfer(M: i32, C: i32, x: usize, gamma: usize, beta: usize, mean: usize, variance: usize, eps: f32,
  y: usize, ws: usize): void {
  for (let c = 0; c < C; c++) {
    const q = <usize>c << 2;
    store<f32>(ws + q, <f32>(1.0 / Math.sqrt(<f64>load<f32>(variance + q) + <f64>eps)));
  }
  applyNorm(M, C, x, gamma, beta, mean, ws, y);
}

/**
 * With xhat = (x - mean) invStd: dbeta = sum dy, dgamma = sum dy xhat,
 * dx = gamma invStd / M (M dy - dbeta - xhat dgamma). All outputs overwritten. ws: 2*C doubles.
 */
export function batchNormBackward(M: i32, C: i32, x: usize, dy: usize, gamma: usize, mean: usize, invStd: usize,
  dx: usize, dgamma: usize, dbeta: usize, ws: usize): void {
  memory.fill(ws, 0, <usize>C << 4);
  batchNormBackwardSums(M, C, x, dy, mean, invStd, dgamma, dbeta, ws);
  batchNormBackwardApply(M, M, C, x, dy, gamma, mean, invStd, dgamma, dbeta, dx);
}

/**
 * batchNormBackward's sums over M more rows: adds dy and dy xhat per channel to the doubles at ws (2*C,
 * zeroed by the caller before the first rows), and writes the totals so far to dbeta and dgamma (f32). Rows
 * given in order, a block at a time, make the same sums as one call over all of them (each channel's
 * additions in the same order).
 */
export function batchNormBackwardSums(M: i32, C: i32, x: usize, dy: usize, mean: usize, invStd: usize,
  dgamma: usize, dbeta: usize, ws: usize): void {
  const s1 = ws, s2 = ws + (<usize>C << 3);
  for (let r = 0; r < M; r++) {
    const o = <usize>(r * C) << 2;
    for (let c = 0; c < C; c++) {
      const q = <usize>c << 2;
      const g = <f64>load<f32>(dy + o + q);
      const xh = (<f64>load<f32>(x + o + q) - <f64>load<f32>(mean + q)) * <f64>load<f32>(invStd + q);
      store<f64>(s1 + (<usize>c << 3), load<f64>(s1 + (<usize>c << 3)) + g);
      store<f64>(s2 + (<usize>c << 3), load<f64>(s2 + (<usize>c << 3)) + g * xh);
    }
  }
  for (let c = 0; c < C; c++) {
    store<f32>(dbeta + (<usize>c << 2), <f32>load<f64>(s1 + (<usize>c << 3)));
    store<f32>(dgamma + (<usize>c << 2), <f32>load<f64>(s2 + (<usize>c << 3)));
  }
}

/**
 * batchNormBackward's dx over M rows of a batch of `total` rows, from the finished sums dgamma and dbeta:
 * dx = gamma invStd / total (total dy - dbeta - xhat dgamma). dx may be dy (each element reads its own dy first).
 */
export function batchNormBackwardApply(M: i32, total: i32, C: i32, x: usize, dy: usize, gamma: usize, mean: usize, invStd: usize,
  dgamma: usize, dbeta: usize, dx: usize): void {
  const invM: f32 = 1 / <f32>total;
  for (let r = 0; r < M; r++) {
    const o = <usize>(r * C) << 2;
    for (let c = 0; c < C; c++) {
      const q = <usize>c << 2;
      const is = load<f32>(invStd + q);
      const xh = (load<f32>(x + o + q) - load<f32>(mean + q)) * is;
      const v = <f32>total * load<f32>(dy + o + q) - load<f32>(dbeta + q) - xh * load<f32>(dgamma + q);
      store<f32>(dx + o + q, load<f32>(gamma + q) * is * invM * v);
    }
  }
}
