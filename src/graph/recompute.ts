// Gradient checkpointing (Chen, Xu, Zhang & Guestrin 2016, "Training Deep Nets with Sublinear Memory Cost"):
// a training graph keeps every forward value its backward pass reads, so a step's memory grows with depth.
// Here the backward pass reads only some of them (the checkpoints); each other value it needs is computed
// again from the nearest checkpoints, by copies of its forward nodes placed just before the backward node that
// first reads it. The planner then frees the originals after their last forward use, and a segment's copies
// live only while its backward runs: with a checkpoint every k values, memory ~ n/k + k activations instead
// of n, for about one more forward pass of compute. Copies run the same kernels on the same inputs, so the
// gradients are the same numbers. Only pure ops are recomputed: anything that draws random numbers or
// writes state (dropout, noise, augmentation) is kept; a training batch norm is recomputed from its input
// by a copy that leaves the moving statistics out (the same batch statistics, nothing written twice).
import { type Graph, type Node } from './ir.js';
import { getOp } from './registry.js';
import { placeValues } from './executor.js';
import { CONV1X1_BN_GRAD, isPointwiseConv } from '../ops/norm.js';

/** Ops whose outputs depend only on their inputs and attributes, and that write nothing else. */
const PURE = new Set([
  'activation', 'add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'unary', 'conv2d', 'dense', 'matMul', 'pool', 'globalAvgPool',
  'reshape', 'transpose', 'concat', 'slice', 'zeroPad2d', 'crop2d', 'resize2d', 'nchwToNhwc', 'nhwcToNchw', 'channelShuffle',
  'reduce', 'prelu', 'maxout', 'grayscaleToRgb', 'batchNorm',
]);

/** Pure ops that cost about a pass over their output: recomputed for each backward reader rather than kept between them. */
const CHEAP = new Set(['activation', 'batchNorm', 'add', 'sub', 'mul', 'div', 'max', 'min', 'unary', 'prelu', 'reshape']);

/** Whether node n may run twice: a pure op, or a batch norm (its copy writes no moving statistics). */
function pure(n: Node, training: boolean): boolean {
  return PURE.has(n.op) && (n.op === 'batchNorm' || (getOp(n.op).mutates?.(n, training) ?? []).length === 0);
}

/** A copy's inputs: a batch norm's without its moving statistics (x, gamma, beta: batch statistics, no update). */
function copyInputs(n: Node): number[] {
  return n.op === 'batchNorm' && !n.attrs.frozen ? n.inputs.slice(0, 3) : n.inputs;
}

/**
 * Which forward values the backward pass keeps: of the recomputable ones with at most `maxElements`
 * elements per example (the narrow ones: a MobileNet block's bottleneck, not its expansion), every
 * `every`-th in order. { every: 1 } with no bound keeps them all.
 */
export interface CheckpointPolicy {
  every: number;
  maxElements?: number;
  /**
   * Keep only waists: values that a consumer widens (at least 2x more elements out than this value has),
   * such as a MobileNet block's bottleneck before its expansion: recomputing from there is cheapest.
   */
  waists?: boolean;
  /**
   * Recompute for each backward node what it reads, sharing no copy between backward nodes (a conv's copy
   * too): the most compute, the least memory (a block's wide values are never alive two at a time).
   */
  fresh?: boolean;
  /**
   * A batch norm's gradient whose input x would be recomputed from a 1x1 convolution, where x has more than
   * this many elements per example, reads the convolution's input instead and recomputes the convolution a
   * block of rows at a time inside (conv1x1BatchNormGrad): one more pass of that convolution, and x is never
   * whole beside its gradient (MobileNetV2's peak: a block's expansion). 0: every such batch norm.
   */
  fuseAbove?: number;
}

/**
 * Rewrite the backward part of `g` (the nodes from `forwardCount` on) to read, of the forward values, only
 * the checkpoints the policy keeps, plus whatever cannot be recomputed (inputs, parameters, impure ops'
 * outputs, the graph's outputs). Returns the number of forward nodes copied.
 */
export function checkpoint(g: Graph, forwardCount: number, policy: CheckpointPolicy, training = true): number {
  const { every, maxElements = Infinity, waists = false, fresh = false, fuseAbove } = policy;
  if (every <= 1 && maxElements === Infinity && !waists) return 0;
  const forward = g.nodes.slice(0, forwardCount);
  const producer = new Map<number, Node>();
  for (const n of forward) for (const o of n.outputs) producer.set(o, n);
  // the recomputable forward values, in order; of the narrow ones every k-th is kept
  const per = (v: number) => g.values[v].shape.reduce((p, d) => p * Math.abs(d), 1);
  const candidates = forward.filter((n) => pure(n, training)).flatMap((n) => n.outputs);
  const consumers = new Map<number, Node[]>();
  for (const n of forward) for (const i of n.inputs) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n);
  const widened = (v: number) => (consumers.get(v) ?? []).some((c) => c.outputs.some((o) => per(o) >= 2 * per(v)));
  const narrow = candidates.filter((v) => per(v) <= maxElements && (!waists || widened(v)));
  const kept = new Set<number>([...g.outputs, ...narrow.filter((_, i) => i % every === every - 1)]);
  // a value without the batch axis (a batch norm's batch mean and 1 / std: a few floats per channel) is kept:
  // recomputing it would bring its whole node back (the normalized map beside it) for nothing
  const perBatch = (v: number) => g.values[v].shape[0] === -1;
  const recomputable = (v: number) => { const n = producer.get(v); return !!n && pure(n, training) && !kept.has(v) && perBatch(v); };
  const backward = g.nodes.splice(forwardCount);
  // a copy of a costly op (a conv, a product) serves every later reader; a cheap elementwise one (an
  // activation, a batch norm) is made again for each backward node that reads it, so it lives only while
  // that node runs (a conv's output kept for its batch norm's gradient does not keep the activation after
  // it alive too, from the first reader in the block to the last)
  const copies = new Map<number, number>(), local = new Map<number, number>();
  let copied = 0;
  const resolveValue = (v: number): number => {
    if (!recomputable(v)) return v;
    const n = producer.get(v)!, memo = fresh || CHEAP.has(n.op) ? local : copies;
    const have = memo.get(v);
    if (have !== undefined) return have;
    const outs = g.node(n.op, copyInputs(n).map(resolveValue), n.attrs, `${n.name}/recompute${memo === local ? `_${copied}` : ''}`, n.layer);
    copied++;
    n.outputs.forEach((o, k) => memo.set(o, outs[k]));
    return memo.get(v)!;
  };
  // a batch norm's gradient reads x only elementwise beside dy: where x is a pointwise conv's output to
  // recompute, the node recomputes it itself, in blocks (the conv's input, weights and bias in place of x)
  const fuseConv = (b: Node): void => {
    const x = b.inputs[0], n = producer.get(x);
    if (b.op !== 'batchNormGrad' || !recomputable(x) || n?.op !== 'conv2d' || per(x) <= fuseAbove!) return;
    if (!isPointwiseConv(g.values[n.inputs[0]].shape, g.values[n.inputs[1]].shape, n.attrs)) return;
    b.op = CONV1X1_BN_GRAD;
    b.inputs = [n.inputs[0], n.inputs[1], ...b.inputs.slice(1), ...n.inputs.slice(2)];
    b.attrs = {};
    // two passes of the convolution: one more than a copy of it
    copied += 2;
  };
  for (const b of backward) {
    local.clear();
    if (fuseAbove !== undefined) fuseConv(b);
    b.inputs = b.inputs.map(resolveValue);
    b.id = g.nodes.length;
    g.nodes.push(b);
  }
  return copied;
}

/** The planned bytes of a step's graph at a batch size (no memory taken). */
export function plannedBytes(g: Graph, batch: number, keep: readonly number[]): number {
  return placeValues(g, batch, keep).total;
}
