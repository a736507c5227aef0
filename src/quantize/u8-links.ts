// u8 between consecutive int8 layers, at plan time. A qconv2d / qdense computes f32 (its dequantized output),
// and the next int8 layer quantizes that f32 to u8 by its input's scale and zero point: twice the work and
// four bytes a value through memory for one byte of information. Where every reader of an int8 layer's output
// is an int8 layer that quantizes it the same way, the producer quantizes in its own epilogue (QOUT_U8F,
// assembly/gemm_i8.ts: the same f32 operations, so the same bytes) and its readers take the u8 as it is.
// The graph a model stores (and exports) keeps f32 between the layers; only the inference plan's copy
// (GraphModel.plan) is linked, so nothing else ever reads a u8 value as f32.
import type { Graph, Node } from '../graph/ir.js';
import type { ActQuant, QWeights } from '../ops/quant.js';
import { int8Passes } from '../graph-model.js';

const INT8_OPS = new Set(['qconv2d', 'qdense']);

const sameQuant = (a: ActQuant, b: ActQuant) => a.scale === b.scale && a.zeroPoint === b.zeroPoint;

/**
 * Marks in g (an inference copy: its nodes' attrs are replaced, not edited) each int8 node whose output only
 * int8 nodes read, as their sole input and with one quantization: attrs.outQ (that quantization) on the
 * producer, attrs.inU8 on the readers. A graph output, a raw (i32) node or a float reader keeps f32. Returns
 * how many values became u8.
 */
export function linkU8(g: Graph): number {
  const readers = new Map<number, Node[]>();
  for (const n of g.nodes) for (const i of n.inputs) (readers.get(i) ?? readers.set(i, []).get(i)!).push(n);
  const outs = new Set(g.outputs);
  // earlier links (a graph linked before) are recomputed from scratch
  for (const n of g.nodes) {
    if (INT8_OPS.has(n.op) && ('outQ' in n.attrs || 'inU8' in n.attrs)) {
      const { outQ: _o, inU8: _i, ...rest } = n.attrs;
      n.attrs = rest;
    }
  }
  let links = 0;
  for (const n of g.nodes) {
    if (!INT8_OPS.has(n.op) || (n.attrs.q as QWeights).raw || n.outputs.length !== 1) continue;
    const v = n.outputs[0], rs = readers.get(v) ?? [];
    if (outs.has(v) || rs.length === 0) continue;
    const ok = rs.every((r) => INT8_OPS.has(r.op) && r.inputs.length === 1 && r.inputs[0] === v && !(r.attrs.q as QWeights).raw);
    if (!ok) continue;
    const yq = (rs[0].attrs.q as QWeights).input;
    if (!rs.every((r) => sameQuant((r.attrs.q as QWeights).input, yq))) continue;
    n.attrs = { ...n.attrs, outQ: { scale: yq.scale, zeroPoint: yq.zeroPoint } };
    for (const r of rs) r.attrs = { ...r.attrs, inU8: true };
    links++;
  }
  return links;
}

int8Passes.linkU8 = linkU8;
