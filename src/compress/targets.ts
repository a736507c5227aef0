// The weights pruning works on, found in a graph: the kernels of dense layers, convolutions (depthwise
// included: a conv2d with groups) and matrix products by a parameter. Biases, batch-norm parameters,
// PReLU slopes and recurrent kernels are not pruned (TF-MOT prunes kernels only, by default, too). This file
// knows graphs only (no Model), so summaries can report sparsity without importing the pruning code.
import type { Graph } from '../graph/ir.js';
import type { Tensor } from '../tensor.js';

/** A prunable weight: the tensor, the layer (or imported node) it belongs to, and its graph value's name. */
export interface PruneTarget {
  /** the layer's name (built models) or the node's (imported graphs): what `layers` options and reports name */
  layer: string;
  /** the graph value's name, e.g. 'dense_1/kernel' or 'block1_conv/W' */
  weight: string;
  /** the op that reads it: 'dense', 'conv2d' or 'matMul' */
  op: string;
  tensor: Tensor;
}

/** Which input of which op is a prunable weight. */
const WEIGHT_INPUTS: Record<string, number[]> = { dense: [1], conv2d: [1], matMul: [0, 1] };

/**
 * The prunable weights of a graph, each tensor once, in graph order. A layer with one prunable weight is
 * named by its layer; an imported graph's nodes (which share their graph's layer name) by node name.
 */
export function pruneTargets(g: Graph): PruneTarget[] {
  const found: Array<{ node: string; layer?: string; weight: string; op: string; tensor: Tensor }> = [];
  const seen = new Set<Tensor>();
  for (const n of g.nodes) {
    for (const k of WEIGHT_INPUTS[n.op] ?? []) {
      const v = g.values[n.inputs[k]];
      if (!v || v.kind !== 'param' || !v.tensor || v.shape.length < 2 || seen.has(v.tensor)) continue;
      seen.add(v.tensor);
      found.push({ node: n.name, layer: n.layer, weight: v.name, op: n.op, tensor: v.tensor });
    }
  }
  const perLayer = new Map<string, number>();
  for (const f of found) if (f.layer) perLayer.set(f.layer, (perLayer.get(f.layer) ?? 0) + 1);
  return found.map((f) => ({ layer: f.layer && perLayer.get(f.layer) === 1 ? f.layer : f.node, weight: f.weight, op: f.op, tensor: f.tensor }));
}

/** Zeros and size of each prunable weight (read on the CPU: a backend that reads back only asynchronously gives none). */
export function weightSparsity(g: Graph): Array<{ layer: string; weight: string; size: number; zeros: number; sparsity: number }> {
  return pruneTargets(g).filter((t) => t.tensor.backend.syncRead && !t.tensor.isDisposed).map((t) => {
    const v = t.tensor.view();
    let zeros = 0;
    for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
    return { layer: t.layer, weight: t.weight, size: v.length, zeros, sparsity: zeros / v.length };
  });
}

/**
 * One line for summaries, only where some prunable weight holds zeros (a dense model's summary stays as it
 * was): each sparse layer's share of zero weights, and the total over all prunable weights.
 */
export function sparsityLine(g: Graph): string {
  const rows = weightSparsity(g);
  const sparse = rows.filter((r) => r.zeros > 0);
  if (!sparse.length) return '';
  const zeros = rows.reduce((s, r) => s + r.zeros, 0), size = rows.reduce((s, r) => s + r.size, 0);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  return `Sparsity (zero weights): ${sparse.map((r) => `${r.layer} ${pct(r.sparsity)} (${r.zeros}/${r.size})`).join(', ')}; ${pct(zeros / size)} of ${size} prunable weights`;
}
