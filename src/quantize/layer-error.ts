// The error one layer's int8 version causes at its own output, measured on the calibration set: the layer's
// float input (from the float graph) goes through the float layer and through each candidate int8 version, in a
// small graph of that layer alone, with the kernels that will run it. Gives the relative L2 error after the
// activation (which candidate range to keep, and the per-layer report) and, per output channel, the mean error
// before it (the bias correction: Nagel et al. 2019, "Data-Free Quantization", section 4.2, measured rather
// than estimated from the weights).
import { Graph, type Node } from '../graph/ir.js';
import type { GraphModel } from '../graph-model.js';
import { Plan } from '../graph/executor.js';
import type { QWeights } from '../ops/quant.js';
import type { Tensor } from '../tensor.js';
import { forEachBatch } from './calibrate.js';

/** One int8 version of a layer against the float one. */
export interface LayerTrial {
  /** sum of squared differences after the activation, and the float output's sum of squares */
  err: number;
  ref: number;
  /** per output channel: the mean of int8 - float before the activation */
  meanDiff: Float64Array;
}

/** The relative L2 error of a trial: ||int8 - float|| / ||float||. */
export const relativeError = (t: LayerTrial) => Math.sqrt(t.err / Math.max(t.ref, 1e-30));

interface TrialGraph { graph: Graph; x: number; fpre: number; fpost: number; q: Array<{ pre: number; post: number }> }

/** The layer alone: its float version and one int8 version per candidate, on one input. */
function trialGraph(g: Graph, n: Node, qws: QWeights[]): TrialGraph {
  const mg = new Graph();
  const x = mg.input(`${n.name}/input`, g.values[n.inputs[0]].shape.slice());
  const act = String(n.attrs.activation ?? 'linear');
  const post = (pre: number, name: string) => (act === 'linear' ? pre : mg.node('activation', [pre], { activation: act, alpha: n.attrs.alpha ?? 0 }, `${name}/activation`)[0]);
  const params = n.inputs.slice(1).map((i) => mg.param(g.values[i].name, g.values[i].tensor!, false));
  const [fpre] = mg.node(n.op, [x, ...params], { ...n.attrs, activation: 'linear' }, `${n.name}/float`);
  const q = qws.map((qw, k) => {
    const [pre] = mg.node(n.op === 'conv2d' ? 'qconv2d' : 'qdense', [x], { ...n.attrs, q: qw, activation: 'linear' }, `${n.name}/int8_${k}`);
    return { pre, post: post(pre, `${n.name}/int8_${k}`) };
  });
  const fpost = post(fpre, `${n.name}/float`);
  mg.outputs = [fpre, fpost, ...q.flatMap((t) => [t.pre, t.post])];
  return { graph: mg, x, fpre, fpost, q };
}

/**
 * For each layer and each of its int8 versions (qws), the trial over x (the float graph g's input, in batches).
 * One small plan per layer per batch, disposed at once: memory stays one layer's.
 */
export async function measureLayers(src: GraphModel, g: Graph, x: Tensor, layers: Array<{ node: Node; qws: QWeights[] }>, bs: number): Promise<LayerTrial[][]> {
  const tgs = layers.map((l) => trialGraph(g, l.node, l.qws));
  const out = layers.map((l) => l.qws.map(() => ({ err: 0, ref: 0, meanDiff: new Float64Array(l.qws[0].N) })));
  const counts = new Float64Array(layers.length);
  await forEachBatch(src, g, x, layers.map((l) => l.node.inputs[0]), bs, (p, _s, b) => {
    const inputs = layers.map((l) => p.view(l.node.inputs[0]).slice());
    layers.forEach((l, li) => {
      const tg = tgs[li], plan = new Plan(tg.graph, { batch: b, training: false });
      try {
        plan.prepack();
        plan.view(tg.x).set(inputs[li]);
        plan.run();
        const fpre = plan.view(tg.fpre), fpost = plan.view(tg.fpost), N = l.qws[0].N;
        counts[li] += fpre.length / N;
        tg.q.forEach((t, k) => {
          const qpre = plan.view(t.pre), qpost = plan.view(t.post), o = out[li][k];
          for (let i = 0; i < fpost.length; i++) { const d = qpost[i] - fpost[i]; o.err += d * d; o.ref += fpost[i] * fpost[i]; }
          for (let i = 0; i < fpre.length; i++) o.meanDiff[i % N] += qpre[i] - fpre[i];
        });
      } finally {
        plan.dispose();
      }
    });
  });
  out.forEach((ts, li) => { for (const t of ts) for (let c = 0; c < t.meanDiff.length; c++) t.meanDiff[c] /= counts[li]; });
  return out;
}
