// Graph passes. fuseActivations: a dense or conv2d node with a linear epilogue whose only consumer is a
// ReLU / ReLU6 / leaky-ReLU activation node absorbs it, so the activation runs in the GEMM epilogue (and
// its derivative is read from the output in training). Layers emit fused nodes already; imported graphs
// (ONNX Conv -> Relu) need this pass.
import { fusesFromOutput } from '../ops/matmul.js';
import type { Graph } from './ir.js';

export function fuseActivations(g: Graph): number {
  const consumers = new Map<number, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const dead = new Set<number>();
  for (const n of g.nodes) {
    if ((n.op !== 'dense' && n.op !== 'conv2d') || n.attrs.activation !== 'linear') continue;
    const out = n.outputs[0];
    if (consumers.get(out) !== 1 || g.outputs.includes(out)) continue;
    const next = g.nodes.find((m) => !dead.has(m.id) && m.inputs.includes(out));
    if (!next || next.op !== 'activation') continue;
    const act = next.attrs.activation as string, alpha = (next.attrs.alpha as number | undefined) ?? (act === 'leakyRelu' ? 0.2 : 1);
    if (act === 'linear' || !fusesFromOutput(act, alpha)) continue;
    n.attrs = { ...n.attrs, activation: act, alpha };
    n.outputs = next.outputs.slice();
    dead.add(next.id);
  }
  if (dead.size) {
    const kept = g.nodes.filter((n) => !dead.has(n.id));
    g.nodes.length = 0;
    kept.forEach((n, i) => { n.id = i; g.nodes.push(n); });
  }
  return dead.size;
}
