// Float16 compute (loadModel's { weights: 'float16', compute: 'float16' }): on a WebGPU device with shader-f16,
// inference graphs read float16-stored weights in f16 kernels instead of widening them (./half.ts stores
// them; src/ops/half-compute.ts has the ops). Loaded only when asked for.
import type { Backend } from '../backend/index.js';
import type { DeviceHalf } from '../backend/webgpu/half.js';
import { halfPasses } from '../graph-model.js';
import { F16_OPS } from '../ops/half-compute.js';
import { indexReaders, type HalfReport } from './half.js';
import type { Graph, Node } from './ir.js';

/** The backend's f16 kernels, or an error naming why there are none. */
export function f16Device(be: Backend, op: string): DeviceHalf {
  const half = (be as { half?: DeviceHalf }).half;
  if (be.name !== 'webgpu' || !half) {
    throw new Error(`edgegrad.${op}: compute: 'float16' runs on the webgpu backend, and the active one is '${be.name}': call 'await eg.ready({ backend: "webgpu" })' first (or leave compute at 'float32': weights: 'float16' alone works on every backend)`);
  }
  if (!half.f16) {
    const a = (be as { adapter?: { description?: string; device?: string } }).adapter;
    throw new Error(`edgegrad.${op}: compute: 'float16' needs a WebGPU device with 'shader-f16', and this adapter (${a?.description || a?.device || 'unnamed'}) does not offer it: leave compute at 'float32' (weights: 'float16' alone widens each layer's weights to float32)`);
  }
  return half;
}

/** Fewer columns per group than this stay on the widening path (./tiled.ts THIN: a depthwise conv, a matrix-vector product). */
const MIN_COLUMNS = 8;

/** Why a reader of widened weight u (of shape `shape`) cannot read the halves itself, or '' where it can. */
function notF16(g: Graph, r: Node, u: number, shape: readonly number[]): string {
  if (!F16_OPS[r.op] || r.inputs.indexOf(u) !== 1 || r.inputs.lastIndexOf(u) !== 1) return `${r.op} has no float16 kernel for it`;
  let columns: number;
  if (r.op === 'conv2d') {
    const C = g.values[r.inputs[0]].shape[3], G = C / shape[2];
    columns = shape[3] / G;
  } else if (r.op === 'dense') {
    columns = shape[1];
  } else {
    if (shape.length !== 2 || r.attrs.transposeA || r.attrs.transposeB) return 'a transposed or batched product';
    columns = shape[1];
  }
  return columns < MIN_COLUMNS ? `${columns} output column${columns === 1 ? '' : 's'} per group, too few for a tile` : '';
}

/**
 * Float16 compute on an inference graph (an optimizeForInference copy: its nodes are its own): each dense /
 * conv2d / matMul that reads a float16-stored weight through unpackHalf becomes its f16 op
 * (src/ops/half-compute.ts) reading the packed tensor directly, seen with the weight's shape; an unpackHalf
 * nothing reads any more is dropped (no float32 copy of those weights is ever made). Readers with few output
 * columns (depthwise convolutions) keep the widening path. Fills report.f16Nodes and report.widened.
 */
export function computeHalf(g: Graph, be: Backend, report: HalfReport): void {
  f16Device(be, 'predict');
  const readers = new Map<number, number[]>();
  indexReaders(g, readers);
  const f16Nodes: string[] = [], widened: Array<{ name: string; reason: string }> = [], drop = new Set<Node>();
  for (const n of [...g.nodes]) {
    if (n.op !== 'unpackHalf') continue;
    const u = n.outputs[0], shape = n.attrs.shape as number[];
    let packed: number | undefined, left = g.outputs.includes(u);
    for (const r of (readers.get(u) ?? []).map((i) => g.nodes[i])) {
      const why = notF16(g, r, u, shape);
      if (why) { left = true; widened.push({ name: r.name, reason: why }); continue; }
      if (packed === undefined) {
        const { id: _, ...v } = g.values[n.inputs[0]];
        packed = g.value({ ...v, shape: shape.slice() });
      }
      r.inputs[1] = packed;
      r.op = F16_OPS[r.op];
      f16Nodes.push(r.name);
    }
    if (!left) drop.add(n);
  }
  const kept = g.nodes.filter((n) => !drop.has(n));
  g.nodes.length = 0;
  kept.forEach((n, i) => { n.id = i; g.nodes.push(n); });
  Object.assign(report, { f16Nodes, widened });
}

halfPasses.compute = computeHalf;
