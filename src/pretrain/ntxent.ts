// NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (Chen, Kornblith, Norouzi & Hinton 2020,
// "A Simple Framework for Contrastive Learning of Visual Representations", eq. 1). Two augmented views of each
// of B images give 2B projections; row a's positive is the other view of the same image, pos(a) = a ± B, and
// the other 2B − 2 rows are its negatives. With u = z / ‖z‖ and s_ab = u_a·u_b / τ:
//   ℓ_a = −s_{a,pos(a)} + log Σ_{b≠a} exp(s_ab),      L = (1 / 2B) Σ_a ℓ_a
// s_ab enters both ℓ_a and ℓ_b, so with p_ab = softmax_{b≠a}(s_ab) (row a's distribution over the others):
//   ∂L/∂u_a = (1 / 2Bτ) Σ_{b≠a} (p_ab + p_ba − 2·[b = pos(a)]) u_b
//   ∂L/∂z_a = (∂L/∂u_a − (∂L/∂u_a · u_a) u_a) / ‖z_a‖      (the normalization's Jacobian, (I − u uᵀ) / ‖z‖)
// The loss is one graph op (the seed of autodiff, like 'loss' and 'distillLoss'), a host kernel in float64
// over the backend's memory: O((2B)²·D), small next to the backbone for the batch sizes a device trains at.
import '../ops/index.js';
import { sizeOfShape } from '../graph/ir.js';
import { registerOp } from '../graph/registry.js';
import { formatShape } from '../tensor.js';

/** F.normalize's floor on ‖z‖: a zero projection stays zero instead of dividing by zero. */
const NORM_EPS = 1e-12;

/**
 * NT-Xent of two views' projections z1, z2 (each [rows, cols], row i of both from image i) at temperature
 * `tau`, in float64: the mean loss over the 2·rows anchors and, where given, ∂L/∂z1 and ∂L/∂z2. The
 * reference the tests and the op share, written from the formula at the top of this file.
 */
export function ntXentRows(z1: ArrayLike<number>, z2: ArrayLike<number>, rows: number, cols: number, tau: number, g1?: Float32Array, g2?: Float32Array): number {
  const n = 2 * rows;
  const u = new Float64Array(n * cols), norm = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    const src = a < rows ? z1 : z2, o = (a % rows) * cols;
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += src[o + c] * src[o + c];
    norm[a] = Math.max(Math.sqrt(ss), NORM_EPS);
    for (let c = 0; c < cols; c++) u[a * cols + c] = src[o + c] / norm[a];
  }
  // s = U Uᵀ / τ, then each row's softmax over the others (the diagonal excluded), stable
  const p = new Float64Array(n * n);
  let total = 0;
  for (let a = 0; a < n; a++) {
    const pos = (a + rows) % n;
    let m = -Infinity;
    for (let b = 0; b < n; b++) {
      if (b === a) continue;
      let d = 0;
      for (let c = 0; c < cols; c++) d += u[a * cols + c] * u[b * cols + c];
      p[a * n + b] = d / tau;
      m = Math.max(m, d / tau);
    }
    let se = 0;
    for (let b = 0; b < n; b++) if (b !== a) se += Math.exp(p[a * n + b] - m);
    const lse = m + Math.log(se);
    total += lse - p[a * n + pos];
    for (let b = 0; b < n; b++) p[a * n + b] = b === a ? 0 : Math.exp(p[a * n + b] - lse);
  }
  if (g1 && g2) {
    const gu = new Float64Array(cols), k = 1 / (n * tau);
    for (let a = 0; a < n; a++) {
      const pos = (a + rows) % n;
      gu.fill(0);
      for (let b = 0; b < n; b++) {
        if (b === a) continue;
        const w = k * (p[a * n + b] + p[b * n + a] - (b === pos ? 2 : 0));
        for (let c = 0; c < cols; c++) gu[c] += w * u[b * cols + c];
      }
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += gu[c] * u[a * cols + c];
      const dst = a < rows ? g1 : g2, o = (a % rows) * cols;
      for (let c = 0; c < cols; c++) dst[o + c] = (gu[c] - dot * u[a * cols + c]) / norm[a];
    }
  }
  return total / n;
}

registerOp({
  name: 'ntXentLoss',
  // inputs: the two views' projections [B, D] (row i of both from image i); outputs: [1] mean loss, ∂L/∂z1, ∂L/∂z2
  infer([z1, z2], a, node) {
    if (z1.length !== 2) throw new Error(`edgegrad.pretrain: node '${node}': projections must be [batch, features], got ${formatShape(z1)}`);
    if (z2.length !== 2 || z2[1] !== z1[1]) throw new Error(`edgegrad.pretrain: node '${node}': the two views' projections ${formatShape(z1)} and ${formatShape(z2)} differ`);
    if (!(typeof a.temperature === 'number' && a.temperature > 0)) throw new Error(`edgegrad.pretrain: node '${node}': temperature must be > 0, got ${String(a.temperature)}`);
    return [[1], z1.slice(), z2.slice()];
  },
  outputDtype: () => 'float32',
  run(ctx, n) {
    // a host kernel on the backend's memory (wasm, reference): pretrain refuses backends without synchronous reads
    const [z1, z2] = n.inputs, [l, g1, g2] = n.outputs;
    const shape = ctx.shape(z1), rows = shape[0], cols = shape[1], size = sizeOfShape(shape);
    // a batch of one image has no negatives: its two views are each other's only choice (loss 0, no gradient)
    const f = (id: number) => ctx.be.f32(ctx.ptr(id), size);
    const d1 = g1 === undefined ? undefined : ctx.be.f32(ctx.ptr(g1), size);
    const d2 = g2 === undefined ? undefined : ctx.be.f32(ctx.ptr(g2), size);
    ctx.be.f32(ctx.ptr(l), 1)[0] = ntXentRows(f(z1), f(z2), rows, cols, n.attrs.temperature as number, d1, d2);
  },
});
