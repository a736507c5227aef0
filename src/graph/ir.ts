// The graph IR: a DAG of nodes { op, attrs, inputs, outputs, name } over values with static shapes. The
// batch dimension is symbolic (-1) until a plan is compiled for a batch size. Layers, autodiff (and later
// importers) produce graphs; the executor plans memory for them and runs them on a backend.
import type { DType } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { getOp } from './registry.js';

export type Shape = number[];
export type ValueKind = 'input' | 'param' | 'state' | 'node';

export interface Value {
  id: number;
  name: string;
  shape: Shape;
  dtype: DType;
  kind: ValueKind;
  /** Parameters and state (running statistics): the persistent tensor that holds the value. */
  tensor?: Tensor;
  /** Parameters only: whether training updates it. */
  trainable?: boolean;
  /** The layer that owns this value or produced it (for messages and summaries). */
  layer?: string;
  /** A weight derived from others (a batch norm folded into a conv): stale once one of these changes. */
  sources?: Tensor[];
  /** Weight-only int8 quantization: the stored int8 values and per-output-channel scales (tensor = w * scale). */
  int8?: { w: Int8Array; scale: Float32Array };
  /** Float16 storage: the tensor holds half values two per int32 word; `shape` is the weight's own (src/graph/half.ts). */
  half?: { shape: Shape };
}

export type Attrs = Record<string, unknown>;

export interface Node {
  id: number;
  op: string;
  name: string;
  inputs: number[];
  outputs: number[];
  attrs: Attrs;
  layer?: string;
}

export class Graph {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  inputs: number[] = [];
  outputs: number[] = [];
  /** Sequence masks ([B, T, 1], 0 = padded step) of values that carry one (Keras's mask propagation). */
  readonly masks = new Map<number, number>();

  value(v: Omit<Value, 'id'>): number {
    const id = this.values.length;
    this.values.push({ ...v, id });
    return id;
  }

  input(name: string, shape: Shape, dtype: DType = 'float32'): number {
    const id = this.value({ name, shape, dtype, kind: 'input' });
    this.inputs.push(id);
    return id;
  }

  param(name: string, tensor: Tensor, trainable: boolean, layer?: string): number {
    return this.value({ name, shape: tensor.shape.slice(), dtype: tensor.dtype, kind: 'param', tensor, trainable, layer });
  }

  state(name: string, tensor: Tensor, layer?: string): number {
    return this.value({ name, shape: tensor.shape.slice(), dtype: tensor.dtype, kind: 'state', tensor, layer });
  }

  /** Add a node; its output values get the shapes the op's shape rule infers. Returns the output ids. */
  node(op: string, inputs: number[], attrs: Attrs = {}, name?: string, layer?: string): number[] {
    const spec = getOp(op);
    const nodeName = name ?? `${op}_${this.nodes.length}`;
    const shapes = spec.infer(inputs.map((i) => this.values[i].shape), attrs, nodeName);
    const dtypes = inputs.map((i) => this.values[i].dtype as 'float32' | 'int32');
    const outputs = shapes.map((shape, k) => this.value({ name: `${nodeName}:${k}`, shape, dtype: spec.outputDtype?.(k, dtypes) ?? 'float32', kind: 'node', layer }));
    this.nodes.push({ id: this.nodes.length, op, name: nodeName, inputs, outputs, attrs, layer });
    return outputs;
  }

  producer(valueId: number): Node | undefined {
    return this.nodes.find((n) => n.outputs.includes(valueId));
  }
}

/** The shape with the symbolic batch dimension resolved. */
export function resolve(shape: readonly number[], batch: number): number[] {
  return shape.map((d) => (d === -1 ? batch : d));
}

export function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
