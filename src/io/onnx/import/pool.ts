// Pooling: MaxPool / AveragePool of one (through oned.ts), two and three spatial axes (ceil_mode as extra
// end padding, count_include_pad as zero padding first), dilated or with MaxPool's Indices through the
// general poolNd op, and GlobalAveragePool.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Pads, Val } from './context.js';
import { poolNdLength } from '../../../ops/pool-nd.js';
import { oneD } from './oned.js';

/**
 * MaxPool / AveragePool. 2-D: the NHWC pool kernel (ceil mode as more end padding: windows clip to the
 * input, so neither max nor an average without its padding sees it). 3-D: two 2-D pools over views of the
 * NDHWC value (depth and height, then width): both kinds are separable per axis, and an average's divisor
 * (in-bounds taps) is the product of each axis's count. Dilations, the Indices output of MaxPool, other
 * ranks, and an average counting its padding in ceil mode: the poolNd op (ops/pool-nd.ts, on the CPU).
 */
function pool(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType, x0 = cx.graphVal(n, 0), r = x0.shape.length - 2;
  const k = cx.ints(n, 'kernel_shape', []);
  if (r < 1 || k.length !== r) cx.unsupported(n, `kernel_shape ${JSON.stringify(k)} for a rank-${x0.shape.length} input`);
  const ones = k.map(() => 1);
  const s = cx.ints(n, 'strides', ones), d = cx.ints(n, 'dilations', ones), size = x0.shape.slice(2);
  if (size.some((v) => v < 1)) cx.unsupported(n, `pooling over the batch dimension of ${formatShape(x0.shape)}`);
  const ceil = cx.int(n, 'ceil_mode', 0) === 1, includePad = op === 'AveragePool' && cx.int(n, 'count_include_pad', 0) === 1;
  const pads = padsNd(cx, n, size, k, s, d);
  const indices = op === 'MaxPool' && !!n.output[1];
  if (indices || d.some((v) => v !== 1) || (includePad && ceil) || r > 3) return poolNd(cx, n, x0, { k, s, d, pads, ceil, includePad, indices });
  // ceil mode: the end pads that give ONNX's output length
  if (ceil) size.forEach((S, i) => { pads[r + i] = Math.max(pads[r + i], (poolNdLength(S, k[i], s[i], 1, pads[i], pads[r + i], true) - 1) * s[i] + k[i] - S - pads[i]); });
  const kind = op === 'MaxPool' ? 'max' : 'avg';
  if (r === 3) return pool3d(cx, n, x0, kind, k, s, pads, includePad);
  let x = cx.mapIn(n);
  const pad: Pads = [[pads[0], pads[2]], [pads[1], pads[3]]];
  if (includePad && pads.some((p) => p > 0)) {
    // the padding counts in every window's mean: pad with zeros first, then average without padding
    const [pid] = cx.g.node('zeroPad2d', [x.id!], { padding: pad.map((p) => p.slice()) }, `${n.name}/pad`);
    x = { id: pid, nhwc: true, shape: cx.mapShape(pid) };
    pad.forEach((p) => p.fill(0));
  }
  const [id] = cx.g.node('pool', [x.id!], { kind, filterSize: k, strides: s, pad }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
}

/** ONNX's pads ([begins..., ends...]) from pads or auto_pad, for any number of spatial axes. */
function padsNd(cx: ImportContext, n: OnnxNode, size: number[], k: number[], s: number[], d: number[]): number[] {
  const r = size.length, auto = cx.str(n, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') return new Array<number>(2 * r).fill(0);
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const tot = size.map((S, i) => Math.max((Math.ceil(S / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - S, 0));
    const small = tot.map((t) => Math.floor(t / 2)), big = tot.map((t, i) => t - small[i]);
    return auto === 'SAME_UPPER' ? [...small, ...big] : [...big, ...small];
  }
  const p = cx.ints(n, 'pads', new Array<number>(2 * r).fill(0));
  if (p.length !== 2 * r || p.some((v) => v < 0)) cx.unsupported(n, `pads ${JSON.stringify(p)} for ${r} spatial axes`);
  return p.slice();
}

/**
 * A 3-D pool as two 2-D ones: [N, C, D, H, W] -> NDHWC viewed [N, D, H, W*C], pooled over (D, H); viewed
 * [N, OD*OH, W, C], pooled over (1, W); back to [N, C, OD, OH, OW]. pads: [begins, ends] (ceil mode's included).
 */
function pool3d(cx: ImportContext, n: OnnxNode, x0: Val, kind: 'max' | 'avg', k: number[], s: number[], pads: number[], includePad: boolean): void {
  const nm = n.name!, node = (op: string, id: number, attrs: Record<string, unknown>, step: string) => cx.g.node(op, [id], attrs, `${nm}/${step}`)[0];
  let id = cx.asPlain(x0, nm).id!;
  let [N, C, D, H, W] = x0.shape;
  const p = pads.slice();
  if (includePad && p.some((v) => v > 0)) {
    // the padding counts in every window's mean: zeros first, then averages without padding
    id = node('pad', id, { pads: [[0, 0], [0, 0], [p[0], p[3]], [p[1], p[4]], [p[2], p[5]]], mode: 'constant', value: 0 }, 'pad');
    [D, H, W] = [D + p[0] + p[3], H + p[1] + p[4], W + p[2] + p[5]];
    p.fill(0);
  }
  id = node('reshape', node('transpose', id, { perm: [0, 2, 3, 4, 1] }, 'ndhwc'), { shape: [N, D, H, W * C] }, 'dh');
  id = node('pool', id, { kind, filterSize: [k[0], k[1]], strides: [s[0], s[1]], pad: [[p[0], p[3]], [p[1], p[4]]] }, 'pool_dh');
  const [, OD, OH] = cx.g.values[id].shape;
  id = node('pool', node('reshape', id, { shape: [N, OD * OH, W, C] }, 'w'), { kind, filterSize: [1, k[2]], strides: [1, s[2]], pad: [[0, 0], [p[2], p[5]]] }, 'pool_w');
  const OW = cx.g.values[id].shape[2];
  id = node('reshape', id, { shape: [N, OD, OH, OW, C] }, 'odhwc');
  const [out] = cx.g.node('transpose', [id], { perm: [0, 4, 1, 2, 3] }, nm);
  cx.set(n, { id: out, shape: [N, C, OD, OH, OW] });
}

/** The general pool (ops/pool-nd.ts) over ONNX's layout, with MaxPool's Indices as output 1 where asked. */
function poolNd(cx: ImportContext, n: OnnxNode, x0: Val, o: { k: number[]; s: number[]; d: number[]; pads: number[]; ceil: boolean; includePad: boolean; indices: boolean }): void {
  const x = cx.asPlain(x0, n.name!);
  const storageOrder = cx.int(n, 'storage_order', 0);
  if (o.indices && storageOrder !== 0 && storageOrder !== 1) cx.unsupported(n, `storage_order ${storageOrder}`);
  const attrs = { kind: n.opType === 'MaxPool' ? 'max' : 'avg', kernel: o.k, strides: o.s, dilations: o.d, pads: o.pads, ceil: o.ceil, countIncludePad: o.includePad, ...(o.indices ? { storageOrder } : {}) };
  const ids = cx.g.node('poolNd', [x.id!], attrs, n.name);
  const shape = cx.g.values[ids[0]].shape.slice();
  cx.set(n, { id: ids[0], shape });
  // the indices are int32 values (poolNd's output 1): typed so, they are an output or a Gather's indices, and
  // an op that would read them as floats refuses them instead of reading their bits
  if (o.indices) cx.set(n, { id: ids[1], shape: shape.slice(), dtype: 'int32' }, 1);
}

function globalAveragePool(cx: ImportContext, n: OnnxNode): void {
  const x0 = cx.graphVal(n, 0);
  if (!x0.nhwc && x0.shape.length === 3) {
    // [N, C, L] (after a Conv1d): the mean over L, kept as [N, C, 1]
    const [N, C] = x0.shape, shape = [N, C, 1];
    const [m] = cx.g.node('reduce', [x0.id!], { op: 'mean', axis: 2 }, `${n.name}/mean`);
    return cx.set(n, { id: cx.g.node('reshape', [m], { shape }, n.name)[0], shape });
  }
  const x = cx.mapIn(n);
  const [gid] = cx.g.node('globalAvgPool', [x.id!], {}, n.name);
  const C = x.shape[1];
  // [N, C] as ONNX's [N, C, 1, 1] (plain; the same bytes as an NHWC [N, 1, 1, C] map)
  const shape = [x.shape[0], C, 1, 1];
  const [id] = cx.g.node('reshape', [gid], { shape }, `${n.name}/nc11`);
  cx.set(n, { id, shape });
}

// (1-D with the Indices output: the general pool itself, whose indices are over [N, C, L] already)
const maxPool1d = oneD({ convert: pool });

export const poolFamily: Family = {
  MaxPool: { convert: (cx, n) => (n.output[1] ? pool(cx, n) : maxPool1d.convert(cx, n)), quantized: 'moves' },
  AveragePool: oneD({ convert: pool }),
  GlobalAveragePool: { convert: globalAveragePool },
};
