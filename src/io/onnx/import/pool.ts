// Pooling: MaxPool / AveragePool (ceil_mode as extra bottom / right padding, count_include_pad as zero
// padding first; one-dimensional ones through oned.ts) and GlobalAveragePool.
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Pads } from './context.js';
import { oneD } from './oned.js';

function pool(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  let x = cx.mapIn(n);
  const k = cx.ints(n, 'kernel_shape', []), s = cx.ints(n, 'strides', [1, 1]);
  if (cx.ints(n, 'dilations', [1, 1]).some((d) => d !== 1)) cx.unsupported(n, 'dilated pooling');
  const pad = cx.padsOf(n, x.shape[2], x.shape[3], k, s, [1, 1]);
  if (cx.int(n, 'ceil_mode', 0)) {
    if (op !== 'MaxPool') cx.unsupported(n, 'ceil_mode 1 for average pooling');
    ceilPads(pad, x.shape, k, s);
  }
  if (op === 'AveragePool' && cx.int(n, 'count_include_pad', 0) && pad.flat().some((p) => p > 0)) {
    // the padding counts in every window's mean: pad with zeros first, then average without padding
    if (cx.int(n, 'ceil_mode', 0)) cx.unsupported(n, 'count_include_pad 1 with ceil_mode 1');
    const [pid] = cx.g.node('zeroPad2d', [x.id!], { padding: pad.map((p) => p.slice()) }, `${n.name}/pad`);
    x = { id: pid, nhwc: true, shape: cx.mapShape(pid) };
    pad.forEach((p) => p.fill(0));
  }
  const [id] = cx.g.node('pool', [x.id!], { kind: op === 'MaxPool' ? 'max' : 'avg', filterSize: k, strides: s, pad }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
}

/**
 * ceil mode = more bottom/right padding: windows are clipped to the input, so max pooling never sees it;
 * the last window must start inside the input or the left padding (PyTorch's rule). Updates pad.
 */
function ceilPads(pad: Pads, shape: number[], k: number[], s: number[]): void {
  [0, 1].forEach((a) => {
    const size = shape[2 + a], [b0, b1] = pad[a];
    let out = Math.ceil((size + b0 + b1 - k[a]) / s[a]) + 1;
    if ((out - 1) * s[a] >= size + b0) out--;
    pad[a][1] = Math.max(b1, (out - 1) * s[a] + k[a] - size - b0);
  });
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

export const poolFamily: Family = {
  MaxPool: oneD({ convert: pool, quantized: 'moves' }),
  AveragePool: oneD({ convert: pool }),
  GlobalAveragePool: { convert: globalAveragePool },
};
