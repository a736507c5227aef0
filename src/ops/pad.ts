// Padding of any rank and layout (ONNX Pad): a constant value, or the edge or mirror ('reflect': the
// border row not repeated) values, on any axes but a batch. Data movement only, out of the strided-copy,
// fill and axpy kernels every backend has: the interior is one copy, then each padded axis in turn copies
// its source rows into the padding (over the axes before it in full, so corners come out right). The
// gradient undoes the axes in reverse: the interior's gradient plus, for edge and reflect, each padding
// row's gradient added onto the row it was copied from. Integers (an int32 value) move as they are.
import { registerOp, type RunContext } from '../graph/registry.js';
import { sizeOfShape, type Shape } from '../graph/ir.js';
import { fail, formatShape } from './util.js';

export type PadMode = 'constant' | 'edge' | 'reflect';

/** Row-major strides (elements). */
function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  for (let i = shape.length - 1, k = 1; i >= 0; i--) { st[i] = k; k *= shape[i]; }
  return st;
}

/** dst[i . ds] = src[i . ss] over `shape` (handles, element strides); axes of extent 1 dropped. */
function copy(ctx: RunContext, shape: number[], src: number, ss: number[], dst: number, ds: number[]): void {
  if (sizeOfShape(shape) === 0) return;
  const keep = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const pick = (a: number[]) => (keep.length ? keep.map((i) => a[i]) : [1]);
  if (keep.length > 8) fail('pad', `${formatShape(shape)} has more than 8 axes`);
  const sh = pick(shape);
  ctx.be.kernels.stridedCopy(sh.length, ctx.be.descriptor([...sh, ...pick(ss), ...pick(ds)]), src, dst);
}

/** The row of the unpadded axis (0..L-1) that padding row p (0..before+L+after-1) copies, or -1 (constant). */
export function padSource(p: number, before: number, L: number, mode: PadMode): number {
  const i = p - before;
  if (i >= 0 && i < L) return i;
  if (mode === 'constant') return -1;
  if (mode === 'edge') return i < 0 ? 0 : L - 1;
  return i < 0 ? -i : 2 * (L - 1) - i;
}

function check(x: Shape, pads: Array<[number, number]>, mode: PadMode, node: string): void {
  if (pads.length !== x.length) fail('pad', `node '${node}': ${pads.length} pads for ${formatShape(x)}`);
  pads.forEach(([b, e], a) => {
    if (!(Number.isInteger(b) && Number.isInteger(e) && b >= 0 && e >= 0)) fail('pad', `node '${node}': pads [${b}, ${e}] of axis ${a} (non-negative integers)`);
    if ((b || e) && x[a] === -1) fail('pad', `node '${node}': padding axis ${a} of ${formatShape(x)}, the batch dimension`);
    if ((b || e) && mode === 'edge' && x[a] < 1) fail('pad', `node '${node}': edge padding of the empty axis ${a} of ${formatShape(x)}`);
    if ((b || e) && mode === 'reflect' && Math.max(b, e) > x[a] - 1) fail('pad', `node '${node}': reflect padding of ${Math.max(b, e)} on axis ${a} of ${formatShape(x)} (at most ${x[a] - 1}, the axis length - 1)`);
  });
}

registerOp({
  name: 'pad',
  // attrs: pads [[before, after], ...] per axis of the stored value, mode, value (constant mode)
  infer([x], a, node) {
    const pads = a.pads as Array<[number, number]>;
    check(x, pads, a.mode as PadMode, node);
    return [x.map((d, i) => (d === -1 ? -1 : d + pads[i][0] + pads[i][1]))];
  },
  outputDtype: (_k, [x]) => x ?? 'float32',
  run(ctx, n) {
    const xs = ctx.shape(n.inputs[0]), pads = n.attrs.pads as Array<[number, number]>, mode = n.attrs.mode as PadMode;
    const ys = xs.map((d, i) => d + pads[i][0] + pads[i][1]), yst = strides(ys);
    const x = ctx.ptr(n.inputs[0]), y = ctx.ptr(n.outputs[0]);
    const at = (idx: number[]) => y + idx.reduce((s, v, i) => s + v * yst[i], 0) * 4;
    if (mode === 'constant' && sizeOfShape(ys) > sizeOfShape(xs)) ctx.be.kernels.fillValue(sizeOfShape(ys), y, n.attrs.value as number);
    copy(ctx, xs, x, strides(xs), at(pads.map((p) => p[0])), yst);
    if (mode === 'constant') return;
    // axis a: its padding rows, over the axes before it in full and the ones after it on their interior
    pads.forEach(([b, e], a) => {
      if (!b && !e) return;
      const region = ys.map((d, i) => (i < a ? d : i === a ? 1 : xs[i]));
      const start = pads.map((p, i) => (i < a ? 0 : p[0]));
      for (let p = 0; p < b + xs[a] + e; p++) {
        if (p >= b && p < b + xs[a]) continue;
        const row = (r: number) => at(start.map((s, i) => (i === a ? r : s)));
        copy(ctx, region, row(b + padSource(p, b, xs[a], mode)), yst, row(p), yst);
      }
    });
  },
  grad(n, [dy], b) {
    const pads = n.attrs.pads as Array<[number, number]>, mode = n.attrs.mode as PadMode;
    if (mode === 'constant') return [b.node('padGrad', [dy!], { pads, mode }, `${n.name}_grad`)[0]];
    // one axis at a time, the last padded first (the forward pass padded them in order)
    let g = dy!;
    for (let a = pads.length - 1; a >= 0; a--) {
      if (!pads[a][0] && !pads[a][1]) continue;
      const one = pads.map((p, i): [number, number] => (i === a ? [p[0], p[1]] : [0, 0]));
      g = b.node('padGrad', [g], { pads: one, mode }, `${n.name}_grad${a}`)[0];
    }
    return [g];
  },
  flops: (_i, [y]) => sizeOfShape(y),
});

registerOp({
  name: 'padGrad',
  // the gradient of the interior; edge / reflect (one padded axis): plus each padding row's, on its source row
  infer([dy], a) {
    const pads = a.pads as Array<[number, number]>;
    return [dy.map((d, i) => (d === -1 ? -1 : d - pads[i][0] - pads[i][1]))];
  },
  run(ctx, n) {
    const ys = ctx.shape(n.inputs[0]), pads = n.attrs.pads as Array<[number, number]>, mode = n.attrs.mode as PadMode;
    const xs = ys.map((d, i) => d - pads[i][0] - pads[i][1]), yst = strides(ys), xst = strides(xs);
    const dy = ctx.ptr(n.inputs[0]), dx = ctx.ptr(n.outputs[0]);
    copy(ctx, xs, dy + pads.reduce((s, p, i) => s + p[0] * yst[i], 0) * 4, yst, dx, xst);
    if (mode === 'constant') return;
    const a = pads.findIndex((p) => p[0] || p[1]);
    if (a < 0) return;
    const [b, e] = pads[a], L = xs[a];
    const outer = sizeOfShape(xs.slice(0, a)), inner = sizeOfShape(xs.slice(a + 1));
    for (let o = 0; o < outer; o++) {
      for (let p = 0; p < b + L + e; p++) {
        if (p >= b && p < b + L) continue;
        const s = padSource(p, b, L, mode);
        ctx.be.kernels.axpy(inner, 1, dy + ((o * (b + L + e) + p) * inner) * 4, dx + ((o * L + s) * inner) * 4);
      }
    }
  },
});
