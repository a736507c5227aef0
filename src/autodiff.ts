// Reverse-mode autodiff over the graph IR: walk the nodes backwards and let each op's gradient rule add
// backward nodes. Only values on a path from a trainable parameter get gradients, so frozen parameters
// (and inputs) cost nothing and activations only they would need are never kept. Where a value feeds
// several nodes its gradients are summed with 'add' nodes.
import type { Graph } from './graph/ir.js';
import { getOp, type GradBuilder } from './graph/registry.js';

/**
 * Add the backward pass to `g`. seeds: value -> gradient value (e.g. prediction -> dLoss/dPrediction).
 * wrt: the parameters to differentiate. Returns parameter -> gradient value (absent if no path).
 */
export function buildBackward(g: Graph, seeds: Map<number, number>, wrt: Iterable<number>): Map<number, number> {
  const requires = new Set<number>(wrt);
  for (const n of g.nodes) {
    if (n.inputs.some((i) => requires.has(i))) n.outputs.forEach((o) => requires.add(o));
  }
  const grads = new Map<number, number>(seeds);
  const forward = g.nodes.slice();
  const builder: GradBuilder = {
    node: (op, inputs, attrs = {}, name) => g.node(op, inputs, attrs, name),
    shape: (id) => g.values[id].shape,
    needs: (id) => requires.has(id),
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i];
    const dOut = n.outputs.map((o) => grads.get(o));
    if (dOut.every((d) => d === undefined) || !n.inputs.some((x) => requires.has(x))) continue;
    const spec = getOp(n.op);
    if (!spec.grad) throw new Error(`edgegrad: op '${n.op}' (node '${n.name}') has no gradient rule`);
    const dIn = spec.grad(n, dOut, builder);
    n.inputs.forEach((x, k) => {
      const d = dIn[k];
      if (d === undefined || !requires.has(x)) return;
      const prev = grads.get(x);
      grads.set(x, prev === undefined ? d : g.node('add', [prev, d], {}, `grad_sum_${x}`)[0]);
    });
  }
  const out = new Map<number, number>();
  for (const p of wrt) {
    const d = grads.get(p);
    if (d !== undefined) out.set(p, d);
  }
  return out;
}
