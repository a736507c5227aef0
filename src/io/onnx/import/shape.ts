// Ops that move values without computing: Flatten, Reshape, Transpose (layout identities free), Squeeze /
// Unsqueeze, Split, Slice, Concat, Identity and Dropout. A flattened or reshaped map goes through an explicit
// NHWC -> NCHW transpose so the order is ONNX's.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';
import { sliceLength } from '../../../ops/shape.js';

function flatten(cx: ImportContext, n: OnnxNode): void {
  const x0 = cx.graphVal(n, 0), rank = x0.shape.length;
  let axis = cx.int(n, 'axis', 1);
  if (axis < 0) axis += rank;
  if (!(axis >= 0 && axis <= rank)) cx.unsupported(n, `axis ${cx.int(n, 'axis', 1)} of a rank-${rank} value`);
  const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (axis === 1 && x0.shape[0] === -1) {
    const per = prod(x0.shape.slice(1));
    return cx.set(n, x0.nhwc ? cx.flattenMap(n, x0) : rank === 2 ? x0 : { id: cx.g.node('reshape', [x0.id!], { shape: [-1, per] }, n.name)[0], shape: [-1, per] });
  }
  // [d0 ... d(axis-1), d(axis) ...] -> [their products]: the batch (a free first axis) may not merge with others
  if (x0.shape.includes(-1)) cx.unsupported(n, `axis ${axis} of ${formatShape(x0.shape)} merges the batch dimension with other axes`);
  const x = cx.asPlain(x0, n.name!), shape = [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))];
  cx.set(n, { id: cx.g.node('reshape', [x.id!], { shape }, n.name)[0], shape });
}

/**
 * The channel shuffle without leaving NHWC: a map reshaped to [N, g, C/g, H, W] keeps its bytes (a split map,
 * Val.split), its two channel axes transposed only mark a shuffle pending, and the reshape back to
 * [N, C, H, W] is one channelShuffle node (or nothing, if the axes were not swapped). True if it applied.
 */
function splitChannels(cx: ImportContext, n: OnnxNode, target: number[]): boolean {
  const v = cx.vals.get(n.input[0]);
  if (!v || v.id === undefined) return false;
  const dims = target.map((d, i) => (d === 0 ? v.shape[i] : d));
  if (v.nhwc && dims.length === 5) {
    const [, C, H, W] = v.shape;
    const A = dims[1] === -1 ? C / dims[2] : dims[1], B = dims[2] === -1 ? C / dims[1] : dims[2];
    if (!(Number.isInteger(A) && Number.isInteger(B) && A * B === C && dims[3] === H && dims[4] === W && A > 1 && B > 1)) return false;
    cx.set(n, { id: v.id, shape: [v.shape[0], A, B, H, W], split: { groups: A, swapped: false } });
    return true;
  }
  if (v.split && dims.length === 4) {
    const [N, A, B, H, W] = v.shape;
    if (!((dims[1] === A * B || dims[1] === -1) && dims[2] === H && dims[3] === W)) return false;
    const id = v.split.swapped ? cx.g.node('channelShuffle', [v.id], { groups: B }, n.name)[0] : v.id;
    cx.set(n, { id, nhwc: true, shape: [N, A * B, H, W] });
    return true;
  }
  return false;
}

function reshape(cx: ImportContext, n: OnnxNode): void {
  if (splitChannels(cx, n, Array.from(cx.konst(n, 1)))) return;
  const x = cx.asPlain(cx.graphVal(n, 0), n.name!);
  const target = Array.from(cx.konst(n, 1));
  const b = x.shape.indexOf(-1);
  if (b > 0) return reshapeAround(cx, n, x, target, b);
  if (b < 0) {
    // a whole tensor of a fixed shape (no batch): ONNX's rule as it stands (0 copies, -1 takes the rest)
    const total = x.shape.reduce((p, d) => p * d, 1);
    const dims = target.map((d, i) => (d === 0 && !cx.int(n, 'allowzero', 0) ? x.shape[i] : d));
    const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    const shape = dims.map((d) => (d === -1 ? total / known : d));
    if (dims.filter((d) => d === -1).length > 1 || shape.reduce((p, d) => p * d, 1) !== total || shape.some((d) => !Number.isInteger(d) || d < 0)) cx.unsupported(n, `reshape of ${formatShape(x.shape)} to ${JSON.stringify(target)}`);
    const [id] = cx.g.node('reshape', [x.id!], { shape }, n.name);
    return cx.set(n, { id, shape });
  }
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const rest = target.slice(1).map((d, i) => (d === 0 ? x.shape[i + 1] : d));
  const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = rest.map((d) => (d === -1 ? per / known : d));
  if ((target[0] !== -1 && target[0] !== 0 && x.shape[0] !== -1) || resolved.reduce((a, b) => a * b, 1) !== per) {
    cx.unsupported(n, `reshape of ${formatShape(x.shape)} to ${JSON.stringify(target)} (the batch dimension must stay first)`);
  }
  const [id] = cx.g.node('reshape', [x.id!], { shape: [-1, ...resolved] }, n.name);
  cx.set(n, { id, shape: [-1, ...resolved] });
}

/**
 * A reshape of a value whose batch is not its first axis (a time-major RNN's output): the batch stays where
 * it is, copied by a 0 (PyTorch's [0, 0, -1] after a time-major LSTM), and the rest resolves per example.
 */
function reshapeAround(cx: ImportContext, n: OnnxNode, x: Val, target: number[], b: number): void {
  const dims = target.map((d, i) => (d === 0 && !cx.int(n, 'allowzero', 0) ? x.shape[i] : d));
  const per = x.shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const known = dims.reduce((a, d, i) => (d === -1 || i === b ? a : a * d), 1);
  const shape = dims.map((d, i) => (i === b ? -1 : d === -1 ? per / known : d));
  if (target[b] !== 0 || dims.filter((d, i) => d === -1 && i !== b).length > 1 || shape.reduce((a, d) => (d === -1 ? a : a * d), 1) !== per) {
    cx.unsupported(n, `reshape of ${formatShape(x.shape)} to ${JSON.stringify(target)}: the batch (axis ${b} here) must stay where it is (a 0 there)`);
  }
  const [id] = cx.g.node('reshape', [x.id!], { shape }, n.name);
  cx.set(n, { id, shape });
}

function transpose(cx: ImportContext, n: OnnxNode): void {
  const v = cx.vals.get(n.input[0]);
  // the two channel axes of a split map swapped: a shuffle pending (or undone)
  if (v?.split && cx.ints(n, 'perm', []).join(',') === '0,2,1,3,4') {
    const [N, A, B, H, W] = v.shape;
    return cx.set(n, { id: v.id, shape: [N, B, A, H, W], split: { groups: v.split.groups, swapped: !v.split.swapped } });
  }
  const x0 = cx.graphVal(n, 0);
  const p0 = cx.ints(n, 'perm', x0.shape.map((_, i) => x0.shape.length - 1 - i)).join(',');
  // layout identities, free: a map (NHWC bytes) transposed to NHWC is those bytes as a plain tensor,
  // and a plain NHWC tensor transposed to NCHW is a map with the same bytes
  if (x0.nhwc && p0 === '0,2,3,1') return cx.set(n, { id: x0.id, shape: [x0.shape[0], x0.shape[2], x0.shape[3], x0.shape[1]] });
  if (!x0.nhwc && x0.shape.length === 4 && p0 === '0,3,1,2') return cx.set(n, { id: x0.id, nhwc: true, shape: [x0.shape[0], x0.shape[3], x0.shape[1], x0.shape[2]] });
  const x = cx.asPlain(x0, n.name!);
  // any perm: the batch may move (a time-major RNN's [T, batch, F], batch-first again after it)
  const perm = cx.ints(n, 'perm', x.shape.map((_, i) => x.shape.length - 1 - i));
  const [id] = cx.g.node('transpose', [x.id!], { perm }, n.name);
  cx.set(n, { id, shape: cx.plainShape(id) });
}

/** How many axes an Unsqueeze adds (negative axes count from the end of the output). */
function axesCount(n: OnnxNode, cx: ImportContext): number {
  return n.input[1] ? cx.konst(n, 1).length : cx.ints(n, 'axes', []).length;
}

/** Squeeze / Unsqueeze: a reshape (of constants: the same numbers under the new shape) */
function squeeze(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  const v0 = cx.get(n, 0);
  const x = v0.konst ? v0 : cx.asPlain(v0, n.name!);
  const axes = (n.input[1] ? Array.from(cx.konst(n, 1)) : cx.ints(n, 'axes', [])).map((a) => (a < 0 ? a + x.shape.length + (op === 'Unsqueeze' ? axesCount(n, cx) : 0) : a));
  let shape = x.shape.slice();
  if (op === 'Squeeze') shape = shape.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1));
  else for (const a of [...axes].sort((p, q) => p - q)) shape.splice(a, 0, 1);
  // a constant keeps its numbers under its new shape (a bias [C] unsqueezed to [C, 1, 1] broadcasts over a map)
  if (v0.konst) return cx.set(n, { shape, konst: v0.konst });
  if (op === 'Squeeze' && axes.some((a) => x.shape[a] === -1)) cx.unsupported(n, 'squeeze of the batch dimension');
  const [id] = cx.g.node('reshape', [x.id!], { shape }, n.name);
  cx.set(n, { id, shape });
}

function split(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  let axis = cx.int(n, 'axis', 0);
  if (axis < 0) axis += x.shape.length;
  if (x.shape[axis] === -1) cx.unsupported(n, 'splitting the batch dimension');
  const size = x.shape[axis];
  const sizes = n.input[1] ? Array.from(cx.konst(n, 1)) : cx.ints(n, 'split', []);
  const parts = sizes.length ? sizes : new Array(n.output.length).fill(size / n.output.length);
  if (parts.reduce((a, b) => a + b, 0) !== size || parts.some((p) => !Number.isInteger(p))) cx.unsupported(n, `split ${JSON.stringify(parts)} of axis ${axis} (${size})`);
  let start = 0;
  parts.forEach((len, k) => {
    const [id] = cx.g.node('slice', [x.id!], { axis: cx.storageAxis(x, axis), start, end: start + len }, `${n.name}:${k}`);
    cx.set(n, { id, nhwc: x.nhwc, shape: x.shape.map((d, i) => (i === axis ? len : d)) }, k);
    start += len;
  });
}

function slice(cx: ImportContext, n: OnnxNode): void {
  let x = cx.graphVal(n, 0);
  const starts = Array.from(cx.konst(n, 1)), ends = Array.from(cx.konst(n, 2));
  const axes = n.input[3] ? Array.from(cx.konst(n, 3)) : starts.map((_, i) => i);
  const steps = n.input[4] ? Array.from(cx.konst(n, 4)) : starts.map(() => 1);
  axes.forEach((a0, k) => {
    const axis = a0 < 0 ? a0 + x.shape.length : a0, step = steps[k];
    if (!(Number.isInteger(step) && step !== 0)) cx.unsupported(n, `step ${step} (a nonzero integer)`);
    if (x.shape[axis] === -1) cx.unsupported(n, 'slicing the batch dimension');
    const size = x.shape[axis];
    // ONNX's clamping: [0, size] for a positive step; a negative one walks down from at most size - 1 to
    // at least -1 (just before the first)
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + size : v, lo), hi);
    const [lo, hi] = step > 0 ? [0, size] : [-1, size - 1];
    const st = clampIdx(starts[k], 0, hi), en = clampIdx(ends[k], lo, hi);
    const attrs = step === 1 ? { start: st, end: Math.max(st, en) } : { start: st, end: en, step };
    const [id] = cx.g.node('slice', [x.id!], { axis: cx.storageAxis(x, axis), ...attrs }, k === axes.length - 1 ? n.name : `${n.name}/${k}`);
    x = { id, nhwc: x.nhwc, shape: x.shape.map((d, i) => (i === axis ? sliceLength(attrs.start, attrs.end, step) : d)) };
  });
  cx.set(n, x);
}

function concat(cx: ImportContext, n: OnnxNode): void {
  if (n.input.every((_, k) => cx.get(n, k).konst)) {
    // shape arithmetic: join constant vectors
    const parts = n.input.map((_, k) => Array.from(cx.get(n, k).konst!.data));
    return cx.set(n, { shape: [parts.flat().length], konst: { data: Float32Array.from(parts.flat()), int: true } });
  }
  let xs: Val[] = n.input.map((_, k) => cx.graphVal(n, k));
  const rank = xs[0].shape.length;
  let axis = cx.int(n, 'axis', 1);
  if (axis < 0) axis += rank;
  if (xs.some((v) => v.shape[axis] === -1)) cx.unsupported(n, 'concatenation along the batch dimension');
  if (rank === 4 && axis === 1) xs = xs.map((v, k) => cx.asMap(v, `${n.name}/${k}`));
  else xs = xs.map((v, k) => cx.asPlain(v, `${n.name}/${k}`));
  // edgegrad joins the last axis: another axis (the states of stacked time-major RNNs, [dirs, batch, H]) goes last and back
  if (!xs[0].nhwc && axis !== rank - 1) {
    const perm = [...Array(rank).keys()].filter((i) => i !== axis).concat(axis), inv = perm.map((_, i) => perm.indexOf(i));
    const moved = xs.map((v, k) => cx.g.node('transpose', [v.id!], { perm }, `${n.name}/${k}/last`)[0]);
    const [id] = cx.g.node('transpose', [cx.g.node('concat', moved, {}, `${n.name}/join`)[0]], { perm: inv }, n.name);
    return cx.set(n, { id, shape: cx.plainShape(id) });
  }
  if (!(xs[0].nhwc ? axis === 1 : axis === rank - 1)) cx.unsupported(n, `concatenation over axis ${axis} of ${formatShape(xs[0].shape)} (edgegrad joins channels / the last axis)`);
  const [id] = cx.g.node('concat', xs.map((v) => v.id!), {}, n.name);
  cx.set(n, { id, nhwc: xs[0].nhwc, shape: xs[0].nhwc ? cx.mapShape(id) : cx.g.values[id].shape });
}

/** Identity, and Dropout at inference: the input as it stands */
const same = (cx: ImportContext, n: OnnxNode): void => cx.set(n, cx.get(n, 0));

/**
 * Dropout at inference: the identity, and its optional mask output all true (a mask value of 1s, see
 * Val.mask). training_mode (opset 12+, an input known at load) with a ratio of 0 drops nothing: the same.
 * With a ratio above 0 it asks for a random mask drawn at every run, which no two runtimes draw alike (the
 * node tests' expected outputs are one generator's draws): refused, with how to train with dropout here.
 */
function dropout(cx: ImportContext, n: OnnxNode): void {
  const training = !!n.input[2] && cx.konst(n, 2).some((v) => v !== 0);
  // the ratio matters only in training (then it must be known at load)
  const ratio = training ? (n.input[1] ? cx.konst(n, 1)[0] : 0.5) : 0;
  if (training && ratio !== 0) {
    cx.unsupported(n, `training_mode true with ratio ${ratio}: a random mask drawn at every run, which no two runtimes draw alike; edgegrad imports Dropout for inference (and training_mode with ratio 0). To train with dropout, add eg.layers.dropout({ rate: ${ratio} }) to a model: Model.fit draws its mask at every step`);
  }
  const x = cx.get(n, 0);
  cx.set(n, x);
  if (!n.output[1]) return;
  // all true, NaN and infinite inputs included: 1 - step(x * 0) (step of a NaN is 0)
  if (x.id === undefined) cx.unsupported(n, `the mask of a constant input ('${n.input[0]}')`);
  const zero = cx.g.node('mul', [x.id!, cx.scalarParam(`${n.name}/zero`, 0)], {}, `${n.name}/zero`)[0];
  const stepped = cx.g.node('activation', [zero], { activation: 'step', alpha: 0 }, `${n.name}/step`)[0];
  const [id] = cx.g.node('sub', [cx.scalarParam(`${n.name}/one`, 1), stepped], {}, `${n.name}:mask`);
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape, mask: true }, 1);
}

/**
 * Expand of a computed value: ONNX's two-way broadcast to `shape`, as an add of zeros of that shape (the
 * batch's -1, and 1s, broadcast from the value); the same numbers (a -0 becomes +0), with a gradient.
 */
function expand(cx: ImportContext, n: OnnxNode): void {
  const x = cx.asPlain(cx.graphVal(n, 0), n.name!);
  const target = Array.from(cx.konst(n, 1));
  if (target.some((d) => !Number.isInteger(d) || d < -1 || d === 0)) cx.unsupported(n, `shape ${JSON.stringify(target)}`);
  const zshape = target.map((d) => (d === -1 ? 1 : d));
  const zeros = cx.g.param(`${n.name}/zeros`, tensorFrom(new Float32Array(zshape.reduce((a, b) => a * b, 1)), zshape.length ? zshape : [1]), false);
  const [id] = cx.g.node('add', [x.id!, zeros], {}, n.name);
  cx.set(n, { id, shape: cx.plainShape(id) });
}

/** Tile of a computed value: along each repeated axis, copies joined on the last axis between two transposes. */
function tile(cx: ImportContext, n: OnnxNode): void {
  let x = cx.asPlain(cx.graphVal(n, 0), n.name!);
  const reps = Array.from(cx.konst(n, 1)), rank = x.shape.length;
  if (reps.length !== rank || reps.some((r) => !Number.isInteger(r) || r < 1)) cx.unsupported(n, `repeats ${JSON.stringify(reps)} for a rank-${rank} value`);
  reps.forEach((r, a) => {
    if (r === 1) return;
    if (x.shape[a] === -1) cx.unsupported(n, 'repeating the batch dimension');
    const nm = `${n.name}/${a}`, last = a === rank - 1;
    const perm = [...x.shape.keys()].filter((k) => k !== a).concat(a), inv = perm.map((_, i) => perm.indexOf(i));
    const t = last ? x.id! : cx.g.node('transpose', [x.id!], { perm }, `${nm}/last`)[0];
    const c = cx.g.node('concat', new Array(r).fill(t), {}, last ? nm : `${nm}/copies`)[0];
    const id = last ? c : cx.g.node('transpose', [c], { perm: inv }, nm)[0];
    x = { id, shape: x.shape.map((d, k) => (k === a ? d * r : d)) };
  });
  const [id] = cx.g.node('reshape', [x.id!], { shape: x.shape.slice() }, n.name);
  cx.set(n, { id, shape: x.shape });
}

// the order of the quantized-value movers is the order the error message lists them in
export const shapeFamily: Family = {
  Flatten: { convert: flatten, quantized: 'moves' },
  Reshape: { convert: reshape, quantized: 'moves' },
  Transpose: { convert: transpose, quantized: 'moves' },
  Squeeze: { convert: squeeze, quantized: 'moves' },
  Unsqueeze: { convert: squeeze, quantized: 'moves' },
  Identity: { convert: same, quantized: 'moves' },
  Dropout: { convert: dropout },
  Split: { convert: split },
  Slice: { convert: slice },
  Concat: { convert: concat },
  Expand: { convert: expand },
  Tile: { convert: tile },
};
