// A pruned copy of a model, of the same class: an imported graph (GraphModel) gets a new graph over sliced
// weight tensors; a built model (Sequential or functional) gets new layers of the same kinds and configs
// with fewer filters / units where its channels were cut, rebuilt in the same order or DAG. Nothing is shared
// with the original: every weight is copied, so training the pruned model leaves the original as it was.
import { GraphModel } from '../graph-model.js';
import type { Graph } from '../graph/ir.js';
import { Model, Sequential } from '../model.js';
import { BatchNormalization, Dense } from '../layers/core.js';
import { Conv2D } from '../layers/conv.js';
import { GraphLayer } from '../layers/graph-layer.js';
import { Layer, SymbolicTensor, input as symbolicInput } from '../layers/layer.js';
import { Tensor, tensor } from '../tensor.js';
import { rebuildGraph, sliceArray } from './structured-graph.js';

/** Axis cuts per weight tensor: what each weight keeps. */
export type TensorCuts = Map<Tensor, Array<{ axis: number; index: number[] }>>;

/** Constants added to weights before they are cut (a removed channel's mean, folded into a bias). */
export type TensorShifts = Map<Tensor, Float32Array>;

/** A new tensor shifted and with only the kept indices along each cut axis, or undefined where neither applies. */
async function sliced(t: Tensor, cuts: TensorCuts, shifts: TensorShifts): Promise<Tensor | undefined> {
  const c = cuts.get(t), d = shifts.get(t);
  if (!c && !d) return undefined;
  let v = (await t.data()) as Float32Array;
  if (d) v = v.map((x, i) => x + d[i]);
  const { data, shape } = c ? sliceArray(v, t.shape, c) : { data: v, shape: t.shape.slice() };
  return tensor(data, shape);
}

/** The imported graph with its weights sliced (or copied), shapes and flattens updated. */
export async function pruneGraphModel(m: GraphModel, cuts: TensorCuts, shifts: TensorShifts = new Map()): Promise<GraphModel> {
  const g: Graph = m.graph;
  const tensors = new Map<number, Tensor>(), frozen: Tensor[] = [];
  for (const v of g.values) {
    if (!v.tensor) continue;
    // weight-only int8 values keep their tensor and codes (the analysis never cuts them)
    const t = v.int8 ? v.tensor : (await sliced(v.tensor, cuts, shifts)) ?? v.tensor.clone();
    tensors.set(v.id, t);
    if (m.isFrozen(v.tensor)) frozen.push(t);
  }
  const graph = rebuildGraph(g, (id) => tensors.get(id));
  const out = new GraphModel(graph, m.name, m.inputShape.slice(), m.inputNchw, m.outputNchw, m.info, m.boundary);
  out.freezeTensors(frozen);
  out.storage = m.storage;
  out.batchNormMode = m.batchNormMode;
  out.lrScale = m.lrScale;
  // pruning keeps the classes (the output's channels are never cut)
  out.classNames = m.classNames;
  return out;
}

/** A copy of `l` whose weights (sliced where cut) are set once the model containing it is built. */
async function copyLayer(l: Layer, cuts: TensorCuts, shifts: TensorShifts, copies: Map<Layer, Layer>, later: Array<() => void>): Promise<Layer> {
  const known = copies.get(l);
  if (known) return known;
  let nl: Layer;
  if (l instanceof GraphLayer) {
    nl = (await pruneGraphModel(l.model, cuts, shifts)).asLayer();
  } else if (l instanceof Model) {
    nl = await pruneModel(l, cuts, shifts, copies);
  } else if (l.weights.length === 0) {
    nl = l; // no weights, nothing to copy: the layer object serves both models
  } else {
    if (l.sublayers.length) throw new Error(`edgegrad.pruning.pruneChannels: layer '${l.name}' (${l.constructor.name}) wraps other layers; a pruned copy of it is not supported`);
    const news = await Promise.all(l.weights.map(async (w) => { const t = await sliced(w.tensor, cuts, shifts); return { t: t ?? w.tensor, own: t !== undefined }; }));
    const cfg = (l as Layer & { cfg?: Record<string, unknown> }).cfg;
    if (!cfg) throw new Error(`edgegrad.pruning.pruneChannels: layer '${l.name}' (${l.constructor.name}) has no config to copy it from`);
    // the same kind and config, with the channel count the sliced kernel now has
    const next: Record<string, unknown> = { ...cfg, name: l.name, trainable: l.trainable };
    if (l instanceof Conv2D) next.filters = news[0].t.shape[3];
    if (l instanceof Dense) next.units = news[0].t.shape[1];
    if (l instanceof BatchNormalization) next.mode = l.mode;
    const Ctor = l.constructor as new (c: Record<string, unknown>) => Layer;
    nl = new Ctor(next);
    later.push(() => {
      nl.setWeights(news.map((n) => n.t));
      news.forEach((n) => { if (n.own) n.t.dispose(); });
    });
  }
  if (nl !== l) { nl.trainable = l.trainable; nl.lrScale = l.lrScale; }
  copies.set(l, nl);
  return nl;
}

/** A built model with its layers copied (and cut): a Sequential stays a Sequential, a functional model keeps its DAG. */
export async function pruneModel(m: Model, cuts: TensorCuts, shifts: TensorShifts = new Map(), copies = new Map<Layer, Layer>()): Promise<Model> {
  const later: Array<() => void> = [];
  let out: Model;
  if (m instanceof Sequential) {
    const layers: Layer[] = [];
    for (const l of m.layers) layers.push(await copyLayer(l, cuts, shifts, copies, later));
    out = new Sequential({ layers, name: m.name });
  } else {
    const map = new Map<SymbolicTensor, SymbolicTensor>(), calls = new Map<SymbolicTensor[], SymbolicTensor[]>();
    m.inputs.forEach((s, i) => map.set(s, symbolicInput({ shape: s.shape.slice(1), name: m.inputNames[i] })));
    const visit = async (s: SymbolicTensor): Promise<SymbolicTensor> => {
      const known = map.get(s);
      if (known) return known;
      if ('input' in s.source) throw new Error(`edgegrad.pruning.pruneChannels: model '${m.name}': input '${s.source.input}' is not among the model's inputs`);
      let outs = calls.get(s.source.inputs);
      if (!outs) {
        const ins: SymbolicTensor[] = [];
        for (const x of s.source.inputs) ins.push(await visit(x));
        const layer = await copyLayer(s.source.layer, cuts, shifts, copies, later);
        outs = layer.applyAll(ins.length === 1 ? ins[0] : ins);
        calls.set(s.source.inputs, outs);
      }
      map.set(s, outs[s.source.index]);
      return outs[s.source.index];
    };
    const outputs: SymbolicTensor[] = [];
    for (const s of m.outputs) outputs.push(await visit(s));
    out = new Model({ inputs: m.inputs.map((s) => map.get(s)!), outputs, name: m.name });
  }
  for (const f of later) f();
  out.classNames = m.classNames;
  return out;
}
