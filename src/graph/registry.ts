// Ops the graph knows: each registers its shape rule, its kernel call and (if differentiable) its
// gradient rule, from the op family's own file in src/ops/. A backend only runs kernels.
import type { WasmBackend } from '../backend/wasm/backend.js';
import type { Attrs, Node, Shape } from './ir.js';

/** What a running node sees: resolved shapes, pointers into the wasm memory, the backend and the mode. */
export interface RunContext {
  be: WasmBackend;
  /** Training mode: batch statistics, random slopes, parameter gradients. */
  training: boolean;
  /** Dropout active: in training, and at inference for Monte-Carlo dropout. */
  dropout: boolean;
  shape(valueId: number): number[];
  ptr(valueId: number): number;
  /** The weights of this node pre-packed for the GEMM (inference plans), or 0. */
  packed(nodeId: number): number;
}

/** What a gradient rule gets: add backward nodes with `node`, read forward shapes with `shape`. */
export interface GradBuilder {
  node(op: string, inputs: number[], attrs?: Attrs, name?: string): number[];
  shape(valueId: number): Shape;
  /** Whether the gradient of this value is needed (frozen parameters and inputs are not). */
  needs(valueId: number): boolean;
}

export interface OpSpec {
  name: string;
  /** Shape rule: output shapes from input shapes (dimension -1 is the batch). Throws with the node name. */
  infer(inputs: Shape[], attrs: Attrs, node: string): Shape[];
  run(ctx: RunContext, node: Node): void;
  /**
   * Gradient rule: given the gradient of each output (or undefined where none flows), return the gradient
   * value of each input (undefined where not needed).
   */
  grad?(node: Node, dOut: Array<number | undefined>, b: GradBuilder): Array<number | undefined>;
  outputDtype?(k: number): 'float32' | 'int32';
  /** Inputs (by position) this node writes in place when it runs in this mode (batch-norm moving statistics). */
  mutates?(node: Node, training: boolean): number[];
  /** FLOPs for the summary, from resolved shapes. */
  flops?(inputs: Shape[], outputs: Shape[], attrs: Attrs): number;
}

const ops = new Map<string, OpSpec>();

export function registerOp(spec: OpSpec): void {
  ops.set(spec.name, spec);
}

export function getOp(name: string): OpSpec {
  const s = ops.get(name);
  if (!s) throw new Error(`edgegrad: unknown graph op '${name}'`);
  return s;
}

export function registeredOps(): string[] {
  return [...ops.keys()];
}
