// Ops the graph knows: each registers its shape rule, its kernel call and (if differentiable) its
// gradient rule, from the op family's own file in src/ops/. A backend only runs kernels.
import type { Backend } from '../backend/index.js';
import type { Attrs, Node, Shape } from './ir.js';

/** What a running node sees: resolved shapes, pointers into the wasm memory, the backend and the mode. */
export interface RunContext {
  be: Backend;
  /** Training mode: batch statistics, random slopes, parameter gradients. */
  training: boolean;
  /** Dropout active: in training, and at inference for Monte-Carlo dropout. */
  dropout: boolean;
  shape(valueId: number): number[];
  ptr(valueId: number): number;
  /** What this node's `prepare` hook made of its weights (inference plans, current weights), or 0: run without. */
  prepared(nodeId: number): number;
}

/**
 * Weight preparation, for inference plans: a copy of a node's constant inputs in the layout its kernel runs
 * fastest from (packed GEMM panels), made once per version of those weights, in the plan's memory.
 */
export interface PrepareHook {
  /** The inputs (by position) it prepares: the plan uses the hook only where all of them are parameters. */
  inputs: number[];
  /** Bytes of the prepared copy for this node in this plan, or 0 where it would not pay (small batches). */
  bytes(be: Backend, shape: (valueId: number) => number[], node: Node): number;
  /** Fill `dst` from the node's current weights. */
  run(ctx: RunContext, node: Node, dst: number): void;
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
  /** The dtype of output k (default float32), given the inputs' (a reshape keeps its input's). */
  outputDtype?(k: number, inputs: ReadonlyArray<'float32' | 'int32'>): 'float32' | 'int32';
  /**
   * [output, input] pairs (by position) where the kernel may write the output over the input (it reads each
   * element before writing it): the planner gives them one buffer when the input's last use is this node.
   */
  inPlace?(node: Node): Array<[number, number]>;
  /** Inputs (by position) this node writes in place when it runs in this mode (batch-norm moving statistics). */
  mutates?(node: Node, training: boolean): number[];
  prepare?: PrepareHook;
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
