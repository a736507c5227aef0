// After conversion: QDQ models' convolutions and dense layers onto int8 kernels, and the quantization report.
import type { Graph, Node } from '../../../graph/ir.js';
import type { QWeights } from '../../../ops/quant.js';
import type { QuantizationReport } from '../../../quantize/index.js';

/**
 * QDQ -> int8 kernels: a conv2d (groups 1, or depthwise: groups = input channels) or dense whose input is a u8 fake-quantize and whose weights
 * came from int8 DequantizeLinear (per output channel, zero points 0) runs as qconv2d / qdense on the
 * quantized input (host: the data of a constant value where the importer holds it). Returns the report of what runs int8 and what stays float, or undefined for a float model.
 */
export function int8FromQdq(g: Graph, host: (id: number) => Float32Array | undefined = () => undefined): QuantizationReport | undefined {
  const producer = new Map<number, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const nodes: QuantizationReport['nodes'] = [];
  let any = false;
  g.nodes.forEach((n, i) => {
    if (n.op === 'fakeQuant') any = true;
    if (n.op === 'qconv2d' || n.op === 'qdense') { any = true; nodes.push({ name: n.name, op: n.op === 'qconv2d' ? 'conv2d' : 'dense', as: 'int8', input: (n.attrs.q as QWeights).input }); return; }
    if (n.op !== 'conv2d' && n.op !== 'dense') return;
    const w = g.values[n.inputs[1]], fq = producer.get(n.inputs[0]);
    if (w.int8) any = true;
    const why = !w.int8 ? 'float weights' : fq?.op !== 'fakeQuant' || fq.attrs.qmin !== 0 || fq.attrs.qmax !== 255 ? 'its input is not u8-quantized'
      : n.op === 'conv2d' && g.values[n.inputs[0]].shape[3] !== w.shape[2] && w.shape[2] !== 1
        ? `grouped convolution (${g.values[n.inputs[0]].shape[3] / w.shape[2]} groups of ${w.shape[2]} channels): no int8 kernel` : undefined;
    if (why) { nodes.push({ name: n.name, op: n.op, as: 'float32', reason: why }); return; }
    const K = w.shape.slice(0, -1).reduce((a, b) => a * b, 1), N = w.shape[w.shape.length - 1];
    const input = { scale: fq!.attrs.scale as number, zeroPoint: fq!.attrs.zeroPoint as number };
    // the bias from the importer's own copy (weights made on a GPU read back only asynchronously)
    const b = n.inputs[2];
    const bias = b !== undefined ? host(b) ?? g.values[b].tensor!.dataSync() as Float32Array : undefined;
    const q: QWeights = { w: w.int8!.w, K, N, scale: w.int8!.scale, bias, input, filterShape: n.op === 'conv2d' ? w.shape.slice() : undefined };
    g.nodes[i] = { ...n, op: n.op === 'conv2d' ? 'qconv2d' : 'qdense', inputs: [fq!.inputs[0]], attrs: { ...n.attrs, q } };
    nodes.push({ name: n.name, op: n.op, as: 'int8', input });
  });
  if (!any) return undefined;
  // fake-quantize nodes that only fed int8 nodes are dead now
  const used = new Set(g.nodes.flatMap((n) => n.inputs).concat(g.outputs));
  for (let i = g.nodes.length - 1; i >= 0; i--) if (g.nodes[i].op === 'fakeQuant' && !used.has(g.nodes[i].outputs[0])) g.nodes.splice(i, 1);
  g.nodes.forEach((nd, k) => { nd.id = k; });
  return { weights: 'int8', activations: nodes.some((x) => x.as === 'int8') ? 'int8' : 'float32', nodes };
}
