// The eager path: an op called on tensors runs its graph op's kernel call (OpSpec.run) with a context over
// those tensors, so eager ops and graph nodes reach each kernel through the same code (one call site per
// kernel), and a backend that registers a kernel serves both.
import { getBackend } from '../backend/index.js';
import { Tensor } from '../tensor.js';
import type { Attrs, Node } from './ir.js';
import { getOp, type RunContext } from './registry.js';

export interface EagerOptions {
  /** Training-mode behaviour (batch statistics, random slopes); default false. */
  training?: boolean;
  /** Dropout active; default: as training. */
  dropout?: boolean;
  /** Write into these tensors instead of new ones (one per output; an input may be given: in place). */
  outputs?: Tensor[];
}

/** Run graph op `op` once on `inputs`; returns its outputs (new tensors of the shapes its rule infers). */
export function runEager(op: string, inputs: readonly Tensor[], attrs: Attrs = {}, opts: EagerOptions = {}): Tensor[] {
  const spec = getOp(op);
  const be = getBackend();
  const outs = opts.outputs ?? spec.infer(inputs.map((t) => t.shape.slice()), attrs, op)
    .map((shape, k) => Tensor.empty(shape, spec.outputDtype?.(k, inputs.map((t) => t.dtype as 'float32' | 'int32')) ?? 'float32', be));
  const all = [...inputs, ...outs];
  const node: Node = { id: 0, op, name: op, inputs: inputs.map((_, i) => i), outputs: outs.map((_, k) => inputs.length + k), attrs };
  const training = opts.training ?? false;
  const ctx: RunContext = {
    be,
    training,
    dropout: opts.dropout ?? training,
    shape: (id) => all[id].shape as number[],
    ptr: (id) => all[id].ptr,
    prepared: () => 0,
  };
  // every operand resident before the kernel runs, and nothing evicted until it is done
  const release = be.hold();
  try {
    for (const t of all) void t.ptr;
    spec.run(ctx, node);
  } finally {
    release();
  }
  return outs;
}
