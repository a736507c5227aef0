// Float16 weight storage (loadModel's `weights: 'float16'`): the float32 weights (not the biases) of dense layers,
// convolutions and matrix products are rounded to half precision once and kept as halves, two per 32-bit word, so they take
// half the memory of float32 on the backend (a GPU's included); an `unpackHalf` node widens each to float32
// right before its layer (src/ops/half.ts), and the planner reuses that buffer from layer to layer.
// With compute: 'float16' (webgpu, shader-f16) inference plans skip that widening where it pays: ./half-compute.ts,
// loaded only then (a chunk of its own; the classic script, wasm only, has a stand-in that says so).
import { floatToHalf } from '../io/half.js';
import { Tensor, hostCopyOf, keepHostCopy } from '../tensor.js';
import { sizeOfShape, type Graph } from './ir.js';
import { getBackend } from '../backend/index.js';
import { halfPasses } from '../graph-model.js';
import '../ops/half.js'; // the unpackHalf op: registered with this module, which loads only for such models

/** Ops whose weight inputs (every input but the first) are stored as halves. */
const READERS = new Set(['conv2d', 'dense', 'matMul']);
/** Smaller weights (biases, scales) stay float32: they are few bytes, and a bias's precision matters more. */
const MIN_SIZE = 256;

export interface HalfReport {
  /** weights stored as float16, and the bytes they take now and took as float32 */
  weights: number;
  bytes: number;
  float32Bytes: number;
  /** weights that stayed float32, with why */
  kept: Array<{ name: string; reason: string }>;
  /** loadModel's compute: 'float16' asked for f16 arithmetic in inference (computeHalf) */
  compute: 'float32' | 'float16';
  /** the nodes the last inference graph runs in float16, and those whose float16 weights it widens (with why) */
  f16Nodes?: string[];
  widened?: Array<{ name: string; reason: string }>;
}

/**
 * Store g's eligible weights as float16, in place (before any plan is built). compute 'float16' is refused
 * here, at load, where the active backend cannot multiply in f16: an explicit request that a model run in
 * f16 should not quietly run in f32 (its speed and its numbers would not be what was asked for); code that
 * runs anywhere checks `(await eg.ready()).adapter?.f16` and asks only there.
 */
export async function storeHalf(g: Graph, compute: 'float32' | 'float16' = 'float32'): Promise<HalfReport> {
  // (it registers halfPasses.compute, which GraphModel's plans run)
  if (compute === 'float16') (await import('./half-compute.js')).f16Device(getBackend(), 'loadModel');
  const report: HalfReport = { weights: 0, bytes: 0, float32Bytes: 0, kept: [], compute };
  const readers = new Map<number, number[]>();
  indexReaders(g, readers);
  for (const v of [...g.values]) {
    const by = readers.get(v.id);
    if (v.kind !== 'param' || v.dtype !== 'float32' || !v.tensor || v.half || v.int8 || !by) continue;
    const size = sizeOfShape(v.shape);
    // the weight operand itself (a bias, input 2, stays float32)
    if (size < MIN_SIZE || !by.every((i) => READERS.has(g.nodes[i].op) && g.nodes[i].inputs.indexOf(v.id) === 1)) continue;
    const data = v.tensor.backend.syncRead ? v.tensor.dataSync() : hostCopyOf(v.tensor);
    if (!data) { report.kept.push({ name: v.name, reason: 'its values are on a GPU without a host copy' }); continue; }
    const bad = Array.prototype.findIndex.call(data, (x: number) => !(Math.abs(x) <= 65504));
    if (bad >= 0) { report.kept.push({ name: v.name, reason: `value ${data[bad]} (element ${bad}) is beyond float16's range` }); continue; }
    const words = new Int32Array(Math.ceil(size / 2));
    for (let k = 0; k < size; k++) words[k >> 1] |= floatToHalf(data[k]) << ((k & 1) * 16);
    const packed = Tensor.empty([words.length], 'int32', v.tensor.backend);
    packed.write(words);
    keepHostCopy(packed, words);
    const shape = v.shape.slice();
    v.tensor.dispose();
    Object.assign(v, { tensor: packed, shape: [words.length], dtype: 'int32', trainable: false, half: { shape } });
    // the widening node right before the first layer that reads the weight; those layers read its output
    const [u] = g.node('unpackHalf', [v.id], { shape }, `${v.name}/f32`, v.layer);
    const node = g.nodes.pop()!;
    g.nodes.splice(Math.min(...by), 0, node);
    g.nodes.forEach((n, k) => { n.id = k; if (n !== node) n.inputs = n.inputs.map((id) => (id === v.id ? u : id)); });
    indexReaders(g, readers); // the nodes moved
    report.weights++;
    report.bytes += words.length * 4;
    report.float32Bytes += size * 4;
  }
  return report;
}

/** readers: value id -> the indices of the nodes that read it. */
export function indexReaders(g: Graph, readers: Map<number, number[]>): void {
  readers.clear();
  g.nodes.forEach((n, i) => n.inputs.forEach((id) => {
    const r = readers.get(id) ?? [];
    if (!r.includes(i)) r.push(i);
    readers.set(id, r);
  }));
}

/** summary()'s lines: what is stored as float16, and which nodes compute in it. */
function summaryLines(h: HalfReport): string[] {
  const list = (l: Array<{ name: string; reason: string }>) => l.map((k) => `${k.name} (${k.reason})`).join(', ');
  const out = [`Float16 storage: ${h.weights} weights held as float16, ${h.bytes} bytes (${h.float32Bytes} as float32), ${h.f16Nodes ? 'multiplied in float16 where the next line says' : 'widened to float32 layer by layer'}${h.kept.length ? `; float32: ${list(h.kept)}` : ''}`];
  const f = h.f16Nodes;
  if (f) out.push(`Float16 compute (float16 products, float32 sums) in ${f.length} node${f.length === 1 ? '' : 's'}: ${f.join(', ')}${h.widened!.length ? `; widened to float32: ${list(h.widened!)}` : ''}`);
  return out;
}

halfPasses.summary = summaryLines;
