// What an import converter may read and do: the graph being built, the values by ONNX name (graph values,
// constants, quantized tensors), the node's attributes and constant inputs, the opset, and the layout
// helpers (feature maps are NHWC inside, NCHW in ONNX). Errors name the node and the op.
import type { Graph } from '../../../graph/ir.js';
import { Tensor, formatShape } from '../../../tensor.js';
import { num, INT8, type OnnxNode, type OnnxTensor } from '../proto.js';
import { fail } from './errors.js';
import { tensorData, tensorFrom } from './tensor.js';

/** A value while converting: a graph value (4-D ones stored NHWC) or a compile-time constant. */
export interface Val {
  id?: number;
  nhwc?: boolean;
  /** ONNX shape (NCHW for maps), batch as -1 */
  shape: number[];
  konst?: { data: Float32Array; int: boolean; int8?: { q: Int8Array; scale: Float32Array; axis: number } };
  /** the output of QuantizeLinear on a computed value: only a DequantizeLinear may read it */
  quant?: { scale: number; zeroPoint: number; qmin: number; qmax: number; exact?: boolean };
  /**
   * The ONNX integer type (UINT8 ... UINT64, proto.ts's numbers) of a computed value held as exact integers in
   * float32: an integer input read by arithmetic, an integer op's result (integer.ts). Ops read it as any
   * float value; the integer converters give it integer semantics, and an output of an integer type comes
   * back as int32.
   */
  itype?: number;
  /**
   * A map's channels seen as two axes (ShuffleNet's channel shuffle: Reshape to [N, g, C/g, H, W], Transpose
   * of those two, Reshape back): the bytes are the map `id` as it stands, and `swapped` says a shuffle is
   * pending. Reshape and Transpose read it as it is; any other reader gets it materialized (get()).
   */
  split?: { groups: number; swapped: boolean };
  /**
   * A step of the exact GELU as exporters write it, x * 0.5 * (1 + erf(x / sqrt 2)), not computed yet:
   * 'scaled' is x / sqrt 2, 'erf' its Erf, 'erf1' 1 + that, 'twice' x times that (2 GELU(x)); `x` is the
   * input. The last Mul by 0.5 makes it one gelu activation; any other reader materializes it (get()).
   */
  gelu?: { step: 'scaled' | 'erf' | 'erf1' | 'twice'; x: Val; from: OnnxNode };
  /** an integer input (int32 inside, whatever the file's integer type): only Gather (embeddings) reads it */
  dtype?: 'int32';
  /**
   * Zeros of `shape`, whose -1 is the batch: the default initial state PyTorch writes as a ConstantOfShape (or
   * Expand) to a size read from the input's Shape. Slices keep it (fold.ts); an LSTM, GRU or RNN reads it as
   * no initial state; anything else refuses it.
   */
  zeros?: boolean;
  /** A comparison's or logic op's result: a float value of 0s and 1s (logic.ts) */
  mask?: boolean;
}

/** The ops that read a batch-sized zeros value (Val.zeros). */
const READS_ZEROS = new Set(['LSTM', 'GRU', 'RNN']);

/** The ops that read integer inputs (Gather's indices, a recurrent op's sequence_lens). */
const READS_INTEGERS = new Set(['Gather', 'LSTM', 'GRU', 'RNN']);

/** padding of a conv / pool node as [[top, bottom], [left, right]] */
export type Pads = [[number, number], [number, number]];

export class ImportContext {
  /** values by ONNX name */
  readonly vals = new Map<string, Val>();
  /** data types of the initializers, by name (the first of a name): a zero point's type is the quantized type */
  private readonly initTypes = new Map<string, number | undefined>();

  /** readsQuantized: the ONNX ops that may read a quantized tensor (the converter table says which) */
  constructor(readonly g: Graph, readonly opset: number, private readonly readsQuantized: ReadonlySet<string>) {}

  /** the graph's initializers' names: the model's weights (a Constant node's value or a folded one is not) */
  private readonly weights = new Set<string>();

  /** an initializer (or any TensorProto) as a constant value; `weight`: a graph initializer */
  initializer(t: OnnxTensor, weight = false): void {
    const d = tensorData(t, `initializer '${t.name}'`);
    this.vals.set(t.name!, { shape: d.dims, konst: { data: d.data, int: d.int } });
    if (!this.initTypes.has(t.name!)) this.initTypes.set(t.name!, t.dataType);
    if (weight) this.weights.add(t.name!);
  }

  /**
   * Whether a node's constant input k is a weight that trains when the graph trains: a graph initializer of
   * more than one value (a scale, a shift, a bias). A Constant node's value, a folded one and a one-value
   * initializer (0.5, an epsilon, a divisor: exporters write Python numbers so) are part of what the graph
   * computes, and stay fixed.
   */
  trainsConstant(n: OnnxNode, k: number): boolean {
    const v = this.vals.get(n.input[k]);
    return this.weights.has(n.input[k]) && !!v?.konst && v.konst.data.length > 1;
  }

  /**
   * A value whose element type is known like an initializer's: a Constant node's output (a zero point's type
   * matters), a graph input, a Cast's output (CastLike reads it).
   */
  constantType(name: string, dataType: number | undefined): void {
    if (!this.initTypes.has(name)) this.initTypes.set(name, dataType);
  }

  /** The ONNX element type known for a value (see constantType), or undefined. */
  elemType(name: string): number | undefined {
    return this.initTypes.get(name);
  }

  /** whether input k (a zero point) is an int8 initializer or constant: the quantized type is int8, else uint8 */
  signedZeroPoint(n: OnnxNode, k: number): boolean {
    return !!n.input[k] && this.initTypes.get(n.input[k]) === INT8;
  }

  get(n: OnnxNode, k: number): Val {
    let v = this.vals.get(n.input[k]);
    if (!v) fail(`node '${n.name}' (${n.opType}) reads '${n.input[k]}', which nothing produced`);
    if (v.split) v = this.materialize(n.input[k]);
    if (v.gelu) v = this.materializeGelu(n.input[k]);
    if (v.dtype === 'int32' && !READS_INTEGERS.has(n.opType)) fail(`node '${n.name}' (${n.opType}) reads '${n.input[k]}', int32 indices (an integer input read as a Gather's indices, ArgMax's or MaxPool's indices): edgegrad reads those only as a Gather's indices or as outputs, not in arithmetic yet`);
    if (v.quant && !this.readsQuantized.has(n.opType)) fail(`node '${n.name}' (${n.opType}) reads the quantized '${n.input[k]}': edgegrad reads quantized tensors in ${[...this.readsQuantized].join(', ')}`);
    if (v.zeros && !READS_ZEROS.has(n.opType)) fail(`node '${n.name}' (${n.opType}) reads '${n.input[k]}', zeros of the batch's size: edgegrad reads these only as the initial state of an LSTM, GRU or RNN`);
    return v;
  }

  /**
   * The value named `name` as plain ONNX data: a split map (see Val.split) gets its pending shuffle and
   * its ONNX layout ([N, A, B, H, W]) here, once (later readers share it).
   */
  materialize(name: string): Val {
    const v = this.vals.get(name)!;
    if (v.gelu) return this.materializeGelu(name);
    if (!v.split) return v;
    let id = v.id!;
    const [N, A, B, H, W] = v.shape;
    if (v.split.swapped) id = this.g.node('channelShuffle', [id], { groups: B }, `${name}/shuffle`)[0];
    const plain = this.g.node('nhwcToNchw', [id], {}, `${name}/nchw`)[0];
    const [out] = this.g.node('reshape', [plain], { shape: [N, A, B, H, W] }, `${name}/5d`);
    const m: Val = { id: out, shape: v.shape };
    this.vals.set(name, m);
    return m;
  }

  /** A GELU step read by something else than the next step: computed as it stands (x / sqrt 2, its erf, 1 + that, x times that). */
  materializeGelu(name: string): Val {
    const v = this.vals.get(name)!, g = v.gelu!, steps = ['scaled', 'erf', 'erf1', 'twice'], last = steps.indexOf(g.step);
    const at = (k: number) => (k === last ? g.from.name! : `${name}/${steps[k]}`);
    let id = this.g.node('mul', [g.x.id!, this.scalarParam(`${name}/inv_sqrt2`, Math.SQRT1_2)], {}, at(0))[0];
    if (last >= 1) id = this.g.node('erf', [id], {}, at(1))[0];
    if (last >= 2) id = this.g.node('add', [id, this.scalarParam(`${name}/one`, 1)], {}, at(2))[0];
    if (last >= 3) id = this.g.node('mul', [g.x.id!, id], {}, at(3))[0];
    const m: Val = { id, nhwc: g.x.nhwc, shape: g.x.shape };
    this.vals.set(name, m);
    return m;
  }

  konst(n: OnnxNode, k: number): Float32Array {
    const v = this.get(n, k);
    if (!v.konst) fail(`node '${n.name}' (${n.opType}): input ${k} ('${n.input[k]}') must be a constant (an initializer)`);
    return v.konst.data;
  }

  graphVal(n: OnnxNode, k: number): Val {
    const v = this.get(n, k);
    if (v.id === undefined) fail(`node '${n.name}' (${n.opType}): input ${k} ('${n.input[k]}') must be computed by the graph, not a constant`);
    return v;
  }

  /** output k of the node */
  set(n: OnnxNode, v: Val, k = 0): void {
    this.vals.set(n.output[k], v);
  }

  attr(n: OnnxNode, key: string) {
    return n.attribute.find((a) => a.name === key);
  }
  ints(n: OnnxNode, key: string, d: number[]): number[] {
    return this.attr(n, key)?.ints?.map((v) => num(v)) ?? d;
  }
  int(n: OnnxNode, key: string, d: number): number {
    const a = this.attr(n, key);
    return a?.i !== undefined && a.i !== null ? num(a.i) : d;
  }
  float(n: OnnxNode, key: string, d: number): number {
    return this.attr(n, key)?.f ?? d;
  }
  str(n: OnnxNode, key: string, d: string): string {
    const s = this.attr(n, key)?.s;
    return s?.length ? new TextDecoder().decode(s) : d;
  }

  unsupported(n: OnnxNode, why: string): never {
    return fail(`ONNX op '${n.opType}' (node '${n.name}', opset ${this.opset}): ${why}`);
  }

  /** a trainable weight */
  param(nm: string, t: Tensor): number {
    return this.g.param(nm, t, true);
  }
  /** a frozen one-value constant */
  scalarParam(nm: string, v: number): number {
    return this.g.param(nm, tensorFrom(Float32Array.of(v), [1]), false);
  }

  /** padding of a conv / pool node, from pads or auto_pad */
  padsOf(n: OnnxNode, inH: number, inW: number, k: number[], s: number[], d: number[]): Pads {
    const auto = this.str(n, 'auto_pad', 'NOTSET');
    if (auto === 'VALID') return [[0, 0], [0, 0]];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const tot = [inH, inW].map((sz, i) => Math.max((Math.ceil(sz / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - sz, 0));
      const split = (t: number): [number, number] => (auto === 'SAME_UPPER' ? [Math.floor(t / 2), t - Math.floor(t / 2)] : [t - Math.floor(t / 2), Math.floor(t / 2)]);
      return [split(tot[0]), split(tot[1])];
    }
    const p = this.ints(n, 'pads', [0, 0, 0, 0]);
    return [[p[0], p[2]], [p[1], p[3]]];
  }

  /** a map (NHWC inside) as a plain value in ONNX's NCHW order */
  asPlain(v: Val, nm: string): Val {
    return v.nhwc ? { id: this.g.node('nhwcToNchw', [v.id!], {}, `${nm}/nchw`)[0], shape: v.shape } : v;
  }
  /** a plain rank-4 value (NCHW) as a map */
  asMap(v: Val, nm: string): Val {
    return v.nhwc || v.shape.length !== 4 ? v : { id: this.g.node('nchwToNhwc', [v.id!], {}, `${nm}/nhwc`)[0], nhwc: true, shape: v.shape };
  }
  /** input 0 as a map: ops that need an image */
  mapIn(n: OnnxNode): Val {
    const v = this.asMap(this.graphVal(n, 0), n.name ?? n.opType);
    if (!v.nhwc) this.unsupported(n, `needs a rank-4 NCHW input, got ${formatShape(v.shape)}`);
    return v;
  }
  plainShape(id: number): number[] {
    return this.g.values[id].shape.slice();
  }
  /** the ONNX (NCHW) shape of a map value */
  mapShape(id: number): number[] {
    const s = this.g.values[id].shape;
    return [s[0], s[3], s[1], s[2]];
  }
  /** an ONNX axis of a value, as the axis of its storage (maps: NCHW axis -> NHWC) */
  storageAxis(v: Val, axis: number): number {
    return v.nhwc ? [0, 3, 1, 2][axis] : axis;
  }
  /** [N, C, H, W] map -> [N, C*H*W] in ONNX order */
  flattenMap(n: OnnxNode, v: Val): Val {
    const [, C, H, W] = v.shape;
    const src = H * W === 1 ? v.id! : this.g.node('nhwcToNchw', [v.id!], {}, `${n.name}/nchw`)[0];
    const [id] = this.g.node('reshape', [src], { shape: [-1, C * H * W] }, n.name);
    return { id, shape: [-1, C * H * W] };
  }
}

/** A converter: one ONNX node -> graph nodes, its outputs set on the context (cx.set). */
export type Converter = (cx: ImportContext, n: OnnxNode) => void;

export interface ConverterEntry {
  convert: Converter;
  /**
   * 'reads': the op may read a quantized tensor (the QOperator ops, DequantizeLinear); 'moves': it only moves
   * values (max pooling included), so its output stays quantized.
   */
  quantized?: 'reads' | 'moves';
}

/** One op family's converters, by ONNX op type. */
export type Family = Record<string, ConverterEntry>;
