// A model that is a graph (imported from ONNX or TF.js): its inputs and outputs by name, run through planned
// memory. The boundary keeps the source's layout: a rank-4 input or output is NCHW outside, NHWC inside.
import { Plan } from './graph/executor.js';
import { Graph, sizeOfShape, type Node } from './graph/ir.js';
import { GraphLayer } from './layers/graph-layer.js';
import { checkBatchNormMode, checkLrScale, type BatchNormMode } from './layers/layer.js';
import { nearestNames } from './names.js';
import { runEager } from './graph/eager.js';
import './ops/shape.js';
import { getOp } from './graph/registry.js';
import { optimizeForInference } from './graph/passes.js';
import { Tensor, formatShape, tensor } from './tensor.js';
import { checkBackend, refuseNonFinite, type ReadGuard } from './graph/finite.js';
import { sparsityLine } from './compress/targets.js';
import { checkClassNames, classesLine } from './io/onnx/export/metadata.js';
import type { DeviceNumeric } from './backend/webgpu/numeric.js';
import { placementLine, lacksInt8 } from './ops/quant.js';
import { getBackend, whileActive, type Backend } from './backend/index.js';

/**
 * A model's inputs (per-example shape as the source declares it, NCHW for images) and outputs, in order. An
 * input's batch is its first axis unless batchAxis says otherwise (an ONNX RNN's time-major X [T, batch, F]
 * and initial states [dirs, batch, H]); shape is then the declared shape without that axis. batchAxis -1:
 * no batch, the whole tensor has the fixed shape (an ONNX RNN's weights fed as inputs).
 */
export interface Boundary {
  /** dtype: int32 for integer inputs (indices; the file's own integer type in onnxType); float32 by default */
  /** asFloat: an integer input (dtype int32) the graph reads as float32, converted at the boundary. */
  /**
   * declared: the type the file declares where predict's differs ('float16', 'bfloat16', 'float64', 'int64',
   * ...): a float16 or bfloat16 input takes float32 tensors and rounds them to its type; a float16 or
   * bfloat16 output comes back as float32 holding exactly its type's values; float64 as float32.
   */
  inputs: Array<{ name: string; shape: number[]; nchw: boolean; dtype?: 'float32' | 'int32'; onnxType?: number; batchAxis?: number; asFloat?: boolean; declared?: string }>;
  /** asInt: integers the graph holds in float32 (an ONNX integer or bool output), returned as int32. */
  outputs: Array<{ name: string; nchw: boolean; asInt?: boolean; declared?: string }>;
}

/** What predict takes: one tensor (one input), tensors in input order, or a { name: tensor } map. */
export type ModelInputs = Tensor | Tensor[] | Record<string, Tensor>;

/**
 * Plan-time passes of int8 models, registered by the module that has them (src/quantize/u8-links.ts) when the
 * code that makes int8 nodes loads: a page that runs a float model does not download them.
 */
export const int8Passes: { linkU8?: (g: Graph) => number } = {};
/** Float16 storage's plan-time pass and summary lines, registered likewise by src/graph/half.ts (loaded with weights: 'float16'). */
export const halfPasses: {
  compute?: (g: Graph, be: Backend, report: import('./graph/half.js').HalfReport) => void;
  summary?: (report: import('./graph/half.js').HalfReport) => string[];
} = {};

export class GraphModel {
  private plans = new Map<number, Plan>();
  /** Parameters that fine-tuning must not change (freeze / unfreeze), by tensor. */
  private frozen = new Set<Tensor>();
  /** The graph inference runs: batch norms folded into convs, activations fused (weights copied). */
  private inferGraph?: Graph;
  /** The backend inferGraph's u8 links were decided for. */
  private inferBackend?: Backend;
  /** Set by eg.quantize: what was quantized, and what stayed float and why. */
  quantization?: import('./quantize/index.js').QuantizationReport;
  /** How save() stores float weights unless told otherwise (float16 after quantize({ weights: 'float16' })). */
  storage: 'float32' | 'float16' = 'float32';
  /** loadModel's weights: 'float16': which weights the backend holds as float16, and their bytes. */
  halfStorage?: import('./graph/half.js').HalfReport;
  /**
   * How its trainable batch norms normalize while the model trains (see BatchNormMode): 'train' (batch
   * statistics, Keras's default) or 'inference' (moving statistics; gamma and beta still train).
   */
  batchNormMode: BatchNormMode = 'train';
  /** NaN and infinite inputs to predict: refused (the default) or allowed (loadModel's nonFinite option). */
  nonFinite: 'refuse' | 'allow' = 'refuse';

  private _classNames?: string[];
  /**
   * The names of the output classes, in output order (saved in the ONNX file's metadata, read back by
   * loadModel; `edgegrad predict` prints them), or undefined. Set: an array of strings, one per class of a
   * [batch, classes] output.
   */
  get classNames(): string[] | undefined {
    return this._classNames?.slice();
  }

  set classNames(v: string[] | undefined) {
    const s = this.graph.values[this.graph.outputs[0]]?.shape;
    this._classNames = checkClassNames(v, s?.length === 2 && s[1] > 0 ? s[1] : undefined, `model '${this.name}'`);
  }

  private _lrScale = 1;
  /**
   * Learning-rate factor of its parameters where it trains as a layer (eg.sequential([model, ...])): a finite
   * number >= 0, 0 keeps them as they are. The layer reads it from here, so it may be set before or after.
   */
  get lrScale(): number {
    return this._lrScale;
  }

  set lrScale(v: number) {
    this._lrScale = checkLrScale(v, `model '${this.name}'`);
  }

  constructor(
    readonly graph: Graph,
    readonly name: string,
    /** Per-example input shape as the source declares it (NCHW for images). */
    readonly inputShape: number[],
    readonly inputNchw: boolean,
    readonly outputNchw: boolean,
    readonly info: { format: string; opset: number; producer: string },
    boundary?: Boundary,
  ) {
    this.boundary = boundary ?? {
      inputs: [{ name: graph.values[graph.inputs[0]]?.name ?? 'input', shape: inputShape, nchw: inputNchw }],
      outputs: [{ name: 'output', nchw: outputNchw }],
    };
    if (this.boundary.inputs.length !== graph.inputs.length || this.boundary.outputs.length !== graph.outputs.length) {
      throw new Error(`edgegrad: model '${name}': ${this.boundary.inputs.length} inputs / ${this.boundary.outputs.length} outputs named for a graph of ${graph.inputs.length} / ${graph.outputs.length}`);
    }
  }

  /** The inputs and outputs, in order, with the names the source gave them. */
  readonly boundary: Boundary;

  get inputNames(): string[] { return this.boundary.inputs.map((i) => i.name); }
  get outputNames(): string[] { return this.boundary.outputs.map((o) => o.name); }

  /** @internal For what takes one input and gives one output (a layer, the quantizer's calibration): else an error saying so. */
  single(op: string): void {
    const { inputs, outputs } = this.boundary;
    if (inputs.length !== 1 || outputs.length !== 1) {
      throw new Error(`edgegrad.${op}: model '${this.name}' has ${inputs.length} inputs (${this.inputNames.join(', ')}) and ${outputs.length} outputs (${this.outputNames.join(', ')}); ${op} takes models with one of each (cut it at one output: model.cut(node))`);
    }
  }

  private plan(batch: number): Plan {
    // folded copies go stale when the weights they came from change (trained inside another model, say)
    if ([...this.plans.values()].some((q) => q.stale)) { this.dispose(); this.inferGraph = undefined; }
    let p = this.plans.get(batch);
    if (!p) {
      const be = getBackend();
      if (!this.inferGraph || this.inferBackend !== be) {
        this.inferGraph = optimizeForInference(this.graph);
        this.inferBackend = be;
        // consecutive int8 layers pass u8 to each other where the int8 kernels run (the stored graph keeps f32
        // between them; a backend without int8 kernels runs each int8 layer's float path on f32)
        // (the pass loads with the int8 code that makes int8 nodes: quantize, or an int8 model's import)
        if (!lacksInt8(be)) int8Passes.linkU8?.(this.inferGraph);
        // loadModel's compute: 'float16': layers read their float16 weights in f16 kernels (src/graph/half.ts)
        if (this.halfStorage?.compute === 'float16') halfPasses.compute!(this.inferGraph, be, this.halfStorage);
      }
      p = new Plan(this.inferGraph, { batch, training: false });
      this.plans.set(batch, p);
    }
    p.prepack(); // a no-op unless the weights changed or the plan was evicted (and so resident again now)
    return p;
  }

  /**
   * Run the model: x is one tensor ([batch, ...inputShape], e.g. NCHW) for a model with one input, the
   * tensors in input order, or a { name: tensor } map (inputNames). Returns the output tensor; with several
   * outputs, an array in output order (a map by outputNames when x was a map). A model with no inputs (an
   * ONNX graph of constants) takes [] (or {}) and returns its outputs the same way. An ONNX input declared
   * float16, bfloat16 or float64 takes a float32 tensor (rounded to float16 / bfloat16 first: the model
   * computes on its type's values); such an output comes back float32, holding exactly its type's values.
   * NaN or infinite inputs are refused with a message naming the input and example (on webgpu, counted on the
   * device: reading an output, `await y.data()`, rejects with it), unless the model was loaded with
   * `nonFinite: 'allow'` (one that handles them, as IEEE arithmetic and ONNX Runtime do).
   */
  predict(x: Tensor): Tensor;
  predict(x: ModelInputs): Tensor | Tensor[] | Record<string, Tensor>;
  predict(x: ModelInputs): Tensor | Tensor[] | Record<string, Tensor> {
    const xs = this.inputsOf(x, 'predict', this.nonFinite === 'allow');
    const outs = this.boundary.outputs;
    if (x instanceof Tensor && outs.length > 1) {
      throw new Error(`edgegrad.predict: model '${this.name}' has ${outs.length} outputs (${this.outputNames.join(', ')}): pass its input as [x] (outputs in order) or { ${this.inputNames[0]}: x } (outputs by name)`);
    }
    const p = this.plan(this.batchOf(xs));
    // layouts change on the backend, and data moves by copies there: nothing crosses to the CPU
    const ins = xs.map((t, k) => this.atBoundary(t, k));
    const ys = p.graph.outputs.map((id) => Tensor.empty(p.shapes[id], p.graph.values[id].dtype));
    const release = p.be.hold();
    try {
      p.graph.inputs.forEach((id, k) => p.be.copy(p.ptr(id), ins[k].ptr, ins[k].size * 4));
      p.run();
      p.graph.outputs.forEach((id, k) => p.be.copy(ys[k].ptr, p.ptr(id), ys[k].size * 4));
    } finally {
      release();
      ins.forEach((t, k) => { if (t !== xs[k]) t.dispose(); });
    }
    const res = ys.map((t, k) => {
      if (!outs[k].nchw) return this.asInt(t, k);
      const nchw = runEager('nhwcToNchw', [t])[0];
      t.dispose();
      return this.asInt(nchw, k);
    });
    // a GPU reads back asynchronously: the inputs' check runs on the device, and reading an output refuses
    if (this.nonFinite !== 'allow') (p.be as ReadGuard).refuseNonFiniteOnRead?.(xs, xs.map((_, k) => (xs.length > 1 ? `input '${this.inputNames[k]}'` : 'x')), res, 'predict');
    if (res.length === 1) return res[0];
    return Array.isArray(x) ? res : Object.fromEntries(res.map((t, k) => [outs[k].name, t]));
  }

  /**
   * Where inference spends its time: each node of the inference plan timed over `runs` runs (after warm-up
   * runs, so the engine has optimized the kernels), median per node, slowest first. Timing each node costs
   * a little itself: compare nodes with each other, and the total with predict's time.
   */
  profile(x: ModelInputs, opts: { runs?: number } = {}): Array<{ node: string; op: string; ms: number; share: number }> {
    const runs = opts.runs ?? 10;
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`edgegrad.profile: runs must be a positive integer, got ${runs}`);
    const xs = this.inputsOf(x, 'profile');
    const p = this.plan(this.batchOf(xs));
    const ins = xs.map((t, k) => this.atBoundary(t, k));
    const times = p.graph.nodes.map(() => [] as number[]);
    try {
      for (let r = -2; r < runs; r++) {
        p.graph.inputs.forEach((id, k) => p.be.copy(p.ptr(id), ins[k].ptr, ins[k].size * 4));
        const t = p.runProfiled();
        if (r >= 0) t.forEach((e, k) => times[k].push(e.ms));
      }
    } finally {
      ins.forEach((t, k) => { if (t !== xs[k]) t.dispose(); });
    }
    const med = (v: number[]) => { const s = v.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
    const rows = p.graph.nodes.map((n, k) => ({ node: n.name, op: n.op, ms: med(times[k]), share: 0 }));
    const total = rows.reduce((a, r) => a + r.ms, 0) || 1;
    rows.forEach((r) => { r.share = r.ms / total; });
    return rows.sort((a, b) => b.ms - a.ms);
  }

  /**
   * Input k as the graph reads it: an image NCHW at the boundary goes NHWC (on the backend); integers the
   * graph reads as float (asFloat) are converted, exactly (int32 values up to 2^24 in magnitude).
   */
  private atBoundary(t: Tensor, k: number): Tensor {
    const spec = this.boundary.inputs[k];
    if (spec.nchw) return runEager('nchwToNhwc', [t])[0];
    if (!spec.asFloat) return t;
    const gpu = (t.backend as { numeric?: DeviceNumeric }).numeric;
    if (!t.backend.syncRead && gpu) {
      // on the webgpu backend, its kernel; a value beyond 2^24 is flagged there and the next read throws
      const y = Tensor.empty(t.shape.slice(), 'float32', t.backend);
      gpu.int32ToFloat(t.size, t.ptr, y.ptr, (v, i) => { throw new Error(`edgegrad.predict: input '${spec.name}' holds ${v} at index ${i}: the model reads it as float32, exact only up to 2^24`); });
      return y;
    }
    if (!t.backend.syncRead) throw new Error(`edgegrad.predict: input '${spec.name}' (integers read as float) is converted on the CPU, which the '${t.backend.name}' backend cannot read synchronously: run this model on wasm`);
    const v = t.dataSync() as Int32Array;
    const big = v.findIndex((x) => Math.abs(x) > 16777216);
    if (big >= 0) throw new Error(`edgegrad.predict: input '${spec.name}' holds ${v[big]} at index ${big}: the model reads it as float32, exact only up to 2^24`);
    return tensor(Float32Array.from(v), t.shape.slice());
  }

  /** Output k as int32 where the graph holds integers in float32 (asInt): each value rounded back, exact up to 2^24. */
  private asInt(t: Tensor, k: number): Tensor {
    const spec = this.boundary.outputs[k];
    if (!spec.asInt) return t;
    const gpu = (t.backend as { numeric?: DeviceNumeric }).numeric;
    if (!t.backend.syncRead && gpu) {
      const y = Tensor.empty(t.shape.slice(), 'int32', t.backend);
      gpu.floatToInt32(t.size, t.ptr, y.ptr, (v, i) => { throw new Error(`edgegrad.predict: output '${spec.name}' holds ${v} at index ${i}: integers held in float32 are exact only up to 2^24`); });
      t.dispose();
      return y;
    }
    if (!t.backend.syncRead) throw new Error(`edgegrad.predict: output '${spec.name}' (integers held as float) is converted on the CPU, which the '${t.backend.name}' backend cannot read synchronously: run this model on wasm`);
    const v = t.dataSync() as Float32Array, shape = t.shape.slice();
    t.dispose();
    const big = v.findIndex((x) => !(Math.abs(x) <= 16777216));
    if (big >= 0) throw new Error(`edgegrad.predict: output '${spec.name}' holds ${v[big]} at index ${big}: integers held in float32 are exact only up to 2^24`);
    return tensor(Int32Array.from(v, Math.round), shape, 'int32');
  }

  /** The batch size of a call: the length of the first input's batch axis that has one (1 if none does). */
  private batchOf(xs: Tensor[]): number {
    const k = this.boundary.inputs.findIndex((s) => (s.batchAxis ?? 0) >= 0);
    return k < 0 ? 1 : xs[k].shape[this.boundary.inputs[k].batchAxis ?? 0];
  }

  /** The inputs of a call in input order, each checked (shape, dtype, backend, finite), one batch size. */
  private inputsOf(x: ModelInputs, op: string, allowNonFinite = false): Tensor[] {
    const specs = this.boundary.inputs;
    const what = (v: unknown) => (Array.isArray(v) ? 'an array' : typeof v === 'object' && v ? (v as object).constructor.name : typeof v);
    let xs: unknown[];
    if (x instanceof Tensor) xs = [x];
    else if (Array.isArray(x)) xs = x;
    else if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      const extra = Object.keys(x).filter((k) => !specs.some((s) => s.name === k));
      if (extra.length) throw new Error(`edgegrad.${op}: model '${this.name}' has no input ${extra.map((e) => `'${e}'`).join(', ')} (inputs: ${this.inputNames.join(', ')})`);
      xs = specs.map((s) => (x as Record<string, Tensor>)[s.name]);
    } else {
      throw new Error(`edgegrad.${op}: x must be a Tensor (eg.tensor(data, shape)), an array of them or a { name: tensor } map, got ${what(x)}`);
    }
    if (xs.length !== specs.length) throw new Error(`edgegrad.${op}: model '${this.name}' takes ${specs.length} inputs (${this.inputNames.join(', ')}), got ${xs.length}`);
    return xs.map((t, k) => {
      const spec = specs[k], label = specs.length > 1 ? `input '${spec.name}'` : 'x';
      if (t === undefined) throw new Error(`edgegrad.${op}: ${label} is missing (inputs: ${this.inputNames.join(', ')})`);
      if (!(t instanceof Tensor)) throw new Error(`edgegrad.${op}: ${label} must be a Tensor (eg.tensor(data, shape)), got ${what(t)}`);
      const want = spec.shape, b = spec.batchAxis ?? 0;
      const rest = t.shape.filter((_, i) => i !== b);
      if (t.rank !== want.length + (b >= 0 ? 1 : 0) || want.some((d, i) => d !== rest[i])) {
        const shown: Array<string | number> = want.slice();
        if (b >= 0) shown.splice(b, 0, 'batch');
        throw new Error(`edgegrad.${op}: model '${this.name}' expects ${specs.length > 1 ? `${label} ` : 'input '}[${shown.join(', ')}], got ${formatShape(t.shape)}`);
      }
      const dtype = spec.dtype ?? 'float32';
      if (t.dtype !== dtype) throw new Error(`edgegrad.${op}: ${label} must be ${dtype}${dtype === 'int32' ? ` (indices: eg.tensor(Int32Array.from(ids), shape, 'int32'))` : ''}, got ${t.dtype}`);
      // empty where the model declares an empty axis (an ONNX input of a zero dimension): as declared
      if (t.size === 0 && !want.includes(0)) throw new Error(`edgegrad.${op}: ${label} is empty (${formatShape(t.shape)})`);
      const batches = specs.map((s, j) => ((s.batchAxis ?? 0) >= 0 ? (xs[j] as Tensor | undefined)?.shape?.[s.batchAxis ?? 0] : undefined));
      if (batches[k] !== undefined && batches[k] !== batches.find((v) => v !== undefined)) throw new Error(`edgegrad.${op}: the inputs have different batch sizes (${batches.filter((v) => v !== undefined).join(', ')})`);
      checkBackend(t, op);
      if (dtype === 'float32' && !allowNonFinite) refuseNonFinite(t, op, label);
      return t;
    });
  }

  /** Nodes, parameters, FLOPs per example and planned memory at batch 1. */
  summary(opts: { print?: boolean } = {}): string {
    // described where its weights live (an int8 model quantize left on wasm while webgpu is active, say)
    return whileActive(this.graph.values.map((v) => v.tensor), () => this.summaryHere(opts));
  }

  private summaryHere(opts: { print?: boolean }): string {
    const p = this.plan(1);
    let flops = 0;
    for (const n of p.graph.nodes) {
      const f = getOp(n.op).flops;
      if (f) flops += f(n.inputs.map((i) => p.shapes[i]), n.outputs.map((o) => p.shapes[o]), n.attrs);
    }
    const used = new Set(this.graph.nodes.flatMap((n) => n.inputs));
    let params = this.graph.values.filter((v) => (v.kind === 'param' || v.kind === 'state') && used.has(v.id)).reduce((s, v) => s + sizeOfShape(v.half?.shape ?? v.shape), 0);
    const trainable = this.countParams(true);
    // int8 nodes hold their weights themselves
    for (const n of this.graph.nodes) { const q = n.attrs.q as { K: number; N: number; bias?: unknown } | undefined; if (q) params += q.K * q.N + (q.bias ? q.N : 0); }
    // the batch where it is (an ONNX RNN's time-major values hold it on axis 1; a weight fed as an input has none)
    // the file's declared type first where predict takes or returns another ('float16 (float32 in predict)')
    const io = (l: Array<{ name: string; shape: number[]; dtype?: string; batchAxis?: number; declared?: string }>) => l.map((v) => {
      const dims: Array<number | string> = v.shape.slice();
      if ((v.batchAxis ?? 0) >= 0) dims.splice(v.batchAxis ?? 0, 0, 'batch');
      const dtype = v.dtype ?? 'float32';
      return `${v.name} ${v.declared ? `${v.declared} (${dtype} in predict)` : dtype} [${dims.join(', ')}]`;
    }).join('; ');
    const outShapes = this.boundary.outputs.map((o, k) => {
      const s = p.graph.values[p.graph.outputs[k]].shape, b = Math.max(s.indexOf(-1), 0);
      const io = { name: o.name, declared: o.declared, dtype: o.asInt ? 'int32' : p.graph.values[p.graph.outputs[k]].dtype };
      return o.nchw ? { ...io, shape: [s[3], s[1], s[2]] } : { ...io, shape: s.filter((_, i) => i !== b), batchAxis: s.includes(-1) ? b : -1 };
    });
    const out = [
      `Model: ${this.name} (${this.info.format}, opset ${this.info.opset}, from ${this.info.producer || 'unknown'})`,
      `Inputs: ${io(this.boundary.inputs)}`,
      `Outputs: ${io(outShapes)}`,
      `${p.graph.nodes.length} nodes after inference passes (${this.graph.nodes.length} imported): ${[...new Set(p.graph.nodes.map((n) => n.op))].join(', ')}`,
      placementLine(p.graph.nodes),
      `Parameters: ${params}; FLOPs per example: ${flops}; planned activation memory at batch 1: ${p.planBytes} bytes (${p.naiveBytes} without reuse)`,
      `Trainable parameters: ${trainable} (frozen ${this.countParams() - trainable}; batch norms in ${this.batchNormMode} mode while training)`,
    ];
    // recurrent nodes: their state and the work of one step
    for (const n of p.graph.nodes) {
      if (n.op !== 'lstm' && n.op !== 'gru' && n.op !== 'simpleRnn') continue;
      const U = n.attrs.units as number, T = p.shapes[n.inputs[0]][1], f = getOp(n.op).flops;
      const perStep = f ? f(n.inputs.map((i) => p.shapes[i]), n.outputs.map((o) => p.shapes[o]), n.attrs) / T : 0;
      out.push(`${n.op} '${n.name}': state ${n.op === 'lstm' ? `h ${U} + c ${U}` : `h ${U}`}, ${T} steps, ${Math.round(perStep)} FLOPs per step${n.attrs.reverse ? ', reversed' : ''}`);
    }
    // pruned weights: the share of zeros per layer (no line for a dense model)
    const sparse = sparsityLine(this.graph);
    if (sparse) out.push(sparse);
    const h = this.halfStorage;
    if (h) out.push(...halfPasses.summary!(h));
    const q = this.quantization;
    if (q) {
      const low = q.nodes.filter((n) => n.as !== 'float32'), kept = q.nodes.filter((n) => n.as === 'float32');
      out.push(`Quantized: ${q.weights} weights, ${q.activations} activations; ${low.length} of ${q.nodes.length} dense/conv nodes${kept.length ? `; float32: ${kept.map((n) => `${n.name} (${n.reason})`).join(', ')}` : ''}`);
    }
    out.push(...classesLine(this._classNames));
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
    const m = new GraphModel(cut, `${this.name}/${g.nodes[i].name}`, this.inputShape, this.inputNchw, isMap, this.info,
      { inputs: this.boundary.inputs, outputs: [{ name: g.nodes[i].name, nchw: isMap }] });
    m.frozen = this.frozen;
    m.storage = this.storage;
    m.nonFinite = this.nonFinite;
    return m;
  }

  /**
   * Freeze every parameter, or those of the nodes up to and including `upTo`. `batchNorm` sets how the
   * batch norms that stay trainable normalize while training (batchNormMode).
   */
  freeze(opts: { upTo?: string | number; batchNorm?: BatchNormMode; trainBiases?: boolean } = {}): this {
    const last = opts.upTo === undefined ? this.graph.nodes.length - 1 : this.nodeIndex(opts.upTo, 'freeze');
    // trainBiases (TinyTL, Cai et al. 2020): the kernels and batch-norm scales freeze, the biases and
    // batch-norm shifts keep training, and the batch norms normalize with their moving statistics (unless
    // `batchNorm` says otherwise): no gradient then reads a stored activation but the activations' own
    // derivatives (a scale's gradient would read its normalized input, a batch's statistics their input)
    // (a bias is also a vector added to a matMul's or a normalization's result: Linear on [N, T, F] and
    // LayerNorm exported as MatMul + Add, Mul + Add)
    const vectorAdd = (n: Node, k: number) => n.op === 'add' && this.graph.values[n.inputs[k]].shape.length === 1;
    const kept = (n: Node, k: number) => !!opts.trainBiases && (((n.op === 'conv2d' || n.op === 'dense') && k === 2) || (n.op === 'batchNorm' && k === 2) || vectorAdd(n, k));
    for (const n of this.graph.nodes.slice(0, last + 1)) {
      n.inputs.forEach((i, k) => { const v = this.graph.values[i]; if (v.kind === 'param' && !kept(n, k)) this.frozen.add(v.tensor!); });
    }
    if (opts.batchNorm) this.batchNormMode = checkBatchNormMode(opts.batchNorm, 'freeze');
    else if (opts.trainBiases) this.batchNormMode = 'inference';
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
    // a fixed constant the importer made a parameter of (a Constant node's 0.5, a mask) is not a weight
    // a float16-stored weight counts, frozen (it does not train)
    return this.graph.values.filter((v) => v.kind === 'param' && (v.trainable !== false || v.half) && used.has(v.id) && (!trainableOnly || (!v.half && !this.frozen.has(v.tensor!))))
      .reduce((s, v) => s + sizeOfShape(v.half?.shape ?? v.shape), 0);
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
    m.nonFinite = this.nonFinite;
    m.batchNormMode = this.batchNormMode;
    return m;
  }

  /** @internal What the ONNX exporter writes: the graph, its boundary's layout and names, the weight storage. */
  exportSource(options: SaveOptions = {}): import('./io/onnx/export/index.js').ExportSource {
    // a quantized or TF.js model names its one output 'output' as before; an ONNX file's names are kept
    const named = this.info.format === 'ONNX';
    return {
      graph: this.graph, name: this.name, nchwBoundary: this.inputNchw, weights: options.weights ?? this.storage,
      inputNames: named ? this.inputNames : undefined, outputNames: named ? this.outputNames : undefined,
      inputsNchw: this.boundary.inputs.map((i) => i.nchw), outputsNchw: this.boundary.outputs.map((o) => o.nchw),
      inputTypes: this.boundary.inputs.map((i) => (i.dtype === 'int32' ? (i.onnxType === 7 || i.onnxType === 9 ? i.onnxType : 6) : 1)),
      classNames: this._classNames,
    };
  }

  isFrozen(t: Tensor): boolean {
    return this.frozen.has(t);
  }

  /** @internal Freeze these parameter tensors (a pruned copy keeps what its original had frozen). */
  freezeTensors(ts: Iterable<Tensor>): void {
    for (const t of ts) this.frozen.add(t);
  }

  /** This graph as a layer, to put a new head on it in eg.sequential / eg.model (takes NHWC maps). */
  asLayer(): GraphLayer {
    return new GraphLayer(this);
  }

  /**
   * The functional form: backbone.apply(eg.input(...)) -> a SymbolicTensor to build a new head on (several
   * inputs: an array in input order; applyAll gives every output). As a layer it takes NHWC feature maps.
   */
  apply(x: import('./layers/layer.js').SymbolicTensor | import('./layers/layer.js').SymbolicTensor[]): import('./layers/layer.js').SymbolicTensor {
    return this.asLayer().apply(x);
  }

  applyAll(x: import('./layers/layer.js').SymbolicTensor | import('./layers/layer.js').SymbolicTensor[]): import('./layers/layer.js').SymbolicTensor[] {
    return this.asLayer().applyAll(x);
  }

  /**
   * Save as ONNX (a path in Node, Deno, Bun, or indexeddb://name): a temporary file renamed into place.
   * `weights: 'float16'` stores the weights at half the size.
   */
  async save(target: string, options: SaveOptions = {}): Promise<void> {
    const io = await import('./io/index.js');
    await io.saveModel(this.exportSource(options), target);
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
