// A compiled plan: a graph with every shape resolved for one batch size, and every intermediate value
// placed in one arena block by liveness (values whose lifetimes do not overlap share bytes). Plan once,
// allocate once, run many times. Parameters and state live in their own persistent tensors.
import type { Backend, Evictable } from '../backend/index.js';
import { getBackend } from '../backend/index.js';
import { backendLabel, readyCall } from './finite.js';
import { Tensor } from '../tensor.js';
import { type Graph, resolve, sizeOfShape } from './ir.js';
import { getOp, type RunContext } from './registry.js';

const ALIGN = 64;

/**
 * A plan's arena blocks (its value block and packs): scratch between runs, so the backend may evict them
 * under memory pressure (the plan takes them again on next use), and they are freed when a plan is
 * collected without dispose(). It never points back at its plan.
 */
class PlanMemory implements Evictable {
  ptrs: number[] = [];
  lastUse = 0;
  constructor(readonly be: Backend, readonly bytes: number) {}
  residentBytes(): number { return this.ptrs.length ? this.bytes : 0; }
  evict(): void {
    for (const p of this.ptrs) this.be.free(p);
    this.ptrs = [];
  }
}
const plans = new FinalizationRegistry<PlanMemory>((m) => { m.be.forget(m); m.evict(); });

/** Versions only grow, so their sum changes whenever one of them does. */
function versionSum(ts: readonly Tensor[]): number {
  let s = 0;
  for (const t of ts) s += t.version;
  return s;
}

export interface PlanOptions {
  batch: number;
  training: boolean;
  /** Dropout active (default: as training); true at inference gives Monte-Carlo dropout. */
  dropout?: boolean;
  /** Values that must survive to the end of a run (outputs, gradients), beyond their last use. */
  keep?: number[];
}

/**
 * Where each intermediate value of `graph` goes in one arena block at this batch size: lifetimes in node
 * indices (graph inputs written before node 0; outputs and `keep` alive to the end), then greedily by size,
 * each buffer at the lowest offset free of every placed buffer it is alive with. No memory is touched: the
 * planner's answer alone (what a memory budget is checked against).
 */
export function placeValues(graph: Graph, batch: number, keep: readonly number[] = []): { offsets: Map<number, number>; total: number; naive: number } {
  const shapes = graph.values.map((v) => resolve(v.shape, batch));
  const first = new Map<number, number>(), last = new Map<number, number>();
  for (const id of graph.inputs) { first.set(id, -1); last.set(id, -1); }
  graph.nodes.forEach((n, i) => {
    for (const o of n.outputs) { first.set(o, i); last.set(o, Math.max(last.get(o) ?? i, i)); }
    for (const x of n.inputs) last.set(x, Math.max(last.get(x) ?? i, i));
  });
  const end = graph.nodes.length;
  for (const id of [...graph.outputs, ...keep]) last.set(id, end);
  const bytes = (id: number) => Math.ceil(sizeOfShape(shapes[id]) * 4 / ALIGN) * ALIGN;
  // in-place ops (OpSpec.inPlace): an output takes its input's buffer where the input dies at that node;
  // a chain of them is one buffer, alive from the first value's birth to the last one's death
  const root = new Map<number, number>();
  const rootOf = (id: number): number => { let r = id; while (root.has(r)) r = root.get(r)!; return r; };
  graph.nodes.forEach((n, i) => {
    const claimed = new Set<number>();
    for (const [k, j] of getOp(n.op).inPlace?.(n) ?? []) {
      const out = n.outputs[k], inp = n.inputs[j];
      if (out === undefined || inp === undefined || graph.values[inp].kind !== 'node' || last.get(inp) !== i || claimed.has(inp)) continue;
      // read only there (the kernel reads each element before writing it), and the same size
      if (n.inputs.indexOf(inp) !== j || n.inputs.lastIndexOf(inp) !== j || bytes(out) !== bytes(inp) || root.has(out)) continue;
      const r = rootOf(inp);
      claimed.add(inp);
      root.set(out, r);
      last.set(r, Math.max(last.get(r)!, last.get(out)!));
    }
  });
  const items = [...first.keys()]
    .filter((id) => (graph.values[id].kind === 'node' || graph.values[id].kind === 'input') && !root.has(id))
    .map((id) => ({ id, size: bytes(id), from: first.get(id)!, to: last.get(id)! }));
  const naive0 = items.reduce((s, it) => s + it.size, 0);
  // greedy placement in a few orders (largest first; longest-lived first; what lives to the end first), each
  // at the lowest offset that fits and in the smallest gap that fits, the smallest
  // arena kept: no order is best for every graph, and a training step's gaps differ from inference's
  const orders: Array<(a: Item, b: Item) => number> = [
    (a, b) => b.size - a.size || a.from - b.from,
    (a, b) => (b.to - b.from) - (a.to - a.from) || b.size - a.size,
    // what lives to the end (gradients, outputs) at the bottom, out of the way of the rest
    (a, b) => Number(b.to === end) - Number(a.to === end) || b.size - a.size || a.from - b.from,
  ];
  let best: { offsets: Map<number, number>; total: number } | undefined;
  for (const order of orders) {
    for (const bestFit of [false, true]) {
      const r = placeInOrder(items.slice().sort(order), bestFit);
      if (!best || r.total < best.total) best = r;
    }
  }
  const { offsets, total } = best!;
  let naive = naive0;
  for (const id of root.keys()) { offsets.set(id, offsets.get(rootOf(id))!); naive += bytes(id); }
  return { offsets, total, naive };
}

/** A buffer to place: its bytes, and the first and last node index it is alive at (both inclusive). */
export interface Item { id: number; size: number; from: number; to: number }

/**
 * Each buffer, in this order, at the lowest offset free of every placed buffer alive with it (bestFit: in
 * the smallest such gap that holds it, else on top). The placed buffers are kept sorted by offset, so each
 * new one walks them once in that order, passing over those not alive with it: no list to build and sort
 * per buffer (ten times faster on a MobileNetV2 step's 800 buffers, the same offsets).
 */
export function placeInOrder(items: readonly Item[], bestFit = false): { offsets: Map<number, number>; total: number } {
  const placed: Array<{ off: number; size: number; from: number; to: number }> = [];
  const offsets = new Map<number, number>();
  let total = 0;
  for (const it of items) {
    let off = 0, gap = Infinity, at = -1;
    for (const p of placed) {
      if (p.from > it.to || it.from > p.to) continue;
      if (off + it.size <= p.off) {
        if (!bestFit) break;
        if (p.off - off < gap) { gap = p.off - off; at = off; }
      }
      off = Math.max(off, p.off + p.size);
    }
    if (bestFit && at >= 0) off = at;
    // after the placed buffers at or below this offset
    let lo = 0, hi = placed.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (placed[mid].off <= off) lo = mid + 1; else hi = mid; }
    placed.splice(lo, 0, { off, size: it.size, from: it.from, to: it.to });
    offsets.set(it.id, off);
    total = Math.max(total, off + it.size);
  }
  return { offsets, total };
}

export class Plan {
  readonly be: Backend;
  readonly shapes: number[][];
  /** Bytes of the planned arena block (all intermediate values, reused by liveness). */
  readonly planBytes: number;
  /** Bytes the same values would take without reuse. */
  readonly naiveBytes: number;
  private readonly offsets = new Map<number, number>();
  private base = 0;
  private readonly ctx: RunContext;
  /** node id -> what its op's prepare hook made of its weights (inference plans, once per weight version) */
  private readonly packs = new Map<number, number>();
  private packedVersion = -1;
  /** Bytes of each prepared copy, to allocate them again after an eviction. */
  private readonly packBytes = new Map<number, number>();
  /** The weights the prepared copies are made from. */
  private packSources: Tensor[] = [];
  /** The persistent tensors this plan reads (weights, state), paged in before each run. */
  private readonly tensors: Tensor[];
  private disposed = false;
  private readonly blockBytes: number;
  private readonly mem: PlanMemory;
  /** Weights that folded copies in this graph were computed from, and the sum of their versions then. */
  private readonly derivedFrom: Tensor[];
  private readonly derivedVersion: number;
  /** Persistent tensors that nodes write in place in this mode (moving statistics): versions bumped per run. */
  private readonly mutated: Tensor[] = [];

  constructor(readonly graph: Graph, readonly opts: PlanOptions) {
    this.be = getBackend();
    const { batch } = opts;
    this.shapes = graph.values.map((v) => resolve(v.shape, batch));
    const { offsets, total, naive } = placeValues(graph, batch, opts.keep);
    for (const [id, off] of offsets) this.offsets.set(id, off);
    this.derivedFrom = [...new Set(graph.values.flatMap((v) => v.sources ?? []))];
    this.derivedVersion = versionSum(this.derivedFrom);
    for (const n of graph.nodes) {
      for (const k of getOp(n.op).mutates?.(n, opts.training) ?? []) this.mutated.push(graph.values[n.inputs[k]].tensor!);
    }
    this.planBytes = total;
    this.naiveBytes = naive;
    this.blockBytes = Math.max(total, ALIGN);
    this.tensors = [...new Set(graph.values.filter((v) => v.tensor).map((v) => v.tensor!))];
    const foreign = graph.values.find((v) => v.tensor && v.tensor.backend !== this.be);
    if (foreign) {
      const where = `weight '${foreign.name}'${foreign.layer ? ` of layer '${foreign.layer}'` : ''}`;
      // a device lost since: its memory is gone; the weights' host copies are what is left
      if ((foreign.tensor!.backend as { lost?: string }).lost) {
        throw new Error(`edgegrad: ${where} lived on a WebGPU device that was lost: read the weights (await w.data()), then build or load the model again after eg.ready() and setWeights with them`);
      }
      throw new Error(`edgegrad: ${where} lives on backend '${backendLabel(foreign.tensor!.backend)} but the active one is '${backendLabel(this.be)}: run the model there after ${readyCall(foreign.tensor!.backend)} (its inputs made or moved there), or build or load it after eg.ready({ backend: '${this.be.name}' }) and setWeights with its values there (or save it and load it there)`);
    }
    const self = this;
    this.ctx = {
      be: this.be,
      training: opts.training,
      dropout: opts.dropout ?? opts.training,
      shape: (id) => self.shapes[id],
      ptr: (id) => self.ptr(id),
      // prepared copies only once prepack() has filled them; until then a node runs from its weights
      prepared: (id) => (self.packedVersion >= 0 ? self.packs.get(id) ?? 0 : 0),
    };
    if (!opts.training) {
      // Weights are constant between training steps, so inference plans let ops prepare them once (the
      // dense layer's GEMM panels) where the op has a prepare hook and its weights are parameters.
      const shape = (id: number): number[] => this.shapes[id];
      for (const n of graph.nodes) {
        const hook = getOp(n.op).prepare;
        const weights = hook?.inputs.map((k) => graph.values[n.inputs[k]]) ?? [];
        if (!hook || weights.some((v) => v?.kind !== 'param')) continue;
        const bytes = hook.bytes(this.be, shape, n);
        if (bytes <= 0) continue;
        this.packBytes.set(n.id, bytes);
        this.packSources.push(...weights.map((v) => v.tensor!));
      }
      this.packSources = [...new Set(this.packSources)];
    }
    this.mem = new PlanMemory(this.be, this.blockBytes + [...this.packBytes.values()].reduce((a, b) => a + b, 0));
    plans.register(this, this.mem, this);
    this.takeBlocks();
  }

  /** Allocate the value block and the packs (at construction, and again after an eviction). */
  private takeBlocks(): void {
    this.base = this.be.alloc(this.blockBytes);
    for (const [id, bytes] of this.packBytes) this.packs.set(id, this.be.alloc(bytes));
    this.mem.ptrs = [this.base, ...this.packs.values()];
    this.mem.lastUse = this.be.tick;
    this.be.track(this.mem);
  }

  /** Make the plan's memory resident again (after an eviction) and mark it used. */
  ensure(): void {
    if (this.disposed) throw new Error('edgegrad: internal: a disposed plan was used');
    this.mem.lastUse = this.be.tick;
    if (this.mem.ptrs.length) return;
    // evicted: take the blocks again (what they held was scratch), and repack before packed weights are used
    this.takeBlocks();
    this.packedVersion = -1;
  }

  /**
   * Whether a weight that this plan's folded copies were computed from has changed since (trained here or
   * in another model that shares it, setWeights): the plan must be rebuilt.
   */
  get stale(): boolean {
    // or built for another backend than the active one: rebuilding says where the weights live
    return this.be !== getBackend() || versionSum(this.derivedFrom) !== this.derivedVersion;
  }

  /** Run the ops' prepare hooks on the weights, unless they ran for the weights' current versions already. */
  prepack(): void {
    this.ensure();
    const version = versionSum(this.packSources);
    if (version === this.packedVersion) return;
    for (const [id, dst] of this.packs) getOp(this.graph.nodes[id].op).prepare!.run(this.ctx, this.graph.nodes[id], dst);
    this.packedVersion = version;
  }

  ptr(id: number): number {
    const v = this.graph.values[id];
    if (v.tensor) return v.tensor.ptr;
    const off = this.offsets.get(id);
    if (off === undefined) throw new Error(`edgegrad: value '${v.name}' has no planned buffer`);
    this.ensure();
    return this.base + off;
  }

  /** A live view of a planned value (invalid after any allocation). */
  view(id: number): Float32Array {
    return this.be.f32(this.ptr(id), sizeOfShape(this.shapes[id]));
  }

  viewI32(id: number): Int32Array {
    return this.be.i32(this.ptr(id), sizeOfShape(this.shapes[id]));
  }

  run(): void {
    const release = this.begin();
    try {
      for (const n of this.graph.nodes) getOp(n.op).run(this.ctx, n);
    } finally {
      release();
    }
    for (const t of this.mutated) t.version++;
  }

  /**
   * Before the kernels run: the plan's memory and every weight it reads are resident (paged in now, so no
   * kernel call allocates), and nothing is evicted until the run ends.
   */
  private begin(): () => void {
    const release = this.be.hold();
    this.ensure();
    for (const t of this.tensors) void t.ptr;
    return release;
  }

  /** Run once, timing each node (for profiling; the timer itself costs a little per node). */
  runProfiled(): Array<{ node: string; op: string; ms: number }> {
    const release = this.begin();
    try {
      return this.graph.nodes.map((n) => {
        const t0 = performance.now();
        getOp(n.op).run(this.ctx, n);
        return { node: n.name, op: n.op, ms: performance.now() - t0 };
      });
    } finally {
      release();
    }
  }

  /** A tensor holding a copy of a planned value. */
  read(id: number): Tensor {
    const t = Tensor.empty(this.shapes[id], this.graph.values[id].dtype);
    this.be.copy(t.ptr, this.ptr(id), t.size * 4);
    return t;
  }

  dispose(): void {
    if (this.disposed) return;
    plans.unregister(this);
    this.be.forget(this.mem);
    this.mem.evict();
    this.packs.clear();
    this.disposed = true;
  }
}
