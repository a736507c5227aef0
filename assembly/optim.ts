// Fused optimizer updates: one pass over a parameter, its gradient and its state per step. Formulas follow
// Keras (tf.keras.optimizers) unless noted. All arrays are n floats; state arrays are owned by the caller.

/** SGD with momentum (Keras): v = m v - lr g; w += v, or w += m v - lr g (Nesterov, Sutskever et al. 2013). */
export function sgdUpdate(n: i32, w: usize, g: usize, v: usize, lr: f32, momentum: f32, nesterov: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    if (momentum == 0) {
      store<f32>(w + o, load<f32>(w + o) - lr * gi);
      continue;
    }
    const vi = momentum * load<f32>(v + o) - lr * gi;
    store<f32>(v + o, vi);
    store<f32>(w + o, load<f32>(w + o) + (nesterov ? momentum * vi - lr * gi : vi));
  }
}

/** AdaGrad (Duchi et al. 2011): a += g^2; w -= lr g / (sqrt(a) + eps). */
export function adagradUpdate(n: i32, w: usize, g: usize, a: usize, lr: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const ai = load<f32>(a + o) + gi * gi;
    store<f32>(a + o, ai);
    store<f32>(w + o, load<f32>(w + o) - lr * gi / (Mathf.sqrt(ai) + eps));
  }
}

/**
 * AdaDelta (Zeiler 2012): Eg = rho Eg + (1 - rho) g^2; d = sqrt(Ed + eps) / sqrt(Eg + eps) g;
 * Ed = rho Ed + (1 - rho) d^2; w -= lr d.
 */
export function adadeltaUpdate(n: i32, w: usize, g: usize, eg: usize, ed: usize, lr: f32, rho: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const egi = rho * load<f32>(eg + o) + (1 - rho) * gi * gi;
    const d = Mathf.sqrt(load<f32>(ed + o) + eps) / Mathf.sqrt(egi + eps) * gi;
    store<f32>(eg + o, egi);
    store<f32>(ed + o, rho * load<f32>(ed + o) + (1 - rho) * d * d);
    store<f32>(w + o, load<f32>(w + o) - lr * d);
  }
}

/** RMSProp (Hinton, lecture 6e), Keras form: s = rho s + (1 - rho) g^2; v = m v + lr g / (sqrt(s) + eps); w -= v. */
export function rmspropUpdate(n: i32, w: usize, g: usize, s: usize, v: usize, lr: f32, rho: f32, momentum: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const si = rho * load<f32>(s + o) + (1 - rho) * gi * gi;
    store<f32>(s + o, si);
    const step = lr * gi / (Mathf.sqrt(si) + eps);
    if (momentum != 0) {
      const vi = momentum * load<f32>(v + o) + step;
      store<f32>(v + o, vi);
      store<f32>(w + o, load<f32>(w + o) - vi);
    } else {
      store<f32>(w + o, load<f32>(w + o) - step);
    }
  }
}

/**
 * Adam (Kingma & Ba 2015) with bias correction folded into the step (Keras): m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g^2; w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps). `t` counts from 1.
 */
export function adamUpdate(n: i32, w: usize, g: usize, m: usize, v: usize, lr: f32, b1: f32, b2: f32, eps: f32, t: i32): void {
  const lrT = <f32>(<f64>lr * Math.sqrt(1 - Math.pow(<f64>b2, <f64>t)) / (1 - Math.pow(<f64>b1, <f64>t)));
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vb1 = f32x4.splat(b1), vb2 = f32x4.splat(b2), c1 = f32x4.splat(1 - b1), c2 = f32x4.splat(1 - b2);
    const vlr = f32x4.splat(lrT), ve = f32x4.splat(eps);
    for (; i + 3 < n; i += 4) {
      const o = <usize>i << 2;
      const gi = v128.load(g + o);
      const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(c1, gi));
      const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(c2, f32x4.mul(gi, gi)));
      v128.store(m + o, mi);
      v128.store(v + o, vi);
      v128.store(w + o, f32x4.sub(v128.load(w + o), f32x4.div(f32x4.mul(vlr, mi), f32x4.add(f32x4.sqrt(vi), ve))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = b1 * load<f32>(m + o) + (1 - b1) * gi;
    const vi = b2 * load<f32>(v + o) + (1 - b2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(w + o, load<f32>(w + o) - lrT * mi / (Mathf.sqrt(vi) + eps));
  }
}

/**
 * Nadam (Dozat 2016, without the momentum-decay schedule): Adam's moments, with the Nesterov look-ahead
 * m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t); w -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps).
 */
export function nadamUpdate(n: i32, w: usize, g: usize, m: usize, v: usize, lr: f32, b1: f32, b2: f32, eps: f32, t: i32): void {
  const c1 = <f32>(1 - Math.pow(<f64>b1, <f64>t)), c1n = <f32>(1 - Math.pow(<f64>b1, <f64>(t + 1)));
  const c2 = <f32>(1 - Math.pow(<f64>b2, <f64>t));
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = b1 * load<f32>(m + o) + (1 - b1) * gi;
    const vi = b2 * load<f32>(v + o) + (1 - b2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const mh = b1 * mi / c1n + (1 - b1) * gi / c1;
    store<f32>(w + o, load<f32>(w + o) - lr * mh / (Mathf.sqrt(vi / c2) + eps));
  }
}

/**
 * iRprop- (Igel & Huesken 2000): per-weight steps grow by etaPlus while the gradient keeps its sign and
 * shrink by etaMinus when it flips (and that step is skipped); w -= sign(g) step. Meant for full batches.
 */
export function rpropUpdate(n: i32, w: usize, g: usize, prev: usize, step: usize, etaMinus: f32, etaPlus: f32, stepMin: f32, stepMax: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    let gi = load<f32>(g + o);
    const s = gi * load<f32>(prev + o);
    let st = load<f32>(step + o);
    if (s > 0) st = min(st * etaPlus, stepMax);
    else if (s < 0) { st = max(st * etaMinus, stepMin); gi = 0; }
    store<f32>(step + o, st);
    store<f32>(prev + o, gi);
    if (gi > 0) store<f32>(w + o, load<f32>(w + o) - st);
    else if (gi < 0) store<f32>(w + o, load<f32>(w + o) + st);
  }
}

/** Gradient of the penalties l1 sum|w| + l2 sum w^2 added to g: g += l1 sign(w) + 2 l2 w. */
export function regularizeGrad(n: i32, w: usize, g: usize, l1: f32, l2: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const wi = load<f32>(w + o);
    const sgn: f32 = wi > 0 ? 1 : (wi < 0 ? -1 : 0);
    store<f32>(g + o, load<f32>(g + o) + l1 * sgn + 2 * l2 * wi);
  }
}

/** l1 sum|w| + l2 sum w^2, for the loss that is reported. */
export function penalty(n: i32, w: usize, l1: f32, l2: f32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const wi = <f64>load<f32>(w + (<usize>i << 2));
    s += <f64>l1 * Math.abs(wi) + <f64>l2 * wi * wi;
  }
  return s;
}

/** Sum of squares of n floats (global-norm clipping), in f64. */
export function sumSquares(n: i32, x: usize): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

/**
 * Clipping by global norm without a number crossing to the caller (a GPU's form, the same on every backend):
 * acc (one f32) += sum x^2 over each gradient, then scaleByNorm scales each by clip / sqrt(acc) where that
 * is below 1.
 */
export function sumSquaresTo(n: i32, x: usize, acc: usize): void {
  store<f32>(acc, <f32>(<f64>load<f32>(acc) + sumSquares(n, x)));
}

export function scaleByNorm(n: i32, x: usize, acc: usize, clip: f32): void {
  const norm = Mathf.sqrt(load<f32>(acc));
  if (!(norm > clip)) return;
  const k = clip / norm;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * k);
  }
}

/** Clamp n floats to [lo, hi] in place (clipping by value). */
export function clampValues(n: i32, x: usize, lo: f32, hi: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, min(max(load<f32>(x + o), lo), hi));
  }
}

/**
 * Max-norm constraint (Srebro et al. 2005; Keras MaxNorm, axis 0): every column of w [rows, cols] (the
 * weights into one unit) with L2 norm above c is scaled back to norm c.
 */
export function maxNormColumns(rows: i32, cols: i32, w: usize, c: f32): void {
  for (let j = 0; j < cols; j++) {
    let s: f64 = 0;
    for (let i = 0; i < rows; i++) {
      const v = <f64>load<f32>(w + (<usize>(i * cols + j) << 2));
      s += v * v;
    }
    const norm = <f32>Math.sqrt(s);
    if (norm > c) {
      const k = c / norm;
      for (let i = 0; i < rows; i++) {
        const p = w + (<usize>(i * cols + j) << 2);
        store<f32>(p, load<f32>(p) * k);
      }
    }
  }
}
