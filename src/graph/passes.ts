// Graph passes. fuseActivations: a dense or conv2d node with a linear epilogue whose only consumer is a
// ReLU / ReLU6 / leaky-ReLU activation node absorbs it, so the activation runs in the GEMM epilogue (and
// its derivative is read from the output in training). Layers emit fused nodes already; imported graphs
// (ONNX Conv -> Relu) need this pass.
import { defaultParam, fusesFromOutput, maskable } from '../ops/activation.js';
import { Graph, type Node } from './ir.js';
import type { Tensor } from '../tensor.js';
import { add, div, mul, neg, sqrt, sub } from '../ops/elementwise.js';
import type { LossName } from '../ops/loss.js';

/** gamma / sqrt(variance + eps) per channel: the scale a batch norm folds into the conv before it. */
function foldScale(gamma: Tensor, variance: Tensor, eps: number): Tensor {
  const v = add(variance, eps), r = sqrt(v);
  v.dispose();
  const s = div(gamma, r);
  r.dispose();
  return s;
}

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
    const act = next.attrs.activation as string, alpha = defaultParam(act, next.attrs.alpha as number | undefined);
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

/**
 * An inference copy of `g` in which every batch normalization that directly follows a conv2d (whose output
 * nothing else reads) is folded into that conv: W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps)
 * per output channel. New weight tensors are made; `g` and its tensors are untouched. Then activations fuse.
 */
export function optimizeForInference(g: Graph, opts: { frozenOnly?: boolean } = {}): Graph {
  const out = new Graph();
  for (const v of g.values) out.values.push({ ...v, shape: v.shape.slice() });
  out.inputs = g.inputs.slice();
  out.outputs = g.outputs.slice();
  const consumers = new Map<number, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const byInput = new Map<number, typeof g.nodes[number]>();
  for (const n of g.nodes) for (const i of n.inputs) byInput.set(i, n);
  const skip = new Set<number>();
  for (const n of g.nodes) {
    if (skip.has(n.id)) continue;
    const copy = { ...n, inputs: n.inputs.slice(), outputs: n.outputs.slice(), attrs: { ...n.attrs } };
    const bn = byInput.get(n.outputs[0]);
    const w = g.values[n.inputs[1]];
    if (n.op === 'conv2d' && n.attrs.activation === 'linear' && bn?.op === 'batchNorm' && bn.inputs[0] === n.outputs[0]
      && consumers.get(n.outputs[0]) === 1 && !g.outputs.includes(n.outputs[0]) && w?.kind === 'param'
      && bn.inputs.slice(1).every((i) => g.values[i].tensor)
      // a model that trains folds only what it does not train (its copies would go stale)
      && (!opts.frozenOnly || [n.inputs[1], n.inputs[2], ...bn.inputs.slice(1, 3)].every((i) => i === undefined || g.values[i].trainable === false))) {
      // in ops, on the weights' backend: w' = w * scale, b' = (b - mean) * scale + beta, scale = gamma / sqrt(var + eps)
      const [gamma, beta, mean, variance] = bn.inputs.slice(1).map((i) => g.values[i].tensor!);
      const eps = bn.attrs.epsilon as number;
      const scale = foldScale(gamma, variance, eps);
      const nw = mul(w.tensor!, scale);
      const centered = n.inputs[2] !== undefined ? sub(g.values[n.inputs[2]].tensor!, mean) : neg(mean);
      const shifted = mul(centered, scale);
      const nb = add(shifted, beta);
      [scale, centered, shifted].forEach((t) => t.dispose());
      const sources = [n.inputs[1], n.inputs[2], ...bn.inputs.slice(1)].filter((i) => i !== undefined).map((i) => g.values[i].tensor!);
      const fw = out.param(`${w.name}(bn folded)`, nw, false), fb = out.param(`${n.name}/bias(bn folded)`, nb, false);
      out.values[fw].sources = out.values[fb].sources = sources;
      copy.inputs = [n.inputs[0], fw, fb];
      copy.outputs = bn.outputs.slice(0, 1);
      // the batch-norm node's other outputs (batch statistics) are training-only: nothing reads them here
      skip.add(bn.id);
    }
    out.nodes.push(copy);
  }
  foldZeroPadding(out);
  out.nodes.forEach((nd, i) => { nd.id = i; });
  fuseActivations(out);
  return out;
}

/**
 * zeroPad2d -> conv2d (valid or explicit padding) becomes one conv2d with the padding added to its own: the
 * padded copy of the feature map (as big as the map) is never made. Keras-style MobileNets pad before every
 * strided depthwise conv. Returns how many pads were folded.
 */
export function foldZeroPadding(g: Graph): number {
  const uses = new Map<number, number>();
  for (const n of g.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  const producer = new Map<number, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const drop = new Set<Node>();
  for (const n of g.nodes) {
    if (n.op !== 'conv2d') continue;
    const pad = producer.get(n.inputs[0]);
    if (pad?.op !== 'zeroPad2d' || uses.get(pad.outputs[0]) !== 1 || g.outputs.includes(pad.outputs[0])) continue;
    const own = n.attrs.pad;
    const base = own === 'valid' ? [[0, 0], [0, 0]] : Array.isArray(own) ? own as number[][] : typeof own === 'number' ? [[own, own], [own, own]] : undefined;
    if (!base) continue; // 'same' depends on the input size: leave it
    const [[t, b], [l, r]] = pad.attrs.padding as [[number, number], [number, number]];
    n.attrs = { ...n.attrs, pad: [[base[0][0] + t, base[0][1] + b], [base[1][0] + l, base[1][1] + r]] };
    n.inputs = [pad.inputs[0], ...n.inputs.slice(1)];
    drop.add(pad);
  }
  for (let i = g.nodes.length - 1; i >= 0; i--) if (drop.has(g.nodes[i])) g.nodes.splice(i, 1);
  return drop.size;
}

/**
 * Softmax or sigmoid outputs with cross-entropy train on the logits: one stable kernel (log-sum-exp) in
 * place of an activation, a log and their gradients. Returns the loss to use and the value it reads.
 */
export function lossOnLogits(g: Graph, out: number, loss: LossName | 'sparseCategoricalCrossentropy'): { lossName: LossName; lossInput: number } {
  const prod = g.producer(out);
  const act = prod?.op === 'activation' ? prod.attrs.activation : undefined;
  if (act === 'softmax' && (loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy')) {
    return { lossName: loss === 'categoricalCrossentropy' ? 'softmaxCrossEntropy' : 'sparseSoftmaxCrossEntropy', lossInput: prod!.inputs[0] };
  }
  if (act === 'sigmoid' && loss === 'binaryCrossentropy') return { lossName: 'sigmoidCrossEntropy', lossInput: prod!.inputs[0] };
  if (loss === 'sparseCategoricalCrossentropy') {
    throw new Error(`edgegrad.compile: 'sparseCategoricalCrossentropy' needs a model that ends in a softmax activation (or use 'sparseSoftmaxCrossEntropy' on logits)`);
  }
  return { lossName: loss, lossInput: out };
}

/**
 * 1-bit activation masks in a training step (after autodiff; forward nodes are the first forwardCount):
 * where the backward pass reads a ReLU / ReLU6 / leaky ReLU output y only for its derivative (the
 * activation's own gradient node, or a dense / conv gradient with the activation fused) and nothing else
 * in the backward pass reads y (a trainable kernel's gradient reads its input, for one), an activationMask
 * node right after y's producer packs that derivative into bits, and the gradient reads the bits: y is
 * then free once the forward pass has used it. With frozen kernels (TinyTL: freeze({ trainBiases })) the
 * activations are what a step keeps, so this is most of its memory: 1/32 of it. Returns how many nodes it
 * added to the forward part.
 */
export function maskActivations(g: Graph, forwardCount: number): number {
  const readers = new Map<number, Node[]>();
  for (let i = forwardCount; i < g.nodes.length; i++) for (const v of g.nodes[i].inputs) (readers.get(v) ?? readers.set(v, []).get(v)!).push(g.nodes[i]);
  const at = new Map<number, number>(), order = new Map<Node, number>(g.nodes.map((n, i) => [n, i]));
  g.nodes.forEach((n, i) => { if (i < forwardCount) for (const o of n.outputs) at.set(o, i); });
  const masks = new Map<number, number>(), added: Array<{ node: Node; after: number }> = [];
  for (let i = forwardCount; i < g.nodes.length; i++) {
    const n = g.nodes[i];
    const own = n.op === 'activationGrad' && !n.attrs.masked && n.inputs[0] === n.inputs[1];
    const fused = (n.op === 'conv2dGrad' || n.op === 'denseGrad') && !n.attrs.masked;
    if (!own && !fused) continue;
    const act = (n.attrs.activation as string | undefined) ?? 'linear';
    // a fused epilogue's leaky slope defaults to 0 (the kernels' attrs.alpha ?? 0), the activation op's to its own
    const alpha = fused ? ((n.attrs.alpha as number | undefined) ?? 0) : (n.attrs.alpha as number | undefined);
    if (!maskable(act, alpha)) continue;
    const y = own ? n.inputs[1] : n.inputs[2];
    // every other backward reader of y (a kernel's gradient reads its input) runs before this one: y is
    // free after them, and this gradient reads the bits
    if (!at.has(y) || readers.get(y)!.some((r) => r !== n && order.get(r)! > i)) continue;
    let m = masks.get(y);
    if (m === undefined) {
      const prod = g.nodes[at.get(y)!];
      [m] = g.node('activationMask', [y], { activation: act, ...(alpha !== undefined ? { alpha } : {}) }, `${prod.name}_mask`, prod.layer);
      added.push({ node: g.nodes.pop()!, after: at.get(y)! });
      masks.set(y, m);
    }
    n.inputs = own ? [m, m, n.inputs[2]] : [n.inputs[0], n.inputs[1], m, n.inputs[3]];
    n.attrs = { ...n.attrs, masked: true };
  }
  // each mask right after its activation's producer (latest first, so earlier positions hold)
  added.sort((a, b) => b.after - a.after).forEach(({ node, after }) => g.nodes.splice(after + 1, 0, node));
  g.nodes.forEach((n, k) => { n.id = k; });
  return added.length;
}
