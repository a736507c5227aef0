// A model that is a graph (imported from ONNX): one input, one output, run through planned memory.
// The boundary keeps the source's layout: a rank-4 input or output is NCHW outside and NHWC inside.
import { Plan } from './executor.js';
import { type Graph, sizeOfShape } from './ir.js';
import { getOp } from './registry.js';
import { optimizeForInference } from './passes.js';
import { Tensor, formatShape } from '../tensor.js';

export class GraphModel {
  private plans = new Map<number, Plan>();
  /** The graph inference runs: batch norms folded into convs, activations fused (weights copied). */
  private inferGraph?: Graph;

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
    let p = this.plans.get(batch);
    if (!p) {
      this.inferGraph ??= optimizeForInference(this.graph);
      p = new Plan(this.inferGraph, { batch, training: false });
      p.prepack(0);
      this.plans.set(batch, p);
    }
    return p;
  }

  /** Run x ([batch, ...inputShape], e.g. NCHW) through the model. */
  predict(x: Tensor): Tensor {
    const want = this.inputShape;
    if (x.rank !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) {
      throw new Error(`edgegrad.predict: model '${this.name}' expects input [batch, ${want.join(', ')}], got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new Error(`edgegrad.predict: x must be float32, got ${x.dtype}`);
    const B = x.shape[0];
    const p = this.plan(B);
    const [inId] = p.graph.inputs, [outId] = p.graph.outputs;
    const dst = p.view(inId), src = x.view();
    if (this.inputNchw) {
      const [C, H, W] = want;
      for (let n = 0; n < B; n++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
        dst[((n * H + y) * W + xx) * C + c] = src[((n * C + c) * H + y) * W + xx];
      }
    } else {
      dst.set(src);
    }
    p.run();
    const oshape = p.shapes[outId];
    const out = p.view(outId);
    if (this.outputNchw) {
      const [N, H, W, C] = oshape;
      const t = Tensor.empty([N, C, H, W]);
      const v = t.view();
      for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) {
        v[((n * C + c) * H + y) * W + xx] = out[((n * H + y) * W + xx) * C + c];
      }
      return t;
    }
    const t = Tensor.empty(oshape);
    t.view().set(out);
    return t;
  }

  /** Nodes, parameters, FLOPs per example and planned memory at batch 1. */
  summary(opts: { print?: boolean } = {}): string {
    const p = this.plan(1);
    let flops = 0;
    for (const n of p.graph.nodes) {
      const f = getOp(n.op).flops;
      if (f) flops += f(n.inputs.map((i) => p.shapes[i]), n.outputs.map((o) => p.shapes[o]), n.attrs);
    }
    const params = this.graph.values.filter((v) => v.kind === 'param' || v.kind === 'state').reduce((s, v) => s + sizeOfShape(v.shape), 0);
    const out = [
      `Model: ${this.name} (${this.info.format}, opset ${this.info.opset}, from ${this.info.producer || 'unknown'})`,
      `${p.graph.nodes.length} nodes after inference passes (${this.graph.nodes.length} imported): ${[...new Set(p.graph.nodes.map((n) => n.op))].join(', ')}`,
      `Parameters: ${params}; FLOPs per example: ${flops}; planned activation memory at batch 1: ${p.planBytes} bytes (${p.naiveBytes} without reuse)`,
    ].join('\n');
    if (opts.print !== false) console.log(out);
    return out;
  }

  /** Save as ONNX (a path in Node, Deno, Bun): a temporary file renamed into place. */
  async save(target: string): Promise<void> {
    const io = await import('../io/index.js');
    await io.saveModel({ graph: this.graph, name: this.name, nchwBoundary: this.inputNchw }, target);
  }

  dispose(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }
}
