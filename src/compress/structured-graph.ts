// Structured pruning on the graph IR: which output channels of which conv / dense nodes can be removed,
// and every weight axis that shrinks with them. A channel of a conv's output lives on through the
// per-channel ops after it (its bias, a batch norm, activations, pooling, padding, a depthwise conv and
// that conv's own outputs) until a node mixes channels (the next conv or dense, whose input channels, or
// the flattened rows of a dense after a flatten, shrink with it). Anything else on the way (a residual add,
// a concat, a model output, a grouped conv, an op this file does not know) ties the channels to something
// that cannot shrink with them: that source is left whole, and the report says where it was tied.
import { Graph, resolve, sizeOfShape, type Node, type Shape } from '../graph/ir.js';
import { getOp } from '../graph/registry.js';

/** One axis of one weight (param or state value) that shrinks with a group's channels. */
export interface AxisCut {
  value: number;
  axis: number;
  /** The indices kept along `axis` for the source channels kept (sorted). */
  index(keep: readonly number[]): number[];
}

/** Output channels of one conv2d / dense node that can be pruned, with everything that shrinks with them. */
export interface ChannelGroup {
  /** The source node's name (a layer's name for built models, `graph/node` inside an imported graph). */
  name: string;
  node: Node;
  op: 'conv2d' | 'dense';
  channels: number;
  /** The source's output after its per-channel followers (batch norm, activation): what the Taylor criterion scores. */
  act: number;
  /** The source's kernel (output channels on its last axis): what the L1 criterion scores. */
  kernel: number;
  cuts: AxisCut[];
  /**
   * Where the channels' path ends: each conv / dense that mixes them (its data input `input`, whose last axis
   * `index` maps the kept channels to), and the value a constant shift of its output goes into (its bias,
   * +delta, or the moving mean of the batch norm right after it, -delta), if either exists.
   */
  ends: Array<{ node: Node; input: number; index(keep: readonly number[]): number[]; shift?: { value: number; sign: 1 | -1 } }>;
}

/** The prunable groups of a graph, and the conv / dense nodes that are not, each with why. */
export interface ChannelAnalysis {
  groups: ChannelGroup[];
  tied: Array<{ name: string; reason: string }>;
}

/** Ops through which channel c stays channel c (on the last axis), with no weights of their own. */
const PER_CHANNEL = new Set(['pool', 'globalAvgPool', 'zeroPad2d', 'dropout', 'resize2d', 'crop2d']);
/** Activations that mix the channels (along the last axis). */
const MIXING = new Set(['softmax', 'logSoftmax']);

class Tied extends Error {}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Positions of a row-major [dims] array whose coordinate along `axis` is one of `keep`. */
function flatIndex(dims: readonly number[], axis: number, keep: readonly number[]): number[] {
  const inner = sizeOfShape(dims.slice(axis + 1)), outer = sizeOfShape(dims.slice(0, axis)), C = dims[axis];
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (const c of keep) for (let i = 0; i < inner; i++) out.push((o * C + c) * inner + i);
  return out.sort((a, b) => a - b);
}

/** Find every prunable channel group of `g` (a model's forward graph, before inference passes). */
export function analyzeChannels(g: Graph): ChannelAnalysis {
  const consumers = new Map<number, Node[]>();
  for (const n of g.nodes) for (const i of new Set(n.inputs)) { const l = consumers.get(i) ?? []; l.push(n); consumers.set(i, l); }
  // a weight tensor read by several nodes (a layer applied twice) cannot shrink for one of them alone
  const reads = new Map<unknown, number>();
  for (const n of g.nodes) for (const i of n.inputs) { const t = g.values[i].tensor; if (t) reads.set(t, (reads.get(t) ?? 0) + 1); }
  const shape = (id: number): Shape => g.values[id].shape;
  const groups: ChannelGroup[] = [], tied: ChannelAnalysis['tied'] = [];

  for (const n of g.nodes) {
    if (n.op !== 'conv2d' && n.op !== 'dense') continue;
    const w = g.values[n.inputs[1]];
    if (!w || (w.kind !== 'param' && w.kind !== 'state') || !w.tensor || w.int8) continue;
    const [x] = n.inputs;
    // a depthwise or grouped conv: its output channels follow its input channels (handled from its source)
    if (n.op === 'conv2d' && shape(n.inputs[1])[2] !== shape(x)[3]) continue;
    const channels = n.op === 'conv2d' ? shape(n.inputs[1])[3] : shape(n.inputs[1])[1];
    const cuts: AxisCut[] = [];
    const ends: ChannelGroup['ends'] = [];
    // a constant added to an end's output: into its bias, or the moving mean of a batch norm that alone reads it
    const shiftOf = (c: Node): { value: number; sign: 1 | -1 } | undefined => {
      const ok = (id: number) => { const t = g.values[id].tensor; return t && !g.values[id].int8 && (reads.get(t) ?? 0) === 1; };
      if (c.inputs[2] !== undefined) return ok(c.inputs[2]) ? { value: c.inputs[2], sign: 1 } : undefined;
      const next = consumers.get(c.outputs[0]);
      if (c.attrs.activation !== 'linear' || next?.length !== 1 || next[0].op !== 'batchNorm' || next[0].inputs[0] !== c.outputs[0] || g.outputs.includes(c.outputs[0])) return undefined;
      return next[0].inputs[3] !== undefined && ok(next[0].inputs[3]) ? { value: next[0].inputs[3], sign: -1 } : undefined;
    };
    const cut = (value: number, axis: number, index: (k: readonly number[]) => number[], where: string) => {
      const v = g.values[value];
      if (!v.tensor) throw new Tied(`${where} reads '${v.name}', which is not a weight`);
      if ((reads.get(v.tensor) ?? 0) > 1) throw new Tied(`weight '${v.name}' is shared by several nodes`);
      cuts.push({ value, axis, index });
    };
    const id = (k: readonly number[]) => k.slice();
    cut(n.inputs[1], n.op === 'conv2d' ? 3 : 1, id, `'${n.name}'`);
    if (n.inputs[2] !== undefined) cut(n.inputs[2], 0, id, `'${n.name}'`);

    // walk the channels forward: `index` maps the kept source channels to indices along `axis` of value v
    const walk = (v: number, axis: number, index: (k: readonly number[]) => number[]): void => {
      if (g.outputs.includes(v)) throw new Tied(`its channels are a model output ('${g.values[v].name}')`);
      const s = shape(v), last = axis === s.length - 1;
      for (const c of consumers.get(v) ?? []) {
        const where = `${c.op} '${c.name}'`;
        if (c.op === 'add' || c.op === 'sub' || c.op === 'mul' || c.op === 'concat') {
          throw new Tied(`feeds ${where}${c.op === 'add' ? ' (a residual connection: its channels are tied to the other branch and kept whole)' : ''}`);
        }
        if (c.inputs.indexOf(v) !== 0 || c.inputs.lastIndexOf(v) !== 0) throw new Tied(`feeds ${where} in another position than its data input`);
        if (!last && c.op !== 'reshape' && c.op !== 'nchwToNhwc') throw new Tied(`reaches ${where} with channels on axis ${axis}`);
        if (c.op === 'batchNorm') {
          for (let k = 1; k < c.inputs.length; k++) cut(c.inputs[k], 0, index, where);
          walk(c.outputs[0], axis, index);
        } else if (c.op === 'activation') {
          if (MIXING.has(c.attrs.activation as string)) throw new Tied(`feeds ${where} (${String(c.attrs.activation)} mixes the channels)`);
          walk(c.outputs[0], axis, index);
        } else if (c.op === 'prelu') {
          if (sizeOfShape(shape(c.inputs[1])) !== s[axis] || shape(c.inputs[1]).length !== 1) throw new Tied(`feeds ${where}, whose slopes are not one per channel`);
          cut(c.inputs[1], 0, index, where);
          walk(c.outputs[0], axis, index);
        } else if (PER_CHANNEL.has(c.op)) {
          walk(c.outputs[0], c.op === 'globalAvgPool' ? 1 : axis, index);
        } else if (c.op === 'conv2d') {
          const ws = shape(c.inputs[1]);
          if (!g.values[c.inputs[1]].tensor || g.values[c.inputs[1]].int8) throw new Tied(`feeds ${where}, whose filter is not a float weight`);
          if (ws[2] === s[3]) {
            cut(c.inputs[1], 2, index, where); // the next conv's input channels: the end of the path
            ends.push({ node: c, input: v, index, shift: shiftOf(c) });
          } else if (ws[2] === 1) {
            // depthwise (groups = channels): output channel c·m + j comes from input channel c
            const m = ws[3] / s[3];
            const dw = (k: readonly number[]) => index(k).flatMap((ch) => range(m).map((j) => ch * m + j));
            cut(c.inputs[1], 3, dw, where);
            if (c.inputs[2] !== undefined) cut(c.inputs[2], 0, dw, where);
            walk(c.outputs[0], 3, dw);
          } else {
            throw new Tied(`feeds ${where}, a grouped convolution (${s[3] / ws[2]} groups)`);
          }
        } else if (c.op === 'dense') {
          if (!g.values[c.inputs[1]].tensor || g.values[c.inputs[1]].int8) throw new Tied(`feeds ${where}, whose kernel is not a float weight`);
          cut(c.inputs[1], 0, index, where); // rows of the next dense: the end of the path
          ends.push({ node: c, input: v, index, shift: shiftOf(c) });
        } else if (c.op === 'reshape') {
          const t = shape(c.outputs[0]);
          // only a flatten ([batch, ...] -> [batch, n]): row r of the dense after it is position r of the map
          if (t.length !== 2 || t[1] !== sizeOfShape(s.slice(1))) throw new Tied(`feeds ${where}, which is not a flatten`);
          const dims = s.slice(1);
          walk(c.outputs[0], 1, (k) => flatIndex(dims, axis - 1, index(k)));
        } else if (c.op === 'nhwcToNchw' || c.op === 'nchwToNhwc') {
          // layout changes between the NHWC inside and an NCHW flatten (an ONNX export of a PyTorch model)
          const to = c.op === 'nhwcToNchw' ? ([0, 3, 1, 2] as const) : ([0, 2, 3, 1] as const);
          walk(c.outputs[0], to.indexOf(axis as 0 | 1 | 2 | 3), index);
        } else {
          throw new Tied(`feeds ${where}, which structured pruning does not see through`);
        }
      }
    };
    let act = n.outputs[0];
    try {
      walk(n.outputs[0], shape(n.outputs[0]).length - 1, id);
      // the scored activation: after a batch norm and an activation that follow alone
      for (const op of ['batchNorm', 'activation']) {
        const next = consumers.get(act);
        if (next?.length !== 1 || next[0].op !== op || g.outputs.includes(act)) continue;
        act = next[0].outputs[0];
      }
    } catch (e) {
      if (!(e instanceof Tied)) throw e;
      tied.push({ name: n.name, reason: e.message });
      continue;
    }
    groups.push({ name: n.name, node: n, op: n.op, channels, act, kernel: n.inputs[1], cuts, ends });
  }
  return { groups, tied };
}

/** Kept channels per group (sorted indices), by group name. */
export type Keep = Map<string, number[]>;

/** The shape of every weight value under `keep`: the cut axes shortened. */
export function prunedShapes(g: Graph, groups: readonly ChannelGroup[], keep: Keep): Map<number, Shape> {
  const out = new Map<number, Shape>();
  for (const gr of groups) {
    const k = keep.get(gr.name);
    if (!k) continue;
    for (const c of gr.cuts) {
      const s = out.get(c.value) ?? g.values[c.value].shape.slice();
      s[c.axis] = c.index(k).length;
      out.set(c.value, s);
    }
  }
  return out;
}

/** A flatten's attrs for its new input shape (other reshapes keep theirs: the analysis refused them). */
function reshapeAttrs(n: Node, input: Shape, old: Shape): Node['attrs'] {
  if (n.op !== 'reshape' || input.every((d, i) => d === old[i])) return n.attrs;
  return { ...n.attrs, shape: [(n.attrs.shape as number[])[0], sizeOfShape(input.slice(1))] };
}

/**
 * FLOPs per example of `g` with these weight shapes, counted as the summary counts them: on its inference
 * graph, where `skip` names the nodes that inference passes fold away (batch norms into convs, activations
 * into their producers, pads into convs).
 */
export function flopsWith(g: Graph, weights: Map<number, Shape>, skip: ReadonlySet<string>): number {
  const shapes = g.values.map((v) => weights.get(v.id) ?? v.shape);
  let flops = 0;
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => shapes[i]);
    const attrs = reshapeAttrs(n, ins[0] ?? [], g.values[n.inputs[0]]?.shape ?? []);
    const spec = getOp(n.op);
    const outs = spec.infer(ins, attrs, n.name);
    n.outputs.forEach((o, k) => { shapes[o] = outs[k]; });
    if (spec.flops && !skip.has(n.name)) flops += spec.flops(ins.map((s) => resolve(s, 1)), outs.map((s) => resolve(s, 1)), attrs);
  }
  return flops;
}

/**
 * A copy of `g` over new weight tensors (`tensorOf` gives each param and state value's tensor: sliced or
 * copied), every value's shape inferred again and every flatten's target updated.
 */
export function rebuildGraph(g: Graph, tensorOf: (valueId: number) => import('../tensor.js').Tensor | undefined): Graph {
  const out = new Graph();
  for (const v of g.values) {
    const t = v.tensor ? tensorOf(v.id) : undefined;
    const { sources: _s, int8: _q, ...rest } = v;
    out.values.push({ ...rest, shape: t ? t.shape.slice() : v.shape.slice(), ...(t ? { tensor: t } : {}), ...(v.int8 && t === v.tensor ? { int8: v.int8 } : {}) });
  }
  out.inputs = g.inputs.slice();
  out.outputs = g.outputs.slice();
  for (const [k, m] of g.masks) out.masks.set(k, m);
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => out.values[i].shape);
    const attrs = reshapeAttrs(n, ins[0] ?? [], g.values[n.inputs[0]]?.shape ?? []);
    const shapes = getOp(n.op).infer(ins, attrs, n.name);
    n.outputs.forEach((o, k) => { out.values[o].shape = shapes[k]; });
    out.nodes.push({ ...n, inputs: n.inputs.slice(), outputs: n.outputs.slice(), attrs });
  }
  return out;
}

/** Every (tensor -> axis cuts) for `keep`: what each weight loses. */
export function cutsByValue(groups: readonly ChannelGroup[], keep: Keep): Map<number, Array<{ axis: number; index: number[] }>> {
  const out = new Map<number, Array<{ axis: number; index: number[] }>>();
  for (const gr of groups) {
    const k = keep.get(gr.name);
    if (!k || k.length === gr.channels) continue;
    for (const c of gr.cuts) {
      const l = out.get(c.value) ?? [];
      l.push({ axis: c.axis, index: c.index(k) });
      out.set(c.value, l);
    }
  }
  return out;
}

/** `data` (row-major `shape`) with only `index` kept along each cut axis. */
export function sliceArray(data: Float32Array, shape: readonly number[], cuts: ReadonlyArray<{ axis: number; index: number[] }>): { data: Float32Array; shape: number[] } {
  let d = data, s = shape.slice();
  for (const { axis, index } of cuts) {
    const inner = sizeOfShape(s.slice(axis + 1)), outer = sizeOfShape(s.slice(0, axis)), C = s[axis];
    const o = new Float32Array(outer * index.length * inner);
    for (let a = 0; a < outer; a++) {
      index.forEach((c, j) => o.set(d.subarray((a * C + c) * inner, (a * C + c + 1) * inner), (a * index.length + j) * inner));
    }
    d = o;
    s[axis] = index.length;
  }
  return { data: d, shape: s };
}

export { range };
