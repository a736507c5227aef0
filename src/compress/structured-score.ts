// How much each prunable channel matters.
// - L1 (Li et al. 2017, "Pruning Filters for Efficient ConvNets"): the sum of |w| over the filter that makes
//   the channel (a conv's kh x kw x cin slice, a dense unit's column); small filters make weak maps.
// - Taylor (Molchanov et al. 2017, "Pruning Convolutional Neural Networks for Resource Efficient Inference"):
//   removing channel c sets its activation a_c to zero; to first order the loss changes by -sum a_c dL/da_c,
//   so the score is |sum over the batch and positions of a_c * dL/da_c|, one absolute value per batch (as
//   the usual implementations take it), averaged over the batches of `data`. a_c is the channel after the
//   batch norm and activation that follow the conv (for ReLU the same as before it: z 1[z>0] g = a g).
import { refuseNonFinite } from '../graph/finite.js';
import { buildBackward } from '../autodiff.js';
import { Plan } from '../graph/executor.js';
import { Graph, sizeOfShape } from '../graph/ir.js';
import { lossOnLogits } from '../graph/passes.js';
import type { LossName } from '../ops/loss.js';
import { Tensor, formatShape } from '../tensor.js';
import type { ChannelGroup } from './structured-graph.js';

/** L1 norm of each output channel's filter (the kernel's last axis), as Li et al. rank them. */
export async function l1Scores(g: Graph, group: ChannelGroup): Promise<Float64Array> {
  const w = g.values[group.kernel].tensor!;
  const d = (await w.data()) as Float32Array, C = group.channels;
  const s = new Float64Array(C);
  for (let i = 0; i < d.length; i++) s[i % C] += Math.abs(d[i]);
  return s;
}

/** What the Taylor criterion is estimated on. */
export interface TaylorData {
  /** Inputs [n, ...inputShape] (the model's input layout: NCHW for an ONNX image model). */
  x: Tensor;
  /** Targets (the Taylor criterion): int32 class indices [n] (sparse categorical cross-entropy) or float32 rows like the output. */
  y?: Tensor;
  /** The loss (default: sparse categorical cross-entropy for int32 targets, categorical for float32). */
  loss?: 'sparseCategoricalCrossentropy' | LossName;
  /** Examples per batch (default 16); batches of this size only (a remainder is left out). */
  batchSize?: number;
}

/**
 * Taylor scores of every group on `data`: a copy of the forward graph `g` (batch norms with their moving
 * statistics, as at inference; dropout off), the loss, and a backward pass to the scored activations.
 * `x` is already in the graph's layout (NHWC inside).
 */
export function taylorScores(g: Graph, groups: readonly ChannelGroup[], x: Tensor, data: TaylorData & { y: Tensor }): Float64Array[] {
  const n = x.shape[0];
  const batch = Math.min(data.batchSize ?? 16, n);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`edgegrad.pruning.pruneChannels: data.batchSize must be a positive integer, got ${String(data.batchSize)}`);
  if (data.y.shape[0] !== n) throw new Error(`edgegrad.pruning.pruneChannels: data.x has ${n} examples but data.y has ${data.y.shape[0]} (${formatShape(data.y.shape)})`);
  const copy = new Graph();
  for (const v of g.values) copy.values.push({ ...v, shape: v.shape.slice() });
  copy.inputs = g.inputs.slice();
  // batch norms normalize with their moving statistics (the model as it runs): frozen in training mode
  for (const nd of g.nodes) copy.nodes.push({ ...nd, attrs: nd.op === 'batchNorm' ? { ...nd.attrs, frozen: true } : nd.attrs });
  const out = g.outputs[0];
  const loss = data.loss ?? (data.y.dtype === 'int32' ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy');
  const { lossName, lossInput } = lossOnLogits(copy, out, loss);
  const sparse = lossName === 'sparseSoftmaxCrossEntropy';
  const outShape = copy.values[out].shape;
  const want = sparse ? outShape.slice(0, -1) : outShape;
  if (data.y.shape.length !== want.length || want.some((d, i) => i > 0 && d !== data.y.shape[i]) || data.y.dtype !== (sparse ? 'int32' : 'float32')) {
    throw new Error(`edgegrad.pruning.pruneChannels: loss '${loss}' needs data.y ${sparse ? 'int32' : 'float32'} [n${want.slice(1).map((d) => `, ${d}`).join('')}], got ${data.y.dtype} ${formatShape(data.y.shape)}`);
  }
  // the loss kernel reads logits[row * classes + label]: a label out of range would read another row
  if (sparse) {
    const classes = outShape[outShape.length - 1], v = data.y.dataSync();
    const bad = v.findIndex((l) => !(l >= 0 && l < classes));
    if (bad >= 0) throw new Error(`edgegrad.pruning.pruneChannels: data.y label ${v[bad]} of example ${bad} is outside [0, ${classes}): the model has ${classes} outputs`);
  } else {
    refuseNonFinite(data.y, 'pruning.pruneChannels', 'data.y');
  }
  const yId = copy.input('y', want.slice(), sparse ? 'int32' : 'float32');
  const [lossV, dPred] = copy.node('loss', [lossInput, yId], { loss: lossName }, 'loss');
  const acts = groups.map((gr) => gr.act);
  const grads = buildBackward(copy, new Map([[lossInput, dPred]]), acts);
  copy.outputs = [lossV];
  const keep = [...acts, ...grads.values()];
  const plan = new Plan(copy, { batch, training: true, dropout: false, keep });
  const scores = groups.map((gr) => new Float64Array(gr.channels));
  const steps = Math.floor(n / batch);
  const xPer = sizeOfShape(x.shape.slice(1)), yPer = sizeOfShape(data.y.shape.slice(1));
  try {
    for (let s = 0; s < steps; s++) {
      const release = plan.be.hold();
      try {
        plan.be.copy(plan.ptr(g.inputs[0]), x.ptr + s * batch * xPer * 4, batch * xPer * 4);
        plan.be.copy(plan.ptr(yId), data.y.ptr + s * batch * yPer * 4, batch * yPer * 4);
      } finally {
        release();
      }
      plan.run();
      groups.forEach((gr, k) => {
        const gid = grads.get(gr.act);
        if (gid === undefined) return; // no path to the loss: the channel cannot matter
        const a = plan.view(gr.act), d = plan.view(gid), C = gr.channels, sum = new Float64Array(C);
        for (let i = 0; i < a.length; i++) sum[i % C] += a[i] * d[i];
        for (let c = 0; c < C; c++) scores[k][c] += Math.abs(sum[c]) / steps;
      });
    }
  } finally {
    plan.dispose();
  }
  return scores;
}

/**
 * The mean of each value in `values` over `x` (batches of `batchSize`; a remainder is left out), per entry of
 * its last axis (the channels of a map, the features of a row): what a removed channel is replaced by.
 * `x` is in the graph's layout (NHWC inside); the graph runs as at inference.
 */
export function channelMeans(g: Graph, values: readonly number[], x: Tensor, batchSize: number): Map<number, Float64Array> {
  const n = x.shape[0], batch = Math.min(batchSize, n), steps = Math.floor(n / batch);
  const copy = new Graph();
  for (const v of g.values) copy.values.push({ ...v, shape: v.shape.slice() });
  copy.inputs = g.inputs.slice();
  copy.outputs = g.outputs.slice();
  for (const nd of g.nodes) copy.nodes.push({ ...nd });
  const plan = new Plan(copy, { batch, training: false, keep: values.slice() });
  const sums = new Map(values.map((id) => [id, new Float64Array(g.values[id].shape[g.values[id].shape.length - 1])]));
  const xPer = sizeOfShape(x.shape.slice(1));
  try {
    for (let s = 0; s < steps; s++) {
      const release = plan.be.hold();
      try {
        plan.be.copy(plan.ptr(g.inputs[0]), x.ptr + s * batch * xPer * 4, batch * xPer * 4);
      } finally {
        release();
      }
      plan.run();
      for (const [id, sum] of sums) {
        const a = plan.view(id), C = sum.length;
        for (let i = 0; i < a.length; i++) sum[i % C] += a[i];
      }
    }
  } finally {
    plan.dispose();
  }
  for (const [id, sum] of sums) {
    const count = steps * batch * sizeOfShape(g.values[id].shape.slice(1)) / sum.length;
    for (let c = 0; c < sum.length; c++) sum[c] /= count;
  }
  return sums;
}
