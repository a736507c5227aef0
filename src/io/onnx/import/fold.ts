// Constant folding at import: a node whose inputs are all constants (initializers, Constant nodes, Shape of
// a static shape, or folded nodes before it) is evaluated once, here, in float64 with ONNX's semantics
// (numpy broadcasting; integer division truncates), and its outputs become constants. Exporters compute
// channel splits, reshape targets and padding from Shape through this kind of arithmetic.
import { formatShape } from '../../../tensor.js';
import { FLOAT, type OnnxNode } from '../proto.js';
import type { ImportContext, Val } from './context.js';
import { fail } from './errors.js';
import { MAX_ELEMENTS, tensorData } from './tensor.js';
import { castValues } from './constant.js';

interface K { data: Float64Array | Float32Array; shape: number[]; int: boolean }
type Folder = (cx: ImportContext, n: OnnxNode, ins: Array<K | undefined>) => K | K[];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const strides = (s: readonly number[]) => { const r = new Array<number>(s.length); let p = 1; for (let i = s.length - 1; i >= 0; i--) { r[i] = p; p *= s[i]; } return r; };

function bad(cx: ImportContext, n: OnnxNode, why: string): never {
  return cx.unsupported(n, `constant folding: ${why}`);
}

function checkSize(cx: ImportContext, n: OnnxNode, shape: number[]): number[] {
  if (shape.some((d) => !(Number.isInteger(d) && d >= 0)) || size(shape) > MAX_ELEMENTS) bad(cx, n, `result shape ${formatShape(shape)} is not a valid size (at most ${MAX_ELEMENTS} elements)`);
  return shape;
}

/** numpy broadcasting of several shapes */
function broadcastShape(cx: ImportContext, n: OnnxNode, shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v !== 1 && d !== 1 && v !== d) bad(cx, n, `shapes ${shapes.map(formatShape).join(' and ')} do not broadcast`);
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

/** f over the broadcast of the inputs */
function elementwise(cx: ImportContext, n: OnnxNode, ins: K[], f: (...v: number[]) => number, int: boolean): K {
  const shape = checkSize(cx, n, broadcastShape(cx, n, ins.map((k) => k.shape)));
  const out = new Float64Array(size(shape)), st = strides(shape);
  const inSt = ins.map((k) => { const s = strides(k.shape), off = shape.length - k.shape.length; return shape.map((_, i) => (i < off || k.shape[i - off] === 1 ? 0 : s[i - off])); });
  const args = new Array<number>(ins.length);
  for (let o = 0; o < out.length; o++) {
    for (let j = 0; j < ins.length; j++) {
      let idx = 0, r = o;
      for (let i = 0; i < shape.length; i++) { const c = Math.floor(r / st[i]); r -= c * st[i]; idx += c * inSt[j][i]; }
      args[j] = ins[j].data[idx];
    }
    out[o] = f(...args);
  }
  return { data: out, shape, int };
}

const allInt = (ins: K[]) => ins.every((k) => k.int);
const unary = (f: (v: number) => number, keepInt = true): Folder => (cx, n, ins) => elementwise(cx, n, [ins[0]!], f, keepInt && ins[0]!.int);
const binary = (f: (a: number, b: number, int: boolean) => number): Folder => (cx, n, ins) => {
  const int = allInt([ins[0]!, ins[1]!]);
  return elementwise(cx, n, [ins[0]!, ins[1]!], (a, b) => f(a, b, int), int);
};
const compare = (f: (a: number, b: number) => boolean): Folder => (cx, n, ins) => elementwise(cx, n, [ins[0]!, ins[1]!], (a, b) => (f(a, b) ? 1 : 0), true);
const variadic = (f: (a: number, b: number) => number): Folder => (cx, n, ins) => {
  const ks = ins.filter((k): k is K => !!k);
  return elementwise(cx, n, ks, (...v) => v.reduce(f), allInt(ks));
};

/** round half to even (ONNX Round) */
const roundEven = (v: number) => { const r = Math.round(v); return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; };

function axisOf(cx: ImportContext, n: OnnxNode, a: number, rank: number): number {
  const ax = a < 0 ? a + rank : a;
  if (!(ax >= 0 && ax < rank)) bad(cx, n, `axis ${a} is outside a rank-${rank} tensor`);
  return ax;
}

/** The values of constant input k as integers (shapes, axes, indices). */
function ints(k: K | undefined): number[] {
  return k ? Array.from(k.data, (v) => Math.trunc(v)) : [];
}

/** Elements of `src` (shape) picked along each axis by index lists: the core of Slice, Gather, Transpose-free moves. */
function pick(src: K, idx: number[][]): K {
  const shape = idx.map((l) => l.length), st = strides(src.shape), out = new Float64Array(size(shape));
  const ost = strides(shape);
  for (let o = 0; o < out.length; o++) {
    let r = o, at = 0;
    for (let i = 0; i < shape.length; i++) { const c = Math.floor(r / ost[i]); r -= c * ost[i]; at += idx[i][c] * st[i]; }
    out[o] = src.data[at];
  }
  return { data: out, shape, int: src.int };
}

const range0 = (len: number) => Array.from({ length: len }, (_, i) => i);

function reduce(init: number, f: (acc: number, v: number) => number, finish: (acc: number, count: number) => number = (a) => a): Folder {
  return (cx, n, ins) => {
    const x = ins[0]!;
    const fromInput = n.input[1] ? ints(ins[1]) : undefined;
    let axes = (fromInput ?? cx.ints(n, 'axes', [])).map((a) => axisOf(cx, n, a, x.shape.length));
    if (axes.length === 0) axes = cx.int(n, 'noop_with_empty_axes', 0) ? [] : range0(x.shape.length);
    const keep = cx.int(n, 'keepdims', 1) === 1;
    const outFull = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const acc = new Float64Array(size(outFull)).fill(init), st = strides(x.shape), ost = strides(outFull);
    for (let i = 0; i < x.data.length; i++) {
      let r = i, o = 0;
      for (let a = 0; a < x.shape.length; a++) { const c = Math.floor(r / st[a]); r -= c * st[a]; if (!axes.includes(a)) o += c * ost[a]; }
      acc[o] = f(acc[o], x.data[i]);
    }
    const count = axes.reduce((p, a) => p * x.shape[a], 1);
    const data = acc.map((v) => finish(v, count));
    return { data, shape: keep ? outFull : x.shape.filter((_, i) => !axes.includes(i)), int: x.int && n.opType !== 'ReduceMean' };
  };
}

const FOLDERS: Record<string, Folder> = {
  Identity: (_cx, _n, ins) => ins[0]!,
  Neg: unary((v) => -v), Abs: unary(Math.abs), Floor: unary(Math.floor), Ceil: unary(Math.ceil), Round: unary(roundEven),
  Sign: unary(Math.sign), Relu: unary((v) => Math.max(v, 0)), Not: unary((v) => (v ? 0 : 1)),
  Sqrt: unary(Math.sqrt, false), Exp: unary(Math.exp, false), Log: unary(Math.log, false), Reciprocal: unary((v) => 1 / v, false),
  Sigmoid: unary((v) => 1 / (1 + Math.exp(-v)), false), Tanh: unary(Math.tanh, false),
  Add: binary((a, b) => a + b), Sub: binary((a, b) => a - b), Mul: binary((a, b) => a * b),
  Div: binary((a, b, int) => (int ? Math.trunc(a / b) : a / b)),
  Pow: (cx, n, ins) => elementwise(cx, n, [ins[0]!, ins[1]!], (a, b) => a ** b, ins[0]!.int),
  Mod: (cx, n, ins) => {
    const fmod = cx.int(n, 'fmod', 0) === 1;
    return elementwise(cx, n, [ins[0]!, ins[1]!], (a, b) => (fmod ? a % b : a - b * Math.floor(a / b)), allInt([ins[0]!, ins[1]!]));
  },
  Min: variadic(Math.min), Max: variadic(Math.max), Sum: variadic((a, b) => a + b),
  Mean: (cx, n, ins) => { const ks = ins.filter((k): k is K => !!k); return elementwise(cx, n, ks, (...v) => v.reduce((a, b) => a + b) / v.length, false); },
  Equal: compare((a, b) => a === b), Less: compare((a, b) => a < b), Greater: compare((a, b) => a > b),
  LessOrEqual: compare((a, b) => a <= b), GreaterOrEqual: compare((a, b) => a >= b),
  And: compare((a, b) => !!a && !!b), Or: compare((a, b) => !!a || !!b), Xor: compare((a, b) => !!a !== !!b),
  Where: (cx, n, ins) => elementwise(cx, n, [ins[0]!, ins[1]!, ins[2]!], (c, a, b) => (c ? a : b), allInt([ins[1]!, ins[2]!])),
  Cast: (cx, n, ins) => {
    const to = cx.int(n, 'to', FLOAT);
    cx.constantType(n.output[0], to);
    return { ...castValues(ins[0]!.data, to), shape: ins[0]!.shape };
  },
  Shape: (cx, n, ins) => {
    const s = ins[0]!.shape, r = s.length;
    const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const start = clampAxis(cx.int(n, 'start', 0)), end = clampAxis(cx.int(n, 'end', r));
    const d = s.slice(start, Math.max(start, end));
    return { data: Float64Array.from(d), shape: [d.length], int: true };
  },
  Size: (_cx, _n, ins) => ({ data: Float64Array.of(size(ins[0]!.shape)), shape: [], int: true }),
  Reshape: (cx, n, ins) => {
    const x = ins[0]!, target = ints(ins[1]);
    const allowZero = cx.int(n, 'allowzero', 0) === 1;
    const dims = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = dims.map((d) => (d === -1 ? size(x.shape) / known : d));
    if (dims.filter((d) => d === -1).length > 1 || size(shape) !== size(x.shape)) bad(cx, n, `reshape of ${formatShape(x.shape)} to ${JSON.stringify(target)}`);
    return { ...x, shape };
  },
  Squeeze: (cx, n, ins) => {
    const x = ins[0]!;
    const axes = (n.input[1] ? ints(ins[1]) : cx.ints(n, 'axes', [])).map((a) => axisOf(cx, n, a, x.shape.length));
    return { ...x, shape: x.shape.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1)) };
  },
  Unsqueeze: (cx, n, ins) => {
    const x = ins[0]!;
    const raw = n.input[1] ? ints(ins[1]) : cx.ints(n, 'axes', []);
    const rank = x.shape.length + raw.length, shape = x.shape.slice();
    for (const a of raw.map((v) => axisOf(cx, n, v, rank)).sort((p, q) => p - q)) shape.splice(a, 0, 1);
    return { ...x, shape };
  },
  Flatten: (cx, n, ins) => {
    const x = ins[0]!, a = cx.int(n, 'axis', 1), ax = a < 0 ? a + x.shape.length : a;
    return { ...x, shape: [size(x.shape.slice(0, ax)), size(x.shape.slice(ax))] };
  },
  Concat: (cx, n, ins) => {
    const ks = ins.filter((k): k is K => !!k);
    const rank = ks[0].shape.length;
    const axis = axisOf(cx, n, cx.int(n, 'axis', 0), rank);
    for (const k of ks) if (k.shape.length !== rank || k.shape.some((d, i) => i !== axis && d !== ks[0].shape[i])) bad(cx, n, `cannot join ${ks.map((q) => formatShape(q.shape)).join(', ')} on axis ${axis}`);
    const shape = ks[0].shape.slice();
    shape[axis] = ks.reduce((a, k) => a + k.shape[axis], 0);
    const out = new Float64Array(size(shape));
    const outer = size(shape.slice(0, axis)), inner = size(shape.slice(axis + 1));
    let o = 0;
    for (let a = 0; a < outer; a++) for (const k of ks) { const len = k.shape[axis] * inner; for (let j = 0; j < len; j++) out[o++] = k.data[a * len + j]; }
    return { data: out, shape, int: allInt(ks) };
  },
  Gather: (cx, n, ins) => {
    const x = ins[0]!, idx = ints(ins[1]), idxShape = ins[1]!.shape;
    const axis = axisOf(cx, n, cx.int(n, 'axis', 0), x.shape.length), len = x.shape[axis];
    const badIdx = idx.find((i) => !(i >= -len && i < len));
    if (badIdx !== undefined) fail(`node '${n.name}' (Gather): index ${badIdx} is outside [${-len}, ${len})`);
    const lists = x.shape.map((d) => range0(d));
    lists[axis] = idx.map((i) => (i < 0 ? i + len : i));
    const flat = pick(x, lists);
    return { ...flat, shape: [...x.shape.slice(0, axis), ...idxShape, ...x.shape.slice(axis + 1)] };
  },
  Slice: (cx, n, ins) => {
    const x = ins[0]!;
    const starts = ints(ins[1]), ends = ins[2]!.data, r = x.shape.length;
    const axes = n.input[3] ? ints(ins[3]).map((a) => axisOf(cx, n, a, r)) : starts.map((_, i) => i);
    const steps = n.input[4] ? ints(ins[4]) : starts.map(() => 1);
    const lists = x.shape.map((d) => range0(d));
    axes.forEach((ax, k) => {
      const d = x.shape[ax], step = steps[k];
      if (step === 0) bad(cx, n, 'a step of 0');
      const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
      const st = step > 0 ? norm(starts[k], 0, d) : norm(starts[k], -1, d - 1);
      const en = step > 0 ? norm(ends[k], 0, d) : norm(ends[k], -1, d - 1);
      const l: number[] = [];
      for (let i = st; step > 0 ? i < en : i > en; i += step) l.push(i);
      lists[ax] = l;
    });
    return pick(x, lists);
  },
  Transpose: (cx, n, ins) => {
    const x = ins[0]!, perm = cx.ints(n, 'perm', x.shape.map((_, i) => x.shape.length - 1 - i));
    const shape = perm.map((p) => x.shape[p]), st = strides(x.shape), ost = strides(shape), out = new Float64Array(x.data.length);
    for (let o = 0; o < out.length; o++) { let r = o, at = 0; for (let i = 0; i < shape.length; i++) { const c = Math.floor(r / ost[i]); r -= c * ost[i]; at += c * st[perm[i]]; } out[o] = x.data[at]; }
    return { data: out, shape, int: x.int };
  },
  Expand: (cx, n, ins) => {
    const x = ins[0]!, shape = checkSize(cx, n, broadcastShape(cx, n, [x.shape, ints(ins[1])]));
    return elementwise(cx, n, [x, { data: new Float64Array(size(shape)), shape, int: true }], (a) => a, x.int);
  },
  Tile: (cx, n, ins) => {
    const x = ins[0]!, reps = ints(ins[1]);
    if (reps.length !== x.shape.length) bad(cx, n, `repeats ${JSON.stringify(reps)} for a rank-${x.shape.length} tensor`);
    return pick(x, checkSize(cx, n, x.shape.map((d, i) => d * reps[i])).map((d, i) => range0(d).map((j) => j % x.shape[i])));
  },
  Range: (cx, n, ins) => {
    const [start, limit, delta] = [ins[0]!.data[0], ins[1]!.data[0], ins[2]!.data[0]];
    const count = checkSize(cx, n, [Math.max(Math.ceil((limit - start) / delta), 0)])[0];
    return { data: Float64Array.from({ length: count }, (_, i) => start + i * delta), shape: [count], int: allInt([ins[0]!, ins[1]!, ins[2]!]) };
  },
  ConstantOfShape: (cx, n, ins) => {
    const shape = checkSize(cx, n, ints(ins[0]));
    const t = cx.attr(n, 'value')?.t;
    const v = t ? tensorData(t, `node '${n.name}' value`) : { data: Float32Array.of(0), int: false };
    return { data: new Float64Array(size(shape)).fill(v.data[0] ?? 0), shape, int: v.int };
  },
  ReduceSum: reduce(0, (a, v) => a + v), ReduceProd: reduce(1, (a, v) => a * v),
  ReduceMax: reduce(-Infinity, Math.max), ReduceMin: reduce(Infinity, Math.min),
  ReduceMean: reduce(0, (a, v) => a + v, (a, c) => a / c),
};

/** Ops the folder evaluates when all their inputs are constants. */
export const FOLDABLE: ReadonlySet<string> = new Set(Object.keys(FOLDERS));

/**
 * Fold n if every input it names is a constant; true if it did. Ops that read attributes of types the
 * folder does not know still fold by their inputs only (folders read what they need from the node).
 */
export function foldConstants(cx: ImportContext, n: OnnxNode): boolean {
  if (batchZeros(cx, n)) return true;
  const f = FOLDERS[n.opType];
  if (!f || n.input.length === 0) return false;
  const ins: Array<K | undefined> = [];
  for (const name of n.input) {
    if (!name) { ins.push(undefined); continue; }
    const v = cx.vals.get(name);
    if (!v?.konst || v.quant) return false;
    ins.push({ data: v.konst.data, shape: v.shape, int: v.konst.int });
  }
  const outs = f(cx, n, ins);
  (Array.isArray(outs) ? outs : [outs]).forEach((o, k) => {
    if (o.shape.length === 0 && o.data.length !== 1) fail(`node '${n.name}' (${n.opType}): constant folding produced ${o.data.length} values for a scalar`);
    cx.set(n, { shape: o.shape, konst: { data: o.data instanceof Float32Array ? o.data : Float32Array.from(o.data), int: o.int } }, k);
  });
  return true;
}

/**
 * Zeros the size of a batch (Val.zeros): a ConstantOfShape of zeros, or an Expand of a zero constant, to a
 * shape holding the batch (-1, from a Shape of the input), and Slices of those on other axes. True if n was one.
 */
function batchZeros(cx: ImportContext, n: OnnxNode): boolean {
  const v = (k: number) => (n.input[k] ? cx.vals.get(n.input[k]) : undefined);
  const x = v(0);
  const batchShape = (s: Val | undefined) => (s?.konst && s.shape.length === 1 && Array.from(s.konst.data).filter((d) => d === -1).length === 1 ? Array.from(s.konst.data) : undefined);
  let shape: number[] | undefined;
  if (n.opType === 'ConstantOfShape' && (shape = batchShape(x))) {
    const t = cx.attr(n, 'value')?.t;
    if (t && tensorData(t, `node '${n.name}' value`).data[0] !== 0) return false;
  } else if (n.opType === 'Expand' && x?.konst && x.konst.data.every((d) => d === 0) && (shape = batchShape(v(1)))) {
    const r = Math.max(shape.length, x.shape.length), pad = (s: number[]) => [...new Array(r - s.length).fill(1), ...s];
    shape = pad(shape).map((d, i) => (d === -1 ? -1 : Math.max(d, pad(x.shape)[i])));
  } else if ((n.opType === 'Slice' || n.opType === 'Identity') && x?.zeros) {
    // the same slice of a stand-in with the batch as 1, the batch put back where it was
    const b = x.shape.indexOf(-1), one = x.shape.map((d) => (d === -1 ? 1 : d));
    const ks = n.input.slice(1).map((nm) => (nm ? cx.vals.get(nm)?.konst : undefined));
    if (ks.some((k, i) => n.input[i + 1] && !k)) return false;
    const ins = [{ data: new Float64Array(size(one)), shape: one, int: false }, ...ks.map((k, i) => (k ? { data: k.data, shape: cx.vals.get(n.input[i + 1])!.shape, int: true } : undefined))];
    const out = n.opType === 'Identity' ? ins[0]! : (FOLDERS.Slice(cx, n, ins) as K);
    if (out.shape[b] !== 1) return false;
    shape = out.shape.map((d, i) => (i === b ? -1 : d));
  } else {
    return false;
  }
  cx.set(n, { shape, zeros: true });
  return true;
}
