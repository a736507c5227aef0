// What an exporter may read and do: the graph being written, the ONNX name of each graph value and whether it
// is a feature map (NHWC in the IR, NCHW in ONNX), fresh unique names, initializers (float32, float16 + Cast,
// int64, raw bytes, int8 + DequantizeLinear), and emitting nodes. Errors say 'edgegrad.toOnnx'.
import type { Graph, Node } from '../../../graph/ir.js';
import { toHalfBits } from '../../half.js';
import { FLOAT, INT8, INT64, FLOAT16 } from '../proto.js';

/** the opset the exporter writes */
export const OPSET = 17;

export function fail(msg: string): never {
  throw new Error(`edgegrad.toOnnx: ${msg}`);
}

export const attrInts = (name: string, ints: number[]) => ({ name, type: 7, ints });
export const attrInt = (name: string, i: number) => ({ name, type: 2, i });
export const attrFloat = (name: string, f: number) => ({ name, type: 1, f });
export const attrStr = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });

export class ExportContext {
  /** the NodeProtos and TensorProtos written so far, in order */
  readonly nodes: unknown[] = [];
  readonly inits: unknown[] = [];
  /** the ONNX name of each graph value written */
  readonly onnxName = new Map<number, string>();
  /** values that are feature maps: NHWC in the IR, NCHW in the ONNX graph */
  readonly isMap = new Set<number>();
  private readonly used = new Set<string>();
  private readonly half: boolean;

  /**
   * weights: float32 (default) or float16 storage (each weight cast to float in the graph); host: copies of
   * the weights that live on a backend read back only asynchronously (a GPU's), read before the export
   */
  constructor(readonly g: Graph, weights?: 'float32' | 'float16', private readonly host = new Map<number, Float32Array | Int32Array>()) {
    this.half = weights === 'float16';
    if (weights !== undefined && weights !== 'float32' && !this.half) fail(`weights must be 'float32' or 'float16', got '${String(weights)}'`);
  }

  /** base, or base_1, base_2, ... : a name no node output or initializer has yet */
  unique(base: string): string {
    let n = base, i = 1;
    while (this.used.has(n)) n = `${base}_${i++}`;
    this.used.add(n);
    return n;
  }

  shapeOf(id: number): number[] {
    return this.g.values[id].shape;
  }

  /** the output of node n is the ONNX value name (a map, NCHW, when map) */
  setOut(n: Node, name: string, map = false): void {
    this.onnxName.set(n.outputs[0], name);
    if (map) this.isMap.add(n.outputs[0]);
  }

  /** a node; returns its output's name (out, or a fresh one) */
  emit(opType: string, inputs: string[], attrs: unknown[], nodeName: string, out?: string): string {
    const o = out ?? this.unique(`${nodeName}_out`);
    this.nodes.push({ opType, name: this.unique(nodeName), input: inputs, output: [o], attribute: attrs });
    return o;
  }

  /** a float32 initializer, always (quantization scales must stay float32) */
  floatInitRaw(nm: string, dims: number[], data: ArrayLike<number>): string {
    const n = this.unique(nm);
    this.inits.push({ name: n, dims, dataType: FLOAT, rawData: new Uint8Array(Float32Array.from(data).buffer) });
    return n;
  }

  /** a weight initializer: float16 storage plus a Cast when asked for and every value fits the half range */
  floatInit(nm: string, dims: number[], data: ArrayLike<number>): string {
    if (!(this.half && data.length >= 16 && Array.prototype.every.call(data, (v: number) => Math.abs(v) <= 65504))) return this.floatInitRaw(nm, dims, data);
    const n = this.unique(nm), h = this.unique(`${n}_f16`);
    this.inits.push({ name: h, dims, dataType: FLOAT16, rawData: new Uint8Array(toHalfBits(data).buffer) });
    this.nodes.push({ opType: 'Cast', name: this.unique(`${n}_cast`), input: [h], output: [n], attribute: [attrInt('to', FLOAT)] });
    return n;
  }

  /** an int64 vector (shapes, axes, pads) */
  intInit(nm: string, data: number[]): string {
    const n = this.unique(nm);
    const raw = new Uint8Array(BigInt64Array.from(data.map((v) => BigInt(v))).buffer);
    this.inits.push({ name: n, dims: [data.length], dataType: INT64, rawData: raw });
    return n;
  }

  byteInit(nm: string, dims: number[], dataType: number, bytes: Uint8Array | Int8Array): string {
    const n = this.unique(nm);
    this.inits.push({ name: n, dims, dataType, rawData: new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) });
    return n;
  }

  /** int8 weights [K, N] (or a filter [KH, KW, Cin, Cout], stored OIHW) with per-output-channel scales, as DequantizeLinear. */
  int8Weights(nm: string, w: Int8Array, shape: number[], scale: Float32Array): string {
    const filter = shape.length === 4;
    const data = filter ? hwioToOihw(w, shape, new Int8Array(w.length)) : w;
    const dims = filter ? [shape[3], shape[2], shape[0], shape[1]] : shape, axis = filter ? 0 : shape.length - 1;
    const q = this.byteInit(`${nm}_int8`, dims, INT8, data);
    const sc = this.floatInitRaw(`${nm}_scale`, [scale.length], scale);
    const zp = this.byteInit(`${nm}_zero_point`, [scale.length], INT8, new Int8Array(scale.length));
    return this.emit('DequantizeLinear', [q, sc, zp], [attrInt('axis', axis)], `${nm}_dequantize`);
  }

  /** the data of a weight (a value holding a tensor), wherever it lives */
  data(id: number): Float32Array | Int32Array {
    return this.host.get(id) ?? (this.g.values[id].tensor!.dataSync() as Float32Array | Int32Array);
  }

  /** a parameter or state as an initializer: a filter in OIHW, a constant against a map as [1, C, 1, 1] */
  param(id: number, transform?: 'oihw' | 'map-const'): string {
    const v = this.g.values[id];
    if (v.int8 && transform !== 'map-const') return this.int8Weights(v.name, v.int8.w, v.shape, v.int8.scale);
    const d = this.data(id);
    if (transform === 'oihw') {
      const [H, W, I, O] = v.shape;
      return this.floatInit(v.name, [O, I, H, W], hwioToOihw(d, v.shape, new Float32Array(d.length)));
    }
    if (transform === 'map-const') {
      // a constant broadcast against a map: NHWC [a, h, w, c] -> NCHW [a, c, h, w] ([1, 1, 1, C] -> [1, C, 1, 1])
      const s = v.shape;
      if (d.length === 1) return this.floatInit(v.name, [1], d);
      if (s.length !== 4) fail(`constant '${v.name}' ${JSON.stringify(s)} broadcast against a feature map`);
      const [a, h, w, c] = s, out = new Float32Array(d.length);
      for (let i = 0; i < a; i++) for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[(i * c + ch) * h * w + p] = d[(i * h * w + p) * c + ch];
      return this.floatInit(v.name, [a, c, h, w], out);
    }
    return this.floatInit(v.name, v.shape, d);
  }

  /** the ONNX name of a value: computed already, or a parameter written now (once) */
  valueName(id: number): string {
    const known = this.onnxName.get(id);
    if (known) return known;
    const v = this.g.values[id];
    if (v.kind === 'param' || v.kind === 'state') { const n = this.param(id); this.onnxName.set(id, n); return n; }
    return fail(`value '${v.name}' is used before it is computed`);
  }
}

/** A filter [KH, KW, Cin, Cout] (edgegrad's HWIO) in ONNX's [Cout, Cin, KH, KW] order, written into out. */
export function hwioToOihw<T extends { [i: number]: number }>(d: ArrayLike<number>, [H, W, I, O]: number[], out: T): T {
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    out[((o * I + i) * H + y) * W + x] = d[((y * W + x) * I + i) * O + o];
  }
  return out;
}

/** An exporter: one graph node -> ONNX nodes; out is 'output' when its value is the model's plain output. */
export type Exporter = (cx: ExportContext, n: Node, out: string | undefined) => void;

/** One op family's exporters, by graph op. */
export type ExportFamily = Record<string, Exporter>;
