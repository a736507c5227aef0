// A model that is a graph (imported from ONNX): one input, one output, run through planned memory.
// The boundary keeps the source's layout: a rank-4 input or output is NCHW outside and NHWC inside.
import { Plan } from './graph/executor.js';
import { Graph, sizeOfShape } from './graph/ir.js';
import { GraphLayer } from './layers/graph-layer.js';
import { checkBatchNormMode, type BatchNormMode } from './layers/layer.js';
import { nearestNames } from './names.js';
import { runEager } from './graph/eager.js';
import './ops/shape.js';
import { getOp } from './graph/registry.js';
import { optimizeForInference } from './graph/passes.js';
import { Tensor, formatShape } from './tensor.js';
import { checkBackend, refuseNonFinite } from './graph/finite.js';

export class GraphModel {
  private plans = new Map<number, Plan>();
  /** Parameters that fine-tuning must not change (freeze / unfreeze), by tensor. */
  private frozen = new Set<Tensor>();
  /** The graph inference runs: batch norms folded into convs, activations fused (weights copied). */
  private inferGraph?: Graph;
  /** Set by eg.quantize: what was quantized, and what stayed float and why. */
  quantization?: import('./quantize/index.js').QuantizationReport;
  /** How save() stores float weights unless told otherwise (float16 after quantize({ weights: 'float16' })). */
  storage: 'float32' | 'float16' = 'float32';
  /** Outputs of the imported file beyond the first, which this model does not compute (one output per model). */
  ignoredOutputs: string[] = [];
  /**
   * How its trainable batch norms normalize while the model trains (see BatchNormMode): 'train' (batch
   * statistics, Keras's default) or 'inference' (moving statistics; gamma and beta still train).
   */
  batchNormMode: BatchNormMode = 'train';

  constructor(
    readonly graph: Graph,
    readonly name: string,
    /** Per-example input shape as the source declares it (NCHW for images). */
    readonly inputShape: number[],
    readonly inputNchw: boolean,
    readonly outputNchw: boolean,
    readonly info: { format: string; opset: number; producer: string },
  ) {}

  private plan(batch: number): Plan {
    // folded copies go stale when the weights they came from change (trained inside another model, say)
    if ([...this.plans.values()].some((q) => q.stale)) { this.dispose(); this.inferGraph = undefined; }
    let p = this.plans.get(batch);
    if (!p) {
      this.inferGraph ??= optimizeForInference(this.graph);
      p = new Plan(this.inferGraph, { batch, training: false });
      this.plans.set(batch, p);
    }
    p.prepack(); // a no-op unless the weights changed or the plan was evicted (and so resident again now)
    return p;
  }

  /** Run x ([batch, ...inputShape], e.g. NCHW) through the model. */
  predict(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw new Error(`edgegrad.predict: x must be a Tensor (eg.tensor(data, shape)), got ${Array.isArray(x) ? 'an array' : typeof x === 'object' && x ? (x as object).constructor.name : typeof x}`);
    const want = this.inputShape;
    if (x.rank !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) {
      throw new Error(`edgegrad.predict: model '${this.name}' expects input [batch, ${want.join(', ')}], got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new Error(`edgegrad.predict: x must be float32, got ${x.dtype}`);
    if (x.shape[0] === 0) throw new Error(`edgegrad.predict: x is empty (${formatShape(x.shape)})`);
    checkBackend(x, 'predict');
    refuseNonFinite(x, 'predict', 'x');
    const B = x.shape[0];
    const p = this.plan(B);
    const [inId] = p.graph.inputs, [outId] = p.graph.outputs;
    // layouts change on the backend, and data moves by copies there: nothing crosses to the CPU
    const xin = this.inputNchw ? runEager('nchwToNhwc', [x])[0] : x;
    const t = Tensor.empty(p.shapes[outId]);
    const release = p.be.hold();
    try {
      p.be.copy(p.ptr(inId), xin.ptr, xin.size * 4);
      p.run();
      p.be.copy(t.ptr, p.ptr(outId), t.size * 4);
    } finally {
      release();
      if (xin !== x) xin.dispose();
    }
    if (!this.outputNchw) return t;
    const nchw = runEager('nhwcToNchw', [t])[0];
    t.dispose();
    return nchw;
  }

  /** Nodes, parameters, FLOPs per example and planned memory at batch 1. */
  summary(opts: { print?: boolean } = {}): string {
    const p = this.plan(1);
    let flops = 0;
    for (const n of p.graph.nodes) {
      const f = getOp(n.op).flops;
      if (f) flops += f(n.inputs.map((i) => p.shapes[i]), n.outputs.map((o) => p.shapes[o]), n.attrs);
    }
    const used = new Set(this.graph.nodes.flatMap((n) => n.inputs));
    let params = this.graph.values.filter((v) => (v.kind === 'param' || v.kind === 'state') && used.has(v.id)).reduce((s, v) => s + sizeOfShape(v.shape), 0);
    const trainable = this.countParams(true);
    // int8 nodes hold their weights themselves
    for (const n of this.graph.nodes) { const q = n.attrs.q as { K: number; N: number; bias?: unknown } | undefined; if (q) params += q.K * q.N + (q.bias ? q.N : 0); }
    const out = [
      `Model: ${this.name} (${this.info.format}, opset ${this.info.opset}, from ${this.info.producer || 'unknown'})`,
      `${p.graph.nodes.length} nodes after inference passes (${this.graph.nodes.length} imported): ${[...new Set(p.graph.nodes.map((n) => n.op))].join(', ')}`,
      `Parameters: ${params}; FLOPs per example: ${flops}; planned activation memory at batch 1: ${p.planBytes} bytes (${p.naiveBytes} without reuse)`,
      `Trainable parameters: ${trainable} (frozen ${this.countParams() - trainable}; batch norms in ${this.batchNormMode} mode while training)`,
    ];
    const q = this.quantization;
    if (q) {
      const low = q.nodes.filter((n) => n.as !== 'float32'), kept = q.nodes.filter((n) => n.as === 'float32');
      out.push(`Quantized: ${q.weights} weights, ${q.activations} activations; ${low.length} of ${q.nodes.length} dense/conv nodes${kept.length ? `; float32: ${kept.map((n) => `${n.name} (${n.reason})`).join(', ')}` : ''}`);
    }
    const text = out.join('\n');
    if (opts.print !== false) console.log(text);
    return text;
  }

  /** The nodes, in order, with the layer-like names to cut or freeze at. */
  get nodeNames(): string[] {
    return this.graph.nodes.map((n) => n.name);
  }

  private nodeIndex(at: string | number, op: string): number {
    if (typeof at === 'number') {
      if (!Number.isInteger(at) || at < 0 || at >= this.graph.nodes.length) throw new Error(`edgegrad.${op}: node index ${at} is outside [0, ${this.graph.nodes.length})`);
      return at;
    }
    const i = this.graph.nodes.findIndex((n) => n.name === at);
    if (i < 0) {
      const near = nearestNames(at, this.nodeNames);
      throw new Error(`edgegrad.${op}: model '${this.name}' has no node '${at}'${near.length ? ` (similar: ${near.join(', ')})` : ''}`);
    }
    return i;
  }

  /**
   * A model that ends at node `at` (a name from nodeNames, or an index): only the nodes it needs, over the
   * same weight tensors. Its output keeps the boundary's layout (NCHW for an ONNX model's feature maps).
   */
  cut(at: string | number): GraphModel {
    const i = this.nodeIndex(at, 'cut');
    const g = this.graph;
    const out = g.nodes[i].outputs[0];
    const needed = new Set<number>([out]);
    const keep: typeof g.nodes = [];
    for (let k = i; k >= 0; k--) {
      const n = g.nodes[k];
      if (n.outputs.some((o) => needed.has(o))) { keep.unshift(n); n.inputs.forEach((x) => needed.add(x)); }
    }
    const cut = new Graph();
    for (const v of g.values) cut.values.push({ ...v });
    cut.inputs = g.inputs.slice();
    cut.outputs = [out];
    keep.forEach((n) => cut.nodes.push({ ...n }));
    cut.nodes.forEach((n, k) => { n.id = k; });
    const isMap = this.inputNchw && g.values[out].shape.length === 4 && keep.at(-1)!.op !== 'nhwcToNchw';
    const m = new GraphModel(cut, `${this.name}/${g.nodes[i].name}`, this.inputShape, this.inputNchw, isMap, this.info);
    m.frozen = this.frozen;
    m.storage = this.storage;
    return m;
  }

  /**
   * Freeze every parameter, or those of the nodes up to and including `upTo`. `batchNorm` sets how the
   * batch norms that stay trainable normalize while training (batchNormMode).
   */
  freeze(opts: { upTo?: string | number; batchNorm?: BatchNormMode } = {}): this {
    const last = opts.upTo === undefined ? this.graph.nodes.length - 1 : this.nodeIndex(opts.upTo, 'freeze');
    for (const n of this.graph.nodes.slice(0, last + 1)) {
      for (const i of n.inputs) { const v = this.graph.values[i]; if (v.kind === 'param') this.frozen.add(v.tensor!); }
    }
    if (opts.batchNorm) this.batchNormMode = checkBatchNormMode(opts.batchNorm, 'freeze');
    return this;
  }

  /** Make every parameter trainable again (`batchNorm`: how its batch norms then train, see batchNormMode). */
  unfreeze(opts: { batchNorm?: BatchNormMode } = {}): this {
    this.frozen.clear();
    if (opts.batchNorm) this.batchNormMode = checkBatchNormMode(opts.batchNorm, 'unfreeze');
    return this;
  }

  /** Parameters (not state: moving statistics); with trainableOnly, those not frozen. */
  countParams(trainableOnly = false): number {
    const used = new Set(this.graph.nodes.flatMap((n) => n.inputs));
    return this.graph.values.filter((v) => v.kind === 'param' && used.has(v.id) && (!trainableOnly || !this.frozen.has(v.tensor!)))
      .reduce((s, v) => s + sizeOfShape(v.shape), 0);
  }

  /**
   * Split where the static prefix ends: the longest run of leading nodes that train nothing (every parameter
   * frozen, or `trainable` false) and act the same in training (no dropout), cut at a point where a single
   * value flows on (not inside a residual block). For feature caching: the prefix runs once over the data,
   * the rest trains on its output. Undefined when no node can be cached, or nothing is left to train.
   */
  splitStatic(trainable: boolean): { prefix: GraphModel; rest: GraphModel; at: string } | undefined {
    const g = this.graph;
    const staticNode = (n: (typeof g.nodes)[number]): boolean => n.op !== 'dropout' && n.op !== 'rrelu'
      && n.inputs.every((i) => g.values[i].kind !== 'param' || !trainable || this.frozen.has(g.values[i].tensor!) || g.values[i].trainable === false);
    const lastUse = new Map<number, number>();
    g.nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
    for (const o of g.outputs) lastUse.set(o, Infinity);
    const live = new Set<number>(g.inputs);
    let best = -1, at = -1;
    for (let i = 0; i < g.nodes.length - 1 && staticNode(g.nodes[i]); i++) {
      const n = g.nodes[i];
      for (const x of n.inputs) if (lastUse.get(x) === i) live.delete(x);
      for (const o of n.outputs) if ((lastUse.get(o) ?? -1) > i) live.add(o);
      if (live.size === 1 && !g.inputs.includes([...live][0])) { best = i; at = [...live][0]; }
    }
    if (best < 0) return undefined;
    const prefix = this.subgraph(g.inputs, [at], 0, best + 1, `${this.name}[..${g.nodes[best].name}]`, this.inputShape, this.inputNchw, false);
    const rest = this.subgraph([at], g.outputs, best + 1, g.nodes.length, this.name, g.values[at].shape.slice(1), false, this.outputNchw);
    return { prefix, rest, at: g.nodes[best].name };
  }

  /** Nodes [from, to) as a model over the same weights, frozen set and modes. */
  private subgraph(inputs: number[], outputs: number[], from: number, to: number, name: string, inputShape: number[], inNchw: boolean, outNchw: boolean): GraphModel {
    const g = new Graph();
    for (const v of this.graph.values) g.values.push({ ...v, ...(inputs.includes(v.id) ? { kind: 'input' as const } : {}) });
    g.inputs = inputs.slice();
    g.outputs = outputs.slice();
    this.graph.nodes.slice(from, to).forEach((n, k) => g.nodes.push({ ...n, id: k }));
    const m = new GraphModel(g, name, inputShape, inNchw, outNchw, this.info);
    m.frozen = this.frozen;
    m.storage = this.storage;
    m.batchNormMode = this.batchNormMode;
    return m;
  }

  isFrozen(t: Tensor): boolean {
    return this.frozen.has(t);
  }

  /** This graph as a layer, to put a new head on it in eg.sequential / eg.model (takes NHWC maps). */
  asLayer(): GraphLayer {
    return new GraphLayer(this);
  }

  /** The functional form: backbone.apply(eg.input(...)) -> a SymbolicTensor to build a new head on. */
  apply(x: import('./layers/layer.js').SymbolicTensor): import('./layers/layer.js').SymbolicTensor {
    return this.asLayer().apply(x);
  }

  /**
   * Save as ONNX (a path in Node, Deno, Bun, or indexeddb://name): a temporary file renamed into place.
   * `weights: 'float16'` stores the weights at half the size.
   */
  async save(target: string, options: SaveOptions = {}): Promise<void> {
    const io = await import('./io/index.js');
    await io.saveModel({ graph: this.graph, name: this.name, nchwBoundary: this.inputNchw, weights: options.weights ?? this.storage }, target);
  }

  dispose(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }
}

/** Options of `save` and `toOnnx`. */
export interface SaveOptions {
  /** weight storage: 'float32' (default) or 'float16' (half the file; computation stays float32) */
  weights?: 'float32' | 'float16';
}
